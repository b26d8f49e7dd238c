"""Live statistics of a running harness: the one home of "what is happening now" (issue 14).

`GET /status` (aggregator/control.py) and `GET /metrics` (aggregator/metrics.py, Prometheus)
both read one `Snapshot`; docs/metrics.md says what each figure means. Its rules:

1. Counted at events, read at snapshot time. The events (a submit accepted or refused, a
   submit_sm sent to an operator, a message's final state, a bind made or lost) each cost a
   few increments on the hot path (`LiveStats`'s methods): no object is built per message,
   no logging, no I/O. What is a state rather than an event (binds, windows, queues, operator
   links, throughput caps, outages) is not counted at all: `snapshot` reads it from the
   harness when asked.
2. Time is the harness's clock, passed in as `now` (under `serve --speed` the simulated
   one: a rate is per simulated second). Nothing here reads a clock itself.
3. Rates are per second over the last `WINDOW` seconds: one slot per whole second in a ring
   (`Meter`), the slots of the seconds that passed without an event zeroed when time moves
   on. A rate is the sum of the slots of the whole seconds `[floor(now) - 59, floor(now)]`
   (the current one, partly gone, included) divided by 60, also in the harness's first
   minute: it shows what the last minute did, not an extrapolation.
4. "Since start" counts start at the harness's start; a message resumed from a previous
   run on the same store counts when it ends (delivered or failed), not as submitted.
5. Stats are not in reports: a scenario's report.json does not change with them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from aggregator.store import MessageState
from smsc.pdu.status import status_name
from smsc.states import SessionState, is_bound

if TYPE_CHECKING:
    from aggregator.harness import Harness

__all__ = [
    "LATENCY_BUCKETS", "LiveStats", "Meter", "OperatorNow", "SessionNow", "Snapshot", "WINDOW", "snapshot",
]

WINDOW = 60                         # seconds a rate is taken over
# Upper bounds (seconds) of the submit-to-receipt latency histogram: a simulated operator's
# receipt comes after a fixed or drawn delay from a tenth of a second to hours (absent
# subscribers, retries); the last finite bucket is the default validity, 24 h.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                                      600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)
MODES: dict[SessionState, str] = {SessionState.BOUND_TX: "transmitter", SessionState.BOUND_RX: "receiver",
                                  SessionState.BOUND_TRX: "transceiver"}
# The store's final states, and which count as failed in the totals
FINAL_STATES = (MessageState.DELIVERED, MessageState.UNDELIVERABLE, MessageState.REJECTED, MessageState.EXPIRED)


class Meter:
    """An event count since start and the counts of the last `WINDOW` seconds, one slot per
    second (slot = second % WINDOW). `LiveStats` moves every meter's ring on together."""

    __slots__ = ("total", "slots")

    def __init__(self) -> None:
        self.total = 0
        self.slots = [0] * WINDOW

    def rate(self) -> float:
        """Events per second over the window (rule 3): once `LiveStats.advance` has run."""
        return sum(self.slots) / WINDOW


class _Histogram:
    """Submit-to-receipt latencies of one operator: a count per bucket of LATENCY_BUCKETS
    (the last one +Inf), their sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0


class _Bind:
    """One client bind's own figures, under its bind_id ("ACCOUNT#N")."""

    __slots__ = ("meter", "bound_at")

    def __init__(self, bound_at: float) -> None:
        self.meter = Meter()
        self.bound_at = bound_at


