"""The fuzzing campaign: many misbehaving connections at once, and the oracles that judge it.

Connections. `connections` of them are open at any time; each one closes after a budget of
PDUs and another takes its slot, so a long campaign opens thousands. Each has a profile: it
binds (transmitter, receiver or transceiver, with the target's real credentials) and then
sends anything; it never binds (wrong credentials, so everything arrives in the wrong state);
it unbinds half-way and goes on sending; or it sends only random bytes. It ends by unbinding,
closing, resetting, or closing in the middle of a PDU. It answers what the server sends it
(deliver_sm, enquire_link) correctly, wrongly (error statuses, wrong sequence numbers,
generic_nack), or never. Its PDUs reach the wire whole, several per write, split at random
points, inside the header, or one byte at a time: each write is its own clock call, 1 ms
apart, because the memory network delivers writes made at the same instant together.

Oracles, each a finding when it fails:
- an exception out of a protocol or a clock call (what TCP would log and drop the link for);
- a log event with a traceback, or at level error/critical, from any namespace; a warning
  that is not in EXPECTED_WARNINGS (which says why each one is expected);
- a submit_sm the aggregator answered ESME_ROK although it cannot be forwarded as it is
  (`undeliverable`: sm_length above 254, UCS-2 with an odd octet count, a UDH length byte past
  the end, short_message together with message_payload: issue 10 part 2);
- a response the server sent that answers nothing we asked (`answered nothing`), a PDU from it
  we cannot decode or frame, a deliver_sm to a connection not bound as a receiver;
- at the end, each connection still open must answer enquire_link within the target's
  response_timeout (after the partial PDU it may hold is completed with NUL octets), and by
  then every request it sent must have had its one response (`stuck session`, `unanswered`);
  a connection whose stream cannot be framed any more must have been closed;
- once the fuzzing connections are closed, the target's registries must not hold them, and
  their server-side objects must be garbage (nothing keeps a closed connection alive);
- the input buffered for one connection stays under the target's max_pdu (sampled each
  round), and with tracemalloc on, the traced peak stays under `memory_limit`;
- afterwards a fresh client binds, submits to one number on each operator, and gets each
  receipt (`service`): a client cannot have broken the service for the others.

The mirror: each connection feeds what it writes to a `Framer` like the server's, so it knows
exactly which frames the server received and which of them must be answered (any frame whose
command_id is not a known response's: unknown ids get generic_nack, §2.7).
"""

from __future__ import annotations

import random
import re
import resource
import time
import tracemalloc
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Callable, TextIO

from twisted.internet import protocol
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure

from smsc.pdu.codec import Command, DecodeFailed, Pdu, Tag, decode, encode, generic_nack, make, response_to
from smsc.pdu.framing import FrameError, Framer
from smsc.pdu.receipt import parse_receipt
from smsc.pdu.status import CommandStatus, status_name
from smsc.virtualclock import VirtualClock
from tests.fuzz.pdus import RESPONSES, START, Credentials, Generated, Generator, partial
from tests.fuzz.world import FUZZ_OPERATOR_ID, SENTINELS, ObservedProtocol, Target, World, WorldSink, describe

RESPONSE_IDS = frozenset(int(c) for c in RESPONSES)
PROBE_SEQ = 0x7FFFFEEE                     # the end-of-campaign enquire_link; no generator uses it
STEP = 0.25                                # simulated seconds per round
WRITE_GAP = 0.001                          # between the pieces of a split write
SERVICE_WAIT = 3600.0                      # simulated seconds the service check may take
ORIGIN_OCTETS = 32 << 20                   # submit frames kept to point at the cause of a later finding

# (namespace, log_format) -> why it is expected. `fuzz_peer`: only when the `peer` field is one
# of the fuzzing connections (the same line about an internal link is a finding); `fuzz_op`:
# only from the directly bound operator (the harness's own operators only talk to the
# aggregator, which must not make them log these).
EXPECTED_WARNINGS: dict[tuple[str, str], tuple[str, str]] = {
    ("smsc.adapter", "{peer} protocol error: {reason} (answered {status}; {n} from this connection)"):
        ("fuzz_peer", "every malformed or out-of-state PDU is answered and logged"),
    ("smsc.adapter", "{peer} no response to {command} seq {seq}"):
        ("fuzz_peer", "some connections never answer, or answer with a wrong sequence number"),
    ("smsc.adapter", "{peer} left what we sent unread for {seconds:g} s: connection cut"):
        ("fuzz_peer", "some connections stop reading, or never read their last PDUs"),
    ("smsc.adapter", "refusing connections: {why}; {n} refused from {host} and others since the last such line"):
        ("any", "connection caps: the campaign's connections all come from 127.0.0.1"),
    ("aggregator.server", "{account} refused a {kind} deliver_sm: {status}; not sent again"):
        ("any", "some connections answer deliver_sm with an error status"),
    ("aggregator.server", "{account}: {kind} deliver_sm not acknowledged; kept for the next bind"):
        ("any", "connections close or stay silent with deliver_sm in flight"),
    ("aggregator.server", "{account}: no deliver_sm_resp from {peer} for a {kind}; sent to another bind of the "
                          "account if one is up, and nothing more to that bind until it answers"):
        ("any", "some connections never answer deliver_sm"),
    ("aggregator.server", "bind refused for {system_id} from {peer}: {why} (ESME_RBINDFAIL until the rate allows)"):
        ("any", "wrong passwords are fuzzed: the failed-bind rate limit answers them"),
    ("aggregator.server", "MO from {op} to {destination}: no account owns that number; kept in the store only"):
        ("any", "a subscriber answers STOP to a fuzzed source_addr no account owns"),
    ("smsc.operator", "{op}: {kind} {ref} refused ({status}); dropped"):
        ("fuzz_op", "connections answer the operator's deliver_sm with an error status"),
    ("smsc.operator", "{op}: {kind} {ref} not acknowledged; kept for the next bind"):
        ("fuzz_op", "connections close or stay silent with deliver_sm in flight"),
    ("smsc.operator", "{op}: {kind} {ref} dropped: {why}"):
        ("fuzz_op", "a receipt in flight each time five fuzzing connections closed is given up (warning "
                    "level; the same line at error level, a deliver_sm that cannot be sent, stays a finding)"),
}
_CLOSING = "{peer} closing: {reason}"

