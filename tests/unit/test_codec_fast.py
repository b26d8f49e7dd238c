"""The codec's fast path against its general path (property-based).

`decode` / `encode` take a specialised reader / writer for submit_sm, deliver_sm, their
responses and enquire_link(_resp); `_decode_general` / `_encode_general` (driven by LAYOUTS)
are the reference. For any frame both decoders must give the same Pdu (same params, in the same
order, with the same value types) or the same DecodeFailed; for any Pdu both encoders must give
the same bytes or raise the same exception. smpp.pdu stays the outside reference, as in
test_codec_oracle.py.
"""

from __future__ import annotations

import struct
from array import array
from types import MappingProxyType
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import smsc.pdu.codec as codec
from smsc.pdu.codec import (
    C, I1, LAYOUTS, SM, Command, DecodeFailed, Pdu, Tag, Tlv, _decode_general, _encode_general, decode,
    encode, make, response_to,
)
from smsc.pdu.status import CommandStatus
from tests.unit.test_codec_oracle import cstring, message_pdus, via_smpp_pdu

FAST = [Command.submit_sm, Command.deliver_sm, Command.submit_sm_resp, Command.deliver_sm_resp,
        Command.enquire_link, Command.enquire_link_resp]
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- helpers ---------------------------------------------------------------------------------

def assert_same_decoding(fast: Pdu | DecodeFailed, general: Pdu | DecodeFailed) -> None:
    """Equal, and equal in what == does not see: key order and value types."""
    assert type(fast) is type(general)
    assert fast == general
    if isinstance(fast, Pdu) and isinstance(general, Pdu):
        assert type(fast.command) is type(general.command)
        assert type(fast.params) is type(general.params)
        assert [(k, type(v), v) for k, v in fast.params.items()] == \
               [(k, type(v), v) for k, v in general.params.items()]
        assert type(fast.tlvs) is tuple
        assert [(type(t), t.tag, type(t.value), t.value) for t in fast.tlvs] == \
               [(type(t), t.tag, type(t.value), t.value) for t in general.tlvs]


def outcome(function: Callable[[Any], Any], argument: Any) -> tuple[Any, ...]:
    try:
        return ("ok", function(argument))
    except Exception as error:  # noqa: BLE001 - the exception itself is what we compare
        return ("raised", type(error), str(error))


def check_frame(frame: bytes) -> Pdu | DecodeFailed:
    fast = decode(frame)
    assert_same_decoding(fast, _decode_general(frame))
    return fast


def check_pdu(pdu: Pdu) -> tuple[Any, ...]:
    fast = outcome(encode, pdu)
    assert fast == outcome(_encode_general, pdu)
    return fast


def frame_of(command: int, body: bytes, status: int = 0, seq: int = 7, length: int | None = None) -> bytes:
    return struct.pack("!IIII", 16 + len(body) if length is None else length, command, status, seq) + body


# --- strategies ------------------------------------------------------------------------------

def latin1(max_len: int) -> st.SearchStrategy[str]:
    """Any C-string content that round-trips: latin-1 without NUL, biased to the limit."""
    text = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=max_len)
    return st.one_of(text, st.integers(0, max_len).map(lambda n: "9" * n))


TLVS = st.lists(st.builds(Tlv, st.one_of(st.integers(0, 0xFFFF), st.integers(0x1400, 0x3FFF),
                                         st.sampled_from(list(Tag))),
                          st.binary(max_size=40)), max_size=4).map(tuple)


@st.composite
def fast_pdus(draw: st.DrawFn, command: Command | None = None) -> Pdu:
    """A valid PDU of a fast-path command: any value within the field's limits, any TLVs."""
    if command is None:
        command = draw(st.sampled_from(FAST))
    params: dict[str, Any] = {}
    for name, kind, size in LAYOUTS[command]:
        if draw(st.integers(0, 9)) == 0:
            continue                                # left to make()'s empty value
        if kind == C:
            params[name] = draw(latin1(size - 1))
        elif kind == I1:
            params[name] = draw(st.integers(0, 255))
        else:
            assert kind == SM
            params[name] = draw(st.one_of(st.binary(max_size=254), st.just(bytes(254))))
    status = draw(st.sampled_from([0, 0, 0, 8, 0x58, 0xFFFFFFFF]))
    return make(command, draw(st.integers(0, 0xFFFFFFFF)), status, draw(TLVS), **params)


