"""The codec: round trips, raw TLVs kept, malformed bodies become DecodeFailed with the spec's status."""

import struct

from smsc.pdu.codec import (
    Command, DecodeFailed, DestAddress, Pdu, Tag, Tlv, UnsuccessSme, decode, encode, make, response_to,
)
from smsc.pdu.status import CommandStatus


def _submit(**extra: object) -> Pdu:
    return make(Command.submit_sm, 7, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                destination_addr="33612345678", registered_delivery=1, esm_class=3, short_message=b"Bonjour",
                **extra)  # type: ignore[arg-type]


def test_submit_sm_round_trip() -> None:
    pdu = _submit()
    wire = encode(pdu)
    assert struct.unpack("!I", wire[:4])[0] == len(wire)
    assert decode(wire) == pdu


def test_vendor_and_unknown_tlvs_are_kept_raw_in_order() -> None:
    tlvs = (Tlv(0x1401, b"\x01\x02"), Tlv(Tag.user_message_reference, b"\x00\x07"), Tlv(0x3FFF, b""),
            Tlv(0x00F0, b"odd"))
    pdu = _submit(tlvs=tlvs)
    decoded = decode(encode(pdu))
    assert isinstance(decoded, Pdu) and decoded.tlvs == tlvs
    assert encode(decoded) == encode(pdu)
    assert decoded.tlv(0x1401) == Tlv(0x1401, b"\x01\x02")


def test_unknown_command_id_is_rinvcmdid_with_its_sequence() -> None:
    frame = struct.pack("!IIII", 16, 0x00000099, 0, 4242)
    failed = decode(frame)
    assert failed == DecodeFailed(0x99, 4242, CommandStatus.ESME_RINVCMDID, "unknown command_id 0x00000099")


def test_truncated_body_is_rinvcmdlen() -> None:
    wire = encode(_submit())
    cut = wire[:30]
    frame = struct.pack("!I", len(cut)) + cut[4:]
    failed = decode(frame)
    assert isinstance(failed, DecodeFailed)
    assert failed.status == CommandStatus.ESME_RINVCMDLEN and failed.sequence_number == 7


def test_overlong_source_addr_gets_its_field_status() -> None:
    body = b"\x00" + b"\x05\x00" + b"A" * 30 + b"\x00"
    frame = struct.pack("!IIII", 16 + len(body), Command.submit_sm, 0, 3) + body
    failed = decode(frame)
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVSRCADR


def test_sm_length_past_the_end_is_rinvmsglen() -> None:
    wire = bytearray(encode(_submit()))
    sm_length_at = len(wire) - len(b"Bonjour") - 1
    wire[sm_length_at] = 200
    failed = decode(bytes(wire))
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVMSGLEN


def test_tlv_running_past_the_end_is_rinvoptparstream() -> None:
    wire = encode(_submit()) + struct.pack("!HH", 0x1400, 10) + b"abc"
    frame = struct.pack("!I", len(wire)) + wire[4:]
    failed = decode(frame)
    assert isinstance(failed, DecodeFailed) and failed.status == CommandStatus.ESME_RINVOPTPARSTREAM


def test_error_response_without_body() -> None:
    request = _submit()
    resp = response_to(request, CommandStatus.ESME_RTHROTTLED)
    assert len(encode(resp)) == 16
    assert decode(encode(resp)) == resp
    ok = response_to(request, message_id="abc")
    assert decode(encode(ok))["message_id"] == "abc"  # type: ignore[index]


def test_submit_multi_round_trip() -> None:
    dests = (DestAddress(1, 1, "33612345678"), DestAddress(dl_name="friends"))
    pdu = make(Command.submit_multi, 9, source_addr="ACME", dest_addresses=dests, short_message=b"hi")
    assert decode(encode(pdu)) == pdu
    resp = make(Command.submit_multi_resp, 9, message_id="m1",
                unsuccess_smes=(UnsuccessSme(1, 1, "33699990001", CommandStatus.ESME_RINVDSTADR),))
    assert decode(encode(resp)) == resp


def test_every_command_round_trips_with_defaults() -> None:
    for command in Command:
        pdu = make(command, 1)
        assert decode(encode(pdu)) == pdu, command.name
