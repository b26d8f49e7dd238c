"""The whole stack in memory on a task.Clock, with one bound client and its control API (the control
API tests; tests/support/memstack.py is the general in-memory stack).

As in tests/integration/test_memory_stack.py: `start_harness` over `smsc.memory.MemoryNetwork`,
so no socket and no reactor; everything moves when the test runs the clock. The control API
is a real twisted.web Site fed raw HTTP over a StringTransport (`http`), so what is tested is
the bytes a client sends and the bytes it gets back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import connectProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.server import Site

from aggregator.config import load_config
from aggregator.harness import Harness, start_harness
from aggregator.store import Store
from smsc.adapter import SmppConnection
from smsc.esme import Esme
from smsc.memory import MemoryNetwork, run_until
from smsc.pdu.codec import Pdu
from smsc.session import Session, SessionConfig
from smsc.states import Role
from tests.support.deferreds import result, settle
from tests.support.stack import drain

START = 1_795_982_400.0                    # 2026-11-29T20:00:00Z
TOKEN = "test-token-0123456789abcdef"
PEER = IPv4Address("TCP", "127.0.0.1", 40999)


@dataclass
class MemoryStack:
    clock: Clock
    net: MemoryNetwork
    harness: Harness
    esme: Esme
    conn: SmppConnection

    def run(self, seconds: float) -> None:
        run_until(self.clock, self.clock.seconds() + seconds)

    def delivered(self) -> list[Pdu]:
        """Every deliver_sm the client got so far (taken from its queue)."""
        return drain(self.esme)

    def stop(self) -> None:
        settle(self.clock, defer.ensureDeferred(self.harness.stop()), "harness.stop()")  # type: ignore[arg-type]


def start_memory_stack(db: Path) -> MemoryStack:
    clock = Clock()
    clock.advance(START)
    net = MemoryNetwork(clock)
    store = Store(db, schedule=clock.callLater)
    harness = result(defer.ensureDeferred(start_harness(
        load_config(), clock, store, net.listen, net.dial, port=0, link_clock=clock)))
    assert isinstance(harness, Harness)
    settle(clock, harness.connectors_bound(), "the operator binds")  # type: ignore[arg-type]
    esme = Esme(clock)
    conn = SmppConnection(Session(Role.ESME, SessionConfig(), clock.seconds()), clock, esme)
    settle(clock, connectProtocol(net.dial("127.0.0.1", harness.port), conn), "the client connection")  # type: ignore[arg-type]
    bind = settle(clock, esme.bind("demo", "demo", "transceiver"), "the bind")  # type: ignore[arg-type]
    assert isinstance(bind, Pdu) and bind.command_status == 0
    return MemoryStack(clock, net, harness, esme, conn)


# --- raw HTTP against a Site ------------------------------------------------------------------

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