def odd_list(kind: str, size: int) -> list[Any]:
    """Values for a field of this kind, most of them at or past what the general path accepts."""
    if kind == C:
        return ["x" * (size - 1), "x" * size, "\xe9" * (size - 1), "\u20ac", "", "\x00",
                b"abc", bytearray(b"ab"), 5, None]
    if kind == I1:
        return [0, 255, 256, -1, 0x10FFFF, 0x110000, True, 1.0, b"\x01", "1", None]
    return [b"x" * 254, b"x" * 255, bytearray(254), bytearray(255), "text", 5, None, memoryview(b"ab"),
            [1, 2], memoryview(array("H", [1, 2]))]     # len() 2, but 4 octets


def odd_values(kind: str, size: int) -> st.SearchStrategy[Any]:
    # by index: sampled_from would try to hash the values, which a writable memoryview refuses
    return st.integers(0, len(odd_list(kind, size)) - 1).map(lambda i: odd_list(kind, size)[i])


@st.composite
def odd_pdus(draw: st.DrawFn) -> Pdu:
    """A PDU of a fast-path command built by hand: one field (sometimes more) missing or given
    an odd value, sometimes an unknown parameter or no parameters at all."""
    base = draw(fast_pdus())
    params = dict(base.params)
    fields = LAYOUTS[base.command]
    odd = [draw(st.sampled_from(fields)) for _ in range(3)] if fields else []
    for name, kind, size in odd[:draw(st.sampled_from([1, 1, 1, 3]))]:
        if draw(st.integers(0, 7)) == 0:
            params.pop(name, None)
        else:
            params[name] = draw(odd_values(kind, size))
    if draw(st.integers(0, 9)) == 0:
        params["not_a_field"] = 1
    if draw(st.integers(0, 9)) == 0:
        params = {}
    mapping = draw(st.sampled_from([MappingProxyType, dict]))(params)
    return Pdu(base.command, base.sequence_number, base.command_status, mapping, base.tlvs)


@st.composite
def raw_frames(draw: st.DrawFn) -> bytes:
    """A body written octet by octet from the layout, valid but for (mostly) one fault at a
    limit: a C-string one octet too long or without its NUL, sm_length off by one, a bad tail."""
    command = draw(st.sampled_from(FAST))
    layout = LAYOUTS[command]
    faulty = draw(st.integers(-1, len(layout) - 1))            # -1: no faulty field
    body = bytearray()
    for index, (_, kind, size) in enumerate(layout):
        fault = index == faulty
        if kind == C:
            if fault:
                length = draw(st.sampled_from([size, size + 1, size - 1]))
            else:
                length = draw(st.one_of(st.sampled_from([0, size - 1]), st.integers(0, size - 1)))
            body += draw(st.binary(min_size=length, max_size=length)).replace(b"\x00", b"a")
            if not (fault and draw(st.booleans())):
                body += b"\x00"
        elif kind == I1:
            body.append(draw(st.integers(0, 255)))
        else:
            length = draw(st.integers(0, 255))
            body.append(length)
            body += b"m" * max(0, length + (draw(st.sampled_from([-1, 1])) if fault else 0))
    body += draw(st.one_of(st.just(b""), TLVS.map(codec.write_tlvs),
                           st.sampled_from([b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00", b"\x01"]),
                           st.binary(max_size=6)))
    cut = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 3]))
    if cut:
        body = body[:-cut]
    status = draw(st.sampled_from([0, 0, 8]))
    return frame_of(command, bytes(body), status, 5, draw(st.sampled_from([None, None, None, None, 16, 20])))


@st.composite
def damaged_frames(draw: st.DrawFn) -> bytes:
    """Frames of a fast-path command_id: valid, mutated, cut, padded, lied about, or garbage."""
    wire = bytearray(encode(draw(fast_pdus())))
    how = draw(st.sampled_from(["valid", "mutate", "cut", "cut_keep_length", "append", "length", "garbage"]))
    if how == "mutate":
        for _ in range(draw(st.integers(1, 4))):
            if len(wire) > 16:
                at = draw(st.integers(16, len(wire) - 1))
                wire[at] = draw(st.one_of(st.sampled_from([0, 1, 0xFF, 0x10, 0x20]), st.integers(0, 255)))
    elif how in ("cut", "cut_keep_length"):
        wire = wire[:draw(st.integers(16, len(wire)))]
        if how == "cut":
            wire[0:4] = struct.pack("!I", len(wire))
    elif how == "append":
        wire += draw(st.one_of(st.binary(max_size=8), st.sampled_from([b"\x00", b"\x00\x00", b"\x00\x00\x00",
                                                                          b"\x00\x00\x00\x00"])))
        if draw(st.booleans()):
            wire[0:4] = struct.pack("!I", len(wire))
    elif how == "length":
        wire[0:4] = struct.pack("!I", draw(st.integers(0, len(wire) + 8)))
    elif how == "garbage":
        command = draw(st.sampled_from(FAST))
        body = draw(st.lists(st.one_of(st.just(0), st.integers(0, 255)), max_size=300).map(bytes))
        wire = bytearray(frame_of(command, body, draw(st.sampled_from([0, 8])), 3))
    return bytes(wire)


