"""reports.model: the rows every renderer takes. Data in, str out; nothing here does I/O.

Three rules hold in this package:

1. A `ScenarioReport` holds only what the replay decided on its virtual clock, so rendering the
   same scenario and seed twice gives byte-identical `report.json` (STYLE.md section 4, Determinism).
   Wall-clock figures (how long the replay took on this machine) travel apart, in `WallClock`,
   and only the human-facing renderers (terminal, HTML, JUnit `time`) take one.
2. Every collection is a tuple in a defined order: final states in `FINAL_STATES` order, then
   any other state alphabetically; events and throughput buckets in time order. Renderers never
   sort by anything that could vary between runs.
3. A run's rule events, opt-outs and purges may number many thousands (a month): the report
   counts them all and keeps only the first few of each kind in detail (`RULE_EXAMPLES`,
   `LIST_FIRST`, `SKEW_SENDS`), so its size does not grow with the traffic.

The helpers below (`count_outcomes`, `percentiles`, `bin_throughput`, `chart_marks`,
`format_seconds`, `records_heading`, and for the operator rules `refusal_counts`,
`with_rule_events`, `campaign_splits`, `window_split`, `format_facts`) are pure so that the
runner builds rows the same way every time and the renderers agree on formats.

What a report explains (scenarios/FORMAT.md, Reports): throughput in bins that follow the
traffic (`bin_throughput`: a base width from the run's length, finer bins where it bursts),
the marks of what changed it (`ChartMark`: outages, recoveries, throughput caps, rule
events), and for a failing expectation the first RECORDS_FIRST rows it counted or missed
(`ExpectationRecords`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from aggregator.clientcard import Card
from smsc.pdu.status import status_name

#: Final message states, in the order every report lists them; unfinished states come after.
FINAL_STATES: tuple[str, ...] = ("delivered", "undeliverable", "rejected", "expired")

#: Timeline kinds the runner emits (a report may carry others; renderers show them as they are).
EVENT_KINDS: tuple[str, ...] = ("bind", "submit", "multi", "campaign", "mo", "advance", "operator", "release",
                                "expect", "rule")

# A month of traffic makes thousands of rule events and opt-outs: a report stays bounded by
# counting everything and showing only the first few of each kind in detail.
#: Rule events shown in detail (and in the timeline) per (rule, action, account); the rest are counted.
RULE_EXAMPLES = 5
#: Entries of the opt-out and purge lists shown; the rest are counted.
LIST_FIRST = 20
#: Bulk sends whose split a report shows (campaigns by account and id, then windowed sends).
SKEW_SENDS = 20
#: Characters of a rule event's facts in a one-line summary.
FACTS_TEXT_MAX = 200
#: Rows a failing expectation lists (of those it counted or missed).
RECORDS_FIRST = 10

#: What `ChartMark.kind` may be.
MARK_KINDS: tuple[str, ...] = ("outage", "recover", "throughput", "rule")

# Throughput bins (`bin_throughput`): nice widths, each a multiple of the next finer one
# (1 s, 5 s, 10 s, 30 s, 1 min, 5 min, 15 min, 1 h, 6 h, 1 d; whole days beyond).
BIN_WIDTHS: tuple[float, ...] = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
#: The base width is the finest that covers the run in at most this many bins.
BASE_BINS = 300
#: Refinement stops before the bins would number more than this.
MAX_BINS = 600
#: A bin is split into finer ones when its rate is at least this many times the run's mean rate ...
BURST_FACTOR = 4.0
#: ... and it holds at least this many instants (submitted and delivered together).
BURST_MIN = 10
_NO_FACTS: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """One `expect` step of a scenario, judged: what the YAML asked for and what the run produced."""

    name: str  # human name, e.g. "all 1000 messages delivered"
    step: int  # timeline index of the expect step
    source: str  # "scenarios/smoke.yaml:42:5"
    expected: str  # rendered expected value, e.g. ">= 990"
    actual: str  # rendered actual value, e.g. "1000"
    passed: bool
    records: ExpectationRecords | None = None  # a failing one's rows (counted or missed); None when passed


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """Something that happened at a simulated instant: a scenario step, or a rule event (purge, suspension)."""

    at: float  # simulated seconds since the scenario start
    step: int
    kind: str  # one of EVENT_KINDS
    summary: str


@dataclass(frozen=True, slots=True)
class OperatorOutcomes:
    """Final states of the messages routed to one operator."""

    operator_id: str
    counts: tuple[tuple[str, int], ...]  # (state, count), in `count_outcomes` order

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """One time bin: messages accepted (submit_sm_resp OK) and delivered (DELIVRD) in it.

    Bins may differ in width (`bin_throughput`: finer where traffic bursts), so a chart
    compares rates (count / width), not counts."""

    t: float  # bin start, simulated seconds since start
    submitted: int
    delivered: int
    width: float  # seconds the bin covers: [t, t + width)

    @property
    def end(self) -> float:
        return self.t + self.width


@dataclass(frozen=True, slots=True)
class ChartMark:
    """Something that changed the traffic, marked on the throughput chart: an operator's
    outage (a band from ``at`` to ``until``), its recovery, a throughput cap changed, or a
    rule event (an instant).

    ``kind``: one of MARK_KINDS. ``until``: an outage's end, simulated seconds since start;
    None for an instant, or an outage still on when the run ended (the band runs to the end).
    """

    at: float  # simulated seconds since the scenario start
    kind: str
    label: str
    operator: str | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class ExpectationRecord:
    """One row a failing expectation counted or missed, as a QA engineer reads it: when
    (``at``, simulated seconds since start) and its fields in order ("message", "number",
    "state", ...; times as simulated seconds since start)."""

    at: float
    fields: tuple[tuple[str, str | int | float | None], ...]


@dataclass(frozen=True, slots=True)
class ExpectationRecords:
    """The rows behind a failing expectation: the first RECORDS_FIRST of ``total``.

    ``kind`` says what they are: "counted" (too many, or ``!=`` met: the rows it counted),
    "not counted" (too few: the rows that match every filter but the deciding one, ``state``
    for messages, with what they are instead), "refused" (too few messages and no state
    asked: the submits refused instead of accepted). ``subject``: the table they come from."""

    kind: str
    subject: str
    total: int
    first: tuple[ExpectationRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Latency:
    """Accepted -> final state, in simulated seconds, over messages that reached a final state."""

    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class RefusalCount:
    """Submits the aggregator refused (not forwarded, not billed), counted per account, status
    and rule: "why are 20 messages missing?" in one row."""

    account: str
    status: str  # the command_status's name: "ESME_RINVDSTADR", "RULE_OPTED_OUT" ("0x..." if unknown)
    rule: str | None  # the rule that refused (aggregator/rules), None for protocol and routing refusals
    count: int


@dataclass(frozen=True, slots=True)
class RuleEventRow:
    """One rule decision as the store keeps it, with the facts that caused it (JSON values:
    the two failures behind a purge, the observed vs reference split behind a skew alert)."""

    at: float  # simulated seconds since the scenario start
    rule: str
    action: str
    account: str
    number: str | None = None
    campaign: str | None = None
    message_id: str | None = None
    facts: Mapping[str, object] = field(default_factory=lambda: _NO_FACTS, hash=False)

    @property
    def summary(self) -> str:
        """"purge purge shop +33612345678: failures=[...]", cut at FACTS_TEXT_MAX characters."""
        who = " ".join(x for x in (self.account, self.number, f"campaign {self.campaign}" if self.campaign else None)
                       if x)
        text = f"{self.rule} {self.action} {who}"
        facts = format_facts(self.facts)
        return f"{text}: {facts}" if facts else text


@dataclass(frozen=True, slots=True)
class RuleEventGroup:
    """Every decision of one kind (rule, action, account): how many, when, and the first few."""

    rule: str
    action: str
    account: str
    count: int
    first_at: float  # simulated seconds since the scenario start
    last_at: float
    examples: tuple[RuleEventRow, ...]  # the first RULE_EXAMPLES, in the order they were made


@dataclass(frozen=True, slots=True)
class ListedNumber:
    """A number on an account's opt-out (R1) or purge (R2) list at the end of the run."""

    account: str
    number: str
    at: float  # since when, simulated seconds since the scenario start
    why: str  # opt-out: how ("mo", "manual"); purge: the reason