# What a connection sends once it may (weights). Every command of the codec's tables appears,
# responses included (answers to nothing), plus unknown command ids and random bytes.
WEIGHTS: tuple[tuple[str, float], ...] = (
    ("submit_sm", 30), ("submit_multi", 5), ("data_sm", 5), ("query_sm", 6), ("cancel_sm", 3),
    ("replace_sm", 3), ("deliver_sm", 3), ("enquire_link", 6), ("bind_transmitter", 1),
    ("bind_receiver", 1), ("bind_transceiver", 1), ("unbind", 0.4), ("outbind", 1.5),
    ("alert_notification", 1.5), ("generic_nack", 1.5),
) + tuple((c.name, 0.6) for c in RESPONSES if c is not Command.generic_nack) + (
    ("unknown", 3), ("random_bytes", 2),
)
_CHOICES = tuple(name for name, _ in WEIGHTS)
_CUM = tuple(accumulate(w for _, w in WEIGHTS))

PROFILES = (("bind_transceiver", 25), ("bind_transmitter", 15), ("bind_receiver", 12), ("never_bound", 15),
            ("unbinder", 15), ("closer", 13), ("garbage", 5))
ENDINGS = (("unbind", 30), ("close", 25), ("abort", 10), ("mid_pdu_close", 20), ("mid_pdu_abort", 15))
ANSWERS = (("ok", 70), ("mixed", 20), ("silent", 10))
CHUNKINGS = (("whole", 35), ("coalesced", 30), ("random_split", 20), ("header_split", 8), ("bytewise", 7))


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in table], [w for _, w in table])[0]


def _normalise(text: str) -> str:
    """A finding's signature: numbers and hex runs do not make a new finding."""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "N", text)[:160]


@dataclass
class Finding:
    kind: str
    signature: str
    detail: str
    target: str
    connection: int | None
    state: str
    trigger: bytes | None                   # the PDU or chunk that set it off, when known
    history: tuple[bytes, ...] = ()        # what that connection wrote before, oldest first
    candidates: tuple[bytes, ...] = ()     # for a finding on an internal link: submits in flight on it
    count: int = 1
    reproduction: str = ""                 # filled in by `minimise`
    traceback: str = ""

    def lines(self, seed: int) -> list[str]:
        out = [f"[{self.kind}] x{self.count} {self.detail}",
               f"    target {self.target}, seed {seed}, connection {self.connection}, state {self.state}"]
        if self.trigger is not None:
            out.append(f"    bytes: {_hex(self.trigger)}")
        if self.reproduction:
            out.append(f"    reproduction: {self.reproduction}")
        if self.traceback:
            out.extend("    | " + line for line in self.traceback.rstrip().splitlines()[-8:])
        return out


def _hex(data: bytes, limit: int = 512) -> str:
    text = data[:limit].hex()
    return text + (f"... ({len(data)} octets)" if len(data) > limit else f" ({len(data)} octets)")


@dataclass
class Stats:
    pdus: int = 0
    octets: int = 0
    by_command: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_state: Counter[str] = field(default_factory=Counter)
    by_chunking: Counter[str] = field(default_factory=Counter)
    by_profile: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    server_requests: Counter[str] = field(default_factory=Counter)
    answers: int = 0
    opened: int = 0
    closed_by_client: Counter[str] = field(default_factory=Counter)
    closed_by_server: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    max_buffered: int = 0                  # octets of input one connection held, at most
    max_buffered_total: int = 0
    traced_peak: int | None = None
    maxrss_kib: int = 0
    wall: float = 0.0
    sim: float = 0.0
    rounds: int = 0


