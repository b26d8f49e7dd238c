"""Issue 10, point 3: no client can exhaust the server. The parts about sockets, buffers and file
descriptors, on real TCP (127.0.0.1 and other loopback addresses) and a real process.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest_twisted
from twisted.internet import defer, protocol, task, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError

from aggregator.config import parse_config
from aggregator.harness import Harness, start_harness, tcp_dial, tcp_listen
from aggregator.store import Store
from smsc.esme import connect_esme
from smsc.pdu.codec import Command, encode, make
from tests.support.network import default_network_text
from tests.support.serve import command, output, read_banner, stop_serve

TIMEOUT = 20.0


def _reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor
    return reactor


async def sleep(seconds: float) -> None:
    await task.deferLater(_reactor(), seconds, lambda: None)


class Deaf(protocol.Protocol):
    """A client that binds, then writes without ever reading again."""

    def __init__(self) -> None:
        self.bound: defer.Deferred[None] = defer.Deferred()
        self.closed: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(encode(make(Command.bind_transceiver, 1, system_id="demo", password="demo")))

    def dataReceived(self, data: bytes) -> None:
        if not self.bound.called:
            self.transport.pauseProducing()          # never reads again
            self.bound.callback(None)

    def connectionLost(self, reason: object = None) -> None:
        self.closed.callback(None)


def buffered(harness: Harness) -> int:
    """Octets the server holds for its clients in user space (Twisted's write buffers)."""
    total = 0
    for conn in harness.server.connections:
        t = conn.transport
        total += len(getattr(t, "dataBuffer", b"")) - getattr(t, "offset", 0) + getattr(t, "_tempDataLen", 0)
    return total


@pytest_twisted.ensureDeferred
async def test_a_client_that_pipelines_and_never_reads_is_held_to_bounded_memory_then_cut_off(
        tmp_path: Path) -> None:
    reactor = _reactor()
    text = default_network_text().replace("max_binds: 8", "max_binds: 1")
    config = parse_config(text + "\nlimits: {unread_timeout: 2}\n", "<test>")
    store = Store(tmp_path / "h.db", schedule=reactor.callLater, call_from_thread=reactor.callFromThread)
    harness = await start_harness(config, reactor, store, tcp_listen(reactor), tcp_dial(reactor), port=0)
    try:
        deaf = Deaf()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", harness.port), deaf)
        await deaf.bound.addTimeout(TIMEOUT, reactor)
        flood = encode(make(Command.enquire_link, 7)) * 65536          # 1 MiB a write
        for _ in range(16):
            deaf.transport.write(flood)                               # 16 MiB of requests, answers unread
        most = 0
        for _ in range(30):
            await sleep(0.1)
            most = max(most, buffered(harness))
        assert most < 512 * 1024, f"the server held {most} octets for a client that does not read"
        await deaf.closed.addTimeout(TIMEOUT, reactor)                # cut off after unread_timeout
        # its bind slot is free (max_binds 1): another client binds and submits
        esme = await connect_esme(reactor, "127.0.0.1", harness.port)
        assert (await esme.bind("demo", "demo").addTimeout(TIMEOUT, reactor)).command_status == 0
        assert (await esme.submit("+33612345678").addTimeout(TIMEOUT, reactor)).command_status == 0
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        await harness.stop()


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))


@pytest_twisted.ensureDeferred
async def test_a_flood_of_idle_connections_never_locks_the_others_out(tmp_path: Path) -> None:
    """serve with 300 file descriptors, and 400 connections that never bind from four other
    addresses: the excess is refused with a log line, the idle ones are closed after the bind
    timeout, and a real client binds and submits."""
    reactor = _reactor()
    serve = subprocess.Popen(command("serve", "--port", "0", "--control-port", "0", "--db", str(tmp_path / "s.db")),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                             preexec_fn=_low_fd_limit)
    idle: list[protocol.Protocol] = []
    refused = 0
    try:
        port, _ = await threads.deferToThread(read_banner, serve).addTimeout(TIMEOUT, reactor)
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            for _ in range(100):
                endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(source, 0))
                try:
                    idle.append(await connectProtocol(endpoint, protocol.Protocol()))
                except ConnectError:                                  # refused over a cap (reset)
                    refused += 1
        await sleep(0.5)
        for _ in range(int(TIMEOUT / 0.5)):                           # the idle ones go after 10 s
            try:
                esme = await connect_esme(reactor, "127.0.0.1", port)
                bound = await esme.bind("demo", "demo").addTimeout(2.0, reactor)
                if bound.command_status == 0:
                    break
            except Exception:                                         # noqa: BLE001 - refused: try again
                pass
            await sleep(0.5)
        else:
            raise AssertionError("a real client could not bind after the flood")
        resp = await esme.submit("+33612345678").addTimeout(TIMEOUT, reactor)
        assert resp.command_status == 0
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        for conn in idle:
            if conn.transport is not None:
                conn.transport.abortConnection()
        returncode = stop_serve(serve)
    log = output(serve)
    assert returncode == 0
    assert "refusing connections" in log
    assert "limits.max_connections lowered from 1000 to 200" in log
    assert "Too many open files" not in log and "Traceback" not in log
