"""Typed views of the SMPP 3.4 PDUs every message crosses: binds, submit_sm, deliver_sm,
query_sm, submit_multi and their responses (data_sm too, which an operator may send instead
of deliver_sm).

Rules of this module:

1. A view is the *body* of one PDU: its mandatory parameters (§4) as fields with their real
   types - C-octet strings `str` (latin-1, as the codec reads them), integers `int`,
   short_message `bytes`, submit_multi's lists tuples of `DestAddress` / `UnsuccessSme` -
   named and ordered as the spec (and `codec.LAYOUTS`) has them, then `tlvs`, every optional
   parameter raw, in wire order. The header stays on the `Pdu`: a request is answered with
   `conn.respond(pdu, ...)` and a response's outcome is `pdu.command_status`, so a handler
   reads `pdu` for the header and the view for the body. One class per command; the classes
   whose commands share a layout share a private base (as h11's `_ResponseBase`), and are
   frozen, slotted and final: don't subclass these.
2. `View.from_pdu(pdu)` never raises for a Pdu that `decode` returned: the codec has already
   read every field of the layout with its type, so building the view only moves them (and
   checks nothing more; no copy, no conversion). What a peer gets wrong in *meaning* (a
   validity_period that is not a time, a message_state out of range) is still its reader's to
   judge, where it always was. `from_pdu` raises TypeError for a Pdu of another command, and
   KeyError for one our own code built without a field: bugs, not traffic.
3. A response sent without its body (allowed when its status is an error, §4.1.2, §4.4.2,
   §4.5.2, §4.8.2) has `body_omitted=True` and every field at its empty value.
4. The reverse: `view.to_pdu(sequence_number, command_status)` is a `Pdu` again, and
   `type(v).from_pdu(pdu).to_pdu(pdu.sequence_number, pdu.command_status) == pdu` for every
   Pdu of its command (tests/unit/test_views.py). `typed(pdu)` picks the view class by command
   (None for a command without one).
5. Cheap: a replay builds a few views per message. `View.from_pdu` is the reference (one
   `itemgetter` call and the dataclass's `__init__`); each view class gets, from `_view`, a
   `from_pdu` that sets the slots directly with their setters, as `codec._new_pdu` does, and
   hands anything unusual (another command, an empty body) to the reference. (A frozen
   dataclass's `__init__` goes through `object.__setattr__` once per field: a submit_sm view
   costs about a third less this way.) tests/unit/test_views.py checks that both agree.
   Nothing is built for a PDU nobody reads.

Why views beside `Pdu` and not in its place: the session, the fast codec path and the store
move PDUs by the million without reading their bodies (a deliver_sm is stored and forwarded
as it came), so the generic `Pdu` stays what travels, and the code that *decides* on a body
(aggregator/server.py, aggregator/connectors.py, smsc/operators/smsc.py) reads it through a
view, with fields a type checker sees, instead of `pdu["dest_addr_ton"]` and a cast.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Self, TypeVar

from smsc.pdu.codec import (
    _BODY_OPTIONAL_ON_ERROR, _EMPTY_VALUE, LAYOUTS, SHORT_MESSAGE_MAX, Command, DestAddress, Pdu, Tag, Tlv, UnsuccessSme, Value, make,
)


class View:
    """What every view has: COMMAND, `from_pdu`, `to_pdu`, `tlv` (set up by `_view`). The
    base of the view classes below; not for subclassing elsewhere."""

    __slots__ = ()
    COMMAND: ClassVar[Command]
    _NAMES: ClassVar[tuple[str, ...]]                   # the layout's parameter names, in order
    _READ: ClassVar[Callable[[Mapping[str, Value]], tuple[Any, ...]]]
    _EMPTY_BODY: ClassVar[tuple[Any, ...] | None]       # the empty values, if the body may be omitted
    tlvs: tuple[Tlv, ...]

    __dataclass_fields__: ClassVar[dict[str, Any]]     # each view is a dataclass

    if TYPE_CHECKING:   # each view's own dataclass __init__, called positionally by from_pdu
        def __init__(self, *values: Any) -> None: ...

    @classmethod
    def from_pdu(cls, pdu: Pdu) -> Self:
        """The view of `pdu`, which must be of this class's command (rule 2)."""
        if pdu.command is not cls.COMMAND:
            raise TypeError(f"{cls.__name__} views {cls.COMMAND.name}, not {pdu.command.name}")
        params = pdu.params
        if not params and cls._EMPTY_BODY is not None:
            return cls(*cls._EMPTY_BODY, pdu.tlvs, True)
        return cls(*cls._READ(params), pdu.tlvs)

    def to_pdu(self, sequence_number: int = 0, command_status: int = 0) -> Pdu:
        """This body under a header: the Pdu `from_pdu` read it from (rule 4)."""
        if getattr(self, "body_omitted", False):
            return Pdu(self.COMMAND, sequence_number, command_status, tlvs=self.tlvs)
        return make(self.COMMAND, sequence_number, command_status, self.tlvs,
                    **{name: getattr(self, name) for name in self._NAMES})

    def tlv(self, tag: int) -> Tlv | None:
        """The first optional parameter with this tag, or None."""
        for tlv in self.tlvs:
            if tlv.tag == tag:
                return tlv
        return None