class FuzzClient(protocol.Protocol):
    """One fuzzing connection: see the module docstring."""

    def __init__(self, campaign: Campaign, index: int, target: Target, rng: random.Random) -> None:
        self.c = campaign
        self.index = index
        self.target = target
        self.rng = rng
        self.profile = _pick(rng, PROFILES)
        self.ending = "mid_pdu_close" if self.profile == "closer" else _pick(rng, ENDINGS)
        self.answer_mode = _pick(rng, ANSWERS)
        creds = target.creds if self.profile != "never_bound" else Credentials("nobody", "wrong")
        self.gen = Generator(rng, creds, campaign.seen, campaign.mutation_rate, target.config.max_pdu)
        self.port = 0
        self.state = "connecting"
        self.closed = False
        self.closing = False                # we asked for the close (or it was asked of us)
        self.mirror = Framer(target.config.max_pdu)
        self.mirror_broken = False
        self.tail = b""                     # the partial frame the server holds (the mirror's pending octets)
        self.inbound = Framer(1 << 20)
        self.outstanding: dict[int, list[tuple[int, bytes]]] = {}
        self.writes_pending = 0
        self.held_answers: list[bytes] = []
        self.history: deque[bytes] = deque(maxlen=48)
        self.budget = max(1, int(rng.expovariate(1.0 / campaign.mean_budget)))
        self.sent_bound = 0
        self.unbind_sent = False
        self.bind_sent = False
        self.probe_answered = False

    # --- Twisted side ---------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.port = self.transport.getHost().port
        self.state = "open"
        self.c.connected(self)

    def dataReceived(self, data: bytes) -> None:
        for frame in self.inbound.feed(data):
            if isinstance(frame, FrameError):
                self.c.finding("unframable output", f"the {self.target.name} sent an unframable stream: {frame.reason}",
                               self, frame.header)
                return
            self._frame(frame)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.closed = True
        self.c.disconnected(self)

    # --- what the target sends ------------------------------------------------------------

    def _frame(self, frame: bytes) -> None:
        pdu = decode(frame)
        if isinstance(pdu, DecodeFailed):
            self.c.finding("undecodable output", f"the {self.target.name} sent a PDU its own codec refuses: {pdu.reason}",
                           self, frame)
            return
        command = pdu.command
        if command.is_response:
            self._response(pdu, frame)
            return
        self.c.stats.server_requests[command.name] += 1
        if command in (Command.deliver_sm, Command.data_sm) and self.state not in ("bound_rx", "bound_trx"):
            self.c.finding("deliver to non-receiver",
                           f"{command.name} sent to a connection in state {self.state}", self, frame)
        elif command not in (Command.deliver_sm, Command.data_sm, Command.enquire_link, Command.unbind,
                             Command.alert_notification):
            self.c.finding("unexpected request", f"the {self.target.name} sent {command.name}", self, frame)
        self._answer(pdu)

    def _response(self, pdu: Pdu, frame: bytes) -> None:
        c = self.c
        c.stats.responses[status_name(pdu.command_status)] += 1
        asked = self.outstanding.get(pdu.sequence_number)
        match = None
        if asked:
            # Responses may come in any order, and sequence numbers may repeat: a *_resp answers
            # its own request; a generic_nack first a request that has no *_resp (an unknown
            # command_id, outbind, alert_notification), else any request (§2.7, §4.3).
            if pdu.command is Command.generic_nack:
                i = next((i for i, (command_id, _) in enumerate(asked) if command_id not in _HAS_RESP), 0)
            else:
                i = next((i for i, (command_id, _) in enumerate(asked) if command_id | 0x80000000 == pdu.command),
                         -1)
            if i >= 0:
                match = asked.pop(i)
            if not asked:
                del self.outstanding[pdu.sequence_number]
        if match is None:
            c.finding("answered nothing",
                      f"{pdu.command.name} seq {pdu.sequence_number} answers no request of this connection", self, frame)
            return
        if pdu.sequence_number == PROBE_SEQ and pdu.command is Command.enquire_link_resp:
            self.probe_answered = True
        if pdu.command_status != 0:
            return
        command = pdu.command
        if command in _BOUND_BY and self.state == "open":
            self.state = _BOUND_BY[command]
        elif command is Command.unbind_resp:
            self.state = "unbound"
        elif command is Command.submit_sm_resp:
            message_id = str(pdu.get("message_id", ""))
            if message_id:
                c.accepted(message_id, self, match[1])
            why = undeliverable(match[1]) if self.target.name == "server" else None
            if why is not None:
                c.finding("accepted invalid", f"submit_sm accepted although {why}", self, match[1],
                          signature=f"accepted invalid {why}")

    def _answer(self, pdu: Pdu) -> None:
        mode = self.answer_mode
        if pdu.command not in _ANSWERABLE or (mode == "silent" and pdu.command is not Command.unbind):
            return                          # alert_notification has no response (§4.12)
        rng = self.rng
        if mode == "ok" or rng.random() < 0.5 or pdu.command is Command.unbind:
            wire = encode(response_to(pdu))
        else:
            roll = rng.random()
            if roll < 0.4:
                status = rng.choice((CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RX_T_APPN,
                                     CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RINVDSTADR, 0xFFFFFFFF))
                wire = encode(make(pdu.command.response, pdu.sequence_number, status,
                                   **({"message_id": ""} if pdu.command is Command.deliver_sm else {})))
            elif roll < 0.6:
                wire = encode(response_to(pdu))
                wire = wire[:12] + ((pdu.sequence_number + 1) & 0xFFFFFFFF).to_bytes(4, "big") + wire[16:]
            elif roll < 0.8:
                wire = encode(generic_nack(pdu.sequence_number, CommandStatus.ESME_RSYSERR))
            else:
                wire = self.gen.mutated(pdu.command.response).wire
                wire = wire[:12] + pdu.sequence_number.to_bytes(4, "big") + wire[16:]
        self.c.stats.answers += 1
        if pdu.command is Command.unbind:
            self.closing = True
        if self.writes_pending:
            self.held_answers.append(wire)   # never inside a PDU we are writing in pieces
        else:
            self._write(wire)

    # --- what we send ---------------------------------------------------------------------

    def act(self, limit: int) -> int:
        """Send this round's PDUs, at most `limit` (or start the ending). Returns how many PDUs
        were generated."""
        if self.closed or self.closing or self.writes_pending or self.state == "connecting":
            return 0
        rng = self.rng
        if self.budget <= 0:
            return self._end()
        items: list[Generated] = []
        for _ in range(min(limit, rng.choice((1, 1, 1, 2, 2, 3, 5)))):
            items.append(self._next())
            self.budget -= 1
            if self.closing:
                break
        self._record(items)
        self._send([item.wire for item in items])
        return len(items)

    def _record(self, items: list[Generated], kinds: tuple[str, ...] | None = None) -> None:
        stats = self.c.stats
        state = self.state
        for item in items:
            stats.by_command[item.command] += 1
            stats.by_kind.update(item.kinds if kinds is None else kinds)
            stats.by_state[state] += 1
            if item.command == "unbind" and state.startswith("bound"):
                state = "after_unbind"      # what follows in the same write, the server gets after it

    def _next(self) -> Generated:
        gen, rng, profile = self.gen, self.rng, self.profile
        if profile == "garbage":
            return gen.random_bytes()
        if self.state == "open" and profile != "never_bound" and (not self.bind_sent or rng.random() < 0.05):
            self.bind_sent = True
            mode = profile if profile.startswith("bind_") else rng.choice(("bind_transceiver", "bind_receiver",
                                                                            "bind_transmitter"))
            return gen.valid(Command[mode], system_id=self.target.creds.system_id,
                             password=self.target.creds.password)
        if self.state.startswith("bound"):
            self.sent_bound += 1
            if profile == "unbinder" and not self.unbind_sent and self.sent_bound > 3 and rng.random() < 0.2:
                self.unbind_sent = True
                return gen.valid(Command.unbind)
        name = _CHOICES[bisect_right(_CUM, rng.random() * _CUM[-1])]
        if name == "unknown":
            return gen.unknown_command()
        if name == "random_bytes":
            return gen.random_bytes()
        return gen.mutated(Command[name])

    def _end(self) -> int:
        ending = self.ending
        self.closing = True
        self.c.stats.closed_by_client[ending] += 1
        if ending == "unbind":
            item = self.gen.valid(Command.unbind)
            self._record([item])
            self._send([item.wire])
            self.c.clock.callLater(5.0, self._close_if_open, False)   # if the server does not close
            return 1
        if ending.startswith("mid_pdu"):
            item = self._next()
            self._record([item], ("partial_then_close",))
            self._send([partial(self.rng, item.wire)], then_close=ending == "mid_pdu_close",
                       then_abort=ending == "mid_pdu_abort")
            return 1
        self._close_if_open(ending == "abort")
        return 0

    def _close_if_open(self, abort: bool) -> None:
        if self.closed or self.transport is None:
            return
        self.closing = True
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _send(self, wires: list[bytes], then_close: bool = False, then_abort: bool = False) -> None:
        rng = self.rng
        how = _pick(rng, CHUNKINGS)
        data = b"".join(wires)
        if how == "bytewise" and len(data) > 400:
            how = "random_split"
        self.c.stats.by_chunking[how] += 1
        if how == "whole":
            pieces = wires
        elif how == "coalesced":
            pieces = [data]
        elif how == "bytewise":
            pieces = [data[i:i + 1] for i in range(len(data))]
        elif how == "header_split":
            pieces = []
            for wire in wires:
                cut = rng.randint(1, min(15, max(1, len(wire) - 1)))
                pieces += [wire[:cut], wire[cut:]]
        else:
            cuts = sorted(set(rng.randrange(1, len(data)) for _ in range(rng.randint(1, 6)))) if len(data) > 1 else []
            pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        pieces = [p for p in pieces if p]
        self.history.append(data)
        if len(pieces) == 1 and not (then_close or then_abort):
            self._write(pieces[0], record=False)
            return
        self.writes_pending += 1
        clock = self.c.clock
        for i, piece in enumerate(pieces):
            clock.callLater(i * WRITE_GAP, self._write, piece, False)
        clock.callLater(len(pieces) * WRITE_GAP, self._sent, then_close, then_abort)

    def _sent(self, then_close: bool, then_abort: bool) -> None:
        self.writes_pending -= 1
        held, self.held_answers = self.held_answers, []
        for wire in held:
            self._write(wire)
        if then_close or then_abort:
            self._close_if_open(then_abort)

    def _write(self, data: bytes, record: bool = True) -> None:
        """Write now, and follow what the server's framer makes of it (the mirror)."""
        transport = self.transport
        if self.closed or transport is None or transport.disconnecting or not data:
            return
        transport.write(data)
        self.c.stats.octets += len(data)
        if record:
            self.history.append(data)
        if self.mirror_broken:
            return
        mirror = self.mirror
        for frame in mirror.feed(data):
            if isinstance(frame, FrameError):
                self.mirror_broken = True
                self.tail = b""
                return
            command_id = int.from_bytes(frame[4:8], "big")
            if command_id not in RESPONSE_IDS:
                self.outstanding.setdefault(int.from_bytes(frame[12:16], "big"), []).append((command_id, frame))
        pending = mirror.pending
        self.tail = (self.tail + data)[-pending:] if pending else b""

    # --- the end of the campaign ----------------------------------------------------------

    def probe(self) -> None:
        """Complete any partial PDU with NUL octets, then send enquire_link (PROBE_SEQ)."""
        tail = self.tail
        if not self.mirror_broken and tail:
            fill = b"\x00" * max(0, 4 - len(tail))
            length = int.from_bytes((tail + fill)[:4], "big")
            if 16 <= length <= self.target.config.max_pdu:
                fill += b"\x00" * (length - len(tail) - len(fill))
            self._write(fill)
        self._write(make_probe())


