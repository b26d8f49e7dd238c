"""Reports that explain (issue 14): the throughput chart's bins follow the traffic, operator
changes are marked on it at the instants they happened, and a failing expectation lists the
rows it counted or missed. Whole replays on the virtual clock: exact instants and counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports.html import render_html
from reports.json import render_json
from reports.junit import render_junit
from reports.model import ChartMark, ExpectationRecords, ScenarioReport
from reports.terminal import summary
from scenarios.loader import load_scenario, parse_scenario
from scenarios.runner import run_scenario

ROOT = Path(__file__).resolve().parents[2]

BURST = """\
name: a 30 s burst in 2 h
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
subscribers:
  - {name: people, prefix: "+3365", count: 300}
timeline:
  - bind: {account: demo}
  - advance: 1h
  - campaign: {account: demo, to: people, count: 300, rate: 10, text: "flash", receipt: true}
  - advance: 1h
  - expect: {name: "all accepted", messages: {"==": 300}}
"""


def test_a_30_s_burst_in_2_h_gets_its_own_one_second_bins_with_the_right_counts(tmp_path: Path) -> None:
    report = run_scenario(parse_scenario(BURST, str(tmp_path / "burst.yaml")), tmp_path / "run.db")
    assert report.sim_duration == 7200.0
    points = report.throughput
    burst = [p for p in points if 3600.0 <= p.t < 3630.0]
    assert [(p.t, p.width, p.submitted) for p in burst] == [(3600.0 + i, 1.0, 10) for i in range(30)]
    assert sum(p.submitted for p in points) == 300                 # nothing outside the burst
    assert sum(p.delivered for p in points) == dict(report.outcomes)["delivered"]
    # the quiet hours keep the base width (2 h in at most 300 bins: 30 s), the bins tile the run
    assert {p.width for p in points if p.t < 3600.0 or p.t >= 3720.0} == {30.0}
    assert all(a.end == b.t for a, b in zip(points, points[1:])) and points[0].t == 0.0
    assert points[-1].end == 7200.0
    doc = json.loads(render_json(report))
    assert doc["throughput"][0] == {"t": 0.0, "width": 30.0, "submitted": 0, "delivered": 0}
    assert {"t": 3600.0, "width": 1.0, "submitted": 10, "delivered": burst[0].delivered} in doc["throughput"]
    page = render_html(report, None)
    assert "bins of 30 s, 1 s in bursts" in page
    assert "Burst at +00:59:30.000 to +01:01:30.000" in page      # drawn again on its own scale


def test_the_outage_scenarios_report_marks_the_outage_and_the_recovery_where_they_happened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    report = run_scenario(load_scenario(Path("scenarios/outage.yaml")), tmp_path / "run.db")
    # the outage step comes right after the bind (t=0), the recovery after `advance: 5m`
    assert report.marks == (
        ChartMark(0.0, "outage", "sfr: outage silent", "sfr", until=300.0),
        ChartMark(300.0, "recover", "sfr: recovered", "sfr"),
    )
    doc = json.loads(render_json(report))
    assert doc["marks"] == [
        {"at": 0.0, "kind": "outage", "label": "sfr: outage silent", "operator": "sfr", "until": 300.0},
        {"at": 300.0, "kind": "recover", "label": "sfr: recovered", "operator": "sfr", "until": None},
    ]
    page = render_html(report, None)
    assert page.count('<rect class="mark outage"') >= 1 and '<line class="mark recover"' in page
    assert ">sfr: outage silent</text>" in page and ">outage</text>" in page and ">recovery</text>" in page
    # nothing is delivered during the band; all of it after the recovery
    assert sum(p.delivered for p in report.throughput if p.end <= 300.0) == 0
    assert sum(p.delivered for p in report.throughput if p.t >= 300.0) == 10


CHANGES = """\
name: operator changes on the chart
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
network:
  operators:
    - id: sfr
      name: SFR
      carriers: ["SFR"]
      smsc:
        faults: {outages: [{start: 600, duration: 120, mode: refuse_binds}, {start: 3000, duration: 600, mode: drop}]}
  accounts:
    - {system_id: shop, password: shop}
timeline:
  - bind: {account: shop}
  - advance: 1m
  - operator: {id: sfr, throughput: {rate: 2, burst: 1}}
  - advance: 4m
  - operator: {id: sfr, outage: silent}
  - advance: 30s
  - operator: {id: sfr, outage: drop}
  - advance: 30m
  - expect: {name: "nothing sent", messages: {"==": 0}}