# --- (a) valid PDUs: same bytes, same decoding, smpp.pdu agrees -------------------------------

@SETTINGS
@given(fast_pdus())
def test_valid_pdus_encode_and_decode_like_the_general_path(pdu: Pdu) -> None:
    result = check_pdu(pdu)
    assert result[0] == "ok", result
    wire = result[1]
    assert struct.unpack("!I", wire[:4])[0] == len(wire)
    decoded = check_frame(wire)
    assert decoded == pdu
    assert check_pdu(decoded) == ("ok", wire)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([Command.submit_sm, Command.deliver_sm]).flatmap(message_pdus))
def test_message_pdus_match_smpp_pdu_on_the_fast_path(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert wire == _encode_general(pdu)
    assert via_smpp_pdu(wire) == wire
    assert_same_decoding(decode(wire), _decode_general(wire))
    assert decode(wire) == pdu


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 0x7FFFFFFF), cstring(64))
def test_responses_and_enquire_link_match_smpp_pdu_on_the_fast_path(seq: int, message_id: str) -> None:
    request = make(Command.submit_sm, seq)
    for pdu in (response_to(request, message_id=message_id), make(Command.deliver_sm_resp, seq),
                response_to(request, CommandStatus.ESME_RTHROTTLED),
                make(Command.enquire_link, seq), make(Command.enquire_link_resp, seq)):
        wire = encode(pdu)
        assert wire == _encode_general(pdu)
        assert via_smpp_pdu(wire) == wire, pdu.command.name
        assert_same_decoding(decode(wire), _decode_general(wire))
        assert decode(wire) == pdu


# --- (b) anything else: same result, errors included -----------------------------------------

@SETTINGS
@given(damaged_frames())
def test_damaged_frames_decode_like_the_general_path(frame: bytes) -> None:
    check_frame(frame)


@SETTINGS
@given(raw_frames())
def test_frames_at_the_limits_decode_like_the_general_path(frame: bytes) -> None:
    check_frame(frame)


@SETTINGS
@given(odd_pdus())
def test_odd_pdus_encode_like_the_general_path(pdu: Pdu) -> None:
    check_pdu(pdu)


def reference_make(command: Command, sequence_number: int = 0, command_status: int = 0,
                   tlvs: tuple[Tlv, ...] = (), **params: Any) -> Pdu:
    """make() as it was before the fast path: the layout walked field by field."""
    full = {}
    for name, kind, _ in LAYOUTS[command]:
        full[name] = params.pop(name) if name in params else codec._EMPTY_VALUE[kind]
    if params:
        raise TypeError(f"{command.name} has no parameter(s) {sorted(params)}")
    return Pdu(command, sequence_number, int(command_status), MappingProxyType(full), tlvs)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Command)), st.data())
def test_make_matches_the_layout_walk(command: Command, data: st.DataObject) -> None:
    names = [name for name, _, _ in LAYOUTS[command]] + ["bogus", "zzz", "aaa"]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
    params = {name: data.draw(st.one_of(st.integers(0, 255), st.text(max_size=3))) for name in chosen}
    status = data.draw(st.sampled_from([0, 8, CommandStatus.ESME_RTHROTTLED]))
    new, old = outcome(lambda p: make(command, 5, status, (), **p), dict(params)), \
        outcome(lambda p: reference_make(command, 5, status, (), **p), dict(params))
    assert new == old
    if new[0] == "ok":
        assert list(new[1].params.items()) == list(old[1].params.items())
        assert type(new[1].command_status) is int


def test_response_to_matches_command_response() -> None:
    for command in Command:
        request = make(command, 9)
        try:
            expected = command.response
        except ValueError:
            with pytest.raises(ValueError):
                response_to(request)
            continue
        assert response_to(request) == make(expected, 9)
        if expected in codec._BODY_OPTIONAL_ON_ERROR:
            assert response_to(request, 8) == Pdu(expected, 9, 8)
        else:
            assert response_to(request, 8) == make(expected, 9, 8)