def undeliverable(frame: bytes) -> str | None:
    """Why the aggregator cannot forward this submit_sm as it is, if it cannot (issue 10, part 2:
    each of these must be refused at submit, with the status that names it)."""
    pdu = decode(frame)
    if not isinstance(pdu, Pdu):
        return None
    short_message = pdu.get("short_message", b"")
    assert isinstance(short_message, bytes)
    payload = pdu.tlv(Tag.message_payload)
    if len(short_message) > 254:
        return "sm_length is above 254"
    if short_message and payload is not None:
        return "it has both sm_length > 0 and message_payload"
    text = short_message if payload is None else payload.value
    esm_class = pdu.get("esm_class", 0)
    udhi = isinstance(esm_class, int) and bool(esm_class & 0x40)
    if udhi and (not text or text[0] + 1 > len(text)):
        return "its UDH length byte runs past the end of the message"
    body = text[text[0] + 1:] if udhi else text      # a UDH is octets; the UCS-2 text follows it
    if pdu.get("data_coding") == 8 and len(body) % 2:
        return "it is UCS-2 with an odd octet count"
    return None


_HAS_RESP = frozenset(int(c) for c in Command if not c.is_response and (c | 0x80000000) in set(Command))
_ANSWERABLE = frozenset({Command.deliver_sm, Command.data_sm, Command.enquire_link, Command.unbind})
_BOUND_BY = {Command.bind_transmitter_resp: "bound_tx", Command.bind_receiver_resp: "bound_rx",
             Command.bind_transceiver_resp: "bound_trx"}


def make_probe() -> bytes:
    return encode(make(Command.enquire_link, PROBE_SEQ))


