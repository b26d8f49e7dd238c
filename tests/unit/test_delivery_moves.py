"""The delivery engine's life-cycle table (aggregator/delivery.py `MOVES`): every phase can be
reached, every move missing from the table is refused (or ignored once FINAL, as late events
are), the docstring draws the table as it is, and random walks through the engine's public
calls keep `attempts` and the not-yet-submitted count true."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock

import aggregator.delivery as delivery
from aggregator.config import DeliveryConfig
from aggregator.delivery import (
    MOVES, NOT_YET_SUBMITTED, RECEIPT_GRACE, START, ClientSink, DeliveryEngine, Event, IllegalMove, Message,
    Phase,
)
from aggregator.store import MessageState, Store
from smsc.pdu.codec import Command, Pdu, make
from smsc.pdu.receipt import Receipt
from smsc.pdu.status import CommandStatus

T0 = 1_800_000_000.0
VALIDITY = 3600.0
FINAL_STATES = frozenset({MessageState.DELIVERED, MessageState.UNDELIVERABLE, MessageState.REJECTED,
                          MessageState.EXPIRED})


class FakePool:
    """An operator pool the test drives: a queue, what is in flight, the queries asked."""

    def __init__(self) -> None:
        self.queue: list[Message] = []
        self.in_flight: list[Message] = []
        self.queries: list[tuple[Message, defer.Deferred[Pdu]]] = []

    def enqueue(self, message: Message, front: bool = False) -> None:
        if front:
            self.queue.insert(0, message)
        else:
            self.queue.append(message)

    def query(self, message: Message) -> defer.Deferred[Pdu]:
        d: defer.Deferred[Pdu] = defer.Deferred()
        self.queries.append((message, d))
        return d


def engine_with_pool(retry_initial: float = 600.0, suspended: set[str] | None = None
                     ) -> tuple[DeliveryEngine[FakePool, ClientSink], FakePool, Clock, Store]:
    """`suspended`: accounts whose traffic without campaign id the engine holds (R3)."""
    clock = Clock()
    clock.advance(T0)
    store = Store(":memory:")
    pool = FakePool()
    engine: DeliveryEngine[FakePool, ClientSink] = DeliveryEngine(
        store, clock, DeliveryConfig(validity=VALIDITY, retry_initial=retry_initial),
        outboxes=lambda engine: {"op": pool}, temporary_errors={"op": frozenset({"027"})},
        held=None if suspended is None else (lambda account, campaign: account in suspended))
    return engine, pool, clock, store


def message(n: int, clock: Clock, account: str = "acc") -> Message:
    now = clock.seconds()
    return Message(id=f"{n:016x}", account=account, source_addr="Shop", source_addr_ton=5,
                   destination_addr="33612345678", dest_addr_ton=1, msisdn="+33612345678",
                   operator_id="op", registered_delivery=1, data_coding=0, esm_class=0,
                   short_message=b"hi", accepted_at=now, deadline=now + VALIDITY)


# --- the table itself ---------------------------------------------------------------------

def test_every_phase_is_reachable_from_the_start() -> None:
    seen, todo = {START}, [START]
    while todo:
        for to, _ in MOVES[todo.pop()].values():
            if to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(Phase)


def test_every_phase_but_final_can_end() -> None:
    """From every phase some path leads to FINAL: no message can be stranded by the table."""
    ends = {Phase.FINAL}
    while True:
        more = {phase for phase, row in MOVES.items() if any(to in ends for to, _ in row.values())}
        if more <= ends:
            break
        ends |= more
    assert ends == set(Phase)


def test_final_is_final_and_only_final() -> None:
    assert MOVES[Phase.FINAL] == {}
    assert all(MOVES[phase] for phase in Phase if phase is not Phase.FINAL)


def test_the_module_docstring_draws_the_table() -> None:
    assert delivery.__doc__ is not None and delivery.transition_diagram() in delivery.__doc__
    drawn = [line.split() for line in delivery.transition_diagram().splitlines()[1:]]
    assert len(drawn) == sum(len(row) for row in MOVES.values())
    for words in drawn:
        to, attempts = MOVES[Phase[words[0]]][Event(words[1])]
        assert words[2] == to.name and words[3:] == ([f"{attempts:+d}"] if attempts else [])


def _at(phase: Phase) -> tuple[DeliveryEngine, Message]:
    """A tracked message in `phase`, reached through the table's own moves."""
    engine, pool, clock, _ = engine_with_pool()
    m = message(1, clock)
    path = {
        Phase.NEW: [],
        Phase.QUEUED: [Event.ACCEPTED],
        Phase.HELD: [Event.ACCEPTED, Event.HELD],
        Phase.IN_FLIGHT: [Event.ACCEPTED, Event.SENT],
        Phase.WAITING: [Event.ACCEPTED, Event.SENT, Event.REFUSED_TEMPORARILY],
        Phase.SUBMITTED: [Event.ACCEPTED, Event.SENT, Event.OPERATOR_ACCEPTED],
        Phase.FINAL: [Event.ACCEPTED, Event.EXPIRED],
    }[phase]
    engine.live[m.id] = m
    for event in path:
        assert engine._move(m, event)
    assert m.phase is phase
    return engine, m


