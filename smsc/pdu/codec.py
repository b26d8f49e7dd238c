"""SMPP 3.4 PDUs as plain values, and the byte codec for them.

Rules of this module:

1. A `Pdu` is an immutable value: command, sequence number, status, mandatory parameters by
   their spec names (§4), and *every* optional parameter (TLV) kept raw, in wire order.
2. `decode()` never raises on peer input. A frame it cannot read becomes a `DecodeFailed`
   value carrying the command_status the spec prescribes (§2.7, §5.3), so the session can
   answer it and carry on.
3. `encode(decode(frame))` gives back `frame` for every well-formed frame: nothing is dropped,
   nothing normalised. TLVs we do not know (the vendor range 0x1400-0x3FFF included) are kept
   and forwarded, never refused.

Why a table-driven codec of our own instead of calling `smpp.pdu`'s `PDUEncoder` per PDU:
`smpp.pdu` 0.6 drops vendor TLVs silently and refuses known TLVs outside its per-PDU lists
(ESME_ROPTPARNOTALLWD), raises on esm_class / TON / NPI values it has no name for, cannot
encode submit_multi (number_of_dests and dest_address have no encoder) and lists a
non-existent `sm_length` field for replace_sm. It also reads C-strings byte by byte, which
costs more than the rest of the hot path together. So the wire layout here is written from
the spec (§4), and `smpp.pdu` stays the reference: `tests/unit/test_codec_oracle.py` checks
with property-based tests that this codec and `smpp.pdu` produce and read the same bytes for
every PDU `smpp.pdu` handles, and `smsc/pdu/status.py` is checked against its status table.

`decode` and `encode` first try a fast path written out by hand for the PDUs a replay moves by
the million (submit_sm, deliver_sm, their responses, enquire_link); `_decode_general` and
`_encode_general`, driven by LAYOUTS, handle everything else and stay the reference the fast
path is tested against (`tests/unit/test_codec_fast.py`). See "fast path" below.

`params` is the codec's own, untyped shape (a Mapping of `Value`). Code that decides on a
body reads it through the typed views of `smsc/pdu/views.py` (`SubmitSm.from_pdu(pdu)`),
not `pdu["name"]` and a cast.
"""

from __future__ import annotations

import enum
import operator
import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Final, Mapping, TypeVar, Union

from smsc.pdu.status import CommandStatus

HEADER = struct.Struct("!IIII")
HEADER_LEN: Final = 16
MAX_SEQUENCE: Final = 0x7FFFFFFF


class Command(enum.IntEnum):
    """command_id values (SMPP 3.4 §5.1.2.1)."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103

    @property
    def is_response(self) -> bool:
        return bool(self & 0x80000000)

    @property
    def response(self) -> Command:
        """The *_resp command answering this request."""
        return Command(self | 0x80000000)


class Tag(enum.IntEnum):
    """Optional parameter tags this project reads or writes by name (SMPP 3.4 §5.3.2).
    Any other tag is still carried, as a raw `Tlv`."""

    user_message_reference = 0x0204
    source_port = 0x020A
    destination_port = 0x020B
    sar_msg_ref_num = 0x020C
    sar_total_segments = 0x020E
    sar_segment_seqnum = 0x020F
    sc_interface_version = 0x0210
    payload_type = 0x0019
    additional_status_info_text = 0x001D
    receipted_message_id = 0x001E
    network_error_code = 0x0423
    message_payload = 0x0424
    delivery_failure_reason = 0x0425
    more_messages_to_send = 0x0426
    message_state = 0x0427


class SmppMessageState(enum.IntEnum):
    """message_state values (SMPP 3.4 §5.2.28), used in query_sm_resp and receipts; the
    aggregator's own stored states are `aggregator.store.MessageState`."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class Ton(enum.IntEnum):
    """Type of number: addr_ton, source_addr_ton, dest_addr_ton (SMPP 3.4 §5.2.5)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


def npi_for(ton: int) -> int:
    """The numbering plan we send with a TON (§5.2.6): ISDN/E.164 (1) for an international
    number, unknown (0) for any other."""
    return 1 if ton == Ton.INTERNATIONAL else 0


# --- values -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter, exactly as on the wire."""

    tag: int
    value: bytes

    @classmethod
    def cstring(cls, tag: int, text: str) -> Tlv:
        return cls(tag, text.encode("latin-1") + b"\x00")

    @classmethod
    def int1(cls, tag: int, number: int) -> Tlv:
        return cls(tag, bytes((number,)))

    def as_int(self) -> int:
        return int.from_bytes(self.value, "big")

    def as_str(self) -> str:
        return self.value.rstrip(b"\x00").decode("latin-1")


