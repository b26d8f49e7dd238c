"""reports.html: report.html, one self-contained page a person reads after a run.

Its rules: (1) nothing external: inline CSS, inline SVG (no xmlns URL is needed in HTML5), no
script, no link, no URL of ours in the page, so it opens from a CI artifact or a mail attachment
and prints; (2) every piece of text from the scenario goes through `html.escape`, in content and
attributes alike; (3) charts are drawn from the report's rows only, so the same report gives the
same SVG (only the wall-clock lines of the summary differ between runs).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from reports.model import (
    FINAL_STATES,
    ChartMark,
    ExpectationRecords,
    NumberList,
    ScenarioReport,
    SkewSplit,
    ThroughputPoint,
    TimelineEntry,
    WallClock,
    format_field,
    format_offset,
    format_width,
    records_heading,
    format_rate,
    format_facts,
    format_seconds,
)

_STATE_COLOURS = {"delivered": "#2e7d32", "undeliverable": "#ef6c00", "rejected": "#c62828", "expired": "#757575"}
_OTHER_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#827717", "#4e342e")
_SUBMITTED, _DELIVERED, _RULE = "#1565c0", "#2e7d32", "#c62828"
_OBSERVED, _REFERENCE = "#ef6c00", "#9e9e9e"
_NO_RULE = '<span class="muted">(protocol, routing)</span>'  # a refusal no rule made
_OPEN_TIMELINE_MAX = 200  # longer timelines start folded (<details>, no script needed)
_MARK_COLOURS = {"outage": "#c62828", "recover": "#00838f", "throughput": "#6a1b9a", "rule": _RULE}
_MARK_LABELS = 12  # operator marks labelled on a chart (the rest: tooltips and the timeline)
_ZOOMS = 2  # bursts drawn again on their own scale below the run's chart

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0 auto;max-width:1000px;padding:16px}
h1{font-size:22px;margin:0 0 8px}h3{font-size:15px;margin:16px 0 6px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{padding:10px 14px;border-radius:6px;font-size:18px;font-weight:600;margin:8px 0 16px}
.verdict.pass{background:#e8f5e9;color:#1b5e20;border:1px solid #a5d6a7}
.verdict.fail{background:#ffebee;color:#b71c1c;border:1px solid #ef9a9a}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f5f5;font-weight:600}
table.kv th{width:220px;background:none}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#ffebee}tr.fail td.result{color:#b71c1c;font-weight:600}
td.result.ok{color:#1b5e20}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
svg{display:block;max-width:100%;height:auto;margin:4px 0 12px}
svg text{font:11px system-ui,sans-serif;fill:#333}
.muted{color:#666}
ul.rules{padding-left:20px}
@media print{body{max-width:none}.chart,table{break-inside:avoid}details{display:block}}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _nice_ceiling(v: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= v (axis top); 1 for nothing to show."""
    if v <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if v <= m * power:
            return float(m * power)
    return float(10 * power)


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"


