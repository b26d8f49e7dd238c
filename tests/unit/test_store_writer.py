"""The store's writer thread (`serve`): group commit, callbacks after the commit, a locked
database that holds writes back without blocking the caller, ids that never go back.

The reactor is played by the test: `FromThread` collects what the writer thread hands back
(`callFromThread`), and the test runs it, as the reactor thread would."""

from __future__ import annotations

import queue
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator.store import MessageState, Store
from tests.unit.test_store import T0, Recorder, make_msg, raw_count

WAIT = 10.0


class FromThread:
    """Fake reactor.callFromThread: queues the call for the test (the 'reactor') to run."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[tuple[Callable[..., object], tuple[object, ...]]] = queue.SimpleQueue()

    def __call__(self, fn: Callable[..., object], *args: object) -> None:
        self.calls.put((fn, args))

    def run_next(self) -> str:
        fn, args = self.calls.get(timeout=WAIT)
        fn(*args)
        return getattr(fn, "__name__", "?")

    def run_until(self, name: str) -> list[str]:
        ran: list[str] = []
        while not ran or ran[-1] != name:
            ran.append(self.run_next())
        return ran


def our_id(n: int) -> str:
    return f"{n:016x}"


@pytest.fixture
def parts(tmp_path: Path):  # type: ignore[no-untyped-def]
    rec, calls = Recorder(), FromThread()
    store = Store(tmp_path / "w.db", schedule=rec, call_from_thread=calls)
    yield store, rec, calls, tmp_path / "w.db"
    store.close()


def test_callbacks_run_only_after_the_commit_of_what_came_before(parts) -> None:  # type: ignore[no-untyped-def]
    store, rec, calls, db = parts
    acked: list[int] = []
    store.add_message(make_msg(1, id=our_id(1)))
    store.after_commit(acked.append, 1)
    store.add_message(make_msg(2, id=our_id(2)))
    store.after_commit(acked.append, 2)
    assert acked == [] and raw_count(db, "messages") == 0
    rec.run_all()                                    # the flush timer: the batch goes to the writer
    assert acked == []
    calls.run_until("_committed")
    assert acked == [1, 2] and raw_count(db, "messages") == 2


def test_writes_made_while_a_commit_runs_form_the_next_batch(parts) -> None:  # type: ignore[no-untyped-def]
    store, rec, calls, db = parts
    acked: list[int] = []
    store.add_message(make_msg(1, id=our_id(1)))
    store.after_commit(acked.append, 1)
    rec.run_all()                                    # batch 1 in flight
    for i in range(2, 50):                           # they wait for batch 1's commit
        store.add_message(make_msg(i, id=our_id(i)))
        store.after_commit(acked.append, i)
    calls.run_until("_committed")                    # batch 1 commits, batch 2 is handed over at once
    assert acked == [1]
    calls.run_until("_committed")
    assert acked == list(range(1, 50)) and raw_count(db, "messages") == 49


def test_a_callback_with_nothing_pending_runs_at_once_and_one_after_a_batch_in_flight_waits(parts) -> None:  # type: ignore[no-untyped-def]
    store, rec, calls, _ = parts
    acked: list[str] = []
    store.after_commit(acked.append, "now")
    assert acked == ["now"]
    store.add_message(make_msg(1, id=our_id(1)))
    rec.run_all()
    store.after_commit(acked.append, "after batch 1")     # no new write: waits for the one in flight
    assert acked == ["now"]
    calls.run_until("_committed")
    assert acked == ["now", "after batch 1"]


def test_a_locked_database_holds_writes_back_without_blocking_and_loses_nothing(parts) -> None:  # type: ignore[no-untyped-def]
    store, rec, calls, db = parts
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")                  # another process holds the write lock
    acked: list[int] = []
    store.add_message(make_msg(1, id=our_id(1)))
    store.after_commit(acked.append, 1)
    rec.run_all()
    assert calls.run_next() == "_write_failed"        # reported, and retried by the writer
    store.set_state(our_id(1), MessageState.SUBMITTED, T0 + 5, operator_message_id="op-1")
    store.after_commit(acked.append, 2)
    got = store.message(our_id(1))                   # a read does not wait for the lock
    assert got is not None and got.state is MessageState.SUBMITTED and got.operator_message_id == "op-1"
    assert acked == [] and store.uncommitted_messages == 1
    other.execute("COMMIT")
    other.close()
    calls.run_until("_committed")
    assert acked == [1]
    calls.run_until("_committed")
    assert acked == [1, 2]
    assert [e.state for e in store.history(our_id(1))] == [MessageState.SUBMITTED]


def test_flush_waits_for_every_commit_and_close_commits_the_rest(tmp_path: Path) -> None:
    calls = FromThread()
    store = Store(tmp_path / "w.db", call_from_thread=calls)
    acked: list[int] = []
    for i in range(1, 4):
        store.add_message(make_msg(i, id=our_id(i)))
    store.after_commit(acked.append, 1)
    store.flush()                                     # a test or a report reading everything
    assert acked == [1] and raw_count(tmp_path / "w.db", "messages") == 3
    store.add_message(make_msg(4, id=our_id(4)))
    store.close()
    assert raw_count(tmp_path / "w.db", "messages") == 4


def test_message_ids_never_go_back_even_when_rows_are_deleted(tmp_path: Path) -> None:
    db = tmp_path / "ids.db"
    store = Store(db)
    store.add_message(make_msg(1, id=our_id(0x41)))
    store.add_message(make_msg(2, id=our_id(0x42)))
    store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM messages")         # retention, or a user with the sqlite3 CLI
    reopened = Store(db)
    assert reopened.next_message_number() == 0x43
    reopened.close()
