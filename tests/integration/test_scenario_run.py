"""`smsc-harness run`: shipped scenarios pass in memory, replays are deterministic, a wrong
expectation is reported with expected vs actual, and the CLI's exit codes and report files."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.json import render_json
from scenarios.loader import load_scenario, parse_scenario
from scenarios.runner import run_scenario

ROOT = Path(__file__).resolve().parents[2]
# Shipped but too slow for the suite (a replay-speed measurement: minutes of wall time).
SLOW = {"month_sample.yaml"}
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name not in SLOW)

WRONG = """\
name: wrong expectation
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
timeline:
  - bind: {account: demo}
  - submit: {account: demo, to: "+33699990000", text: "hi", receipt: true}
  - advance: 10s
  - expect: {name: "right", messages: {state: delivered, "==": 1}}
  - expect: {name: "too many", messages: {state: delivered, ">=": 5}}
"""


def test_scenarios_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"smoke.yaml", "mo_stop.yaml", "absent_expiry.yaml", "outage.yaml",
                                         "throttling.yaml", "live_smoke.yaml"}
    assert (ROOT / "scenarios" / "month_sample.yaml").is_file()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_passes(path: Path, tmp_path: Path) -> None:
    report = run_scenario(load_scenario(path), tmp_path / "run.db")
    assert report.expectations, "a shipped scenario checks something"
    assert report.passed, [(x.name, x.expected, x.actual) for x in report.failures]
    assert report.messages >= 1


@pytest.mark.parametrize("name", ["smoke", "outage"])
def test_same_scenario_and_seed_give_identical_json(name: str, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    first = render_json(run_scenario(scenario, tmp_path / "a.db"))
    second = render_json(run_scenario(scenario, tmp_path / "b.db"))
    assert first == second
    tree = json.loads(first)
    assert tree["passed"] is True and tree["events"]


def test_wrong_expectation_reports_expected_and_actual(tmp_path: Path) -> None:
    scenario = parse_scenario(WRONG, str(tmp_path / "wrong.yaml"))
    report = run_scenario(scenario, tmp_path / "run.db")
    assert report.passed is False
    (failure,) = report.failures
    assert (failure.name, failure.expected, failure.actual, failure.step) == ("too many", ">= 5", "1", 4)
    assert failure.source.endswith("wrong.yaml:8:5")
    assert [x.passed for x in report.expectations] == [True, False]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aggregator.main", "run", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_run_smoke_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    done = _cli(str(ROOT / "scenarios" / "smoke.yaml"), "--report-dir", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "PASS  smoke" in done.stdout
    report = json.loads((out / "smoke" / "report.json").read_text(encoding="utf-8"))
    assert report["passed"] is True
    assert "<html" in (out / "smoke" / "report.html").read_text(encoding="utf-8").lower()
    suites = ET.parse(out / "junit.xml").getroot()
    assert suites.tag == "testsuites" and suites.get("failures") == "0"
    assert [s.get("name") for s in suites.findall("testsuite")] == ["smoke"]


def test_cli_run_wrong_expectation_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG, encoding="utf-8")
    done = _cli(str(path), "--report-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "expected >= 5, got 1" in done.stdout
    suites = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert suites.get("failures") == "1"
    assert json.loads((tmp_path / "out" / "wrong" / "report.json").read_text())["passed"] is False


def test_cli_run_invalid_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntimeline:\n  - sumbit: {account: demo}\n", encoding="utf-8")
    done = _cli(str(path), "--report-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert "bad.yaml:3:5: timeline[0].sumbit: unknown key" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_run_default_report_dir(tmp_path: Path) -> None:
    done = _cli(str(ROOT / "scenarios" / "mo_stop.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports-out" / "mo_stop" / "report.json").is_file()
    assert (tmp_path / "reports-out" / "junit.xml").is_file()
