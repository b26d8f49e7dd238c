"""Typed model of a test scenario: what ``smsc-harness run SCENARIO.yaml`` plays.

Rules of this module:

1. It is data only: frozen, slotted dataclasses and Enums, no YAML (``scenarios/loader.py``
   turns a file into these objects and is the only judge of what a valid file is; every
   object here has already been checked when a caller sees it).
2. Every step keeps ``source`` = ``"file:line:col"`` of the step in the file it came from
   (an included fragment names the fragment), so a report can point at the step that
   failed.
3. Nothing here reads a clock or a global random generator: populations are drawn from
   ``random.Random`` seeded with the scenario seed and the population name, so the same
   scenario always sends to the same numbers.

The file format is documented in ``scenarios/FORMAT.md``.
"""

from __future__ import annotations

import enum
import operator
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from aggregator.config import AccountConfig, NetworkConfig
from aggregator.store import MessageState
from smsc.operators.profile import OutageMode, Stat, Throughput

__all__ = [
    "DRAW_ATTEMPTS",
    "DRAW_FACTOR",
    "Advance",
    "Bind",
    "BindMode",
    "Campaign",
    "Comparison",
    "Draw",
    "Expect",
    "Filter",
    "Filters",
    "LedgerSum",
    "Mo",
    "Multi",
    "OperatorAction",
    "OperatorChange",
    "Population",
    "PopulationDrawError",
    "Release",
    "Scenario",
    "ScenarioClock",
    "Step",
    "Subject",
    "Submit",
    "SUBJECT_FILTERS",
]