_V = TypeVar("_V", bound=type[View])
_VIEWS: dict[Command, type[View]] = {}


def _view(command: Command) -> Callable[[_V], _V]:
    """Make a view class the view of `command`: checks its fields against LAYOUTS once, at
    import (so a layout and its view cannot drift apart), and registers it for `typed`."""
    def register(cls: _V) -> _V:
        layout = LAYOUTS[command]
        names = tuple(name for name, _, _ in layout)
        optional = command in _BODY_OPTIONAL_ON_ERROR
        expected = names + ("tlvs",) + (("body_omitted",) if optional else ())
        got = tuple(f.name for f in fields(cls))
        if got != expected:
            raise TypeError(f"{cls.__name__} fields {got} do not follow the {command.name} layout {expected}")
        cls.COMMAND = command
        cls._NAMES = names
        if len(names) == 1:
            only = names[0]
            cls._READ = lambda params: (params[only],)
        else:
            cls._READ = itemgetter(*names)
        cls._EMPTY_BODY = tuple(_EMPTY_VALUE[kind] for _, kind, _ in layout) if optional else None
        setattr(cls, "from_pdu", classmethod(_fast_from_pdu(cls, command, names, optional)))
        _VIEWS[command] = cls
        return cls
    return register


def _fast_from_pdu(cls: type[View], command: Command, names: tuple[str, ...],
                   optional: bool) -> Callable[[type[View], Pdu], View]:
    """`View.from_pdu` for `cls`, setting each slot with its own setter (rule 5) instead of
    going through the frozen dataclass's `__init__`. Another command or an empty body: the
    reference."""
    setters = tuple((name, getattr(cls, name).__set__) for name in names)
    set_tlvs = getattr(cls, "tlvs").__set__
    set_omitted = getattr(cls, "body_omitted").__set__ if optional else None
    reference = vars(View)["from_pdu"].__func__
    new = object.__new__

    def from_pdu(cls: type[View], pdu: Pdu) -> View:
        params = pdu.params
        if pdu.command is not command or not params:
            return reference(cls, pdu)
        view = new(cls)
        for name, setter in setters:
            setter(view, params[name])
        set_tlvs(view, pdu.tlvs)
        if set_omitted is not None:
            set_omitted(view, False)
        return view
    return from_pdu


def typed(pdu: Pdu) -> View | None:
    """The view of `pdu` by its command, or None for a command without a view (enquire_link,
    unbind, generic_nack...)."""
    cls = _VIEWS.get(pdu.command)
    return None if cls is None else cls.from_pdu(pdu)


# --- binds (§4.1) ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Bind(View):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    tlvs: tuple[Tlv, ...] = ()


@_view(Command.bind_transmitter)
@dataclass(frozen=True, slots=True)
class BindTransmitter(_Bind):
    """bind_transmitter (§4.1.1)."""


@_view(Command.bind_receiver)
@dataclass(frozen=True, slots=True)
class BindReceiver(_Bind):
    """bind_receiver (§4.1.3)."""


@_view(Command.bind_transceiver)
@dataclass(frozen=True, slots=True)
class BindTransceiver(_Bind):
    """bind_transceiver (§4.1.5)."""


Bind = BindTransmitter | BindReceiver | BindTransceiver


@dataclass(frozen=True, slots=True)
class _BindResp(View):
    system_id: str = ""                 # the SMSC's
    tlvs: tuple[Tlv, ...] = ()          # sc_interface_version, if the SMSC says it
    body_omitted: bool = False