"""


def test_configured_outages_steps_and_throughput_changes_are_marked_in_time_order(tmp_path: Path) -> None:
    report = run_scenario(parse_scenario(CHANGES, str(tmp_path / "changes.yaml")), tmp_path / "run.db")
    assert report.sim_duration == 2130.0
    assert [(m.at, m.kind, m.label, m.until) for m in report.marks] == [
        (60.0, "throughput", "sfr: throughput 2/s burst 1", None),
        (300.0, "outage", "sfr: outage silent", 330.0),
        (330.0, "outage", "sfr: outage drop", 600.0),                 # a new mode: a new band
        (600.0, "outage", "sfr: outage refuse_binds (configured)", 720.0),
        (720.0, "recover", "sfr: recovered (configured)", None),
        # the second configured outage starts after the run's end: not marked
    ]
    page = render_html(report, None)
    assert '<line class="mark throughput"' in page and ">throughput cap</text>" in page


FAILING = """\
name: failing expectations
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
timeline:
  - bind: {account: demo}
  - submit: {account: demo, to: "+33699990000", text: "hi", receipt: true}
  - submit: {account: demo, to: "+33699990001", text: "hi", receipt: true}
  - submit: {account: demo, to: "+33699990004", text: "hi", receipt: true}
  - submit: {account: demo, to: "+33123", text: "hi", receipt: true}
  - advance: 10s
  - expect: {name: "all delivered", messages: {state: delivered, ">=": 3}}
  - expect: {name: "no failure", messages: {state: undeliverable, "==": 0}}
  - expect: {name: "four accepted", messages: {account: demo, "==": 4}}
  - expect: {name: "delivered receipts", receipts: {stat: DELIVRD, ">=": 3}}
  - expect: {name: "an MO", mos: {">=": 1}}
  - expect: {name: "three messages", messages: {"==": 3}}
"""


def _failing(tmp_path: Path) -> ScenarioReport:
    return run_scenario(parse_scenario(FAILING, str(tmp_path / "failing.yaml")), tmp_path / "run.db")


def test_a_failing_expectation_lists_the_rows_it_missed_or_counted_and_a_passing_one_none(tmp_path: Path) -> None:
    report = _failing(tmp_path)
    by_name = {x.name: x for x in report.expectations}
    assert by_name["three messages"].passed and by_name["three messages"].records is None
    unknown = {"message": "0000000000000002", "account": "demo", "number": "+33699990001", "operator": "bouygues",
               "state": "undeliverable", "error": 1, "done_at": 1.0}
    terminated = {**unknown, "message": "0000000000000003", "number": "+33699990004", "error": 5}

    def rows(records: ExpectationRecords | None) -> tuple[str, str, int, list[tuple[float, dict[str, object]]]]:
        assert records is not None
        return records.kind, records.subject, records.total, [(r.at, dict(r.fields)) for r in records.first]

    # too few delivered: the two messages that are not, with their state and error
    assert rows(by_name["all delivered"].records) == ("not counted", "messages", 2,
                                                      [(0.0, unknown), (0.0, terminated)])
    # too many undeliverable: the two it counted
    assert rows(by_name["no failure"].records) == ("counted", "messages", 2, [(0.0, unknown), (0.0, terminated)])
    # too few messages and no state asked: the submit refused instead
    kind, subject, total, refused = rows(by_name["four accepted"].records)
    assert (kind, subject, total) == ("refused", "refusals", 1)
    assert refused[0][1]["number"] == "33123" and refused[0][1]["status"] == "ESME_RINVDSTADR"
    # too few DELIVRD receipts: the UNDELIV ones, with their err
    kind, subject, total, receipts = rows(by_name["delivered receipts"].records)
    assert (kind, subject, total) == ("not counted", "receipts", 2)
    assert [(at, r["number"], r["stat"], r["err"]) for at, r in receipts] == [
        (1.0, "+33699990001", "UNDELIV", "001"), (1.0, "+33699990004", "UNDELIV", "005")]
    # nothing to show: an empty list, said so
    assert rows(by_name["an MO"].records) == ("counted", "mos", 0, [])


def test_the_rows_behind_a_failure_are_in_json_html_terminal_and_junit(tmp_path: Path) -> None:
    report = _failing(tmp_path)
    doc = json.loads(render_json(report))
    first = doc["expectations"][0]
    assert first["name"] == "all delivered" and first["records"]["kind"] == "not counted"
    assert first["records"]["first"][0] == {"at": 0.0, "message": "0000000000000002", "account": "demo",
                                            "number": "+33699990001", "operator": "bouygues",
                                            "state": "undeliverable", "error": 1, "done_at": 1.0}
    assert doc["expectations"][-1]["records"] is None
    text = summary(report, None)
    assert ("  FAILED all delivered  [" in text and "    2 messages not counted (what they are instead):\n"
            "      +00:00:00.000 message=0000000000000002 account=demo number=+33699990001 operator=bouygues"
            " state=undeliverable error=1 done_at=+00:00:01.000\n" in text)
    assert "    1 submit refused instead of accepted:\n" in text
    page = render_html(report, None)
    assert page.count('<tr class="records">') == 4                 # the four failures with rows
    assert "<td class=\"mono\">+33699990004</td>" in page and "2 messages not counted" in page
    junit = render_junit([report])
    assert "2 receipts not counted (what they are instead):" in junit and "stat=UNDELIV err=005" in junit


def test_at_most_ten_rows_and_the_total(tmp_path: Path) -> None:
    text = FAILING.replace('  - submit: {account: demo, to: "+33699990001", text: "hi", receipt: true}\n',
                           "".join(f'  - submit: {{account: demo, to: "+3369999000{4 if i % 2 else 1}", text: "m{i}",'
                                   ' receipt: true}\n' for i in range(14)))
    report = run_scenario(parse_scenario(text, str(tmp_path / "many.yaml")), tmp_path / "run.db")
    records = report.expectations[0].records
    assert records is not None and records.total == 15 and len(records.first) == 10
    assert [dict(r.fields)["message"] for r in records.first] == [f"{i:016x}" for i in range(2, 12)]
    assert "15 messages not counted (what they are instead), first 10:" in summary(report, None)