class LiveStats:
    """The counters, updated at events (rule 1). One per harness, made at its start with the
    clock's reading (`started`); the delivery engine holds it (`DeliveryEngine.stats`), the
    client server and the operator pools reach it through the engine."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._second = math.floor(started)           # the second the slot `_slot` counts
        self._slot = self._second % WINDOW
        self._next = float(self._second + 1)         # when the ring moves on
        self.submitted = Meter()                     # messages accepted (clients' and the platform's own)
        self.delivered = Meter()
        self.failed = Meter()                        # final and not delivered
        self.refused_total = 0
        self.accepted: dict[tuple[str, str], int] = {}                  # (account, operator)
        self.refused: dict[tuple[str, int], int] = {}                   # (account, command_status)
        self.finals: dict[tuple[str, str, MessageState], int] = {}      # (account, operator, state)
        self.operators: dict[str, Meter] = {}        # submit_sm sent to each operator
        self.binds: dict[str, _Bind] = {}            # bind_id -> while it is bound
        self.latency: dict[str, _Histogram] = {}     # operator -> submit accepted to final receipt

    # --- the ring ----------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Move every ring on to the second of `now`, zeroing the slots of the seconds gone by
        (all of them after a jump of a window or more). A clock that goes back (a wall clock
        set back) counts on in the current slot."""
        second = math.floor(now)
        gone = second - self._second
        if gone <= 0:
            return
        meters = [self.submitted, self.delivered, self.failed, *self.operators.values(),
                  *(b.meter for b in self.binds.values())]
        if gone >= WINDOW:
            for meter in meters:
                meter.slots[:] = [0] * WINDOW
        else:
            for step in range(1, gone + 1):
                slot = (self._second + step) % WINDOW
                for meter in meters:
                    meter.slots[slot] = 0
        self._second = second
        self._slot = second % WINDOW
        self._next = float(second + 1)

    # --- events (hot path: a few increments each) ----------------------------------------------

    def accepted_message(self, bind_id: str | None, account: str, operator: str, now: float) -> None:
        """A message accepted: from a client's bind, or (bind_id None) the platform's own reply."""
        if now >= self._next:
            self.advance(now)
        meter = self.submitted
        meter.total += 1
        meter.slots[self._slot] += 1
        if bind_id is not None:
            bind = self.binds.get(bind_id)
            if bind is not None:
                bind.meter.total += 1
                bind.meter.slots[self._slot] += 1
        key = (account, operator)
        self.accepted[key] = self.accepted.get(key, 0) + 1

    def refused_submit(self, account: str, status: int) -> None:
        """A submit (or one destination of a submit_multi) answered with an error status,
        flow control (ESME_RTHROTTLED, ESME_RMSGQFUL) included."""
        self.refused_total += 1
        key = (account, status)
        self.refused[key] = self.refused.get(key, 0) + 1

    def sent(self, operator: str, now: float) -> None:
        """A submit_sm sent to an operator (every attempt counts)."""
        if now >= self._next:
            self.advance(now)
        meter = self.operators.get(operator)
        if meter is None:
            meter = self.operators[operator] = Meter()
        meter.total += 1
        meter.slots[self._slot] += 1

    def final(self, account: str, operator: str, state: MessageState, now: float, latency: float | None) -> None:
        """A message reached its final state; `latency`: seconds from its acceptance to the
        operator's final verdict (a receipt, or its answer to query_sm), None when it ended
        otherwise (expired, refused, unsendable)."""
        if now >= self._next:
            self.advance(now)
        meter = self.delivered if state is MessageState.DELIVERED else self.failed
        meter.total += 1
        meter.slots[self._slot] += 1
        key = (account, operator, state)
        self.finals[key] = self.finals.get(key, 0) + 1
        if latency is not None:
            histogram = self.latency.get(operator)
            if histogram is None:
                histogram = self.latency[operator] = _Histogram()
            histogram.counts[bisect_left(LATENCY_BUCKETS, latency)] += 1
            histogram.sum += latency

    def bound(self, bind_id: str, now: float) -> None:
        """A client bind is up (its submits are counted under its bind_id from now)."""
        self.binds[bind_id] = _Bind(now)

    def unbound(self, bind_id: str | None) -> None:
        """A client bind is gone: its own figures go with it (its submits stay in the totals)."""
        if bind_id is not None:
            self.binds.pop(bind_id, None)


# --- what a reader gets ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SessionNow:
    """One client bind as it stands."""

    bind: str
    account: str
    mode: str                   # transmitter, receiver, transceiver
    peer: str
    bound_at: float
    outstanding: int            # deliver_sm sent to it and not answered yet
    window: int                 # how many may be
    submitted: int              # messages accepted from this bind
    rate: float                 # per second, last minute


@dataclass(frozen=True, slots=True)
class OperatorNow:
    """One operator as it stands: the aggregator's side (links, queue, sends) and its
    simulated SMSC's (cap, outage, what it accepted)."""

    id: str
    links_bound: int
    links_configured: int
    queued: int                 # messages waiting in the aggregator's queue for it
    sent: int                   # submit_sm sent to it since start (attempts)
    rate: float                 # submit_sm sent per second, last minute
    throttled: int              # ESME_RTHROTTLED / ESME_RMSGQFUL answers it gave the aggregator
    cap: float | None           # its throughput cap, messages per second (None: no cap)
    outage: str | None          # refuse_binds, drop, silent, or None
    smsc_submitted: int         # submit_sm its SMSC accepted
    receipts_sent: int
    mo_sent: int                # MOs its SMSC sent the aggregator


