"""R3 `release` on a real `serve`: a campaign suspended for traffic skew refuses its next
submit (RULE_SKEW_SUSPENDED) and holds its queued message; `smsc-harness release` (POST
/skew/release) sends it on, and says clearly what it cannot release. Real processes, real TCP
on 127.0.0.1, a real store read from this process to see the held message."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest_twisted
from twisted.internet import threads

from aggregator.server import CAMPAIGN_ID_TAG
from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Tlv
from smsc.pdu.status import CommandStatus
from tests.support.serve import command, read_banner, start_serve, stop_serve

TIMEOUT = 30.0
DEFAULT_NETWORK = Path(__file__).resolve().parents[2] / "aggregator" / "default_network.yaml"
FREE = ("+33651000001", "+33651000002", "+33651000003", "+33651000004")   # all Free Mobile
PROMO = (Tlv(CAMPAIGN_ID_TAG, b"promo"),)


def release(cwd: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("release", *args, "--db", str(db)), capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env={**os.environ})


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=TIMEOUT)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _wait_for(db: Path, sql: str, want: int) -> None:
    """Until `sql` (a COUNT) reaches `want` in serve's committed store; bounded."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if db.exists() and _query(db, sql)[0][0] >= want:
            return
        time.sleep(0.05)                                  # a real process's commit: real time
    raise AssertionError(f"never {want}: {sql}")


async def _submit(reactor: object, esme: Esme, number: str) -> int:
    resp = await esme.submit(number, b"promo", tlvs=PROMO).addTimeout(TIMEOUT, reactor)
    return int(resp.command_status)


@pytest_twisted.ensureDeferred
async def test_a_suspended_campaign_is_released_from_the_command_line(tmp_path: Path) -> None:
    from twisted.internet import reactor
    config = tmp_path / "net.yaml"
    config.write_text(DEFAULT_NETWORK.read_text() + "\nrules:\n  skew: {action: suspend, min_sample: 3}\n")
    db = tmp_path / "serve.db"
    process = start_serve(tmp_path, "--config", str(config), "--db", str(db), "--log-level", "warn")
    try:
        port, _ = await threads.deferToThread(read_banner, process).addTimeout(TIMEOUT, reactor)
        esme = await connect_esme(reactor, "127.0.0.1", port)
        assert (await esme.bind("demo", "demo", "transceiver").addTimeout(TIMEOUT, reactor)).command_status == 0
        # Two to Free Mobile, sent to the operator before the third tips the split.
        assert [await _submit(reactor, esme, n) for n in FREE[:2]] == [0, 0]
        await threads.deferToThread(_wait_for, db, "SELECT COUNT(*) FROM messages WHERE state != 'accepted'", 2)
        assert await _submit(reactor, esme, FREE[2]) == 0            # 3 of 3 to Free: alert, suspend
        await threads.deferToThread(_wait_for, db, "SELECT COUNT(*) FROM message_events WHERE detail LIKE 'held:%'", 1)
        assert await _submit(reactor, esme, FREE[3]) == CommandStatus.RULE_SKEW_SUSPENDED

        bad = await threads.deferToThread(release, tmp_path, db, "nobody", "promo")
        assert bad.returncode == 1 and bad.stderr.startswith("smsc-harness release: 400 account: no account")
        other = await threads.deferToThread(release, tmp_path, db, "demo")
        assert other.returncode == 1 and other.stderr.startswith("smsc-harness release: 409 demo: its traffic "
                                                                 'without campaign id is not suspended; '
                                                                 'suspended now: ["promo"]')
        done = await threads.deferToThread(release, tmp_path, db, "demo", "promo")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"account": "demo", "campaign": "promo", "released": 1}
        again = await threads.deferToThread(release, tmp_path, db, "demo", "promo")
        assert again.returncode == 1 and "suspended now: none" in again.stderr

        # Released: the held message reaches its operator, and the campaign's submits are taken again.
        await threads.deferToThread(_wait_for, db, "SELECT COUNT(*) FROM messages WHERE state != 'accepted'", 3)
        assert await _submit(reactor, esme, FREE[3]) == 0
        actions = _query(db, "SELECT action FROM rule_events WHERE rule = 'skew' ORDER BY id")
        assert [a for (a,) in actions] == ["alert", "suspend", "refuse", "release"]
        assert esme.conn is not None
        esme.conn.close()
        await esme.closed.addTimeout(TIMEOUT, reactor)
    finally:
        assert stop_serve(process) == 0
