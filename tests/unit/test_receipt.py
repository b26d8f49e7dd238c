"""Appendix B receipts: what we write reads back; other SMSCs' layouts read; the one-regex
reader of the usual layout answers exactly as the general reader, whatever the text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu.codec import Command, Tag, Tlv, make
from smsc.pdu.receipt import Receipt, _parse_any, parse_receipt, receipt_date


def deliver(text: str | bytes, tlvs: tuple[Tlv, ...] = ()) -> object:
    raw = text.encode("latin-1") if isinstance(text, str) else text
    return make(Command.deliver_sm, 1, esm_class=4, short_message=raw, tlvs=tlvs)


def test_what_we_write_reads_back() -> None:
    receipt = Receipt("0000002a", "UNDELIV", "001", "2612010900", "2612010901", text="Bonjour tout le mon")
    assert parse_receipt(deliver(receipt.render())) == receipt
    assert parse_receipt(deliver(receipt.render(), receipt.tlvs())) == receipt


def test_receipted_message_id_tlv_wins_over_the_text() -> None:
    text = "id:123 sub:001 dlvrd:001 submit date:2612010900 done date:2612010900 stat:DELIVRD err:000 text:x"
    parsed = parse_receipt(deliver(text, (Tlv.cstring(Tag.receipted_message_id, "abc"),)))
    assert parsed is not None and parsed.message_id == "abc" and parsed.stat == "DELIVRD"


def test_other_layouts_are_read_by_the_general_reader() -> None:
    text = "ID:77 STAT:delivrd Err:000 Text:a:b"           # other case, missing fields, ':' in text
    parsed = parse_receipt(deliver(text))
    assert parsed is not None
    assert (parsed.message_id, parsed.stat, parsed.err, parsed.text) == ("77", "DELIVRD", "000", "a:b")
    assert parse_receipt(deliver("stat:DELIVRD")) is None              # no id anywhere


def test_receipt_date_is_utc_minutes() -> None:
    assert receipt_date(0.0) == "7001010000"
    assert receipt_date(1_796_112_059.9) == receipt_date(1_796_112_000.0)


_value = st.text(alphabet="0123456789abcdefABCDEF: \t_-éx", max_size=12)
_stat = st.sampled_from(["DELIVRD", "delivrd", "UNDELIV", "EXPIRED", "REJECTD", "", "ACCEPTD", "x:y"])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(alphabet="idsubtextrr: 0123DELIV\n", max_size=80))
    r = Receipt(draw(_value), draw(_stat), draw(_value), draw(_value), draw(_value), draw(_value),
                draw(_value), draw(st.text(alphabet="ab :\nStat", max_size=20)))
    text = r.render()
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "x", " "])) + text + draw(st.sampled_from(["", " ", "err:1"]))
    return text


@settings(max_examples=500, deadline=None)
@given(_texts(), st.booleans())
def test_fast_reader_answers_as_the_general_reader(text: str, with_tlv: bool) -> None:
    tlvs = (Tlv.cstring(Tag.receipted_message_id, "tlv-id"),) if with_tlv else ()
    pdu = deliver(text, tlvs)
    assert parse_receipt(pdu) == _parse_any(pdu, text)
