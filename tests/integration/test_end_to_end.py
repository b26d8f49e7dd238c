"""Client -> aggregator -> operator SMSC -> receipt back, over real TCP and the real reactor
(issue 3 acceptance): the wiring of `start_harness` on TCP endpoints. The rest of that path
(routing, number forms, refusals, receipts that wait for a bind) is tested on the virtual
network in tests/behaviour/test_submit_and_route.py."""

from __future__ import annotations

from typing import AsyncIterator

import pytest_twisted
from twisted.internet import defer

from aggregator.harness import Harness
from aggregator.store import MessageState
from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Command, Pdu, SmppMessageState, Tag
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus

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