@dataclass(frozen=True, slots=True)
class DestAddress:
    """One entry of submit_multi's dest_address list (§4.5.1.1): an SME address or a list name."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    dl_name: str | None = None          # set for dest_flag 2 (distribution list)


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One entry of submit_multi_resp's unsuccess_sme list (§4.5.2.1)."""

    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    error_status_code: int


Value = Union[int, str, bytes, tuple[DestAddress, ...], tuple[UnsuccessSme, ...]]
_EMPTY: Mapping[str, Value] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Pdu:
    """An SMPP PDU. `params` holds the mandatory parameters by spec name: integers as int,
    C-octet strings as str (latin-1, so any byte survives), short_message as bytes."""

    command: Command
    sequence_number: int
    command_status: int = 0
    params: Mapping[str, Value] = field(default_factory=lambda: _EMPTY)
    tlvs: tuple[Tlv, ...] = ()

    def __getitem__(self, name: str) -> Value:
        return self.params[name]

    def get(self, name: str, default: Value | None = None) -> Value | None:
        return self.params.get(name, default)

    def tlv(self, tag: int) -> Tlv | None:
        for tlv in self.tlvs:
            if tlv.tag == tag:
                return tlv
        return None

    @property
    def status(self) -> CommandStatus | int:
        try:
            return CommandStatus(self.command_status)
        except ValueError:
            return self.command_status


@dataclass(frozen=True, slots=True)
class DecodeFailed:
    """A frame that could not be read. `command` is None when the command_id is unknown."""

    command_id: int
    sequence_number: int
    status: CommandStatus
    reason: str

    @property
    def command(self) -> Command | None:
        try:
            return Command(self.command_id)
        except ValueError:
            return None


def make(command: Command, sequence_number: int = 0, command_status: int = 0,
         tlvs: tuple[Tlv, ...] = (), **params: Value) -> Pdu:
    """Build a PDU, filling mandatory parameters not given with their empty value."""
    # _DEFAULTS[command] lists the layout's names in order with their empty values; merging
    # `params` into a copy keeps that order and adds any unknown name at the end.
    defaults = _DEFAULTS[command]
    full = {**defaults, **params}
    if len(full) != len(defaults):
        raise TypeError(f"{command.name} has no parameter(s) {sorted(params.keys() - defaults.keys())}")
    return _new_pdu(command, sequence_number, int(command_status), MappingProxyType(full), tlvs)


# Pdu and Tlv are frozen dataclasses: their generated __init__ goes through
# object.__setattr__ once per field, which is a visible share of decoding a short PDU.
# These build the very same objects by setting the slots directly (no __post_init__ to miss).
_PDU_SET = tuple(Pdu.__dict__[f].__set__ for f in ("command", "sequence_number", "command_status",
                                                    "params", "tlvs"))
_TLV_SET = tuple(Tlv.__dict__[f].__set__ for f in ("tag", "value"))


def _new_pdu(command: Command, sequence_number: int, command_status: int,
             params: Mapping[str, Value], tlvs: tuple[Tlv, ...],
             _new=object.__new__, _set=_PDU_SET) -> Pdu:
    """Pdu(command, sequence_number, command_status, params, tlvs), cheaper."""
    pdu = _new(Pdu)
    _set[0](pdu, command)
    _set[1](pdu, sequence_number)
    _set[2](pdu, command_status)
    _set[3](pdu, params)
    _set[4](pdu, tlvs)
    return pdu


def _new_tlv(tag: int, value: bytes, _new=object.__new__, _set=_TLV_SET) -> Tlv:
    """Tlv(tag, value), cheaper."""
    tlv = _new(Tlv)
    _set[0](tlv, tag)
    _set[1](tlv, value)
    return tlv


# --- layouts (SMPP 3.4 §4) ------------------------------------------------------------------
# Each field: (name, kind, size). Kinds: "c" C-octet string of at most `size` bytes with its
# NUL; "1"/"4" integers; "sm" sm_length + short_message; "dests"/"unsucc" submit_multi lists.

C, I1, I4, SM = "c", "1", "4", "sm"
_EMPTY_VALUE: dict[str, Value] = {C: "", I1: 0, I4: 0, SM: b"", "dests": (), "unsucc": ()}

_BIND = (("system_id", C, 16), ("password", C, 9), ("system_type", C, 13),
         ("interface_version", I1, 0), ("addr_ton", I1, 0), ("addr_npi", I1, 0),
         ("address_range", C, 41))