@dataclass(frozen=True, slots=True)
class NumberList:
    """An opt-out or purge list at the end of the run: counts per account, the first entries."""

    per_account: tuple[tuple[str, int], ...] = ()  # (account, numbers), by account
    first: tuple[ListedNumber, ...] = ()  # at most LIST_FIRST, by account then number

    @property
    def total(self) -> int:
        return sum(n for _, n in self.per_account)


@dataclass(frozen=True, slots=True)
class SplitShare:
    """One operator's part of a bulk send: observed destinations and share vs its reference share."""

    operator_id: str
    count: int | None  # destinations (0 for a reference operator the send missed); None: only shares known
    observed: float  # share of the send's destinations in this country, 0..1
    reference: float | None  # the reference market share, None for an operator the reference omits


@dataclass(frozen=True, slots=True)
class SkewSplit:
    """A bulk send checked by R3: its split per operator in one country against the reference.

    ``kind`` "campaign" (a campaign id: computed from the messages sent) or "window" (no id: the
    account's sliding window, as the skew event's facts give it). ``verdict``: the skew actions
    taken on it ("alert", "suspend", "reprice", comma-separated), or "ok", or "below sample".
    """

    account: str
    send: str  # the campaign id, or "window" for a windowed send
    kind: str
    country: str  # region code ("FR"); "" for operators of no reference country
    total: int
    shares: tuple[SplitShare, ...]
    verdict: str
    at: float | None = None  # windowed sends: when the event was raised (since start)


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """Everything one replay decided. Contains no wall-clock figure (see the module docstring)."""

    name: str
    source: str
    seed: int
    start: str  # ISO 8601 simulated start (Europe/Paris or UTC, as the scenario gives it)
    sim_duration: float  # simulated seconds
    messages: int
    outcomes: tuple[tuple[str, int], ...]
    per_operator: tuple[OperatorOutcomes, ...]
    latency: Latency | None
    throughput: tuple[ThroughputPoint, ...]
    events: tuple[TimelineEntry, ...]
    expectations: tuple[ExpectationResult, ...]
    refusals: tuple[RefusalCount, ...] = ()  # by account, status, rule
    rule_groups: tuple[RuleEventGroup, ...] = ()  # by rule, action, account
    optouts: NumberList = NumberList()
    purges: NumberList = NumberList()
    skew: tuple[SkewSplit, ...] = ()
    # the report card of each client bind (aggregator/clientcard.py), times from the start
    clients: tuple[Card, ...] = ()
    marks: tuple[ChartMark, ...] = ()  # the throughput chart's marks, in time order (chart_marks)

    @property
    def refused(self) -> int:
        """Submits refused in all."""
        return sum(r.count for r in self.refusals)

    @property
    def refusals_by_status(self) -> tuple[tuple[str, str | None, int], ...]:
        """(status, rule, count) over every account, most first (then by status and rule)."""
        counter: Counter[tuple[str, str | None]] = Counter()
        for r in self.refusals:
            counter[(r.status, r.rule)] += r.count
        return tuple((status, rule, n) for (status, rule), n in
                     sorted(counter.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or "")))

    @property
    def rule_event_count(self) -> int:
        return sum(g.count for g in self.rule_groups)

    @property
    def passed(self) -> bool:
        """True when every expectation passed (a scenario with no expectation passes)."""
        return all(e.passed for e in self.expectations)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(e for e in self.expectations if not e.passed)

    @property
    def rule_events(self) -> tuple[TimelineEntry, ...]:
        """Timeline entries of kind "rule": purges, suspensions and the like."""
        return tuple(e for e in self.events if e.kind == "rule")


