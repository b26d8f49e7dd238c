"""What a simulated operator SMSC does with one submit_sm: pure decisions, no I/O, no clock.

Rules of this module:

1. `decide(facts, subscriber, behaviour, rng)` turns a submit into a `Refusal` (the
   submit_sm_resp carries an error status) or an `Accepted` fate (stat, err, when the fate is
   known, whether a receipt goes out, whether the subscriber answers). Times are seconds
   *relative* to the submit_sm_resp; smsc/operators/smsc.py turns them into timers.
2. Every random draw comes from the `rng` passed in: one `random.Random` per operator, seeded
   from (network seed, operator id). Same seed, same traffic in the same order: same fates.
   The draws per message follow a fixed order (slow response, submit error, outcome, receipt
   delay, receipt loss, reply), so changing a share changes only what it governs.
3. A number with an exact rule (test numbers, `numbers:`) draws nothing but its receipt
   delay when it has none, its `back_after` and its reply delay: no outcome weights, range
   states, submit error shares, slow responses or receipt loss. Integrators can rely on them.
4. `Admission` holds the throughput token buckets (R14) and answers the window / cap
   questions; it is the only stateful piece, and takes `now` like the sans-IO session does.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Hashable
from dataclasses import dataclass

from smsc.operators.profile import (
    Fixed, Outcome, ReceiptError, Reply, SmscBehaviour, Stat, SubscriberState, Throughput, UnknownSignal,
    sample_delay,
)
from smsc.operators.subscribers import Subscriber
from smsc.pdu.codec import Ton
from smsc.pdu.status import CommandStatus
from smsc.ratelimit import TokenBucket


class RefusalReason(enum.Enum):
    """Why a submit_sm was refused, for logs and counters (the status goes on the wire)."""

    WINDOW_FULL = "window_full"
    BIND_THROUGHPUT = "bind_throughput"
    OPERATOR_THROUGHPUT = "operator_throughput"
    TEST_NUMBER_THROTTLE = "test_number_throttle"
    TEST_NUMBER = "test_number"
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"
    SUBMIT_ERROR = "submit_error"


@dataclass(frozen=True, slots=True)
class SubmitFacts:
    """What the SMSC knows of a submit_sm when it decides."""

    msisdn: str                 # E.164 destination
    source_addr: str
    source_addr_ton: int
    validity: float             # seconds from now the message may still be delivered (> 0)
    submits_before: int = 0     # earlier submits to this number with an exact rule (throttle_every)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: CommandStatus
    reason: RefusalReason
    respond_after: float = 0.0  # slow response: seconds before the submit_sm_resp leaves


@dataclass(frozen=True, slots=True)
class PlannedReply:
    """An MO the subscriber sends `after` seconds after delivery. `reachable` is False when
    the MT's sender was alphanumeric: no MO can reach it (RULES R5), it is dropped and logged."""

    text: str
    after: float
    reachable: bool


@dataclass(frozen=True, slots=True)
class Accepted:
    stat: Stat
    err: str
    done_after: float           # seconds after the submit_sm_resp when the fate is known
    receipt: bool               # False: receipt lost (fault) or never sent (test number)
    reply: PlannedReply | None = None
    respond_after: float = 0.0
    state: SubscriberState = SubscriberState.ACTIVE


Decision = Refusal | Accepted

_STATE_FATE: dict[SubscriberState, tuple[Stat, str]] = {
    SubscriberState.UNKNOWN: (Stat.UNDELIV, ReceiptError.UNKNOWN_SUBSCRIBER.value),
    SubscriberState.TERMINATED: (Stat.UNDELIV, ReceiptError.TERMINATED.value),
    SubscriberState.BARRED: (Stat.UNDELIV, ReceiptError.BARRED.value),
}


def is_alphanumeric(source_addr: str, source_addr_ton: int) -> bool:
    """An altered (alphanumeric) sender: TON 5, or any letter in it (RULES R5)."""
    return source_addr_ton == Ton.ALPHANUMERIC or any(c.isalpha() for c in source_addr)


def choose_outcome(outcomes: tuple[Outcome, ...], rng: random.Random) -> Outcome:
    """One outcome, with probability weight / total weight."""
    total = sum(o.weight for o in outcomes)
    point = rng.random() * total
    edge = 0.0
    for outcome in outcomes:
        edge += outcome.weight
        if point < edge:
            return outcome
    return outcomes[-1]                 # float rounding at the very top of the range


def _pick_share(shares: tuple[float, ...], rng: random.Random) -> int | None:
    """Index of the share (percent) a uniform draw falls in, or None for the rest."""
    point = rng.random() * 100.0
    edge = 0.0
    for index, share in enumerate(shares):
        edge += share
        if point < edge:
            return index
    return None