@pytest.mark.parametrize("phase, event", [(p, e) for p in Phase for e in Event if e not in MOVES[p]])
def test_a_move_missing_from_the_table_is_refused_or_ignored_once_final(phase: Phase, event: Event) -> None:
    engine, m = _at(phase)
    before = (m.phase, m.attempts, engine.waiting_count(m.account))
    if phase is Phase.FINAL:
        assert engine._move(m, event) is False
    else:
        with pytest.raises(IllegalMove):
            engine._move(m, event)
    assert (m.phase, m.attempts, engine.waiting_count(m.account)) == before


@pytest.mark.parametrize("phase, event", [(p, e) for p in Phase for e in MOVES[p]])
def test_each_move_of_the_table_keeps_the_counters(phase: Phase, event: Event) -> None:
    engine, m = _at(phase)
    attempts, waiting = m.attempts, engine.waiting_count(m.account)
    assert engine._move(m, event)
    to, change = MOVES[phase][event]
    assert m.phase is to and m.attempts == attempts + change
    assert engine.waiting_count(m.account) == waiting + (to in NOT_YET_SUBMITTED) - (phase in NOT_YET_SUBMITTED)


def test_late_events_for_a_final_message_change_nothing() -> None:
    """What the pool may still report about a message that went final meanwhile (a response
    after the expiry, a throttled answer) is dropped, as before the table."""
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    assert engine.sending(m)
    engine.unsendable(m, "too long")                       # REJECTD, nothing sent
    assert m.phase is Phase.FINAL and m.attempts == 0
    history = store.history(m.id)
    assert not engine.sending(m) and not engine.throttled(m)
    engine.submitted(m, "x1")
    engine.refused(m, CommandStatus.ESME_RSYSERR)
    engine.refused(m, CommandStatus.ESME_RINVDSTADR)
    engine.unanswered(m, "no response")
    engine.unsendable(m, "again")
    engine.send(m)
    assert m.phase is Phase.FINAL and m.attempts == 0 and m.operator_message_id is None
    assert store.history(m.id) == history and engine.waiting_count("acc") == 0 and not engine.live


def test_the_pool_no_longer_counts_attempts_a_throttled_answer_is_not_one() -> None:
    engine, pool, clock, store = engine_with_pool()
    m = message(1, clock)
    engine.accept(m)
    for _ in range(3):
        assert engine.sending(m) and m.attempts == 1
        assert engine.throttled(m) and m.attempts == 0 and m.phase is Phase.QUEUED
    assert engine.sending(m)
    engine.submitted(m, "x1")
    assert store.message(m.id).attempts == 1  # type: ignore[union-attr]


# --- random walks through the engine's public calls ---------------------------------------

OUTCOMES = ("accepted", "throttled", "refused_temporarily", "refused", "unanswered", "unsendable")
RECEIPTS = (("DELIVRD", "000"), ("UNDELIV", "027"), ("UNDELIV", "001"), ("ENROUTE", "000"))
ACTIONS = ("send", "answer", "receipt", "query", "advance", "suspend", "release")


