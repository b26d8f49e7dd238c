"""Run `smsc-harness serve` as a real process, as a user would, and stop it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

BANNER = re.compile(r"SMPP server on 127\.0\.0\.1:(\d+).*control API on http://127\.0\.0\.1:(\d+)")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator.main", *args]


def start_serve(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command("serve", "--port", "0", "--control-port", "0", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)


def read_banner(process: subprocess.Popen[str]) -> tuple[int, int]:
    """(SMPP port, control API port), read from serve's first lines (bounded; blocking: run it
    in a thread from reactor code)."""
    assert process.stdout is not None
    for _ in range(200):
        line = process.stdout.readline()
        if not line:
            break
        found = BANNER.search(line)
        if found:
            return int(found.group(1)), int(found.group(2))
    raise AssertionError("serve never said which ports it listens on")


def stop_serve(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    """SIGTERM (SIGINT may be ignored in a background CI process), then wait; kill if stuck."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("serve did not stop on SIGTERM")
