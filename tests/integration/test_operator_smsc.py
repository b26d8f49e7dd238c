"""A simulated operator SMSC on its own, over real TCP: our Esme binds straight to it.

Bytes travel on 127.0.0.1 through the real reactor; the SMSC (and its sessions) run on a
`task.Clock`, so `clock.advance(3600)` moves simulated time without waiting. The SMSC side's
keepalive timers are switched off (the client sends nothing in simulated time, and these
tests are about the operator's behaviour, not about enquire_link). Every wait has a timeout;
"nothing arrived" is proven with an enquire_link round trip on the same connection (TCP keeps
order, so whatever the SMSC wrote before its enquire_link_resp has arrived by then).
"""

from __future__ import annotations

from typing import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort

from aggregator.config import load_config
from smsc.adapter import ResponseTimeout, SmppFactory
from smsc.esme import Esme, connect_esme
from smsc.operators.profile import (
    Faults, Fixed, NumberRule, OperatorProfile, Outage, OutageMode, SlowResponses, SmscBehaviour, Throughput,
)
from smsc.operators.smsc import OperatorSmsc
from smsc.pdu.codec import Command, MessageState, Pdu, Tag
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.smpptime import relative
from smsc.pdu.status import CommandStatus
from smsc.session import SessionConfig
from smsc.states import Role

TIMEOUT = 5.0
START = 1_795_982_400.0                             # 2026-11-29T20:00:00Z
TEST_NUMBERS = load_config().test_numbers
SMSC_SESSION = SessionConfig(response_timeout=1e9, enquire_link_interval=None, inactivity_timeout=None)
OK = CommandStatus.ESME_ROK


def _reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor
    return reactor


async def wait(d: defer.Deferred) -> Pdu:  # type: ignore[type-arg]
    return await d.addTimeout(TIMEOUT, _reactor())  # type: ignore[no-any-return]


class Operator:
    """One OperatorSmsc listening on 127.0.0.1, on a task.Clock."""

    def __init__(self, smsc: OperatorSmsc, clock: task.Clock, port: IListeningPort) -> None:
        self.smsc, self.clock, self.port = smsc, clock, port
        self.clients: list[Esme] = []

    async def client(self, mode: str = "transceiver", bind: bool = True,
                     config: SessionConfig = SessionConfig(enquire_link_interval=None)) -> Esme:
        esme = await connect_esme(_reactor(), "127.0.0.1", self.port.getHost().port, config)
        self.clients.append(esme)
        if bind:
            resp = await wait(esme.bind("aggregator", "secret", mode))
            assert resp.command_status == OK
        return esme

    async def stop(self) -> None:
        for esme in self.clients:
            if esme.conn is not None and not esme.closed.called:
                esme.conn.close()
                await esme.closed.addTimeout(TIMEOUT, _reactor())
        self.smsc.stop()
        await defer.maybeDeferred(self.port.stopListening)


async def serve(behaviour: SmscBehaviour = SmscBehaviour(),
                test_numbers: tuple[NumberRule, ...] = TEST_NUMBERS) -> Operator:
    clock = task.Clock()
    clock.advance(START)
    smsc = OperatorSmsc(OperatorProfile("bouygues", "Bouygues Telecom", behaviour=behaviour), clock, seed=1,
                        test_numbers=test_numbers)
    factory = SmppFactory(clock, Role.SMSC, smsc, SMSC_SESSION)
    port = await TCP4ServerEndpoint(_reactor(), 0, interface="127.0.0.1").listen(factory)
    return Operator(smsc, clock, port)


@pytest_twisted.async_yield_fixture
async def op() -> AsyncIterator[Operator]:
    running = await serve()
    try:
        yield running
    finally:
        await running.stop()


async def barrier(esme: Esme) -> None:
    """Everything the SMSC wrote to this connection so far has arrived."""
    assert esme.conn is not None
    resp = await wait(esme.conn.request(Command.enquire_link))
    assert resp.command is Command.enquire_link_resp


def pending(esme: Esme) -> int:
    return len(esme.delivered.pending)


async def submit(esme: Esme, number: str, **params: object) -> Pdu:
    params.setdefault("source_addr", "36180")
    params.setdefault("source_addr_ton", 3)
    return await wait(esme.submit(number.lstrip("+"), **params))  # type: ignore[arg-type]


async def receipt_after(operator: Operator, esme: Esme, seconds: float):  # type: ignore[no-untyped-def]
    operator.clock.advance(seconds)
    pdu = await wait(esme.delivered.get())
    assert pdu.command is Command.deliver_sm and pdu["esm_class"] == 0x04
    return parse_receipt(pdu)


