"""The delivery engine on its own (a fake operator pool, a task.Clock, an in-memory store):
every message ends in a final state, whatever order its validity end, receipts and retries
come in."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock

from aggregator.config import DeliveryConfig
from aggregator.delivery import RECEIPT_GRACE, ClientSink, DeliveryEngine, Message, Phase
from aggregator.store import MessageState, Store
from smsc.pdu.codec import Command, Pdu, make
from smsc.pdu.receipt import Receipt

T0 = 1_800_000_000.0
VALIDITY = 3600.0


class FakePool:
    """Takes messages; the test plays the operator's answers."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.queries: list[tuple[Message, defer.Deferred[Pdu]]] = []

    def enqueue(self, message: Message, front: bool = False) -> None:
        self.sent.append(message)

    def query(self, message: Message) -> defer.Deferred[Pdu]:
        d: defer.Deferred[Pdu] = defer.Deferred()
        self.queries.append((message, d))
        return d


def engine_with_pool() -> tuple[DeliveryEngine, FakePool, Clock, Store]:
    clock = Clock()
    clock.advance(T0)
    store = Store(":memory:")
    pool = FakePool()
    engine: DeliveryEngine[FakePool, ClientSink] = DeliveryEngine(
        store, clock, DeliveryConfig(validity=VALIDITY, retry_initial=600.0), outboxes=lambda engine: {"op": pool},
        temporary_errors={"op": frozenset({"027"})})
    return engine, pool, clock, store


def message(n: int, clock: Clock) -> Message:
    now = clock.seconds()
    return Message(id=f"{n:016x}", account="acc", source_addr="Shop", source_addr_ton=5,
                   destination_addr="33612345678", dest_addr_ton=1, msisdn="+33612345678",
                   operator_id="op", registered_delivery=1, data_coding=0, esm_class=0,
                   short_message=b"hi", accepted_at=now, deadline=now + VALIDITY)


def submit(engine: DeliveryEngine, pool: FakePool, m: Message, operator_id: str) -> None:
    assert pool.sent[-1] is m and engine.sending(m)
    engine.submitted(m, operator_id)


def test_delivered_message_is_final() -> None:
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    engine.operator_receipt("op", Receipt("x1", "DELIVRD"))
    assert store.message(m.id).state is MessageState.DELIVERED  # type: ignore[union-attr]
    assert engine.waiting_count("acc") == 0 and not engine.live


def test_temporary_failure_after_the_validity_end_expires_the_message() -> None:
    """The validity ends while the message is SUBMITTED (so the engine only plans to ask the
    operator); then a temporary-failure receipt comes: no retry fits in the validity, and the
    message must still end (it used to stay 'accepted' forever)."""
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    clock.advance(VALIDITY + 1)                       # validity over; a query_sm is planned
    engine.operator_receipt("op", Receipt("x1", "UNDELIV", "027"))   # temporary (027)
    clock.advance(RECEIPT_GRACE + 1)
    record = store.message(m.id)
    assert record is not None and record.state is MessageState.EXPIRED
    assert m.phase is Phase.FINAL and not engine.live
    assert engine.waiting_count("acc") == 0


def test_temporary_failure_before_the_validity_end_is_retried_then_expires() -> None:
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    clock.advance(VALIDITY - 300)                     # 5 min left: a 600 s retry does not fit
    engine.operator_receipt("op", Receipt("x1", "UNDELIV", "027"))
    assert store.message(m.id).state is MessageState.ACCEPTED  # type: ignore[union-attr]
    clock.advance(301)                                # the validity end expires it
    assert store.message(m.id).state is MessageState.EXPIRED  # type: ignore[union-attr]
    assert engine.waiting_count("acc") == 0 and not engine.live


def test_query_answer_settles_a_lost_receipt() -> None:
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    clock.advance(VALIDITY)                           # the validity end plans a query_sm...
    clock.advance(RECEIPT_GRACE)                      # ...a minute later
    (asked, answer), = pool.queries
    assert asked is m
    answer.callback(make(Command.query_sm_resp, 1, message_id="x1", message_state=2, error_code=0))
    assert store.message(m.id).state is MessageState.DELIVERED  # type: ignore[union-attr]


def test_a_generic_nack_without_error_is_no_answer_to_a_query() -> None:
    """An operator that answers query_sm with generic_nack and status 0 has said nothing: the
    message is treated as unanswered (expired here, past its validity), not left to a
    TypeError in a callback, SUBMITTED for ever."""
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    submit(engine, pool, m, "x1")
    clock.advance(VALIDITY)
    clock.advance(RECEIPT_GRACE)
    (asked, answer), = pool.queries
    answer.callback(make(Command.generic_nack, 1))
    assert store.message(m.id).state is MessageState.EXPIRED  # type: ignore[union-attr]


def test_a_message_refused_thousands_of_times_still_waits_retry_max_between_attempts() -> None:
    """retry_initial * retry_factor ** (attempts - 1) overflowed a float past ~1,025 attempts
    (a validity of a week or more): the message stayed 'accepted' for ever."""
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    m.attempts = 5000
    assert engine.sending(m)
    engine.refused(m, 0x08)                                    # ESME_RSYSERR: temporary
    assert m.phase is Phase.WAITING
    (event,) = [e for e in store.history(m.id) if "retry in" in e.detail]
    assert event.detail.endswith("retry in 600 s")
