"""Thin Twisted adapters around a sans-IO `Session`. They make no SMPP decisions.

`SmppConnection` moves bytes between the transport and the session, keeps exactly one timer
armed no later than the session's `deadline()`, turns our requests into Deferreds that fire
with the response, and hands incoming requests to a `SessionHandler`.

The timer: traffic only ever moves the session's deadline *later* (keepalive and inactivity
count from the last PDU; the response timeout counts from the oldest request), except when a
request is sent with none outstanding or the bind state changes (a bound session starts its
keepalive).  So the timer is re-armed then, and when it fires (to the deadline as it is by
then); other PDUs received and answered never touch it.  A timer that fires before anything
is due just re-arms: once per keepalive interval, not once per PDU (`smsc.timer`).

The clock is passed in (the reactor over TCP, a `task.Clock` in the simulator); this module
never imports the reactor.
"""

from __future__ import annotations

from typing import Callable, Mapping, Protocol as TypingProtocol, Union, cast

from twisted.internet import defer, protocol
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from smsc.events import (
    CloseConnection, ConnectionClosed, Event, LateResponse, ProtocolError, RequestReceived, ResponseReceived,
    ResponseTimedOut,
)
from smsc.pdu.codec import Command, Pdu, Tlv, Value
from smsc.pdu.status import status_name
from smsc.session import Session, SessionConfig
from smsc.states import Role, SessionState
from smsc.timer import EarliestCall

log = Logger(namespace="smsc.adapter")

PROTOCOL_ERRORS_LOGGED = 5          # per connection, then one line every ERRORS_LOG_EVERY seconds
ERRORS_LOG_EVERY = 10.0


class ResponseTimeout(Exception):
    """No response within the session's response_timeout."""

    def __init__(self, request: Pdu) -> None:
        super().__init__(f"no response to {request.command.name} seq {request.sequence_number}")
        self.request = request


class ConnectionGone(Exception):
    """The connection closed before the response came."""

    def __init__(self, request: Pdu) -> None:
        super().__init__(f"connection closed before the response to {request.command.name}")
        self.request = request


class Link(TypingProtocol):
    """What the adapter uses of its transport: a stream it writes to and closes (ITCPTransport),
    that takes it as its producer (IConsumer) and whose reading it pauses (IPushProducer).
    Twisted's TCP and TLS transports and `smsc.memory`'s provide all of it; Twisted types
    `Protocol.transport` as a bare ITransport, hence the one cast in `SmppConnection._link`."""

    def getPeer(self) -> IAddress: ...
    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...
    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...


class SessionHandler(TypingProtocol):
    """What an SMPP application (an SMSC, the aggregator, a test ESME) implements."""

    def connection_made(self, conn: SmppConnection) -> None: ...

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        """Answer with conn.respond(pdu, ...), now or later."""

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None: ...