# --- magic numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("number, after, stat, err", [
    ("+33612345678", 0, "DELIVRD", "000"),
    ("+33699990000", 0, "DELIVRD", "000"),
    ("+33699990001", 1, "UNDELIV", "001"),
    ("+33699990002", 300, "DELIVRD", "000"),
    ("+33699990004", 1, "UNDELIV", "005"),
    ("+33699990006", 30, "DELIVRD", "000"),
])
@pytest_twisted.ensureDeferred
async def test_magic_number_receipts(op: Operator, number: str, after: float, stat: str, err: str) -> None:
    esme = await op.client()
    resp = await submit(esme, number, text=b"magic")
    assert resp.command_status == OK
    if after:
        op.clock.advance(after - 0.001)                  # a moment before: nothing yet
        await barrier(esme)
        assert pending(esme) == 0
    receipt = await receipt_after(op, esme, 0.001 if after else 0)
    assert receipt is not None and (receipt.message_id, receipt.stat, receipt.err) == (resp["message_id"], stat, err)
    assert op.smsc.receipts_sent == 1 and op.smsc.submitted == 1


@pytest_twisted.ensureDeferred
async def test_magic_number_refused_at_submit(op: Operator) -> None:
    esme = await op.client()
    resp = await submit(esme, "+33699990005")
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert op.smsc.submitted == 0 and op.smsc.refused == 1


@pytest_twisted.ensureDeferred
async def test_magic_number_without_receipt_is_still_known_to_query_sm(op: Operator) -> None:
    esme = await op.client()
    resp = await submit(esme, "+33699990009")
    assert resp.command_status == OK
    op.clock.advance(3600)
    await barrier(esme)
    assert pending(esme) == 0 and op.smsc.receipts_sent == 0
    assert esme.conn is not None
    query = await wait(esme.conn.request(Command.query_sm, message_id=resp["message_id"]))
    assert query.command_status == OK and query["message_state"] == MessageState.DELIVERED
    assert str(query["final_date"]).endswith("000+") and len(str(query["final_date"])) == 16


@pytest_twisted.ensureDeferred
async def test_a_final_message_is_forgotten_48_hours_later(op: Operator) -> None:
    esme = await op.client()
    first = await submit(esme, "+33699990000")          # delivered at once
    op.clock.advance(5)                                  # its fate (task.Clock: at the step's end)
    op.clock.advance(47 * 3600)
    second = await submit(esme, "+33699990000")         # each final state forgets what is due
    op.clock.advance(5)
    assert esme.conn is not None
    known = await wait(esme.conn.request(Command.query_sm, message_id=first["message_id"]))
    assert known.command_status == OK
    op.clock.advance(3600 + 1)
    third = await submit(esme, "+33699990000")
    op.clock.advance(5)                                  # its fate: the purge runs then
    await barrier(esme)
    gone = await wait(esme.conn.request(Command.query_sm, message_id=first["message_id"]))
    assert gone.command_status == CommandStatus.ESME_RQUERYFAIL
    kept = await wait(esme.conn.request(Command.query_sm, message_id=second["message_id"]))
    assert kept.command_status == OK and third.command_status == OK


@pytest_twisted.ensureDeferred
async def test_magic_number_throttled_every_other_submit(op: Operator) -> None:
    esme = await op.client()
    statuses = [(await submit(esme, "+33699990010")).command_status for _ in range(5)]
    assert statuses == [OK, CommandStatus.ESME_RTHROTTLED, OK, CommandStatus.ESME_RTHROTTLED, OK]
    assert op.smsc.throttled == 2


@pytest.mark.parametrize("number, keyword", [("+33699990007", b"STOP"), ("+33699990008", b"CONTACT")])
@pytest_twisted.ensureDeferred
async def test_magic_number_replies_with_an_mo(op: Operator, number: str, keyword: bytes) -> None:
    esme = await op.client()
    resp = await submit(esme, number, registered_delivery=1)
    receipt = await receipt_after(op, esme, 1)
    assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "DELIVRD"
    op.clock.advance(5)                                   # the reply comes within 5 s of delivery
    mo = await wait(esme.delivered.get())
    assert mo.command is Command.deliver_sm and mo["esm_class"] == 0
    assert (mo["source_addr"], mo["source_addr_ton"], mo["source_addr_npi"]) == (number.lstrip("+"), 1, 1)
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("36180", 3)
    assert mo["short_message"] == keyword
    assert op.smsc.mo_sent == 1


