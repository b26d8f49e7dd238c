"""smsc/memory.py: in-memory links on a task.Clock carry the real SMPP code, in order, and close
like TCP (FIN: data first, then both sides; reset: nothing in flight), and ClientService
reconnects through them. No sockets, no reactor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import protocol
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import connectProtocol
from twisted.internet.error import (
    CannotListenError, ConnectionAborted, ConnectionDone, ConnectionLost, ConnectionRefusedError,
)
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from smsc.adapter import SmppConnection, SmppFactory
from smsc.esme import Esme
from smsc.events import ConnectionClosed
from smsc.memory import FIRST_LISTEN_PORT, MemoryNetwork, run_until
from smsc import memory
from smsc import session as session_module
from smsc.pdu.codec import Command, Pdu, Ton
from smsc.pdu.status import CommandStatus
from smsc.session import Session, SessionConfig
from smsc.states import Role, SessionState
from tests.support.deferreds import result

HOST = "127.0.0.1"
QUIET = SessionConfig(enquire_link_interval=None, inactivity_timeout=None)


class TinySmsc:
    """SessionHandler of an SMSC that accepts every bind and every submit_sm."""

    def __init__(self) -> None:
        self.conns: list[SmppConnection] = []
        self.requests: list[tuple[float, Pdu]] = []
        self.lost: list[ConnectionClosed] = []

    def connection_made(self, conn: SmppConnection) -> None:
        self.conns.append(conn)

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.requests.append((conn.clock.seconds(), pdu))
        if pdu.command is Command.submit_sm:
            conn.respond(pdu, message_id=f"m{len(self.requests)}")
        else:
            conn.respond(pdu, system_id="tiny")

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.lost.append(event)


class Links:
    """SessionHandler of a reconnecting ESME (Esme serves one connection only)."""

    def __init__(self) -> None:
        self.made: list[SmppConnection] = []
        self.lost: list[ConnectionClosed] = []

    def connection_made(self, conn: SmppConnection) -> None:
        self.made.append(conn)

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.lost.append(event)


class Recording(protocol.Protocol):
    """Raw bytes and the close reason, with the clock time of each."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.received: list[tuple[float, bytes]] = []
        self.lost: list[tuple[float, Failure]] = []
        self.made = 0

    def connectionMade(self) -> None:
        self.made += 1

    def dataReceived(self, data: bytes) -> None:
        self.received.append((self.clock.seconds(), data))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.lost.append((self.clock.seconds(), reason))

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, chunk in self.received)




