"""One SMPP 3.4 session, SMSC or ESME side, with no I/O (the h11 / aioquic pattern).

Bytes in -> events out (`receive_data`); requests and responses in -> bytes queued
(`send_request`, `respond`, then `data_to_send`). Time arrives as `now` (float seconds from
any clock); `deadline()` says when `handle_timer(now)` must next be called. The same object
runs over TCP (smsc/adapter.py) and inside the deterministic simulator.

What the session does on its own, because the spec leaves no choice:
- answers enquire_link and unbind (§4.11, §4.2), then asks for the close after unbind;
- answers a PDU whose command_id is unknown or whose header is unreadable with generic_nack
  carrying the same sequence_number (§2.7, §4.3), and goes on;
- answers a known request with a malformed body with its own *_resp carrying the status of
  the faulty field (e.g. ESME_RINVCMDLEN for a truncated body), and goes on;
- answers a request that the bind state forbids with ESME_RINVBNDSTS / ESME_RALYBND;
- asks for the close when the stream cannot be framed any more (command_length < 16 or above
  the maximum): no resynchronisation is possible, and only this connection is affected;
- sends enquire_link after `enquire_link_interval` without traffic, and asks for the close
  after `inactivity_timeout` without anything received;
- on the SMSC side, asks for the close of a connection still unbound `bind_timeout` after it
  opened, and frames at most `unbound_max_pdu` octets before the bind (a bind is ~100), so an
  idle or half-sent connection holds neither a slot nor memory for long;
- asks for the close when a PDU that has started to arrive is still incomplete
  `frame_timeout` later (a peer that stops mid-PDU, or trickles one in);
- answers ESME_RTHROTTLED to a request that would make more than `max_unanswered` of the
  peer's requests wait for our answer (a peer pipelining past any sane window);
- answers a request that has no response (outbind, alert_notification) from a peer that may
  not send it with generic_nack ESME_RINVCMDID;
- numbers its requests 1..0x7FFFFFFF, wrapping, never reusing a number still awaiting a
  response or recently timed out; keeps at most `window` requests outstanding; times them out
  after `response_timeout`, and remembers the last `LATE_MEMORY` that timed out, so that a
  response arriving after its timeout is reported (`LateResponse`, with what the owner asked
  it to keep for that request: `await_late`), not lost;
- refuses to send a PDU it cannot encode or that is larger than `max_pdu` (`Unsendable`),
  without taking a window slot: one bad message never blocks the session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Mapping

from smsc import states
from smsc.events import (
    CloseConnection, ConnectionClosed, Event, LateResponse, ProtocolError, RequestReceived,
    ResponseReceived, ResponseTimedOut,
)
from smsc.pdu.codec import (
    HAS_RESPONSE, HEADER, MAX_SEQUENCE, MESSAGE_ID_RESPONSE, Command, DecodeFailed, Pdu, Tlv, Value, decode, encode, encode_message_id_response,
    _new_pdu, generic_nack, make, response_to,
)
from smsc.pdu.framing import DEFAULT_MAX_PDU, FrameError, Framer
from smsc.pdu.status import CommandStatus
from smsc.states import LocalProtocolError, Role, SessionState


def as_decoded(pdu: Pdu) -> Pdu | None:
    """What decoding `pdu`'s own bytes gives back, when it can be told without decoding, so a
    link may hand the PDU over as an object (`Session.receive_pdus`); None: decode the bytes.
    It is `pdu` itself when the command is one of the `OBJECT_COMMANDS` and every value has the
    decoder's own type: parameters of exact int (not an IntEnum such as `Ton`), exact bytes, or
    str without NUL (a NUL would end the C-string early on the wire); TLVs of exact bytes. A
    TLV whose tag is a `Tag` member (equal to the decoded int, but not the same value) makes
    a copy with int tags, as the decoder would. The encoder already refused what does not fit
    (lengths, octet ranges)."""
    if pdu.command not in OBJECT_COMMANDS:
        return None
    for value in pdu.params.values():
        if type(value) is int or type(value) is bytes:
            continue
        if type(value) is not str or "\x00" in value:
            return None
    tlvs = pdu.tlvs
    if not tlvs:
        return pdu
    plain = True
    for tlv in tlvs:
        if type(tlv.value) is not bytes:
            return None
        if type(tlv.tag) is not int:
            plain = False
    if plain:
        return pdu
    return Pdu(pdu.command, pdu.sequence_number, pdu.command_status, pdu.params,
               tuple(Tlv(int(tlv.tag), tlv.value) for tlv in tlvs))


def _hand_over_table(role: Role) -> dict[SessionState, frozenset[Command]]:
    """State -> the requests `_receive_pdu` simply hands to the owner in it (RequestReceived,
    counted in max_unanswered): allowed from the peer in that state, with a response, and not
    answered by the session itself (enquire_link, unbind)."""
    return {state: frozenset(command for command in HAS_RESPONSE
                             if command not in (Command.enquire_link, Command.unbind)
                             and states.may_receive(role, state, command))
            for state in SessionState}


_HAND_OVER = {role: _hand_over_table(role) for role in Role}
_SET_REQUEST_PDU = RequestReceived.__dict__["pdu"].__set__


def _request_received(pdu: Pdu, _new: Callable[[type[RequestReceived]], RequestReceived] = object.__new__,
                      _set: Callable[[RequestReceived, Pdu], None] = _SET_REQUEST_PDU) -> RequestReceived:
    """RequestReceived(pdu), without the frozen dataclass's `object.__setattr__` (as `codec._new_pdu`)."""
    event = _new(RequestReceived)
    _set(event, pdu)
    return event


