"""A ``task.Clock`` whose pending calls live in a heap, for replays with many timers.

``twisted.internet.task.Clock`` keeps its calls in a list and sorts it on every ``callLater``
and after every call it runs: fine for a unit test, quadratic for a replay that has tens of
thousands of receipts, retries and bytes in flight pending at once (it was three quarters of
a scenario's wall time).  :class:`VirtualClock` is a drop-in subclass with the same
behaviour, seen from the outside:

* calls due at the same time run in the order they were first scheduled (FIFO), as with
  the stable sort of ``task.Clock``, even after ``reset`` or ``delay`` moved them;
* ``advance(amount)`` moves the time first, then runs everything due, including calls that
  those calls schedule for a time already reached;
* ``DelayedCall.cancel``, ``reset`` and ``delay`` work (cancelled entries are skipped when
  they reach the top of the heap; a call moved later is pushed again when its old time
  comes, as the real reactor does).

It adds :meth:`next_due` (the time of the earliest live call, O(1) amortised) and
:meth:`run_until` (move to a time, stopping at each call's own time so that it reads the
clock at that time; ``smsc.memory.run_until`` uses it).
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Callable, Sequence

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock

__all__ = ["VirtualClock"]


class VirtualClock(Clock):
    """``task.Clock`` with a heap of pending calls: O(log n) to schedule and to run one."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self.rightNow = float(start)
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._order = count()

    # --- IReactorTime ----------------------------------------------------------------------

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> IDelayedCall:
        call = DelayedCall(self.rightNow + delay, callable, args, kw, _ignore, self._moved_earlier,
                           self.seconds)
        call.order = order = next(self._order)     # type: ignore[attr-defined]
        heapq.heappush(self._heap, (call.time, order, call))
        return call

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        seen: set[int] = set()
        live = []
        for _, _, call in sorted(self._heap):
            if not (call.cancelled or call.called) and id(call) not in seen:
                seen.add(id(call))
                live.append(call)
        return live

    def _moved_earlier(self, call: DelayedCall) -> None:
        """``reset`` to an earlier time: push it again; the old entry is skipped later."""
        heapq.heappush(self._heap, (call.time, call.order, call))  # type: ignore[attr-defined]

    # --- moving time -----------------------------------------------------------------------

    def _top(self) -> tuple[float, DelayedCall] | None:
        """The earliest live entry, after dropping dead ones (and re-filing delayed ones)."""
        heap = self._heap
        while heap:
            at, _, call = heap[0]
            if call.cancelled or call.called:
                heapq.heappop(heap)
                continue
            due = call.getTime()
            if due != at:
                heapq.heappop(heap)
                if due > at:            # moved later by reset/delay: file it at its new time
                    call.activate_delay()
                    heapq.heappush(heap, (call.time, call.order, call))  # type: ignore[attr-defined]
                continue                # moved earlier: its newer entry is (or was) in the heap
            return at, call
        return None

    def next_due(self) -> float | None:
        top = self._top()
        return None if top is None else top[0]

    def _run_due(self, now: float, set_time: bool) -> int:
        ran = 0
        while True:
            top = self._top()
            if top is None or top[0] > now:
                return ran
            at, call = top
            heapq.heappop(self._heap)
            if set_time and at > self.rightNow:
                self.rightNow = at
            call.called = 1
            call.func(*call.args, **call.kw)
            ran += 1

    def advance(self, amount: float) -> None:
        """As ``task.Clock.advance``: the time moves first, then every due call runs."""
        self.rightNow += amount
        self._run_due(self.rightNow, set_time=False)

    def run_until(self, when: float) -> int:
        """Move to ``when``, each call running with the clock at its own time.  Returns how
        many calls ran."""
        ran = self._run_due(when, set_time=True)
        if when > self.rightNow:
            self.rightNow = when
        return ran


def _ignore(call: DelayedCall) -> None:
    """A cancelled call stays in the heap and is dropped when it reaches the top."""
