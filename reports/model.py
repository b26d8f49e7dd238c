"""reports.model: the rows every renderer takes. Data in, str out; nothing here does I/O.

Two rules hold in this package:

1. A `ScenarioReport` holds only what the replay decided on its virtual clock, so rendering the
   same scenario and seed twice gives byte-identical `report.json` (STYLE.md section 4, Determinism).
   Wall-clock figures (how long the replay took on this machine) travel apart, in `WallClock`,
   and only the human-facing renderers (terminal, HTML, JUnit `time`) take one.
2. Every collection is a tuple in a defined order: final states in `FINAL_STATES` order, then
   any other state alphabetically; events and throughput buckets in time order. Renderers never
   sort by anything that could vary between runs.

The helpers below (`count_outcomes`, `percentiles`, `bucket_throughput`, `format_seconds`) are
pure so that the runner builds rows the same way every time and the renderers agree on formats.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

#: Final message states, in the order every report lists them; unfinished states come after.
FINAL_STATES: tuple[str, ...] = ("delivered", "undeliverable", "rejected", "expired")

#: Timeline kinds the runner emits (a report may carry others; renderers show them as they are).
EVENT_KINDS: tuple[str, ...] = ("bind", "submit", "multi", "campaign", "mo", "advance", "operator", "release",
                                "expect", "rule")


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """One `expect` step of a scenario, judged: what the YAML asked for and what the run produced."""

    name: str  # human name, e.g. "all 1000 messages delivered"
    step: int  # timeline index of the expect step
    source: str  # "scenarios/smoke.yaml:42:5"
    expected: str  # rendered expected value, e.g. ">= 990"
    actual: str  # rendered actual value, e.g. "1000"
    passed: bool


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
    """One time bucket: messages accepted (submit_sm_resp OK) and delivered (DELIVRD) in it."""

    t: float  # bucket start, simulated seconds since start
    submitted: int
    delivered: int


@dataclass(frozen=True, slots=True)
class Latency:
    """Accepted -> final state, in simulated seconds, over messages that reached a final state."""

    p50: float
    p90: float
    p99: float
    max: float


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


def bucket_throughput(
    submitted_at: Iterable[float],
    delivered_at: Iterable[float],
    bucket: float,
    duration: float,
) -> tuple[ThroughputPoint, ...]:
    """Count instants (simulated seconds since start) into buckets of `bucket` seconds covering [0, duration].

    Every bucket appears, empty ones included, so charts have no gaps; instants past the end land
    in the last bucket and negative ones in the first. Raises ValueError if `bucket` <= 0 (a bug).
    """
    if not bucket > 0.0:
        raise ValueError(f"bucket must be > 0 seconds, got {bucket!r}")
    n = max(1, math.ceil(max(duration, 0.0) / bucket))

    def index(t: float) -> int:
        return min(n - 1, max(0, int(t // bucket)))

    sub, dlv = [0] * n, [0] * n
    for t in submitted_at:
        sub[index(t)] += 1
    for t in delivered_at:
        dlv[index(t)] += 1
    return tuple(ThroughputPoint(t=i * bucket, submitted=sub[i], delivered=dlv[i]) for i in range(n))


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


def format_rate(rate: float | None) -> str:
    """Messages per wall second for people; "n/a" when unknown."""
    return "n/a" if rate is None else f"{rate:,.1f} msg/s"


__all__ = [
    "EVENT_KINDS",
    "FINAL_STATES",
    "ExpectationResult",
    "Latency",
    "OperatorOutcomes",
    "ScenarioReport",
    "ThroughputPoint",
    "TimelineEntry",
    "WallClock",
    "bucket_throughput",
    "count_outcomes",
    "format_offset",
    "format_rate",
    "format_seconds",
    "percentiles",
]
