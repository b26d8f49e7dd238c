"""One deliver_sm that cannot go never stops an operator's other MOs and receipts (issue 10).

Before: ten MOs of 70,000 characters (struct.error in the codec, after the session had taken a
window slot: the slots leak and nothing else leaves that operator), or of 65,500 characters
(a frame above the aggregator's 64 KiB limit: the aggregator closes the link, the MO goes
back in the outbox and is sent again to every new bind, for ever) stopped every receipt and
MO of that operator. All in memory on the virtual clock (tests/support/memstack.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smsc.operators.profile import OperatorProfile
from smsc.operators.smsc import (
    MAX_LINK_LOSSES, MO_MAX_SEGMENTS, MO_TEXT_MAX_GSM, MO_TEXT_MAX_UCS2, MoRefused, _Kind, _PendingDeliverSm,
    mo_text_problem,
)
from smsc.pdu.codec import Pdu, Tag
from smsc.session import SessionConfig
from tests.support.memstack import Client, MemOperator, MemStack

UNSENDABLE = {
    "70000 ASCII": "x" * 70_000,             # above the 65,535 octets of a TLV
    "65500 ASCII": "x" * 65_500,             # a TLV, but a frame above 64 KiB
    "40000 Latin-1": "é" * 40_000,           # fits a frame, but 262 segments
    "20000 UCS-2": "€" * 20_000,             # 40,000 octets: 299 segments
    "lone surrogate": "STOP \ud800",         # no SMS alphabet can carry it
}


@pytest.mark.parametrize("text", UNSENDABLE.values(), ids=UNSENDABLE.keys())
def test_ten_unsendable_mos_leave_the_operator_working(tmp_path: Path, text: str) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    client = stack.client()
    sfr = stack.operator("sfr")
    binds = list(sfr.binds)
    refused = 0
    for _ in range(10):
        try:
            sfr.inject_mo("33612345678", "36180", text)
        except Exception as error:          # noqa: BLE001 - before: struct.error, UnicodeEncodeError
            refused += isinstance(error, ValueError)
        stack.run(5)
    sfr.inject_mo("33612345678", "36180", "STOP")
    submitted = client.submit("33612345678", b"hello")  # +33612345678: sfr, DELIVRD at once
    stack.run(5)
    assert submitted.called
    resp = stack.wait(submitted, "the submit")
    assert isinstance(resp, Pdu) and resp.command_status == 0

    assert [p["short_message"] for p in client.pdus() if p["esm_class"] == 0] == [b"STOP"]
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(resp["message_id"], "DELIVRD")]
    assert refused == 10                    # each refused with a ValueError (MoRefused) ...
    assert sfr.binds == binds               # ... and the operator's link never dropped
    assert all(c.session.window_available == c.session.config.window for c in sfr.binds)
    stack.stop()


def test_mo_limits_are_the_concatenation_limits() -> None:
    assert (MO_MAX_SEGMENTS, MO_TEXT_MAX_GSM, MO_TEXT_MAX_UCS2) == (255, 39_015, 17_085)


@pytest.mark.parametrize("text, coding", [("x" * MO_TEXT_MAX_GSM, 0), ("é" * MO_TEXT_MAX_GSM, 3),
                                          ("€" * MO_TEXT_MAX_UCS2, 8)])
def test_the_longest_mo_still_goes_in_message_payload(text: str, coding: int) -> None:
    op = Operator.open()
    op.smsc.inject_mo("+33612345678", "36180", text)
    op.run(1)
    (mo,) = op.delivered()
    assert mo["data_coding"] == coding and mo["short_message"] == b""
    payload = mo.tlv(Tag.message_payload)
    assert payload is not None and len(payload.value) == (2 * len(text) if coding == 8 else len(text))


@pytest.mark.parametrize("source, destination, text, argument", [
    ("33612345678", "1" * 100, "hi", "destination"),
    ("33612345678", "+" + "1" * 21, "hi", "destination"),
    ("33612345678", "36 180", "hi", "destination"),
    ("33612345678", "", "hi", "destination"),
    ("1" * 21, "36180", "hi", "source"),
    ("33612345678", "36180", "x" * (MO_TEXT_MAX_GSM + 1), "text"),
    ("33612345678", "36180", "€" * (MO_TEXT_MAX_UCS2 + 1), "text"),
    ("33612345678", "36180", "\udfff", "text"),
])
def test_inject_mo_refuses_what_can_never_be_sent(source: str, destination: str, text: str, argument: str) -> None:
    op = Operator.open()
    with pytest.raises(MoRefused) as refused:
        op.smsc.inject_mo(source, destination, text)
    assert refused.value.argument == argument and str(refused.value).startswith(f"{argument}: ")
    assert isinstance(refused.value, ValueError)
    op.smsc.inject_mo("33612345678", "36180", "STOP")
    op.run(1)
    assert [p["short_message"] for p in op.delivered()] == [b"STOP"]   # nothing of the refused one queued


# --- defence in depth: what gets into the outbox anyway ------------------------------------------

class Operator(MemOperator):
    """One OperatorSmsc (SFR) on the memory network, and its bound transceiver client `esme`."""

    esme: Client

    @classmethod
    def open(cls, max_pdu: int | None = None, client: SessionConfig = SessionConfig()) -> Operator:
        op = cls.start(profile=OperatorProfile("sfr", "SFR", system_id="aggregator", password="secret"),
                       max_pdu=max_pdu)
        op.esme = op.client(config=client)
        return op

    def delivered(self) -> list[Pdu]:
        """What the current client got since the last call."""
        return self.esme.take()


def test_a_receipt_above_the_peers_frame_limit_is_dropped_alone() -> None:
    op = Operator.open(max_pdu=150)                # a receipt is about 200 octets; a short MO about 60
    esme = op.esme
    resp = op.wait(esme.submit("33612345678", b"hello", source_addr="36180", source_addr_ton=3), "submit")
    assert isinstance(resp, Pdu) and resp.command_status == 0
    op.run(1)
    op.smsc.inject_mo("33612345678", "36180", "STOP")
    op.run(1)
    assert [p["short_message"] for p in op.delivered()] == [b"STOP"]
    assert (op.smsc.deliveries_dropped, op.smsc.receipts_sent, op.smsc.mo_sent) == (1, 0, 1)
    assert esme.conn is not None and esme.closed is None


def test_an_item_that_cannot_be_encoded_is_dropped_and_the_window_stays_whole() -> None:
    op = Operator.open()
    smsc = op.smsc
    bad = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "33612345678", "dest_addr_ton": 0,
           "dest_addr_npi": 0, "destination_addr": "1" * 100, "esm_class": 0, "data_coding": 0,
           "short_message": b"x"}
    for n in range(12):                     # more than the window: a leaked slot each would stop all
        smsc._outbox.append(_PendingDeliverSm("aggregator", _Kind.MO, f"bad{n}", bad))
    smsc.inject_mo("33612345678", "36180", "STOP")
    op.run(1)
    assert [p["short_message"] for p in op.delivered()] == [b"STOP"]
    assert smsc.deliveries_dropped == 12 and op.esme.closed is None
    op.run(60)                               # past any response timeout of a slot kept by the session
    assert all(c.session.window_available == c.session.config.window for c in smsc.binds)
    smsc.inject_mo("33612345678", "36180", "STOP again")
    op.run(1)
    assert [p["short_message"] for p in op.delivered()] == [b"STOP again"]


def test_a_checked_item_that_fails_in_the_session_is_dropped_and_the_outbox_goes_on() -> None:
    """A receipt is trusted to encode (it is built from bounded fields); if one fails anyway, in
    the session, it is dropped, and whether or not the session kept a window slot for it, the
    outbox flows again by the response timeout at the latest."""
    op = Operator.open()
    smsc = op.smsc
    bad = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "33612345678", "dest_addr_ton": 0,
           "dest_addr_npi": 0, "destination_addr": "1" * 100, "esm_class": 4, "data_coding": 0,
           "short_message": b"x"}
    for n in range(12):
        smsc._outbox.append(_PendingDeliverSm("aggregator", _Kind.RECEIPT, f"bug{n}", bad, checked=True))
    smsc.inject_mo("33612345678", "36180", "STOP")
    session = smsc.binds[0].session.config
    assert session.enquire_link_interval is not None
    op.run(session.enquire_link_interval + session.response_timeout + 2)   # the session's next timer
    assert smsc.deliveries_dropped == 12 and op.esme.closed is None
    assert [p["short_message"] for p in op.delivered()] == [b"STOP"]
    assert all(c.session.window_available == c.session.config.window for c in smsc.binds)


def test_a_deliver_sm_that_breaks_every_link_is_dropped_after_max_link_losses() -> None:
    # The peer frames at most 200 octets, less than this SMSC assumes: a 300-character MO makes
    # it close every link it arrives on.
    op = Operator.open(client=SessionConfig(max_pdu=200))
    op.smsc.inject_mo("33612345678", "36180", "y" * 300)
    for loss in range(MAX_LINK_LOSSES):
        op.run(1)
        assert op.esme.closed is not None, f"link {loss + 1} should have closed"
        assert op.delivered() == []
        op.esme = op.client(config=SessionConfig(max_pdu=200))
    op.run(1)
    assert op.smsc.deliveries_dropped == 1 and op.esme.closed is None
    op.smsc.inject_mo("33612345678", "36180", "STOP")
    op.run(1)
    assert [p["short_message"] for p in op.delivered()] == [b"STOP"]


def test_a_response_timeout_frees_the_slot_for_the_outbox_at_once() -> None:
    op = Operator.open()
    op.esme.close()
    op.run(1)
    mute = op.client(config=SessionConfig(enquire_link_interval=None),  # never answers a deliver_sm:
                     handler=Client(op.clock, answer_after=None))     # the SMSC's response timeout fires
    window = op.smsc.binds[0].session.config.window
    for n in range(window + 1):
        op.smsc.inject_mo("33612345678", "36180", f"MO {n}")
    op.run(1)
    assert len(mute.delivered) == window      # the last one waits for a slot
    op.run(op.smsc.binds[0].session.config.response_timeout)
    # Each timed-out one went back in the outbox, and the freed slots were used at once: the
    # one that waited, then nine of the ten again.
    assert len(mute.delivered) == 2 * window


def test_mo_text_problem_is_the_check_inject_mo_makes() -> None:
    """Pure, for a scenario loader to refuse at `check` what `run` could not send."""
    assert mo_text_problem("STOP") is None and mo_text_problem("") is None
    assert mo_text_problem("x" * MO_TEXT_MAX_GSM) is None and mo_text_problem("€" * MO_TEXT_MAX_UCS2) is None
    assert mo_text_problem("😀" * (MO_TEXT_MAX_UCS2 // 2)) is None       # two UTF-16 units each
    too_long = mo_text_problem("x" * (MO_TEXT_MAX_GSM + 1))
    assert too_long is not None and too_long.startswith("39016 characters take 256 SMS segments in GSM 7-bit")
    surrogate = mo_text_problem("ab\ud83d")
    assert surrogate is not None and surrogate.startswith("a lone surrogate (U+D83D) at character 2")
