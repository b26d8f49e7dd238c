"""`smsc-harness serve` as a user runs it: a real process, real TCP, a real SQLite file."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import threads

from smsc.esme import connect_esme
from smsc.pdu.receipt import parse_receipt

TIMEOUT = 20.0


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator.main", *args]


def _wait_for_port(process: subprocess.Popen[str]) -> int:
    """Read the process's stdout until the 'SMPP server on host:port' line (bounded)."""
    assert process.stdout is not None
    for _ in range(200):
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"SMPP server on 127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError("serve never said which port it listens on")


@pytest_twisted.ensureDeferred
async def test_serve_on_defaults_delivers_a_receipt(tmp_path: Path) -> None:
    from twisted.internet import reactor
    db = tmp_path / "serve.db"
    process = subprocess.Popen(_command("serve", "--port", "0", "--db", str(db)), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        port = await threads.deferToThread(_wait_for_port, process).addTimeout(TIMEOUT, reactor)
        esme = await connect_esme(reactor, "127.0.0.1", port)
        bound = await esme.bind("demo", "demo", "transceiver").addTimeout(TIMEOUT, reactor)
        assert bound.command_status == 0
        resp = await esme.submit("+33612345678", b"from the README").addTimeout(TIMEOUT, reactor)
        assert resp.command_status == 0
        receipt = parse_receipt(await esme.delivered.get().addTimeout(TIMEOUT, reactor))
        assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "DELIVRD"
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT state FROM messages").fetchall() == [("delivered",)]


def test_bad_config_stops_start_up_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "net.yaml"
    bad.write_text("operators:\n  - id: orange\n    name: Orange\n    carriers: [Orange France]\n"
                   "    smsc:\n      receipt_delay: slow\naccounts: []\n")
    result = subprocess.run(_command("serve", "--config", str(bad), "--port", "0"), capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env={**os.environ})
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(str(bad))]
    assert line.startswith(f"{bad}:6:22: operators[0].smsc.receipt_delay: expected a delay: a number of seconds >= 0")
    assert line.endswith(', got "slow"')
