"""`smsc-harness run`: shipped scenarios pass in memory, replays are deterministic, a wrong
expectation is reported with expected vs actual, and the CLI's exit codes and report files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.json import render_json
from scenarios.loader import load_scenario, parse_scenario
from scenarios.runner import LINKS_ENV, run_scenario
from smsc import memory

ROOT = Path(__file__).resolve().parents[2]
# Shipped but too slow for the suite (the replay-speed measurement: minutes of wall time).
SLOW = {"million_month.yaml"}
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name not in SLOW)
# The sha256 of every shipped scenario's report.json, as `sha256sum` writes them: a change meant
# to keep behaviour (a refactoring, a speed-up) must leave them all as they are.
DIGESTS = ROOT / "scenarios" / "report_digests.sha256"


def shipped_digests() -> dict[str, str]:
    digests = {}
    for line in DIGESTS.read_text(encoding="utf-8").splitlines():
        digest, path = line.split()
        digests[path.removesuffix("/report.json")] = digest
    return digests

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


def test_every_shipped_scenario_has_a_digest() -> None:
    """The slow ones too (their digest is checked by hand: README, "Scenarios")."""
    assert set(shipped_digests()) == {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}


def test_scenarios_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"smoke.yaml", "mo_stop.yaml", "absent_expiry.yaml", "outage.yaml",
                                         "throttling.yaml", "live_smoke.yaml"}
    assert {p.name for p in SHIPPED} >= {"month_sample.yaml", "credit.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_passes_and_replays_byte_identical(path: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The default replay hands PDUs between our own SMPP ends as objects (every one checked
    against what its bytes decode to); the second replay encodes, frames and decodes them all,
    as over TCP: the same report.json, byte for byte (smsc/memory.py, rule 6)."""
    monkeypatch.chdir(ROOT)                       # the report names its sources as the command line did
    monkeypatch.delenv(LINKS_ENV, raising=False)
    monkeypatch.setattr(memory, "CHECK_OBJECTS", True)
    scenario = load_scenario(path.relative_to(ROOT))
    report = run_scenario(scenario, tmp_path / "a.db")
    assert report.expectations, "a shipped scenario checks something"
    assert report.passed, [(x.name, x.expected, x.actual) for x in report.failures]
    assert report.messages >= 1
    first = render_json(report)
    assert render_json(run_scenario(scenario, tmp_path / "b.db", links="bytes")) == first
    assert hashlib.sha256(first.encode("utf-8")).hexdigest() == shipped_digests()[path.stem], (
        f"{path.name}'s report.json changed: if the behaviour change is meant, write the new digest"
        f" in {DIGESTS.name} and say why in the commit")
    tree = json.loads(first)
    assert tree["passed"] is True and tree["events"]


DRAWN = """\
name: drawn numbers
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
subscribers:
  - {name: people, prefix: "+3365", count: 300}
timeline:
  - bind: {account: demo}
  - campaign: {account: demo, to: people, count: 300, rate: 2, text: "hi", receipt: true}
  - advance: 1h
  - expect: {name: "all accepted", messages: {"==": 300}}
"""


def test_another_seed_draws_other_numbers_and_outcomes(tmp_path: Path) -> None:
    scenario = parse_scenario(DRAWN, str(tmp_path / "drawn.yaml"))
    one = run_scenario(scenario, tmp_path / "a.db", seed=1)
    again = run_scenario(scenario, tmp_path / "b.db", seed=1)
    other = run_scenario(scenario, tmp_path / "c.db", seed=2)
    assert render_json(one) == render_json(again)
    assert render_json(one) != render_json(other)
    assert one.passed and other.passed


def test_million_month_plans_a_million_messages() -> None:
    """A million of everyday traffic, plus the flash sales and digests the rules act on."""
    scenario = load_scenario(ROOT / "scenarios" / "million_month.yaml")
    assert scenario.planned_messages() == 1_000_000 + 4 * 2_000 + 4 * 7_000
    days = sum(s.seconds for s in scenario.timeline if type(s).__name__ == "Advance") / 86400
    assert days == 31                        # 30 days of traffic, then one to let them end


def test_wrong_expectation_reports_expected_and_actual(tmp_path: Path) -> None:
    scenario = parse_scenario(WRONG, str(tmp_path / "wrong.yaml"))
    report = run_scenario(scenario, tmp_path / "run.db")
    assert report.passed is False
    (failure,) = report.failures
    assert (failure.name, failure.expected, failure.actual, failure.step) == ("too many", ">= 5", "1", 4)
    assert failure.source.endswith("wrong.yaml:8:5")
    assert [x.passed for x in report.expectations] == [True, False]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "run", *args], cwd=cwd,
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


def test_progress_is_reported_as_time_moves(tmp_path: Path) -> None:
    scenario = parse_scenario(DRAWN, str(tmp_path / "drawn.yaml"))
    assert scenario.planned_messages() == 300
    seen: list[int] = []
    run_scenario(scenario, tmp_path / "a.db", progress=seen.append)
    assert len(seen) == 60                   # one per simulated minute of the 1 h advance
    assert seen == sorted(seen) and seen[0] < 300 and seen[-1] == 300
