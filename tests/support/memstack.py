"""The tests' one stack helper: the whole stack (or one operator SMSC) on the in-memory network
and a virtual clock, for tests of behaviour over time: exact timestamps, no sockets, no
sleeps, and the same protocol code as `serve`.

    stack = MemStack.start(tmp_path / "s.db")            # default network, demo account
    client = stack.client()                              # a bound transceiver
    resp = stack.wait(client.submit("+33612345678"))
    stack.run(5.0)                                       # five simulated seconds, call by call
    stack.stop()

    op = MemOperator.start()                             # one operator SMSC on its own
    esme = op.client()                                   # bound as the aggregator would

Time moves only when a test moves it (`run`, `run_to`, `wait`, `until`), and then call by
call (`smsc.memory.run_until`): every timer, byte and answer happens at the simulated time it
is due, so a test can assert `done_at == START + 86_400` and a day takes milliseconds. With
the default `latency` 0 a link carries bytes in zero simulated time (still on a clock call,
never inside the write). The links' keepalives (enquire_link) cross the memory links on the
same clock, so a link stays bound through any jump of time, as it would in real time.

`Client` is an ESME that records each PDU it is sent with the clock time, and whose answers to
deliver_sm can be held back (`answer_after`, None for never), to play slow, hung or busy
clients. `MemStack.control_site()` is the control API's twisted.web Site in front of the
stack; `http` feeds it raw bytes over a StringTransport and parses what it writes back, so a
control API test sees the bytes a client sends and gets.

What the tests know of the wiring (how a harness is started on the memory network, how an
operator SMSC is served) lives here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from twisted.internet import defer, protocol
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import connectProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import Site

from aggregator.config import NetworkConfig, load_config, parse_config
from aggregator.control import control_site
from aggregator.harness import Harness, start_harness
from aggregator.store import Store
from smsc.adapter import SmppConnection, SmppFactory
from smsc.esme import BIND_COMMANDS
from smsc.events import ConnectionClosed
from smsc.memory import MemoryNetwork, fired_result, next_due, run_until
from smsc.operators.profile import NumberRule, OperatorProfile, SmscBehaviour
from smsc.operators.smsc import OperatorSmsc
from smsc.pdu.codec import Command, DecodeFailed, Pdu, Tlv, Value, decode
from smsc.pdu.framing import Framer
from smsc.pdu.receipt import Receipt, is_receipt, parse_receipt
from smsc.pdu.status import CommandStatus
from smsc.session import Session, SessionConfig
from smsc.states import Role
from smsc.virtualclock import VirtualClock

START = 1_795_982_400.0                    # 2026-11-29T20:00:00Z, a Sunday evening
LIMIT = 3600.0                             # simulated seconds a wait may take before it fails
TOKEN = "test-token-0123456789abcdef"      # the control API's bearer token in these tests


@dataclass
class Client:
    """SessionHandler of one test client: records what it is sent (`delivered`: (clock time,
    request PDU); `frames`: every PDU, responses and keepalives too, as bytes in wire order), and
    answers deliver_sm after `answer_after` simulated seconds (None: never) with `answer_status`."""

    clock: Clock
    answer_after: float | None = 0.0
    answer_status: int = 0
    conn: SmppConnection | None = None
    delivered: list[tuple[float, Pdu]] = field(default_factory=list)
    frames: list[tuple[float, bytes]] = field(default_factory=list)   # every PDU it got, as sent, in wire order
    closed: ConnectionClosed | None = None
    receipt_count: int = 0                 # deliver_sm receipts so far (cheap to poll in `until`)
    _taken: int = 0
    _raw_waiting: dict[int, defer.Deferred[Pdu]] = field(default_factory=dict)

    def connection_made(self, conn: SmppConnection) -> None:
        self.conn = conn

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.delivered.append((self.clock.seconds(), pdu))
        self.receipt_count += is_receipt(pdu)
        if self.answer_after == 0.0:
            conn.respond(pdu, self.answer_status)
        elif self.answer_after is not None:
            self.clock.callLater(self.answer_after, conn.respond, pdu, self.answer_status)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.closed = event

    # --- what it got ---------------------------------------------------------------------

    def receipts(self) -> list[Receipt]:
        """Every delivery receipt it got so far, in order."""
        return [r for r in (parse_receipt(p) for p in self.pdus() if is_receipt(p)) if r is not None]

    def receipts_at(self) -> list[tuple[float, Receipt]]:
        """As `receipts`, each with the clock time it arrived."""
        out = []
        for at, pdu in self.delivered:
            receipt = parse_receipt(pdu) if is_receipt(pdu) else None
            if receipt is not None:
                out.append((at, receipt))
        return out

    def mos(self) -> list[Pdu]:
        """Every deliver_sm it got that is not a receipt (MO messages), in order."""
        return [p for p in self.pdus() if not is_receipt(p)]

    def pdus(self) -> list[Pdu]:
        return [pdu for _, pdu in self.delivered]

    def take(self) -> list[Pdu]:
        """What it got since the last `take()` (all of it the first time)."""
        got = self.pdus()[self._taken:]
        self._taken = len(self.delivered)
        return got

    # --- what it sends -------------------------------------------------------------------

    def raw(self, frame: bytes) -> defer.Deferred[Pdu]:
        """Write `frame` as is (any bytes a client could write); fires with the response that
        carries its sequence number (the session itself would only see an unknown response)."""
        assert self.conn is not None and self.conn.transport is not None
        seq = int.from_bytes(frame[12:16], "big")
        waiting: defer.Deferred[Pdu] = defer.Deferred()
        self._raw_waiting[seq] = waiting
        self.conn.transport.write(frame)
        return waiting

    def received(self) -> list[tuple[float, Pdu | DecodeFailed]]:
        """`frames` decoded: every PDU it got, with the clock time, in wire order."""
        return [(at, decode(frame)) for at, frame in self.frames]

    def frame_received(self, frame: bytes) -> None:
        self.frames.append((self.clock.seconds(), frame))
        pdu = decode(frame)
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
        """submit_sm to `destination` ('+' optional; international, TON 1) from the
        alphanumeric sender TEST, asking for a receipt; `params` override any field."""
        assert self.conn is not None
        fields: dict[str, Value] = {"source_addr_ton": 5, "source_addr": "TEST", "dest_addr_ton": 1,
                                    "dest_addr_npi": 1, "destination_addr": destination.lstrip("+"),
                                    "registered_delivery": 1, "short_message": text}
        fields.update(params)
        return self.conn.request(Command.submit_sm, tlvs, **fields)

    def query(self, message_id: str) -> defer.Deferred[Pdu]:
        assert self.conn is not None
        return self.conn.request(Command.query_sm, message_id=message_id)

    def unbind(self) -> defer.Deferred[Pdu]:
        assert self.conn is not None
        return self.conn.unbind()

    def close(self) -> None:
        """Close the connection (no unbind); `closed` is set once it is gone."""
        assert self.conn is not None
        self.conn.close()


class _Tap(protocol.Protocol):
    """Between a client's transport and its SmppConnection: shows the client every PDU it
    receives (`Client.frames`, `Client.raw`), then hands the bytes on unchanged."""

    def __init__(self, inner: SmppConnection, client: Client) -> None:
        self.inner = inner
        self.client = client
        self.framer = Framer()

    def connectionMade(self) -> None:
        self.inner.makeConnection(self.transport)

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            if isinstance(frame, bytes):
                self.client.frame_received(frame)
        self.inner.dataReceived(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.inner.connectionLost(reason)


class _OnTheClock:
    """Moving a clock, call by call, and reading Deferreds that fire on it."""

    clock: Clock
    net: MemoryNetwork

    def run(self, seconds: float) -> None:
        """Move the clock `seconds`, each call at its own time."""
        run_until(self.clock, self.clock.seconds() + seconds)

    def run_to(self, when: float) -> None:
        """Move the clock to `when` (not back), each call at its own time."""
        run_until(self.clock, max(when, self.clock.seconds()))

    def wait(self, d: defer.Deferred[object], what: str = "it", limit: float = LIMIT) -> object:
        """Run the clock, call by call, until `d` fires (at most `limit` simulated seconds);
        its result, or its failure raised."""
        self.until(lambda: d.called, what, limit)
        return fired_result(d)

    def until(self, condition: Callable[[], bool], what: str, limit: float = LIMIT) -> None:
        """Run the clock, call by call, until `condition()` holds (at most `limit` simulated
        seconds); the clock stops at the call that made it true."""
        end = self.clock.seconds() + limit
        while not condition():
            due = next_due(self.clock)
            if due is None or due > end:
                raise AssertionError(f"{what} did not happen within {limit:g} simulated seconds")
            run_until(self.clock, max(due, self.clock.seconds()))

    def dial(self, port: int, handler: Client | None = None, config: SessionConfig = SessionConfig(),
             source: str = "127.0.0.1") -> Client:
        """A client connection to `port` (not bound), from the address `source`."""
        client = handler or Client(self.clock)
        conn = SmppConnection(Session(Role.ESME, config, self.clock.seconds()), self.clock, client)
        self.wait(connectProtocol(self.net.dial("127.0.0.1", port, source), _Tap(conn, client)),
                  "the connection")
        return client

    def submit_all(self, client: Client, destinations: list[str], text: bytes = b"hello",
                   **params: Value) -> list[Pdu]:
        """Submit to every destination, keeping within the client's window; the resps in order."""
        assert client.conn is not None
        resps: list[Pdu] = []
        pending: list[defer.Deferred[Pdu]] = []
        for destination in destinations:
            while client.conn.session.window_available == 0:
                resps.append(self.wait(pending.pop(0), "a submit_sm_resp"))  # type: ignore[arg-type]
            pending.append(client.submit(destination, text, **params))
        for waiting in pending:
            resps.append(self.wait(waiting, "a submit_sm_resp"))  # type: ignore[arg-type]
        return resps

    def close(self, client: Client) -> None:
        """Close `client`'s connection and run the clock until it is gone."""
        client.close()
        self.until(lambda: client.closed is not None, "the client's close")