@dataclass(frozen=True, slots=True)
class LatencyNow:
    """One operator's submit-to-receipt latency histogram, Prometheus-shaped: cumulative
    counts for each upper bound of LATENCY_BUCKETS then +Inf."""

    operator: str
    cumulative: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything there is to say now (`snapshot`); sorted, so two reads of an idle harness
    are equal."""

    started: float
    now: float
    submitted: int
    delivered: int
    failed: int
    refused: int
    submitted_rate: float
    delivered_rate: float
    failed_rate: float
    accepted: tuple[tuple[str, str, int], ...]                # (account, operator, n)
    refusals: tuple[tuple[str, str, int], ...]                # (account, status name, n)
    finals: tuple[tuple[str, str, str, int], ...]             # (account, operator, state, n)
    binds: tuple[tuple[str, str, int], ...]                   # (account, mode, n): every account and mode
    sessions: tuple[SessionNow, ...]
    operators: tuple[OperatorNow, ...]
    latency: tuple[LatencyNow, ...]
    unfinished: int                                           # messages taken in, not final yet


def snapshot(harness: Harness, now: float) -> Snapshot:
    """Read the counters and the state of the harness at `now` (its clock's reading)."""
    stats = harness.stats
    stats.advance(now)
    server = harness.server
    sessions: list[SessionNow] = []
    modes: dict[tuple[str, str], int] = {(account, mode): 0 for account in sorted(server.accounts)
                                         for mode in MODES.values()}
    for conn in server.connections:
        mode = MODES.get(conn.state)
        if mode is None or conn.system_id is None or conn.bind_id is None:
            continue
        modes[(conn.system_id, mode)] = modes.get((conn.system_id, mode), 0) + 1
        own = stats.binds.get(conn.bind_id)
        sessions.append(SessionNow(
            bind=conn.bind_id, account=conn.system_id, mode=mode, peer=conn.peer,
            bound_at=stats.started if own is None else own.bound_at, outstanding=conn.session.outstanding,
            window=conn.session.config.window, submitted=0 if own is None else own.meter.total,
            rate=0.0 if own is None else own.meter.rate()))
    operators = []
    for op_id, smsc in harness.operators.items():
        pool = harness.pools[op_id]
        sends = stats.operators.get(op_id)
        operators.append(OperatorNow(
            id=op_id, links_configured=len(pool.connectors),
            links_bound=sum(1 for c in pool.connectors if c.conn is not None and is_bound(c.conn.state)),
            queued=len(pool.queue), sent=0 if sends is None else sends.total,
            rate=0.0 if sends is None else sends.rate(), throttled=pool.throttled,
            cap=smsc.admission.cap, outage=None if smsc.outage is None else smsc.outage.value,
            smsc_submitted=smsc.submitted, receipts_sent=smsc.receipts_sent, mo_sent=smsc.mo_sent))
    latency = []
    for op_id, histogram in sorted(stats.latency.items()):
        latency.append(LatencyNow(op_id, tuple(accumulate(histogram.counts)), histogram.sum))
    return Snapshot(
        started=stats.started, now=now, submitted=stats.submitted.total, delivered=stats.delivered.total,
        failed=stats.failed.total, refused=stats.refused_total, submitted_rate=stats.submitted.rate(),
        delivered_rate=stats.delivered.rate(), failed_rate=stats.failed.rate(),
        accepted=tuple((a, o, n) for (a, o), n in sorted(stats.accepted.items())),
        refusals=tuple(sorted((a, status_name(s), n) for (a, s), n in stats.refused.items())),
        finals=tuple((a, o, s.value, n) for (a, o, s), n in sorted(stats.finals.items(),
                                                                      key=lambda item: _final_key(item[0]))),
        binds=tuple((a, m, n) for (a, m), n in sorted(modes.items())),
        sessions=tuple(sessions), operators=tuple(operators), latency=tuple(latency),
        unfinished=len(harness.engine.live))


def _final_key(key: tuple[str, str, MessageState]) -> tuple[str, str, int]:
    account, operator, state = key
    return account, operator, FINAL_STATES.index(state)
