"""Behaviour over time is tested on the virtual clock (issue 11): nothing in tests/unit,
tests/behaviour or their helpers waits on real time or touches the real reactor. Only
tests/integration may, where a socket, a process or a file is the point (tests/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VIRTUAL = ("unit", "behaviour", "support/memstack.py", "support/numbers.py", "support/network.py",
           "support/deferreds.py")
REAL_TIME = re.compile(r"\btime\.sleep\b|\bdeferLater\b|\bimport reactor\b|\bpytest_twisted\b|"
                       r"\bensureDeferred\b.*\breactor\b|\bmonotonic\(|\btime\.time\(")


def test_no_virtual_time_test_waits_on_the_real_clock() -> None:
    files = sorted(p for entry in VIRTUAL
                   for p in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry]))
    assert len(files) > 40
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in files
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if REAL_TIME.search(line)]
    assert not found, "\n".join(found)