def decide(facts: SubmitFacts, subscriber: Subscriber, behaviour: SmscBehaviour,
           rng: random.Random) -> Decision:
    """The fate of one submit_sm (see the module rules for the order of the checks)."""
    b = behaviour
    rule = subscriber.rule
    respond_after = 0.0
    if rule is not None:
        if rule.throttle_every and (facts.submits_before + 1) % rule.throttle_every == 0:
            return Refusal(b.throttled_status, RefusalReason.TEST_NUMBER_THROTTLE)
        if rule.submit_status is not None:
            return Refusal(rule.submit_status, RefusalReason.TEST_NUMBER)
    else:
        slow = b.faults.slow_responses
        if slow.share > 0 and rng.random() * 100.0 < slow.share:
            respond_after = sample_delay(slow.delay, rng)
        error = _pick_share(tuple(e.weight for e in b.submit_errors), rng) if b.submit_errors else None
        if error is not None:
            return Refusal(b.submit_errors[error].status, RefusalReason.SUBMIT_ERROR, respond_after)

    state = subscriber.state
    if state is SubscriberState.UNKNOWN and b.unknown_subscriber is UnknownSignal.SUBMIT_ERROR:
        return Refusal(b.unknown_status, RefusalReason.UNKNOWN_SUBSCRIBER, respond_after)

    validity = facts.validity
    if state is SubscriberState.ACTIVE:
        outcome = Outcome(Stat.DELIVRD, ReceiptError.NONE.value) if rule is not None \
            else choose_outcome(b.outcomes, rng)
        stat, err = outcome.stat, outcome.err
    elif state is SubscriberState.ABSENT:
        stat, err = Stat.EXPIRED, ReceiptError.ABSENT_SUBSCRIBER.value
    else:
        stat, err = _STATE_FATE[state]

    if rule is not None and rule.delay is not None:
        delay = min(rule.delay, validity)
    else:
        delay = sample_delay(b.receipt_delay, rng, cap=validity)

    if state is SubscriberState.ABSENT:
        # The SMSC keeps the message; the HLR alerts it when the phone is back (MAP
        # alertServiceCentre) and it delivers at once. Not back in time: EXPIRED err 027.
        back = sample_delay(subscriber.back_after, rng) if subscriber.back_after is not None else None
        if back is not None and back < validity:
            stat, err, done_after = Stat.DELIVRD, ReceiptError.NONE.value, back
        else:
            done_after = validity
    elif stat is Stat.EXPIRED:
        done_after = validity
    else:
        done_after = delay

    if rule is not None:
        receipt = rule.receipt
    else:
        loss = b.faults.receipt_loss
        receipt = not (loss > 0 and rng.random() * 100.0 < loss)

    reply = None
    if stat is Stat.DELIVRD:
        reply = _plan_reply(facts, (rule.reply,) if rule is not None and rule.reply is not None
                            else (() if rule is not None else b.replies), rng)
    return Accepted(stat, err, done_after, receipt, reply, respond_after, state)


