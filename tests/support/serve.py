"""Run `smsc-harness serve` as a real process, as a user would, and stop it cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BANNER = re.compile(r"SMPP server on 127\.0\.0\.1:(\d+).*control API on http://127\.0\.0\.1:(\d+)"
                    r"(?:, token in (?P<control_file>.+?)(?:; simulated time x[0-9.e+]+)?\); Ctrl-C stops)?")


@dataclass(frozen=True)
class Banner:
    line: str
    index: int                            # how many lines came before it (0: the first)
    smpp_port: int
    control_port: int
    control_file: Path | None             # where serve wrote the control API's URL and token


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def start_serve(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command("serve", "--port", "0", "--control-port", "0", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)


def read_banner(process: subprocess.Popen[str]) -> tuple[int, int]:
    """(SMPP port, control API port), read from serve's first lines (bounded; blocking: run it
    in a thread from reactor code)."""
    banner = read_full_banner(process)
    return banner.smpp_port, banner.control_port


def read_full_banner(process: subprocess.Popen[str]) -> Banner:
    """serve's banner line, the ports and the control file it names (bounded; blocking)."""
    assert process.stdout is not None
    for index in range(200):
        line = process.stdout.readline()
        if not line:
            break
        found = BANNER.search(line)
        if found:
            control_file = found.group("control_file")
            _drain(process)
            return Banner(line.rstrip("\n"), index, int(found.group(1)), int(found.group(2)),
                          None if control_file is None else Path(control_file))
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


def control_get(banner: Banner, path: str = "/status") -> object:
    """GET a path of serve's control API with the token from its control file (blocking:
    run it in a thread from reactor code)."""
    assert banner.control_file is not None, "serve's banner names no control file"
    found = json.loads(banner.control_file.read_text())
    request = urllib.request.Request(f"{found['url']}{path}", headers={"Authorization": f"Bearer {found['token']}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        return json.loads(answer.read())