class Built(protocol.Factory):
    """Builds Recording protocols and keeps each one."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.built: list[Recording] = []

    def buildProtocol(self, addr: object) -> Recording:
        built = Recording(self.clock)
        built.factory = self
        self.built.append(built)
        return built


def raw_pair(clock: Clock, latency: float = 0.0) -> tuple[MemoryNetwork, Recording, Recording]:
    """A connected (server, client) pair of Recording protocols."""
    net = MemoryNetwork(clock, latency)
    servers = Built(clock)
    port = result(net.listen(HOST, 0, servers))
    assert IListeningPort.providedBy(port)
    connecting = connectProtocol(net.dial(HOST, port.getHost().port), Recording(clock))  # type: ignore[attr-defined]
    clock.advance(latency)
    client = result(connecting)
    assert isinstance(client, Recording) and len(servers.built) == 1
    return net, servers.built[0], client


def smpp_pair(clock: Clock, latency: float = 0.0,
              config: SessionConfig = QUIET, objects: bool = False) -> tuple[MemoryNetwork, TinySmsc, Esme]:
    net = MemoryNetwork(clock, latency, objects=objects)
    smsc = TinySmsc()
    port = result(net.listen(HOST, 0, SmppFactory(clock, Role.SMSC, smsc, config)))
    esme = Esme(clock)
    conn = SmppConnection(Session(Role.ESME, config, clock.seconds()), clock, esme)
    connecting = connectProtocol(net.dial(HOST, port.getHost().port), conn)  # type: ignore[attr-defined]
    assert not connecting.called                    # connecting takes a clock turn, even at latency 0
    clock.advance(latency)
    assert result(connecting) is conn and esme.conn is conn and len(smsc.conns) == 1
    return net, smsc, esme


# --- (a) SMPP over the memory network: nothing moves until the clock does ---------------------

@pytest.mark.parametrize("latency", [0.0, 0.25])
def test_bind_and_submit_are_answered_only_when_the_clock_advances(latency: float) -> None:
    clock = Clock()
    clock.advance(1000.0)
    _, smsc, esme = smpp_pair(clock, latency)
    bind = esme.bind("demo", "demo", "transceiver")
    assert not bind.called and smsc.requests == []
    clock.advance(0)
    if latency:
        assert not bind.called and smsc.requests == []     # still on the wire
        clock.advance(latency)
    assert smsc.requests and smsc.requests[0][1].command is Command.bind_transceiver
    assert smsc.conns[0].state is SessionState.BOUND_TRX
    if latency:
        assert not bind.called                             # the resp is on its way back
        clock.advance(latency)
    resp = result(bind)
    assert isinstance(resp, Pdu) and resp.command is Command.bind_transceiver_resp
    assert resp.command_status == CommandStatus.ESME_ROK and str(resp["system_id"]) == "tiny"

    submitted = esme.submit("33612345678", b"hi")
    assert not submitted.called
    run_until(clock, clock.seconds() + 2 * latency)
    resp = result(submitted)
    assert isinstance(resp, Pdu) and resp.command is Command.submit_sm_resp and resp["message_id"] == "m2"
    assert [at for at, _ in smsc.requests] == [1000.0 + 2 * latency, 1000.0 + 4 * latency]


def test_a_plain_advance_stretches_chains_but_run_until_keeps_each_call_on_its_time() -> None:
    """task.Clock.advance(n) runs what is due with the clock already n later, so each link of
    bind -> resp costs a whole step; run_until stops at every call's own time."""
    for stepper, bound_at in [(lambda c: c.advance(1.0), 2.0), (lambda c: run_until(c, c.seconds() + 1.0), 0.02)]:
        clock = Clock()
        _, smsc, esme = smpp_pair(clock, latency=0.01)        # connected at 0.01
        seen: list[float] = []
        esme.bind("demo", "demo").addCallback(lambda _: seen.append(clock.seconds()))
        while not seen:
            stepper(clock)
        assert seen[0] == pytest.approx(bound_at + 0.01)


def test_addresses_are_counters_not_os_ports() -> None:
    clock = Clock()
    net = MemoryNetwork(clock)
    ports = [result(net.listen(HOST, 0, protocol.Factory())) for _ in range(2)]
    assert [p.getHost() for p in ports] == [IPv4Address("TCP", HOST, FIRST_LISTEN_PORT),  # type: ignore[attr-defined]
                                            IPv4Address("TCP", HOST, FIRST_LISTEN_PORT + 1)]
    _, server, client = raw_pair(clock)
    assert client.transport.getPeer() == server.transport.getHost() == IPv4Address("TCP", HOST, FIRST_LISTEN_PORT)
    assert client.transport.getHost() == server.transport.getPeer()
    assert client.transport.getHost().port == 40000  # type: ignore[attr-defined]


def test_a_used_port_cannot_be_listened_on_and_a_stopped_one_refuses() -> None:
    clock = Clock()
    net = MemoryNetwork(clock)
    port = result(net.listen(HOST, 2775, protocol.Factory()))
    with pytest.raises(CannotListenError):
        result(net.listen(HOST, 2775, protocol.Factory()))
    assert net.listening_ports == (2775,)
    stopped = port.stopListening()  # type: ignore[attr-defined]
    assert stopped is None or stopped.called
    assert net.listening_ports == ()
    refused = net.dial(HOST, 2775).connect(protocol.Factory.forProtocol(protocol.Protocol))
    assert not refused.called
    clock.advance(0)
    with pytest.raises(ConnectionRefusedError):
        result(refused)


def test_importing_the_module_installs_no_reactor() -> None:
    """Library code is given its clock (STYLE.md); a fresh interpreter proves no import of
    smsc.memory pulls in twisted.internet.reactor."""
    code = "import sys, smsc.memory; sys.exit('twisted.internet.reactor' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2]).returncode == 0


# --- (b) order --------------------------------------------------------------------------------