@_view(Command.bind_transmitter_resp)
@dataclass(frozen=True, slots=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (§4.1.2)."""


@_view(Command.bind_receiver_resp)
@dataclass(frozen=True, slots=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp (§4.1.4)."""


@_view(Command.bind_transceiver_resp)
@dataclass(frozen=True, slots=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (§4.1.6)."""


BIND_VIEWS: dict[Command, type[Bind]] = {
    Command.bind_transmitter: BindTransmitter, Command.bind_receiver: BindReceiver,
    Command.bind_transceiver: BindTransceiver,
}


# --- submit_sm, deliver_sm (§4.4, §4.6: one layout) -----------------------------------------

@dataclass(frozen=True, slots=True)
class _ShortMessage(View):
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: tuple[Tlv, ...] = ()


@_view(Command.submit_sm)
@dataclass(frozen=True, slots=True)
class SubmitSm(_ShortMessage):
    """submit_sm (§4.4.1): a message from an ESME to the SMSC."""


# What an SMSC decides a submit_sm on (smsc/operators/smsc.py), in one C call instead of a
# whole `SubmitSm` (17 slots set, per message, for 8 fields read): source_addr_ton,
# source_addr_npi, source_addr, dest_addr_ton, destination_addr, validity_period,
# registered_delivery, short_message. Same values, same types as the view's (rule 2).
SubmitSmFields = tuple[int, int, str, int, str, str, int, bytes]
_SUBMIT_SM_FIELDS = itemgetter("source_addr_ton", "source_addr_npi", "source_addr", "dest_addr_ton",
                               "destination_addr", "validity_period", "registered_delivery", "short_message")


def submit_sm_fields(pdu: Pdu) -> SubmitSmFields:
    """The `SubmitSmFields` of a submit_sm `pdu` (TypeError for another command, KeyError for a
    Pdu our own code built without a field, as `SubmitSm.from_pdu`)."""
    if pdu.command is not Command.submit_sm:
        raise TypeError(f"submit_sm_fields reads submit_sm, not {pdu.command.name}")
    return _SUBMIT_SM_FIELDS(pdu.params)     # the codec's types (rule 2); itemgetter is untyped


@_view(Command.deliver_sm)
@dataclass(frozen=True, slots=True)
class DeliverSm(_ShortMessage):
    """deliver_sm (§4.6.1): an MO, or a delivery receipt (esm_class 0x04, smsc.pdu.receipt)."""


@_view(Command.submit_sm_resp)
@dataclass(frozen=True, slots=True)
class SubmitSmResp(View):
    """submit_sm_resp (§4.4.2): the SMSC's message_id for the message."""

    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()
    body_omitted: bool = False


@_view(Command.deliver_sm_resp)
@dataclass(frozen=True, slots=True)
class DeliverSmResp(View):
    """deliver_sm_resp (§4.6.2): message_id is unused, NULL."""

    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@_view(Command.data_sm)
@dataclass(frozen=True, slots=True)
class DataSm(View):
    """data_sm (§4.7.1): what some SMSCs send instead of deliver_sm (the text, if any, in the
    message_payload TLV)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: tuple[Tlv, ...] = ()

    def as_deliver_sm(self) -> DeliverSm:
        """The same message as a deliver_sm (§4.6.1), for code and clients that take those:
        the text moves from message_payload to short_message when it fits there
        (SHORT_MESSAGE_MAX octets); every other TLV stays as it came."""
        payload = self.tlv(Tag.message_payload)
        text, tlvs = b"", self.tlvs
        if payload is not None and len(payload.value) <= SHORT_MESSAGE_MAX:
            text, tlvs = payload.value, tuple(tlv for tlv in self.tlvs if tlv is not payload)
        return DeliverSm(
            service_type=self.service_type, source_addr_ton=self.source_addr_ton,
            source_addr_npi=self.source_addr_npi, source_addr=self.source_addr,
            dest_addr_ton=self.dest_addr_ton, dest_addr_npi=self.dest_addr_npi,
            destination_addr=self.destination_addr, esm_class=self.esm_class,
            registered_delivery=self.registered_delivery, data_coding=self.data_coding,
            short_message=text, tlvs=tlvs)


# --- query_sm (§4.8) ------------------------------------------------------------------------

@_view(Command.query_sm)
@dataclass(frozen=True, slots=True)
class QuerySm(View):
    """query_sm (§4.8.1): the state of a message, by the SMSC's message_id."""

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    tlvs: tuple[Tlv, ...] = ()


@_view(Command.query_sm_resp)
@dataclass(frozen=True, slots=True)
class QuerySmResp(View):
    """query_sm_resp (§4.8.2). message_state is any octet the peer sent (codec.SmppMessageState
    names the valid ones); final_date an SMPP time or empty."""

    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0
    tlvs: tuple[Tlv, ...] = ()
    body_omitted: bool = False


# --- submit_multi (§4.5) --------------------------------------------------------------------

@_view(Command.submit_multi)
@dataclass(frozen=True, slots=True)
class SubmitMulti(View):
    """submit_multi (§4.5.1): one message to up to 254 SME addresses or distribution lists."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: tuple[DestAddress, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: tuple[Tlv, ...] = ()


@_view(Command.submit_multi_resp)
@dataclass(frozen=True, slots=True)
class SubmitMultiResp(View):
    """submit_multi_resp (§4.5.2): the message_id, and the destinations that failed."""

    message_id: str = ""
    unsuccess_smes: tuple[UnsuccessSme, ...] = ()
    tlvs: tuple[Tlv, ...] = ()
    body_omitted: bool = False