class Unsendable(LocalProtocolError):
    """This one PDU cannot be sent: a value cannot be encoded, or the PDU is larger than
    `max_pdu` (the peer would drop the link as unframable). The message is at fault, not the
    session: nothing was queued and no window slot was taken."""


NEVER = float("inf")            # a timer that is not running
# Commands a link may hand over as objects (receive_pdus): those whose bytes the codec's fast
# reader decodes, i.e. the per-message traffic; everything else is decoded from its bytes.
OBJECT_COMMANDS = frozenset({Command.submit_sm, Command.submit_sm_resp, Command.deliver_sm,
                              Command.deliver_sm_resp, Command.enquire_link, Command.enquire_link_resp})
# MESSAGE_ID_RESPONSE as a dict: the request -> *_resp lookup of every answered message
_MESSAGE_ID_RESPONSE: dict[Command, Command] = dict(MESSAGE_ID_RESPONSE)
_HEADER_PACK = HEADER.pack
LATE_MEMORY = 256               # timed-out requests remembered for their late responses
UNBOUND_MAX_PDU = 512           # a bind is at most ~100 octets; enquire_link 16


@dataclass(frozen=True, slots=True)
class SessionConfig:
    max_pdu: int = DEFAULT_MAX_PDU
    window: int = 10                         # outstanding requests we may have
    response_timeout: float = 30.0
    enquire_link_interval: float | None = 30.0
    inactivity_timeout: float | None = 300.0
    frame_timeout: float | None = 10.0       # a PDU begun must be whole within this
    max_unanswered: int = 5000               # peer's requests awaiting our answer; ESME_RTHROTTLED beyond
    bind_timeout: float | None = None        # SMSC side: close a connection not bound within this
    unbound_max_pdu: int | None = None       # SMSC side: largest PDU before the bind
    unread_timeout: float = 30.0             # (adapter) a peer leaving our output unread this long is cut off

    @classmethod
    def for_role(cls, role: Role) -> SessionConfig:
        """The defaults for a side: an ESME probes an idle link after 30 s, an SMSC after 60 s.
        Both may send enquire_link (§4.11); with these, an ESME that keeps its link alive keeps
        the SMSC's probe from ever firing, so an idle link carries one probe per 30 s, not two.
        An SMSC closes a connection not bound within 10 s, and frames at most 512 octets before
        the bind (docs/reliability.md)."""
        if role is Role.ESME:
            return cls()
        return cls(enquire_link_interval=60.0, bind_timeout=10.0, unbound_max_pdu=UNBOUND_MAX_PDU)


@dataclass(slots=True)
class _Pending:
    request: Pdu
    sent_at: float


