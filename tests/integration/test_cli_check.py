"""`smsc-harness check`: a valid scenario passes, a wrong one exits 2 naming file, line, column, field."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.serve import command

VALID = """\
name: smoke
timeline:
  - bind: {account: demo}
  - submit: {account: demo, to: "+33612345678", text: "Bonjour", receipt: true}
  - advance: 5m
  - expect: {name: "delivered", messages: {state: delivered, "==": 1}}
"""

INVALID = """\
name: broken
timeline:
  - bind: {account: demo}
  - advance: soon
"""


def test_check_accepts_a_valid_scenario_and_names_the_faults_of_another(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(VALID)
    bad.write_text(INVALID)
    ok = subprocess.run(command("check", str(good)), capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "ok:" in ok.stdout and "4 step(s)" in ok.stdout
    ko = subprocess.run(command("check", str(good), str(bad)), capture_output=True, text=True, timeout=60)
    assert ko.returncode == 2
    assert f"{bad}:4:14: timeline[1].advance:" in ko.stderr


def test_check_refuses_a_fifo_at_once_and_run_refuses_the_same(tmp_path: Path) -> None:
    """An included FIFO: before, `check` opened it for reading and blocked for ever (here: the
    timeout). Now both commands name it and exit 2 at once, since `run` uses the same loader."""
    os.mkfifo(tmp_path / "pipe.yaml")
    scenario = tmp_path / "x.yaml"
    scenario.write_text("name: x\ntimeline:\n  - include: pipe.yaml\n")
    expected = (f"{scenario}:3:14: timeline[0].include: cannot read included file {tmp_path / 'pipe.yaml'}:"
                " expected a regular file, got a FIFO (named pipe)")
    for args in (("check", str(scenario)), ("run", str(scenario), "--report-dir", str(tmp_path / "out"))):
        result = subprocess.run(command(*args), capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert (result.returncode, result.stderr.strip()) == (2, expected)


def test_allow_outside_lets_an_include_leave_the_scenario_directory(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("- advance: 1s\n")
    (tmp_path / "s").mkdir()
    scenario = tmp_path / "s" / "x.yaml"
    scenario.write_text("name: x\ntimeline:\n  - include: ../shared.yaml\n")
    refused = subprocess.run(command("check", str(scenario)), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--allow-outside lifts this" in refused.stderr
    allowed = subprocess.run(command("check", "--allow-outside", str(scenario)), capture_output=True, text=True,
                             timeout=60)
    assert allowed.returncode == 0, allowed.stderr


def test_check_refuses_what_run_cannot_do_without_a_traceback(tmp_path: Path) -> None:
    cases = {
        "deep.yaml": "name: x\ntimeline: " + "[" * 5000 + "]" * 5000 + "\n",       # was RecursionError
        "digits.yaml": "name: x\nseed: " + "9" * 5000 + "\ntimeline: []\n",         # was ValueError
        "month.yaml": "name: x\ntimeline:\n  - advance: 10000d\n",                   # was accepted
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(command("check", *cases), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == list(cases)


def test_check_says_what_will_not_route(tmp_path: Path) -> None:
    """Drawn populations route (the draws skipped are counted); numbers written in the scenario
    that will not route are named with why; a prefix with no routable number is an error."""
    scenario = tmp_path / "x.yaml"
    scenario.write_text(
        "name: x\n"
        "subscribers:\n"
        '  - {name: bank, prefix: "+337", count: 1000}\n'
        "timeline:\n"
        "  - bind: {account: demo}\n"
        '  - submit: {account: demo, to: "+33123", text: "x"}\n')
    ok = subprocess.run(command("check", str(scenario)), capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[1] == ("  routing: population bank: 1,000 numbers under +337, all routed;"
                        " 1,558 draws skipped (60.9 % of 2,558 drawn)")
    assert lines[2:] == [
        "  routing: 1 number(s) written in the scenario will not route (1 submit(s) will be refused ESME_RINVDSTADR):",
        f"    submit ({scenario}:6:5): +33123: invalid destination '33123': not a valid number"]
    scenario.write_text('name: x\nsubscribers:\n  - {name: land, prefix: "+3312", count: 5}\ntimeline: []\n')
    ko = subprocess.run(command("check", str(scenario)), capture_output=True, text=True, timeout=60)
    assert ko.returncode == 2 and f"{scenario}:3:26: subscribers[0].prefix: expected a prefix of numbers" in ko.stderr


def test_two_scenarios_of_one_file_name_write_two_reports(tmp_path: Path) -> None:
    """Before, b/smoke.yaml's report overwrote a/smoke.yaml's (both went to out/smoke/)."""
    for folder, name in (("a", "smoke one"), ("b", "smoke two")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "smoke.yaml").write_text(VALID.replace("name: smoke", f"name: {name}"))
    (tmp_path / "other.yaml").write_text(VALID.replace("name: smoke", "name: other"))
    out = tmp_path / "out"
    result = subprocess.run(command("run", "a/smoke.yaml", "b/smoke.yaml", "other.yaml", "--report-dir", str(out)),
                            capture_output=True, text=True, cwd=tmp_path, timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert '"name": "smoke one"' in (out / "a" / "smoke" / "report.json").read_text()
    assert '"name": "smoke two"' in (out / "b" / "smoke" / "report.json").read_text()
    assert (out / "other" / "report.json").exists()          # a file name of its own keeps its folder


def test_report_folders_tell_same_named_scenarios_apart() -> None:
    from cli.replay import report_dirs
    assert report_dirs([Path("/s/smoke.yaml"), Path("/s/outage.yaml")]) == ["smoke", "outage"]
    assert report_dirs([Path("/x/a/k/smoke.yaml"), Path("/x/b/k/smoke.yaml"), Path("/x/outage.yaml")]) == [
        "a/k/smoke", "b/k/smoke", "outage"]
    assert report_dirs([Path("/s/smoke.yaml"), Path("/s/smoke.yaml")]) == ["smoke", "smoke-2"]