SHORT_MESSAGE_MAX: Final = 254   # octets of short_message (§4.4.1); a longer text goes in message_payload
_SOURCE = (("source_addr_ton", I1, 0), ("source_addr_npi", I1, 0), ("source_addr", C, 21))
_DEST = (("dest_addr_ton", I1, 0), ("dest_addr_npi", I1, 0), ("destination_addr", C, 21))
_SM_TAIL = (("esm_class", I1, 0), ("protocol_id", I1, 0), ("priority_flag", I1, 0),
            ("schedule_delivery_time", C, 17), ("validity_period", C, 17),
            ("registered_delivery", I1, 0), ("replace_if_present_flag", I1, 0),
            ("data_coding", I1, 0), ("sm_default_msg_id", I1, 0), ("short_message", SM, SHORT_MESSAGE_MAX))
_SUBMIT = (("service_type", C, 6),) + _SOURCE + _DEST + _SM_TAIL
_MESSAGE_ID = (("message_id", C, 65),)

LAYOUTS: dict[Command, tuple[tuple[str, str, int], ...]] = {
    Command.generic_nack: (),
    Command.bind_receiver: _BIND,
    Command.bind_transmitter: _BIND,
    Command.bind_transceiver: _BIND,
    Command.bind_receiver_resp: (("system_id", C, 16),),
    Command.bind_transmitter_resp: (("system_id", C, 16),),
    Command.bind_transceiver_resp: (("system_id", C, 16),),
    Command.outbind: (("system_id", C, 16), ("password", C, 9)),
    Command.unbind: (),
    Command.unbind_resp: (),
    Command.enquire_link: (),
    Command.enquire_link_resp: (),
    Command.submit_sm: _SUBMIT,
    Command.submit_sm_resp: _MESSAGE_ID,
    Command.deliver_sm: _SUBMIT,
    Command.deliver_sm_resp: _MESSAGE_ID,
    Command.data_sm: (("service_type", C, 6), ("source_addr_ton", I1, 0), ("source_addr_npi", I1, 0),
                      ("source_addr", C, 65), ("dest_addr_ton", I1, 0), ("dest_addr_npi", I1, 0),
                      ("destination_addr", C, 65), ("esm_class", I1, 0),
                      ("registered_delivery", I1, 0), ("data_coding", I1, 0)),
    Command.data_sm_resp: _MESSAGE_ID,
    Command.query_sm: _MESSAGE_ID + _SOURCE,
    Command.query_sm_resp: _MESSAGE_ID + (("final_date", C, 17), ("message_state", I1, 0),
                                          ("error_code", I1, 0)),
    Command.cancel_sm: (("service_type", C, 6),) + _MESSAGE_ID + _SOURCE + _DEST,
    Command.cancel_sm_resp: (),
    Command.replace_sm: _MESSAGE_ID + _SOURCE + (
        ("schedule_delivery_time", C, 17), ("validity_period", C, 17),
        ("registered_delivery", I1, 0), ("sm_default_msg_id", I1, 0), ("short_message", SM, SHORT_MESSAGE_MAX)),
    Command.replace_sm_resp: (),
    Command.submit_multi: (("service_type", C, 6),) + _SOURCE + (("dest_addresses", "dests", 254),)
    + _SM_TAIL,
    Command.submit_multi_resp: _MESSAGE_ID + (("unsuccess_smes", "unsucc", 254),),
    Command.alert_notification: (("source_addr_ton", I1, 0), ("source_addr_npi", I1, 0),
                                 ("source_addr", C, 65), ("esme_addr_ton", I1, 0),
                                 ("esme_addr_npi", I1, 0), ("esme_addr", C, 65)),
}

# Every layout's parameter names in order with their empty value (what `make` fills in).
_DEFAULTS: dict[Command, dict[str, Value]] = {
    command: {name: _EMPTY_VALUE[kind] for name, kind, _ in layout} for command, layout in LAYOUTS.items()
}

# The status a request gets when one of its fields is malformed (§5.1.3; as smpp.pdu does).
FIELD_STATUS: dict[str, CommandStatus] = {
    "system_id": CommandStatus.ESME_RINVSYSID,
    "password": CommandStatus.ESME_RINVPASWD,
    "system_type": CommandStatus.ESME_RINVSYSTYP,
    "service_type": CommandStatus.ESME_RINVSERTYP,
    "source_addr": CommandStatus.ESME_RINVSRCADR,
    "destination_addr": CommandStatus.ESME_RINVDSTADR,
    "message_id": CommandStatus.ESME_RINVMSGID,
    "schedule_delivery_time": CommandStatus.ESME_RINVSCHED,
    "validity_period": CommandStatus.ESME_RINVEXPIRY,
    "short_message": CommandStatus.ESME_RINVMSGLEN,
    "dest_addresses": CommandStatus.ESME_RINVNUMDESTS,
}

# A *_resp with a non-zero status may omit its body (§4.1.2, §4.4.2).
_BODY_OPTIONAL_ON_ERROR = frozenset({
    Command.bind_receiver_resp, Command.bind_transmitter_resp, Command.bind_transceiver_resp,
    Command.submit_sm_resp, Command.data_sm_resp, Command.submit_multi_resp,
    Command.query_sm_resp,
})