@dataclass
class MemStack(_OnTheClock):
    """The whole harness (client server, routing, delivery engine, operator pools, operator
    SMSCs, store) on one MemoryNetwork and one clock."""

    clock: Clock
    net: MemoryNetwork
    harness: Harness
    db: Path
    config: NetworkConfig
    trace: bool = False

    @classmethod
    def start(cls, db: Path, config: NetworkConfig | str | None = None, start: float = START,
              latency: float = 0.0, clock: Clock | None = None, trace: bool = False) -> MemStack:
        """Start the harness on `db` (created, or resumed as `serve` resumes it) and wait for
        every operator link to bind. `latency`: the one-way delay of every link
        (smsc.memory.MemoryNetwork). `clock`: go on from this one (a VirtualClock at `start`
        by default; a plain task.Clock works too, more slowly). `trace`: the per-message
        debug lines (`serve --log-level debug`)."""
        if isinstance(config, str):
            config = parse_config(config, "<test>")
        elif config is None:
            config = load_config()
        if clock is None:
            clock = VirtualClock()
            clock.advance(start)
        net = MemoryNetwork(clock, latency)
        store = Store(db, schedule=clock.callLater, flush_interval=0.005)
        stack = cls(clock, net, None, db, config, trace)  # type: ignore[arg-type]
        stack.harness = stack.wait(defer.ensureDeferred(start_harness(  # type: ignore[assignment]
            config, clock, store, net.listen, net.dial, port=0, link_clock=clock, trace=trace)), "start_harness")
        stack.wait(stack.harness.connectors_bound(), "the operator binds")
        return stack

    @property
    def store(self) -> Store:
        return self.harness.store

    @property
    def port(self) -> int:
        """The client-facing SMPP port (a MemoryNetwork counter)."""
        return self.harness.port

    def operator(self, operator_id: str) -> OperatorSmsc:
        """The simulated SMSC of that operator."""
        return self.harness.operators[operator_id]

    def connect(self, handler: Client | None = None, window: int = 10, source: str = "127.0.0.1") -> Client:
        """A client connection (not bound), from the address `source`."""
        return self.dial(self.harness.port, handler, SessionConfig(window=window), source)

    def client(self, mode: str = "transceiver", window: int = 10, answer_after: float | None = 0.0,
               system_id: str = "demo", password: str = "demo") -> Client:
        """A client bound with the demo account (or the one given)."""
        client = self.connect(Client(self.clock, answer_after), window)
        resp = self.wait(client.bind(system_id, password, mode), "the bind")
        assert resp.command_status == CommandStatus.ESME_ROK, resp  # type: ignore[attr-defined]
        return client

    def control_site(self, token: str = TOKEN) -> Site:
        """The control API in front of this stack (fed with `http`)."""
        return control_site(self.harness, token, self.clock)

    def stop(self) -> None:
        self.wait(defer.ensureDeferred(self.harness.stop()), "harness.stop()", limit=600.0)

    def restart(self) -> MemStack:
        """Stop this harness and start a new one on the same database, network config and
        clock, as `serve` restarted on the same file (fresh operator SMSCs that know nothing)."""
        self.stop()
        return MemStack.start(self.db, self.config, clock=self.clock, trace=self.trace)


