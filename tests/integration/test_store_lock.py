"""Issue 10, point 1: a store that cannot be written never blocks the reactor.

Another process holds the SQLite write lock for 10 s (`BEGIN IMMEDIATE`, as a `sqlite3` CLI
user or a backup script would). Meanwhile `serve` answers every enquire_link within a second,
holds back the submit_sm_resp of what it cannot commit, says in its log what is happening,
and once the lock ends answers them all with nothing lost.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import defer, task, threads

from smsc.esme import connect_esme
from smsc.pdu.codec import Command
from smsc.session import SessionConfig
from tests.support.serve import output, read_banner, start_serve, stop_serve

TIMEOUT = 20.0
LOCK_SECONDS = 10.0
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest_twisted.ensureDeferred
async def test_a_write_lock_held_by_another_process_for_10_s_blocks_nothing_and_loses_nothing(
        tmp_path: Path) -> None:
    from twisted.internet import reactor
    db = tmp_path / "serve.db"
    serve = start_serve(tmp_path, "--db", str(db))
    locker: subprocess.Popen[str] | None = None
    try:
        port, _ = await threads.deferToThread(read_banner, serve).addTimeout(TIMEOUT, reactor)
        esme = await connect_esme(reactor, "127.0.0.1", port, SessionConfig(window=50))
        assert (await esme.bind("demo", "demo", "transceiver").addTimeout(TIMEOUT, reactor)).command_status == 0
        before = await esme.submit("+33612345678", b"before the lock").addTimeout(TIMEOUT, reactor)
        assert before.command_status == 0

        locker = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(LOCK_SECONDS)],
                                  stdout=subprocess.PIPE, text=True)
        assert locker.stdout is not None
        assert (await threads.deferToThread(locker.stdout.readline).addTimeout(TIMEOUT, reactor)).strip() == "locked"
        locked_at = reactor.seconds()

        during = [esme.submit("+33612345678", b"during the lock %d" % i) for i in range(20)]
        answered_early = []
        probes = 0
        while reactor.seconds() - locked_at < LOCK_SECONDS - 1.5:
            sent = reactor.seconds()
            resp = await esme.conn.request(Command.enquire_link).addTimeout(1.0, reactor)  # type: ignore[union-attr]
            assert resp.command is Command.enquire_link_resp and reactor.seconds() - sent < 1.0
            probes += 1
            answered_early = [d for d in during if d.called]
            await task.deferLater(reactor, 0.5, lambda: None)
        assert probes >= 10
        assert answered_early == [], "a submit_sm_resp left before its message was committed"

        resps = await defer.gatherResults(during).addTimeout(TIMEOUT, reactor)
        assert reactor.seconds() - locked_at >= LOCK_SECONDS - 0.5
        assert [r.command_status for r in resps] == [0] * 20
        ids = {str(r["message_id"]) for r in resps}
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        if locker is not None:
            locker.wait(TIMEOUT)
        stop_serve(serve)
    log = output(serve)
    assert "store: cannot commit (database is locked)" in log
    assert "store: committing again after" in log
    with sqlite3.connect(db) as check:
        stored = {row[0] for row in check.execute("SELECT id FROM messages")}
    assert ids <= stored and str(before["message_id"]) in stored