class _Malformed(Exception):
    """Internal: raised inside `decode` only, always turned into DecodeFailed."""

    def __init__(self, status: CommandStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# --- decode -----------------------------------------------------------------------------

def _decode_general(frame: bytes) -> Pdu | DecodeFailed:
    """`decode` for any command, driven by LAYOUTS: the reference the fast path must match."""
    length, command_id, status, seq = HEADER.unpack_from(frame)
    try:
        command = Command(command_id)
    except ValueError:
        return DecodeFailed(command_id, seq, CommandStatus.ESME_RINVCMDID,
                            f"unknown command_id 0x{command_id:08x}")
    body_end = min(length, len(frame))
    if command in _BODY_OPTIONAL_ON_ERROR and status != 0 and body_end == HEADER_LEN:
        return Pdu(command, seq, status, _EMPTY, ())
    try:
        params, offset = _read_params(frame, HEADER_LEN, body_end, LAYOUTS[command])
        tlvs = _read_tlvs(frame, offset, body_end)
    except _Malformed as bad:
        return DecodeFailed(command_id, seq, bad.status, f"{command.name}: {bad}")
    return Pdu(command, seq, status, MappingProxyType(params), tlvs)


def _read_params(frame: bytes, offset: int, end: int,
                 layout: tuple[tuple[str, str, int], ...]) -> tuple[dict[str, Value], int]:
    params: dict[str, Value] = {}
    for name, kind, size in layout:
        if kind == C:
            nul = frame.find(b"\x00", offset, end)
            if nul < 0:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, f"{name} runs past the end of the PDU")
            if nul - offset >= size:
                raise _Malformed(FIELD_STATUS.get(name, CommandStatus.ESME_RINVPARLEN),
                                 f"{name} longer than {size - 1} octets")
            params[name] = frame[offset:nul].decode("latin-1")
            offset = nul + 1
        elif kind == I1:
            if offset >= end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, f"PDU ends before {name}")
            params[name] = frame[offset]
            offset += 1
        elif kind == SM:
            if offset >= end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, f"PDU ends before sm_length")
            sm_length = frame[offset]
            offset += 1
            if sm_length > SHORT_MESSAGE_MAX:           # §4.4.1: 0 to 254; what we could not encode back
                raise _Malformed(CommandStatus.ESME_RINVMSGLEN,
                                 f"sm_length {sm_length} above {SHORT_MESSAGE_MAX} (use message_payload)")
            if offset + sm_length > end:
                raise _Malformed(CommandStatus.ESME_RINVMSGLEN,
                                 f"sm_length {sm_length} runs past the end of the PDU")
            params[name] = frame[offset:offset + sm_length]
            offset += sm_length
        elif kind == "dests":
            params[name], offset = _read_dests(frame, offset, end)
        elif kind == "unsucc":
            params[name], offset = _read_unsuccess(frame, offset, end)
        else:  # I4
            if offset + 4 > end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, f"PDU ends before {name}")
            params[name] = int.from_bytes(frame[offset:offset + 4], "big")
            offset += 4
    return params, offset


_DEST_SME = (("dest_addr_ton", I1, 0), ("dest_addr_npi", I1, 0), ("destination_addr", C, 21))
_UNSUCC = _DEST_SME + (("error_status_code", I4, 0),)


# The layouts type every value, but a params mapping holds any Value: these narrow one to
# the type its layout says. Reading, they check what _read_params made; writing, a value of
# the wrong type is our own bug (encode: "a PDU *our* code built wrong"), so TypeError.

def _int(values: Mapping[str, Value], name: str) -> int:
    value = values[name]
    assert isinstance(value, int)
    return value


def _str(values: Mapping[str, Value], name: str) -> str:
    value = values[name]
    assert isinstance(value, str)
    return value