# --- (c) edge cases, by hand ------------------------------------------------------------------

def _submit_wire(**extra: Any) -> bytes:
    return encode(make(Command.submit_sm, 7, source_addr_ton=5, source_addr="MyShop", dest_addr_ton=1,
                       dest_addr_npi=1, destination_addr="33612345678", registered_delivery=1,
                       short_message=b"Promo", **extra))


@pytest.mark.parametrize("padding", [b"\x00", b"\x00\x00", b"\x00\x00\x00"])
def test_nul_padding_after_the_last_field_is_tolerated(padding: bytes) -> None:
    wire = _submit_wire() + padding
    frame = struct.pack("!I", len(wire)) + wire[4:]
    pdu = check_frame(frame)
    assert isinstance(pdu, Pdu) and pdu["short_message"] == b"Promo" and pdu.tlvs == ()


def test_non_nul_stray_octets_are_rinvoptparstream() -> None:
    wire = _submit_wire() + b"\x00\x01"
    failed = check_frame(struct.pack("!I", len(wire)) + wire[4:])
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVOPTPARSTREAM


def test_sm_length_running_past_the_end() -> None:
    wire = bytearray(_submit_wire())
    wire[len(wire) - len(b"Promo") - 1] = 6
    failed = check_frame(bytes(wire))
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVMSGLEN
    assert failed.reason == "submit_sm: sm_length 6 runs past the end of the PDU"


@pytest.mark.parametrize("cut", range(17, 60))
def test_every_cut_of_a_submit_sm(cut: int) -> None:
    wire = _submit_wire()[:cut]
    check_frame(struct.pack("!I", len(wire)) + wire[4:])     # C-string without NUL, I1 missing, ...
    check_frame(wire)                                          # command_length still says more


def test_c_string_without_nul() -> None:
    body = b"\x00\x05\x00MyShop"                               # source_addr never ends
    failed = check_frame(frame_of(Command.submit_sm, body))
    assert failed == DecodeFailed(Command.submit_sm, 7, CommandStatus.ESME_RINVCMDLEN,
                                  "submit_sm: source_addr runs past the end of the PDU")
    failed = check_frame(frame_of(Command.submit_sm_resp, b"0000000000000042"))
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVCMDLEN


def test_fields_one_octet_too_long() -> None:
    too_long = check_frame(frame_of(Command.submit_sm, b"CMTxyz\x00"))
    assert too_long.status == CommandStatus.ESME_RINVSERTYP  # type: ignore[union-attr]
    too_long = check_frame(frame_of(Command.submit_sm_resp, b"9" * 65 + b"\x00"))
    assert too_long.status == CommandStatus.ESME_RINVMSGID  # type: ignore[union-attr]
    assert isinstance(check_frame(frame_of(Command.submit_sm_resp, b"9" * 64 + b"\x00")), Pdu)


def test_error_response_with_empty_body() -> None:
    pdu = check_frame(frame_of(Command.submit_sm_resp, b"", status=CommandStatus.ESME_RTHROTTLED))
    assert pdu == Pdu(Command.submit_sm_resp, 7, CommandStatus.ESME_RTHROTTLED)
    wire = frame_of(Command.submit_sm_resp, b"", status=CommandStatus.ESME_RTHROTTLED)
    assert check_pdu(pdu) == ("ok", wire)
    # deliver_sm_resp is not in _BODY_OPTIONAL_ON_ERROR, and no response may omit it with status 0
    assert isinstance(check_frame(frame_of(Command.deliver_sm_resp, b"", status=8)), DecodeFailed)
    assert isinstance(check_frame(frame_of(Command.submit_sm_resp, b"", status=0)), DecodeFailed)


def test_enquire_link_with_tlvs_or_short_length() -> None:
    pdu = check_frame(frame_of(Command.enquire_link, b"\x14\x01\x00\x01\x07"))
    assert isinstance(pdu, Pdu) and pdu.tlvs == (Tlv(0x1401, b"\x07"),)
    assert isinstance(check_frame(frame_of(Command.enquire_link, b"", length=8)), Pdu)


def test_short_frames_raise_the_same() -> None:
    assert outcome(decode, b"\x00" * 15) == outcome(_decode_general, b"\x00" * 15)


@example(b"")
@given(st.binary(max_size=8))
def test_header_only_frames(tail: bytes) -> None:
    for command in FAST:
        check_frame(frame_of(command, tail))


