"""The delivery engine's Timers: deadlines by key (a message's validity end) fire in the same
order as closures would, and hold no finished message alive until its validity ends."""

from __future__ import annotations

import gc

from twisted.internet.task import Clock

from aggregator.delivery import Timers
from smsc.pdu.receipt import Receipt
from tests.unit.test_delivery_engine import T0, VALIDITY, engine_with_pool, message, submit


def test_keys_and_actions_fire_in_deadline_then_call_order() -> None:
    clock = Clock()
    fired: list[str] = []
    timers = Timers(clock, lambda key: fired.append(f"key {key}"))
    timers.at(5.0, lambda: fired.append("a5"))
    timers.at_key(5.0, "k5")
    timers.at_key(1.0, "k1")
    timers.at(1.0, lambda: fired.append("a1"))
    timers.at_key(9.0, "k9")
    clock.advance(5.0)
    assert fired == ["key k1", "a1", "a5", "key k5"]
    clock.advance(4.0)
    assert fired[-1] == "key k9"


def test_a_finished_message_is_not_held_by_its_validity_deadline() -> None:
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    engine.operator_receipt("op", Receipt("x1", "DELIVRD"))
    assert not engine.live
    heap = engine.timers._heap
    assert (T0 + VALIDITY, 1, m.id) in heap                     # the deadline, by id
    gc.collect()
    assert not [r for r in gc.get_referrers(m) if r is not pool.sent and r is not globals()]
    clock.advance(VALIDITY + 1)                                 # fires for a message gone: nothing
    assert store.count_events() == 3 and not engine.live
