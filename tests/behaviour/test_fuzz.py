"""The fuzzing campaign in CI (issue 10), and one regression test per bug it found.

`test_a_short_campaign_finds_nothing_unexplained` runs `python -m tests.fuzz`'s campaign for a
few thousand PDUs against both targets, in memory on the virtual clock, with every oracle on
(tracemalloc in a shorter one of its own, `test_memory_stays_bounded`). A finding that no open
bug explains fails it at once. Each bug the campaign found has its own small regression test
below; all are fixed, so OPEN_BUGS is empty and the campaign must find nothing. A bug found
later and not fixed at once goes into OPEN_BUGS with its regression test marked
xfail(strict=True): the campaign then reports an expected failure naming it, and when the fix
lands the strict XPASS fails the suite until the mark and the entry are removed together.

The oracles themselves are proven on bugs planted for the length of a test (monkeypatch on
the aggregator's handler), so they stay proven once the real bugs are gone.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from twisted.internet import protocol
from twisted.logger import Logger, LogLevel, globalLogPublisher
from twisted.python.failure import Failure

from aggregator.server import AggregatorServer
from smsc.pdu.codec import Command, Pdu, Tag, Tlv, decode, encode, make
from smsc.pdu.framing import Framer
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus
from tests.fuzz.campaign import Campaign, Finding, Report, minimise, replay_findings
from tests.fuzz.pdus import ALL_KINDS
from tests.fuzz.world import SENTINELS, Trouble, World, WorldSink, describe

CI_PDUS = 3000
CI_SEED = 1
# What the traced heap may grow by during a 1,500-PDU campaign. It peaks at about 7 MiB (the
# store's queue, the operators' messages, 50 connections' input buffers of at most 64 KiB
# each); 64 MiB leaves room for other code while still catching what issue 10 saw ("1,500
# half-sent 65 KB frames hold 100 MB"). tracemalloc slows a campaign about three times, so
# it has a shorter campaign of its own.
CI_MEMORY_LIMIT = 64 << 20
OK = CommandStatus.ESME_ROK


@dataclass(frozen=True)
class OpenBug:
    """A bug the campaign finds today: the regression test pinning it, and the signatures
    (regular expressions over `Finding.signature`) of its findings and their consequences."""

    test: str
    signatures: tuple[str, ...]

    def explains(self, finding: Finding) -> bool:
        return any(re.search(pattern, finding.signature) for pattern in self.signatures)


OPEN_BUGS: tuple[OpenBug, ...] = ()      # every bug the campaign found is fixed; see the tests below


# --- the campaign -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ci_report() -> Report:
    return Campaign(CI_PDUS, seed=CI_SEED, connections=50, target="both", minimise_findings=False).run()


def test_a_short_campaign_finds_nothing_unexplained(ci_report: Report) -> None:
    unexplained = [f for f in ci_report.findings if not any(bug.explains(f) for bug in OPEN_BUGS)]
    assert not unexplained, "\n".join(ci_report.lines())
    if ci_report.findings:
        open_tests = sorted({bug.test for f in ci_report.findings for bug in OPEN_BUGS if bug.explains(f)})
        pytest.xfail(f"{len(ci_report.findings)} finding(s), all of open bugs pinned by: {', '.join(open_tests)}")


def test_the_campaign_covers_every_command_mutation_state_and_split(ci_report: Report) -> None:
    s = ci_report.stats
    assert s.pdus >= CI_PDUS
    assert {c.name for c in Command} | {"unknown", "random_bytes"} <= set(s.by_command)
    assert set(ALL_KINDS) | {"partial_then_close"} <= set(s.by_kind)
    assert {"open", "bound_tx", "bound_rx", "bound_trx", "after_unbind"} <= set(s.by_state)
    assert {"whole", "coalesced", "random_split", "header_split", "bytewise"} <= set(s.by_chunking)
    assert {"bind_transceiver", "bind_transmitter", "bind_receiver", "never_bound", "unbinder", "closer",
            "garbage"} <= set(s.by_profile)
    assert {"mid_pdu_close", "mid_pdu_abort", "unbind", "close", "abort"} <= set(s.closed_by_client)
    assert s.opened > 200 and s.closed_by_server and s.accepted > 0
    assert {"ESME_ROK", "ESME_RINVBNDSTS", "ESME_RINVCMDID", "ESME_RINVCMDLEN", "ESME_RINVMSGLEN",
            "ESME_RINVOPTPARSTREAM"} <= set(s.responses)
    assert s.server_requests["deliver_sm"] > 0 and s.answers > 0
    assert s.max_buffered > 0


def test_memory_stays_bounded() -> None:
    report = Campaign(1500, seed=CI_SEED, connections=50, target="both", trace_memory=True,
                      memory_limit=CI_MEMORY_LIMIT, minimise_findings=False).run()
    assert [f for f in report.findings if f.kind == "memory"] == [], "\n".join(report.lines())
    assert report.stats.traced_peak is not None and 0 < report.stats.traced_peak < CI_MEMORY_LIMIT
    assert 0 < report.stats.max_buffered <= 64 * 1024


def test_the_same_seed_sends_the_same_bytes_and_finds_the_same() -> None:
    first = Campaign(600, seed=5, connections=20, minimise_findings=False).run()
    second = Campaign(600, seed=5, connections=20, minimise_findings=False).run()
    other = Campaign(600, seed=6, connections=20, minimise_findings=False).run()
    assert first.fingerprint() == second.fingerprint()
    assert first.fingerprint() != other.fingerprint()


def test_the_command_line_prints_a_summary_and_exits_1_on_a_finding(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    from tests.fuzz.__main__ import main
    status = main(["--pdus", "300", "--seed", "3", "--connections", "10", "--target", "server", "--no-minimise",
                   "--json", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert "fuzz campaign: seed 3, target server, 10 connections at once" in out
    assert re.search(r"PDUs sent +\d", out) and "closed by the server, why:" in out and "responses" in out
    assert status == (1 if re.search(r"findings +[1-9]", out) else 0)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["stats"]["pdus"] == sum(saved["stats"]["by_command"].values()) == 300
    assert len(saved["findings"]) == status * len(saved["findings"])
    with pytest.raises(SystemExit) as bad:
        main(["--pdus", "0"])
    assert bad.value.code == 2


@pytest.mark.parametrize("target", ["server", "operator"])
def test_responses_out_of_order_on_a_repeated_sequence_number_answer_their_own_request(target: str) -> None:
    # The session answers an unknown command_id at once (generic_nack) and a bind only once the
    # handler has run: the nack overtakes the bind_resp. Matching the nack to the bind made
    # the bind_resp look like an answer to nothing (a false finding of the 1,000,000-PDU run).
    creds = {"server": ("demo", "demo"), "operator": ("aggregator", "secret")}[target]
    bind = encode(make(Command.bind_transceiver, 1, system_id=creds[0], password=creds[1], interface_version=0x34))
    unknown = struct.pack("!IIII", 16, 0x10000000, 0, 1)
    assert replay_findings(target, [bind + unknown]) == {}


# --- the oracles, on planted bugs -----------------------------------------------------------------

def _planted(report: Report, kind: str, text: str) -> Finding:
    found = [f for f in report.findings if f.kind == kind and text in f.detail]
    assert found, "\n".join(report.lines())
    return found[0]


def test_an_exception_in_a_handler_is_found_with_its_reproduction(monkeypatch: pytest.MonkeyPatch) -> None:
    def query_sm(self: AggregatorServer, conn: object, pdu: Pdu) -> None:
        raise RuntimeError("planted")
    monkeypatch.setattr(AggregatorServer, "_query_sm", query_sm)
    campaign = Campaign(800, seed=2, connections=20, target="server", minimise_findings=False)
    report = campaign.run()
    finding = _planted(report, "exception", "RuntimeError: planted")
    assert finding.trigger is not None and decode(finding.trigger).command is Command.query_sm  # type: ignore[union-attr]
    campaign.findings = {finding.signature: finding}
    minimise(campaign)
    assert finding.reproduction.startswith("on a new connection to the server, write a bind_transceiver"), \
        finding.reproduction


def test_a_request_never_answered_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = AggregatorServer.request_received

    def request_received(self: AggregatorServer, conn: object, pdu: Pdu) -> None:
        if pdu.command is not Command.submit_sm:
            answer(self, conn, pdu)  # type: ignore[arg-type]
    monkeypatch.setattr(AggregatorServer, "request_received", request_received)
    report = Campaign(800, seed=2, connections=20, target="server", minimise_findings=False).run()
    _planted(report, "unanswered", "submit_sm seq")


def test_a_closed_connection_kept_in_the_registry_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AggregatorServer, "connection_lost", lambda self, conn, event: None)
    report = Campaign(800, seed=2, connections=20, target="server", minimise_findings=False).run()
    _planted(report, "registry", "the server still lists a closed connection")
    _planted(report, "leak", "closed connection(s) still in memory")


def test_an_error_logged_by_the_server_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    query = AggregatorServer._query_sm

    def query_sm(self: AggregatorServer, conn: object, pdu: Pdu) -> None:
        Logger(namespace="aggregator.server").error("planted {what}", what="error")
        query(self, conn, pdu)  # type: ignore[arg-type]
    monkeypatch.setattr(AggregatorServer, "_query_sm", query_sm)
    report = Campaign(800, seed=2, connections=20, target="server", minimise_findings=False).run()
    _planted(report, "logged error", "aggregator.server: planted error")


# --- one regression test per bug the campaign found -------------------------------------------------

class Recorder(WorldSink):
    """Records what the oracles would report: exceptions out of protocols and clock calls, and
    log events at warning level and above."""

    def __init__(self) -> None:
        self.exceptions: list[Trouble] = []
        self.events: list[dict[str, object]] = []

    def exception(self, error: Exception, observed: object, data: bytes | None) -> None:
        self.exceptions.append(describe(error))

    def __call__(self, event: dict[str, object]) -> None:
        level = event.get("log_level")
        if level in (LogLevel.warn, LogLevel.error, LogLevel.critical) or "log_failure" in event:
            self.events.append(event)

    def warnings(self, fmt_part: str) -> int:
        return sum(1 for e in self.events if fmt_part in str(e.get("log_format")))


class Peer(protocol.Protocol):
    """A raw client: writes any bytes, decodes what comes back, answers deliver_sm."""

    def __init__(self, answer: bool = True) -> None:
        self.framer = Framer(1 << 20)
        self.pdus: list[Pdu] = []
        self.closed = False
        self.answer_requests = answer          # False: the test answers them itself

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            assert isinstance(frame, bytes)
            pdu = decode(frame)
            assert isinstance(pdu, Pdu), pdu
            self.pdus.append(pdu)
            if self.answer_requests and pdu.command in (Command.deliver_sm, Command.enquire_link):
                self.transport.write(encode(make(pdu.command.response, pdu.sequence_number,
                                                 **({"message_id": ""} if pdu.command is Command.deliver_sm else {}))))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.closed = True

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def answer(self, seq: int, command: Command | None = None) -> Pdu | None:
        for pdu in self.pdus:
            if pdu.sequence_number == seq and pdu.command.is_response and (command is None or pdu.command is command):
                return pdu
        return None

    def receipts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for pdu in self.pdus:
            receipt = parse_receipt(pdu) if pdu.command is Command.deliver_sm else None
            if receipt is not None:
                out[receipt.message_id] = receipt.stat
        return out


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    globalLogPublisher.addObserver(recording)
    yield recording
    globalLogPublisher.removeObserver(recording)


@pytest.fixture
def world(recorder: Recorder) -> Iterator[World]:
    running = World(("server", "operator"), recorder)
    yield running
    running.stop()


def connect(world: World, target: str, answer: bool = True) -> Peer:
    peer = Peer(answer)
    world.settle(world.connect(world.targets[target], peer), "the connection")
    return peer


def bound(world: World, target: str, command: Command = Command.bind_transceiver, answer: bool = True) -> Peer:
    peer = connect(world, target, answer)
    creds = world.targets[target].creds
    peer.send(encode(make(command, 1, system_id=creds.system_id, password=creds.password, interface_version=0x34)))
    world.advance(0.1)
    resp = peer.answer(1)
    assert resp is not None and resp.command_status == OK, resp
    return peer


def submit(destination: str, seq: int, short_message: bytes = b"hello", tlvs: tuple[Tlv, ...] = (),
           **params: int | str) -> bytes:
    return encode(make(Command.submit_sm, seq, tlvs=tlvs, source_addr_ton=5, source_addr="Brand", dest_addr_ton=1,
                       dest_addr_npi=1, destination_addr=destination.lstrip("+"), registered_delivery=1,
                       short_message=short_message, **params))


def with_short_message(wire: bytes, short_message: bytes) -> bytes:
    """`wire` (a submit_sm whose short_message is empty and last) with `short_message` and its
    length written in, whatever the spec allows: sm_length 255 is how a client gets past 254."""
    assert wire[-1] == 0
    body = wire[16:-1] + bytes((len(short_message),)) + short_message
    return struct.pack("!I", 16 + len(body)) + wire[4:16] + body


def delivered(world: World, peer: Peer, number: str, seq: int, within: float = 60.0) -> str | None:
    """Submit to `number` on `peer`; the receipt's stat within `within` s, or None."""
    peer.send(submit(number, seq))
    world.advance(0.1)
    resp = peer.answer(seq, Command.submit_sm_resp)
    if resp is None or resp.command_status != OK:
        return None
    message_id = str(resp["message_id"])
    end = world.clock.seconds() + within
    while message_id not in peer.receipts() and world.clock.seconds() < end:
        world.advance(1.0)
    return peer.receipts().get(message_id)


