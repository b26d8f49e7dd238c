"""In-memory SMPP links whose bytes travel on a clock: the whole stack without sockets.

`MemoryNetwork.listen` and `MemoryNetwork.dial` have the shapes of `aggregator.harness`'s
`tcp_listen(reactor)` and `tcp_dial(reactor)`, so `start_harness` wires the same operator
SMSCs, pools and client server over them as over TCP, and the protocol code
(`SmppConnection`, `Session`, `ClientService`) cannot tell the difference. With a
`task.Clock`, a day of traffic replays in milliseconds, and the same calls give the same
bytes at the same clock times, every run.

Rules of this module (they are what makes a replay deterministic):

1. Nothing happens inside the call that caused it. Connecting, each `write`, a close and a
   refusal are `callLater` calls on the injected clock, even with `latency` 0, so no protocol
   is re-entered from its own `write` and everything runs in `clock.advance()`.
2. Bytes keep their order per direction whatever the clock does with calls due at the same
   time: each direction of a link is a FIFO, and every scheduled delivery takes the head.
   Across directions and links, order is the clock's (for `task.Clock`: by time, then by the
   order of the `callLater` calls). Writes due at the same time on one direction travel
   together, as TCP coalesces segments: the peer gets them in one `dataReceived` call, and
   a burst of PDUs costs one clock call, not one per PDU.
3. `loseConnection` behaves as a FIN: data already written (by either side) that is due by
   the time the close arrives, `latency` later, is delivered first; then both protocols get
   `connectionLost(ConnectionDone)`, the side that closed first. Data due later, and writes
   after the close or by a side that asked for it, are dropped, as bytes after a FIN are.
   `abortConnection` is a reset: nothing in flight arrives, and both sides learn it on the
   next clock turn (`ConnectionAborted` for the aborting side, `ConnectionLost` for the peer).
4. Port numbers are counters (listening ports from 10000, client ports from 40000), never
   taken from the OS, so addresses in logs and stores are the same every run. A port is
   used by one listener whatever the host.
5. No global reactor: the network is given its clock. An exception raised by a protocol is
   a bug and propagates out of `clock.advance()` where a test sees it; nothing is swallowed.
6. With `objects=True` (replays), a link whose receiving protocol has `pdus_received` (an
   `smsc.adapter.SmppConnection`) carries what the sending session queued as (Pdu, bytes)
   pairs (`MemoryTransport.write_pdus`): the receiver skips framing and decoding for the
   per-message PDUs and reads the bytes for anything else (`Session.receive_pdus`). The pairs
   travel in the same FIFO, on the same clock calls, as the bytes would: a replay gives the
   same report either way (tests/integration/test_scenario_run.py runs both).

Driving a `task.Clock`: `clock.advance(n)` moves the time by `n` first and then runs every
call due, so a call made by one of them is scheduled from the *end* of the step: a chain of
latencies and delays (submit -> resp -> receipt) stretches to one step per link. `run_until`
stops at each scheduled call's own time instead, so every call sees the clock reading it was
scheduled for, whatever the step a test or a replay uses.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any, Callable, Iterable, TypeVar

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import (
    CannotListenError, ConnectionAborted, ConnectionDone, ConnectionLost, ConnectionRefusedError,
    NoProtocol,
)
from twisted.internet.interfaces import (
    IAddress, IConsumer, IDelayedCall, IListeningPort, IProtocol, IProtocolFactory, IProducer, IReactorTime, IStreamClientEndpoint, ITransport,
)
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import implementer

from smsc.pdu.codec import Pdu, decode
from smsc.session import as_decoded
from smsc.virtualclock import VirtualClock

__all__ = ["MemoryNetwork", "MemoryTransport", "MemoryListeningPort", "MemoryClientEndpoint", "run_until", "next_due"]

FIRST_LISTEN_PORT = 10000
FIRST_CLIENT_PORT = 40000
CLIENT_HOST = "127.0.0.1"          # where every in-memory client appears to come from
_ANY_HOST = frozenset({"", "0.0.0.0"})


class MemoryNetwork:
    """Listeners and links of one simulated network, all driven by one clock.

    `latency` (seconds, >= 0) is the one-way delay of every write, connection set-up and
    close. 0 still goes through the clock (rule 1)."""

    def __init__(self, clock: IReactorTime, latency: float = 0.0, objects: bool = False) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        self.clock = clock
        self.latency = latency
        self.objects = objects              # links carry PDUs as objects where both ends can (rule 6)
        self._listeners: dict[int, MemoryListeningPort] = {}
        self._next_listen_port = FIRST_LISTEN_PORT
        self._next_client_port = FIRST_CLIENT_PORT

    # --- the aggregator.harness Listen / Dial shapes -----------------------------------------

    def listen(self, host: str, port: int, factory: IProtocolFactory) -> defer.Deferred[IListeningPort]:
        """Listen on `host:port` (0 = the next free number from 10000). Fires at once, as
        nothing needs to travel; a port already in use fails with CannotListenError."""
        if port == 0:
            port = self._free_port()
        elif port in self._listeners:
            return defer.fail(CannotListenError(host, port, OSError(errno.EADDRINUSE, "address already in use")))
        listening = MemoryListeningPort(self, IPv4Address("TCP", host, port), factory)
        self._listeners[port] = listening
        factory.doStart()                      # what a TCP Port does in startListening
        return defer.succeed(listening)

    def dial(self, host: str, port: int, source_host: str = CLIENT_HOST) -> MemoryClientEndpoint:
        """An endpoint that connects to whatever listens on `port` when the connection is made
        (not when the endpoint is built), as a TCP endpoint does: ClientService reuses it.
        `source_host` is the address its connections come from (a TCP endpoint's bindAddress)."""
        return MemoryClientEndpoint(self, host, port, source_host)

    # --- used by the endpoint and the ports -------------------------------------------------

    @property
    def listening_ports(self) -> tuple[int, ...]:
        """Ports listened on now, ascending (for tests and logs)."""
        return tuple(sorted(self._listeners))

    def _free_port(self) -> int:
        while self._next_listen_port in self._listeners:
            self._next_listen_port += 1
        port = self._next_listen_port
        self._next_listen_port += 1
        return port

    def _client_address(self, host: str = CLIENT_HOST) -> IPv4Address:
        port = self._next_client_port
        self._next_client_port += 1
        return IPv4Address("TCP", host, port)

    def _listener(self, host: str, port: int) -> MemoryListeningPort | None:
        listening = self._listeners.get(port)
        if listening is None or (listening.address.host not in _ANY_HOST and listening.address.host != host):
            return None
        return listening

    def _stopped(self, port: MemoryListeningPort) -> None:
        if self._listeners.get(port.address.port) is port:
            del self._listeners[port.address.port]


@implementer(IListeningPort)
class MemoryListeningPort:
    """A listening port: accepted links outlive it, as TCP connections outlive their socket."""

    def __init__(self, network: MemoryNetwork, address: IPv4Address, factory: IProtocolFactory) -> None:
        self._network = network
        self.address = address
        self.factory = factory
        self.listening = True

    def startListening(self) -> None:
        """Already listening once `MemoryNetwork.listen` returned."""

    def stopListening(self) -> defer.Deferred[None]:
        """Stop accepting; fires at once, so a shutdown never waits on a clock nobody moves."""
        if self.listening:
            self.listening = False
            self._network._stopped(self)
            self.factory.doStop()
        return defer.succeed(None)

    def getHost(self) -> IPv4Address:
        return self.address

    def __repr__(self) -> str:
        return f"<MemoryListeningPort {self.address.host}:{self.address.port}{'' if self.listening else ' stopped'}>"


@implementer(IStreamClientEndpoint)
class MemoryClientEndpoint:
    """`connect(factory)` opens one link to whatever listens on `host:port`, one clock turn
    (`latency`) later, like a TCP handshake; cancelling the Deferred before that abandons it
    (ClientService does this when stopped while connecting)."""

    def __init__(self, network: MemoryNetwork, host: str, port: int, source_host: str = CLIENT_HOST) -> None:
        self._network = network
        self.host = host
        self.port = port
        self.source_host = source_host

    def connect(self, protocolFactory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        call: IDelayedCall | None = None

        def cancel(_: defer.Deferred[IProtocol]) -> None:
            if call is not None and call.active():
                call.cancel()              # the Deferred then fails with CancelledError

        connected: defer.Deferred[IProtocol] = defer.Deferred(cancel)
        call = self._network.clock.callLater(self._network.latency, self._establish, protocolFactory, connected)
        return connected

    def _establish(self, factory: IProtocolFactory, connected: defer.Deferred[IProtocol]) -> None:
        network = self._network
        listening = network._listener(self.host, self.port)
        if listening is None:
            connected.errback(Failure(ConnectionRefusedError(f"nothing listens on {self.host}:{self.port}")))
            return
        server_address = IPv4Address("TCP", self.host, self.port)
        client_address = network._client_address(self.source_host)
        factory.doStart()                  # what a TCP Connector does for each attempt
        client = factory.buildProtocol(server_address)
        if client is None:
            factory.doStop()
            connected.errback(Failure(NoProtocol()))
            return
        server = listening.factory.buildProtocol(client_address)
        if server is None:                 # the server refused it before a byte was read
            factory.doStop()
            connected.errback(Failure(ConnectionRefusedError(f"{self.host}:{self.port} built no protocol")))
            return
        link = _Link(network.clock, network.latency, network.objects)
        server_end = MemoryTransport(link, host=server_address, peer=client_address)
        client_end = MemoryTransport(link, host=client_address, peer=server_address, on_lost=factory.doStop)
        link.join(server_end, server, client_end, client)
        server.makeConnection(server_end)  # the server accepts first, then the client sees it
        client.makeConnection(client_end)
        connected.callback(client)

    def __repr__(self) -> str:
        return f"<MemoryClientEndpoint {self.host}:{self.port}>"


class _Direction:
    """Bytes in flight one way: a FIFO so their order never depends on the clock's tie-breaks.

    On a link that carries objects (rule 6), the chunks are (Pdu, bytes) pairs as well as bytes,
    and the receiver gets them all in one `pdus_received` call."""

    def __init__(self, receiver: IProtocol, objects: bool = False) -> None:
        self.receiver = receiver
        self.objects = objects
        self.queue: deque[tuple[float, list[Any]]] = deque()     # (due, chunks written for it)


class _Link:
    """The two ends of one connection, their bytes in flight, and its close."""

    def __init__(self, clock: IReactorTime, latency: float, objects: bool = False) -> None:
        self.clock = clock
        self.latency = latency
        self.objects = objects
        self.closed = False                 # set when the close arrives: nothing moves after it
        self._close_call: IDelayedCall | None = None
        self._notified = False
        self._ends: tuple[tuple[MemoryTransport, IProtocol], ...] = ()
        # Deliveries are never cancelled nor moved: a VirtualClock schedules them without a
        # handle (about one call per PDU in a replay); any other clock with callLater.
        self._fire_later: Callable[[float, Callable[[Any], object], Any], object] = (
            clock.fire_later if isinstance(clock, VirtualClock) else clock.callLater)

    def join(self, a: MemoryTransport, a_protocol: IProtocol, b: MemoryTransport, b_protocol: IProtocol) -> None:
        self._ends = ((a, a_protocol), (b, b_protocol))
        objects = self.objects
        a.outgoing = _Direction(b_protocol, objects and hasattr(b_protocol, "pdus_received"))
        b.outgoing = _Direction(a_protocol, objects and hasattr(a_protocol, "pdus_received"))
        a.carries_pdus, b.carries_pdus = a.outgoing.objects, b.outgoing.objects

    def send(self, direction: _Direction, data: Any) -> None:
        due = self.clock.seconds() + self.latency
        queue = direction.queue
        if queue and queue[-1][0] == due:
            queue[-1][1].append(data)       # rides with the bytes already due then (rule 2)
            return
        queue.append((due, [data]))
        self._fire_later(self.latency, self._deliver_next, direction)

    def send_pdus(self, direction: _Direction, items: list[tuple[Pdu, bytes]]) -> None:
        """`send` for (Pdu, bytes) pairs: the same FIFO, the same clock calls."""
        due = self.clock.seconds() + self.latency
        queue = direction.queue
        if queue and queue[-1][0] == due:
            queue[-1][1].extend(items)
            return
        queue.append((due, items))
        self._fire_later(self.latency, self._deliver_next, direction)

    def _deliver_next(self, direction: _Direction) -> None:
        if self.closed or not direction.queue:
            return                          # dropped by a close, or taken by the close's flush
        _, chunks = direction.queue.popleft()
        if direction.objects:
            if CHECK_OBJECTS:
                _check_objects(chunks)
            direction.receiver.pdus_received(chunks)  # type: ignore[attr-defined]  # checked in join
        else:
            direction.receiver.dataReceived(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self, initiator: MemoryTransport) -> None:
        """A FIN from `initiator`: the close arrives `latency` later (rule 3)."""
        if self.closed or self._close_call is not None:
            return
        self._close_call = self.clock.callLater(self.latency, self._finish, initiator)

    def abort(self, initiator: MemoryTransport) -> None:
        """A reset: drop everything in flight now; both sides learn it on the next clock turn."""
        if self.closed:
            return
        if self._close_call is not None and self._close_call.active():
            self._close_call.cancel()
        self._drop()
        self._close_call = self.clock.callLater(0, self._notify, initiator, ConnectionAborted, ConnectionLost)

    def _finish(self, initiator: MemoryTransport) -> None:
        """Deliver what was due when the close arrived (the closing side's bytes first: it wrote
        them before its FIN), then close. Whatever those last deliveries make a protocol write
        comes after the close and is dropped."""
        now = self.clock.seconds()
        directions = [end.outgoing for end, _ in self._ends_from(initiator)]
        due = [sum(1 for at, _ in d.queue if at <= now) for d in directions]
        for direction, count in zip(directions, due):
            for _ in range(count):
                self._deliver_next(direction)
        if self.closed:
            return                          # a protocol aborted during those deliveries: its reset wins
        self._drop()
        self._notify(initiator, ConnectionDone, ConnectionDone)

    def _drop(self) -> None:
        self.closed = True
        for end, _ in self._ends:
            end.outgoing.queue.clear()

    def _ends_from(self, initiator: MemoryTransport) -> list[tuple[MemoryTransport, IProtocol]]:
        return sorted(self._ends, key=lambda end: end[0] is not initiator)    # stable: initiator first

    def _notify(self, initiator: MemoryTransport, own: type[Exception], peer: type[Exception]) -> None:
        """connectionLost once per protocol, as a TCP transport calls it once."""
        if self._notified:
            return
        self._notified = True
        ends = self._ends_from(initiator)
        for transport, _ in ends:
            transport.connected, transport.disconnected = False, True
        for transport, proto in ends:
            proto.connectionLost(Failure(own() if transport is initiator else peer()))
            transport.producer = None           # as a TCP transport lets go of its producer
            if transport.on_lost is not None:
                transport.on_lost()


@implementer(ITransport, IConsumer)
class MemoryTransport:
    """One end of an in-memory link: what a protocol sees as its TCP transport."""

    def __init__(self, link: _Link, host: IPv4Address, peer: IPv4Address,
                 on_lost: Callable[[], object] | None = None) -> None:
        self._link = link
        self._host = host
        self._peer = peer
        self.on_lost = on_lost              # the client factory's doStop, as a TCP Connector calls it
        self.outgoing: _Direction           # set by _Link.join before any protocol sees this end
        self.carries_pdus = False           # write_pdus is open to this end's protocol (rule 6)
        self.connected = True
        self.disconnecting = False          # loseConnection was called on this end
        self.disconnected = False
        self.producer: IProducer | None = None

    # --- ITransport ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if data and self.connected and not self.disconnecting and not self._link.closed:
            self._link.send(self.outgoing, data)

    def write_pdus(self, items: list[tuple[Pdu, bytes]]) -> None:
        """`write` for a link that carries PDUs as objects (`carries_pdus`): each PDU with its
        bytes, which the peer reads instead when the byte path could differ (rule 6)."""
        if items and self.connected and not self.disconnecting and not self._link.closed:
            self._link.send_pdus(self.outgoing, items)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self.disconnecting or not self.connected:
            return
        self.disconnecting = True
        self._link.close(self)

    def abortConnection(self) -> None:
        if not self.connected:
            return
        self.disconnecting = True
        self._link.abort(self)

    def getPeer(self) -> IAddress:
        return self._peer

    def getHost(self) -> IAddress:
        return self._host

    # --- IPushProducer (reading): a memory link has no buffer to fill, so nobody pauses it ---

    def pauseProducing(self) -> None:
        """Never called here (see IConsumer below); present because a transport is one."""

    def resumeProducing(self) -> None:
        """See pauseProducing."""

    def stopProducing(self) -> None:
        self.abortConnection()

    # --- IConsumer: there is no buffer to fill, so producers are never paused --------------

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def __repr__(self) -> str:
        return (f"<MemoryTransport {self._host.host}:{self._host.port} -> {self._peer.host}:{self._peer.port}"
                f"{' closed' if self.disconnected else ''}>")


# Tests set this: every PDU a link hands over as an object is checked against what its bytes
# decode to (same value, same types), so that the object path cannot drift from the byte path.
CHECK_OBJECTS = False


def _check_objects(chunks: list[Any]) -> None:
    for chunk in chunks:
        if type(chunk) is not tuple:
            continue
        pdu = as_decoded(chunk[0])
        if pdu is not None:        # one that Session.receive_pdus takes as an object
            decoded = decode(chunk[1])
            assert isinstance(decoded, Pdu), (pdu, decoded)
            assert _shape(decoded) == _shape(pdu), (pdu, decoded)


def _shape(pdu: Pdu) -> tuple[object, ...]:
    """A PDU as values with their exact types (an IntEnum equals its int, but is not one)."""
    return (type(pdu.command), pdu.command, type(pdu.sequence_number), pdu.sequence_number,
            type(pdu.command_status), pdu.command_status,
            tuple((name, type(value), value) for name, value in pdu.params.items()),
            tuple((type(t.tag), t.tag, type(t.value), t.value) for t in pdu.tlvs))


def run_until(clock: Clock, when: float) -> int:
    """Move `clock` to `when`, stopping at every scheduled call's own time (including calls
    scheduled on the way), so each runs with the clock reading its time. Returns how many
    stops it made (a measure of the work a replay did).  A :class:`VirtualClock` does it in
    O(log n) per call; a plain ``task.Clock`` is walked the slow way."""
    if isinstance(clock, VirtualClock):
        return clock.run_until(when)
    stops = 0
    while True:
        due = min((call.getTime() for call in clock.getDelayedCalls()), default=None)
        if due is None or due > when:
            break
        clock.advance(max(0.0, due - clock.seconds()))
        stops += 1
    if when > clock.seconds():
        clock.advance(when - clock.seconds())
    return stops


T = TypeVar("T")


class NotFired(Exception):
    """The Deferred has no result yet (not fired, or waiting on another Deferred)."""


def fired_result(d: defer.Deferred[T]) -> T:
    """What `d` fired with (on a clock someone moves); its failure raised. Raises NotFired
    when it has no result yet."""
    out: list[T | Failure] = []
    d.addBoth(out.append)
    if not out:
        raise NotFired(d)
    result = out[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def next_due(clock: Clock) -> float | None:
    """The time of `clock`'s earliest pending call, or None."""
    if isinstance(clock, VirtualClock):
        return clock.next_due()
    return min((call.getTime() for call in clock.getDelayedCalls()), default=None)
