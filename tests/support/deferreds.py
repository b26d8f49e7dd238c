"""Reading Deferreds in tests driven by a task.Clock, without a reactor (memstack's `wait`
runs the clock until one fires)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.python.failure import Failure


def result(d: defer.Deferred[object]) -> object:
    """The result of a Deferred that must have fired by now (raises its failure)."""
    out: list[object] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]