def _check(engine: DeliveryEngine, pool: FakePool, messages: list[Message], sent: Counter[str],
           store: Store) -> None:
    assert set(engine.live) == {m.id for m in messages if m.phase is not Phase.FINAL}
    for account in {m.account for m in messages}:
        assert engine.waiting_count(account) == sum(
            1 for m in messages if m.account == account and m.phase in NOT_YET_SUBMITTED)
    for m in messages:
        # submit_sm that reached the operator (throttled ones aside), and the one in flight
        assert m.attempts == sent[m.id] + pool.in_flight.count(m)
        record = store.message(m.id)
        assert record is not None
        if m.phase is Phase.FINAL:
            assert record.state in FINAL_STATES
        elif m.phase is Phase.SUBMITTED:
            assert record.state is MessageState.SUBMITTED
        else:
            assert record.state is MessageState.ACCEPTED


def _step(action: str, data: st.DataObject, engine: DeliveryEngine, pool: FakePool, clock: Clock,
          sent: Counter[str], suspended: set[str]) -> None:
    if action == "suspend":
        suspended.add(data.draw(st.sampled_from(("acc0", "acc1"))))
    elif action == "release" and suspended:
        account = data.draw(st.sampled_from(sorted(suspended)))
        suspended.discard(account)
        engine.release(account, None)
    elif action == "send" and pool.queue:
        m = pool.queue.pop(0)
        if engine.sending(m):
            pool.in_flight.append(m)
    elif action == "answer" and pool.in_flight:
        m = pool.in_flight.pop(data.draw(st.integers(0, len(pool.in_flight) - 1)))
        outcome = data.draw(st.sampled_from(OUTCOMES))
        if outcome == "accepted":
            sent[m.id] += 1
            engine.submitted(m, f"{m.id}-{sent[m.id]}")
        elif outcome == "throttled":
            if engine.throttled(m):
                pool.queue.insert(0, m)
        elif outcome == "refused_temporarily":
            sent[m.id] += 1
            engine.refused(m, CommandStatus.ESME_RSYSERR)
        elif outcome == "refused":
            sent[m.id] += 1
            engine.refused(m, CommandStatus.ESME_RINVDSTADR)
        elif outcome == "unanswered":
            sent[m.id] += 1
            engine.unanswered(m, "no response")
        else:
            engine.unsendable(m, "too long")
    elif action == "receipt":
        submitted = [m for m in engine.live.values() if m.phase is Phase.SUBMITTED]
        if submitted:
            m = data.draw(st.sampled_from(submitted))
            stat, err = data.draw(st.sampled_from(RECEIPTS))
            engine.operator_receipt("op", Receipt(m.operator_message_id or "", stat, err))
    elif action == "query" and pool.queries:
        m, answer = pool.queries.pop(0)
        kind = data.draw(st.sampled_from(("delivered", "enroute", "unknown", "failed")))
        if kind == "failed":
            answer.errback(RuntimeError("no response"))
        elif kind == "unknown":
            answer.callback(make(Command.query_sm_resp, 1, CommandStatus.ESME_RQUERYFAIL))
        else:
            answer.callback(make(Command.query_sm_resp, 1, message_id=m.operator_message_id or "",
                                 message_state=2 if kind == "delivered" else 1, error_code=0))
    elif action == "advance":
        clock.advance(data.draw(st.sampled_from((1.0, 300.0, 600.0, RECEIPT_GRACE, VALIDITY))))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_walks_keep_the_counters_and_every_message_ends(data: st.DataObject) -> None:
    retry_initial = data.draw(st.sampled_from((60.0, 600.0)))
    suspended: set[str] = set()
    engine, pool, clock, store = engine_with_pool(retry_initial, suspended)
    messages = [message(n, clock, account=f"acc{n % 2}") for n in range(data.draw(st.integers(1, 4)))]
    sent: Counter[str] = Counter()
    for m in messages:
        later = data.draw(st.booleans())                  # as the server does: record, answer, then send
        engine.accept(m, send=not later)
        if later:
            engine.send(m)
    if data.draw(st.booleans()):
        # A restart: some messages were accepted by the operator, the others not yet; a new
        # engine on the same store takes them all up (SUBMITTED ones are asked about first).
        for m in messages:
            if data.draw(st.booleans()) and engine.sending(pool.queue.pop(pool.queue.index(m))):
                engine.submitted(m, f"{m.id}-0")
        engine.stop()
        pool = FakePool()
        restarted = pool
        engine = DeliveryEngine(store, clock, engine.config, outboxes=lambda engine: {"op": restarted},
                                temporary_errors=engine.temporary_errors, held=engine.held)
        assert engine.resume() == len(messages)
        messages = sorted(engine.live.values(), key=lambda m: m.id)
        sent.update({m.id: m.attempts for m in messages})
    _check(engine, pool, messages, sent, store)
    for _ in range(data.draw(st.integers(0, 60))):
        _step(data.draw(st.sampled_from(ACTIONS)), data, engine, pool, clock, sent, suspended)
        _check(engine, pool, messages, sent, store)
    if data.draw(st.booleans()):                          # held messages are released, or expire
        for account in sorted(suspended):
            suspended.discard(account)
            engine.release(account, None)
    for _ in range(40):                                   # then the operator answers everything
        while pool.queue:
            _step("send", data, engine, pool, clock, sent, suspended)
        while pool.in_flight:
            m = pool.in_flight.pop(0)
            sent[m.id] += 1
            engine.submitted(m, f"{m.id}-{sent[m.id]}")
        while pool.queries:
            pool.queries.pop(0)[1].callback(make(Command.query_sm_resp, 1, CommandStatus.ESME_RQUERYFAIL))
        _check(engine, pool, messages, sent, store)
        if not engine.live:
            break
        clock.advance(VALIDITY / 4)
    assert all(m.phase is Phase.FINAL for m in messages) and not engine.live
    assert all(engine.waiting_count(f"acc{n}") == 0 for n in range(2))


