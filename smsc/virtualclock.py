"""A ``task.Clock`` whose pending calls live in a heap, for replays with many timers.

``twisted.internet.task.Clock`` keeps its calls in a list and sorts it on every ``callLater``
and after every call it runs: fine for a unit test, quadratic for a replay that has tens of
thousands of receipts, retries and bytes in flight pending at once (it was three quarters of
a scenario's wall time).  :class:`VirtualClock` is a drop-in subclass with the same
behaviour, seen from the outside:

* calls due at the same time run in the order they were first scheduled (FIFO), as with
  the stable sort of ``task.Clock``;
* ``advance(amount)`` moves the time first, then runs everything due, including calls that
  those calls schedule for a time already reached;
* the calls it returns are ``IDelayedCall``: ``cancel``, ``reset``, ``delay``, ``active``,
  ``getTime`` behave as Twisted's (``AlreadyCancelled`` / ``AlreadyCalled`` included).  They
  are a lighter class than ``twisted.internet.base.DelayedCall`` (a replay makes about ten
  per message); a cancelled or moved call's old heap entry is skipped when it reaches the top.

It adds :meth:`next_due` (the time of the earliest live call), :meth:`run_until` (move to
a time, stopping at each call's own time so that it reads the clock at that time;
``smsc.memory.run_until`` uses it) and :meth:`fire_later`, a ``callLater`` that returns no
handle, for the in-memory links' deliveries (one per PDU in flight, most of a replay's
calls), which nobody cancels or moves: its heap entry is the call, no object is made for it.
It keeps its place in the FIFO order of all calls, and ``getDelayedCalls`` still lists it.
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Any, Callable, Sequence

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock
from zope.interface import implementer

__all__ = ["VirtualClock"]


@implementer(IDelayedCall)
class _Call:
    """One pending call of a :class:`VirtualClock`."""

    __slots__ = ("time", "order", "func", "args", "kw", "called", "cancelled", "_clock")

    def __init__(self, clock: VirtualClock, time: float, order: int, func: Callable[..., object],
                 args: tuple[object, ...], kw: dict[str, Any]) -> None:
        self._clock = clock
        self.time = time
        self.order = order                  # first scheduled first, among calls due together
        self.func = func
        self.args = args
        self.kw = kw
        self.called = 0
        self.cancelled = 0

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return not (self.cancelled or self.called)

    def cancel(self) -> None:
        self._check()
        self.cancelled = 1
        # Let go of them now. Twisted types these attributes as never None, though its own
        # DelayedCall drops them the same way once called.
        self.func = self.args = self.kw = None  # type: ignore[assignment]

    def reset(self, secondsFromNow: float) -> None:
        self._check()
        self.time = self._clock.rightNow + secondsFromNow
        self._clock._file(self)

    def delay(self, secondsLater: float) -> None:
        self._check()
        self.time += secondsLater
        self._clock._file(self)

    def _check(self) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled

    def __repr__(self) -> str:
        state = "called" if self.called else "cancelled" if self.cancelled else "pending"
        return f"<_Call at {self.time} {state} {getattr(self.func, '__qualname__', self.func)!r}>"


class VirtualClock(Clock):
    """``task.Clock`` with a heap of pending calls: O(log n) to schedule and to run one."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self.rightNow = float(start)
        # Entries: (time, order, entry number, call) for a callLater, and (time, order, entry
        # number, None, func, arg) for a fire_later. Entry numbers are unique, so tuples never
        # compare what follows them (a call moved back to an earlier time has two entries).
        # One counter gives both a call's order and each entry's number.
        self._heap: list[tuple[Any, ...]] = []
        self._numbers = count()

    # --- IReactorTime ----------------------------------------------------------------------

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> IDelayedCall:
        number = next(self._numbers)
        call = _Call(self, self.rightNow + delay, number, callable, args, kw)
        heapq.heappush(self._heap, (call.time, number, number, call))
        return call

    def fire_later(self, delay: float, func: Callable[[Any], object], arg: Any) -> None:
        """``callLater(delay, func, arg)`` for a call nobody cancels or moves: same order among
        the calls, no handle (see the module docstring)."""
        number = next(self._numbers)
        heapq.heappush(self._heap, (self.rightNow + delay, number, number, None, func, arg))

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        heap = self._heap
        for i, entry in enumerate(heap):
            if entry[3] is None:        # a fire_later: give it a call (same keys: the heap holds)
                at, order, number, _, func, arg = entry
                heap[i] = (at, order, number, _Call(self, at, order, func, (arg,), {}))
        live = {id(call): call for at, _, _, call in sorted(heap)
                if at == call.time and not (call.cancelled or call.called)}
        return list(live.values())

    def _file(self, call: _Call) -> None:
        """A call moved (reset/delay): a new entry at its new time; the old one goes stale."""
        heapq.heappush(self._heap, (call.time, call.order, next(self._numbers), call))

    # --- moving time -----------------------------------------------------------------------

    def next_due(self) -> float | None:
        """The time of the earliest live call, after dropping the entries of cancelled, run or
        moved ones."""
        heap = self._heap
        while heap:
            entry = heap[0]
            call = entry[3]
            if call is not None and (call.cancelled or call.called or entry[0] != call.time):
                heapq.heappop(heap)
                continue
            return float(entry[0])
        return None

    def _run_due(self, now: float, set_time: bool) -> int:
        # Hot: every call of a replay goes through this loop. An entry due later than `now`
        # stops it even if stale: every other entry is due later still.
        ran = 0
        heap = self._heap
        pop = heapq.heappop
        while heap:
            entry = heap[0]
            at = entry[0]
            if at > now:
                break
            pop(heap)
            call = entry[3]
            if call is None:
                if set_time and at > self.rightNow:
                    self.rightNow = at
                entry[4](entry[5])
            else:
                if call.cancelled or call.called or at != call.time:
                    continue
                if set_time and at > self.rightNow:
                    self.rightNow = at
                call.called = 1
                call.func(*call.args, **call.kw)
            ran += 1
        return ran

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