@pytest_twisted.ensureDeferred
async def test_no_reply_can_reach_an_alphanumeric_sender(op: Operator) -> None:
    esme = await op.client()
    await submit(esme, "+33699990007", source_addr="MyShop", source_addr_ton=5)
    await receipt_after(op, esme, 1)
    op.clock.advance(10)
    await barrier(esme)
    assert pending(esme) == 0
    assert (op.smsc.mo_sent, op.smsc.mo_dropped) == (0, 1)


@pytest_twisted.ensureDeferred
async def test_absent_subscriber_expires_at_the_end_of_a_one_hour_validity(op: Operator) -> None:
    esme = await op.client()
    resp = await submit(esme, "+33699990003", validity_period=relative(3600))
    assert resp.command_status == OK
    op.clock.advance(3599)
    await barrier(esme)
    assert pending(esme) == 0
    assert esme.conn is not None
    query = await wait(esme.conn.request(Command.query_sm, message_id=resp["message_id"]))
    assert query["message_state"] == MessageState.ENROUTE and query["final_date"] == ""
    receipt = await receipt_after(op, esme, 1)
    assert receipt is not None and (receipt.message_id, receipt.stat, receipt.err) == (
        resp["message_id"], "EXPIRED", "027")
    query = await wait(esme.conn.request(Command.query_sm, message_id=resp["message_id"]))
    assert (query["message_state"], query["error_code"]) == (MessageState.EXPIRED, 27)


@pytest_twisted.ensureDeferred
async def test_query_sm_for_an_unknown_id(op: Operator) -> None:
    esme = await op.client()
    assert esme.conn is not None
    query = await wait(esme.conn.request(Command.query_sm, message_id="nope"))
    assert query.command_status == CommandStatus.ESME_RQUERYFAIL


@pytest_twisted.ensureDeferred
async def test_bad_validity_period_is_refused(op: Operator) -> None:
    esme = await op.client()
    assert (await submit(esme, "+33612345678", validity_period="soon")).command_status == \
        CommandStatus.ESME_RINVEXPIRY


# --- throughput caps ----------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_operator_cap_throttles_beyond_the_burst() -> None:
    operator = await serve(SmscBehaviour(throughput=Throughput(rate=1.0, burst=3)))
    try:
        esme = await operator.client()
        resps = await defer.gatherResults([esme.submit("33612000000") for _ in range(5)])
        assert [r.command_status for r in resps] == [OK] * 3 + [CommandStatus.ESME_RTHROTTLED] * 2
        operator.clock.advance(1.0)                        # one token back
        assert (await submit(esme, "+33612000000")).command_status == OK
        assert (await submit(esme, "+33612000000")).command_status == CommandStatus.ESME_RTHROTTLED
        operator.smsc.set_throughput(100.0, 10)           # the operator lifts its cap
        operator.clock.advance(1.0)
        assert (await submit(esme, "+33612000000")).command_status == OK
    finally:
        await operator.stop()


@pytest_twisted.ensureDeferred
async def test_per_bind_cap_and_max_binds() -> None:
    behaviour = SmscBehaviour(per_bind=Throughput(rate=1.0, burst=2), max_binds=2,
                              throttled_status=CommandStatus.ESME_RMSGQFUL)
    operator = await serve(behaviour)
    try:
        first, second = await operator.client(), await operator.client()
        third = await operator.client(bind=False)
        assert (await wait(third.bind("aggregator", "secret"))).command_status == CommandStatus.ESME_RBINDFAIL
        statuses = [(await submit(first, "+33612000000")).command_status for _ in range(3)]
        assert statuses == [OK, OK, CommandStatus.ESME_RMSGQFUL]
        assert (await submit(second, "+33612000000")).command_status == OK      # its own bucket
    finally:
        await operator.stop()


