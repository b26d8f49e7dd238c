"""TLS on the client port and on the aggregator's links to operators (issue 10, part 3), over
real TCP on 127.0.0.1 with self-signed certificates made in the test: TLS is the point here.

The stack runs on the real reactor as its clock (as in test_end_to_end.py); the operator's
receipt delay is 0, so every wait is for bytes only, each bounded by TIMEOUT.
"""

from __future__ import annotations

import re
import subprocess
import ssl
from pathlib import Path
from typing import AsyncIterator

import pytest_twisted
import smpplib.consts
from twisted.internet import defer, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.logger import ILogObserver, globalLogPublisher
from zope.interface import provider

from aggregator.config import load_config
from aggregator.harness import Harness, start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
from aggregator.store import MessageState, Store
from scenarios.loader import load_scenario
from scenarios.runner import run_scenario, run_scenario_live
from smsc.adapter import ConnectionGone, SmppConnection
from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Pdu
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus
from smsc.session import Session, SessionConfig
from smsc.states import Role
from tests.support.serve import command, start_serve, stop_serve
from tests.support.smpplib_client import smpplib_session
from tests.support.tls import self_signed

TIMEOUT = 15.0
DESTINATION = "+33612345678"


def _reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor
    return reactor


async def wait(d: defer.Deferred) -> object:  # type: ignore[type-arg]
    return await d.addTimeout(TIMEOUT, _reactor())


def network_yaml(directory: Path, *, client_tls: bool = True, operator_tls: bool = True,
                 tls_port: int = 0) -> Path:
    """A one-operator network in `directory` (certificates beside it, named relative to it):
    the client TLS port and/or a TLS operator link; every +33 number goes to the operator,
    which answers DELIVRD at once."""
    self_signed(directory, "client")
    self_signed(directory, "operator")
    listen = f"{{port: 0, tls: {{port: {tls_port}, certificate: client.crt, key: client.key}}}}" \
        if client_tls else "{port: 0}"
    operator_tls_line = "    tls: {certificate: operator.crt, key: operator.key}\n" if operator_tls else ""
    path = directory / "net.yaml"
    path.write_text(
        f"listen: {listen}\n"
        "control: {port: 0}\n"
        "operators:\n"
        "  - id: secure\n"
        "    name: Secure Telecom\n"
        "    carriers: [\"Orange France\"]\n"
        f"{operator_tls_line}"
        "    smsc: {receipt_delay: 0}\n"
        "accounts:\n"
        "  - {system_id: demo, password: demo, short_codes: [\"36180\"]}\n"
        "  - {system_id: other, password: other}\n"
        "routing: {ported: {\"+33\": secure}}\n")
    return path


@pytest_twisted.async_yield_fixture
async def secure(tmp_path: Path) -> AsyncIterator[Harness]:
    """The stack of `network_yaml`, both TLS legs on, over real TCP."""
    reactor = _reactor()
    config = load_config(network_yaml(tmp_path))
    store = Store(tmp_path / "tls.db", schedule=reactor.callLater)
    harness = await start_harness(config, reactor, store, tcp_listen(reactor), tcp_dial(reactor), port=0,
                                  listen_tls=tls_listen(reactor), dial_tls=tls_dial(reactor), tls_port=0)
    try:
        await wait(harness.connectors_bound())
        yield harness
    finally:
        await harness.stop()


async def connect_tls_esme(port: int, trusted: Path) -> Esme:
    """A client that dials the TLS port, trusting the self-signed certificate and checking it
    names 127.0.0.1, as a careful integrator's client would."""
    reactor = _reactor()
    esme = Esme(reactor)
    conn = SmppConnection(Session(Role.ESME, SessionConfig(), reactor.seconds()), reactor, esme)
    options = optionsForClientTLS("127.0.0.1", trustRoot=Certificate.loadPEM(trusted.read_bytes()))
    await wait(connectProtocol(wrapClientTLS(options, TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)),
                               conn))
    return esme


async def submit_and_get_receipt(esme: Esme, text: bytes) -> tuple[str, Pdu]:
    resp: Pdu = await wait(esme.submit(DESTINATION, text))  # type: ignore[assignment]
    assert resp.command_status == CommandStatus.ESME_ROK, resp
    deliver: Pdu = await wait(esme.delivered.get())  # type: ignore[assignment]
    return str(resp["message_id"]), deliver


async def close(esme: Esme) -> None:
    if esme.conn is not None and not esme.closed.called:
        esme.conn.close()
        await wait(esme.closed)