@dataclass(frozen=True, slots=True)
class WallClock:
    """How long the replay took on this machine. Kept out of report.json: it differs on every run."""

    wall_seconds: float

    def messages_per_second(self, messages: int) -> float | None:
        """Replay speed in messages per wall second; None when the wall time is too small to divide by."""
        if self.wall_seconds <= 0.0:
            return None
        return messages / self.wall_seconds

    def speedup(self, sim_seconds: float) -> float | None:
        """Simulated seconds per wall second (e.g. 3600.0: an hour replayed in a second)."""
        if self.wall_seconds <= 0.0:
            return None
        return sim_seconds / self.wall_seconds


def count_outcomes(states: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """Count states into report order: `FINAL_STATES` first (only those seen), then the rest alphabetically."""
    counter = Counter(states)
    known = [(s, counter[s]) for s in FINAL_STATES if counter[s]]
    rest = sorted((s, n) for s, n in counter.items() if s not in FINAL_STATES)
    return tuple(known + rest)


def percentiles(values: Iterable[float]) -> Latency | None:
    """p50/p90/p99/max by the nearest-rank method (always an observed value); None for no values.

    Nearest rank needs no interpolation, so the result does not depend on float summation order.
    """
    ordered = sorted(values)
    if not ordered:
        return None

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]

    return Latency(p50=rank(50), p90=rank(90), p99=rank(99), max=ordered[-1])


