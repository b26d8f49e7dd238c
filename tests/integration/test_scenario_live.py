"""`run_scenario_live` / `smsc-harness run --live`: the same scenario over real TCP in real time
gives the same verdict per expectation as the in-memory replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest_twisted

from scenarios.loader import load_scenario, parse_scenario
from scenarios.runner import run_scenario, run_scenario_live

ROOT = Path(__file__).resolve().parents[2]

# Short (1.5 s of simulated time) with one expectation that fails either way.
MIXED = """\
name: live mixed verdicts
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
timeline:
  - bind: {account: demo}
  - submit: {account: demo, to: "+33699990000", text: "hi", receipt: true}
  - submit: {account: demo, to: "+33699990001", text: "unknown", receipt: true}
  - advance: 1.5s
  - expect: {name: "one delivered", messages: {state: delivered, "==": 1}}
  - expect: {name: "wrong: three delivered", messages: {state: delivered, "==": 3}}
  - expect: {name: "one undeliverable", messages: {state: undeliverable, "==": 1}}
"""


def _verdicts(report: object) -> list[tuple[str, bool]]:
    return [(x.name, x.passed) for x in report.expectations]  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_live_smoke_same_verdicts_as_memory(tmp_path: Path) -> None:
    from twisted.internet import reactor
    scenario = load_scenario(ROOT / "scenarios" / "live_smoke.yaml")
    memory = run_scenario(scenario, tmp_path / "memory.db")
    live = await run_scenario_live(scenario, tmp_path / "live.db", reactor)
    assert _verdicts(live) == _verdicts(memory)
    assert live.passed and memory.passed and len(live.expectations) == 6
    assert live.messages == memory.messages == 4          # 3 submits and R1's confirmation of the STOP


@pytest_twisted.ensureDeferred
async def test_live_failing_expectation_same_as_memory(tmp_path: Path) -> None:
    from twisted.internet import reactor
    scenario = parse_scenario(MIXED, str(tmp_path / "mixed.yaml"))
    memory = run_scenario(scenario, tmp_path / "memory.db")
    live = await run_scenario_live(scenario, tmp_path / "live.db", reactor)
    assert _verdicts(live) == _verdicts(memory) == [
        ("one delivered", True), ("wrong: three delivered", False), ("one undeliverable", True)]
    (failure,) = live.failures
    assert (failure.expected, failure.actual) == ("== 3", "1")


def test_cli_run_live(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "run", str(ROOT / "scenarios" / "live_smoke.yaml"),
         "--live", "--report-dir", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "PASS  live smoke" in done.stdout and "6/6 passed" in done.stdout
    assert (tmp_path / "out" / "live_smoke" / "report.json").is_file()
    assert (tmp_path / "out" / "junit.xml").is_file()