@pytest_twisted.ensureDeferred
async def test_client_binds_and_submits_over_tls_and_gets_its_receipt(secure: Harness, tmp_path: Path) -> None:
    assert secure.tls_port is not None and secure.tls_port != secure.port
    esme = await connect_tls_esme(secure.tls_port, tmp_path / "client.crt")
    try:
        bound: Pdu = await wait(esme.bind("demo", "demo", "transceiver"))  # type: ignore[assignment]
        assert bound.command_status == CommandStatus.ESME_ROK
        assert esme.conn is not None and ISSLTransport.providedBy(esme.conn.transport)
        message_id, deliver = await submit_and_get_receipt(esme, b"over TLS")
        receipt = parse_receipt(deliver)
        assert receipt is not None and receipt.message_id == message_id and receipt.stat == "DELIVRD"
        record = secure.store.message(message_id)
        assert record is not None and record.state is MessageState.DELIVERED
    finally:
        await close(esme)


@provider(ILogObserver)
class _Failures:
    """Log events that carry a traceback or are critical (bad input must make none)."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def __call__(self, event: dict[str, object]) -> None:
        level = event.get("log_level")
        if "log_failure" in event or getattr(level, "name", "") == "critical":
            self.events.append(event)


@pytest_twisted.ensureDeferred
async def test_plain_smpp_on_the_tls_port_fails_alone(secure: Harness, tmp_path: Path) -> None:
    assert secure.tls_port is not None
    failures = _Failures()
    globalLogPublisher.addObserver(failures)
    tls_client = await connect_tls_esme(secure.tls_port, tmp_path / "client.crt")
    plain_client = await connect_esme(_reactor(), "127.0.0.1", secure.port)
    try:
        assert (await wait(tls_client.bind("demo", "demo"))).command_status == 0  # type: ignore[attr-defined]
        assert (await wait(plain_client.bind("other", "other"))).command_status == 0  # type: ignore[attr-defined]

        confused = await connect_esme(_reactor(), "127.0.0.1", secure.tls_port)
        bind = confused.bind("demo", "demo")
        bind.addErrback(lambda failure: failure.value)      # it fails: keep the reason as a value
        await wait(confused.closed)                         # the server closes it: no bind_resp
        assert isinstance(await wait(bind), ConnectionGone)
        backwards = await connect_tls_esme(secure.port, tmp_path / "client.crt")   # TLS to the plain port
        backwards.bind("demo", "demo").addErrback(lambda failure: None)
        await wait(backwards.closed)                        # closed too (its ClientHello is no PDU)

        # Everyone else goes on: the other TLS client, the plain port, a new TLS connection.
        _, deliver = await submit_and_get_receipt(tls_client, b"still here")
        assert parse_receipt(deliver) is not None
        _, deliver = await submit_and_get_receipt(plain_client, b"plain port")
        assert parse_receipt(deliver) is not None
        late = await connect_tls_esme(secure.tls_port, tmp_path / "client.crt")
        assert (await wait(late.bind("other", "other"))).command_status == 0  # type: ignore[attr-defined]
        await close(late)
    finally:
        globalLogPublisher.removeObserver(failures)
        await close(tls_client)
        await close(plain_client)
    assert failures.events == []


@pytest_twisted.ensureDeferred
async def test_aggregator_binds_to_a_tls_operator_end_to_end(tmp_path: Path) -> None:
    reactor = _reactor()
    config = load_config(network_yaml(tmp_path, client_tls=False))
    store = Store(tmp_path / "op.db", schedule=reactor.callLater)
    harness = await start_harness(config, reactor, store, tcp_listen(reactor), tcp_dial(reactor), port=0,
                                  listen_tls=tls_listen(reactor), dial_tls=tls_dial(reactor), tls_port=0)
    try:
        await wait(harness.connectors_bound())
        assert harness.tls_port is None                     # no listen.tls: no TLS port
        link = harness.pools["secure"].connectors[0].conn
        assert link is not None and ISSLTransport.providedBy(link.transport)
        presented = link.transport.getPeerCertificate()     # what the operator SMSC showed
        assert Certificate(presented) == Certificate.loadPEM((tmp_path / "operator.crt").read_bytes())

        # The operator's SMSC speaks TLS only: a plain bind there gets no answer.
        stray = await connect_esme(reactor, "127.0.0.1", harness.operator_ports["secure"])
        stray.bind("aggregator", "secret").addErrback(lambda failure: None)
        await wait(stray.closed)

        esme = await connect_esme(reactor, "127.0.0.1", harness.port)
        try:
            assert (await wait(esme.bind("demo", "demo"))).command_status == 0  # type: ignore[attr-defined]
            message_id, deliver = await submit_and_get_receipt(esme, b"to a TLS operator")
            receipt = parse_receipt(deliver)
            assert receipt is not None and receipt.message_id == message_id and receipt.stat == "DELIVRD"
            record = store.message(message_id)
            assert record is not None and record.operator_id == "secure" and record.state is MessageState.DELIVERED
        finally:
            await close(esme)
    finally:
        await harness.stop()


SCENARIO = """\
name: tls network
seed: 1
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
network: net.yaml
timeline:
  - bind: {account: demo, mode: transceiver}
  - submit: {account: demo, to: "+33612345678", text: "Bonjour", from: "36180", receipt: true}
  - advance: 2s
  - expect: {name: "delivered", messages: {state: delivered, "==": 1}}
  - expect: {name: "receipt reached demo", deliveries: {account: demo, "==": 1}}
