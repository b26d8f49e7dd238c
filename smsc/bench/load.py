"""The load generator of `smsc-harness bench`: binds, submit_sm, and what comes back.

Why a raw Twisted `Protocol` and not the project's `Session`/`SmppConnection`/`Esme` stack:
at 100k+ PDUs/s a load tool must do almost nothing per PDU, or it measures itself. The
session decodes every PDU into a value, checks its state and arms timers; here a submit_sm
is a pre-encoded template with its sequence number patched in (one `struct.pack` and one
join for a whole batch), a response is read from its 16-octet header alone (plus the
message_id C-string when receipts are counted), and what the load keeps per message is one
dict entry, sequence number -> stamp. The cold path (bind, unbind, anything unusual) goes
through `smsc.pdu.codec` as everything else does.

Rules of this module:

1. Time is the injected clock's (`IReactorTime`): the ticks, the phases and every stamp, so
   a `task.Clock` drives a whole run in a unit test.
2. A run has phases: warm-up (`warmup` s: load, nothing counted), measurement (`duration`
   s), drain (at most `drain` s: no new load, waiting for the responses and receipts still
   due), unbind. A message is *measured* when its stamp falls in the measurement window; a
   measured message is counted once sent, and ends as one of: answered ok, answered with
   an error (by command_status), or lost (no answer when the drain ends). With receipts,
   an ok message ends as receipted or lost (no receipt when the drain ends).
3. Closed loop (`rate` None): each bind keeps `window` submit_sm outstanding, refilling one
   for each response; the stamp is the send time.
4. Open loop (`rate` R msg/s over all binds): message i is due at `start + i / R`, on bind
   i mod binds. A tick every `tick` s of clock time sends every message already due, stamped
   with its *intended* time, and latency counts from that time, so a server that stalls is
   charged for the messages it kept the load from sending (no coordinated omission, as in
   wrk2). When a bind already has `window` submit_sm outstanding, a due message waits in
   that bind's local FIFO and goes out as soon as a response frees a place, still stamped
   with its intended time: the wait counts in its latency. The window is the SMPP client's
   own limit; going past it would measure a client no one runs. Messages still waiting
   locally when the drain ends were never sent: they are `unsent`, not lost.
5. Receipts (e2e): the message_id of each ok submit_sm_resp maps to the message's stamp; a
   deliver_sm whose esm_class has the receipt bit (or the intermediate-notification bit)
   and that names the id (receipted_message_id TLV, else `id:` of the Appendix B text)
   completes it: submit-to-receipt latency. Ids are compared as the server wrote them (a
   server that writes the id in hex in one place and decimal in the other cannot be
   matched). A receipt may overtake its submit_sm_resp (another bind, another socket):
   it waits in `early_receipts` for the id.
6. Every deliver_sm is answered (deliver_sm_resp ESME_ROK), enquire_link too, and an
   unbind from the server gets its unbind_resp.
"""

from __future__ import annotations

import struct
from collections import Counter, deque
from dataclasses import dataclass
from itertools import repeat
from typing import Callable, Protocol as TypingProtocol, cast

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from smsc.bench.histogram import LatencyHistogram
from smsc.pdu.codec import Command, DecodeFailed, Pdu, Ton, decode, encode, make, npi_for
from smsc.pdu.receipt import ESM_CLASS_INTERMEDIATE, ESM_CLASS_RECEIPT, parse_receipt