def _integer(value: Value, where: str, name: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{where}.{name}: expected an int, got {value!r}")
    return value


def _octets(value: Value, where: str, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):       # bytes-like, as b"".join takes
        raise TypeError(f"{where}.{name}: expected bytes, got {value!r}")
    return bytes(value)


E = TypeVar("E", DestAddress, UnsuccessSme)


def _entries(value: Value, kind: type[E], where: str, name: str) -> list[E]:
    if not isinstance(value, tuple):
        raise TypeError(f"{where}.{name}: expected a tuple of {kind.__name__}, got {value!r}")
    entries = [entry for entry in value if isinstance(entry, kind)]
    if len(entries) != len(value):
        raise TypeError(f"{where}.{name}: expected a tuple of {kind.__name__}, got {value!r}")
    return entries


def _read_dests(frame: bytes, offset: int, end: int) -> tuple[tuple[DestAddress, ...], int]:
    if offset >= end:
        raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "PDU ends before number_of_dests")
    count, offset = frame[offset], offset + 1
    dests: list[DestAddress] = []
    for _ in range(count):
        if offset >= end:
            raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "PDU ends inside dest_address")
        flag, offset = frame[offset], offset + 1
        if flag == 1:
            sme, offset = _read_params(frame, offset, end, _DEST_SME)
            dests.append(DestAddress(_int(sme, "dest_addr_ton"), _int(sme, "dest_addr_npi"),
                                     _str(sme, "destination_addr")))
        elif flag == 2:
            dl, offset = _read_params(frame, offset, end, (("dl_name", C, 21),))
            dests.append(DestAddress(dl_name=_str(dl, "dl_name")))
        else:
            raise _Malformed(CommandStatus.ESME_RINVDESTFLAG, f"dest_flag {flag}")
    return tuple(dests), offset


def _read_unsuccess(frame: bytes, offset: int, end: int) -> tuple[tuple[UnsuccessSme, ...], int]:
    if offset >= end:
        raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "PDU ends before no_unsuccess")
    count, offset = frame[offset], offset + 1
    smes: list[UnsuccessSme] = []
    for _ in range(count):
        values, offset = _read_params(frame, offset, end, _UNSUCC)
        smes.append(UnsuccessSme(_int(values, "dest_addr_ton"), _int(values, "dest_addr_npi"),
                                 _str(values, "destination_addr"), _int(values, "error_status_code")))
    return tuple(smes), offset


def _read_tlvs(frame: bytes, offset: int, end: int) -> tuple[Tlv, ...]:
    if offset == end:
        return ()
    tlvs: list[Tlv] = []
    while offset < end:
        if offset + 4 > end:
            if not any(frame[offset:end]):
                break                               # NUL padding some SMSCs add: tolerated
            raise _Malformed(CommandStatus.ESME_RINVOPTPARSTREAM,
                             f"{end - offset} stray octet(s) after the last parameter")
        tag = (frame[offset] << 8) | frame[offset + 1]
        size = (frame[offset + 2] << 8) | frame[offset + 3]
        offset += 4
        if offset + size > end:
            raise _Malformed(CommandStatus.ESME_RINVOPTPARSTREAM,
                             f"TLV 0x{tag:04x} length {size} runs past the end of the PDU")
        tlvs.append(Tlv(tag, frame[offset:offset + size]))
        offset += size
    return tuple(tlvs)


def read_tlvs(raw: bytes) -> tuple[Tlv, ...]:
    """TLVs stored as wire bytes (see write_tlvs) back to values."""
    try:
        return _read_tlvs(raw, 0, len(raw))
    except _Malformed as bad:
        raise ValueError(str(bad)) from None


_TLV_HEAD = struct.Struct("!HH")


def write_tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    """TLVs as wire bytes, for storage. ValueError for a value past the 65,535 octets a TLV's
    length can say (as for every other field our code builds wrong)."""
    pack = _TLV_HEAD.pack
    try:
        return b"".join([pack(tlv.tag, len(tlv.value)) + tlv.value for tlv in tlvs])
    except struct.error as error:
        raise ValueError(f"a TLV does not fit its 16-bit tag or length: {error}") from None


# --- encode -----------------------------------------------------------------------------

def _encode_general(pdu: Pdu) -> bytes:
    """`encode` for any command, driven by LAYOUTS: the reference the fast path must match."""
    parts: list[bytes] = []
    if pdu.params or not (pdu.command in _BODY_OPTIONAL_ON_ERROR and pdu.command_status):
        _write_params(parts, pdu.params, LAYOUTS[pdu.command], pdu.command.name)
    if pdu.tlvs:
        parts.append(write_tlvs(pdu.tlvs))
    body = b"".join(parts)
    return HEADER.pack(HEADER_LEN + len(body), pdu.command, pdu.command_status,
                       pdu.sequence_number) + body