class Campaign(WorldSink):
    """One campaign; `run()` returns its Report. See the module docstring."""

    def __init__(self, pdus: int, seed: int = 1, connections: int = 50, target: str = "both",
                 mutation_rate: float = 0.5, trace_memory: bool = False, memory_limit: int = 512 << 20,
                 progress: TextIO | None = None, minimise_findings: bool = True) -> None:
        if target not in ("server", "operator", "both"):
            raise ValueError(f"target must be server, operator or both, got {target!r}")
        self.total = pdus
        self.seed = seed
        self.n_connections = connections
        self.target_names = ("server", "operator") if target == "both" else (target,)
        self.mutation_rate = mutation_rate
        self.trace_memory = trace_memory
        self.memory_limit = memory_limit
        self.progress = progress
        self.minimise_findings = minimise_findings
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.findings: dict[str, Finding] = {}
        self.seen: list[str] = []          # message ids handed out, for query/cancel/replace
        self.origins: dict[str, tuple[int, bytes]] = {}   # message id -> (connection, submit frame)
        # PDUs a connection sends before its ending (unbind, close, reset, close mid-PDU): every
        # slot turns over at least four times in a short campaign, and often in a long one.
        self.mean_budget = max(10.0, min(40.0, pdus / max(1, connections * 4)))
        self.clients: list[FuzzClient] = []                # open or connecting
        self.by_port: dict[int, FuzzClient] = {}
        self.fuzz_ports: set[int] = set()
        self.ports_of: dict[str, set[int]] = {name: set() for name in self.target_names}
        self._index = 0
        self._close_reasons: dict[int, str] = {}
        self.gone: dict[int, _Gone] = {}  # the last 200 closed connections, by client port
        self._just_closed: list[int] = []   # client ports closed since the last round
        self._origin_octets = 0
        self._link_suspects: dict[str, list[bytes]] = {}
        self.world: World | None = None
        self._t0 = 0.0

    @property
    def clock(self) -> VirtualClock:
        assert self.world is not None
        return self.world.clock

    # --- running ----------------------------------------------------------------------------

    def run(self) -> Report:
        started = self._t0 = time.perf_counter()
        globalLogPublisher.addObserver(self._log)
        try:
            self.world = world = World(self.target_names, self)
            if self.trace_memory:
                tracemalloc.start()
                tracemalloc.reset_peak()
            try:
                self._fuzz(world)
                self._finish(world)
            finally:
                if self.trace_memory:
                    self.stats.traced_peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                    if self.stats.traced_peak > self.memory_limit:
                        self.finding("memory", f"traced memory peaked at {self.stats.traced_peak >> 20} MiB, "
                                     f"above the {self.memory_limit >> 20} MiB limit", None, None)
                self.stats.sim = world.clock.seconds() - START
                try:
                    world.stop()
                except Exception as error:  # noqa: BLE001 - shutting down is an oracle too
                    if not isinstance(error, TimeoutError):
                        raise
                    self.finding("shutdown", f"the stack did not stop: {error}", None, None)
        finally:
            globalLogPublisher.removeObserver(self._log)
        self.stats.wall = time.perf_counter() - started
        self.stats.maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if self.minimise_findings and self.findings:
            minimise(self)
        return Report(self.seed, self.total, self.target_names, self.n_connections, self.stats,
                      list(self.findings.values()))

    def _fuzz(self, world: World) -> None:
        rng = self.rng
        stats = self.stats
        next_report = time.perf_counter() + 5.0
        while stats.pdus < self.total:
            self._replenish(world)
            for client in list(self.clients):
                if rng.random() < 0.5:
                    stats.pdus += client.act(self.total - stats.pdus)
                    if stats.pdus >= self.total:
                        break
            world.advance(STEP)
            stats.rounds += 1
            self._sample(world)
            if self.progress is not None and time.perf_counter() >= next_report:
                next_report = time.perf_counter() + 5.0
                self._report_progress(world)

    def _report_progress(self, world: World) -> None:
        stats = self.stats
        assert self.progress is not None
        self.progress.write(f"fuzz: {stats.pdus:,}/{self.total:,} PDUs, {stats.opened:,} connections, "
                            f"{stats.accepted:,} messages accepted, {len(self.findings)} finding(s), "
                            f"{stats.pdus / max(1e-9, time.perf_counter() - self._t0):,.0f} PDUs/s\n")
        self.progress.flush()

    def _replenish(self, world: World) -> None:
        while len(self.clients) < self.n_connections:
            self._index += 1
            name = self.target_names[0] if len(self.target_names) == 1 else (
                "server" if self.rng.random() < 0.7 else "operator")
            target = world.targets[name]
            client = FuzzClient(self, self._index, target, random.Random(f"{self.seed}:{self._index}"))
            self.clients.append(client)
            self.stats.opened += 1
            self.stats.by_profile[client.profile] += 1
            world.connect(target, client).addErrback(self._not_connected, client)

    def _not_connected(self, failure: Failure, client: FuzzClient) -> None:
        self.finding("connect", f"a connection to the {client.target.name} failed: {failure.getErrorMessage()}",
                     client, None)
        if client in self.clients:
            self.clients.remove(client)

    def connected(self, client: FuzzClient) -> None:
        self.by_port[client.port] = client
        self.fuzz_ports.add(client.port)
        self.ports_of[client.target.name].add(client.port)

    def disconnected(self, client: FuzzClient) -> None:
        if client in self.clients:
            self.clients.remove(client)
        self.by_port.pop(client.port, None)
        self.gone[client.port] = _Gone(client.index, client.target, client.state, tuple(client.history))
        while len(self.gone) > 200:
            del self.gone[next(iter(self.gone))]
        self._just_closed.append(client.port)
        if not client.closing:
            reason = self._close_reasons.pop(client.port, None) or "closed with no reason logged"
            self.stats.closed_by_server[_normalise(reason)] += 1
        else:
            self._close_reasons.pop(client.port, None)

    def accepted(self, message_id: str, client: FuzzClient, frame: bytes) -> None:
        self.stats.accepted += 1
        origins = self.origins
        origins[message_id] = (client.index, frame)
        self._origin_octets += len(frame)
        while self._origin_octets > ORIGIN_OCTETS:        # the oldest go first
            oldest = next(iter(origins))
            self._origin_octets -= len(origins.pop(oldest)[1])
        seen = self.seen
        seen.append(message_id)
        if len(seen) > 2000:
            del seen[:1000]

    def _sample(self, world: World) -> None:
        """Once a round: the registries let go of the connections closed in it, and no
        connection's buffered input is above max_pdu."""
        if self._just_closed:
            closed = set(self._just_closed)
            self._just_closed.clear()
            for name, target in world.targets.items():
                for conn in target.connections() + target.binds():
                    port = _peer_port(conn)
                    if port in closed and port not in self.by_port:
                        gone = self.gone.get(port)  # type: ignore[arg-type]
                        listed = "bind" if conn in target.binds() else "connection"
                        self.finding("registry", f"the {name} still lists a closed connection as a {listed}",
                                     gone, None, target=name)
                        closed.discard(port)  # type: ignore[arg-type]
        total = 0
        biggest = 0
        for client in self.clients:
            observed = world.observed.get(client.port)
            inner = observed.inner if observed is not None else None
            framer = getattr(getattr(inner, "session", None), "_framer", None)
            pending = getattr(framer, "pending", None)
            if pending is None:
                continue
            total += pending
            if pending > biggest:
                biggest = pending
            if pending > client.target.config.max_pdu:
                self.finding("memory", f"one connection holds {pending} octets of input, above max_pdu "
                             f"{client.target.config.max_pdu}", client, None)
        stats = self.stats
        stats.max_buffered = max(stats.max_buffered, biggest)
        stats.max_buffered_total = max(stats.max_buffered_total, total)

    # --- the end ------------------------------------------------------------------------------

    def _finish(self, world: World, service: bool = True) -> None:
        world.advance(1.0)                  # split writes still on their way
        timeout = max(t.config.response_timeout for t in world.targets.values())
        probed = [c for c in self.clients if not c.closed and not c.closing and c.state != "connecting"]
        for client in probed:
            client.probe()
        end = world.clock.seconds() + timeout
        while world.clock.seconds() < end and any(
                not c.closed and (not c.probe_answered or c.outstanding) and not c.mirror_broken for c in probed):
            world.advance(0.5)
        for client in probed:
            if client.closed:
                continue
            if client.mirror_broken:
                self.finding("stuck session", "a connection whose stream cannot be framed any more is still open "
                             f"{timeout:g} s later", client, None)
            elif not client.probe_answered:
                self.finding("stuck session", f"enquire_link not answered within {timeout:g} s", client, make_probe())
            elif client.outstanding:
                seq, asked = next(iter(client.outstanding.items()))
                name = _command_name(asked[0][0])
                self.finding("unanswered", f"{name} seq {seq} never answered ({sum(map(len, client.outstanding.values()))}"
                             " request(s) in all)", client, asked[0][1])
        for client in list(self.clients):
            client.closing = True
            client._close_if_open(False)
        world.advance(5.0)
        for client in list(self.clients):   # the close never arrived
            self.finding("stuck session", "a connection the client closed is still open 5 s later", client, None)
        self._just_closed = sorted(self.fuzz_ports)
        self._sample(world)
        alive = world.alive(self.fuzz_ports)
        if alive:
            self.finding("leak", f"{len(alive)} closed connection(s) still in memory", self._closed_client(alive[0]),
                         None)
        if service:
            self._service(world)

    def _service(self, world: World) -> None:
        """A fresh, well-behaved client is still served end to end."""
        for name, target in world.targets.items():
            try:
                esme = world.esme(target)
                bind = world.settle(esme.bind(target.creds.system_id, target.creds.password, "transceiver"),
                                    "the bind")
            except Exception as error:      # noqa: BLE001 - reported as the finding it is
                self.finding("service", f"a fresh client could not connect and bind to the {name}: {error!r}",
                             None, None, target=name)
                continue
            assert isinstance(bind, Pdu)
            if bind.command_status != 0:
                self.finding("service", f"a fresh bind to the {name} got {status_name(bind.command_status)}",
                             None, None, target=name)
                continue
            numbers = list(SENTINELS.values()) if name == "server" else ["+33612345678"]
            waiting: dict[str, str] = {}
            for number in numbers:
                try:
                    resp = world.settle(esme.submit(number.lstrip("+"), b"service check"), f"a submit to {number}",
                                        seconds=60.0)
                except Exception as error:  # noqa: BLE001
                    self.finding("service", f"a submit to {number} on the {name} was not answered: {error!r}",
                                 None, None, target=name)
                    continue
                assert isinstance(resp, Pdu)
                if resp.command_status != 0:
                    self.finding("service", f"a submit to {number} on the {name} got {status_name(resp.command_status)}",
                                 None, None, target=name)
                    continue
                waiting[str(resp["message_id"])] = number
            receipts: dict[str, str] = {}

            def collect(pdu: Pdu) -> None:
                receipt = parse_receipt(pdu)
                if receipt is not None and receipt.message_id in waiting:
                    receipts[receipt.message_id] = receipt.stat
                esme.delivered.get().addCallback(collect)

            esme.delivered.get().addCallback(collect)
            end = world.clock.seconds() + SERVICE_WAIT
            while len(receipts) < len(waiting) and world.clock.seconds() < end:
                world.advance(1.0)
            for message_id, number in waiting.items():
                stat = receipts.get(message_id)
                if stat != "DELIVRD":
                    self.finding("service", f"the receipt for a submit to {number} on the {name} "
                                 f"{'was ' + stat if stat else 'never came'} (expected DELIVRD within "
                                 f"{SERVICE_WAIT:g} s)", None, None, target=name)
            if esme.conn is not None:
                esme.conn.close()
            world.advance(1.0)

    # --- oracles fed by the world and the log -------------------------------------------------

    def exception(self, error: Exception, observed: ObservedProtocol | None, data: bytes | None) -> None:
        trouble = describe(error)
        client = self.by_port.get(trouble.conn_port or -1)
        if observed is not None:
            client = self.by_port.get(observed.peer_port, client)
        where = observed.label if observed is not None else "a clock call"
        trigger = trouble.frame or data
        if client is not None and trouble.pdu_key is not None:      # the request being handled
            command_id, seq = trouble.pdu_key
            for asked_id, frame in client.outstanding.get(seq, ()):
                if asked_id == command_id:
                    trigger = frame
        candidates: list[bytes] = []
        if client is None:                  # a message a fuzzing connection submitted?
            for message_id in trouble.message_ids:
                origin = self.origins.get(message_id)
                if origin is not None:
                    candidates.append(origin[1])
            candidates += self._suspects(trouble.conn_port, None)
        self.finding("exception", f"{trouble.exc_type}: {trouble.message} in {where} at {trouble.where}", client,
                     trigger, signature=f"exception {trouble.exc_type} {_normalise(trouble.message)} {trouble.where}",
                     traceback=trouble.traceback, candidates=tuple(candidates))

    def _suspects(self, port: int | None, operator: str | None) -> list[bytes]:
        """The fuzzed submits that were in flight on an internal link (by one of its ports, or
        its operator) when something went wrong on it; remembered per operator, for the lines
        that come once the link is already gone ("connection lost")."""
        if self.world is None or (port is None and operator is None):
            return []
        found = self.world.inflight(port, operator)
        for op, ids in found.items():
            frames = [self.origins[i][1] for i in ids if i in self.origins]
            if frames:
                self._link_suspects[op] = frames
        if operator is not None and operator not in found:
            return self._link_suspects.get(operator, [])
        return [frame for ids in found.values() for i in ids if i in self.origins
                for frame in (self.origins[i][1],)]

    def _candidates(self, event: dict[str, object]) -> tuple[bytes, ...]:
        """For a log line about an internal link: the fuzzed submits in flight on it."""
        op = event.get("op") or str(event.get("name", "")).split("#")[0] or None
        return tuple(self._suspects(_port(event.get("peer")), None)
                     or self._suspects(None, op if isinstance(op, str) else None))

    def _log(self, event: dict[str, object]) -> None:
        level = event.get("log_level")
        fmt = event.get("log_format")
        namespace = str(event.get("log_namespace", ""))
        if fmt == _CLOSING:
            port = _port(event.get("peer"))
            if port is not None:
                self._close_reasons[port] = str(event.get("reason"))
            return
        if level is not LogLevel.warn and level is not LogLevel.error and level is not LogLevel.critical \
                and "log_failure" not in event:
            return
        if namespace == "twisted.internet.defer" and fmt == "Unhandled error in Deferred:":
            return                          # a header: the failure itself comes in the next event
        client = self._log_client(event)
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            kind = failure.type.__name__ if failure.type else "?"
            self.finding("logged traceback", f"{namespace}: {_format(event)} {kind}: {failure.getErrorMessage()}",
                         client, self._log_trigger(), signature=f"logged traceback {namespace} {fmt} {kind} "
                         f"{_normalise(failure.getErrorMessage())}",
                         traceback=failure.getTraceback(), candidates=() if client else self._candidates(event))
            return
        if level is LogLevel.error or level is LogLevel.critical:
            self.finding(f"logged {level.name}", f"{namespace}: {_format(event)}", client, self._log_trigger(),
                         signature=f"logged {level.name} {namespace} {fmt}",
                         candidates=() if client else self._candidates(event))
            return
        expected = EXPECTED_WARNINGS.get((namespace, str(fmt)))
        if expected is not None:
            scope = expected[0]
            if scope == "any" or (scope == "fuzz_peer" and _port(event.get("peer")) in self.fuzz_ports) or (
                    scope == "fuzz_op" and event.get("op") == FUZZ_OPERATOR_ID):
                self.stats.warnings[str(fmt)] += 1
                return
        self.finding("unexpected warning", f"{namespace}: {_format(event)}", client, self._log_trigger(),
                     signature=f"warning {namespace} {fmt}", candidates=() if client else self._candidates(event))

    def _log_client(self, event: dict[str, object]) -> FuzzClient | None:
        world = self.world
        if world is not None and world.current is not None:
            client = self.by_port.get(world.current.peer_port)
            if client is not None:
                return client
        return self.by_port.get(_port(event.get("peer")) or -1)

    def _log_trigger(self) -> bytes | None:
        world = self.world
        if world is None or world.current is None:
            return None
        client = self.by_port.get(world.current.peer_port)
        return client.history[-1] if client is not None and client.history else None

    def _closed_client(self, port: int | None) -> _Gone | None:
        return self.gone.get(port) if port is not None else None

    def finding(self, kind: str, detail: str, client: FuzzClient | _Gone | None, trigger: bytes | None,
                signature: str | None = None, traceback: str = "", target: str | None = None,
                candidates: tuple[bytes, ...] = ()) -> None:
        signature = signature or f"{kind} {_normalise(detail)}"
        known = self.findings.get(signature)
        if known is not None:
            known.count += 1
            return
        self.findings[signature] = Finding(
            kind, signature, detail, target or (client.target.name if client is not None else "-"),
            client.index if client is not None else None, client.state if client is not None else "-",
            trigger, tuple(client.history) if client is not None else (), traceback=traceback,
            candidates=candidates)
        if self.progress is not None:
            self.progress.write(f"fuzz: finding: [{kind}] {detail}\n")


