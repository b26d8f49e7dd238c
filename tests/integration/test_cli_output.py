"""The command line's own manners (issue 14): `--version`, and a reader that goes away
(`smsc-harness check *.yaml | head -1`) ends the command quietly, as `cat` ends: no
traceback, exit status 141 (killed by SIGPIPE, in a shell's words)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli import EXIT_BROKEN_PIPE
from tests.support.serve import command

TIMEOUT = 60.0
ROOT = Path(__file__).resolve().parents[2]


def test_version_names_the_installed_distribution() -> None:
    from importlib import metadata
    done = subprocess.run(command("--version"), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0
    assert done.stdout == f"smsc-harness {metadata.version('smsc-harness')}\n"


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    scenarios = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    process = subprocess.Popen(command("check", *scenarios), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None
    # The reader leaves before the command writes (as `head -1` does once it has its line):
    # with the pipe's only read end closed, the command's first write fails, whenever it comes.
    process.stdout.close()
    status = process.wait(TIMEOUT)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert status == EXIT_BROKEN_PIPE
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