@implementer(IPushProducer)
class SmppConnection(protocol.Protocol):
    """On the SMSC side, also the transport's producer: when the peer does not read what we write and the
    transport's buffer fills, Twisted pauses us, and we stop reading the peer's requests (so
    we stop making answers) until the buffer drains. Output is bounded by the transport's
    buffer plus the answers to one read; input by the framer's `max_pdu` plus one read. A peer
    that leaves our output unread for `unread_timeout` (paused that long, or after we asked
    for the close) is cut off: its bind slot and buffers are not held for it."""

    def __init__(self, session: Session, clock: IReactorTime, handler: SessionHandler,
                 gate: ConnectionGate | None = None) -> None:
        self.session = session
        self.clock = clock
        self.handler = handler
        self.gate = gate
        self.peer = "?"
        self.peer_host = "?"
        self.system_id: str | None = None          # set by the application once bound
        self.bind_id: str | None = None            # the application's name for this bind, once bound
        # told of a request the session made itself (enquire_link) that got no response in time
        self.on_unanswered: Callable[[SmppConnection, Pdu], object] | None = None
        self._admitted = False
        self._abort: IDelayedCall | None = None      # after close(): cut off if it does not happen
        self._stalled: IDelayedCall | None = None    # paused by the transport: cut off if it lasts
        self._protocol_errors = 0
        self._errors_logged_at = 0.0
        self._waiting: dict[int, _Waiting] = {}
        self._timer = EarliestCall(clock, self._on_timer)
        # Inside `_process`, after its first write: what is answered waits in the session and
        # leaves in one write when every event of the read is handled (`_process`).
        self._holding: bool | None = False
        self.reads = 0                              # dataReceived calls so far: what one read did belongs together

    # --- Twisted side --------------------------------------------------------------------

    @property
    def _link(self) -> Link:
        assert self.transport is not None, "used only while connected"
        return cast(Link, self.transport)

    def connectionMade(self) -> None:
        peer = self._link.getPeer()
        self.peer_host = str(getattr(peer, "host", "?"))
        self.peer = f"{self.peer_host}:{getattr(peer, 'port', '?')}"
        if self.gate is not None and not self.gate.admit(self.peer_host):
            self._link.abortConnection()         # over a connection cap: the gate said so in the log
            return
        self._admitted = True
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            # SMPP is request/response with small PDUs: with Nagle's algorithm on, a write
            # that follows an unacknowledged one waits for the peer's delayed ACK (40 ms on
            # Linux), and a pipelining peer then sees 25 rounds a second. Writes are already
            # coalesced per read (`_process`), so segments stay full under load.
            no_delay(True)
        if getattr(self.transport, "carries_pdus", False):
            # The link takes our PDUs as objects, and the peer reads them as such (smsc.memory)
            self.session.keep_pdus()
            # An instance attribute, not a test in _write_pending: that runs per PDU.
            self._write_pending = self._write_pdus      # type: ignore[method-assign]  # see above
        if self.session.role is Role.SMSC:
            # Only the side that serves pauses its reading: were both sides to do it, two
            # peers that pipeline could each wait for the other to read, for ever.
            self._link.registerProducer(self, True)
        self.handler.connection_made(self)
        self._rearm()

    def dataReceived(self, data: bytes) -> None:
        self.reads += 1
        if self._admitted:
            self._process(self.session.receive_data(data, self.clock.seconds()))

    def pdus_received(self, items: list[tuple[Pdu, bytes] | bytes]) -> None:
        """`dataReceived` from a link that carries PDUs as objects (`smsc.memory`, where both
        ends are ours): what the peer's session queued, as (Pdu, bytes) pairs."""
        if self._admitted:
            self._process(self.session.receive_pdus(items, self.clock.seconds()))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._timer.cancel()
        for call in (self._abort, self._stalled):
            if call is not None and call.active():
                call.cancel()
        if not self._admitted:
            return
        self._admitted = False
        if self.gate is not None:
            self.gate.release(self.peer_host)
        if not reason.check(ConnectionDone):
            log.info("{peer} connection lost: {why}", peer=self.peer, why=reason.getErrorMessage())
        for event in self.session.connection_lost():
            self._dispatch(event)

    # --- IPushProducer: the transport's buffer is full (the peer is not reading) -------------

    def pauseProducing(self) -> None:
        log.info("{peer} is not reading what we send: reading from it paused", peer=self.peer)
        self._link.pauseProducing()
        if self._stalled is None:
            self._stalled = self.clock.callLater(self.session.config.unread_timeout, self._cut_off)

    def resumeProducing(self) -> None:
        if self._stalled is not None:
            if self._stalled.active():
                self._stalled.cancel()
            self._stalled = None
        self._link.resumeProducing()

    def stopProducing(self) -> None:
        """The transport is going away; connectionLost follows."""

    # --- application side ----------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self.session.state

    def request(self, command: Command, tlvs: tuple[Tlv, ...] = (), **params: Value) -> defer.Deferred[Pdu]:
        """Send a request; the Deferred fires with the response PDU (which may carry an error
        status or be a generic_nack), or fails with ResponseTimeout / ConnectionGone."""
        waiting: defer.Deferred[Pdu] = defer.Deferred()
        self._send(waiting, command, tlvs, params)
        return waiting

    def request_then(self, answered: Callable[..., object], failed: Callable[..., object],
                     command: Command, tlvs: tuple[Tlv, ...] = (), args: tuple[object, ...] = (),
                     late: Callable[..., object] | None = None, **params: Value) -> None:
        """As `request`, with plain callbacks: ``answered(resp, *args)`` or
        ``failed(Failure(ResponseTimeout | ConnectionGone), *args)``, then, after a timeout,
        ``late(resp, *args)`` if the response still comes.  For the per-message paths
        (submit_sm, deliver_sm), where a Deferred per PDU was a few percent of a replay.  An
        exception raised by a callback is logged, as a Deferred would, and goes no further.
        Raises `Unsendable` (nothing sent, no window slot taken) for a PDU that cannot be sent."""
        self._send((answered, failed, args, late), command, tlvs, params)

    def request_encoded_then(self, answered: Callable[..., object], failed: Callable[..., object],
                             command: Command, params: Mapping[str, Value], tlvs: tuple[Tlv, ...], body: bytes,
                             args: tuple[object, ...] = (), late: Callable[..., object] | None = None) -> None:
        """`request_then` for a request already encoded (`Session.send_encoded`): a receipt
        from its template (the operator SMSC), a deliver_sm the aggregator keeps as bytes in
        its store (encoded once)."""
        first = not self.session.outstanding
        self._sent(self.session.send_encoded(command, self.clock.seconds(), params, tlvs, body),
                   (answered, failed, args, late), first)

    def _send(self, waiting: _Waiting, command: Command, tlvs: tuple[Tlv, ...],
              params: dict[str, Value]) -> None:
        first = not self.session.outstanding
        self._sent(self.session.send_request(command, self.clock.seconds(), tlvs, **params), waiting, first)

    def _sent(self, pdu: Pdu, waiting: _Waiting, first: bool) -> None:
        """A request is queued in the session: remember who waits for its answer, write it."""
        self._waiting[pdu.sequence_number] = waiting
        self._write_soon()
        if first:
            self._rearm()                        # the response timeout may come first now

    def respond(self, request: Pdu, status: int = 0, tlvs: tuple[Tlv, ...] = (), **params: Value) -> None:
        if self.session.state is SessionState.CLOSED:
            return                                   # peer left before we answered: nothing to do
        session = self.session
        state = session.state
        session.respond(request, self.clock.seconds(), status, tlvs, **params)
        self._write_soon()
        if session.state is not state:
            self._rearm()

    def respond_message_id(self, request: Pdu, message_id: str) -> None:
        """`respond(request, message_id=message_id)`, status 0, for a submit_sm, deliver_sm or
        data_sm (`Session.respond_message_id`): an SMSC's answer to each message it takes."""
        session = self.session
        if session.state is SessionState.CLOSED:
            return                                   # peer left before we answered: nothing to do
        session.respond_message_id(request, message_id, self.clock.seconds())
        self._write_soon()                           # a *_resp with a message_id moves no bind state

    def unbind(self) -> defer.Deferred[Pdu]:
        return self.request(Command.unbind)

    def close(self) -> None:
        """Close after what is written has left; a peer that does not read it within the
        response timeout is cut off (its bind slot and memory must not wait on it)."""
        self._write_pending()
        if self.transport is None or self._abort is not None:
            return
        if self._admitted and self.session.role is Role.SMSC:
            self._link.unregisterProducer()     # else Twisted waits for us before closing
        self._link.loseConnection()
        self._abort = self.clock.callLater(self.session.config.unread_timeout, self._cut_off)

    def _cut_off(self) -> None:
        self._abort = self._stalled = None
        log.warn("{peer} left what we sent unread for {seconds:g} s: connection cut", peer=self.peer,
                 seconds=self.session.config.unread_timeout)
        self._link.abortConnection()

    # --- internals -----------------------------------------------------------------------

    def _process(self, events: list[Event]) -> None:
        state = self.session.state
        if len(events) > 1:
            self._holding = None                # the first write goes at once, the rest at the end
            try:
                for event in events:
                    self._dispatch(event)
            finally:
                self._holding = False
        else:
            for event in events:
                self._dispatch(event)
        self._write_pending()
        if self.session.state is not state:
            self._rearm()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self.handler.request_received(self, event.pdu)
        elif isinstance(event, ResponseReceived):
            waiting = self._waiting.pop(event.pdu.sequence_number, None)
            if waiting is not None:
                _answer(waiting, event.pdu)
        elif isinstance(event, ResponseTimedOut):
            seq = event.request.sequence_number
            waiting = self._waiting.pop(seq, None)
            log.warn("{peer} no response to {command} seq {seq}", peer=self.peer,
                     command=event.request.command.name, seq=seq)
            if waiting is not None:
                if isinstance(waiting, tuple) and waiting[3] is not None:
                    self.session.await_late(seq, waiting)       # the session keeps it for the late answer
                _fail(waiting, ResponseTimeout(event.request))
            elif self.on_unanswered is not None:
                self.on_unanswered(self, event.request)
        elif isinstance(event, LateResponse):
            late = event.context
            log.info("{peer} late response to {command} seq {seq}: {status}", peer=self.peer,
                     command=event.request.command.name, seq=event.pdu.sequence_number,
                     status=status_name(event.pdu.command_status))
            if isinstance(late, tuple) and late[3] is not None:
                _answer((late[3], late[3], late[2], None), event.pdu)
        elif isinstance(event, ProtocolError):
            self._protocol_errors += 1
            now = self.clock.seconds()
            if self._protocol_errors <= PROTOCOL_ERRORS_LOGGED or now - self._errors_logged_at >= ERRORS_LOG_EVERY:
                # A client that repeats a fault thousands of times must not flood the log
                # (nor block serve on a full stdout): the first few, then one line every 10 s.
                log.warn("{peer} protocol error: {reason} (answered {status}; {n} from this connection)",
                         peer=self.peer, reason=event.reason, status=status_name(event.answer_status),
                         n=self._protocol_errors)
                self._errors_logged_at = now
        elif isinstance(event, CloseConnection):
            log.info("{peer} closing: {reason}", peer=self.peer, reason=event.reason)
            self.close()
        elif isinstance(event, ConnectionClosed):
            # The application hears of the loss first, so that what it does about the failed
            # requests (send them again) does not pick this connection.
            self.handler.connection_lost(self, event)
            for request in event.unanswered:
                waiting = self._waiting.pop(request.sequence_number, None)
                if waiting is not None:
                    _fail(waiting, ConnectionGone(request))

    def hold_writes(self) -> bool:
        """From now until `release_writes`, what the session queues leaves in one write at the
        release, after a first write that goes at once (as the answers to one read do,
        `_write_soon`): for an owner sending many requests from one clock call (an SMSC's
        receipts of one batch of fates). False, and nothing to release, when already held."""
        if self._holding is not False:
            return False
        self._holding = None
        return True

    def release_writes(self) -> None:
        """End `hold_writes`: write what is queued."""
        self._holding = False
        self._write_pending()

    def _write_soon(self) -> None:
        """Write what the session has queued, except inside `_process` after its first write:
        then the answers to one read leave together at its end, one transport write instead of
        one per PDU. The first write still goes at once, so that on an in-memory link (whose
        writes at one instant travel together, `smsc.memory`) the delivery is scheduled on the
        clock exactly where it was when every PDU was written on its own: same calls, same
        order, same replay."""
        holding = self._holding
        if holding:
            return
        if holding is None:
            self._holding = True
        self._write_pending()

    def _write_pending(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)              # per PDU: no _link property on this path

    def _write_pdus(self) -> None:
        """_write_pending on a link that carries PDUs as objects (see connectionMade)."""
        items = self.session.pdus_to_send()
        if items and self.transport is not None:
            self.transport.write_pdus(items)        # type: ignore[attr-defined]  # carries_pdus

    def _rearm(self) -> None:
        """Keep the one timer no later than the session's deadline (see the module docstring)."""
        at = self.session.deadline()
        if at is None:
            self._timer.cancel()
        else:
            self._timer.at(at)

    def _on_timer(self) -> None:
        self._process(self.session.handle_timer(self.clock.seconds()))
        self._rearm()