@dataclass(frozen=True, slots=True)
class _Gone:
    """What a finding about a closed connection needs of it (the client object itself is let go)."""

    index: int
    target: Target
    state: str
    history: tuple[bytes, ...]


def _command_name(command_id: int) -> str:
    try:
        return Command(command_id).name
    except ValueError:
        return f"0x{command_id:08x}"


def _peer_port(conn: object) -> int | None:
    transport = getattr(conn, "transport", None)
    if transport is None:
        return None
    return getattr(transport.getPeer(), "port", None)


def _port(peer: object) -> int | None:
    if isinstance(peer, str) and ":" in peer:
        tail = peer.rsplit(":", 1)[1]
        if tail.isdigit():
            return int(tail)
    return None


def _format(event: dict[str, object]) -> str:
    from twisted.logger import formatEvent
    return formatEvent(event)


@dataclass
class Report:
    seed: int
    pdus: int
    targets: tuple[str, ...]
    connections: int
    stats: Stats
    findings: list[Finding]

    def fingerprint(self) -> tuple[object, ...]:
        """Everything the campaign did, without wall-clock figures: equal for equal seeds."""
        s = self.stats
        return (s.pdus, s.octets, s.by_command, s.by_kind, s.by_state, s.by_chunking, s.by_profile, s.responses,
                s.server_requests, s.answers, s.opened, s.closed_by_client, s.closed_by_server, s.warnings,
                s.accepted, s.max_buffered, s.sim, s.rounds,
                [(f.signature, f.count, f.connection, f.trigger, f.history) for f in self.findings])

    def lines(self) -> list[str]:
        s = self.stats
        rate = s.pdus / s.wall if s.wall else 0.0
        out = [
            f"fuzz campaign: seed {self.seed}, target {'+'.join(self.targets)}, {self.connections} connections at once",
            f"  PDUs sent       {s.pdus:,} ({s.octets:,} octets) in {s.wall:,.1f} s wall, {rate:,.0f} PDUs/s; "
            f"{s.sim:,.0f} s simulated in {s.rounds:,} rounds",
            f"  connections     {s.opened:,} opened; profiles: {_top(s.by_profile)}",
            f"  closed by us    {_top(s.closed_by_client)}",
            f"  closed by the server, why: {_top(s.closed_by_server, 12)}",
            f"  by command      {_top(s.by_command, 40)}",
            f"  by mutation     {_top(s.by_kind, 40)}",
            f"  by bind state   {_top(s.by_state)}",
            f"  by write split  {_top(s.by_chunking)}",
            f"  responses       {_top(s.responses, 40)}",
            f"  server requests {_top(s.server_requests)}; answered {s.answers:,}",
            f"  messages accepted by the targets: {s.accepted:,}",
            f"  expected warnings: {_top(s.warnings)}",
            f"  memory          largest input buffer of one connection {s.max_buffered:,} octets, of all "
            f"{s.max_buffered_total:,}; max RSS {s.maxrss_kib // 1024:,} MiB"
            + ("" if s.traced_peak is None else f"; tracemalloc peak {s.traced_peak / (1 << 20):,.1f} MiB"),
            f"  findings        {len(self.findings)}",
        ]
        for finding in self.findings:
            out.extend(finding.lines(self.seed))
        return out