def base_width(duration: float) -> float:
    """The finest of BIN_WIDTHS that covers ``duration`` seconds in at most BASE_BINS bins
    (whole days beyond the list)."""
    for width in BIN_WIDTHS:
        if duration / width <= BASE_BINS:
            return width
    return float(math.ceil(duration / BASE_BINS / 86400.0) * 86400.0)


def format_width(seconds: float) -> str:
    """A bin width for people: "1 s", "30 s", "5 min", "1 h", "6 h", "1 d", "2 d"."""
    for unit, name in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds / unit:g} {name}"
    return f"{seconds:g} s"


def bin_throughput(
    submitted_at: Iterable[float],
    delivered_at: Iterable[float],
    duration: float,
) -> tuple[ThroughputPoint, ...]:
    """Count instants (simulated seconds since start) into bins that follow the traffic.

    The run [0, duration] is cut into bins of `base_width` (at most BASE_BINS of them, every
    one listed, empty ones too). Then, width by width down BIN_WIDTHS, every bin whose rate is
    at least BURST_FACTOR times the run's mean rate and that holds at least BURST_MIN instants
    is split into bins of the next finer width: a 30 s burst in a 2 h run (base 30 s) ends in
    1 s bins, while steady traffic keeps the base width. A width's splits are made all
    together or not at all (when they would bring the bins past MAX_BINS), so bursts of the
    same strength get the same detail wherever they are. Instants past the end land in the
    last bin, negative ones in the first.
    """
    sub, dlv = sorted(submitted_at), sorted(delivered_at)
    end = max(duration, 0.0)
    base = base_width(end)
    n = max(1, math.ceil(end / base))
    stop = n * base

    def count(values: list[float], t: float, width: float) -> int:
        lo = bisect_left(values, t) if t > 0.0 else 0
        hi = bisect_left(values, t + width) if t + width < stop else len(values)
        return hi - lo

    def point(t: float, width: float) -> ThroughputPoint:
        return ThroughputPoint(t, count(sub, t, width), count(dlv, t, width), width)

    bins = [point(i * base, base) for i in range(n)]
    mean = (len(sub) + len(dlv)) / max(end, base)
    finer = [w for w in BIN_WIDTHS if w < base]
    width = base
    for child in reversed(finer):
        split = [b for b in bins if b.width == width and b.submitted + b.delivered >= BURST_MIN
                 and (b.submitted + b.delivered) / b.width >= BURST_FACTOR * mean]
        parts = round(width / child)
        if not split or len(bins) + len(split) * (parts - 1) > MAX_BINS:
            break
        chosen = {b.t for b in split}
        bins = [c for b in bins for c in ((point(b.t + k * child, child) for k in range(parts))
                                          if b.width == width and b.t in chosen else (b,))]
        width = child
    return tuple(bins)


def chart_marks(
    changes: Iterable[tuple[float, str, str, str]],
    rules: Iterable[TimelineEntry],
) -> tuple[ChartMark, ...]:
    """The throughput chart's marks, in time order: operator changes and rule events.

    ``changes``: (at, operator, kind, label) in the order they happened, kind "outage" (an
    outage starts), "recover" or "throughput". An outage's band runs to the next "recover"
    of its operator (``until``; None when none came); a second "outage" while one is on
    changes its mode: it ends the first band and starts another. ``rules``: timeline entries
    of kind "rule" (the rule events a report shows in detail)."""
    marks: list[ChartMark] = []
    open_at: dict[str, int] = {}
    for at, operator, kind, label in changes:
        if kind == "outage" or kind == "recover":
            i = open_at.pop(operator, None)
            if i is not None:
                marks[i] = replace(marks[i], until=at)
            if kind == "outage":
                open_at[operator] = len(marks)
        marks.append(ChartMark(at, kind, label, operator))
    marks.extend(ChartMark(e.at, "rule", e.summary) for e in rules)
    return tuple(sorted(marks, key=lambda m: (m.at, MARK_KINDS.index(m.kind) if m.kind in MARK_KINDS else 99,
                                              m.operator or "", m.label)))


