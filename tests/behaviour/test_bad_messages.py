"""Issue 10, point 2: a bad message fails alone.

On the in-memory network and the virtual clock. What the operator leg cannot carry is refused
at submit with the status that names it; and if forwarding a message (or a deliver_sm to a
client) fails anyway, that message alone ends, its window slot is free, and the links and
every other message go on.
"""

from __future__ import annotations

import sqlite3
import struct

import pytest

from aggregator.delivery import Message
from aggregator.store import MessageState
from smsc.pdu.codec import Command, Tag, Tlv, encode, make
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus
from tests.support.memstack import Client, MemStack

ORANGE = "+33612345678"               # delivered at once (magic number), served by one operator


def raw_submit(seq: int, short_message: bytes, tlvs: tuple[Tlv, ...] = (), data_coding: int = 0) -> bytes:
    """A submit_sm as a client may write it, sm_length included, whatever its length."""
    good = encode(make(Command.submit_sm, seq, tlvs=(), source_addr_ton=5, source_addr="TEST", dest_addr_ton=1,
                       dest_addr_npi=1, destination_addr=ORANGE[1:], registered_delivery=1,
                       data_coding=data_coding, short_message=b""))
    body = good[16:-1] + bytes((len(short_message) & 0xFF,)) + short_message
    body += b"".join(struct.pack("!HH", t.tag, len(t.value)) + t.value for t in tlvs)
    return struct.pack("!IIII", 16 + len(body), Command.submit_sm, 0, seq) + body


def delivered_ok(stack: MemStack, client: Client) -> None:
    """A normal message through the same operator still gets its DELIVRD receipt."""
    resp = stack.wait(client.submit(ORANGE, b"still fine"))
    assert resp.command_status == 0
    stack.run(2.0)
    stats = [parse_receipt(p).stat for _, p in client.delivered  # type: ignore[union-attr]
             if parse_receipt(p) and parse_receipt(p).message_id == resp["message_id"]]  # type: ignore[union-attr]
    assert stats == ["DELIVRD"]


@pytest.mark.parametrize("short_message, tlvs, status", [
    (b"x" * 255, (), CommandStatus.ESME_RINVMSGLEN),
    (b"", (Tlv(Tag.message_payload, b"x" * (65536 - 16 - 37 - 4)),), CommandStatus.ESME_RINVMSGLEN),
    (b"\x00A\x00", (), CommandStatus.ESME_RINVMSGLEN),
    (b"hello", (Tlv(Tag.message_payload, b"world"),), CommandStatus.ESME_ROPTPARNOTALLWD),
])
def test_what_the_operator_leg_cannot_carry_is_refused_at_submit_and_the_route_goes_on(
        stack: MemStack, short_message: bytes, tlvs: tuple[Tlv, ...], status: CommandStatus) -> None:
    client = stack.client(window=20)
    coding = 8 if short_message.startswith(b"\x00") else 0
    statuses = []
    for seq in range(1000, 1012):                         # more than an operator link's window (10)
        frame = raw_submit(seq, short_message, tlvs, coding)
        statuses.append(stack.wait(client.raw(frame)).command_status)
    assert statuses == [status] * 12
    assert stack.store.count_messages() == 0              # nothing accepted, nothing billed
    delivered_ok(stack, client)


def test_a_udh_shorter_than_its_length_byte_is_refused_as_esm_class(stack: MemStack) -> None:
    client = stack.client()
    resp = stack.wait(client.submit(ORANGE, b"\x09\x00\x03", esm_class=0x40))
    assert resp.command_status == CommandStatus.ESME_RINVESMCLASS
    delivered_ok(stack, client)


def test_a_message_that_cannot_be_forwarded_anyway_ends_alone_rejected(stack: MemStack) -> None:
    """Defence in depth: past the server's checks (here, straight into the engine), a message the
    pool cannot encode is REJECTD with why, takes no window slot, and the link goes on."""
    client = stack.client()
    engine, now = stack.harness.engine, stack.clock.seconds()
    for i in range(12):                                    # more than the operator link's window
        engine.accept(Message(id=f"bad-{i:012d}", account="demo", source_addr="TEST", source_addr_ton=5,
                              destination_addr=ORANGE[1:], dest_addr_ton=1, msisdn=ORANGE, operator_id=route(stack),
                              registered_delivery=1, data_coding=0, esm_class=0, short_message=b"x" * 255,
                              accepted_at=now, deadline=now + 3600))
    stack.run(1.0)
    rejected = [parse_receipt(p) for _, p in client.delivered]
    assert sorted(r.message_id for r in rejected if r and r.stat == "REJECTD") == [f"bad-{i:012d}" for i in range(12)]
    assert stack.store.count_messages(MessageState.REJECTED) == 12
    (last,) = [e for e in stack.store.history("bad-000000000000") if e.state is MessageState.REJECTED]
    assert "cannot be encoded" in last.detail
    assert client.closed is None
    delivered_ok(stack, client)


def test_a_deliver_sm_that_cannot_be_sent_to_a_client_ends_alone(stack: MemStack) -> None:
    client = stack.client()
    too_big = make(Command.deliver_sm, 0, tlvs=(Tlv(Tag.message_payload, b"x" * 65_500),), source_addr="33612345678",
                   destination_addr="36180", esm_class=0)           # encodable, above the link's 64 KiB
    unencodable = make(Command.deliver_sm, 0, tlvs=(Tlv(Tag.message_payload, b"x" * 70_000),),
                       source_addr="33612345678", destination_addr="36180", esm_class=0)
    for _ in range(12):                                    # more than the client bind's window
        stack.harness.server._owe("demo", "mo", None, too_big)
        stack.harness.server._owe("demo", "mo", None, unencodable)
    stack.run(1.0)
    failures = [(done is not None, record.kind) for record, done in stack.store.deliveries()]
    assert failures == [(True, "mo")] * 12                 # given up, each with why; the others never owed
    with sqlite3.connect(stack.store._path) as check:
        reasons = [row[0] for row in check.execute("SELECT failure FROM deliveries ORDER BY id")]
    assert all("above the 65536-octet maximum" in reason for reason in reasons)
    assert client.closed is None
    delivered_ok(stack, client)


def route(stack: MemStack) -> str:
    return stack.harness.server.router.route(ORANGE, 1).operator_id
