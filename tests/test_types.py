"""The type checker is part of the suite (issue 11), so the README's one test command and
`.ci/run` run it: mypy on the packages, configured in pyproject.toml ([tool.mypy]).

The few `# type: ignore` left in the packages each say which dependency's typing (or which
limit of mypy) they stand for."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def test_the_packages_type_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)                 # [tool.mypy] files are relative to the project root
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, out + err


def test_every_type_ignore_says_why() -> None:
    """An ignore names its error code and carries a comment, on its line or just above."""
    unexplained = []
    for path in sorted(p for package in ("smsc", "aggregator", "scenarios", "reports", "cli")
                       for p in (ROOT / package).rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if "# type: ignore" not in line:
                continue
            coded = "# type: ignore[" in line
            above = number - 2                      # over neighbours the same comment covers
            while above > 0 and "# type: ignore" in lines[above]:
                above -= 1
            explained = "#" in line.split("# type: ignore", 1)[1] or lines[above].strip().startswith("#")
            if not (coded and explained):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unexplained, "\n".join(unexplained)