def test_typical_pdus_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard against a fast path that silently always falls back."""
    def refuse(_: Any) -> Any:
        raise AssertionError("general path used")
    receipt = make(Command.deliver_sm, 3, esm_class=4, short_message=b"id:1 stat:DELIVRD",
                   tlvs=(Tlv.cstring(Tag.receipted_message_id, "1"), Tlv.int1(Tag.message_state, 2)))
    pdus = [make(Command.submit_sm, 1, source_addr="MyShop", short_message=b"Promo"), receipt,
            make(Command.submit_sm_resp, 1, message_id="0000000000000042"),
            Pdu(Command.submit_sm_resp, 1, CommandStatus.ESME_RTHROTTLED),
            make(Command.deliver_sm_resp, 3), make(Command.enquire_link, 4),
            make(Command.enquire_link_resp, 4)]
    wires = [_encode_general(pdu) for pdu in pdus]
    monkeypatch.setattr(codec, "_decode_general", refuse)
    monkeypatch.setattr(codec, "_encode_general", refuse)
    for pdu, wire in zip(pdus, wires):
        assert encode(pdu) == wire
        assert decode(wire) == pdu


# --- every field at its limit, exhaustively ---------------------------------------------------

def _good_chunk(kind: str, size: int) -> bytes:
    if kind == C:
        return b"a" * (size - 1) + b"\x00"
    if kind == I1:
        return b"\x01"
    return b"\x03mmm"


def _bad_chunks(kind: str, size: int) -> list[bytes]:
    if kind == C:
        return [b"a" * size + b"\x00", b"a" * (size + 1) + b"\x00", b"a" * (size - 1), b"\x00", b""]
    if kind == I1:
        return [b"", b"\x00", b"\xff"]
    return [b"\x03mm", b"\x03mmmm", b"\x00", b"\xffmmm", b""]


@pytest.mark.parametrize("command", FAST)
def test_each_field_at_and_past_its_limit_decodes_like_the_general_path(command: Command) -> None:
    layout = LAYOUTS[command]
    good = [_good_chunk(kind, size) for _, kind, size in layout]
    tails = [b"", b"\x00", b"\x00\x00\x00\x00", b"\x01", codec.write_tlvs((Tlv(0x1401, b"v"),))]
    assert isinstance(check_frame(frame_of(command, b"".join(good))), Pdu)
    for index, (_, kind, size) in enumerate(layout):
        for bad in _bad_chunks(kind, size):
            for tail in tails:
                check_frame(frame_of(command, b"".join(good[:index] + [bad] + good[index + 1:]) + tail))


@pytest.mark.parametrize("command", FAST)
def test_each_parameter_with_an_odd_value_encodes_like_the_general_path(command: Command) -> None:
    valid = make(command, 3, **{name: ("a" * (size - 1) if kind == C else 1 if kind == I1 else b"mmm")
                                for name, kind, size in LAYOUTS[command]})
    assert check_pdu(valid)[0] == "ok"
    for name, kind, size in LAYOUTS[command]:
        for value in odd_list(kind, size):
            params = dict(valid.params)
            params[name] = value
            check_pdu(Pdu(command, 3, 0, MappingProxyType(params)))
            check_pdu(Pdu(command, 3, 0, MappingProxyType(params), (Tlv(0x1401, b"v"),)))
        params = dict(valid.params)
        del params[name]
        check_pdu(Pdu(command, 3, 0, MappingProxyType(params)))
        check_pdu(Pdu(command, 3, 8, MappingProxyType(params)))


@SETTINGS
@given(st.sampled_from(sorted(codec.MESSAGE_ID_RESPONSE)), st.integers(1, 0x7FFFFFFF),
       st.sampled_from([0, 0x08, 0x58]), st.text(max_size=70))
def test_message_id_responses_from_the_header_are_what_encode_gives(request_command: Command, seq: int,
                                                                    status: int, message_id: str) -> None:
    """The session's direct answer to submit_sm / deliver_sm / data_sm is the bytes of the
    general path, or None where that path has a value to judge (too long, not latin-1)."""
    fast = codec.encode_message_id_response(codec.MESSAGE_ID_RESPONSE[request_command], seq, status, message_id)
    try:
        general: bytes | None = encode(response_to(make(request_command, seq), status, message_id=message_id))
    except ValueError:
        general = None
    if fast is None:
        assert len(message_id) > 64 or not all(ord(c) < 256 for c in message_id)
    else:
        assert fast == general
