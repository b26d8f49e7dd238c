"""Whether per-message log lines are wanted.

``twisted.logger`` decides whether to show an event in its observers, after the event has
been built and published (several microseconds each).  At thousands of messages a second,
per-message lines nobody shows cost a tenth of a replay.  So the lines written for each
message (submit accepted, sent to the operator, receipt, deliver_sm) are guarded by
``if trace.ON:``, and only ``smsc-harness serve --log-level debug`` turns it on; lines about
links, binds, outages and restarts are always logged.
"""

ON = False


def enable(on: bool = True) -> None:
    global ON
    ON = on
