"""VirtualClock behaves as task.Clock, seen from the outside, whatever is scheduled, cancelled,
reset or delayed: same calls, same order, same clock reading when each runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from smsc.memory import next_due, run_until
from smsc.virtualclock import VirtualClock

# An operation: ("later", delay, spawn) schedules a call (which, if spawn is set, schedules
# another one `spawn` seconds later when it runs); ("cancel", i) / ("reset", i, s) /
# ("delay", i, s) act on the i-th call made so far if still active; ("advance", s) moves time.
_ops = st.lists(st.one_of(
    st.tuples(st.just("later"), st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.5, 7.0]),
              st.sampled_from([None, 0.0, 1.0])),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("reset"), st.integers(0, 30), st.sampled_from([0.0, 0.5, 3.0, 9.0])),
    st.tuples(st.just("delay"), st.integers(0, 30), st.sampled_from([0.5, 2.0])),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
), max_size=60)


def _play(clock: Clock, ops: list[tuple]) -> list[tuple[int, float]]:
    log: list[tuple[int, float]] = []
    calls = []

    def fire(n: int, spawn: float | None) -> None:
        log.append((n, clock.seconds()))
        if spawn is not None:
            calls.append(clock.callLater(spawn, fire, 1000 + n, None))

    for op in ops:
        if op[0] == "later":
            calls.append(clock.callLater(op[1], fire, len(calls), op[2]))
        elif op[0] == "advance":
            clock.advance(op[1])
        elif op[1] < len(calls) and calls[op[1]].active():
            call = calls[op[1]]
            if op[0] == "cancel":
                call.cancel()
            elif op[0] == "reset":
                call.reset(op[2])
            else:
                call.delay(op[2])
    clock.advance(100.0)
    return log


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_same_calls_same_order_same_times_as_task_clock(ops: list[tuple]) -> None:
    """Scheduling, cancelling and advancing: exactly task.Clock's runs, ties in FIFO order."""
    ops = [op for op in ops if op[0] not in ("reset", "delay")]
    assert _play(VirtualClock(), ops) == _play(Clock(), ops)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_reset_and_delay_run_each_call_once_at_its_new_time(ops: list[tuple]) -> None:
    """With reset/delay, the same calls at the same times.  (Among calls due at the same
    instant, task.Clock's order then depends on its earlier sorts; ours is first-scheduled
    first.  Deterministic either way.)"""
    virtual, plain = _play(VirtualClock(), ops), _play(Clock(), ops)
    assert sorted(virtual) == sorted(plain)
    assert [at for _, at in virtual] == sorted(at for _, at in virtual)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_pending_calls_and_next_due_match_task_clock(ops: list[tuple]) -> None:
    plain, virtual = Clock(), VirtualClock()
    for clock in (plain, virtual):
        for op in ops:
            if op[0] == "later":
                clock.callLater(op[1], lambda: None)
            elif op[0] == "advance":
                clock.advance(op[1])
    assert [c.getTime() for c in virtual.getDelayedCalls()] == sorted(c.getTime() for c in plain.getDelayedCalls())
    assert next_due(virtual) == next_due(plain)


def test_run_until_runs_each_call_at_its_own_time() -> None:
    clock = VirtualClock(start=100.0)
    seen: list[float] = []
    clock.callLater(2.0, lambda: seen.append(clock.seconds()))
    clock.callLater(1.0, lambda: clock.callLater(0.5, lambda: seen.append(clock.seconds())))
    assert run_until(clock, 110.0) == 3
    assert seen == [101.5, 102.0]
    assert clock.seconds() == 110.0
    assert next_due(clock) is None


def test_cancelled_and_moved_calls_do_not_run_twice() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    a = clock.callLater(1.0, ran.append, "a")
    b = clock.callLater(2.0, ran.append, "b")
    c = clock.callLater(3.0, ran.append, "c")
    a.cancel()
    b.reset(0.5)          # earlier: filed again
    c.delay(1.0)          # later: re-filed when its old time comes
    clock.advance(3.5)
    assert ran == ["b"]
    clock.advance(0.5)
    assert ran == ["b", "c"]
    assert clock.getDelayedCalls() == []


def test_calls_refuse_to_be_cancelled_or_moved_twice_as_twisted_does() -> None:
    import pytest
    from twisted.internet.error import AlreadyCalled, AlreadyCancelled
    from twisted.internet.interfaces import IDelayedCall

    clock = VirtualClock()
    done = clock.callLater(1.0, lambda: None)
    gone = clock.callLater(1.0, lambda: None)
    assert IDelayedCall.providedBy(done) and done.active()
    gone.cancel()
    clock.advance(1.0)
    assert not done.active() and not gone.active()
    for call, error in ((done, AlreadyCalled), (gone, AlreadyCancelled)):
        with pytest.raises(error):
            call.cancel()
        with pytest.raises(error):
            call.reset(1.0)
        with pytest.raises(error):
            call.delay(1.0)


# fire_later (the in-memory links' deliveries): ("fire", delay) schedules a call without a
# handle, ("list",) asks for getDelayedCalls (which gives those calls handles) and cancels
# the pending call listed at index `i % len` if i is given.
_fire_ops = st.lists(st.one_of(
    st.tuples(st.just("later"), st.sampled_from([0.0, 0.5, 1.0, 2.5]), st.sampled_from([None, 0.0, 1.0])),
    st.tuples(st.just("fire"), st.sampled_from([0.0, 0.5, 1.0, 2.5])),
    st.tuples(st.just("list"), st.one_of(st.none(), st.integers(0, 30))),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
    st.tuples(st.just("until"), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
), max_size=60)


def _play_fire(clock: Clock, ops: list[tuple]) -> list[tuple[object, ...]]:
    log: list[tuple[object, ...]] = []
    n = 0

    def fire(k: int, spawn: float | None = None) -> None:
        log.append((k, clock.seconds()))
        if spawn is not None:
            clock.callLater(spawn, fire, 1000 + k)

    for op in ops:
        n += 1
        if op[0] == "later":
            clock.callLater(op[1], fire, n, op[2])
        elif op[0] == "fire":
            if isinstance(clock, VirtualClock):
                clock.fire_later(op[1], fire, n)
            else:
                clock.callLater(op[1], fire, n)
        elif op[0] == "list":
            pending = clock.getDelayedCalls()
            if isinstance(clock, Clock) and not isinstance(clock, VirtualClock):
                pending = sorted(pending, key=lambda c: c.getTime())      # ours are in due order
            log.append(("pending", tuple(c.getTime() for c in pending)))
            if op[1] is not None and pending:
                pending[op[1] % len(pending)].cancel()
        elif op[0] == "advance":
            clock.advance(op[1])
        else:
            run_until(clock, clock.seconds() + op[1])
        log.append(("next", next_due(clock)))
    clock.advance(100.0)
    log.append(("left", len(clock.getDelayedCalls())))
    return log


@settings(max_examples=300, deadline=None)
@given(_fire_ops)
def test_fire_later_runs_as_call_later_would(ops: list[tuple]) -> None:
    """fire_later calls mixed with callLater ones: the same runs, in the same order, at the same
    times as with callLater alone on task.Clock; listed and cancellable by getDelayedCalls."""
    assert _play_fire(VirtualClock(), ops) == _play_fire(Clock(), ops)