def test_bytes_arrive_in_write_order_after_the_latency() -> None:
    clock = Clock()
    _, server, client = raw_pair(clock, latency=0.5)
    written: list[float] = []
    for i in range(50):
        client.transport.write(b"%d," % i)
        written.append(clock.seconds())
        if i % 7 == 0:
            run_until(clock, clock.seconds() + 0.125)   # writes spread over time, some at one instant
    client.transport.writeSequence([b"x", b"y"])
    written.append(clock.seconds())
    server.transport.write(b"back")
    back_at = clock.seconds()
    run_until(clock, clock.seconds() + 10)
    assert server.data == b"".join(b"%d," % i for i in range(50)) + b"xy"
    # Writes made at one instant arrive together, in one dataReceived (as TCP coalesces them).
    instants = sorted(set(written))
    assert [at for at, _ in server.received] == [at + 0.5 for at in instants]
    assert len(server.received) < 50
    assert client.received == [(back_at + 0.5, b"back")]


def test_submits_are_answered_in_order() -> None:
    clock = Clock()
    _, smsc, esme = smpp_pair(clock, latency=0.01)
    esme.bind("demo", "demo")
    run_until(clock, 1.0)
    answers: list[str] = []
    for i in range(10):
        esme.submit("33612345678", b"%d" % i).addCallback(lambda resp: answers.append(str(resp["message_id"])))
    run_until(clock, 2.0)
    assert answers == [f"m{i}" for i in range(2, 12)]
    assert [bytes(pdu["short_message"]) for _, pdu in smsc.requests[1:]] == [b"%d" % i for i in range(10)]  # type: ignore[arg-type]