@pytest.mark.parametrize("target", ["server", "operator"])
@pytest.mark.parametrize("command", [Command.outbind, Command.alert_notification], ids=lambda c: c.name)
def test_outbind_and_alert_notification_get_an_answer(world: World, recorder: Recorder, target: str,
                                                      command: Command) -> None:
    peer = connect(world, target)
    peer.send(encode(make(command, 7)))
    peer.send(encode(make(Command.enquire_link, 8)))
    world.advance(1.0)
    assert recorder.exceptions == []
    nack = peer.answer(7)
    assert nack is not None and nack.command is Command.generic_nack
    assert nack.command_status in (CommandStatus.ESME_RINVCMDID, CommandStatus.ESME_RINVBNDSTS)
    assert peer.answer(8, Command.enquire_link_resp) is not None and not peer.closed


def test_sm_length_above_254_is_refused_and_the_route_still_works(world: World, recorder: Recorder) -> None:
    peer = bound(world, "server")
    orange = SENTINELS["orange"]
    peer.send(with_short_message(submit(orange, 2, b""), b"x" * 255))
    world.advance(1.0)
    resp = peer.answer(2)
    assert recorder.exceptions == []
    assert resp is not None and resp.command is Command.submit_sm_resp and resp.command_status != OK
    assert delivered(world, peer, orange, 3) == "DELIVRD"
    world.advance(40.0)                       # past the links' response timeout
    assert recorder.exceptions == [] and recorder.warnings("no response to") == 0