class Session:
    def __init__(self, role: Role, config: SessionConfig = SessionConfig(), now: float = 0.0) -> None:
        self.role = role
        self.config = config
        self.state = SessionState.OPEN
        limit = config.unbound_max_pdu if role is Role.SMSC and config.unbound_max_pdu else config.max_pdu
        self._framer = Framer(limit)
        self._out: list[bytes] = []
        self._out_pdus: list[Pdu] | None = None     # the same PDUs as objects, for keep_pdus()
        self._pending: dict[int, _Pending] = {}       # insertion order == send order == timeout order
        # the last LATE_MEMORY requests that timed out, each with its owner's context (await_late)
        self._timed_out: dict[int, tuple[Pdu, object]] = {}
        self._next_seq = 1
        self._last_received = now
        self._last_sent = now
        self._opened_at = now
        self._partial_since: float | None = None    # when the incomplete PDU in the framer began
        self._unanswered = 0                        # peer's requests we have not answered yet
        self._max_unanswered = config.max_unanswered
        self._closing = False                       # a CloseConnection was emitted: no more timers
        self._hand_over = _HAND_OVER[role]

    # --- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the peer; b"" means the peer closed."""
        if not data:
            return self.connection_lost()
        events: list[Event] = []
        self._last_received = now
        framer = self._framer
        frames = framer.feed(data)
        receive_pdu = self._receive_pdu
        for frame in frames:
            if isinstance(frame, FrameError):
                events.append(ProtocolError(0, 0, 0, frame.reason))
                events.append(self._close(frame.reason))
                break
            pdu = decode(frame)                     # _receive_frame, inline: it runs per PDU
            if isinstance(pdu, DecodeFailed):
                self._answer_failure(pdu, now, events)
            else:
                receive_pdu(pdu, now, events)
        if framer.pending:
            if frames or self._partial_since is None:
                self._partial_since = now           # a new PDU has begun
        elif self._partial_since is not None:
            self._partial_since = None
        return events

    def _receive_frame(self, frame: bytes, now: float, events: list[Event]) -> None:
        pdu = decode(frame)
        if isinstance(pdu, DecodeFailed):
            self._answer_failure(pdu, now, events)
            return
        self._receive_pdu(pdu, now, events)

    def _receive_pdu(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        command = pdu.command
        if command in self._hand_over[self.state]:
            # The common case first (every submit_sm, deliver_sm): a request the state allows,
            # with a response, that the owner answers: the branch at the end, in one lookup.
            if self._unanswered < self._max_unanswered:
                self._unanswered += 1
                events.append(_request_received(pdu))
                return
        if command.is_response:
            self._receive_response(pdu, events)
        elif command is Command.enquire_link:
            self._queue(response_to(pdu), now)
        elif not states.may_receive(self.role, self.state, command):
            if command in HAS_RESPONSE:
                status = states.refusal_status(self.state, command)
                self._queue(response_to(pdu, status), now)
                why = f"{command.name} not allowed in state {self.state.value}"
            else:                                    # outbind, alert_notification: no *_resp exists
                status = CommandStatus.ESME_RINVCMDID
                self._queue(generic_nack(pdu.sequence_number, status), now)
                why = f"{command.name} not accepted from this peer"
            events.append(ProtocolError(command, pdu.sequence_number, status, why))
        elif command is Command.unbind:
            self.state = states.after_received(self.state, command)
            self._queue(response_to(pdu), now)
            events.append(self._close("unbind received"))
        elif command in HAS_RESPONSE:
            if self._unanswered >= self._max_unanswered:
                self._queue(response_to(pdu, CommandStatus.ESME_RTHROTTLED), now)
                events.append(ProtocolError(command, pdu.sequence_number, CommandStatus.ESME_RTHROTTLED,
                                            f"{self._unanswered} requests already wait for an answer"))
                return
            self._unanswered += 1
            events.append(RequestReceived(pdu))
        else:                                        # alert_notification to an ESME: nothing to answer
            events.append(RequestReceived(pdu))

    def _answer_failure(self, failed: DecodeFailed, now: float, events: list[Event]) -> None:
        command = failed.command
        if command is not None and command.is_response:
            answer = 0                               # never answer a response (§2.7)
        elif command is None or command not in HAS_RESPONSE:    # generic_nack, outbind, alert_notification
            self._queue(generic_nack(failed.sequence_number, failed.status), now)
            answer = failed.status
        else:
            self._queue(response_to(make(command, failed.sequence_number), failed.status), now)
            answer = failed.status
        events.append(ProtocolError(failed.command_id, failed.sequence_number, answer, failed.reason))

    def _receive_response(self, pdu: Pdu, events: list[Event]) -> None:
        pending = self._pending.pop(pdu.sequence_number, None)
        if pending is None:
            late = self._timed_out.pop(pdu.sequence_number, None)
            if late is not None:
                events.append(LateResponse(pdu, *late))
                return
            events.append(ProtocolError(pdu.command, pdu.sequence_number, 0,
                                        f"{pdu.command.name} answers no request of ours"))
            return
        self.state = states.after_received(self.state, pdu.command, pdu.command_status)
        events.append(ResponseReceived(pdu, pending.request, pending.sent_at))
        if pdu.command is Command.unbind_resp:
            events.append(self._close("unbind acknowledged"))

    def _close(self, reason: str) -> CloseConnection:
        self._closing = True
        return CloseConnection(reason)

    def connection_lost(self) -> list[Event]:
        if self.state is SessionState.CLOSED:
            return []
        clean = self.state is SessionState.UNBOUND
        self.state = states.after_close(self.state)
        unanswered = tuple(p.request for p in self._pending.values())
        self._pending.clear()
        return [ConnectionClosed(clean, unanswered)]

    # --- output ------------------------------------------------------------------------

    @property
    def window_available(self) -> int:
        return self.config.window - len(self._pending)

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    @property
    def unanswered(self) -> int:
        """The peer's requests handed to the owner and not answered yet."""
        return self._unanswered

    @property
    def closing(self) -> bool:
        """The session asked for the close (a CloseConnection: unbind, inactivity, a broken stream)."""
        return self._closing

    @property
    def last_received(self) -> float:
        """When the peer last sent anything (the `now` of the last `receive_data`)."""
        return self._last_received

    def send_request(self, command: Command, now: float, tlvs: tuple[Tlv, ...] = (),
                     **params: Value) -> Pdu:
        """Number, record and queue a request. Raises LocalProtocolError if the state forbids it
        or the window is full (callers check `window_available` and queue)."""
        self._check_may_send(command)
        try:
            pdu = make(command, self._take_seq(), 0, tlvs, **params)
            data = encode(pdu)
        except (ValueError, OverflowError, struct.error) as error:
            raise Unsendable(f"{command.name} cannot be encoded: {error}") from None
        return self._queue_request(pdu, data, now)

    def send_encoded(self, command: Command, now: float, params: Mapping[str, Value], tlvs: tuple[Tlv, ...],
                     body: bytes) -> Pdu:
        """`send_request(command, now, tlvs, **params)` for a request its caller has encoded
        from a template: `params` complete, in layout order (what `make` gives), and `body`
        the very bytes `encode` writes after the header (the caller's tests show it; e.g.
        `smsc.pdu.receipt.receipt_deliver_sm`). Only the header is packed here, with the
        sequence number; the same checks and bookkeeping as `send_request` otherwise."""
        self._check_may_send(command)
        seq = self._take_seq()                      # taken before the size check, as send_request does
        return self._queue_request(_new_pdu(command, seq, 0, params, tlvs),
                                   _HEADER_PACK(16 + len(body), command, 0, seq) + body, now)

    def _check_may_send(self, command: Command) -> None:
        """LocalProtocolError when the state forbids sending `command` or the window is full."""
        if not states.may_send(self.role, self.state, command):
            raise LocalProtocolError(f"{self.role.value} may not send {command.name} in state {self.state.value}")
        if len(self._pending) >= self.config.window:
            raise LocalProtocolError(f"window of {self.config.window} outstanding requests is full")

    def _queue_request(self, pdu: Pdu, data: bytes, now: float) -> Pdu:
        """Record and queue a numbered request encoded as `data`; Unsendable (nothing queued)
        when it is larger than the link's maximum."""
        if len(data) > self.config.max_pdu:
            raise Unsendable(f"{pdu.command.name} of {len(data)} octets is above the {self.config.max_pdu}-octet "
                             "maximum of the link")
        self.state = states.after_sent(self.role, self.state, pdu.command)
        self._pending[pdu.sequence_number] = _Pending(pdu, now)
        self._out.append(data)
        if self._out_pdus is not None:
            self._out_pdus.append(pdu)
        self._last_sent = now
        return pdu

    def respond(self, request: Pdu, now: float, status: int = 0, tlvs: tuple[Tlv, ...] = (),
                **params: Value) -> None:
        """Queue the response to a request we received; a successful bind_*_resp binds."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("session is closed")
        message_id = params.get("message_id") if not tlvs and len(params) == 1 else None
        if isinstance(message_id, str) and self._answered_with_id(request, int(status), message_id, now):
            return
        if request.command not in HAS_RESPONSE:
            raise LocalProtocolError(f"{request.command.name} has no response")
        pdu = response_to(request, status, tlvs, **params)
        state = self.state
        self._queue(pdu, now)
        if self.state is not state and states.is_bound(self.state):
            self._framer.max_pdu = self.config.max_pdu           # bound: full-size PDUs from now
        if self._unanswered:
            self._unanswered -= 1

    def respond_message_id(self, request: Pdu, message_id: str, now: float) -> None:
        """`respond(request, now, message_id=message_id)` for a submit_sm, deliver_sm or
        data_sm: the answer an SMSC gives each message it takes, in one call (no keyword
        mapping, no table walk), as bytes from the header. Anything unusual takes `respond`."""
        if self.state is SessionState.CLOSED or not self._answered_with_id(request, 0, message_id, now):
            self.respond(request, now, message_id=message_id)

    def _answered_with_id(self, request: Pdu, status: int, message_id: str, now: float) -> bool:
        """The answer to each submit_sm (deliver_sm, data_sm) an SMSC takes: bytes from a
        header and the id, no Pdu built (the hot path); a *_resp with a message_id moves no
        bind state. False, nothing queued, for what takes the general path: another command,
        an id the fast encoder does not take, or a link that carries PDUs as objects
        (keep_pdus: that one wants the Pdu)."""
        answer = _MESSAGE_ID_RESPONSE.get(request.command)
        if answer is None or self._out_pdus is not None:
            return False
        data = encode_message_id_response(answer, request.sequence_number, status, message_id)
        if data is None:
            return False
        self._out.append(data)
        self._last_sent = now
        if self._unanswered:
            self._unanswered -= 1
        return True

    def await_late(self, sequence_number: int, context: object) -> None:
        """Keep `context` with a request that has timed out (`ResponseTimedOut`), for the
        `LateResponse` that may still come: the session's memory of timed-out requests is the
        only one, so its owner keeps none of its own."""
        late = self._timed_out.get(sequence_number)
        if late is not None:
            self._timed_out[sequence_number] = (late[0], context)

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self._out_pdus:
            self._out_pdus.clear()
        return data

    # --- links that carry PDUs as objects (smsc/memory.py, in replays) ---------------------
    # Where both ends of a link are ours, the bytes would only be framed and decoded back into
    # the Pdu the sender already holds. The sender still encodes each PDU (it is what checks
    # that the PDU can be sent: Unsendable, max_pdu), and hands the link (Pdu, bytes) pairs;
    # the receiver takes the Pdu through the same bookkeeping as a decoded frame
    # (`_receive_pdu`), and reads the bytes instead whenever the byte path could differ.

    def keep_pdus(self) -> None:
        """Keep every queued PDU as an object too, for `pdus_to_send` instead of `data_to_send`."""
        if self._out_pdus is None:
            self._out_pdus = []

    def pdus_to_send(self) -> list[tuple[Pdu, bytes]]:
        """What `data_to_send` would give, as (Pdu, its bytes) pairs, in order (after
        `keep_pdus`)."""
        pdus = self._out_pdus
        out = self._out
        if not out or pdus is None:
            return []
        items = list(zip(pdus, out))
        pdus.clear()
        out.clear()
        return items

    def receive_pdus(self, items: list[tuple[Pdu, bytes] | bytes], now: float) -> list[Event]:
        """`receive_data` for what a peer's `pdus_to_send` gave (and any raw bytes written in
        between, in order), with the same result: the events of the frames those bytes make.
        A Pdu is taken as it is only when decoding its bytes would give that very value
        (`as_decoded`), nothing is half-framed and it fits the current `max_pdu`; otherwise its
        bytes are decoded (or the whole batch is framed, as bytes)."""
        framer = self._framer
        if framer.pending:
            return self.receive_data(b"".join(item if isinstance(item, bytes) else item[1] for item in items), now)
        limit = framer.max_pdu
        events: list[Event] = []
        self._last_received = now
        for index, item in enumerate(items):
            if isinstance(item, bytes) or len(item[1]) > limit:
                # The rest as bytes: the framer is empty here, so it frames them exactly as
                # it would have framed the whole batch past the PDUs already taken.
                rest = b"".join(chunk if isinstance(chunk, bytes) else chunk[1] for chunk in items[index:])
                events.extend(self.receive_data(rest, now))
                return events
            pdu = as_decoded(item[0])
            if pdu is None:
                self._receive_frame(item[1], now, events)
            else:
                self._receive_pdu(pdu, now, events)
        if self._partial_since is not None:
            self._partial_since = None               # as receive_data: nothing is half-framed
        return events

    def _queue(self, pdu: Pdu, now: float) -> None:
        """Queue a response (ours or the session's own answer); the table says what it does
        to the bind state."""
        self.state = states.after_sent(self.role, self.state, pdu.command, pdu.command_status)
        self._out.append(encode(pdu))
        if self._out_pdus is not None:
            self._out_pdus.append(pdu)
        self._last_sent = now

    def _take_seq(self) -> int:
        seq = self._next_seq
        while seq in self._pending or seq in self._timed_out:
            seq = 1 if seq >= MAX_SEQUENCE else seq + 1
        self._next_seq = 1 if seq >= MAX_SEQUENCE else seq + 1
        return seq

    # --- time --------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """The next instant `handle_timer` has work to do, or None: the earliest of `_dues()`."""
        if self._closing or self.state is SessionState.CLOSED:
            return None
        at = min(self._dues())
        return None if at == NEVER else at

    def _dues(self) -> tuple[float, float, float, float, float]:
        """When each timer is due (`NEVER` for one not running): the only place they are
        computed, for `deadline` and `handle_timer` alike. (inactivity, frame, bind, response,
        keepalive): nothing received for `inactivity_timeout`; a PDU begun `frame_timeout`
        ago still incomplete; not bound `bind_timeout` after the connection opened; the
        oldest request without a response for `response_timeout`; and, bound with window
        room, nothing either way for `enquire_link_interval`. (Written inline: it runs on
        most PDUs.)"""
        cfg = self.config
        timeout = cfg.inactivity_timeout
        inactivity = NEVER if timeout is None else self._last_received + timeout
        timeout = cfg.frame_timeout
        since = self._partial_since
        frame = NEVER if since is None or timeout is None else since + timeout
        timeout = cfg.bind_timeout
        bind = NEVER if timeout is None or self.state is not SessionState.OPEN else self._opened_at + timeout
        pending = self._pending
        response = next(iter(pending.values())).sent_at + cfg.response_timeout if pending else NEVER
        interval = cfg.enquire_link_interval
        if interval is None or len(pending) >= cfg.window or not states.is_bound(self.state):
            keepalive = NEVER
        else:
            last = self._last_sent if self._last_sent > self._last_received else self._last_received
            keepalive = last + interval
        return inactivity, frame, bind, response, keepalive

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self._closing or self.state is SessionState.CLOSED:
            return events
        cfg = self.config
        while True:
            inactivity, frame, bind, response, keepalive = self._dues()
            if now < response:
                break
            seq, oldest = next(iter(self._pending.items()))
            del self._pending[seq]
            self._timed_out[seq] = (oldest.request, None)
            if len(self._timed_out) > LATE_MEMORY:
                del self._timed_out[next(iter(self._timed_out))]
            events.append(ResponseTimedOut(oldest.request))
        if now >= inactivity:
            events.append(self._close(f"nothing received for {cfg.inactivity_timeout:g} s"))
            return events
        if now >= bind:
            events.append(self._close(f"not bound within {cfg.bind_timeout:g} s"))
            return events
        if now >= frame:
            begun = self._partial_since
            assert begun is not None                    # as _dues says
            events.append(self._close(f"a PDU begun {now - begun:g} s ago is still incomplete "
                                      f"({self._framer.pending} octets)"))
            return events
        if now >= keepalive:
            self.send_request(Command.enquire_link, now)
        return events