# Who waits for a response: a Deferred (`request`) or (answered, failed, args, late) (`request_then`).
_Waiting = Union["defer.Deferred[Pdu]", tuple[Callable[..., object], Callable[..., object], tuple[object, ...],
                                               Callable[..., object] | None]]


def _answer(waiting: _Waiting, resp: Pdu) -> None:
    if isinstance(waiting, tuple):
        try:
            waiting[0](resp, *waiting[2])
        except Exception:                        # noqa: BLE001 - as an unhandled Deferred error
            log.failure("response handler failed for {command}", command=resp.command.name)
    else:
        waiting.callback(resp)


def _fail(waiting: _Waiting, error: Exception) -> None:
    if isinstance(waiting, tuple):
        try:
            waiting[1](Failure(error), *waiting[2])
        except Exception:                        # noqa: BLE001 - as an unhandled Deferred error
            log.failure("failure handler failed: {error}", error=error)
    else:
        waiting.errback(error)


class ConnectionGate:
    """Caps on the connections of one listener: `max_total` at once, `max_per_address` from one
    source address. A connection over a cap is closed as soon as it is accepted, and the log
    says so (once, then a count every `LOG_EVERY` seconds): a client that opens sockets by the
    thousand cannot lock the others out, nor run the process out of file descriptors."""

    LOG_EVERY = 10.0

    def __init__(self, clock: IReactorTime, max_total: int, max_per_address: int) -> None:
        self.clock = clock
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.total = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0
        self._refused_since_log = 0
        self._logged_at: float | None = None

    def admit(self, host: str) -> bool:
        here = self.by_address.get(host, 0)
        if self.total >= self.max_total:
            why = f"{self.total} connections (limit {self.max_total})"
        elif here >= self.max_per_address:
            why = f"{here} connections from that address (limit {self.max_per_address})"
        else:
            self.total += 1
            self.by_address[host] = here + 1
            return True
        self.refused += 1
        self._refused_since_log += 1
        now = self.clock.seconds()
        if self._logged_at is None or now - self._logged_at >= self.LOG_EVERY:
            log.warn("refusing connections: {why}; {n} refused from {host} and others since the last such line",
                     why=why, n=self._refused_since_log, host=host)
            self._logged_at = now
            self._refused_since_log = 0
        return False

    def release(self, host: str) -> None:
        self.total -= 1
        left = self.by_address.get(host, 1) - 1
        if left > 0:
            self.by_address[host] = left
        else:
            self.by_address.pop(host, None)


class SmppFactory(protocol.Factory):
    """Builds one SmppConnection per TCP connection, all sharing one handler (and one
    ConnectionGate, when given)."""

    noisy = False                                  # our own log lines say who connects

    def __init__(self, clock: IReactorTime, role: Role, handler: SessionHandler,
                 config: SessionConfig | None = None, gate: ConnectionGate | None = None) -> None:
        self.clock = clock
        self.role = role
        self.handler = handler
        self.config = config or SessionConfig.for_role(role)
        self.gate = gate

    def buildProtocol(self, addr: object) -> SmppConnection:
        return SmppConnection(Session(self.role, self.config, self.clock.seconds()), self.clock, self.handler,
                              self.gate)