def _write_params(parts: list[bytes], params: Mapping[str, Value],
                  layout: tuple[tuple[str, str, int], ...], where: str) -> None:
    for name, kind, size in layout:
        value = params.get(name, _EMPTY_VALUE[kind])
        if kind == C:
            raw = value.encode("latin-1") if isinstance(value, str) else _octets(value, where, name)
            if len(raw) >= size:
                raise ValueError(f"{where}.{name} longer than {size - 1} octets: {value!r}")
            parts.append(raw + b"\x00")
        elif kind == I1:
            parts.append(bytes((_integer(value, where, name),)))
        elif kind == SM:
            # Whatever bytes() takes (an int, a list), as the fast writer does: test_codec_fast
            # pins the two paths to the same outcome for every value, odd ones included.
            raw = bytes(value)  # type: ignore[arg-type]
            if len(raw) > size:
                raise ValueError(f"{where}.short_message longer than {size} octets "
                                 "(use the message_payload TLV)")
            parts.append(bytes((len(raw),)) + raw)
        elif kind == "dests":
            dests = _entries(value, DestAddress, where, name)
            parts.append(bytes((len(dests),)))
            for dest in dests:
                if dest.dl_name is not None:
                    parts.append(b"\x02")
                    _write_params(parts, {"dl_name": dest.dl_name}, (("dl_name", C, 21),), where)
                else:
                    parts.append(b"\x01")
                    _write_params(parts, {"dest_addr_ton": dest.dest_addr_ton,
                                          "dest_addr_npi": dest.dest_addr_npi,
                                          "destination_addr": dest.destination_addr}, _DEST_SME, where)
        elif kind == "unsucc":
            smes = _entries(value, UnsuccessSme, where, name)
            parts.append(bytes((len(smes),)))
            for sme in smes:
                _write_params(parts, {"dest_addr_ton": sme.dest_addr_ton,
                                      "dest_addr_npi": sme.dest_addr_npi,
                                      "destination_addr": sme.destination_addr,
                                      "error_status_code": sme.error_status_code}, _UNSUCC, where)
        else:  # I4
            parts.append(_integer(value, where, name).to_bytes(4, "big"))


# --- fast path ------------------------------------------------------------------------------
# A replay moves millions of submit_sm / deliver_sm, their responses and enquire_links, so
# `decode` and `encode` first try a reader / writer specialised for those few layouts, and
# hand everything else to `_decode_general` / `_encode_general`, which stay the reference.
# The fast path never builds an error of its own: a reader returns None (and a writer raises)
# at the first thing it does not expect - a missing NUL, a field too long, a short body, stray
# octets, odd value types - and the general path then gives the exact result, DecodeFailed or
# ValueError included. tests/unit/test_codec_fast.py checks both paths agree on random input.

_unpack_header = HEADER.unpack_from
_pack_header = HEADER.pack
_unpack_tlv_head = _TLV_HEAD.unpack_from
_LATIN1 = "latin-1"


def decode(frame: bytes) -> Pdu | DecodeFailed:
    """One whole frame (as cut by `Framer`) -> a Pdu, or DecodeFailed with the status to answer."""
    length, command_id, status, seq = _unpack_header(frame)
    fast = _FAST_READERS.get(command_id)
    if fast is not None:
        end = len(frame)
        if length < end:
            end = length
        pdu = fast[0](frame, fast[1], status, seq, end)
        if pdu is not None:
            return pdu
    return _decode_general(frame)


def _fast_tlvs(frame: bytes, offset: int, end: int) -> tuple[Tlv, ...] | None:
    """_read_tlvs for TLVs that end exactly at `end`; None for anything else."""
    tlvs = []
    while offset + 4 <= end:
        tag, size = _unpack_tlv_head(frame, offset)
        start = offset + 4
        offset = start + size
        if offset > end:
            return None
        tlvs.append(_new_tlv(tag, frame[start:offset]))
    if offset != end:
        return None                                 # stray or NUL-padding octets: general path
    return tuple(tlvs)


def _read_message(frame: bytes, command: Command, status: int, seq: int, end: int) -> Pdu | None:
    """The _SUBMIT layout (submit_sm, deliver_sm). The frame is decoded to latin-1 once, so
    each C-string is one `find` and one slice of `text` (offsets are the same in both); the
    1-octet fields between two C-strings are read from `frame` only once the next NUL has been
    found after them, which proves they lie inside the body."""
    text = frame.decode(_LATIN1)
    find = text.find
    n1 = find("\x00", 16, end)                      # service_type (at most 5 octets + NUL)
    if n1 < 0 or n1 - 16 > 5:
        return None
    n2 = find("\x00", n1 + 3, end)                  # source_addr_ton, _npi, source_addr (20)
    if n2 < 0 or n2 - n1 - 3 > 20:
        return None
    n3 = find("\x00", n2 + 3, end)                  # dest_addr_ton, _npi, destination_addr (20)
    if n3 < 0 or n3 - n2 - 3 > 20:
        return None
    n4 = find("\x00", n3 + 4, end)                  # esm_class, protocol_id, priority_flag,
    if n4 < 0 or n4 - n3 - 4 > 16:                  # schedule_delivery_time (16)
        return None
    n5 = find("\x00", n4 + 1, end)                  # validity_period (16)
    if n5 < 0 or n5 - n4 - 1 > 16:
        return None
    sm_start = n5 + 6                               # 4 one-octet fields, then sm_length
    if sm_start > end:
        return None
    sm_end = sm_start + frame[n5 + 5]
    if sm_end > end or frame[n5 + 5] > SHORT_MESSAGE_MAX:    # the general path says why
        return None
    tlvs = () if sm_end == end else _fast_tlvs(frame, sm_end, end)
    if tlvs is None:
        return None
    return _new_pdu(command, seq, status, MappingProxyType({
        "service_type": text[16:n1],
        "source_addr_ton": frame[n1 + 1],
        "source_addr_npi": frame[n1 + 2],
        "source_addr": text[n1 + 3:n2],
        "dest_addr_ton": frame[n2 + 1],
        "dest_addr_npi": frame[n2 + 2],
        "destination_addr": text[n2 + 3:n3],
        "esm_class": frame[n3 + 1],
        "protocol_id": frame[n3 + 2],
        "priority_flag": frame[n3 + 3],
        "schedule_delivery_time": text[n3 + 4:n4],
        "validity_period": text[n4 + 1:n5],
        "registered_delivery": frame[n5 + 1],
        "replace_if_present_flag": frame[n5 + 2],
        "data_coding": frame[n5 + 3],
        "sm_default_msg_id": frame[n5 + 4],
        "short_message": frame[sm_start:sm_end],
    }), tlvs)