def test_a_held_message_waits_for_its_release_then_is_sent() -> None:
    suspended = {"acc"}
    engine, pool, clock, store = engine_with_pool(suspended=suspended)
    m = message(1, clock)
    engine.accept(m)
    assert not engine.sending(pool.queue.pop(0))          # the pool skips it
    assert m.phase is Phase.HELD and engine.waiting_count("acc") == 1 and engine.held_count("acc") == 1
    assert "held" in store.history(m.id)[-1].detail
    assert engine.release("other", None) == 0 and m.phase is Phase.HELD
    suspended.clear()
    assert engine.release("acc", None) == 1
    assert m.phase is Phase.QUEUED and pool.queue == [m] and engine.held_count() == 0
    assert engine.release("acc", None) == 0               # nothing is held twice
    assert engine.sending(pool.queue.pop(0)) and m.attempts == 1


def test_a_held_message_expires_at_its_validity_end_and_a_late_release_skips_it() -> None:
    engine, pool, clock, store = engine_with_pool(suspended={"acc"})
    m = message(1, clock)
    engine.accept(m)
    engine.sending(pool.queue.pop(0))
    clock.advance(VALIDITY)
    assert m.phase is Phase.FINAL and store.message(m.id).state is MessageState.EXPIRED  # type: ignore[union-attr]
    assert engine.release("acc", None) == 0 and pool.queue == [] and engine.waiting_count("acc") == 0


def test_held_is_per_send_a_campaign_of_the_same_account_goes_on() -> None:
    clock = Clock()
    clock.advance(T0)
    pool = FakePool()
    engine: DeliveryEngine[FakePool, ClientSink] = DeliveryEngine(
        Store(":memory:"), clock, DeliveryConfig(validity=VALIDITY), outboxes=lambda engine: {"op": pool},
        held=lambda account, campaign: (account, campaign) == ("acc", "promo"))
    promo, other, plain = message(1, clock), message(2, clock), message(3, clock)
    promo.campaign, other.campaign = "promo", "news"
    for m in (promo, other, plain):
        engine.accept(m)
    assert [engine.sending(m) for m in list(pool.queue)] == [False, True, True]
    assert engine.release("acc", "news") == 0 and engine.release("acc", "promo") == 1