class PlainDecider:
    """`decide` for the submit that takes the common path, without its per-message objects.

    An operator with no slow responses, no submit error shares and no replies decides a
    submit to an active number without an exact rule (the bench network's every message, and
    most of a campaign's) by: the outcome draw, the receipt delay, the receipt-loss draw.
    This does exactly that, with the same draws in the same order and the same float
    arithmetic (the outcome edges are summed once, in `choose_outcome`'s order), and hands
    back a shared `Accepted` when the fate is one seen before with a fixed delay (a frozen
    value: one per distinct fate, not one per message; about a sixth of the operator's work
    per submit was `decide` and the objects it built). `of(behaviour)` is None for a
    behaviour this does not cover; the caller checks the subscriber (`applies`).
    tests/unit/test_operator_behaviour.py holds it to `decide`: same fate, same rng state."""

    __slots__ = ("_total", "_edges", "_fates", "_delay", "_fixed", "_loss", "_cache")

    def __init__(self, behaviour: SmscBehaviour) -> None:
        outcomes = behaviour.outcomes
        self._total = sum(o.weight for o in outcomes)
        edges = []
        edge = 0.0
        for outcome in outcomes:
            edge += outcome.weight
            edges.append(edge)
        self._edges = tuple(edges)
        self._fates = tuple((o.stat, o.err) for o in outcomes)
        self._delay = behaviour.receipt_delay
        self._fixed = max(0.0, behaviour.receipt_delay.seconds) if isinstance(behaviour.receipt_delay, Fixed) \
            else None
        self._loss = behaviour.faults.receipt_loss
        self._cache: dict[tuple[int, float, bool], Accepted] = {}

    @classmethod
    def of(cls, behaviour: SmscBehaviour) -> PlainDecider | None:
        if behaviour.faults.slow_responses.share > 0 or behaviour.submit_errors or behaviour.replies:
            return None
        return cls(behaviour)

    @staticmethod
    def applies(subscriber: Subscriber) -> bool:
        """Whether `decide` of a submit to `subscriber` is this decider's: active, no exact rule."""
        return subscriber.rule is None and subscriber.state is SubscriberState.ACTIVE

    def decide(self, validity: float, rng: random.Random) -> Accepted:
        """`decide(facts, subscriber, behaviour, rng)` for a subscriber that `applies`, and a
        submit of this `validity` (> 0)."""
        point = rng.random() * self._total
        edges = self._edges
        index = len(edges) - 1              # float rounding at the very top: the last (choose_outcome)
        for i, edge in enumerate(edges):
            if point < edge:
                index = i
                break
        stat, err = self._fates[index]
        fixed = self._fixed
        if stat is Stat.EXPIRED:
            done_after = validity
            if fixed is None:
                sample_delay(self._delay, rng, cap=validity)      # drawn all the same, as decide does
        elif fixed is not None:
            done_after = fixed if fixed <= validity else validity
        else:
            done_after = sample_delay(self._delay, rng, cap=validity)
        loss = self._loss
        receipt = not (loss > 0 and rng.random() * 100.0 < loss)
        if fixed is None or done_after != fixed:
            return Accepted(stat, err, done_after, receipt)
        key = (index, done_after, receipt)
        accepted = self._cache.get(key)
        if accepted is None:
            accepted = self._cache[key] = Accepted(stat, err, done_after, receipt)
        return accepted


def _plan_reply(facts: SubmitFacts, replies: tuple[Reply, ...], rng: random.Random) -> PlannedReply | None:
    if not replies:
        return None
    index = _pick_share(tuple(r.share for r in replies), rng)
    if index is None:
        return None
    chosen = replies[index]
    alphanumeric = is_alphanumeric(facts.source_addr, facts.source_addr_ton)
    if chosen.alphanumeric_sender_only and not alphanumeric:
        return None
    return PlannedReply(chosen.text, sample_delay(chosen.delay, rng), reachable=not alphanumeric)


# --- throughput caps and window (R14) ---------------------------------------------------

class Admission:
    """Per-operator and per-bind token buckets, and the per-bind window, on a given `now`.

    A submit is throttled when either bucket is empty; a throttled submit spends no token
    (the peer will retry, and counting refused attempts would starve it). Binds are keyed by
    any hashable (the SMSC uses its connection objects)."""

    def __init__(self, behaviour: SmscBehaviour, now: float) -> None:
        self.behaviour = behaviour
        self._operator = _bucket(behaviour.throughput, now)
        self._binds: dict[Hashable, TokenBucket | None] = {}

    def add_bind(self, key: Hashable, now: float) -> None:
        self._binds[key] = _bucket(self.behaviour.per_bind, now)

    def remove_bind(self, key: Hashable) -> None:
        self._binds.pop(key, None)

    @property
    def cap(self) -> float | None:
        """The operator-wide cap now, messages per second (None: none); for the live stats."""
        return None if self._operator is None else self._operator.rate

    def set_throughput(self, rate: float, burst: int, now: float) -> None:
        """Change the operator-wide cap at run time (scenarios): a throttling operator."""
        if self._operator is None:
            self._operator = TokenBucket(rate, burst, now)
        else:
            self._operator.reconfigure(rate, burst, now)

    def admit(self, key: Hashable, outstanding: int, now: float) -> Refusal | None:
        """None when the submit may go on; else the refusal to answer at once."""
        b = self.behaviour
        if outstanding >= b.window:
            return Refusal(b.queue_full_status, RefusalReason.WINDOW_FULL)
        bind = self._binds.get(key)
        if bind is not None and bind.wait_time(now) > 0:
            return Refusal(b.throttled_status, RefusalReason.BIND_THROUGHPUT)
        if self._operator is not None and self._operator.wait_time(now) > 0:
            return Refusal(b.throttled_status, RefusalReason.OPERATOR_THROUGHPUT)
        if bind is not None:
            bind.take(now)
        if self._operator is not None:
            self._operator.take(now)
        return None


def _bucket(throughput: Throughput | None, now: float) -> TokenBucket | None:
    return None if throughput is None else TokenBucket(throughput.rate, throughput.burst, now)