@dataclass
class MemOperator(_OnTheClock):
    """One simulated operator SMSC on its own MemoryNetwork, as the aggregator's links meet it."""

    clock: Clock
    net: MemoryNetwork
    smsc: OperatorSmsc
    port: int
    clients: list[Client] = field(default_factory=list)

    @classmethod
    def start(cls, behaviour: SmscBehaviour = SmscBehaviour(), test_numbers: tuple[NumberRule, ...] = (),
              profile: OperatorProfile | None = None, session: SessionConfig | None = None,
              max_pdu: int | None = None, seed: int = 1, start: float = START,
              clock: Clock | None = None) -> MemOperator:
        """An OperatorSmsc (Bouygues Telecom with `behaviour`, unless `profile` says otherwise)
        listening on a fresh MemoryNetwork; `session`: its sessions' config (the SMSC defaults);
        `max_pdu`: the largest PDU it assumes its peer frames."""
        if clock is None:
            clock = VirtualClock()
            clock.advance(start)
        profile = profile or OperatorProfile("bouygues", "Bouygues Telecom", behaviour=behaviour)
        extra = {} if max_pdu is None else {"max_pdu": max_pdu}
        smsc = OperatorSmsc(profile, clock, seed=seed, test_numbers=test_numbers, **extra)  # type: ignore[arg-type]
        net = MemoryNetwork(clock)
        operator = cls(clock, net, smsc, 0)
        port = operator.wait(net.listen("127.0.0.1", 0, SmppFactory(clock, Role.SMSC, smsc, session)),
                             "listen")
        operator.port = port.getHost().port  # type: ignore[attr-defined]
        return operator

    def client(self, mode: str = "transceiver", bind: bool = True, config: SessionConfig = SessionConfig(),
               handler: Client | None = None) -> Client:
        """A client connection, bound (with the operator's credentials) unless `bind` is False."""
        client = self.dial(self.port, handler, config)
        self.clients.append(client)
        if bind:
            resp = self.wait(self.bind(client, mode), "the bind")
            assert resp.command_status == CommandStatus.ESME_ROK, resp  # type: ignore[attr-defined]
        return client

    def bind(self, client: Client, mode: str = "transceiver") -> defer.Deferred[Pdu]:
        profile = self.smsc.profile
        return client.bind(profile.system_id, profile.password, mode)

    def stop(self) -> None:
        """Close every client, then cancel the SMSC's timers."""
        for client in self.clients:
            if client.closed is None:
                self.close(client)
        self.smsc.stop()