@pytest_twisted.ensureDeferred
async def test_slow_responses_fill_the_window_and_the_resp_still_comes_first() -> None:
    behaviour = SmscBehaviour(window=2, receipt_delay=Fixed(0.0),
                              faults=Faults(slow_responses=SlowResponses(100.0, Fixed(10.0))))
    operator = await serve(behaviour)
    try:
        esme = await operator.client()
        order: list[str] = []

        def seen(pdu: Pdu) -> Pdu:                          # wire order: resp or deliver_sm
            order.append("resp" if pdu.command is Command.submit_sm_resp else "receipt")
            return pdu

        slow = [esme.submit("33612000000").addCallback(seen), esme.submit("33612000001").addCallback(seen)]
        assert (await submit(esme, "+33612000002")).command_status == CommandStatus.ESME_RMSGQFUL
        receipts = [esme.delivered.get().addCallback(seen) for _ in range(2)]
        operator.clock.advance(10.0)                        # both resps leave; receipts are due at once
        assert [r.command_status for r in await defer.gatherResults([d.addTimeout(TIMEOUT, _reactor())
                                                                     for d in slow])] == [OK, OK]
        assert pending(esme) == 0
        operator.clock.advance(0)                           # the receipts' zero-delay timers
        await wait(defer.gatherResults(receipts))
        assert order == ["resp", "resp", "receipt", "receipt"]
    finally:
        await operator.stop()


# --- outages ------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_scheduled_refuse_binds_outage_drops_then_refuses_and_receipts_wait() -> None:
    behaviour = SmscBehaviour(faults=Faults(outages=(Outage(100.0, 50.0, OutageMode.REFUSE_BINDS),)))
    operator = await serve(behaviour)
    try:
        esme = await operator.client()
        resp = await submit(esme, "+33699990006")          # receipt due 30 s later, during the outage
        operator.clock.advance(100)
        await esme.closed.addTimeout(TIMEOUT, _reactor())
        late = await operator.client(bind=False)
        assert (await wait(late.bind("aggregator", "secret"))).command_status == CommandStatus.ESME_RBINDFAIL
        operator.clock.advance(50)                          # the outage ends
        assert (await wait(late.bind("aggregator", "secret"))).command_status == OK
        receipt = parse_receipt(await wait(late.delivered.get()))
        assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "DELIVRD"
    finally:
        await operator.stop()


@pytest_twisted.ensureDeferred
async def test_drop_outage_closes_every_connection_at_once(op: Operator) -> None:
    esme = await op.client()
    op.smsc.start_outage(OutageMode.DROP)
    await esme.closed.addTimeout(TIMEOUT, _reactor())
    newcomer = await op.client(bind=False)
    await newcomer.closed.addTimeout(TIMEOUT, _reactor())
    op.smsc.end_outage()
    again = await op.client()
    assert (await submit(again, "+33612345678")).command_status == OK


@pytest_twisted.ensureDeferred
async def test_silent_outage_answers_nothing(op: Operator) -> None:
    esme = await op.client(config=SessionConfig(enquire_link_interval=None, response_timeout=0.3))
    op.smsc.start_outage(OutageMode.SILENT)
    with pytest.raises(ResponseTimeout):
        await submit(esme, "+33612345678")                # the client's response timer fires
    await barrier(esme)                                   # enquire_link is still answered
    op.smsc.end_outage()
    resp = await submit(esme, "+33612345678")
    assert resp.command_status == OK and op.smsc.submitted == 1


# --- MO injection ---------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_inject_mo_reaches_a_bound_transceiver(op: Operator) -> None:
    esme = await op.client()
    op.smsc.inject_mo("+33612345678", "36180", "STOP")
    mo = await wait(esme.delivered.get())
    assert mo.command is Command.deliver_sm and mo["esm_class"] == 0 and mo["short_message"] == b"STOP"
    assert (mo["source_addr"], mo["source_addr_ton"]) == ("33612345678", 1)
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("36180", 0)


@pytest_twisted.ensureDeferred
async def test_inject_mo_waits_for_a_receiver_bind(op: Operator) -> None:
    sender = await op.client(mode="transmitter")
    op.smsc.inject_mo("33612345678", "+33700000000", "Désabo", destination_ton=1)
    await barrier(sender)
    assert pending(sender) == 0
    receiver = await op.client(mode="receiver")
    mo = await wait(receiver.delivered.get())
    assert (mo["destination_addr"], mo["dest_addr_ton"], mo["data_coding"]) == ("33700000000", 1, 3)
    assert mo["short_message"] == "Désabo".encode("latin-1") and mo.tlv(Tag.message_payload) is None


@pytest_twisted.ensureDeferred
async def test_restart_forgets_everything() -> None:
    operator = await serve()
    try:
        esme = await operator.client()
        resp = await submit(esme, "+33699990006")
    finally:
        await operator.stop()
    fresh = await serve()
    try:
        esme = await fresh.client()
        assert esme.conn is not None
        query = await wait(esme.conn.request(Command.query_sm, message_id=resp["message_id"]))
        assert query.command_status == CommandStatus.ESME_RQUERYFAIL
    finally:
        await fresh.stop()
