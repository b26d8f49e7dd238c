"""Appendix B receipts: what we write reads back; other SMSCs' layouts read; the one-regex
reader of the usual layout answers exactly as the general reader, whatever the text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu.codec import HEADER, Command, Tag, Tlv, encode, make
from smsc.pdu.receipt import STAT_TO_STATE, Receipt, _parse_any, parse_receipt, receipt_date, receipt_deliver_sm


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


_addresses = st.one_of(st.text(alphabet="0123456789+", max_size=22), st.text(max_size=22),
                       st.sampled_from(["33612345678", "", "Bench", "x" * 20, "x" * 21]))


@settings(max_examples=400, deadline=None)
@given(message_id=st.one_of(st.from_regex(r"[0-9a-f]{1,20}", fullmatch=True), st.text(max_size=70)),
       stat=st.sampled_from(sorted(STAT_TO_STATE)), err=st.sampled_from(["000", "001", "027"]),
       dates=st.sampled_from([("2612010900", "2612010901"), ("", "")]), dlvrd=st.sampled_from(["001", "000"]),
       text=st.one_of(st.binary(max_size=20).map(lambda b: b.decode("latin-1")), st.text(max_size=300)),
       source=_addresses, source_ton=st.sampled_from([0, 1, 5, 255, 256]),
       destination=_addresses, dest_ton=st.sampled_from([0, 1, 2, 300]))
def test_the_receipt_template_is_the_general_encoder(message_id: str, stat: str, err: str, dates: tuple[str, str],
                                                    dlvrd: str, text: str, source: str, source_ton: int,
                                                    destination: str, dest_ton: int) -> None:
    """`receipt_deliver_sm` gives what Receipt, deliver_sm_params, make and encode give: the
    same parameters, TLVs and body bytes; or None, and then the general path is what decides."""
    receipt = Receipt(message_id, stat, err, dates[0], dates[1], dlvrd=dlvrd, text=text)
    prepared = receipt_deliver_sm(message_id, stat, err, dates[0], dates[1], dlvrd, text, receipt.state,
                                  source, source_ton, destination, dest_ton)
    if prepared is None:
        return
    params, tlvs, body = prepared
    general = make(Command.deliver_sm, 7, 0, receipt.tlvs(),
                   **receipt.deliver_sm_params(source, source_ton, destination, dest_ton))
    assert list(params.items()) == list(general.params.items())          # values and layout order
    assert tlvs == general.tlvs and all(type(tlv.tag) is int for tlv in tlvs)
    assert encode(general) == HEADER.pack(16 + len(body), Command.deliver_sm, 0, 7) + body


def test_the_receipt_template_covers_an_smsc_s_receipts() -> None:
    receipt = Receipt("0000000042", "DELIVRD", "000", "2612010900", "2612010900", text="bench message 01234")
    assert receipt_deliver_sm("0000000042", "DELIVRD", "000", "2612010900", "2612010900", "001",
                              "bench message 01234", receipt.state, "33612345678", 1, "Bench", 5) is not None