def test_a_forward_above_the_frame_limit_leaves_the_operator_link_up(world: World, recorder: Recorder) -> None:
    peer = bound(world, "server")
    bouygues = SENTINELS["bouygues"]
    small = submit(bouygues, 2, b"")
    room = 65536 - len(small) - 4 - 8         # the client's frame stays 8 octets under the limit
    peer.send(submit(bouygues, 2, b"", (Tlv(Tag.message_payload, b"p" * room),)))
    world.advance(1.0)
    assert peer.answer(2) is not None
    assert delivered(world, peer, bouygues, 3) == "DELIVRD"
    world.advance(30.0)
    assert recorder.exceptions == []
    assert recorder.warnings("connection lost") == 0 and recorder.warnings("protocol error") == 0


@pytest.mark.parametrize("target", ["server", "operator"])
def test_pipelined_binds_leave_no_ghost_bind(recorder: Recorder, target: str) -> None:
    world = World((target,), recorder, lift_bind_limits=False)   # the shipped limits: 8 and 4 binds
    try:
        t = world.targets[target]
        limit = next(a.max_binds for a in world.config.accounts if a.system_id == "demo") if target == "server" \
            else world.config.operators[0].behaviour.max_binds
        peer = connect(world, target)
        peer.send(b"".join(encode(make(Command.bind_transceiver, seq, system_id=t.creds.system_id,
                                       password=t.creds.password, interface_version=0x34))
                           for seq in range(1, limit + 1)))
        world.advance(0.1)
        peer.transport.loseConnection()
        world.advance(0.1)
        first, second = bound(world, target), bound(world, target)  # the second is ESME_RBINDFAIL today
        assert not first.closed and not second.closed
        assert [c for c in t.binds() if c.transport is not None and c.transport.disconnected] == []
    finally:
        world.stop()