def test_a_link_that_carries_objects_hands_over_plain_pdus_and_decodes_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule 6: between two SmppConnections, per-message PDUs of the decoder's own types
    arrive as the sender's objects (nothing decoded); a bind, or a param that is an IntEnum
    member, arrives decoded from its bytes, as over TCP."""
    decoded: list[Command] = []
    real_decode = session_module.decode

    def counting(frame: bytes) -> object:
        pdu = real_decode(frame)
        decoded.append(pdu.command if isinstance(pdu, Pdu) else None)   # type: ignore[arg-type]  # test only
        return pdu

    monkeypatch.setattr(session_module, "decode", counting)
    monkeypatch.setattr(memory, "CHECK_OBJECTS", True)
    clock = Clock()
    _, smsc, esme = smpp_pair(clock, latency=0.01, objects=True)
    assert esme.conn is not None and esme.conn.transport.carries_pdus   # type: ignore[union-attr]  # memory's
    esme.bind("demo", "demo")
    run_until(clock, 1.0)
    assert decoded == [Command.bind_transceiver, Command.bind_transceiver_resp]
    answers: list[str] = []
    for i in range(3):
        esme.submit("33612345678", b"%d" % i).addCallback(lambda resp: answers.append(str(resp["message_id"])))
    run_until(clock, 2.0)
    assert answers == ["m2", "m3", "m4"] and len(decoded) == 2          # no decoding at all
    d = esme.conn.request(Command.submit_sm, source_addr_ton=Ton.INTERNATIONAL, destination_addr="33612345678")
    run_until(clock, 3.0)
    assert result(d)["message_id"] == "m5"
    assert decoded[2:] == [Command.submit_sm]                           # read from its bytes
    ton = smsc.requests[-1][1]["source_addr_ton"]
    assert type(ton) is int and ton == 1


# --- (c) close, abort, reconnect ------------------------------------------------------------

@pytest.mark.parametrize("latency", [0.0, 0.5])
def test_lose_connection_delivers_pending_data_then_reaches_both_sides(latency: float) -> None:
    clock = Clock()
    _, server, client = raw_pair(clock, latency)
    t0 = clock.seconds()
    client.transport.write(b"last words")
    client.transport.loseConnection()
    client.transport.write(b"after the close")             # ignored
    assert server.lost == [] and client.lost == []
    clock.advance(latency)
    assert server.data == b"last words"
    assert [at for at, _ in client.lost] == [at for at, _ in server.lost] == [t0 + latency]
    assert client.lost[0][1].check(ConnectionDone) and server.lost[0][1].check(ConnectionDone)
    server.transport.write(b"too late")
    client.transport.loseConnection()
    clock.advance(10)
    assert client.received == [] and len(server.lost) == len(client.lost) == 1
    assert client.transport.disconnected and server.transport.disconnected


def test_abort_drops_what_is_in_flight() -> None:
    clock = Clock()
    _, server, client = raw_pair(clock, latency=1.0)
    client.transport.write(b"lost")
    client.transport.abortConnection()
    clock.advance(5)
    assert server.received == []
    assert client.lost[0][1].check(ConnectionAborted) and server.lost[0][1].check(ConnectionLost)


class AbortOnData(Recording):
    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.transport.abortConnection()


def test_an_abort_during_the_last_deliveries_of_a_close_is_reported_once() -> None:
    """The server writes at the instant the client sends its FIN: the close arrives first and
    delivers those bytes; the client resets on them; each side hears of it once."""
    clock = Clock()
    net = MemoryNetwork(clock, latency=1.0)
    servers = Built(clock)
    port = result(net.listen(HOST, 0, servers))
    connecting = connectProtocol(net.dial(HOST, port.getHost().port), AbortOnData(clock))  # type: ignore[attr-defined]
    clock.advance(1.0)
    client, server = result(connecting), servers.built[0]
    assert isinstance(client, AbortOnData)
    client.transport.loseConnection()
    server.transport.write(b"late")
    clock.advance(5)
    assert client.data == b"late"
    assert [r.type for _, r in client.lost] == [ConnectionAborted]
    assert [r.type for _, r in server.lost] == [ConnectionLost]


def test_unbind_closes_both_smpp_sessions() -> None:
    clock = Clock()
    _, smsc, esme = smpp_pair(clock)
    esme.bind("demo", "demo")
    clock.advance(0)
    unbound = esme.conn.unbind()  # type: ignore[union-attr]
    clock.advance(0)
    assert result(unbound).command is Command.unbind_resp  # type: ignore[attr-defined]
    assert esme.closed.called and result(esme.closed).clean  # type: ignore[attr-defined]
    assert [event.clean for event in smsc.lost] == [True]


def test_client_service_reconnects_when_the_server_drops_the_link() -> None:
    clock = Clock()
    net = MemoryNetwork(clock, latency=0.25)
    smsc = TinySmsc()
    port = result(net.listen(HOST, 0, SmppFactory(clock, Role.SMSC, smsc, QUIET)))
    esme = Links()
    service = ClientService(
        net.dial(HOST, port.getHost().port), SmppFactory(clock, Role.ESME, esme, QUIET),  # type: ignore[attr-defined]
        retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0, jitter=lambda: 0.0), clock=clock)
    service.startService()
    first = service.whenConnected()
    clock.advance(0.25)
    assert result(first) is esme.made[0] and len(smsc.conns) == 1

    smsc.conns[0].close()                                   # the operator drops us at 0.25
    clock.advance(0.25)
    assert len(smsc.lost) == len(esme.lost) == 1             # both sides know at 0.5
    clock.advance(0.75)
    assert len(smsc.conns) == 1                              # first retry: 0.5 * 2 = 1.0 s after the drop
    clock.advance(0.25)
    assert len(smsc.conns) == 1                              # retried at 1.5, still on the wire
    clock.advance(0.25)
    assert len(smsc.conns) == len(esme.made) == 2
    assert result(service.whenConnected()) is esme.made[1]

    stopping = service.stopService()
    clock.advance(0.25)
    assert stopping.called and len(smsc.lost) == len(esme.lost) == 2
    clock.advance(60)
    assert len(smsc.conns) == 2                              # stopped: no more attempts


def test_client_service_retries_a_refused_port_and_can_stop_while_connecting() -> None:
    clock = Clock()
    net = MemoryNetwork(clock)
    factory = Built(clock)
    service = ClientService(net.dial(HOST, 2775), factory, retryPolicy=lambda attempt: 1.0, clock=clock)
    service.startService()
    clock.advance(0)                                          # refused: nothing listens yet
    result(net.listen(HOST, 2775, protocol.Factory.forProtocol(protocol.Protocol)))
    clock.advance(1.0)
    assert len(factory.built) == 1
    stopping = service.stopService()
    clock.advance(0)
    result(stopping)
    late = ClientService(net.dial(HOST, 2775), factory, clock=clock)
    late.startService()
    result(late.stopService())                                # while connecting: the attempt is cancelled
    clock.advance(10)
    assert len(factory.built) == 1
