"""Client -> aggregator -> operator SMSC -> receipt back (issue 3), on the virtual network:
routing to each operator, number forms, refusals, what a client may send, and receipts that
wait for a receiver. (tests/integration/test_end_to_end.py does one message over real TCP.)"""

from __future__ import annotations


import pytest

from smsc.pdu.codec import Tlv
from smsc.pdu.status import CommandStatus
from tests.support.memstack import START, Client, MemStack


@pytest.mark.parametrize("number, operator", [
    ("33612345678", "sfr"), ("33770000000", "orange"), ("33699990000", "bouygues"), ("+33651000000", "free"),
])
def test_routing_reaches_the_right_operator_smsc(stack: MemStack, client: Client, number: str,
                                                 operator: str) -> None:
    operators = stack.harness.operators
    before = {op: smsc.submitted for op, smsc in operators.items()}
    resp = stack.wait(client.submit(number, b"route me", destination_addr=number, registered_delivery=0))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]
    stack.run(0)                                                     # the pool sends it at once
    after = {op: smsc.submitted for op, smsc in operators.items()}
    assert {op: after[op] - before[op] for op in after} == {op: int(op == operator) for op in after}
    record = stack.store.message(str(resp["message_id"]))  # type: ignore[index]
    assert record is not None and record.operator_id == operator and record.destination_addr == "+" + number.lstrip("+")


@pytest.mark.parametrize("number, ton", [("0612345678", 2), ("+33612345678", 1), ("0612345678", 0)])
def test_national_and_plus_forms_are_normalised(stack: MemStack, client: Client, number: str, ton: int) -> None:
    resp = stack.wait(client.submit(number, b"x", dest_addr_ton=ton, dest_addr_npi=1 if ton == 1 else 0,
                                    destination_addr=number, registered_delivery=0))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]
    record = stack.store.message(str(resp["message_id"]))  # type: ignore[index]
    assert record is not None and record.destination_addr == "+33612345678"


def test_unserved_destination_gets_rinvdstadr(stack: MemStack, client: Client) -> None:
    resp = stack.wait(client.submit("447700900123", b"x"))
    assert resp.command_status == CommandStatus.ESME_RINVDSTADR  # type: ignore[attr-defined]
    resp = stack.wait(client.submit("33612345678", b"still works", registered_delivery=0))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]


def test_kannel_style_submit_is_accepted(stack: MemStack, client: Client) -> None:
    """esm_class 0x03 (store and forward), alphanumeric sender TON 5, registered_delivery 0x11."""
    resp = stack.wait(client.submit("33612345678", b"kannel", source_addr="MyShop", source_addr_ton=5,
                                    esm_class=0x03, registered_delivery=0x11))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]
    stack.run(0)                                                     # +33612345678: DELIVRD at once
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(resp["message_id"], "DELIVRD")]  # type: ignore[index]


def test_unknown_vendor_tlv_is_accepted(stack: MemStack, client: Client) -> None:
    resp = stack.wait(client.submit("33612345678", b"vendor", registered_delivery=0,
                                    tlvs=(Tlv(0x1401, b"\x01\x02\x03"), Tlv(0x3FFF, b"x"))))
    assert resp.command_status == CommandStatus.ESME_ROK  # type: ignore[attr-defined]


def test_no_receipt_when_none_was_asked(stack: MemStack, client: Client) -> None:
    first = stack.wait(client.submit("33612345678", b"quiet", registered_delivery=0))
    second = stack.wait(client.submit("33612345678", b"loud", registered_delivery=1))
    stack.run(60)
    assert [r.message_id for r in client.receipts()] == [second["message_id"]]  # type: ignore[index]
    assert second["message_id"] != first["message_id"]  # type: ignore[index]


def test_receipt_waits_for_a_receiver_bind(stack: MemStack) -> None:
    sender = stack.client("transmitter")
    resp = stack.wait(sender.submit("33612345678", b"later"))
    stack.run(0)                                                     # delivered at once; nobody to tell
    assert sender.delivered == []                                    # a transmitter gets no deliver_sm
    stack.wait(sender.unbind(), "the unbind")
    stack.until(lambda: sender.closed is not None, "the close after unbind")
    stack.run(30)
    receiver = stack.client("receiver")
    stack.run(0)
    assert [(at, r.message_id) for at, r in receiver.receipts_at()] == [(START + 30, resp["message_id"])]  # type: ignore[index]
