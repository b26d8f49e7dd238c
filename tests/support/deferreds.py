"""Reading Deferreds in tests driven by a task.Clock, without a reactor."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from smsc.memory import run_until


def result(d: defer.Deferred[object]) -> object:
    """The result of a Deferred that must have fired by now (raises its failure)."""
    out: list[object] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]


def settle(clock: Clock, d: defer.Deferred[object], what: str, turns: int = 100) -> object:
    """Run the calls due now until `d` fires (the clock does not move)."""
    for _ in range(turns):
        if d.called:
            return result(d)
        run_until(clock, clock.seconds())
    raise AssertionError(f"{what} did not finish on the clock")
