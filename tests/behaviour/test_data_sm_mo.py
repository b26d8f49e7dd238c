"""An operator may send an MO as data_sm (SMPP 3.4 §4.7: the text in message_payload) instead
of deliver_sm. The aggregator takes it as it takes a deliver_sm MO: stored, answered once
committed, forwarded to the short code's owner as a deliver_sm (what every client binds for),
with the text in short_message when it fits, and the operator link goes on."""

from __future__ import annotations

from pathlib import Path

from smsc.pdu.codec import Command, Tag, Tlv
from smsc.pdu.status import CommandStatus
from tests.support.memstack import START, MemStack


def test_a_data_sm_mo_reaches_the_short_code_owner_and_the_link_stays(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    link = stack.operator("sfr").binds[0]
    resp = stack.wait(link.request(Command.data_sm, (Tlv(Tag.message_payload, b"STOP"),),
                                   source_addr_ton=1, source_addr="33612345678", dest_addr_ton=3,
                                   destination_addr="36180", data_coding=0), "the data_sm_resp")
    assert resp.command is Command.data_sm_resp and resp.command_status == CommandStatus.ESME_ROK
    ((at, mo),) = client.delivered
    assert at == START and mo.command is Command.deliver_sm
    assert (mo["source_addr"], mo["destination_addr"], mo["short_message"]) == ("33612345678", "36180", b"STOP")
    (stored,) = stack.store.mos()
    assert (stored.account, stored.operator_id, stored.short_message) == ("demo", "sfr", b"STOP")
    assert link in stack.operator("sfr").binds                       # the link was not dropped
    stack.operator("sfr").inject_mo("33612345678", "36180", "CONTACT")   # and the next MO comes through
    stack.run(0)
    assert [p["short_message"] for _, p in client.delivered] == [b"STOP", b"CONTACT"]
    stack.stop()
