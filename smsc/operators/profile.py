"""What a simulated operator SMSC is: data, not subclasses.

Rules of this module:

1. Every behaviour of an operator SMSC is a frozen value here (throughput caps, outcome
   weights, receipt delays, subscriber ranges, replies, faults). `aggregator/config/behaviour.py` builds
   them from YAML; scenarios and tests build them directly. No code path reads a dict.
2. Every field has a default. The defaults describe a *perfect* network (everything delivered
   one second after the submit_sm_resp, no caps, no faults), so an operator configured with no
   `smsc:` block behaves as in issue 3. The realistic French figures live in
   `aggregator/default_network.yaml` (see docs/operator-model.md for where they come from).
3. Values only: the decisions that use them are in `smsc/operators/behaviour.py` (pure) and
   the timers in `smsc/operators/smsc.py`. A delay distribution samples from a
   `random.Random` it is given and never owns one, so the same seed gives the same delays.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from smsc.pdu.status import CommandStatus

# z such that P(Z <= z) = 0.99 for a standard normal: lognormal p99 = median * exp(sigma * z).
_Z99 = 2.3263478740408408


# --- delay distributions ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Fixed:
    """Always `seconds`."""

    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError("a fixed delay must be a finite number >= 0")

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform between `low` and `high` seconds (both included)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high and math.isfinite(self.high)):
            raise ValueError("a uniform delay needs 0 <= low <= high")

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponential with the given mean (memoryless waits: a phone switched on at random)."""

    mean: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and self.mean >= 0):
            raise ValueError("an exponential delay needs a finite mean >= 0")

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal given by two figures people actually quote: the median and the 99th
    percentile. mu = ln(median), sigma = ln(p99 / median) / 2.326 (the normal's 99 % point).
    Receipt latencies look like this: most within seconds, a long tail of minutes."""

    median: float
    p99: float

    def __post_init__(self) -> None:
        if not (0 < self.median <= self.p99 and math.isfinite(self.p99)):
            raise ValueError("a lognormal delay needs 0 < median <= p99")

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / _Z99

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


Delay = Fixed | Uniform | Exponential | LogNormal


def sample_delay(delay: Delay, rng: random.Random, cap: float | None = None) -> float:
    """One delay in seconds drawn with `rng`, never negative, at most `cap` when given
    (receipt delays are capped at the message's validity: the SMSC gives up then)."""
    value = max(0.0, delay.sample(rng))
    return value if cap is None else min(value, max(0.0, cap))


# --- outcomes -----------------------------------------------------------------------------

class Stat(enum.Enum):
    """Final `stat:` of an Appendix B receipt that the simulated networks produce."""

    DELIVRD = "DELIVRD"
    UNDELIV = "UNDELIV"
    REJECTD = "REJECTD"
    EXPIRED = "EXPIRED"


class ReceiptError(str, enum.Enum):
    """The 3-digit `err:` codes the simulated networks put in receipts (docs/operator-model.md).

    SMPP 3.4 leaves `err` network specific (Appendix B); these follow the GSM MAP error
    numbering most SMSCs pass through. 027, 031 and 034 are temporary (the aggregator may
    retry); the others are permanent."""

    NONE = "000"
    UNKNOWN_SUBSCRIBER = "001"
    TERMINATED = "005"
    OPERATOR_FILTER = "010"
    BARRED = "013"
    ABSENT_SUBSCRIBER = "027"
    MEMORY_EXCEEDED = "031"
    SYSTEM_FAILURE = "034"


TEMPORARY_ERRORS: tuple[str, ...] = (ReceiptError.ABSENT_SUBSCRIBER.value, ReceiptError.MEMORY_EXCEEDED.value,
                                     ReceiptError.SYSTEM_FAILURE.value)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One possible fate of a message to an active subscriber, with a relative weight.
    EXPIRED means the receipt comes at the message's validity end."""

    stat: Stat
    err: str = "000"
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SubmitError:
    """A share (percent of all submits) refused at submit time with `status`."""

    status: CommandStatus
    weight: float


# --- subscribers --------------------------------------------------------------------------

class SubscriberState(enum.Enum):
    """What the network knows of a number; it outlives one message."""

    ACTIVE = "active"
    UNKNOWN = "unknown"            # never existed: UNDELIV err 001 (or refused at submit)
    ABSENT = "absent"              # phone off: kept, delivered when back, EXPIRED err 027 if not
    TERMINATED = "terminated"      # line closed: UNDELIV err 005
    BARRED = "barred"              # barred by the operator: UNDELIV err 013


class UnknownSignal(enum.Enum):
    """How an unknown subscriber is signalled. French networks mostly accept the submit and
    report UNDELIV err 001 in the receipt (their SMSC learns it from the HLR after the
    submit_sm_resp); some refuse the submit at once."""

    RECEIPT = "receipt"
    SUBMIT_ERROR = "submit_error"


@dataclass(frozen=True, slots=True)
class Reply:
    """An MO the subscriber sends after a DELIVERED MT: `text` after `delay` seconds, with
    probability `share` percent. `alphanumeric_sender_only`: the rule only applies to MTs
    whose source_addr is alphanumeric (those replies are always dropped and logged, RULES R5:
    with an altered sender no MO reply can reach the client)."""

    text: str
    share: float = 100.0
    delay: Delay = Uniform(30.0, 7200.0)
    alphanumeric_sender_only: bool = False


@dataclass(frozen=True, slots=True)
class RangeRule:
    """The subscribers of a prefix of E.164 numbers. Either one `state` for the whole range,
    or shares (percent) of unknown/absent/terminated/barred numbers, decided once per number
    (a stable hash of seed, operator and number), the rest active. Longest prefix wins."""

    prefix: str
    state: SubscriberState | None = None
    unknown: float = 0.0
    absent: float = 0.0
    terminated: float = 0.0
    barred: float = 0.0
    absent_back_after: Delay | None = Uniform(60.0, 3600.0)   # None: an absent number never comes back


@dataclass(frozen=True, slots=True)
class NumberRule:
    """One exact number (E.164), in `numbers:` or the network's `test_numbers:`.

    Fields beyond `state` make the test numbers: a fixed receipt `delay`, a `submit_status`
    refusal, `receipt=False` (accepted, never a receipt), a `reply` MO, `throttle_every`
    (every n-th submit to the number throttled). A number with a rule here never draws from
    the outcome weights, range states, submit error shares, slow responses or receipt loss."""

    msisdn: str
    state: SubscriberState = SubscriberState.ACTIVE
    back_after: float | None = None        # absent: seconds after each submit it is back; None = never
    delay: float | None = None             # receipt delay; None: the operator's receipt_delay
    submit_status: CommandStatus | None = None
    receipt: bool = True
    reply: Reply | None = None
    throttle_every: int = 0                # 2: the 2nd, 4th, ... submit gets the throttled status


# --- caps and faults ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Throughput:
    """A token bucket: `rate` submit_sm a second, at most `burst` in a row (R14)."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise ValueError("throughput needs rate > 0 and burst >= 1")


class OutageMode(enum.Enum):
    REFUSE_BINDS = "refuse_binds"   # connections dropped at the start, binds get ESME_RBINDFAIL
    DROP = "drop"                   # connections dropped at the start and at once when they connect
    SILENT = "silent"               # requests get no response at all (enquire_link still answered)


@dataclass(frozen=True, slots=True)
class Outage:
    """An outage `start` seconds after the SMSC starts, lasting `duration` seconds."""

    start: float
    duration: float
    mode: OutageMode


@dataclass(frozen=True, slots=True)
class SlowResponses:
    """`share` percent of submit_sm responses come `delay` seconds late."""

    share: float = 0.0
    delay: Delay = Uniform(1.0, 10.0)


@dataclass(frozen=True, slots=True)
class Faults:
    outages: tuple[Outage, ...] = ()
    slow_responses: SlowResponses = SlowResponses()
    receipt_loss: float = 0.0              # percent of receipts never sent


@dataclass(frozen=True, slots=True)
class SmscBehaviour:
    """Everything an operator SMSC does with traffic (the `smsc:` block of an operator)."""

    receipt_delay: Delay = Fixed(1.0)
    validity: float = 86400.0              # when submit_sm has no validity_period (seconds)
    country_code: str = "33"               # reads national numbers (TON 0/2, leading 0)
    throughput: Throughput | None = None   # per operator; None = no cap
    per_bind: Throughput | None = None
    max_binds: int = 10
    window: int = 10                       # submit_sm received but not answered, per bind
    throttled_status: CommandStatus = CommandStatus.ESME_RTHROTTLED
    queue_full_status: CommandStatus = CommandStatus.ESME_RMSGQFUL
    unknown_status: CommandStatus = CommandStatus.ESME_RINVDSTADR
    unknown_subscriber: UnknownSignal = UnknownSignal.RECEIPT
    outcomes: tuple[Outcome, ...] = (Outcome(Stat.DELIVRD, "000", 100.0),)
    submit_errors: tuple[SubmitError, ...] = ()
    subscribers: tuple[RangeRule, ...] = ()
    numbers: tuple[NumberRule, ...] = ()
    replies: tuple[Reply, ...] = ()
    faults: Faults = Faults()

    def __post_init__(self) -> None:
        for name in ("outcomes", "submit_errors", "subscribers", "numbers", "replies"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.outcomes or sum(o.weight for o in self.outcomes) <= 0:
            raise ValueError("outcomes need a positive total weight")


@dataclass(frozen=True, slots=True)
class OperatorProfile:
    id: str                       # "orange"
    name: str                     # "Orange France"
    system_id: str = "aggregator" # credentials the SMSC accepts
    password: str = "secret"
    message_id_prefix: str = ""   # makes ids of different operators tell apart in logs
    behaviour: SmscBehaviour = SmscBehaviour()
