"""`smsc-harness check`: a valid scenario passes, a wrong one exits 2 naming file, line, column, field."""

from __future__ import annotations

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
