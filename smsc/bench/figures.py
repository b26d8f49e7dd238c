"""The figures of a `smsc-harness bench` run: from the load's tallies to the table on stdout,
the progress line on stderr, and the JSON file.

Figures (README "Benchmarks" says what each means to a user):

- `sent`: measured submit_sm sent (module rule 2 of `smsc.bench.load`);
- `resps_ok`, `resps_error` (and `errors`, by command_status name): their answers; `lost`:
  sent and never answered by the end of the drain, so `resps_ok + resps_error + lost == sent`;
- `submits_per_s`: ok submit_sm_resp received during the measurement window, per second;
- `receipts`, `receipts_per_s`, `lost_receipts`: with receipts counted, measured ok
  messages whose receipt came (rate: receipts received during the window, per second), and
  those whose receipt never came, so `receipts + lost_receipts == resps_ok`;
- latencies in microseconds, from an HDR histogram: `submit_sm_resp_latency_us` (stamp to
  response) and `submit_to_receipt_latency_us` (stamp to receipt); the stamp is the send
  time (closed loop) or the intended send time (open loop).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from typing import Mapping, Sequence, Union

from smsc.bench.histogram import PERCENTILE_KEYS, LatencyHistogram
from smsc.bench.load import LoadConfig, LoadResult, Progress
from smsc.pdu.status import status_name

JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]


@dataclass(frozen=True, slots=True)
class Figures:
    """Every figure of a run, merged over its load processes."""

    sent: int
    resps_ok: int
    resps_error: int
    errors: Mapping[str, int]           # command_status name -> count, most frequent first
    lost: int
    unsent: int
    receipts: int | None                # None: receipts not counted
    lost_receipts: int | None
    unmatched_receipts: int
    submits_per_s: float
    receipts_per_s: float | None
    resp_latency_us: Mapping[str, int]
    receipt_latency_us: Mapping[str, int] | None
    measured_seconds: float
    drain_seconds: float
    disconnected: int
    unexpected_resps: int
    protocol_errors: int

    @property
    def lost_any(self) -> bool:
        return bool(self.lost or self.lost_receipts)

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "sent": self.sent, "resps_ok": self.resps_ok, "resps_error": self.resps_error,
            "errors": dict(self.errors), "lost": self.lost, "unsent": self.unsent,
            "receipts": self.receipts, "lost_receipts": self.lost_receipts,
            "unmatched_receipts": self.unmatched_receipts,
            "submits_per_s": round(self.submits_per_s, 1),
            "receipts_per_s": None if self.receipts_per_s is None else round(self.receipts_per_s, 1),
            "submit_sm_resp_latency_us": dict(self.resp_latency_us),
            "submit_to_receipt_latency_us": (None if self.receipt_latency_us is None
                                             else dict(self.receipt_latency_us)),
            "measured_seconds": self.measured_seconds, "drain_seconds": round(self.drain_seconds, 3),
            "disconnected": self.disconnected, "unexpected_resps": self.unexpected_resps,
            "protocol_errors": self.protocol_errors,
        }


def merge(config: LoadConfig, results: Sequence[LoadResult],
          resp_latency: LatencyHistogram | None = None,
          receipt_latency: LatencyHistogram | None = None) -> Figures:
    """The figures of one or more load processes (their histograms already merged into
    `resp_latency`/`receipt_latency` when there are several; else the first result's)."""
    tallies = [r.tally for r in results]
    resp_latency = resp_latency or tallies[0].resp_latency
    receipt_latency = receipt_latency or tallies[0].receipt_latency
    errors: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.errors.items():
            errors[status] = errors.get(status, 0) + count
    seconds = config.duration
    receipts = config.receipts
    return Figures(
        sent=sum(t.sent for t in tallies),
        resps_ok=sum(t.ok for t in tallies),
        resps_error=sum(errors.values()),
        errors={status_name(status): count
                for status, count in sorted(errors.items(), key=lambda item: (-item[1], item[0]))},
        lost=sum(r.lost_resps for r in results),
        unsent=sum(r.unsent for r in results),
        receipts=sum(t.receipts for t in tallies) if receipts else None,
        lost_receipts=sum(r.lost_receipts for r in results) if receipts else None,
        unmatched_receipts=sum(r.unmatched_receipts for r in results),
        submits_per_s=sum(t.window_ok for t in tallies) / seconds,
        receipts_per_s=sum(t.window_receipts for t in tallies) / seconds if receipts else None,
        resp_latency_us=resp_latency.summary(),
        receipt_latency_us=receipt_latency.summary() if receipts else None,
        measured_seconds=seconds,
        drain_seconds=max(r.drain_seconds for r in results),
        disconnected=sum(r.disconnected for r in results),
        unexpected_resps=sum(t.unexpected_resps for t in tallies),
        protocol_errors=sum(t.protocol_errors for t in tallies),
    )


def machine() -> dict[str, JsonValue]:
    """What the figures were measured on: cores, platform, CPU model (Linux), Python."""
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first `model name` of /proc/cpuinfo; None where there is none (not Linux, or an
    architecture that does not name it)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name" and value.strip():
            return value.strip()
    return None


def report(parameters: Mapping[str, JsonValue], figures: Figures, server: Mapping[str, JsonValue],
           exit_status: int, when: datetime | None = None) -> dict[str, JsonValue]:
    """The JSON file's content: every figure, every parameter, the machine and the date."""
    when = when or datetime.now(timezone.utc)
    return {
        "tool": "smsc-harness bench",
        "date": when.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "parameters": dict(parameters),
        "server": dict(server),
        "machine": machine(),
        "figures": figures.as_json(),
        "exit_status": exit_status,
    }


def latency_text(us: int) -> str:
    """850 us, 12.34 ms, 1.50 s: the table's latency cells."""
    if us < 1_000:
        return f"{us} us"
    if us < 1_000_000:
        return f"{us / 1_000:.2f} ms"
    return f"{us / 1_000_000:.2f} s"


def table(title: str, figures: Figures) -> str:
    """The figures as the end-of-run table (stdout)."""
    f = figures
    per_s = f"{f.submits_per_s:,.0f}/s"
    lines = [title,
             f"  {'submit_sm sent':<22}{f.sent:>12,}",
             f"  {'submit_sm_resp ok':<22}{f.resps_ok:>12,}   {per_s} during the {f.measured_seconds:g} s window"]
    if f.errors:
        lines.append(f"  {'submit_sm_resp error':<22}{f.resps_error:>12,}   "
                     + ", ".join(f"{name} {count:,}" for name, count in f.errors.items()))
    else:
        lines.append(f"  {'submit_sm_resp error':<22}{0:>12}")
    lines.append(f"  {'lost (no resp)':<22}{f.lost:>12,}")
    if f.unsent:
        lines.append(f"  {'unsent (window full)':<22}{f.unsent:>12,}   due, never sent: the server fell behind the rate")
    if f.receipts is not None:
        lines.append(f"  {'receipts':<22}{f.receipts:>12,}   {f.receipts_per_s or 0:,.0f}/s during the window")
        lines.append(f"  {'lost (no receipt)':<22}{f.lost_receipts or 0:>12,}")
    if f.unmatched_receipts:
        lines.append(f"  {'unmatched receipts':<22}{f.unmatched_receipts:>12,}   naming no message of this run")
    if f.disconnected:
        lines.append(f"  {'binds closed by server':<22}{f.disconnected:>12,}")
    if f.unexpected_resps or f.protocol_errors:
        lines.append(f"  {'unexpected resps':<22}{f.unexpected_resps:>12,}   protocol errors {f.protocol_errors}")
    lines.append(f"  {'drain':<22}{f.drain_seconds:>11.2f}s")
    head = "".join(f"{key:>11}" for key in (*PERCENTILE_KEYS, "max"))
    lines.append(f"  {'latency':<22}{head}   samples")
    rows = [("submit_sm_resp", f.resp_latency_us)]
    if f.receipt_latency_us is not None:
        rows.append(("submit to receipt", f.receipt_latency_us))
    for name, values in rows:
        cells = "".join(f"{latency_text(values[key]):>11}" for key in (*PERCENTILE_KEYS, "max"))
        lines.append(f"  {name:<22}{cells}   {values['count']:,}")
    return "\n".join(lines)


@dataclass
class CompareRow:
    """One server of `bench --compare`: its runs (one per round), or why it was not measured."""

    name: str
    command: str | None = None
    runs: list[Figures] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median_rate(self) -> float | None:
        return median(f.submits_per_s for f in self.runs) if self.runs else None

    def median_latency(self, key: str) -> int | None:
        return int(median(f.resp_latency_us[key] for f in self.runs)) if self.runs else None


def reference(rows: Sequence[CompareRow]) -> CompareRow | None:
    """The row the ratios are to: our sink when it was measured, else the first measured."""
    measured = [row for row in rows if row.runs]
    ours = [row for row in measured if row.name == "smsc-harness sink"]
    return (ours or measured)[0] if measured else None


def ratio(row: CompareRow, to: CompareRow | None) -> float | None:
    rate, base = row.median_rate, to.median_rate if to is not None else None
    return rate / base if rate is not None and base else None


def compare_table(title: str, rows: Sequence[CompareRow]) -> str:
    """`bench --compare`'s table: each server's median rate, its spread over the rounds, its
    median p50/p99 submit_sm_resp latency, what it lost, and its rate as a multiple of the
    reference's (our sink)."""
    base = reference(rows)
    lines = [title,
             f"  {'server':<24}{'submit_sm_resp/s':>17}{'runs (min-max)':>22}{'p50':>11}{'p99':>11}"
             f"{'lost':>8}{'ratio':>8}"]
    for row in rows:
        if not row.runs:
            lines.append(f"  {row.name:<24}  not measured: {row.skipped}")
            continue
        rates = [f.submits_per_s for f in row.runs]
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else "1 run"
        lost = sum(f.lost + (f.lost_receipts or 0) for f in row.runs)
        times = ratio(row, base)
        lines.append(f"  {row.name:<24}{row.median_rate or 0:>17,.0f}{spread:>22}"
                     f"{latency_text(row.median_latency('p50') or 0):>11}"
                     f"{latency_text(row.median_latency('p99') or 0):>11}{lost:>8,}"
                     f"{'-' if times is None else f'{times:.2f}':>8}")
    if base is not None:
        lines.append(f"  ratio: each server's median submit_sm_resp/s over {base.name}'s, measured in this run")
    return "\n".join(lines)


def compare_report(parameters: Mapping[str, JsonValue], rows: Sequence[CompareRow], exit_status: int,
                   when: datetime | None = None) -> dict[str, JsonValue]:
    """`bench --compare --json`: every run's figures by server, the medians and ratios, the
    parameters, the machine and the date."""
    when = when or datetime.now(timezone.utc)
    base = reference(rows)
    servers: list[JsonValue] = []
    for row in rows:
        times = ratio(row, base)
        rate = row.median_rate
        servers.append({
            "name": row.name, "command": row.command, "skipped": row.skipped,
            "median_submits_per_s": None if rate is None else round(rate, 1),
            "ratio_to_reference": None if times is None else round(times, 3),
            "runs": [f.as_json() for f in row.runs],
        })
    return {
        "tool": "smsc-harness bench --compare",
        "date": when.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "parameters": dict(parameters),
        "reference": base.name if base else None,
        "machine": machine(),
        "servers": servers,
        "exit_status": exit_status,
    }


def progress_line(progress: Progress) -> str:
    """The once-a-second line on stderr."""
    p = progress
    line = (f"{p.elapsed:6.1f} s {p.phase:<6} submit_sm_resp {p.resps_per_s:>9,.0f}/s"
            f"  receipts {p.receipts_per_s:>9,.0f}/s  outstanding {p.outstanding:>6,}")
    if p.queued:
        line += f"  queued {p.queued:,}"
    if p.awaiting_receipts:
        line += f"  awaiting receipts {p.awaiting_receipts:,}"
    if p.errors:
        line += f"  errors {p.errors:,}"
    return line + f"  p99 {latency_text(p.resp_p99_us)}"