# --- the control API: raw HTTP against a Site ---------------------------------------------------

PEER = IPv4Address("TCP", "127.0.0.1", 40999)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]            # lower-case names; the last value of each
    body: bytes
    closed: bool                          # the server closed the connection

    @property
    def json(self) -> object:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


def raw_request(method: str = "GET", path: str = "/status", body: bytes = b"",
                headers: Mapping[str, str | None] | None = None) -> bytes:
    """An HTTP/1.1 request: Host 127.0.0.1, our token, JSON for a body, Content-Length;
    `headers` adds to them, or removes one with None."""
    all_headers: dict[str, str | None] = {"Host": "127.0.0.1:2776", "Authorization": f"Bearer {TOKEN}"}
    if body:
        all_headers["Content-Type"] = "application/json"
        all_headers["Content-Length"] = str(len(body))
    all_headers.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in all_headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http(site: Site, *chunks: bytes) -> Answer:
    """Feed a connection of `site` these chunks; the first response it writes."""
    channel = site.buildProtocol(PEER)
    assert channel is not None
    transport = StringTransport(peerAddress=PEER)
    channel.makeConnection(transport)
    for chunk in chunks:
        if transport.disconnecting:
            break
        channel.dataReceived(chunk)
    answer = parse_answer(transport.value(), transport.disconnecting)
    channel.connectionLost(None)  # type: ignore[arg-type]
    return answer


def parse_answer(data: bytes, closed: bool) -> Answer:
    head, separator, rest = data.partition(b"\r\n\r\n")
    assert separator, f"no whole response in {data[:200]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    return Answer(int(status_line.split(" ")[1]), headers, rest[:length], closed)


def post_mo(site: Site, payload: object) -> Answer:
    return http(site, raw_request("POST", "/mo", json.dumps(payload).encode()))