def _read_message_id(frame: bytes, command: Command, status: int, seq: int, end: int) -> Pdu | None:
    """The _MESSAGE_ID layout (submit_sm_resp, deliver_sm_resp)."""
    nul = frame.find(b"\x00", 16, end)              # message_id (at most 64 octets + NUL)
    if nul < 0 or nul - 16 > 64:
        if end == 16 and status and command in _BODY_OPTIONAL_ON_ERROR:
            return _new_pdu(command, seq, status, _EMPTY, ())     # error response without body
        return None
    tlvs = () if nul + 1 == end else _fast_tlvs(frame, nul + 1, end)
    if tlvs is None:
        return None
    return _new_pdu(command, seq, status, MappingProxyType({"message_id": frame[16:nul].decode(_LATIN1)}),
                    tlvs)


def _read_empty(frame: bytes, command: Command, status: int, seq: int, end: int) -> Pdu | None:
    """An empty layout (enquire_link, enquire_link_resp)."""
    if end != 16:
        return None                                 # TLVs, or command_length below 16
    return _new_pdu(command, seq, status, _EMPTY, ())


# command_id -> (reader, Command); keyed by plain int, the type the header gives. The readers
# and writers spell out _SUBMIT and _MESSAGE_ID as they are: a change to those layouts must be
# made here too (tests/unit/test_codec_fast.py fails until it is).
_Reader = Callable[[bytes, Command, int, int, int], Union[Pdu, None]]
_FAST_READERS: dict[int, tuple[_Reader, Command]] = {
    int(command): (reader, command) for command, reader in (
        (Command.submit_sm, _read_message), (Command.deliver_sm, _read_message),
        (Command.submit_sm_resp, _read_message_id), (Command.deliver_sm_resp, _read_message_id),
        (Command.enquire_link, _read_empty), (Command.enquire_link_resp, _read_empty))
}


def encode(pdu: Pdu) -> bytes:
    """Pdu -> wire bytes. Raises ValueError for a PDU *our* code built wrong (a bug, not traffic).
    (`pdu.command` must be a Command, as typed: the writer table would also match a bare int.)"""
    writer = _FAST_WRITERS.get(pdu.command)
    if writer is not None:
        try:
            return writer(pdu)
        except Exception:       # anything unexpected: the general path decides (and raises)
            pass
    return _encode_general(pdu)


# The _SUBMIT values in layout order, in one call (KeyError if one is missing).
_message_fields = operator.itemgetter(*(name for name, _, _ in _SUBMIT))


def _write_message(pdu: Pdu) -> bytes:
    """The _SUBMIT layout. All fields but short_message go through one latin-1 str: C-strings as
    themselves plus NUL, 1-octet integers as chr(). str.join accepts str only and latin-1
    refuses chr() above 255, so a value the general path would refuse (or write differently)
    raises here, and `encode` falls back. Raises KeyError for a missing parameter likewise."""
    (service_type, source_addr_ton, source_addr_npi, source_addr, dest_addr_ton, dest_addr_npi,
     destination_addr, esm_class, protocol_id, priority_flag, schedule_delivery_time,
     validity_period, registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id,
     short_message) = _message_fields(pdu.params)
    short_message = bytes(short_message)            # as the general path: any bytes-like value
    if (len(service_type) > 5 or len(source_addr) > 20 or len(destination_addr) > 20
            or len(schedule_delivery_time) > 16 or len(validity_period) > 16 or len(short_message) > SHORT_MESSAGE_MAX):
        raise ValueError("too long")                # the general path has the precise message
    body = "".join((
        service_type, "\x00", chr(source_addr_ton), chr(source_addr_npi), source_addr, "\x00",
        chr(dest_addr_ton), chr(dest_addr_npi), destination_addr, "\x00",
        chr(esm_class), chr(protocol_id), chr(priority_flag), schedule_delivery_time, "\x00",
        validity_period, "\x00", chr(registered_delivery), chr(replace_if_present_flag),
        chr(data_coding), chr(sm_default_msg_id), chr(len(short_message)),
    )).encode(_LATIN1) + short_message
    if pdu.tlvs:
        body += write_tlvs(pdu.tlvs)
    return _pack_header(16 + len(body), pdu.command, pdu.command_status, pdu.sequence_number) + body