@pytest.mark.parametrize("case", ["ucs2_odd", "udh_past_end", "sm_and_payload"])
def test_undeliverable_submit_is_refused_at_submit(world: World, case: str) -> None:
    peer = bound(world, "server")
    orange = SENTINELS["orange"]
    if case == "ucs2_odd":
        wire = submit(orange, 2, "héllo".encode("utf-16-be") + b"\x00", data_coding=8)
    elif case == "udh_past_end":
        wire = submit(orange, 2, b"\x05\x00\x03", esm_class=0x40)     # UDH length 5, 2 octets follow
    else:
        wire = submit(orange, 2, b"hello", (Tlv(Tag.message_payload, b"hello again"),))
    peer.send(wire)
    world.advance(1.0)
    resp = peer.answer(2)
    assert resp is not None and resp.command is Command.submit_sm_resp and resp.command_status != OK


def test_two_busy_answers_to_deliver_sm_pause_the_account_once(world: World, recorder: Recorder) -> None:
    # Found by the 1,000,000-PDU run (seed 1): a connection answering "mixed" had two receipts in
    # flight and answered both ESME_RTHROTTLED.
    peer = bound(world, "server", answer=False)
    orange = SENTINELS["orange"]
    peer.send(submit(orange, 2) + submit(orange, 3))  # two receipts at once: both in flight
    world.advance(0.5)
    receipts = [p for p in peer.pdus if p.command is Command.deliver_sm]
    assert len(receipts) == 2
    for receipt in receipts:
        peer.send(encode(make(Command.deliver_sm_resp, receipt.sequence_number, CommandStatus.ESME_RTHROTTLED,
                              message_id="")))
    world.advance(5.0)
    assert recorder.exceptions == []
    again = [p for p in peer.pdus if p.command is Command.deliver_sm][2:]
    assert len(again) == 2                  # both sent again after the pause