def _top(counter: Counter[str], n: int = 20) -> str:
    if not counter:
        return "-"
    items = counter.most_common(n)
    more = len(counter) - len(items)
    return ", ".join(f"{k} {v:,}" for k, v in items) + (f" (+{more} more)" if more > 0 else "")


# --- minimisation -----------------------------------------------------------------------------

MAX_REPLAYS = 40                            # per finding: each replay builds a fresh stack
_NOT_REPLAYED = ("service", "memory", "shutdown", "connect")


def minimise(campaign: Campaign) -> None:
    """For each finding, look for a small reproduction on a fresh stack, judged by the same
    oracles: the triggering PDU alone on a new connection; after a bind; the fuzzed submits
    that were in flight on the internal link concerned, each after a bind; the connection's
    recent writes, then as few of them as still reproduce (one dropped at a time). Sets
    `Finding.reproduction`."""
    found: dict[str, tuple[str, list[bytes]]] = {}
    for finding in campaign.findings.values():
        if finding.kind in _NOT_REPLAYED:
            continue
        target = finding.target if finding.target in campaign.target_names else (
            "server" if "server" in campaign.target_names else campaign.target_names[0])
        attempts: list[list[bytes]] = []
        if finding.trigger is not None:
            attempts += [[finding.trigger], [BIND, finding.trigger]]
        attempts += [[BIND, candidate] for candidate in finding.candidates[:10]]
        if finding.history:
            attempts.append(list(finding.history))
        budget = [MAX_REPLAYS]

        def reproduces(writes: list[bytes]) -> bool:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return replay(target, writes, finding.signature, campaign.seed)

        for writes in attempts:
            if reproduces(writes):
                if len(writes) > 2:
                    writes = _shrink(writes, reproduces)
                finding.reproduction = _describe_writes(target, writes)
                found[finding.signature] = (target, writes)
                break
    # A finding is often the consequence of another (a link that flaps after a bad forward):
    # what reproduces one may reproduce the other.
    for finding in campaign.findings.values():
        if finding.reproduction or finding.kind in _NOT_REPLAYED:
            continue
        for signature, (target, writes) in found.items():
            if replay(target, writes, finding.signature, campaign.seed):
                finding.reproduction = _describe_writes(target, writes) + f" (as for: {signature})"
                break
        else:
            finding.reproduction = "not reproduced in isolation (it depends on other connections, or on time)"