class BindMode(enum.Enum):
    """The SMPP 3.4 bind the scenario's client opens (bind_transmitter, _receiver, _transceiver)."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


class OperatorAction(enum.Enum):
    """What an ``operator:`` step does to a simulated operator SMSC (OperatorSmsc's runtime API)."""

    OUTAGE = "outage"  # smsc.start_outage(mode)
    RECOVER = "recover"  # smsc.end_outage()
    THROUGHPUT = "throughput"  # smsc.set_throughput(rate, burst)


class Subject(enum.Enum):
    """What an expectation counts, in the store of the run."""

    MESSAGES = "messages"  # MTs the aggregator accepted
    RECEIPTS = "receipts"  # receipts received from operators
    MOS = "mos"  # MOs that reached the aggregator
    DELIVERIES = "deliveries"  # deliver_sm to clients (receipts and MOs) the client acknowledged
    EVENTS = "events"  # changes of state in the messages' history (accepted, submitted, ... again on a retry)
    LEDGER = "ledger"  # ledger lines: one per accepted message, billed its SMS segments (R10)
    RULES = "rules"  # decisions of the operator rules (aggregator/rules): rule events
    REFUSALS = "refusals"  # submits the aggregator refused (not forwarded, not billed)


class LedgerSum(enum.Enum):
    """What a ``ledger`` expectation totals instead of counting lines (``sum:``)."""

    SEGMENTS = "segments"
    AMOUNT = "amount"


class Filter(enum.Enum):
    """A filter of an expectation; which ones a subject takes is in SUBJECT_FILTERS."""

    ACCOUNT = "account"  # client system_id
    STATE = "state"  # MessageState (messages)
    STAT = "stat"  # receipt stat (receipts)
    OPERATOR = "operator"  # operator id
    TEXT = "text"  # exact message text
    RULE = "rule"  # rule name (rules, refusals): stop, purge, skew, duplicate, credit, contact
    ACTION = "action"  # rule event action (rules): optout, confirm, refuse, purge, alert...
    NUMBER = "number"  # subscriber, E.164 (rules)
    CAMPAIGN = "campaign"  # campaign id (rules)
    STATUS = "status"  # command_status by name (refusals), e.g. RULE_OPTED_OUT


# The one place that says which filters each subject accepts: add a subject or a filter here
# (and in Filters, and in the loader's reader of that filter's value).
SUBJECT_FILTERS: Mapping[Subject, tuple[Filter, ...]] = MappingProxyType(
    {
        Subject.MESSAGES: (Filter.ACCOUNT, Filter.STATE, Filter.OPERATOR, Filter.TEXT),
        Subject.RECEIPTS: (Filter.ACCOUNT, Filter.STAT, Filter.OPERATOR),
        Subject.MOS: (Filter.ACCOUNT, Filter.OPERATOR, Filter.TEXT),
        Subject.DELIVERIES: (Filter.ACCOUNT,),
        Subject.EVENTS: (Filter.ACCOUNT, Filter.STATE, Filter.OPERATOR),
        Subject.LEDGER: (Filter.ACCOUNT,),
        Subject.RULES: (Filter.RULE, Filter.ACTION, Filter.ACCOUNT, Filter.NUMBER, Filter.CAMPAIGN),
        Subject.REFUSALS: (Filter.ACCOUNT, Filter.STATUS, Filter.RULE),
    }
)


class Comparison(enum.Enum):
    """How the counted value is compared with the expected one."""

    EQ = "=="
    NE = "!="
    GE = ">="
    LE = "<="
    GT = ">"
    LT = "<"

    def holds(self, actual: float, expected: float) -> bool:
        """True when ``actual <op> expected``."""
        return _COMPARATORS[self](actual, expected)


_COMPARATORS: Mapping[Comparison, Callable[[float, float], bool]] = MappingProxyType(
    {
        Comparison.EQ: operator.eq,
        Comparison.NE: operator.ne,
        Comparison.GE: operator.ge,
        Comparison.LE: operator.le,
        Comparison.GT: operator.gt,
        Comparison.LT: operator.lt,
    }
)


@dataclass(frozen=True, slots=True)
class ScenarioClock:
    """Where simulated time starts: an aware datetime in ``timezone`` (an IANA name)."""

    start: datetime
    timezone: str = "Europe/Paris"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("ScenarioClock.start must be an aware datetime")

    @property
    def start_seconds(self) -> float:
        """The start as clock seconds (POSIX time), what a Twisted clock is set to."""
        return self.start.timestamp()


# A drawn population keeps only numbers the network routes (``Population.draw`` with a
# ``routable`` test): it tries at most DRAW_FACTOR * count + DRAW_ATTEMPTS numbers, so a
# prefix where fewer than about one number in 50 routes is refused (bounded work) rather than
# drawn for ever. The shipped prefixes ("+3365", "+3376", "+3378") route every number;
# "+336" about 91 %, "+337" about 39 % (FORMAT.md, Populations).
DRAW_FACTOR = 50
DRAW_ATTEMPTS = 1000
# Spaces of at most this many numbers are walked whole, in a seeded order, once the first
# draw falls short: random draws would keep hitting numbers already tried.
_WALK_SPACE = 100_000


class PopulationDrawError(ValueError):
    """Too few numbers under a population's prefix route on the network to draw it."""


@dataclass(frozen=True, slots=True)
class Draw:
    """A drawn population: its numbers, and how many numbers were tried to find them (the
    difference did not route and were skipped)."""

    numbers: tuple[str, ...]
    tried: int

    @property
    def skipped(self) -> int:
        return self.tried - len(self.numbers)


@dataclass(frozen=True, slots=True)
class Population:
    """Named subscribers a campaign sends to: drawn numbers, or an explicit list.

    Drawn: ``count`` distinct numbers ``prefix`` + random digits, ``length`` digits in all
    (without the '+'), each one the network routes when a ``routable`` test is given (the
    runner gives its router's). Listed: ``numbers`` in the file's order (``prefix`` is empty).
    ``source`` is where the population is written ("file:line:col").
    """

    name: str
    prefix: str = ""
    count: int = 0
    length: int = 11
    numbers: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "numbers", tuple(self.numbers))

    @property
    def size(self) -> int:
        return len(self.numbers) if self.numbers else self.count

    def draw(self, seed: int, routable: Callable[[str], bool] | None = None) -> tuple[str, ...]:
        """The population's numbers: the list, or ``count`` distinct drawn numbers (``drawn``)."""
        if self.numbers:
            return self.numbers
        return self.drawn(seed, routable).numbers

    def drawn(self, seed: int, routable: Callable[[str], bool] | None = None) -> Draw:
        """``count`` distinct numbers drawn with a ``random.Random`` seeded with
        ``"{seed}:{name}"`` (same seed, same numbers), keeping those ``routable`` accepts.

        The first ``count`` candidates are the same whether or not ``routable`` is given (so a
        prefix where every number routes draws the same numbers either way); numbers that do
        not route are replaced by further candidates of the same generator, in order. Raises
        PopulationDrawError when DRAW_FACTOR * count + DRAW_ATTEMPTS candidates (or the
        whole prefix) do not give ``count`` routable numbers.
        """
        digits = self.length - (len(self.prefix) - 1)
        space = 10**digits
        rng = random.Random(f"{seed}:{self.name}")
        first = rng.sample(range(space), self.count)
        numbers = [f"{self.prefix}{n:0{digits}d}" for n in first]
        if routable is None:
            return Draw(tuple(numbers), self.count)
        kept = [number for number in numbers if routable(number)]
        tried = self.count
        budget = self.count * DRAW_FACTOR + DRAW_ATTEMPTS
        if len(kept) < self.count:
            for n in self._more(rng, space, set(first), budget):
                if len(kept) >= self.count or tried >= budget:
                    break
                tried += 1
                number = f"{self.prefix}{n:0{digits}d}"
                if routable(number):
                    kept.append(number)
        if len(kept) < self.count:
            raise PopulationDrawError(
                f"only {len(kept):,} of the {tried:,} numbers drawn under {self.prefix} route on this network,"
                f" {self.count:,} wanted")
        return Draw(tuple(kept), tried)

    @staticmethod
    def _more(rng: random.Random, space: int, seen: set[int], budget: int) -> Iterator[int]:
        """Further distinct candidates after the first draw: a small space walked whole in a
        seeded order, a large one drawn at random (at most 4 * budget draws, repeats skipped)."""
        if space <= _WALK_SPACE:
            rest = [n for n in range(space) if n not in seen]
            rng.shuffle(rest)
            yield from rest
            return
        for _ in range(4 * budget):
            n = rng.randrange(space)
            if n not in seen:
                seen.add(n)
                yield n