def _state_colours(states: Sequence[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    other = 0
    for s in states:
        if s in _STATE_COLOURS:
            colours[s] = _STATE_COLOURS[s]
        else:
            colours[s] = _OTHER_COLOURS[other % len(_OTHER_COLOURS)]
            other += 1
    return colours


def _states_in_order(report: ScenarioReport) -> list[str]:
    seen = {s for s, _ in report.outcomes} | {s for op in report.per_operator for s, _ in op.counts}
    return [s for s in FINAL_STATES if s in seen] + sorted(seen - set(FINAL_STATES))


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>'
    )


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    out = []
    for label, colour in items:
        out.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{_f(x + 14)}" y="{_f(y)}">{_e(label)}</text>')
        x += 24 + 7 * len(label)
    return "".join(out)


def _mark_colour(kind: str) -> str:
    return _MARK_COLOURS.get(kind, _RULE)


def throughput_svg(points: Sequence[ThroughputPoint], duration: float, marks: Sequence[ChartMark],
                   window: tuple[float, float] | None = None) -> str:
    """Submitted vs delivered per second in each bin (two step lines: bins may differ in width),
    with the marks: outages as labelled bands, recoveries and throughput changes as labelled
    lines, rule events as dashed lines. ``window`` (start, end in simulated seconds) draws only
    that stretch: a zoom on a burst."""
    if not points:
        return '<p class="muted">No throughput data.</p>'
    w, h, left, right, top, bottom = 760, 270, 56, 16, 24, 48
    pw, ph = w - left - right, h - top - bottom
    t_end = max(duration, points[-1].end, 1e-9)
    t0, t1 = window if window is not None else (0.0, t_end)
    shown = [p for p in points if p.end > t0 and p.t < t1]
    y_top = _nice_ceiling(max((max(p.submitted, p.delivered) / p.width for p in shown), default=0.0))

    def x(t: float) -> float:
        return left + pw * (min(max(t, t0), t1) - t0) / (t1 - t0)

    def y(v: float) -> float:
        return top + ph * (1 - v / y_top)

    widths = sorted({p.width for p in shown}, reverse=True)
    bins = format_width(widths[0]) + (f", {format_width(widths[-1])} in bursts" if len(widths) > 1 else "")
    title = "Throughput over simulated time: submitted vs delivered per second"
    out = [_svg_open(w, h, f"{title} (bins of {bins})")]
    for frac in (0.0, 0.5, 1.0):
        gy = y(y_top * frac)
        out.append(f'<line x1="{left}" y1="{_f(gy)}" x2="{left + pw}" y2="{_f(gy)}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{left - 6}" y="{_f(gy + 4)}" text-anchor="end">{_e(_num(y_top * frac))}</text>')
    out.append(f'<text x="{left - 6}" y="{top - 10}" text-anchor="end">/s</text>')
    for frac in (0.0, 0.5, 1.0):
        gx = left + pw * frac
        out.append(f'<line x1="{_f(gx)}" y1="{top + ph}" x2="{_f(gx)}" y2="{top + ph + 4}" stroke="#999"/>')
        anchor = "start" if frac == 0 else ("end" if frac == 1 else "middle")
        out.append(f'<text x="{_f(gx)}" y="{top + ph + 16}" text-anchor="{anchor}">'
                   f"{_e(format_offset(t0 + (t1 - t0) * frac))}</text>")
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#999"/>')
    seen = [m for m in marks if (m.until if m.until is not None else (t_end if m.kind == "outage" else m.at)) >= t0
            and m.at <= t1]
    labelled = 0
    for m in seen:
        colour, tip = _mark_colour(m.kind), f"<title>{_e(format_offset(m.at))} {_e(m.label)}</title>"
        if m.kind == "outage":
            x0, x1 = x(m.at), x(m.until if m.until is not None else t_end)
            out.append(f'<rect class="mark outage" x="{_f(x0)}" y="{top}" width="{_f(max(x1 - x0, 1.0))}" '
                       f'height="{ph}" fill="{colour}" fill-opacity="0.15">{tip}</rect>')
        else:
            dash = ' stroke-dasharray="4 3"' if m.kind == "rule" else ""
            out.append(f'<line class="mark {_e(m.kind)}" x1="{_f(x(m.at))}" y1="{top}" x2="{_f(x(m.at))}" '
                       f'y2="{top + ph}" stroke="{colour}"{dash}>{tip}</line>')
        if m.kind != "rule" and labelled < _MARK_LABELS:   # rule events: the legend and tooltips say it
            ly = top + 10 + 11 * (labelled % 3)
            anchor = "end" if x(m.at) > left + pw * 0.8 else "start"
            dx = -3 if anchor == "end" else 3
            out.append(f'<text class="mark-label" x="{_f(x(m.at) + dx)}" y="{ly}" text-anchor="{anchor}" '
                       f'fill="{colour}">{_e(m.label)}</text>')
            labelled += 1
    for attr, colour in (("submitted", _SUBMITTED), ("delivered", _DELIVERED)):
        levels = [(p, _f(y(getattr(p, attr) / p.width))) for p in shown]
        pts = " ".join(f"{_f(x(p.t))},{level} {_f(x(p.end))},{level}" for p, level in levels)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(shown) <= 60:  # dots keep a short series (even a single bin) readable
            out.extend(
                f'<circle cx="{_f(x(p.t + p.width / 2))}" cy="{_f(y(getattr(p, attr) / p.width))}" r="2.5" '
                f'fill="{colour}"><title>{_e(format_offset(p.t))} + {_e(format_seconds(p.width))}: '
                f"{attr} {getattr(p, attr):,}</title></circle>"
                for p in shown
            )
    legend = [("submitted /s", _SUBMITTED), ("delivered /s", _DELIVERED)]
    for kind, name in (("outage", "outage"), ("recover", "recovery"), ("throughput", "throughput cap"),
                       ("rule", "rule event")):
        if any(m.kind == kind for m in seen):
            legend.append((name, _mark_colour(kind)))
    out.append(_legend(legend, left, h - 8))
    out.append(f'<text x="{w - right}" y="{h - 8}" text-anchor="end">bins of {_e(bins)}</text>')
    out.append("</svg>")
    return "".join(out)


def _bursts(points: Sequence[ThroughputPoint]) -> list[tuple[float, float]]:
    """The stretches of finer bins than the base (bursts), busiest first, at most _ZOOMS,
    each widened by a base bin on both sides; then in time order."""
    if not points:
        return []
    base = max(p.width for p in points)
    spans: list[tuple[int, float, float]] = []
    run: list[ThroughputPoint] = []
    for p in [*points, None]:
        if p is not None and p.width < base:
            run.append(p)
            continue
        if run:
            spans.append((sum(q.submitted + q.delivered for q in run), run[0].t, run[-1].end))
            run = []
    busiest = sorted(spans, key=lambda s: (-s[0], s[1]))[:_ZOOMS]
    return sorted((max(0.0, a - base), b + base) for _, a, b in busiest)


def _throughput(report: ScenarioReport) -> str:
    """The run's chart, then a zoom on each of its busiest bursts (their fine bins are too
    narrow to see on the whole run's scale)."""
    parts = [throughput_svg(report.throughput, report.sim_duration, report.marks)]
    for a, b in _bursts(report.throughput):
        parts.append(f"<h3>Burst at {_e(format_offset(a))} to {_e(format_offset(b))}</h3>")
        parts.append(throughput_svg(report.throughput, report.sim_duration, report.marks, window=(a, b)))
    return "".join(parts)


def operators_svg(report: ScenarioReport) -> str:
    """One horizontal stacked bar per operator, segments by final state, scaled to the busiest operator."""
    ops = report.per_operator
    if not ops:
        return '<p class="muted">No messages routed to an operator.</p>'
    states = _states_in_order(report)
    colours = _state_colours(states)
    row, label_w, w, top = 26, 120, 760, 8
    bar_w = w - label_w - 70
    h = top + row * len(ops) + 30
    biggest = max(op.total for op in ops) or 1
    out = [_svg_open(w, h, "Final states per operator")]
    for i, op in enumerate(ops):
        y0 = top + i * row
        out.append(f'<text x="{label_w - 8}" y="{y0 + 15}" text-anchor="end">{_e(op.operator_id)}</text>')
        x0 = float(label_w)
        for state, n in op.counts:
            seg = bar_w * n / biggest
            out.append(
                f'<rect x="{_f(x0)}" y="{y0 + 3}" width="{_f(seg)}" height="{row - 8}" '
                f'fill="{colours.get(state, "#999")}"><title>{_e(op.operator_id)}: {_e(state)} {n}</title></rect>'
            )
            x0 += seg
        out.append(f'<text x="{_f(x0 + 6)}" y="{y0 + 15}">{op.total:,}</text>')
    out.append(_legend([(s, colours[s]) for s in states], label_w, h - 8))
    out.append("</svg>")
    return "".join(out)


def latency_svg(report: ScenarioReport) -> str:
    """p50 / p90 / p99 / max of accepted -> final, as horizontal bars on one scale."""
    lat = report.latency
    if lat is None:
        return '<p class="muted">No message reached a final state.</p>'
    bars = (("p50", lat.p50), ("p90", lat.p90), ("p99", lat.p99), ("max", lat.max))
    row, label_w, w, top = 26, 60, 760, 8
    bar_w = w - label_w - 140
    h = top + row * len(bars) + 6
    scale = max(lat.max, 1e-9)
    out = [_svg_open(w, h, "Latency from accepted to final state, simulated seconds")]
    for i, (name, v) in enumerate(bars):
        y0 = top + i * row
        bw = bar_w * max(v, 0.0) / scale
        out.append(f'<text x="{label_w - 8}" y="{y0 + 15}" text-anchor="end">{name}</text>')
        out.append(f'<rect x="{label_w}" y="{y0 + 3}" width="{_f(bw)}" height="{row - 8}" fill="#5c6bc0"/>')
        out.append(f'<text x="{_f(label_w + bw + 6)}" y="{y0 + 15}">{_e(format_seconds(v))}</text>')
    out.append("</svg>")
    return "".join(out)


def _outcomes_text(counts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{state} {n:,}" for state, n in counts) or "none"


def _summary_table(report: ScenarioReport, wall: WallClock | None) -> str:
    rows: list[tuple[str, str]] = [
        ("Scenario file", f'<code>{_e(report.source)}</code>'),
        ("Seed", _e(report.seed)),
        ("Simulated start", _e(report.start)),
        ("Messages", _e(f"{report.messages:,}")),
        ("Outcomes", _e(_outcomes_text(report.outcomes))),
        ("Refused submits", _e(f"{report.refused:,}: " + ", ".join(
            f"{status} {n:,}" + (f" ({rule})" if rule else "") for status, rule, n in report.refusals_by_status))
         if report.refusals else "0"),
        ("Simulated duration", _e(format_seconds(report.sim_duration))),
    ]
    if wall is None:
        rows.append(("Wall time", '<span class="muted">not measured</span>'))
    else:
        rows.append(("Wall time", _e(format_seconds(wall.wall_seconds))))
        rows.append(("Replay speed", _e(format_rate(wall.messages_per_second(report.messages)))))
        speedup = wall.speedup(report.sim_duration)
        if speedup is not None:
            rows.append(("Simulated / wall time", _e(f"{speedup:,.0f}x")))
    if report.latency is not None:
        lat = report.latency
        rows.append(
            (
                "Latency (accepted to final)",
                _e(
                    f"p50 {format_seconds(lat.p50)}, p90 {format_seconds(lat.p90)}, "
                    f"p99 {format_seconds(lat.p99)}, max {format_seconds(lat.max)}"
                ),
            )
        )
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _expectations_table(report: ScenarioReport, anchors: Mapping[str, int]) -> str:
    if not report.expectations:
        return '<p class="muted">This scenario has no expectations.</p>'
    head = (
        '<tr><th class="num">Step</th><th>Expectation</th><th>Expected</th><th>Actual</th>'
        "<th>Result</th><th>Source</th></tr>"
    )
    rows = []
    for x in report.expectations:
        cls, result = ("", "pass") if x.passed else (' class="fail"', "FAIL")
        ok = " ok" if x.passed else ""
        rows.append(
            f'<tr{cls}><td class="num">{x.step}</td><td>{_e(x.name)}</td>'
            f'<td class="mono">{_e(x.expected)}</td><td class="mono">{_e(x.actual)}</td>'
            f'<td class="result{ok}">{result}</td><td class="mono">{_source_link(x.source, anchors)}</td></tr>'
        )
        if x.records is not None and x.records.total:
            rows.append(f'<tr class="records"><td></td><td colspan="5">{_records_table(x.records)}</td></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


def _records_table(records: ExpectationRecords) -> str:
    """The rows behind a failing expectation: what they are, then one row each."""
    keys = list(dict.fromkeys(k for r in records.first for k, _ in r.fields))
    head = "<tr><th>Sim time</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"
    body = "".join(
        f'<tr><td class="mono">{_e(format_offset(r.at))}</td>'
        + "".join(f'<td class="mono">{_e(format_field(k, dict(r.fields).get(k)))}</td>' for k in keys) + "</tr>"
        for r in records.first
    )
    return f'<p class="muted">{_e(records_heading(records))}:</p><table class="records">{head}{body}</table>'


def _split_source(source: str) -> tuple[str, int] | None:
    """"scenarios/smoke.yaml:42:5" -> ("scenarios/smoke.yaml", 42); None for anything else."""
    path, _, rest = source.rpartition(":")
    path, _, line = path.rpartition(":") if rest.isdigit() else ("", "", "")
    return (path, int(line)) if path and line.isdigit() else None


def _source_link(source: str, anchors: Mapping[str, int]) -> str:
    """The step's file:line:column, linked to that line in the page's copy of the file."""
    where = _split_source(source)
    if where is None or where[0] not in anchors:
        return _e(source)
    return f'<a href="#src-{anchors[where[0]]}-{where[1]}">{_e(source)}</a>'


def _sources_section(sources: Mapping[str, str], anchors: Mapping[str, int]) -> str:
    """Each scenario file the expectations come from, numbered lines with anchors, folded."""
    parts = []
    for name, index in anchors.items():
        lines = sources[name].splitlines()
        body = "\n".join(f'<span id="src-{index}-{n}"><span class="muted">{n:>4}</span>  {_e(text)}</span>'
                         for n, text in enumerate(lines, 1))
        parts.append(f"<details><summary><code>{_e(name)}</code> ({len(lines):,} lines)</summary>"
                     f'<pre class="mono">{body}</pre></details>')
    return "".join(parts)


def _timeline_table(events: Sequence[TimelineEntry]) -> str:
    if not events:
        return '<p class="muted">Empty timeline.</p>'
    rows = "".join(
        f'<tr><td class="mono">{_e(format_offset(e.at))}</td><td class="num">{e.step}</td>'
        f"<td>{_e(e.kind)}</td><td>{_e(e.summary)}</td></tr>"
        for e in events
    )
    table = f'<table><tr><th>Sim time</th><th class="num">Step</th><th>Kind</th><th>What</th></tr>{rows}</table>'
    opened = " open" if len(events) <= _OPEN_TIMELINE_MAX else ""
    return f"<details{opened}><summary>{len(events):,} entries</summary>{table}</details>"


def _client_cards(report: ScenarioReport) -> str:
    """The client report card: per client bind, each finding with what was seen, how often,
    when first and what a well-behaved client does instead (docs/report-card.md)."""
    if not report.clients:
        return '<p class="muted">No client bound.</p>'
    parts = []
    for card in report.clients:
        until = "" if card.unbound_at is None else f", unbound at {_e(format_offset(card.unbound_at))}"
        head = (f'<h3 id="card-{_e(card.bind.replace("#", "-"))}">{_e(card.bind)}</h3><p class="muted">account {_e(card.account)}, '
                f"bound at {_e(format_offset(card.bound_at))}{until}</p>")
        if not card.findings:
            parts.append(f'{head}<p>No finding: nothing this bind did would be punished by an operator.</p>')
            continue
        rows = "".join(
            f'<tr><td class="mono">{_e(f.code)}</td><td>{_e(f.title)}</td><td>{_e(f.seen)}</td>'
            f'<td class="num">{f.count:,}</td><td class="mono">{_e(format_offset(f.first_at))}</td>'
            f"<td>{_e(f.advice)}</td></tr>"
            for f in card.findings)
        parts.append(f'{head}<table><tr><th>Finding</th><th>Title</th><th>Seen</th><th class="num">Count</th>'
                     f"<th>First</th><th>A well-behaved client</th></tr>{rows}</table>")
    return "".join(parts)


def _refusals_table(report: ScenarioReport) -> str:
    if not report.refusals:
        return '<p class="muted">No submit was refused.</p>'
    head = '<tr><th>Account</th><th>Status</th><th>Rule</th><th class="num">Submits</th></tr>'
    rows = "".join(
        f'<tr><td>{_e(r.account)}</td><td class="mono">{_e(r.status)}</td>'
        f"<td>{_e(r.rule) if r.rule else _NO_RULE}</td>"
        f'<td class="num">{r.count:,}</td></tr>'
        for r in report.refusals
    )
    note = (f'<p>{report.refused:,} submits refused: not forwarded, not billed, and not among the '
            f"{report.messages:,} messages above.</p>")
    return f"{note}<table>{head}{rows}</table>"


def _rule_groups(report: ScenarioReport) -> str:
    """One row per (rule, action, account) with its count and span, then its first events with their facts."""
    if not report.rule_groups:
        return '<p class="muted">No rule events in this run.</p>'
    head = ('<tr><th>Rule</th><th>Action</th><th>Account</th><th class="num">Events</th>'
            "<th>First</th><th>Last</th></tr>")
    rows = "".join(
        f"<tr><td>{_e(g.rule)}</td><td>{_e(g.action)}</td><td>{_e(g.account)}</td>"
        f'<td class="num">{g.count:,}</td><td class="mono">{_e(format_offset(g.first_at))}</td>'
        f'<td class="mono">{_e(format_offset(g.last_at))}</td></tr>'
        for g in report.rule_groups
    )
    details = []
    for g in report.rule_groups:
        items = "".join(
            f'<tr><td class="mono">{_e(format_offset(x.at))}</td><td class="mono">{_e(x.number or "")}</td>'
            f"<td>{_e(x.campaign or '')}</td><td class=\"mono\">{_e(x.message_id or '')}</td>"
            f'<td class="mono">{_e(format_facts(x.facts, limit=1000))}</td></tr>'
            for x in g.examples
        )
        more = g.count - len(g.examples)
        tail = f'<p class="muted">and {more:,} more</p>' if more > 0 else ""
        details.append(
            f"<details><summary>{_e(g.rule)} {_e(g.action)} {_e(g.account)}: {g.count:,} "
            f"(first {len(g.examples)})</summary><table><tr><th>Sim time</th><th>Number</th><th>Campaign</th>"
            f"<th>Message</th><th>Facts (the cause)</th></tr>{items}</table>{tail}</details>"
        )
    return f"<table>{head}{rows}</table>{''.join(details)}"


def _number_list(numbers: NumberList, what: str, why: str) -> str:
    if not numbers.total:
        return f'<p class="muted">No number {_e(what)}.</p>'
    counts = ", ".join(f"{_e(account)} {n:,}" for account, n in numbers.per_account)
    rows = "".join(
        f'<tr><td>{_e(x.account)}</td><td class="mono">{_e(x.number)}</td>'
        f'<td class="mono">{_e(format_offset(x.at))}</td><td>{_e(x.why)}</td></tr>'
        for x in numbers.first
    )
    more = numbers.total - len(numbers.first)
    tail = f'<p class="muted">and {more:,} more</p>' if more > 0 else ""
    return (f"<p>{numbers.total:,} {_e(what)} ({counts}).</p><table><tr><th>Account</th><th>Number</th>"
            f"<th>Since</th><th>{_e(why)}</th></tr>{rows}</table>{tail}")


def skew_svg(split: SkewSplit) -> str:
    """Observed vs reference share per operator of one bulk send: two bars per operator."""
    row, label_w, w, top = 34, 110, 760, 8
    bar_w = w - label_w - 150
    h = top + row * len(split.shares) + 28
    scale = max([1e-9] + [max(x.observed, x.reference or 0.0) for x in split.shares])
    title = f"Split of {split.account} {split.send} {split.country}: observed vs reference share per operator"
    out = [_svg_open(w, h, title)]
    for i, x in enumerate(split.shares):
        y0 = top + i * row
        out.append(f'<text x="{label_w - 8}" y="{y0 + 16}" text-anchor="end">{_e(x.operator_id)}</text>')
        ow = bar_w * x.observed / scale
        count = "" if x.count is None else f" ({x.count:,})"
        out.append(f'<rect x="{label_w}" y="{y0 + 2}" width="{_f(ow)}" height="13" fill="{_OBSERVED}">'
                   f"<title>{_e(x.operator_id)} observed {x.observed * 100:.1f}%{count}</title></rect>")
        out.append(f'<text x="{_f(label_w + ow + 6)}" y="{y0 + 13}">{x.observed * 100:.1f}%{_e(count)}</text>')
        if x.reference is not None:
            rw = bar_w * x.reference / scale
            out.append(f'<rect x="{label_w}" y="{y0 + 16}" width="{_f(rw)}" height="9" fill="{_REFERENCE}">'
                       f"<title>{_e(x.operator_id)} reference {x.reference * 100:.1f}%</title></rect>")
            out.append(f'<text x="{_f(label_w + rw + 6)}" y="{y0 + 25}">ref {x.reference * 100:.1f}%</text>')
    out.append(_legend([("observed", _OBSERVED), ("reference", _REFERENCE)], label_w, h - 8))
    out.append("</svg>")
    return "".join(out)


def _skew(report: ScenarioReport) -> str:
    if not report.skew:
        return '<p class="muted">No bulk send checked by R3 in this run.</p>'
    parts = []
    for split in report.skew:
        when = "" if split.at is None else f", at {_e(format_offset(split.at))}"
        name = "sliding window" if split.kind == "window" else f"campaign <code>{_e(split.send)}</code>"
        country = _e(split.country) if split.country else "operators of no reference country"
        parts.append(f"<h3>{_e(split.account)}: {name}, {country}</h3>"
                     f"<p>{split.total:,} destinations{when}; R3: <b>{_e(split.verdict)}</b></p>{skew_svg(split)}")
    return "".join(parts)


def render_html(report: ScenarioReport, wall: WallClock | None, sources: Mapping[str, str] | None = None) -> str:
    """report.html for one scenario. `wall` adds wall time and replay speed to the summary; None omits them.
    `sources`: the text of the scenario files the steps come from, by the name their `source`
    gives (`scenarios/smoke.yaml`); the page then holds them, and each expectation links to
    its line."""
    sources = sources or {}
    anchors = {name: i for i, name in enumerate(sorted(
        {w[0] for w in (_split_source(x.source) for x in report.expectations) if w is not None} & set(sources)))}
    failed = len(report.failures)
    total = len(report.expectations)
    if report.passed:
        verdict = f'<div class="verdict pass">PASS: {total} of {total} expectations met</div>'
    else:
        verdict = f'<div class="verdict fail">FAIL: {failed} of {total} expectations failed</div>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{'PASS' if report.passed else 'FAIL'} {_e(report.name)} - smsc-harness report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(report.name)}</h1>",
        verdict,
        "<h2>Summary</h2>",
        _summary_table(report, wall),
        "<h2>Expectations</h2>",
        _expectations_table(report, anchors),
        "<h2>Throughput</h2>",
        _throughput(report),
        "<h2>Outcomes per operator</h2>",
        operators_svg(report),
        "<h2>Latency</h2>",
        latency_svg(report),
        "<h2>Refusals</h2>",
        _refusals_table(report),
        "<h2>Rule events</h2>",
        _rule_groups(report),
        "<h2>Opt-out and purge lists</h2>",
        "<h3>Opted out (R1)</h3>",
        _number_list(report.optouts, "opted out", "How"),
        "<h3>Purged (R2)</h3>",
        _number_list(report.purges, "purged", "Reason"),
        "<h2>Traffic split of bulk sends (R3)</h2>",
        _skew(report),
        "<h2>Client report card</h2>",
        _client_cards(report),
        "<h2>Timeline</h2>",
        _timeline_table(report.events),
        *(["<h2>Scenario source</h2>", _sources_section(sources, anchors)] if anchors else []),
        '<p class="muted">smsc-harness report, format smsc-harness-report/1</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
