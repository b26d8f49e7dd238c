"""Client -> aggregator -> operator SMSC -> receipt back, over real TCP (issue 3 acceptance)."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import defer

from aggregator.harness import Harness
from aggregator.store import MessageState
from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Command, MessageState as SmppMessageState, Pdu, Tag, Tlv
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus
from tests.support.stack import until

TIMEOUT = 10.0


def _reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor
    return reactor


async def wait(d: defer.Deferred) -> object:  # type: ignore[type-arg]
    return await d.addTimeout(TIMEOUT, _reactor())


@pytest_twisted.async_yield_fixture
async def client(harness: Harness) -> AsyncIterator[Esme]:
    esme = await connect_esme(_reactor(), "127.0.0.1", harness.port)
    resp = await wait(esme.bind("demo", "demo", "transceiver"))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]
    yield esme
    if esme.conn is not None and not esme.closed.called:
        esme.conn.close()
        await wait(esme.closed)


@pytest_twisted.ensureDeferred
async def test_submit_gets_resp_then_delivrd_receipt_with_the_same_id(harness: Harness, client: Esme) -> None:
    resp: Pdu = await wait(client.submit("+33612345678", b"Hello from the test", registered_delivery=1))  # type: ignore[assignment]
    assert resp.command is Command.submit_sm_resp and resp.command_status == CommandStatus.ESME_ROK
    message_id = str(resp["message_id"])
    assert message_id
    deliver: Pdu = await wait(client.delivered.get())  # type: ignore[assignment]
    assert deliver.command is Command.deliver_sm and deliver["esm_class"] == 0x04
    receipt = parse_receipt(deliver)
    assert receipt is not None and receipt.message_id == message_id and receipt.stat == "DELIVRD"
    assert receipt.err == "000" and receipt.text == "Hello from the test"
    assert f"id:{message_id} sub:001 dlvrd:001 submit date:" in deliver["short_message"].decode()  # type: ignore[union-attr]
    assert deliver.tlv(Tag.receipted_message_id).as_str() == message_id  # type: ignore[union-attr]
    assert deliver.tlv(Tag.message_state).as_int() == SmppMessageState.DELIVERED  # type: ignore[union-attr]
    record = harness.store.message(message_id)
    assert record is not None and record.state is MessageState.DELIVERED and record.operator_id == "sfr"
    assert [e.state for e in harness.store.history(message_id)] == [
        MessageState.ACCEPTED, MessageState.SUBMITTED, MessageState.DELIVERED]
    assert [r.stat for r in harness.store.receipts(message_id)] == ["DELIVRD"]


@pytest.mark.parametrize("number, operator", [
    ("33612345678", "sfr"), ("33770000000", "orange"), ("33699990000", "bouygues"), ("+33651000000", "free"),
])
@pytest_twisted.ensureDeferred
async def test_routing_reaches_the_right_operator_smsc(harness: Harness, client: Esme, number: str,
                                                       operator: str) -> None:
    before = {op: smsc.submitted for op, smsc in harness.operators.items()}
    resp: Pdu = await wait(client.submit(number, b"route me", registered_delivery=0))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK
    await until(lambda: sum(smsc.submitted for smsc in harness.operators.values()) > sum(before.values()),
                "the submit at an operator")
    after = {op: smsc.submitted for op, smsc in harness.operators.items()}
    assert {op: after[op] - before[op] for op in after} == {op: int(op == operator) for op in after}
    record = harness.store.message(str(resp["message_id"]))
    assert record is not None and record.operator_id == operator and record.destination_addr == "+" + number.lstrip("+")


@pytest.mark.parametrize("number, ton", [("0612345678", 2), ("+33612345678", 1), ("0612345678", 0)])
@pytest_twisted.ensureDeferred
async def test_national_and_plus_forms_are_normalised(harness: Harness, client: Esme, number: str, ton: int) -> None:
    resp: Pdu = await wait(client.submit(number, b"x", dest_addr_ton=ton, registered_delivery=0))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK
    record = harness.store.message(str(resp["message_id"]))
    assert record is not None and record.destination_addr == "+33612345678"


@pytest_twisted.ensureDeferred
async def test_unserved_destination_gets_rinvdstadr(client: Esme) -> None:
    resp: Pdu = await wait(client.submit("447700900123", b"x"))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_RINVDSTADR
    resp = await wait(client.submit("33612345678", b"still works", registered_delivery=0))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK


@pytest_twisted.ensureDeferred
async def test_kannel_style_submit_is_accepted(client: Esme) -> None:
    """esm_class 0x03 (store and forward), alphanumeric sender TON 5, registered_delivery 0x11."""
    resp: Pdu = await wait(client.submit("33612345678", b"kannel", source_addr="MyShop", source_addr_ton=5,
                                         esm_class=0x03, registered_delivery=0x11))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK
    receipt = parse_receipt(await wait(client.delivered.get()))  # type: ignore[arg-type]
    assert receipt is not None and receipt.message_id == resp["message_id"]


@pytest_twisted.ensureDeferred
async def test_unknown_vendor_tlv_is_accepted(client: Esme) -> None:
    resp: Pdu = await wait(client.submit("33612345678", b"vendor", registered_delivery=0,
                                         tlvs=(Tlv(0x1401, b"\x01\x02\x03"), Tlv(0x3FFF, b"x"))))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK


@pytest_twisted.ensureDeferred
async def test_no_receipt_when_none_was_asked(client: Esme) -> None:
    first: Pdu = await wait(client.submit("33612345678", b"quiet", registered_delivery=0))  # type: ignore[assignment]
    second: Pdu = await wait(client.submit("33612345678", b"loud", registered_delivery=1))  # type: ignore[assignment]
    receipt = parse_receipt(await wait(client.delivered.get()))  # type: ignore[arg-type]
    assert receipt is not None and receipt.message_id == second["message_id"] != first["message_id"]


@pytest_twisted.ensureDeferred
async def test_receipt_waits_for_a_receiver_bind(harness: Harness) -> None:
    reactor = _reactor()
    sender = await connect_esme(reactor, "127.0.0.1", harness.port)
    assert (await wait(sender.bind("demo", "demo", "transmitter"))).command_status == 0  # type: ignore[attr-defined]
    resp: Pdu = await wait(sender.submit("33612345678", b"later"))  # type: ignore[assignment]
    await wait(sender.conn.unbind())  # type: ignore[union-attr]
    await wait(sender.closed)
    receiver = await connect_esme(reactor, "127.0.0.1", harness.port)
    assert (await wait(receiver.bind("demo", "demo", "receiver"))).command_status == 0  # type: ignore[attr-defined]
    receipt = parse_receipt(await wait(receiver.delivered.get()))  # type: ignore[arg-type]
    assert receipt is not None and receipt.message_id == resp["message_id"]
    receiver.conn.close()  # type: ignore[union-attr]
    await wait(receiver.closed)
