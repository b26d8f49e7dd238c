"""Typed views of PDUs (smsc/pdu/views.py): they follow the codec's layouts, every PDU the
codec decodes has one that builds without raising, and pdu -> view -> pdu is the identity.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from smsc.pdu.codec import (
    C, I1, I4, LAYOUTS, SM, Command, DecodeFailed, DestAddress, Pdu, Tag, Tlv, UnsuccessSme, decode, encode,
    make, response_to,
)
from smsc.pdu.status import CommandStatus
from smsc.pdu.views import (
    _VIEWS, BIND_VIEWS, BindReceiver, BindTransceiver, BindTransceiverResp, DataSm, DeliverSm, QuerySmResp, SubmitMulti,
    SubmitSm, SubmitSmResp, View, submit_sm_fields, typed,
)
from tests.unit.test_codec_fast import TLVS, damaged_frames, latin1, raw_frames

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VIEWED = sorted(_VIEWS, key=int)
TYPE_OF_KIND = {C: "str", I1: "int", I4: "int", SM: "bytes", "dests": "tuple[DestAddress, ...]",
                "unsucc": "tuple[UnsuccessSme, ...]"}


def test_every_pdu_a_message_crosses_has_a_view() -> None:
    assert {Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver,
            Command.bind_transmitter_resp, Command.bind_receiver_resp, Command.bind_transceiver_resp,
            Command.submit_sm, Command.submit_sm_resp, Command.deliver_sm, Command.deliver_sm_resp,
            Command.query_sm, Command.query_sm_resp, Command.submit_multi, Command.submit_multi_resp,
            Command.data_sm} <= set(_VIEWS)
    assert set(BIND_VIEWS.values()) <= set(_VIEWS.values())


@pytest.mark.parametrize("command", VIEWED, ids=lambda c: c.name)
def test_view_fields_are_the_layout_with_real_types(command: Command) -> None:
    cls = _VIEWS[command]
    assert cls.COMMAND is command
    declared = [(f.name, f.type) for f in dataclasses.fields(cls)]
    layout = [(name, TYPE_OF_KIND[kind]) for name, kind, _ in LAYOUTS[command]]
    assert declared[:len(layout)] == layout
    assert declared[len(layout)] == ("tlvs", "tuple[Tlv, ...]")


@pytest.mark.parametrize("command", VIEWED, ids=lambda c: c.name)
def test_views_are_frozen_and_slotted(command: Command) -> None:
    view = _VIEWS[command]()
    assert not hasattr(view, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.tlvs = ()  # type: ignore[misc]  # what the test is about


# --- pdu -> view -> pdu ---------------------------------------------------------------------

@st.composite
def dest_addresses(draw: st.DrawFn) -> DestAddress:
    if draw(st.booleans()):
        return DestAddress(dl_name=draw(latin1(20)))
    return DestAddress(draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(latin1(20)))


def values(kind: str, size: int) -> st.SearchStrategy[Any]:
    if kind == C:
        return latin1(size - 1)
    if kind == I1:
        return st.integers(0, 255)
    if kind == I4:
        return st.integers(0, 0xFFFFFFFF)
    if kind == SM:
        return st.binary(max_size=size)
    if kind == "dests":
        return st.lists(dest_addresses(), max_size=4).map(tuple)
    assert kind == "unsucc"
    return st.lists(st.builds(UnsuccessSme, st.integers(0, 255), st.integers(0, 255), latin1(20),
                              st.integers(0, 0xFFFFFFFF)), max_size=4).map(tuple)


@st.composite
def viewed_wires(draw: st.DrawFn) -> bytes:
    """The bytes of a valid PDU of a command that has a view: any values within the layout's
    limits (some left to make()'s empty value), any TLVs, sometimes a body-less error resp."""
    command = draw(st.sampled_from(VIEWED))
    status = draw(st.sampled_from([0, 0, 0, 8, 0x58]))
    seq = draw(st.integers(0, 0xFFFFFFFF))
    tlvs = draw(TLVS)
    if status and command.is_response and draw(st.booleans()):
        # (without TLVs: after an omitted body, TLVs would be read as the body)
        return encode(response_to(make(Command(command & 0x7FFFFFFF), seq), status))
    params = {name: draw(values(kind, size)) for name, kind, size in LAYOUTS[command]
              if draw(st.integers(0, 9))}
    return encode(make(command, seq, status, tlvs, **params))


def check_view(pdu: Pdu) -> View:
    """The view builds, its values have their field's type, and it gives the Pdu back."""
    view = typed(pdu)
    assert view is not None and type(view) is _VIEWS[pdu.command]
    for (name, kind, _), field in zip(LAYOUTS[pdu.command], dataclasses.fields(view)):
        value = getattr(view, field.name)
        assert field.name == name
        assert type(value).__name__ == TYPE_OF_KIND[kind].split("[")[0]
    assert vars(View)["from_pdu"].__func__(type(view), pdu) == view    # the reference reads the same (rule 5)
    assert view.to_pdu(pdu.sequence_number, pdu.command_status) == pdu
    assert encode(view.to_pdu(pdu.sequence_number, pdu.command_status)) == encode(pdu)
    if isinstance(view, SubmitSm):          # the SMSC's one-call reader: the view's own values
        assert submit_sm_fields(pdu) == (view.source_addr_ton, view.source_addr_npi, view.source_addr,
                                         view.dest_addr_ton, view.destination_addr, view.validity_period,
                                         view.registered_delivery, view.short_message)
    return view


@SETTINGS
@given(viewed_wires())
def test_decoded_pdus_round_trip_through_their_view(wire: bytes) -> None:
    pdu = decode(wire)
    assert isinstance(pdu, Pdu)
    check_view(pdu)


@st.composite
def damaged_viewed_wires(draw: st.DrawFn) -> bytes:
    """The bytes of a PDU with a view, with a few octets of the body changed, some cut or
    added (command_length then says so or not)."""
    wire = bytearray(draw(viewed_wires()))
    for _ in range(draw(st.integers(0, 4))):
        if len(wire) > 16:
            wire[draw(st.integers(16, len(wire) - 1))] = draw(st.sampled_from([0, 1, 0x20, 0xFF]))
    how = draw(st.sampled_from(["as is", "cut", "append"]))
    if how == "cut":
        wire = wire[:draw(st.integers(16, len(wire)))]
    elif how == "append":
        wire += draw(st.binary(max_size=6))
    if draw(st.booleans()):
        wire[0:4] = struct.pack("!I", len(wire))
    return bytes(wire)


@SETTINGS
@given(st.one_of(damaged_viewed_wires(), damaged_frames(), raw_frames()))
def test_whatever_decodes_has_a_view_that_builds(frame: bytes) -> None:
    """Rule 2: peer bytes cut, mutated or at the limits of every field either fail to decode
    (DecodeFailed, answered by the session) or give a Pdu whose view builds without raising."""
    pdu = decode(frame)
    if isinstance(pdu, Pdu):
        if pdu.command in _VIEWS:
            check_view(pdu)
    else:
        assert isinstance(pdu, DecodeFailed)


def test_submit_sm_view_reads_typed_fields() -> None:
    payload = Tlv(Tag.message_payload, b"long text")
    pdu = decode(encode(make(Command.submit_sm, 7, 0, (payload, Tlv(0x1400, b"vendor")), source_addr="ACME",
                             source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1, destination_addr="33612345678",
                             registered_delivery=1, data_coding=8, validity_period="000001000000000R")))
    assert isinstance(pdu, Pdu)
    sm = SubmitSm.from_pdu(pdu)
    assert (sm.source_addr, sm.source_addr_ton, sm.destination_addr, sm.dest_addr_ton) == ("ACME", 5, "33612345678", 1)
    assert (sm.registered_delivery, sm.data_coding, sm.short_message) == (1, 8, b"")
    assert sm.validity_period == "000001000000000R"
    assert sm.tlv(Tag.message_payload) == payload and sm.tlv(Tag.receipted_message_id) is None
    assert sm.tlvs == pdu.tlvs


def test_a_view_is_built_for_its_own_command_only() -> None:
    with pytest.raises(TypeError):
        submit_sm_fields(make(Command.deliver_sm))
    deliver = make(Command.deliver_sm, 1)
    with pytest.raises(TypeError):
        SubmitSm.from_pdu(deliver)
    with pytest.raises(KeyError):                   # our own bug: a Pdu built by hand without a field
        SubmitSm.from_pdu(Pdu(Command.submit_sm, 1, 0, {"service_type": ""}))
    assert isinstance(typed(deliver), DeliverSm)
    assert typed(make(Command.enquire_link, 1)) is None
    assert isinstance(BIND_VIEWS[Command.bind_receiver].from_pdu(make(Command.bind_receiver, 1)), BindReceiver)


def test_body_less_error_response_round_trips() -> None:
    request = make(Command.bind_transceiver, 4, system_id="acme")
    assert isinstance(BindTransceiver.from_pdu(request), BindTransceiver)
    for pdu in (response_to(request, CommandStatus.ESME_RINVPASWD),
                response_to(make(Command.submit_sm, 4), CommandStatus.ESME_RTHROTTLED),
                response_to(make(Command.query_sm, 4), CommandStatus.ESME_RQUERYFAIL)):
        wire = encode(pdu)
        assert len(wire) == 16
        decoded = decode(wire)
        assert isinstance(decoded, Pdu)
        view = check_view(decoded)
        assert getattr(view, "body_omitted") is True
    with_body = decode(encode(response_to(make(Command.submit_sm, 4), CommandStatus.ESME_RTHROTTLED, message_id="")))
    assert isinstance(with_body, Pdu)
    assert check_view(with_body) == SubmitSmResp(message_id="", body_omitted=False)
    ok = decode(encode(response_to(request, system_id="smsc")))
    assert isinstance(ok, Pdu) and check_view(ok) == BindTransceiverResp(system_id="smsc")


def test_values_a_peer_gets_wrong_in_meaning_still_build() -> None:
    """What the codec reads is typed; whether it *means* anything is the reader's to judge
    (server: ESME_RINVEXPIRY for this validity_period; delivery: message_state 99 is UNKNOWN)."""
    sm = decode(encode(make(Command.submit_sm, 1, validity_period="not a time\xff", esm_class=0xFF,
                            data_coding=0xFF, dest_addr_ton=0xFF, destination_addr="\x01\xfe")))
    assert isinstance(sm, Pdu)
    view = SubmitSm.from_pdu(sm)
    assert (view.validity_period, view.esm_class, view.dest_addr_ton, view.destination_addr) == \
        ("not a time\xff", 0xFF, 0xFF, "\x01\xfe")
    resp = decode(encode(make(Command.query_sm_resp, 1, message_id="m", message_state=99, error_code=255)))
    assert isinstance(resp, Pdu)
    assert QuerySmResp.from_pdu(resp) == QuerySmResp(message_id="m", message_state=99, error_code=255)


def test_views_build_pdus() -> None:
    """The reverse direction: a view built by our code becomes the Pdu it stands for."""
    sm = SubmitSm(source_addr="ACME", dest_addr_ton=1, destination_addr="33612345678", short_message=b"hi")
    assert sm.to_pdu(9) == make(Command.submit_sm, 9, source_addr="ACME", dest_addr_ton=1,
                                destination_addr="33612345678", short_message=b"hi")
    multi = SubmitMulti(dest_addresses=(DestAddress(1, 1, "33612345678"), DestAddress(dl_name="friends")))
    assert decode(encode(multi.to_pdu(3))) == multi.to_pdu(3)
    with pytest.raises(ValueError):
        encode(SubmitSm(destination_addr="9" * 21).to_pdu(1))     # as encode(make(...)): our bug


def test_damaged_submit_sm_decodes_to_a_failure_not_a_view() -> None:
    wire = bytearray(encode(make(Command.submit_sm, 1, destination_addr="336")))
    del wire[-3:]
    wire[0:4] = struct.pack("!I", len(wire))
    assert isinstance(decode(bytes(wire)), DecodeFailed)


def test_a_data_sm_reads_as_the_deliver_sm_it_stands_for() -> None:
    other = Tlv(Tag.user_message_reference, b"\x00\x07")
    short = DataSm(source_addr="33612345678", destination_addr="36180", data_coding=8,
                   tlvs=(other, Tlv(Tag.message_payload, b"STOP")))
    assert short.as_deliver_sm() == DeliverSm(source_addr="33612345678", destination_addr="36180",
                                              data_coding=8, short_message=b"STOP", tlvs=(other,))
    long = DataSm(tlvs=(Tlv(Tag.message_payload, b"x" * 255),))         # past short_message: stays a TLV
    assert long.as_deliver_sm() == DeliverSm(tlvs=long.tlvs)
    assert DataSm().as_deliver_sm() == DeliverSm()
