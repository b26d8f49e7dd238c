"""`smsc-harness serve` as a user runs it: a real process, real TCP, a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest_twisted
from twisted.internet import threads

from smsc.esme import connect_esme
from smsc.pdu.receipt import parse_receipt
from tests.support.serve import command, read_banner, start_serve, stop_serve

TIMEOUT = 20.0


@pytest_twisted.ensureDeferred
async def test_serve_on_defaults_delivers_a_receipt(tmp_path: Path) -> None:
    from twisted.internet import reactor
    db = tmp_path / "serve.db"
    process = start_serve(tmp_path, "--db", str(db))
    try:
        port, _ = await threads.deferToThread(read_banner, process).addTimeout(TIMEOUT, reactor)
        esme = await connect_esme(reactor, "127.0.0.1", port)
        bound = await esme.bind("demo", "demo", "transceiver").addTimeout(TIMEOUT, reactor)
        assert bound.command_status == 0
        resp = await esme.submit("+33612345678", b"from the README").addTimeout(TIMEOUT, reactor)
        assert resp.command_status == 0
        receipt = parse_receipt(await esme.delivered.get().addTimeout(TIMEOUT, reactor))
        assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "DELIVRD"
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        returncode = stop_serve(process)
    assert returncode == 0
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT state FROM messages").fetchall() == [("delivered",)]


def test_bad_config_stops_start_up_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "net.yaml"
    bad.write_text("operators:\n  - id: orange\n    name: Orange\n    carriers: [Orange France]\n"
                   "    smsc:\n      receipt_delay: slow\naccounts: []\n")
    result = subprocess.run(command("serve", "--config", str(bad), "--port", "0"), capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env={**os.environ})
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(str(bad))]
    assert line.startswith(f"{bad}:6:22: operators[0].smsc.receipt_delay: expected a delay: a number of seconds >= 0")
    assert line.endswith(', got "slow"')
