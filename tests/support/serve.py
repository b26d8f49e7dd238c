"""Run `smsc-harness serve` as a real process, as a user would, and stop it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
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
            _drain(process)
            return int(found.group(1)), int(found.group(2))
    raise AssertionError("serve never said which ports it listens on")


_DRAINS: dict[int, tuple[threading.Thread, list[str]]] = {}


def _drain(process: subprocess.Popen[str]) -> None:
    """Read serve's output from now on in a thread, so that a full pipe never blocks its
    reactor (a test that does not read it would otherwise freeze serve at its first 64 KB)."""
    lines: list[str] = []
    assert process.stdout is not None
    thread = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    thread.start()
    _DRAINS[process.pid] = (thread, lines)


def output(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """What serve wrote after its banner, once it has exited."""
    thread, lines = _DRAINS.pop(process.pid)
    thread.join(timeout)
    return "".join(lines)


def stop_serve(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    """SIGTERM (SIGINT may be ignored in a background CI process), then wait; kill if stuck."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("serve did not stop on SIGTERM")
