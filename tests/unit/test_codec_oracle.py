"""Our codec against smpp.pdu, the reference (property-based).

For every PDU smpp.pdu can handle, the bytes we write must be read by smpp.pdu and written
back by it unchanged, and reading them back with our codec must give the PDU we started from.
"""

from io import BytesIO

from hypothesis import given, settings, strategies as st
from smpp.pdu import constants
from smpp.pdu.pdu_encoding import PDUEncoder

from smsc.pdu.codec import Command, Pdu, Tag, Tlv, decode, encode, make, response_to
from smsc.pdu.status import CommandStatus


def cstring(max_len: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=max_len)


TONS = st.sampled_from([0, 1, 2, 3, 4, 5, 6])
NPIS = st.sampled_from([0, 1, 3, 4, 6, 8, 9, 10, 14, 18])
ESM_CLASSES = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x40, 0x43])
REGISTERED = st.sampled_from([0x00, 0x01, 0x02, 0x10, 0x11])
CODINGS = st.sampled_from([0x00, 0x03, 0x04, 0x08])


@st.composite
def message_pdus(draw: st.DrawFn, command: Command) -> Pdu:
    tlvs: tuple[Tlv, ...] = ()
    if command is Command.deliver_sm and draw(st.booleans()):
        # smpp.pdu writes TLVs in its own fixed order; this is that order.
        tlvs = (Tlv.int1(Tag.message_state, 2), Tlv.cstring(Tag.receipted_message_id, draw(cstring(20))))
    return make(command, draw(st.integers(1, 0x7FFFFFFF)), tlvs=tlvs,
                service_type=draw(cstring(5)), source_addr_ton=draw(TONS), source_addr_npi=draw(NPIS),
                source_addr=draw(cstring(20)), dest_addr_ton=draw(TONS), dest_addr_npi=draw(NPIS),
                destination_addr=draw(cstring(20)), esm_class=draw(ESM_CLASSES),
                priority_flag=draw(st.integers(0, 3)), registered_delivery=draw(REGISTERED),
                replace_if_present_flag=draw(st.integers(0, 1)), data_coding=draw(CODINGS),
                short_message=draw(st.binary(max_size=254)))


def via_smpp_pdu(wire: bytes) -> bytes:
    encoder = PDUEncoder()
    return encoder.encode(encoder.decode(BytesIO(wire)))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([Command.submit_sm, Command.deliver_sm]).flatmap(message_pdus))
def test_message_pdus_match_smpp_pdu(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert via_smpp_pdu(wire) == wire
    assert decode(wire) == pdu


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver]),
       cstring(15), cstring(8), cstring(12), st.integers(1, 0x7FFFFFFF))
def test_binds_match_smpp_pdu(command: Command, system_id: str, password: str, system_type: str, seq: int) -> None:
    pdu = make(command, seq, system_id=system_id, password=password, system_type=system_type,
               interface_version=0x34)
    wire = encode(pdu)
    assert via_smpp_pdu(wire) == wire
    resp = encode(response_to(pdu, system_id="smsc"))
    assert via_smpp_pdu(resp) == resp
    refused = encode(response_to(pdu, CommandStatus.ESME_RINVPASWD))
    assert via_smpp_pdu(refused) == refused


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 0x7FFFFFFF), cstring(64))
def test_responses_and_empty_pdus_match_smpp_pdu(seq: int, message_id: str) -> None:
    for pdu in (make(Command.submit_sm_resp, seq, message_id=message_id), make(Command.deliver_sm_resp, seq),
                make(Command.enquire_link, seq), make(Command.enquire_link_resp, seq), make(Command.unbind, seq),
                make(Command.unbind_resp, seq), make(Command.generic_nack, seq, CommandStatus.ESME_RINVCMDID),
                make(Command.query_sm, seq, message_id=message_id[:20], source_addr="ACME")):
        wire = encode(pdu)
        assert via_smpp_pdu(wire) == wire, pdu.command.name
        assert decode(wire) == pdu


def test_status_table_matches_smpp_pdu() -> None:
    reference = {v["name"]: k for k, v in constants.command_status_value_map.items()
                 if isinstance(k, int) and 0 <= k < 0x100}
    assert {s.name: s.value for s in CommandStatus if s.value < 0x400} == reference


def test_our_statuses_are_in_the_vendor_range() -> None:
    """The harness's own statuses (the rules' refusals) stay in §5.1.3's 0x0400-0x04FF."""
    ours = [s for s in CommandStatus if s.value >= 0x100]
    assert ours and all(0x400 <= s.value <= 0x4FF and s.name.startswith("RULE_") for s in ours)


def test_command_table_matches_smpp_pdu() -> None:
    assert {c.name: c.value for c in Command} == constants.command_id_name_map
