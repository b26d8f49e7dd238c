"""reports.terminal: the short summary printed after a run, and a progress bar for long replays.

ASCII only (CI logs and Windows consoles). Library code reads no clock: `ProgressBar` takes a
`now` callable (the caller passes `time.monotonic` in main, a fake in tests) and a stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from reports.model import (
    ScenarioReport,
    SkewSplit,
    WallClock,
    format_rate,
    format_seconds,
    record_text,
    records_heading,
)

#: Bulk sends named on the summary's skew line; report.html has them all.
SKEW_LINE_SENDS = 3


def _outcomes(counts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{state} {n}" for state, n in counts) or "none"


def _refusals(report: ScenarioReport) -> str:
    """"20: ESME_RINVDSTADR 12, RULE_OPTED_OUT 5 (stop), ..." over every account, most first."""
    parts = [f"{status} {n}" + (f" ({rule})" if rule else "") for status, rule, n in report.refusals_by_status]
    return f"{report.refused}: " + ", ".join(parts)


def _rule_events(report: ScenarioReport) -> str:
    """"9: stop optout 3, stop refuse 5, purge purge 1" (every account together)."""
    counts: dict[tuple[str, str], int] = {}
    for g in report.rule_groups:
        counts[(g.rule, g.action)] = counts.get((g.rule, g.action), 0) + g.count
    return f"{report.rule_event_count}: " + ", ".join(f"{rule} {action} {n}" for (rule, action), n in counts.items())


def _skewed(split: SkewSplit) -> str:
    """"shop promo FR alert (free 90.0% vs 18.0%)": the send, its verdict, its largest excess."""
    name = f"{split.account} {split.send}" + (f" {split.country}" if split.country else "")
    judged = [s for s in split.shares if s.reference is not None]
    if split.verdict == "below sample":
        return f"{name} below sample ({split.total:,} destinations)"
    if not judged:
        return f"{name} {split.verdict}"
    worst = max(judged, key=lambda s: (s.observed - (s.reference or 0.0), s.operator_id))
    return (f"{name} {split.verdict} ({worst.operator_id} {worst.observed * 100:.1f}% vs "
            f"{(worst.reference or 0.0) * 100:.1f}%)")


def summary(report: ScenarioReport, wall: WallClock | None) -> str:
    """A few lines: verdict and scenario, messages and outcomes, sim/wall time and speed, failed expectations.

    Ends with a newline. Example::

        FAIL  smoke  (scenarios/smoke.yaml, seed 1)
          messages      1000: delivered 985, undeliverable 10, rejected 5
          time          sim 1h 00m 00.000s, wall 2.500s, 400.0 msg/s (1440x real time)
          refused       20: ESME_RINVDSTADR 12, RULE_OPTED_OUT 5 (stop), RULE_DUPLICATE 3 (duplicate)
          rule events   9: stop optout 3, stop refuse 5, purge purge 1
          lists         opted out 3 (first +33612345678), purged 1 (first +33698765432)
          skew          1 send checked: shop promo FR alert (free 90.0% vs 18.0%)
          expectations  3/4 passed
          FAILED all delivered  [scenarios/smoke.yaml:42:5]  expected >= 990, got 985
            15 messages not counted (what they are instead), first 10:
              +00:00:01.000 message=0000000000000007 account=shop number=+33612345678 ... state=undeliverable
              ...

    A failed expectation lists up to 10 of the rows behind it (reports.model.ExpectationRecords).
    The refused, rule events, lists and skew lines appear only when there is something to say:
    a submit the aggregator refused is not a message, so "why are 20 messages missing?" is
    answered by the refused line.
    """
    verdict = "PASS" if report.passed else "FAIL"
    lines = [
        f"{verdict}  {report.name}  ({report.source}, seed {report.seed})",
        f"  messages      {report.messages}: {_outcomes(report.outcomes)}",
    ]
    timing = f"sim {format_seconds(report.sim_duration)}"
    if wall is not None:
        timing += f", wall {format_seconds(wall.wall_seconds)}, {format_rate(wall.messages_per_second(report.messages))}"
        speedup = wall.speedup(report.sim_duration)
        if speedup is not None:
            timing += f" ({speedup:,.0f}x real time)"
    lines.append(f"  time          {timing}")
    if report.latency is not None:
        lat = report.latency
        lines.append(
            f"  latency       p50 {format_seconds(lat.p50)}, p90 {format_seconds(lat.p90)}, "
            f"p99 {format_seconds(lat.p99)}, max {format_seconds(lat.max)}"
        )
    if report.refusals:
        lines.append(f"  refused       {_refusals(report)}")
    if report.rule_groups:
        lines.append(f"  rule events   {_rule_events(report)}")
    lists = [f"{what} {numbers.total}" + (f" (first {numbers.first[0].number})" if numbers.first else "")
             for what, numbers in (("opted out", report.optouts), ("purged", report.purges)) if numbers.total]
    if lists:
        lines.append(f"  lists         {', '.join(lists)}")
    if report.skew:
        sends = len({(s.account, s.send, s.at) for s in report.skew})
        skewed_first = sorted(report.skew, key=lambda s: s.verdict in ("ok", "below sample"))  # stable
        shown = ", ".join(_skewed(s) for s in skewed_first[:SKEW_LINE_SENDS])
        more = f", {len(report.skew) - SKEW_LINE_SENDS} more in report.html" if len(report.skew) > SKEW_LINE_SENDS else ""
        lines.append(f"  skew          {sends} send{'s' if sends != 1 else ''} checked: {shown}{more}")
    lines.extend(client_card_lines(report))
    passed = len(report.expectations) - len(report.failures)
    lines.append(f"  expectations  {passed}/{len(report.expectations)} passed")
    for x in report.failures:
        lines.append(f"  FAILED {x.name}  [{x.source}]  expected {x.expected}, got {x.actual}")
        if x.records is not None and x.records.total:
            lines.append(f"    {records_heading(x.records)}:")
            lines.extend(f"      {record_text(r)}" for r in x.records.first)
    return "\n".join(lines) + "\n"


def client_card_lines(report: ScenarioReport) -> list[str]:
    """The client report card: one line per finding of a bind ("card          shop#1
    window_overflow 5: ..."), none for a bind that got none (docs/report-card.md)."""
    return [f"  card          {card.bind} {f.code} {f.count}: {f.seen}"
            for card in report.clients for f in card.findings]


class ProgressBar:
    """`[##########..........]  50.0%  500/1000  1,234.5/s`, redrawn in place on a terminal.

    Draws at most once per `min_interval` seconds of `now()`, except that the first update and a
    completed one (done >= total) always draw. On a stream that is not a TTY (CI logs) each draw is
    its own line and `min_interval` defaults to 10 s, so logs stay short. `finish()` ends the line.
    """

    def __init__(
        self,
        stream: TextIO,
        now: Callable[[], float],
        *,
        label: str = "",
        width: int = 30,
        min_interval: float | None = None,
        interactive: bool | None = None,
    ) -> None:
        self._stream = stream
        self._now = now
        self._label = label
        self._width = max(1, width)
        if interactive is None:
            isatty = getattr(stream, "isatty", None)
            interactive = bool(isatty()) if callable(isatty) else False
        self._interactive = interactive
        self._min_interval = min_interval if min_interval is not None else (0.1 if interactive else 10.0)
        self._started: float | None = None
        self._last_draw: float | None = None
        self._last_state: tuple[int, int] | None = None
        self._pending: tuple[int, int] | None = None  # last state skipped by the rate limit
        self._line_len = 0
        self._finished = False

    def render(self, done: int, total: int, elapsed: float) -> str:
        """The bar text for a state, without \\r or newline (pure; used by update)."""
        frac = min(1.0, done / total) if total > 0 else 1.0
        filled = round(frac * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        text = f"[{bar}] {frac * 100:5.1f}%  {done}/{total}"
        if elapsed > 0:
            text += f"  {done / elapsed:,.1f}/s"
        return f"{self._label}  {text}" if self._label else text

    def update(self, done: int, total: int) -> None:
        """Report progress; draws only if the rate limit allows it and the state changed."""
        if self._finished:
            return
        t = self._now()
        if self._started is None:
            self._started = t
        complete = total > 0 and done >= total
        if (done, total) == self._last_state:
            return
        if self._last_draw is not None and not complete and t - self._last_draw < self._min_interval:
            self._pending = (done, total)
            return
        self._draw(done, total, t)

    def finish(self) -> None:
        """Draw the last reported state if it was skipped, and end the line. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._pending is not None and self._pending != self._last_state:
            self._draw(self._pending[0], self._pending[1], self._now())
        if self._interactive and self._last_state is not None:
            self._stream.write("\n")
        self._stream.flush()

    def _draw(self, done: int, total: int, t: float) -> None:
        text = self.render(done, total, t - (self._started if self._started is not None else t))
        if self._interactive:
            pad = " " * max(0, self._line_len - len(text))  # erase a longer previous line
            self._stream.write("\r" + text + pad)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
        self._line_len = len(text)
        self._last_draw = t
        self._last_state = (done, total)
        self._pending = None