def _describe_writes(target: str, writes: list[bytes]) -> str:
    return f"on a new connection to the {target}, write " + " then ".join(
        "a bind_transceiver with the target's credentials" if w is BIND else _hex(w, 200) for w in writes)


BIND = b"BIND"


def _shrink(writes: list[bytes], reproduces: Callable[[list[bytes]], bool]) -> list[bytes]:
    """Drop one write at a time, keeping each drop after which the finding still comes up."""
    i = 0
    while i < len(writes):
        fewer = writes[:i] + writes[i + 1:]
        if fewer and reproduces(fewer):
            writes = fewer
        else:
            i += 1
    return writes


def replay(target: str, writes: list[bytes], signature: str, seed: int) -> bool:
    """Play `writes` (BIND = a valid bind_transceiver) on one connection to a fresh stack, 1 s
    apart, then the end-of-campaign checks; True if a finding with `signature` comes up."""
    return signature in replay_findings(target, writes, seed)


def replay_findings(target: str, writes: list[bytes], seed: int = 1) -> dict[str, Finding]:
    """What the oracles find when `writes` are played as `replay` plays them, by signature."""
    sink = Campaign(0, seed=seed, target=target, minimise_findings=False)
    globalLogPublisher.addObserver(sink._log)
    try:
        world = sink.world = World((target,), sink)
        try:
            t = world.targets[target]
            client = FuzzClient(sink, 1, t, random.Random(seed))
            client.answer_mode = "ok"
            sink.clients.append(client)
            world.settle(world.connect(t, client), "the replay connection")
            for data in writes:
                if data is BIND:
                    data = encode(make(Command.bind_transceiver, 0x7FFFFF00, system_id=t.creds.system_id,
                                       password=t.creds.password, interface_version=0x34))
                client._write(data)
                world.advance(1.0)
                sink._sample(world)
            world.advance(30.0)
            sink._finish(world, service=False)
        finally:
            try:
                world.stop()
            except Exception:               # noqa: BLE001 - the replay's verdict is all we want
                pass
    finally:
        globalLogPublisher.removeObserver(sink._log)
    return sink.findings