@dataclass(frozen=True, slots=True)
class Bind:
    """A client of ``account`` binds (with the account's own password). ``client`` names it
    when an account has several (a transmitter and a receiver, two transceivers); absent, the
    client is named after its account."""

    account: str
    mode: BindMode = BindMode.TRANSCEIVER
    source: str = ""
    client: str | None = None

    @property
    def name(self) -> str:
        return self.client or self.account


@dataclass(frozen=True, slots=True)
class Submit:
    """One submit_sm from ``account``; ``sender`` is the ``from:`` key (source_addr);
    ``client``: the bound client that sends it (absent: the account's first that can)."""

    account: str
    to: str
    text: str
    sender: str | None = None
    receipt: bool = False  # registered_delivery 1 when true, 0 otherwise
    source: str = ""
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    """``count`` submits from ``account`` to the first ``count`` numbers of ``population``,
    at ``rate`` messages per simulated second (None: all at once). ``id``: the campaign id the
    client sends with each (vendor TLV): campaign steps with the same id are one bulk send."""

    account: str
    population: str
    count: int
    text: str
    rate: float | None = None
    sender: str | None = None
    receipt: bool = False
    source: str = ""
    id: str | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Multi:
    """One submit_multi from ``account`` to every number of ``to`` (1 to 254, in that order,
    repeats kept: the aggregator refuses them, R8); ``id``: the campaign id it carries."""

    account: str
    to: tuple[str, ...]
    text: str
    sender: str | None = None
    receipt: bool = False
    source: str = ""
    id: str | None = None
    client: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", tuple(self.to))


@dataclass(frozen=True, slots=True)
class Mo:
    """A subscriber ``sender`` sends ``text`` to ``to`` (a short code) from its operator."""

    sender: str
    to: str
    text: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Advance:
    """Simulated time moves ``seconds`` forward (everything due meanwhile happens)."""

    seconds: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class OperatorChange:
    """A runtime change to one operator: an outage starts (``outage``), ends, or its
    throughput cap changes (``throughput``); ``action`` says which field is set."""

    operator: str
    action: OperatorAction
    outage: OutageMode | None = None
    throughput: Throughput | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Filters:
    """An expectation's filters; None = not filtered on that field."""

    account: str | None = None
    state: MessageState | None = None
    stat: Stat | None = None
    operator: str | None = None
    text: str | None = None
    rule: str | None = None
    action: str | None = None
    number: str | None = None
    campaign: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Expect:
    """Checks, at this point of the timeline, that ``count(subject, filters) <comparison> value``,
    or for ``ledger`` with ``sum`` the total of that column."""

    name: str
    subject: Subject
    comparison: Comparison
    value: float
    filters: Filters = Filters()
    source: str = ""
    sum: LedgerSum | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """Lift an R3 suspension of ``account``'s bulk send ``campaign`` (None: its traffic
    without campaign id) and send its held messages on, as ``smsc-harness release`` does."""

    account: str
    campaign: str | None = None
    source: str = ""


Step = Bind | Submit | Multi | Campaign | Mo | Advance | OperatorChange | Expect | Release


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario, checked.

    ``network`` is the network the run uses: the named or inline network with the
    scenario's ``accounts`` merged in (an account with the same system_id replaces the
    network's) and its seed set to ``seed``.  ``accounts`` are the scenario's own ones (their
    ``credit`` is enforced by the aggregator, like any account's); ``timeline`` has every ``include`` already expanded, in order.
    """

    name: str
    seed: int
    clock: ScenarioClock
    network: NetworkConfig
    timeline: tuple[Step, ...]
    accounts: tuple[AccountConfig, ...] = ()
    populations: tuple[Population, ...] = ()
    source: str = ""
    _by_name: Mapping[str, Population] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeline", tuple(self.timeline))
        object.__setattr__(self, "accounts", tuple(self.accounts))
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "_by_name", MappingProxyType({p.name: p for p in self.populations}))

    def population(self, name: str) -> Population:
        """The population called ``name`` (KeyError if there is none)."""
        return self._by_name[name]

    def planned_messages(self) -> int:
        """How many destinations the timeline submits to (each ``submit``, each ``multi``'s
        numbers, each campaign's count, at most its population's size): the total of a
        progress bar."""
        total = 0
        for step in self.timeline:
            if isinstance(step, Submit):
                total += 1
            elif isinstance(step, Multi):
                total += len(step.to)
            elif isinstance(step, Campaign):
                total += min(step.count, self.population(step.population).size)
        return total
