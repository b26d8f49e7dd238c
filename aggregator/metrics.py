"""Prometheus metrics of a running harness, for `GET /metrics` (issue 14): the one home of
`prometheus_client` in the project.

1. One `CollectorRegistry` per harness (`registry`), never the library's global one: two
   harnesses in one process (tests) do not share metrics, and the process's own collectors
   (the global registry's) are not what this API is about.
2. A custom collector reads `aggregator.stats.snapshot` at scrape time: nothing is counted
   through prometheus_client on the hot path (rule 1 of aggregator/stats.py).
3. Names by Prometheus's conventions: the `smsc_harness_` prefix, counters ending `_total`,
   base units (`_seconds`), labels `account`, `operator`, `status`, `bind`, `mode`.
   docs/metrics.md lists every metric.
4. The exposition is the text format 0.0.4 with its Content-Type from prometheus_client
   (`CONTENT_TYPE`): what every Prometheus scrapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from aggregator.stats import LATENCY_BUCKETS, Snapshot, snapshot
from smsc.operators.profile import OutageMode

if TYPE_CHECKING:
    from aggregator.harness import Harness

__all__ = ["CONTENT_TYPE", "HarnessCollector", "exposition", "registry"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PREFIX = "smsc_harness_"
_BOUNDS = tuple(floatToGoString(bound) for bound in LATENCY_BUCKETS) + ("+Inf",)   # as prometheus_client's own


class HarnessCollector:
    """A prometheus_client collector over one harness: `collect` turns a snapshot into metric
    families (`families`)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def collect(self) -> Iterator[Metric]:
        return iter(families(snapshot(self.harness, self.harness.engine.clock.seconds())))


def registry(harness: Harness) -> CollectorRegistry:
    """A registry of this harness's metrics alone (rule 1)."""
    own = CollectorRegistry(auto_describe=False)
    own.register(HarnessCollector(harness))
    return own


def exposition(own: CollectorRegistry) -> bytes:
    """The registry's metrics in the text format `CONTENT_TYPE` names."""
    return generate_latest(own)


def families(now: Snapshot) -> list[Metric]:
    """Every metric family of docs/metrics.md, from one snapshot."""
    def counter(name: str, doc: str, labels: tuple[str, ...]) -> CounterMetricFamily:
        return CounterMetricFamily(PREFIX + name, doc, labels=labels)

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(PREFIX + name, doc, labels=labels)

    accepted = counter("messages_accepted", "Messages accepted from clients (and the platform's own replies) "
                       "since start, by account and the operator they were routed to", ("account", "operator"))
    for account, operator, n in now.accepted:
        accepted.add_metric((account, operator), n)
    refused = counter("submits_refused", "Submits (submit_multi destinations) refused since start, by account "
                      "and SMPP command_status name, flow control included", ("account", "status"))
    for account, status, n in now.refusals:
        refused.add_metric((account, status), n)
    final = counter("messages_final", "Messages that reached a final state since start, by account, operator "
                    "and state (delivered, undeliverable, rejected, expired)", ("account", "operator", "status"))
    for account, operator, state, n in now.finals:
        final.add_metric((account, operator, state), n)

    latency = HistogramMetricFamily(PREFIX + "receipt_latency_seconds",
                                    "Seconds from a message's acceptance to its operator's final receipt "
                                    "(or query_sm answer), by operator", labels=("operator",))
    for histogram in now.latency:
        latency.add_metric((histogram.operator,), list(zip(_BOUNDS, histogram.cumulative)), histogram.sum)

    binds = gauge("binds", "Client binds now, by account and mode (transmitter, receiver, transceiver)",
                  ("account", "mode"))
    for account, mode, n in now.binds:
        binds.add_metric((account, mode), n)
    bind_submits = counter("bind_messages_accepted", "Messages accepted from one client bind since it bound",
                           ("account", "bind"))
    outstanding = gauge("bind_window_outstanding", "deliver_sm sent to one client bind and not yet answered",
                        ("account", "bind"))
    window = gauge("bind_window_size", "How many deliver_sm one client bind may have outstanding",
                   ("account", "bind"))
    for session in now.sessions:
        labels = (session.account, session.bind)
        bind_submits.add_metric(labels, session.submitted)
        outstanding.add_metric(labels, session.outstanding)
        window.add_metric(labels, session.window)

    op = ("operator",)
    sent = counter("operator_submits", "submit_sm the aggregator sent to the operator since start (attempts)", op)
    throttled = counter("operator_throttled", "ESME_RTHROTTLED and ESME_RMSGQFUL answers the operator gave the "
                        "aggregator since start", op)
    smsc_accepted = counter("operator_smsc_accepted", "submit_sm the operator's simulated SMSC accepted since "
                            "start", op)
    receipts = counter("operator_receipts_sent", "Receipts the operator's simulated SMSC sent since start", op)
    queued = gauge("operator_queued_messages", "Messages waiting in the aggregator's queue for the operator", op)
    bound = gauge("operator_links_bound", "The aggregator's binds to the operator that are up", op)
    configured = gauge("operator_links_configured", "The aggregator's binds to the operator in the config", op)
    cap = gauge("operator_throughput_cap", "The operator's throughput cap, messages per second (absent: none)", op)
    outage = gauge("operator_outage", "1 for the outage mode the operator is in, 0 for the others",
                   ("operator", "mode"))
    for o in now.operators:
        sent.add_metric((o.id,), o.sent)
        throttled.add_metric((o.id,), o.throttled)
        smsc_accepted.add_metric((o.id,), o.smsc_submitted)
        receipts.add_metric((o.id,), o.receipts_sent)
        queued.add_metric((o.id,), o.queued)
        bound.add_metric((o.id,), o.links_bound)
        configured.add_metric((o.id,), o.links_configured)
        if o.cap is not None:
            cap.add_metric((o.id,), o.cap)
        for outage_mode in OutageMode:
            outage.add_metric((o.id, outage_mode.value), 1 if o.outage == outage_mode.value else 0)

    unfinished = gauge("messages_unfinished", "Messages accepted and not final yet")
    unfinished.add_metric((), now.unfinished)
    started = gauge("start_time_seconds", "When the harness started, seconds since the Unix epoch on its clock "
                    "(simulated under serve --speed)")
    started.add_metric((), now.started)
    return [accepted, refused, final, latency, binds, bind_submits, outstanding, window, sent, throttled,
            smsc_accepted, receipts, queued, bound, configured, cap, outage, unfinished, started]