def format_seconds(seconds: float) -> str:
    """A duration for people: "0.250s", "42.000s", "3m 05.000s", "2h 03m 05.000s", "1d 02h 03m 05.000s"."""
    sign = "-" if seconds < 0 else ""
    millis = round(abs(seconds) * 1000)
    s, ms = divmod(millis, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    if d:
        return f"{sign}{d}d {h:02d}h {m:02d}m {s:02d}.{ms:03d}s"
    if h:
        return f"{sign}{h}h {m:02d}m {s:02d}.{ms:03d}s"
    if m:
        return f"{sign}{m}m {s:02d}.{ms:03d}s"
    return f"{sign}{s}.{ms:03d}s"


def format_offset(seconds: float) -> str:
    """A simulated instant as an offset from the scenario start, fixed width: "+00:01:05.250" (days add "1d ")."""
    millis = round(max(seconds, 0.0) * 1000)
    s, ms = divmod(millis, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    day = f"{d}d " if d else ""
    return f"+{day}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def refusal_counts(rows: Iterable[tuple[str, int, str | None, int]]) -> tuple[RefusalCount, ...]:
    """The store's (account, status code, rule, count) rows as report rows, the status named."""
    return tuple(RefusalCount(account, status_name(code), rule, n) for account, code, rule, n in rows)


def facts_of(facts: Mapping[str, object]) -> Mapping[str, object]:
    """A rule event's facts (JSON values, as the store reads them back), read-only."""
    return MappingProxyType(dict(facts))


def _fact_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fact_text(value[k])}" for k in sorted(value, key=str)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fact_text(v) for v in value) + "]"
    return str(value)


def format_facts(facts: Mapping[str, object], limit: int = FACTS_TEXT_MAX) -> str:
    """"failures=[...], reason=..." on one line, keys in order, floats to 3 decimals, cut at
    ``limit`` characters with "..."."""
    text = ", ".join(f"{k}={_fact_text(facts[k])}" for k in sorted(facts))
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def split_shares(counts: Mapping[str, float], reference: Mapping[str, float] | None,
                 counted: bool = True) -> tuple[SplitShare, ...]:
    """Observed ``counts`` per operator against ``reference`` shares: the reference's operators
    first, largest share first (missed ones with 0), then the others by id (an order that does
    not depend on how the reference mapping was written or stored). ``counted`` false: the
    values are already shares (a skew event's facts may give them so), and ``count`` is None."""
    ref = reference or {}
    total = sum(counts.values())
    order = sorted(ref, key=lambda op: (-ref[op], op)) + sorted(op for op in counts if op not in ref)
    return tuple(SplitShare(op, int(counts.get(op, 0)) if counted else None,
                            counts.get(op, 0) / total if total > 0 else 0.0, ref.get(op)) for op in order)


def campaign_splits(
    rows: Iterable[tuple[str, str, str, int]],
    references: Callable[[str], Mapping[str, Mapping[str, float]]],
    verdict: Callable[[str, str, int], str],
    limit: int = SKEW_SENDS,
) -> tuple[SkewSplit, ...]:
    """Splits of campaign sends from the store's (account, campaign, operator, messages) rows.

    ``references(account)`` is the account's R3 reference (country -> operator -> share); an
    operator counts in the first country (by code) whose reference names it, else in country
    "". ``verdict(account, campaign, total)`` says what R3 made of the send. At most ``limit``
    sends, in row order (account, campaign)."""
    sends: dict[tuple[str, str], dict[str, int]] = {}
    for account, campaign, operator_id, n in rows:
        sends.setdefault((account, campaign), {})[operator_id] = n
    out: list[SkewSplit] = []
    for (account, campaign), counts in list(sends.items())[:limit]:
        reference = references(account)
        by_country: dict[str, dict[str, int]] = {}
        for operator_id, n in counts.items():
            country = next((c for c in sorted(reference) if operator_id in reference[c]), "")
            by_country.setdefault(country, {})[operator_id] = n
        judged = verdict(account, campaign, sum(counts.values()))
        for country in sorted(by_country):
            part = by_country[country]
            out.append(SkewSplit(account, campaign, "campaign", country, sum(part.values()),
                                 split_shares(part, reference.get(country)), judged))
    return tuple(out)