def _write_message_id(pdu: Pdu) -> bytes:
    """The _MESSAGE_ID layout. Empty `params` with a non-zero status is the body-less error
    response; a missing message_id otherwise raises KeyError, left to the general path."""
    params = pdu.params
    if not params and pdu.command_status and pdu.command in _BODY_OPTIONAL_ON_ERROR:
        return _write_empty(pdu)
    message_id = params["message_id"]
    if not isinstance(message_id, str) or len(message_id) > 64:
        raise ValueError("not a str of at most 64 characters")
    body = (message_id + "\x00").encode(_LATIN1)
    if pdu.tlvs:
        body += write_tlvs(pdu.tlvs)
    return _pack_header(16 + len(body), pdu.command, pdu.command_status, pdu.sequence_number) + body


def _write_empty(pdu: Pdu) -> bytes:
    """An empty layout: the header, then any TLVs."""
    if pdu.tlvs:
        body = write_tlvs(pdu.tlvs)
        return _pack_header(16 + len(body), pdu.command, pdu.command_status, pdu.sequence_number) + body
    return _pack_header(16, pdu.command, pdu.command_status, pdu.sequence_number)


_FAST_WRITERS: dict[Command, Callable[[Pdu], bytes]] = {
    Command.submit_sm: _write_message, Command.deliver_sm: _write_message,
    Command.submit_sm_resp: _write_message_id, Command.deliver_sm_resp: _write_message_id,
    Command.enquire_link: _write_empty, Command.enquire_link_resp: _write_empty,
}


def _response_table() -> dict[Command, Command]:
    """Command -> the *_resp answering it (`Command.response` costs an enum lookup per call).
    A Command with no response (outbind, alert_notification) is left out, so `response_to`
    still raises through `Command.response` for it."""
    table = {}
    for command in Command:
        try:
            table[command] = command.response
        except ValueError:
            pass
    return table


_RESPONSE = _response_table()


HAS_RESPONSE = frozenset(command for command in _RESPONSE if not command.is_response)
"""The requests that have a *_resp (all but outbind and alert_notification, §4.1.7, §4.12)."""


def response_to(request: Pdu, status: int = 0, tlvs: tuple[Tlv, ...] = (), **params: Value) -> Pdu:
    """The *_resp answering `request`, same sequence number (§2.3)."""
    command = _RESPONSE.get(request.command)
    if command is None:
        command = request.command.response
    if status and command in _BODY_OPTIONAL_ON_ERROR and not params:
        return _new_pdu(command, request.sequence_number, int(status), _EMPTY, tlvs)
    return make(command, request.sequence_number, status, tlvs, **params)


# The responses whose body is one message_id (§4.4.2, §4.6.2, §4.7.2).
MESSAGE_ID_RESPONSE: Final[Mapping[Command, Command]] = MappingProxyType({
    Command.submit_sm: Command.submit_sm_resp, Command.deliver_sm: Command.deliver_sm_resp,
    Command.data_sm: Command.data_sm_resp,
})


def encode_message_id_response(command: Command, sequence_number: int, status: int, message_id: object) -> bytes | None:
    """`encode(response_to(request, status, message_id=message_id))` for a request whose
    response is `command` (a value of MESSAGE_ID_RESPONSE) and no TLVs, built straight from
    the header: the answer to every submit_sm an SMSC takes, without a Pdu, a params mapping
    and the writer table between. None for a message_id the general path must judge (not a
    str, over 64 octets, outside latin-1); tests/unit/test_codec_fast.py pins the bytes."""
    if type(message_id) is not str or len(message_id) > 64:
        return None
    try:
        body = message_id.encode(_LATIN1)
    except UnicodeEncodeError:
        return None
    return _pack_header(17 + len(body), command, status, sequence_number) + body + b"\x00"


def generic_nack(sequence_number: int, status: int) -> Pdu:
    return Pdu(Command.generic_nack, sequence_number, int(status))