HEADER = struct.Struct("!IIII")
_unpack_header = HEADER.unpack_from
_pack_header = HEADER.pack
MAX_PDU = 65536                 # a longer command_length is a broken stream: the bind is dropped
MAX_SEQUENCE = 0x7FFFFFFF
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
ENQUIRE_LINK = 0x00000015
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER_RESP = 0x80000009
_RECEIPT_BITS = ESM_CLASS_RECEIPT | ESM_CLASS_INTERMEDIATE
_RECEIPTED_MESSAGE_ID = 0x001E
_TLV_HEAD = struct.Struct("!HH")
UNBIND_TIMEOUT = 2.0            # seconds an unbind_resp is waited for before the socket is closed
DRAIN_CHECK = 0.01              # how often (clock seconds) the drain looks whether all is in
SHORT_MESSAGE = b"smsc-harness bench"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What one load process does (the command line's bench options)."""

    binds: int = 2
    window: int = 200
    rate: float | None = None                   # open loop: msg/s over all binds; None: closed loop
    duration: float = 10.0
    warmup: float = 1.0
    drain: float = 10.0
    receipts: bool = False                      # registered_delivery=1, and receipts counted
    system_id: str = "aggregator"
    password: str = "secret"
    source_addr: str = "33600000000"
    destination_addr: str = "33612345678"
    tick: float = 0.001                         # open loop: how often due messages are sent

    def __post_init__(self) -> None:
        if self.binds < 1 or self.window < 1:
            raise ValueError("binds and window must be at least 1")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be > 0")
        if self.duration <= 0 or self.warmup < 0 or self.drain < 0 or self.tick <= 0:
            raise ValueError("duration and tick must be > 0, warmup and drain >= 0")


class BindRefused(Exception):
    """The server answered a bind with an error status, or closed before answering."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def submit_template(config: LoadConfig) -> bytes:
    """The body (no header) of every submit_sm of a run, encoded once by the codec."""
    pdu = make(Command.submit_sm, 0,
               source_addr_ton=Ton.INTERNATIONAL, source_addr_npi=npi_for(Ton.INTERNATIONAL),
               source_addr=config.source_addr,
               dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=npi_for(Ton.INTERNATIONAL),
               destination_addr=config.destination_addr,
               registered_delivery=1 if config.receipts else 0, short_message=SHORT_MESSAGE)
    return encode(pdu)[16:]


class Tally:
    """The counters of one load process, shared by its binds (one reactor thread: no locks).

    Counted for measured messages (module rule 2): `sent`, `ok`, `errors` (status -> count),
    `receipts`, the latency histograms. `window_ok`/`window_receipts`: ok responses and
    receipts *received* during the measurement window, of any message: the rates."""

    def __init__(self) -> None:
        self.measure_from = float("inf")        # set when the run starts
        self.measure_until = float("inf")
        self.in_window = False
        self.counting = True
        self.sent = 0
        self.ok = 0
        self.ok_total = 0                       # ok responses of any message, warm-up included
        self.errors: Counter[int] = Counter()
        self.window_ok = 0
        self.window_receipts = 0
        self.receipts = 0
        self.receipts_total = 0                 # every receipt deliver_sm received, measured or not
        self.unexpected_resps = 0               # a submit_sm_resp for no outstanding sequence number
        self.protocol_errors = 0                # binds dropped for a broken stream
        self.resp_latency = LatencyHistogram()
        self.receipt_latency = LatencyHistogram()
        self.awaiting_receipt: dict[bytes, float] = {}      # message_id -> stamp (measured)
        self.warmup_ids: set[bytes] = set()                 # message_ids of warm-up messages
        self.early_receipts: dict[bytes, float] = {}        # message_id -> arrival (before its resp)

    def stop_counting(self) -> None:
        """The drain is over: the figures are final. Answers and receipts that still come
        (while unbinding) are answered, not counted."""
        self.measure_from = self.measure_until = float("inf")
        self.in_window = False
        self.counting = False

    def receipt(self, message_id: bytes, now: float) -> None:
        """A receipt for `message_id` arrived at `now` (rule 5)."""
        if not self.counting:
            return
        self.receipts_total += 1
        if self.in_window:
            self.window_receipts += 1
        stamp = self.awaiting_receipt.pop(message_id, None)
        if stamp is not None:
            self.receipts += 1
            self.receipt_latency.pending.append(now - stamp)
        elif message_id in self.warmup_ids:
            self.warmup_ids.discard(message_id)
        else:
            self.early_receipts[message_id] = now

    def warmup_resp_id(self, message_id: bytes) -> None:
        """An ok submit_sm_resp of a warm-up message: its receipt is expected, not counted."""
        if self.early_receipts.pop(message_id, None) is None:
            self.warmup_ids.add(message_id)

    def resp_with_id(self, message_id: bytes, stamp: float) -> None:
        """An ok submit_sm_resp of a measured message named `message_id` (rule 5)."""
        arrived = self.early_receipts.pop(message_id, None)
        if arrived is None:
            self.awaiting_receipt[message_id] = stamp
        else:
            self.receipts += 1
            self.receipt_latency.pending.append(max(0.0, arrived - stamp))


class _Stream(TypingProtocol):
    """What a bind uses of its transport (TCP's and `smsc.memory`'s both have it; Twisted
    types `Protocol.transport` as a bare ITransport, hence the one cast in connectionMade)."""

    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...


class LoadProtocol(Protocol):
    """One bind (transceiver) of the load. See the module docstring for why it is raw."""

    def __init__(self, run: LoadRun) -> None:
        self._run = run
        self._tally = run.tally
        self._config = run.config
        self._body = run.body
        self._submit_length = 16 + len(run.body)
        self._buf = b""
        self._next_seq = 2                      # 1 is the bind
        self.pending: dict[int, float] = {}     # sequence number -> stamp
        self.queue: deque[float] = deque()      # open loop: intended times waiting for the window
        self._offers: list[float] = []          # open loop: due this tick, to send at its end
        self.bound: defer.Deferred[None] = defer.Deferred()
        self.closed: defer.Deferred[None] = defer.Deferred()
        self._is_bound = False
        self._unbinding = False
        self._receipts = self._config.receipts
        self._window = self._config.window
        self._closed_loop = self._config.rate is None

    # --- cold path ----------------------------------------------------------------------

    def connectionMade(self) -> None:
        self._out = cast(_Stream, self.transport)
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)                  # small PDUs, answered at once: no Nagle delay
        config = self._config
        bind = make(Command.bind_transceiver, 1, system_id=config.system_id,
                    password=config.password, interface_version=0x34)
        self._out.write(encode(bind))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._is_bound = False
        if not self.bound.called:
            self.bound.errback(BindRefused(None, "the server closed the connection before answering the bind"))
        if not self.closed.called:
            self.closed.callback(None)

    def _other(self, command_id: int, status: int, seq: int, frame: bytes, now: float) -> None:
        """Everything but submit_sm_resp and deliver_sm."""
        if command_id == ENQUIRE_LINK:
            self._out.write(_pack_header(16, ENQUIRE_LINK | 0x80000000, 0, seq))
        elif command_id == BIND_TRANSCEIVER_RESP and not self.bound.called:
            pdu = decode(frame)
            if isinstance(pdu, DecodeFailed) or pdu.command_status:
                refused = status if isinstance(pdu, DecodeFailed) else pdu.command_status
                self.bound.errback(BindRefused(refused, "the server refused the bind"))
                self._out.loseConnection()
            else:
                self._is_bound = True
                self.bound.callback(None)
        elif command_id == GENERIC_NACK:
            self._submit_resp(seq, status or 0xFF, frame, now)
        elif command_id == UNBIND:
            self._out.write(_pack_header(16, UNBIND_RESP, 0, seq))
            self._is_bound = False
            self._out.loseConnection()
        elif command_id == UNBIND_RESP:
            self._is_bound = False
            self._out.loseConnection()
        elif not command_id & 0x80000000:
            # A request we do not handle: generic_nack ESME_RINVCMDID, as SMPP 3.4 §3.3 says.
            self._out.write(_pack_header(16, GENERIC_NACK, 0x03, seq))

    def unbind(self) -> defer.Deferred[None]:
        """Send unbind; `closed` fires once the connection is gone (after the unbind_resp, or
        UNBIND_TIMEOUT, after which the connection is cut)."""
        if self._is_bound and not self._unbinding:
            self._unbinding = True
            self._out.write(_pack_header(16, UNBIND, 0, self._take_seqs(1)))
            clock = self._run.clock
            timer = clock.callLater(UNBIND_TIMEOUT, self._out.abortConnection)   # a server not reading
            self.closed.addBoth(_cancel, timer)
        elif not self.closed.called:
            self._out.loseConnection()
        return self.closed

    def _submit_resp(self, seq: int, status: int, frame: bytes, now: float) -> None:
        """The slow twin of the hot loop in dataReceived, for one response (generic_nack)."""
        stamp = self.pending.pop(seq, None)
        if stamp is None:
            self._tally.unexpected_resps += 1
            return
        tally = self._tally
        if stamp >= tally.measure_from:
            tally.resp_latency.pending.append(now - stamp)
            tally.errors[status] += 1
        self._refill(1, now)

    # --- hot path -----------------------------------------------------------------------

    def _take_seqs(self, count: int) -> int:
        first = self._next_seq
        if first + count > MAX_SEQUENCE:
            first = 2
        self._next_seq = first + count
        return first

    def send_submits(self, stamps: list[float]) -> None:
        """Send one submit_sm per stamp, in one write: a header packed per message, the body
        shared (`body.join(headers)` puts it between them)."""
        count = len(stamps)
        first = self._take_seqs(count)
        seqs = range(first, first + count)
        length, pack = self._submit_length, _pack_header
        body = self._body
        self._out.write(body.join([pack(length, SUBMIT_SM, 0, seq) for seq in seqs]) + body)
        self.pending.update(zip(seqs, stamps))
        tally = self._tally
        if stamps[-1] >= tally.measure_from:
            start = tally.measure_from
            tally.sent += count if stamps[0] >= start else sum(1 for s in stamps if s >= start)

    def send_now(self, count: int, now: float) -> None:
        """Closed loop: `count` submit_sm stamped `now`."""
        if count > 0:
            self.send_submits(list(repeat(now, count)))

    def offer(self, intended: float) -> None:
        """Open loop: a message due at `intended`, sent at the end of the tick (`flush_offers`)."""
        self._offers.append(intended)

    def flush_offers(self) -> None:
        offers = self._offers
        if not offers:
            return
        self._offers = []
        queue = self.queue
        room = self._window - len(self.pending) if self._is_bound else 0
        if queue:                               # older messages first
            queue.extend(offers)
            if room > 0:
                self.send_submits([queue.popleft() for _ in range(min(room, len(queue)))])
        elif room >= len(offers):
            self.send_submits(offers)
        else:
            if room > 0:
                self.send_submits(offers[:room])
                offers = offers[room:]
            queue.extend(offers)

    def _refill(self, freed: int, now: float) -> None:
        if not self._is_bound or self._unbinding:
            return
        if self._closed_loop:
            if now < self._tally.measure_until:
                self.send_now(freed, now)
        elif self.queue:
            queue = self.queue
            self.send_submits([queue.popleft() for _ in range(min(freed, len(queue)))])

    def dataReceived(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        end = len(buf)
        i = 0
        now = self._run.clock.seconds()
        tally = self._tally
        pending = self.pending
        measure_from = tally.measure_from
        latencies = tally.resp_latency.pending
        receipts = self._receipts
        freed = ok = ok_any = 0
        while end - i >= 16:
            length, command_id, status, seq = _unpack_header(buf, i)
            if length < 16 or length > MAX_PDU:
                tally.protocol_errors += 1
                self._buf = b""
                self._out.abortConnection()
                return
            if end - i < length:
                break
            if command_id == SUBMIT_SM_RESP:
                stamp = pending.pop(seq, None)
                if stamp is None:
                    tally.unexpected_resps += 1
                else:
                    freed += 1
                    if status:
                        if stamp >= measure_from:
                            latencies.append(now - stamp)
                            tally.errors[status] += 1
                    else:
                        ok_any += 1
                        if stamp >= measure_from:
                            latencies.append(now - stamp)
                            ok += 1
                            if receipts:
                                start = i + 16
                                tally.resp_with_id(buf[start:buf.find(b"\x00", start, i + length)], stamp)
                        elif receipts:
                            start = i + 16
                            tally.warmup_resp_id(buf[start:buf.find(b"\x00", start, i + length)])
            elif command_id == DELIVER_SM:
                self._out.write(_pack_header(17, 0x80000005, 0, seq) + b"\x00")
                message_id = receipted_id(buf, i + 16, i + length)
                if message_id is not None:
                    tally.receipt(message_id, now)
            else:
                self._other(command_id, status, seq, buf[i:i + length], now)
            i += length
        self._buf = buf[i:] if i < end else b""
        if ok_any:
            tally.ok += ok
            tally.ok_total += ok_any
            if tally.in_window:
                tally.window_ok += ok_any
        if freed:
            self._refill(freed, now)


def _cancel(result: object, call: IDelayedCall) -> object:
    if call.active():
        call.cancel()
    return result


def receipted_id(buf: bytes, start: int, end: int) -> bytes | None:
    """The message id a deliver_sm body (buf[start:end]) is a receipt for, or None when it is
    not a receipt (esm_class without the receipt bits). The layout is read by hand (SMPP 3.4
    §4.6.1: three C-strings and their 1-octet fields, esm_class, then two more C-strings, then
    short_message and TLVs) because it runs once per receipt; anything it cannot follow goes
    to the codec and `parse_receipt`."""
    try:
        at = buf.index(b"\x00", start, end) + 3            # service_type, source ton/npi
        at = buf.index(b"\x00", at, end) + 3               # source_addr, dest ton/npi
        at = buf.index(b"\x00", at, end) + 1               # destination_addr
        if not buf[at] & _RECEIPT_BITS:
            return None
        at = buf.index(b"\x00", at + 3, end) + 1           # esm, pid, priority; schedule_delivery_time
        at = buf.index(b"\x00", at, end) + 5               # validity_period; 4 one-octet fields
        sm_end = at + 1 + buf[at]
        short_message = buf[at + 1:sm_end]
        at = sm_end
        while at + 4 <= end:                               # TLVs: receipted_message_id first
            tag, size = _TLV_HEAD.unpack_from(buf, at)
            if tag == _RECEIPTED_MESSAGE_ID:
                value = buf[at + 4:at + 4 + size]
                return value[:-1] if value.endswith(b"\x00") else value
            at += 4 + size
        mark = short_message.find(b"id:")
        if mark >= 0:
            close = short_message.find(b" ", mark)
            return short_message[mark + 3:close if close >= 0 else len(short_message)]
    except (ValueError, IndexError, struct.error):
        pass
    return _receipted_id_slow(buf[start - 16:end])


def _receipted_id_slow(frame: bytes) -> bytes | None:
    pdu = decode(frame)
    if not isinstance(pdu, Pdu):
        return None
    esm_class = pdu.get("esm_class", 0)
    if not isinstance(esm_class, int) or not esm_class & _RECEIPT_BITS:
        return None
    receipt = parse_receipt(pdu)
    return None if receipt is None else receipt.message_id.encode("latin-1")


@dataclass(frozen=True, slots=True)
class Progress:
    """A once-a-second look at a running load (the live progress line)."""

    elapsed: float              # seconds since the load started (warm-up included)
    phase: str                  # "warmup", "load", "drain"
    resps_per_s: float          # ok submit_sm_resp in the last interval
    receipts_per_s: float
    outstanding: int            # submit_sm sent and not answered, all binds
    queued: int                 # open loop: due messages waiting for a window
    awaiting_receipts: int
    errors: int
    resp_p99_us: int            # so far, measured messages


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load process measured: counts, histograms, timings (seconds, clock time)."""

    tally: Tally
    measured_seconds: float     # the measurement window's length as it ran
    drain_seconds: float        # how long the drain took
    lost_resps: int             # measured messages sent and never answered
    lost_receipts: int          # measured ok messages whose receipt never came (receipts on)
    unsent: int                 # open loop: measured messages still waiting for a window at the end
    unmatched_receipts: int     # receipts naming no message of this run (nor of its warm-up)
    disconnected: int           # binds the server closed before the end


class LoadRun:
    """One load process: `binds` connections through `endpoint`, the phases of the module
    docstring, and the `Tally`. `on_progress` is called once a second."""

    def __init__(self, config: LoadConfig, clock: IReactorTime, endpoint: IStreamClientEndpoint,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.endpoint = endpoint
        self.tally = Tally()
        self.body = submit_template(config)
        self.binds: list[LoadProtocol] = []
        self._on_progress = on_progress
        self._start = 0.0
        self._issued = 0                        # open loop: messages handed to the binds so far
        self._last = (0.0, 0, 0)                # progress: time, ok resps, receipts at the last line

    async def run(self) -> LoadResult:
        """Bind, load, drain, unbind. Raises BindRefused if a bind fails (the others are
        closed first)."""
        config = self.config
        connecting = [self.endpoint.connect(_Factory(self)) for _ in range(config.binds)]
        try:
            connected = await defer.gatherResults(connecting, consumeErrors=True)
            self.binds = [cast(LoadProtocol, bind) for bind in connected]
            await defer.gatherResults([b.bound for b in self.binds], consumeErrors=True)
        except defer.FirstError as failed:
            for bind in self.binds:
                if bind.transport is not None:
                    bind.transport.loseConnection()
            failed.subFailure.raiseException()
        clock, tally = self.clock, self.tally
        self._start = start = clock.seconds()
        tally.measure_from = start + config.warmup
        tally.measure_until = tally.measure_from + config.duration
        tally.in_window = config.warmup == 0
        self._last = (start, 0, 0)
        calls = [clock.callLater(config.warmup, self._open_window),
                 clock.callLater(config.warmup + config.duration, self._close_window)]
        progress = LoopingCall(self._progress)
        progress.clock = clock
        progress.start(1.0, now=False)
        ticking = None
        if config.rate is None:
            for bind in self.binds:
                bind.send_now(config.window, start)
        else:
            ticking = LoopingCall(self._tick)
            ticking.clock = clock
            ticking.start(config.tick, now=True)
        await _sleep(clock, config.warmup + config.duration)
        if ticking is not None:
            self._tick()                        # the last messages due before the end
            ticking.stop()
        drain_started = clock.seconds()
        await self._drain(drain_started + config.drain)
        drain_seconds = clock.seconds() - drain_started
        progress.stop()
        for call in calls:
            if call.active():
                call.cancel()
        tally.resp_latency.flush()
        tally.receipt_latency.flush()
        measure_from = tally.measure_from
        result = LoadResult(
            tally=tally, measured_seconds=config.duration, drain_seconds=drain_seconds,
            lost_resps=sum(1 for b in self.binds for stamp in b.pending.values() if stamp >= measure_from),
            lost_receipts=len(tally.awaiting_receipt) if config.receipts else 0,
            unsent=sum(1 for b in self.binds for stamp in b.queue if stamp >= measure_from),
            unmatched_receipts=len(tally.early_receipts),
            disconnected=sum(1 for b in self.binds if b.closed.called))
        tally.stop_counting()                   # what the unbind still brings in is not counted
        await defer.gatherResults([b.unbind() for b in self.binds])
        return result

    def _open_window(self) -> None:
        self.tally.in_window = True

    def _close_window(self) -> None:
        self.tally.in_window = False

    def _tick(self) -> None:
        """Open loop: hand every message due by now (and before the end) to its bind."""
        config = self.config
        rate = config.rate
        assert rate is not None
        now = min(self.clock.seconds(), self.tally.measure_until)
        start = self._start
        due = int((now - start) * rate) + 1                 # message 0 is due at start
        last = -(-(config.warmup + config.duration) * rate // 1)   # messages due before the end
        due = min(due, int(last))
        binds = self.binds
        count = len(binds)
        for i in range(self._issued, due):
            binds[i % count].offer(start + i / rate)
        if due > self._issued:
            self._issued = due
            for bind in binds:
                bind.flush_offers()

    def _drained(self) -> bool:
        """Nothing more can come: every open bind has its answers and sent its queue, and
        (receipts on) every receipt is in, or no bind is left to bring one."""
        open_binds = [bind for bind in self.binds if not bind.closed.called]
        if any(bind.pending or bind.queue for bind in open_binds):
            return False
        return not (self.config.receipts and self.tally.awaiting_receipt and open_binds)

    async def _drain(self, deadline: float) -> None:
        clock = self.clock
        while not self._drained() and clock.seconds() < deadline:
            await _sleep(clock, min(DRAIN_CHECK, max(0.0, deadline - clock.seconds())))

    def _progress(self) -> None:
        tally = self.tally
        tally.resp_latency.flush()
        tally.receipt_latency.flush()
        now = self.clock.seconds()
        then, ok_then, receipts_then = self._last
        ok_now, receipts_now = tally.ok_total, tally.receipts_total
        span = now - then if now > then else 1.0
        if now <= tally.measure_from:
            phase = "warmup"
        elif now <= tally.measure_until + 1e-9:
            phase = "load"
        else:
            phase = "drain"
        self._last = (now, ok_now, receipts_now)
        if self._on_progress is None:
            return
        self._on_progress(Progress(
            elapsed=now - self._start, phase=phase,
            resps_per_s=(ok_now - ok_then) / span,
            receipts_per_s=(receipts_now - receipts_then) / span,
            outstanding=sum(len(b.pending) for b in self.binds),
            queued=sum(len(b.queue) for b in self.binds),
            awaiting_receipts=len(tally.awaiting_receipt),
            errors=sum(tally.errors.values()),
            resp_p99_us=tally.resp_latency.percentile_us(99.0)))


class _Factory(Factory):
    """Builds the binds of one run."""

    def __init__(self, run: LoadRun) -> None:
        self._run = run

    def buildProtocol(self, addr: IAddress | None) -> LoadProtocol:
        return LoadProtocol(self._run)


def _sleep(clock: IReactorTime, seconds: float) -> defer.Deferred[None]:
    d: defer.Deferred[None] = defer.Deferred()
    clock.callLater(seconds, d.callback, None)
    return d