def _numbers(value: object) -> dict[str, int | float] | None:
    if not isinstance(value, Mapping):
        return None
    out = {str(k): v for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return out or None


def window_split(account: str, verdict: str, at: float, facts: Mapping[str, object]) -> SkewSplit | None:
    """The split behind R3's ``alert`` on a windowed send, from the event's facts (what
    aggregator/rules/skew.py's ``split_facts`` writes): ``counts`` (operator -> destinations)
    or else ``observed`` (operator -> share), ``reference`` (operator -> share), ``country``,
    ``sample`` (destinations judged). None when the facts hold no split."""
    counts = _numbers(facts.get("counts"))
    counted = counts is not None and all(isinstance(v, int) for v in counts.values())
    observed = counts if counted else _numbers(facts.get("observed"))
    if observed is None:
        return None
    sample = facts.get("sample")
    if isinstance(sample, int) and not isinstance(sample, bool):
        total = sample
    else:
        total = int(sum(observed.values())) if counted else 0
    country = facts.get("country")
    return SkewSplit(account, "window", "window", country if isinstance(country, str) else "", total,
                     split_shares(observed, _numbers(facts.get("reference")), counted), verdict, at)


def with_rule_events(steps: Sequence[TimelineEntry], rows: Iterable[RuleEventRow]) -> tuple[TimelineEntry, ...]:
    """The timeline of ``steps`` with rule events as entries of kind "rule", in time order.

    A rule event goes just before the first ``advance`` entry noted at or after its instant, with
    that step's index: in a replay only ``advance`` lets simulated time run (an advance is noted
    when it ends), so that is the step during which the rule acted. Events after the last advance
    go at the end, with the last step's index.
    """
    rules = sorted(rows, key=lambda row: (row.at, row.rule, row.action, row.account, row.number or ""))
    out: list[TimelineEntry] = []
    i = 0
    for entry in steps:
        if entry.kind == "advance":
            while i < len(rules) and rules[i].at <= entry.at:
                out.append(TimelineEntry(rules[i].at, entry.step, "rule", rules[i].summary))
                i += 1
        out.append(entry)
    last = steps[-1].step if steps else 0
    out.extend(TimelineEntry(row.at, last, "rule", row.summary) for row in rules[i:])
    return tuple(out)


def records_heading(records: ExpectationRecords) -> str:
    """What the rows below a failing expectation are: "2 messages counted", "15 messages not
    counted (what they are instead), first 10", "1 submit refused instead of accepted"."""
    shown = f", first {len(records.first)}" if len(records.first) < records.total else ""
    if records.kind == "refused":
        return f"{records.total:,} submit{'s' if records.total != 1 else ''} refused instead of accepted{shown}"
    what = "not counted (what they are instead)" if records.kind == "not counted" else records.kind
    return f"{records.total:,} {records.subject} {what}{shown}"


def format_field(key: str, value: str | int | float | None) -> str:
    """A record's field for people: times (keys ending "_at") as offsets from the start, None as "-"."""
    if value is None:
        return "-"
    if key.endswith("_at") and isinstance(value, (int, float)):
        return format_offset(value)
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def record_text(record: ExpectationRecord) -> str:
    """"+00:05:02.000 message=000000000000002a state=undeliverable error=1 ...": one line."""
    return " ".join([format_offset(record.at), *(f"{k}={format_field(k, v)}" for k, v in record.fields)])


def format_rate(rate: float | None) -> str:
    """Messages per wall second for people; "n/a" when unknown."""
    return "n/a" if rate is None else f"{rate:,.1f} msg/s"


__all__ = [
    "BASE_BINS",
    "BIN_WIDTHS",
    "BURST_FACTOR",
    "BURST_MIN",
    "EVENT_KINDS",
    "FINAL_STATES",
    "MARK_KINDS",
    "MAX_BINS",
    "RECORDS_FIRST",
    "ChartMark",
    "ExpectationRecord",
    "ExpectationRecords",
    "LIST_FIRST",
    "RULE_EXAMPLES",
    "SKEW_SENDS",
    "ExpectationResult",
    "Latency",
    "ListedNumber",
    "NumberList",
    "OperatorOutcomes",
    "RefusalCount",
    "RuleEventGroup",
    "RuleEventRow",
    "ScenarioReport",
    "SkewSplit",
    "SplitShare",
    "ThroughputPoint",
    "TimelineEntry",
    "WallClock",
    "base_width",
    "bin_throughput",
    "campaign_splits",
    "chart_marks",
    "count_outcomes",
    "facts_of",
    "format_facts",
    "format_field",
    "format_width",
    "record_text",
    "records_heading",
    "refusal_counts",
    "split_shares",
    "window_split",
    "with_rule_events",
    "format_offset",
    "format_rate",
    "format_seconds",
    "percentiles",
]
