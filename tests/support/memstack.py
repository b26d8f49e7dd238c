"""The whole stack on the in-memory network and a virtual clock, for tests of behaviour over
time: exact timestamps, no sockets, no sleeps, and the same protocol code as `serve`.

    stack = MemStack.start(tmp_path / "s.db")            # default network, demo account
    client = stack.client()                              # a bound transceiver
    resp = stack.wait(client.submit("+33612345678"))
    stack.run(5.0)                                       # five simulated seconds, call by call
    stack.stop()

`Client` is an ESME whose answers to deliver_sm can be held back (`answer_after`, None for
never), to play slow, hung or busy clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from twisted.internet import defer, protocol
from twisted.internet.endpoints import connectProtocol
from twisted.python.failure import Failure

from aggregator.config import NetworkConfig, load_config, parse_config
from aggregator.harness import Harness, start_harness
from aggregator.store import Store
from smsc.adapter import SmppConnection
from smsc.esme import BIND_COMMANDS
from smsc.events import ConnectionClosed
from smsc.memory import MemoryNetwork, next_due, run_until
from smsc.pdu.codec import Command, DecodeFailed, Pdu, Tlv, Value, decode
from smsc.pdu.framing import Framer
from smsc.pdu.status import CommandStatus
from smsc.session import Session, SessionConfig
from smsc.states import Role
from smsc.virtualclock import VirtualClock

START = 1_795_982_400.0                    # 2026-11-29T20:00:00Z, a Sunday evening
LIMIT = 3600.0                             # simulated seconds a wait may take before it fails


@dataclass
class Client:
    """SessionHandler of one test client: records what it is sent, answers deliver_sm after
    `answer_after` simulated seconds (None: never) with `answer_status`."""

    clock: VirtualClock
    answer_after: float | None = 0.0
    answer_status: int = 0
    conn: SmppConnection | None = None
    delivered: list[tuple[float, Pdu]] = field(default_factory=list)
    closed: ConnectionClosed | None = None
    _raw_waiting: dict[int, defer.Deferred[Pdu]] = field(default_factory=dict)

    def connection_made(self, conn: SmppConnection) -> None:
        self.conn = conn

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.delivered.append((self.clock.seconds(), pdu))
        if self.answer_after == 0.0:
            conn.respond(pdu, self.answer_status)
        elif self.answer_after is not None:
            self.clock.callLater(self.answer_after, conn.respond, pdu, self.answer_status)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.closed = event

    def raw(self, frame: bytes) -> defer.Deferred[Pdu]:
        """Write `frame` as is (any bytes a client could write); fires with the response that
        carries its sequence number (the session itself would only see an unknown response)."""
        assert self.conn is not None and self.conn.transport is not None
        seq = int.from_bytes(frame[12:16], "big")
        waiting: defer.Deferred[Pdu] = defer.Deferred()
        self._raw_waiting[seq] = waiting
        self.conn.transport.write(frame)
        return waiting

    def frame_received(self, pdu: Pdu | DecodeFailed) -> None:
        if isinstance(pdu, Pdu) and pdu.command.is_response:
            waiting = self._raw_waiting.pop(pdu.sequence_number, None)
            if waiting is not None:
                waiting.callback(pdu)

    def bind(self, system_id: str = "demo", password: str = "demo", mode: str = "transceiver") -> defer.Deferred[Pdu]:
        assert self.conn is not None
        return self.conn.request(BIND_COMMANDS[mode], system_id=system_id, password=password,
                                 interface_version=0x34)

    def submit(self, destination: str, text: bytes = b"hello", tlvs: tuple[Tlv, ...] = (),
               **params: Value) -> defer.Deferred[Pdu]:
        assert self.conn is not None
        fields: dict[str, Value] = {"source_addr_ton": 5, "source_addr": "TEST", "dest_addr_ton": 1,
                                    "dest_addr_npi": 1, "destination_addr": destination.lstrip("+"),
                                    "registered_delivery": 1, "short_message": text}
        fields.update(params)
        return self.conn.request(Command.submit_sm, tlvs, **fields)


class _Tap(protocol.Protocol):
    """Between a client's transport and its SmppConnection: shows the client every PDU it
    receives (for `Client.raw`), then hands the bytes on unchanged."""

    def __init__(self, inner: SmppConnection, client: Client) -> None:
        self.inner = inner
        self.client = client
        self.framer = Framer()

    def connectionMade(self) -> None:
        self.inner.makeConnection(self.transport)

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            if isinstance(frame, bytes):
                self.client.frame_received(decode(frame))
        self.inner.dataReceived(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.inner.connectionLost(reason)


@dataclass
class MemStack:
    clock: VirtualClock
    net: MemoryNetwork
    harness: Harness

    @classmethod
    def start(cls, db: Path, config: NetworkConfig | str | None = None, start: float = START,
              latency: float = 0.0) -> MemStack:
        """`latency`: the one-way delay of every link (smsc.memory.MemoryNetwork)."""
        if isinstance(config, str):
            config = parse_config(config, "<test>")
        elif config is None:
            config = load_config()
        clock = VirtualClock()
        clock.advance(start)
        net = MemoryNetwork(clock, latency)
        store = Store(db, schedule=clock.callLater, flush_interval=0.005)
        stack = cls(clock, net, None)  # type: ignore[arg-type]
        stack.harness = stack.wait(defer.ensureDeferred(start_harness(
            config, clock, store, net.listen, net.dial, port=0, link_clock=clock)), "start_harness")
        stack.wait(stack.harness.connectors_bound(), "the operator binds")
        return stack

    @property
    def store(self) -> Store:
        return self.harness.store

    def connect(self, handler: Client | None = None, window: int = 10, source: str = "127.0.0.1") -> Client:
        """A client connection (not bound), from the address `source`."""
        client = handler or Client(self.clock)
        conn = SmppConnection(Session(Role.ESME, SessionConfig(window=window), self.clock.seconds()),
                              self.clock, client)
        self.wait(connectProtocol(self.net.dial("127.0.0.1", self.harness.port, source), _Tap(conn, client)),
                  "the connection")
        return client

    def client(self, mode: str = "transceiver", window: int = 10, answer_after: float | None = 0.0,
               system_id: str = "demo", password: str = "demo") -> Client:
        """A client bound with the demo account."""
        client = self.connect(Client(self.clock, answer_after), window)
        resp = self.wait(client.bind(system_id, password, mode), "the bind")
        assert resp.command_status == CommandStatus.ESME_ROK, resp
        return client

    def run(self, seconds: float) -> None:
        """Move the clock `seconds`, each call at its own time."""
        run_until(self.clock, self.clock.seconds() + seconds)

    def wait(self, d: defer.Deferred[object], what: str = "it", limit: float = LIMIT) -> object:
        """Run the clock, call by call, until `d` fires (at most `limit` simulated seconds)."""
        end = self.clock.seconds() + limit
        while not d.called:
            due = next_due(self.clock)
            if due is None or due > end:
                raise AssertionError(f"{what} did not happen within {limit:g} simulated seconds")
            run_until(self.clock, max(due, self.clock.seconds()))
        out: list[object] = []
        d.addBoth(out.append)
        if isinstance(out[0], Failure):
            out[0].raiseException()
        return out[0]

    def until(self, condition: Callable[[], bool], what: str, limit: float = LIMIT) -> None:
        """Run the clock, call by call, until `condition()` holds."""
        end = self.clock.seconds() + limit
        while not condition():
            due = next_due(self.clock)
            if due is None or due > end:
                raise AssertionError(f"{what} did not happen within {limit:g} simulated seconds")
            run_until(self.clock, max(due, self.clock.seconds()))

    def stop(self) -> None:
        self.wait(defer.ensureDeferred(self.harness.stop()), "harness.stop()", limit=600.0)