"""


def test_a_tls_network_replays_in_memory_as_plain_links(tmp_path: Path) -> None:
    network_yaml(tmp_path, tls_port=2777)
    (tmp_path / "tls.yaml").write_text(SCENARIO)
    report = run_scenario(load_scenario(tmp_path / "tls.yaml"), tmp_path / "replay.db")
    assert report.passed, report


@pytest_twisted.ensureDeferred
async def test_a_tls_network_plays_live_with_tls_operator_links(tmp_path: Path) -> None:
    network_yaml(tmp_path, tls_port=2777)                # live replays open their ports on 0
    (tmp_path / "tls.yaml").write_text(SCENARIO)
    report = await wait(defer.ensureDeferred(
        run_scenario_live(load_scenario(tmp_path / "tls.yaml"), tmp_path / "live.db", _reactor())))
    assert report.passed, report  # type: ignore[attr-defined]


# --- `smsc-harness serve` as a user runs it, with a client from another library --------------

BANNER = re.compile(r"^smsc-harness: SMPP server on 127\.0\.0\.1:(\d+) \(TLS on 127\.0\.0\.1:(\d+); ")


def read_tls_banner(process: subprocess.Popen[str]) -> tuple[int, int]:
    """(plain port, TLS port) from serve's first stdout line: the banner comes before any log
    line (the start-up lines are held until it is out)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    found = BANNER.search(line)
    assert found, f"serve's first line is not the banner naming the TLS port: {line!r}"
    return int(found.group(1)), int(found.group(2))


class CheckedName:
    """smpplib calls `ssl_context.wrap_socket(sock)` with no server name, which a context that
    checks names refuses: this gives it the name to check (the README shows the same)."""

    def __init__(self, context: ssl.SSLContext, name: str) -> None:
        self.context, self.name = context, name

    def wrap_socket(self, sock: object) -> ssl.SSLSocket:
        return self.context.wrap_socket(sock, server_hostname=self.name)  # type: ignore[arg-type]


def smpplib_over_tls(port: int, trusted: Path) -> dict[str, object]:
    """smpplib through Python's ssl module, checking the certificate and that it names
    127.0.0.1: what the README tells an integrator to do."""
    return smpplib_session(port, b"TLS both ways",
                           CheckedName(ssl.create_default_context(cafile=str(trusted)), "127.0.0.1"))


@pytest_twisted.ensureDeferred
async def test_serve_names_its_tls_port_and_an_smpplib_client_gets_a_receipt_over_tls(tmp_path: Path) -> None:
    config = network_yaml(tmp_path)
    process = start_serve(tmp_path, "--config", str(config), "--db", str(tmp_path / "serve.db"))
    try:
        plain, secure_port = await wait(threads.deferToThread(read_tls_banner, process))  # type: ignore[misc]
        assert plain != secure_port
        seen = await wait(threads.deferToThread(smpplib_over_tls, secure_port, tmp_path / "client.crt"))
        assert str(seen["tls"]).startswith("TLSv1.")  # type: ignore[index]
        receipt = seen["receipt"]  # type: ignore[index]
        assert receipt.receipted_message_id.decode() == seen["message_id"]  # type: ignore[attr-defined,index]
        assert receipt.message_state == smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED  # type: ignore[attr-defined]
    finally:
        returncode = stop_serve(process)
    assert returncode == 0


def test_serve_with_its_tls_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = network_yaml(tmp_path, tls_port=port)
        result = subprocess.run(command("serve", "--config", str(config), "--port", "0", "--control-port", "0",
                                        "--db", str(tmp_path / "x.db")),
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"smsc-harness: cannot listen on 127.0.0.1:{port} for the SMPP server's TLS port (listen.tls.port): "
        "Address already in use"]
    assert "Traceback" not in result.stdout


def test_serve_refuses_an_operator_certificate_out_of_its_validity(tmp_path: Path) -> None:
    import datetime
    config = network_yaml(tmp_path, client_tls=False)
    self_signed(tmp_path, "operator", not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc))
    result = subprocess.run(command("serve", "--config", str(config), "--port", "0", "--control-port", "0",
                                    "--db", str(tmp_path / "x.db")),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"smsc-harness: operators[0].tls.certificate: the certificate in {tmp_path / 'operator.crt'} is not"
        " valid now (valid until 2021-01-01 00:00:00 UTC); make a new one"]
    assert "Traceback" not in result.stdout and not (tmp_path / "x.db").exists()
