"""reports: data in, str out. JSON is byte-stable, JUnit parses, HTML is self-contained and escaped."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest

from reports.html import render_html
from reports.json import FORMAT, render_json
from reports.junit import render_junit
from reports.model import (
    MAX_BINS,
    ChartMark,
    ExpectationRecord,
    ExpectationRecords,
    ExpectationResult,
    Latency,
    OperatorOutcomes,
    ScenarioReport,
    ThroughputPoint,
    TimelineEntry,
    WallClock,
    base_width,
    bin_throughput,
    chart_marks,
    count_outcomes,
    format_offset,
    format_seconds,
    format_width,
    percentiles,
)
from reports.terminal import ProgressBar, summary

BAD_NAME = "<b>bold</b> & \"quoted\""


MISSED = ExpectationRecords("not counted", "messages", 15, tuple(
    ExpectationRecord(10.0 + i, (("message", f"{i:016x}"), ("number", "+3361200000" + str(i)),
                                 ("state", "undeliverable"), ("error", 1), ("done_at", 14.5 + i)))
    for i in range(10)))


def sample(*, failing: bool = True) -> ScenarioReport:
    return ScenarioReport(
        name="smoke",
        source="scenarios/smoke.yaml",
        seed=7,
        start="2026-11-30T09:00:00.000+01:00",
        sim_duration=3600.0,
        messages=1000,
        outcomes=(("delivered", 985), ("undeliverable", 10), ("rejected", 5)),
        per_operator=(
            OperatorOutcomes("orange", (("delivered", 600), ("undeliverable", 4))),
            OperatorOutcomes("sfr", (("delivered", 385), ("undeliverable", 6), ("rejected", 5))),
        ),
        latency=Latency(p50=1.0, p90=2.5, p99=30.125, max=61.0004),
        throughput=(
            ThroughputPoint(0.0, 400, 380, 1200.0),
            ThroughputPoint(1200.0, 400, 405, 1200.0),
            ThroughputPoint(2400.0, 200, 200, 1200.0),
        ),
        events=(
            TimelineEntry(0.0, 0, "bind", "acme binds transceiver"),
            TimelineEntry(1.0, 1, "campaign", "1000 messages to 2 operators"),
            TimelineEntry(1800.5, 2, "rule", "R2 purge: 3 numbers removed"),
            TimelineEntry(3600.0, 3, "expect", "check outcomes"),
        ),
        expectations=(
            ExpectationResult("at least 990 delivered", 3, "scenarios/smoke.yaml:42:5", ">= 990",
                              "985" if failing else "995", not failing, MISSED if failing else None),
            ExpectationResult(BAD_NAME, 3, "scenarios/smoke.yaml:45:5", "< 1%", "0.5%", True),
            ExpectationResult("no expiry", 3, "scenarios/smoke.yaml:47:5", "0", "0", True),
        ),
    )


WALL = WallClock(wall_seconds=2.5)


# ---- model helpers -------------------------------------------------------------------------------

def test_passed_and_failures() -> None:
    assert not sample().passed and [x.name for x in sample().failures] == ["at least 990 delivered"]
    assert sample(failing=False).passed
    assert [e.summary for e in sample().rule_events] == ["R2 purge: 3 numbers removed"]


def test_wall_clock_rates() -> None:
    assert WALL.messages_per_second(1000) == 400.0 and WALL.speedup(3600.0) == 1440.0
    assert WallClock(0.0).messages_per_second(10) is None


def test_percentiles_nearest_rank() -> None:
    assert percentiles([]) is None
    lat = percentiles(float(i) for i in range(100, 0, -1))
    assert lat == Latency(p50=50.0, p90=90.0, p99=99.0, max=100.0)
    assert percentiles([3.0]) == Latency(3.0, 3.0, 3.0, 3.0)


def test_bin_throughput_lists_every_bin_and_keeps_stray_instants() -> None:
    """Every bin appears, empty ones too; an instant before the start lands in the first bin,
    one past the end in the last (30 s: base bins of 1 s, nothing dense enough to split)."""
    points = bin_throughput([-1.0, 0.5, 15.0, 99.0], [1.0, 31.0], 30.0)
    assert [p.t for p in points] == [float(t) for t in range(30)] and {p.width for p in points} == {1.0}
    assert (points[0].submitted, points[0].delivered) == (2, 0)      # -1.0 and 0.5
    assert (points[1].submitted, points[1].delivered) == (0, 1)
    assert points[15].submitted == 1
    assert (points[29].submitted, points[29].delivered) == (1, 1)    # past the end: the last bin
    assert sum(p.submitted for p in points) == 4 and sum(p.delivered for p in points) == 2


def test_count_outcomes_order() -> None:
    states = ["enroute", "delivered", "expired", "delivered", "accepted", "rejected"]
    assert count_outcomes(states) == (
        ("delivered", 2), ("rejected", 1), ("expired", 1), ("accepted", 1), ("enroute", 1),
    )


def test_formats() -> None:
    assert format_seconds(0.25) == "0.250s"
    assert format_seconds(185.0) == "3m 05.000s"
    assert format_seconds(7385.0) == "2h 03m 05.000s"
    assert format_seconds(93785.0) == "1d 02h 03m 05.000s"
    assert format_offset(65.25) == "+00:01:05.250"
    assert format_offset(90000.0) == "+1d 01:00:00.000"


# ---- JSON ----------------------------------------------------------------------------------------

def test_json_is_byte_identical_and_complete() -> None:
    text = render_json(sample())
    assert text == render_json(sample())
    doc = json.loads(text)
    assert doc["format"] == FORMAT == "smsc-harness-report/1"
    assert doc["passed"] is False
    assert doc["seed"] == 7 and doc["messages"] == 1000 and doc["sim_duration"] == 3600.0
    assert doc["outcomes"] == {"delivered": 985, "undeliverable": 10, "rejected": 5}
    assert [op["operator_id"] for op in doc["per_operator"]] == ["orange", "sfr"]
    assert doc["latency"] == {"p50": 1.0, "p90": 2.5, "p99": 30.125, "max": 61.0}  # rounded to 3 decimals
    assert doc["throughput"][1] == {"t": 1200.0, "width": 1200.0, "submitted": 400, "delivered": 405}
    assert doc["expectations"][0] == {
        "name": "at least 990 delivered", "step": 3, "source": "scenarios/smoke.yaml:42:5",
        "expected": ">= 990", "actual": "985", "passed": False,
        "records": {"kind": "not counted", "subject": "messages", "total": 15, "first": [
            {"at": 10.0 + i, "message": f"{i:016x}", "number": "+3361200000" + str(i), "state": "undeliverable",
             "error": 1, "done_at": 14.5 + i} for i in range(10)]},
    }
    assert [x["records"] for x in doc["expectations"][1:]] == [None, None]  # a passing one lists none
    assert doc["expectations"][1]["name"] == BAD_NAME
    assert doc["summary"] == {"expectations": 3, "failed": 1, "refused": 0, "rule_events": 0}
    assert list(doc) == sorted(doc)  # stable key order
    assert "wall" not in text


def test_json_float_noise_does_not_change_bytes() -> None:
    a = sample()
    b = ScenarioReport(**{f: getattr(a, f) for f in a.__slots__ if f != "sim_duration"},
                       sim_duration=3600.0 + 1e-9)
    assert render_json(a) == render_json(b)


# ---- JUnit ---------------------------------------------------------------------------------------

def test_junit_one_testcase_per_expectation_with_failure() -> None:
    root = ET.fromstring(render_junit([sample()], {"smoke": WALL}))
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "smoke" and suite.get("time") == "2.500"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["at least 990 delivered", BAD_NAME, "no expiry"]
    assert {c.get("classname") for c in cases} == {"smoke"}
    assert (cases[0].get("file"), cases[0].get("line")) == ("scenarios/smoke.yaml", "42")
    failure = cases[0].find("failure")
    assert failure is not None and ">= 990" in failure.get("message", "") and "985" in failure.get("message", "")
    assert failure.text is not None and "expected: >= 990" in failure.text and "actual:   985" in failure.text
    assert cases[1].find("failure") is None and cases[2].find("failure") is None


def test_junit_without_wall_is_deterministic_and_survives_control_chars() -> None:
    r = sample()
    odd = ScenarioReport(**{f: getattr(r, f) for f in r.__slots__ if f != "expectations"},
                         expectations=(ExpectationResult("nul\x00 esc\x1b", 0, "x.yaml:1:1", "a", "b\x07", False),))
    text = render_junit([r, odd])
    assert text == render_junit([r, odd]) and "time=" not in text
    root = ET.fromstring(text)
    assert len(root.findall("testsuite")) == 2 and root.get("tests") == "4"


# ---- HTML ----------------------------------------------------------------------------------------

def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(sample(), WALL)
    for forbidden in ("http://", "https://", "<script", "<link", "<b>bold</b>"):
        assert forbidden not in page, forbidden
    assert page.count("<svg") == 3
    assert "FAIL" in page and "1 of 3 expectations failed" in page
    assert html_escaped(BAD_NAME) in page
    assert "R2 purge: 3 numbers removed" in page
    assert "2.500s" in page and "400.0 msg/s" in page  # wall time and replay speed
    assert "1h 00m 00.000s" in page  # sim duration
    assert 'class="fail"' in page
    for chunk in page.split("<svg")[1:]:  # each chart is well-formed XML
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")


def test_html_pass_and_no_wall() -> None:
    page = render_html(sample(failing=False), None)
    assert "PASS" in page and "not measured" in page and "msg/s" not in page


def test_html_empty_report() -> None:
    r = sample()
    empty = ScenarioReport(r.name, r.source, r.seed, r.start, 0.0, 0, (), (), None, (), (), ())
    page = render_html(empty, None)
    assert "PASS" in page and "<svg" not in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# ---- terminal ------------------------------------------------------------------------------------

def test_summary_names_the_failure() -> None:
    text = summary(sample(), WALL)
    first, *rest = text.splitlines()
    assert first.startswith("FAIL") and "smoke" in first
    assert "delivered 985" in text and "1h 00m 00.000s" in text
    assert "wall 2.500s" in text and "400.0 msg/s" in text
    assert "FAILED at least 990 delivered" in text and "expected >= 990, got 985" in text
    assert "2/3 passed" in text
    assert text.isascii()


def test_summary_pass_without_wall() -> None:
    text = summary(sample(failing=False), None)
    assert text.startswith("PASS") and "FAILED" not in text and "wall" not in text


class FakeNow:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_bar_is_rate_limited_by_the_given_clock() -> None:
    out, now = io.StringIO(), FakeNow()
    bar = ProgressBar(out, now, width=10, min_interval=1.0, interactive=True)
    bar.update(0, 100)
    now.t += 0.5
    bar.update(10, 100)  # too soon: skipped
    assert out.getvalue() == "\r[..........]   0.0%  0/100"
    now.t += 0.5
    bar.update(50, 100)
    assert out.getvalue().endswith("\r[#####.....]  50.0%  50/100  50.0/s")
    now.t += 0.1
    bar.update(100, 100)  # completion always draws
    bar.finish()
    bar.finish()
    assert out.getvalue().endswith("[##########] 100.0%  100/100  90.9/s\n")
    bar.update(5, 100)  # after finish: ignored
    assert out.getvalue().endswith("\n")


def test_progress_bar_finish_draws_the_skipped_state_and_logs_lines_off_tty() -> None:
    out, now = io.StringIO(), FakeNow()
    bar = ProgressBar(out, now, width=4, min_interval=10.0, label="smoke")
    bar.update(1, 4)
    now.t += 1.0
    bar.update(3, 4)
    bar.finish()
    assert out.getvalue().splitlines() == ["smoke  [#...]  25.0%  1/4", "smoke  [###.]  75.0%  3/4  3.0/s"]
    assert "\r" not in out.getvalue()


def test_html_links_each_expectation_to_its_source_line() -> None:
    source = "\n".join(f"line {n} <of> the scenario" for n in range(1, 61))
    page = render_html(sample(), None, {"scenarios/smoke.yaml": source})
    assert '<a href="#src-0-42">scenarios/smoke.yaml:42:5</a>' in page
    assert '<span id="src-0-42"><span class="muted">  42</span>  line 42 &lt;of&gt; the scenario</span>' in page
    assert "<h2>Scenario source</h2>" in page
    plain = render_html(sample(), None)              # no source given: named, not linked
    assert "scenarios/smoke.yaml:42:5" in plain and 'href="#src-' not in plain
    assert "<h2>Scenario source</h2>" not in plain


# ---- throughput bins and chart marks (issue 14) ------------------------------------------------

def test_base_width_is_the_finest_nice_width_covering_the_run_in_300_bins() -> None:
    assert [base_width(d) for d in (2.0, 300.0, 301.0, 7200.0, 86400.0, 31 * 86400.0, 400 * 86400.0)] == [
        1.0, 1.0, 5.0, 30.0, 300.0, 21600.0, 2 * 86400.0]
    assert [format_width(w) for w in (1.0, 30.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 172800.0)] == [
        "1 s", "30 s", "5 min", "15 min", "1 h", "6 h", "1 d", "2 d"]


def test_steady_traffic_keeps_the_base_width_and_every_bin_is_listed() -> None:
    points = bin_throughput([float(t) for t in range(0, 7200, 2)], [t + 1.5 for t in range(0, 7200, 2)], 7200.0)
    assert len(points) == 240 and {p.width for p in points} == {30.0}
    assert [(p.submitted, p.delivered) for p in points[:2]] == [(15, 15), (15, 15)]
    assert sum(p.delivered for p in points) == 3600                 # past the end: in the last bin


def test_a_burst_is_split_down_to_one_second_bins_with_exact_counts() -> None:
    trickle = [float(t) for t in range(0, 7200, 60)]
    burst = [3600.0 + i / 10 for i in range(300)]                  # 10/s for 30 s
    points = bin_throughput(trickle + burst, [], 7200.0)
    fine = [p for p in points if p.width == 1.0]
    assert [(p.t, p.submitted) for p in fine] == [(3600.0, 11)] + [(3600.0 + i, 10) for i in range(1, 30)]
    assert all(p.width == 30.0 for p in points if not 3600.0 <= p.t < 3630.0)
    assert sum(p.submitted for p in points) == 420 and points[-1].end == 7200.0


def test_refining_a_width_is_all_or_nothing_within_max_bins() -> None:
    # 70 equal 1 s bursts in a day (base 5 min, 288 bins): 5 min -> 1 min for all 70 makes 568
    # bins; 1 min -> 30 s for all would make 638 > MAX_BINS, so none of them goes further
    day = 86400.0
    bursts = [i * 1234.0 + k / 30 for i in range(70) for k in range(30)]
    points = bin_throughput(bursts, [], day)
    assert len(points) == 288 + 70 * 4 <= MAX_BINS and {p.width for p in points} == {300.0, 60.0}
    assert sorted(p.submitted for p in points if p.width == 60.0)[-70:] == [30] * 70
    # two bursts: both get the same detail
    two = [100.0 + k * 0.1 for k in range(100)] + [50000.0 + k * 0.1 for k in range(100)]
    points = bin_throughput(two, [], day)
    assert [p.t for p in points if p.width == 1.0] == [*(100.0 + i for i in range(10)),
                                                       *(50000.0 + i for i in range(10))]


def test_chart_marks_pair_outages_with_their_end_and_keep_time_order() -> None:
    rule = TimelineEntry(50.0, 3, "rule", "purge purge shop +33612345678")
    marks = chart_marks([(10.0, "sfr", "outage", "sfr: outage silent"),
                         (20.0, "orange", "outage", "orange: outage drop"),
                         (30.0, "sfr", "recover", "sfr: recovered"),
                         (40.0, "sfr", "throughput", "sfr: throughput 5/s")], [rule])
    assert marks == (
        ChartMark(10.0, "outage", "sfr: outage silent", "sfr", until=30.0),
        ChartMark(20.0, "outage", "orange: outage drop", "orange"),       # still on at the end
        ChartMark(30.0, "recover", "sfr: recovered", "sfr"),
        ChartMark(40.0, "throughput", "sfr: throughput 5/s", "sfr"),
        ChartMark(50.0, "rule", "purge purge shop +33612345678"),
    )


def test_html_draws_marks_as_bands_and_lines_with_a_legend_escaped() -> None:
    report = ScenarioReport(**{f: getattr(sample(), f) for f in sample().__slots__ if f != "marks"},
                            marks=(ChartMark(100.0, "outage", BAD_NAME, "sfr", until=900.0),
                                   ChartMark(900.0, "recover", "sfr: recovered", "sfr"),
                                   ChartMark(1800.5, "rule", "R2 purge: 3 numbers removed")))
    page = render_html(report, None)
    assert '<rect class="mark outage"' in page and '<line class="mark recover"' in page
    assert 'class="mark rule"' in page and 'stroke-dasharray="4 3"' in page
    assert BAD_NAME not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert ">outage</text>" in page and ">recovery</text>" in page and ">rule event</text>" in page
    assert "bins of 20 min" in page


def test_failing_expectation_rows_in_every_renderer() -> None:
    report = sample()
    assert "    15 messages not counted (what they are instead), first 10:\n      +00:00:10.000 message=" in summary(
        report, WALL)
    assert '<tr class="records">' in render_html(report, WALL)
    assert "first 10:\n    +00:00:10.000 message=0000000000000000" in render_junit([report])
    assert '<tr class="records">' not in render_html(sample(failing=False), WALL)
