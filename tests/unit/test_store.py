"""aggregator.store against a real SQLite file: round-trips, history, batching, WAL, reopen."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aggregator.clock import iso
from aggregator.store import MessageEvent, MessageRecord, MessageState, ReceiptRecord, Store

T0 = 1_796_000_000.0


def make_msg(i: int, created_at: float | None = None, **kw: object) -> MessageRecord:
    fields: dict[str, object] = dict(
        id=f"msg-{i:06d}",
        account="acme",
        source_addr="ACME",
        source_addr_ton=5,
        destination_addr=f"+336{i:08d}",
        operator_id="orange-fr",
        operator_message_id=None,
        state=MessageState.ACCEPTED,
        registered_delivery=1,
        data_coding=0,
        esm_class=0,
        short_message=f"hello {i}".encode(),
        created_at=T0 + i if created_at is None else created_at,
    )
    fields.update(kw)
    return MessageRecord(**fields)  # type: ignore[arg-type]


class Recorder:
    """Fake `schedule` (reactor.callLater): records calls, runs nothing until told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> object:
        self.calls.append((delay, fn))
        return object()

    def run_all(self) -> None:
        calls, self.calls = self.calls, []
        for _, fn in calls:
            fn()


def raw_count(path: Path, table: str) -> int:
    """Count rows through an independent plain sqlite3 connection (sees committed data only)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "aggregator.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(str(db_path))
    yield s
    s.close()


def test_add_set_state_receipt_round_trip(store: Store) -> None:
    msg = make_msg(1, short_message=b"\x00\xffbinary\x1b")
    store.add_message(msg)
    store.flush()
    assert store.message(msg.id) == msg

    store.set_state(
        msg.id, MessageState.SUBMITTED, T0 + 2, "submit_sm_resp OK",
        operator_message_id="op-42", submitted_at=T0 + 2,
    )
    store.set_state(msg.id, MessageState.DELIVERED, T0 + 5, "DELIVRD", done_at=T0 + 5, error_code=0)
    rec = ReceiptRecord(
        message_id=msg.id,
        operator_message_id="op-42",
        stat="DELIVRD",
        err="000",
        text=(
            "id:op-42 sub:001 dlvrd:001 submit date:2611291948 done date:2611291948"
            " stat:DELIVRD err:000 text:hello 1"
        ),
        received_at=T0 + 5,
    )
    store.add_receipt(rec)

    got = store.message(msg.id)
    assert got is not None
    assert got.state is MessageState.DELIVERED
    assert got.operator_message_id == "op-42"
    assert (got.submitted_at, got.done_at, got.error_code) == (T0 + 2, T0 + 5, 0)
    assert got.short_message == b"\x00\xffbinary\x1b"
    assert store.receipts(msg.id) == [rec]
    assert store.receipts("nope") == []
    assert store.message("nope") is None


def test_readable_iso_columns(store: Store, db_path: Path) -> None:
    store.add_message(make_msg(1, created_at=T0 + 0.123))
    store.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1, submitted_at=T0 + 1.5)
    store.flush()
    conn = sqlite3.connect(db_path)
    row = conn.execute(
        "SELECT created_iso, submitted_iso, done_iso FROM messages ORDER BY id"
    ).fetchone()
    ev = conn.execute("SELECT at_iso FROM message_events ORDER BY message_id, seq").fetchone()
    conn.close()
    assert row == (iso(T0 + 0.123), iso(T0 + 1.5), None)
    assert ev == (iso(T0 + 1),)


def test_history_is_ordered_per_message(store: Store) -> None:
    store.add_message(make_msg(1))
    store.add_message(make_msg(2))
    store.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1, "a")
    store.set_state("msg-000002", MessageState.REJECTED, T0 + 1, "no route", error_code=0x0B)
    store.flush()
    # a later batch continues the numbering (seq computed from what is stored)
    store.set_state("msg-000001", MessageState.DELIVERED, T0 + 3, "b")
    store.set_state("msg-000001", MessageState.DELIVERED, T0 + 3, "dup receipt")

    assert store.history("msg-000001") == [
        MessageEvent("msg-000001", 1, T0 + 1, MessageState.SUBMITTED, "a"),
        MessageEvent("msg-000001", 2, T0 + 3, MessageState.DELIVERED, "b"),
        MessageEvent("msg-000001", 3, T0 + 3, MessageState.DELIVERED, "dup receipt"),
    ]
    assert store.history("msg-000002") == [
        MessageEvent("msg-000002", 1, T0 + 1, MessageState.REJECTED, "no route"),
    ]
    assert store.history("unknown") == []


def test_set_state_on_pending_add_applies_in_order(store: Store) -> None:
    """Updates queued after an add in the same batch land on the inserted row, last one wins."""
    store.add_message(make_msg(7))
    store.set_state("msg-000007", MessageState.SUBMITTED, T0 + 1, operator_message_id="x",
                    submitted_at=T0 + 1)
    store.set_state("msg-000007", MessageState.UNDELIVERABLE, T0 + 2, error_code=1, done_at=T0 + 2)
    store.add_receipt(ReceiptRecord("msg-000007", "x", "UNDELIV", "001", "stat:UNDELIV", T0 + 2))
    store.flush()
    got = store.message("msg-000007")
    assert got == make_msg(
        7, operator_message_id="x", state=MessageState.UNDELIVERABLE,
        submitted_at=T0 + 1, done_at=T0 + 2, error_code=1,
    )
    assert [e.state for e in store.history("msg-000007")] == [
        MessageState.SUBMITTED, MessageState.UNDELIVERABLE,
    ]


def test_merged_updates_of_stored_message(store: Store) -> None:
    """Successive updates in one batch of an already-stored row behave as if applied one by one."""
    store.add_message(make_msg(1))
    store.add_message(make_msg(2))
    store.flush()
    store.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1, operator_message_id="o1",
                    submitted_at=T0 + 1)
    store.set_state("msg-000002", MessageState.EXPIRED, T0 + 1, done_at=T0 + 1)
    store.set_state("msg-000001", MessageState.DELIVERED, T0 + 2, done_at=T0 + 2)
    store.flush()
    m1, m2 = store.message("msg-000001"), store.message("msg-000002")
    assert m1 is not None and m2 is not None
    assert (m1.state, m1.operator_message_id, m1.submitted_at, m1.done_at) == (
        MessageState.DELIVERED, "o1", T0 + 1, T0 + 2,
    )
    assert (m2.state, m2.operator_message_id, m2.submitted_at, m2.done_at) == (
        MessageState.EXPIRED, None, None, T0 + 1,
    )


def test_batching_schedules_one_flush_and_writes_nothing_before(db_path: Path) -> None:
    rec = Recorder()
    store = Store(str(db_path), schedule=rec, flush_interval=0.005)
    try:
        for i in range(500):
            store.add_message(make_msg(i))
            store.set_state(f"msg-{i:06d}", MessageState.SUBMITTED, T0 + i)
            store.add_receipt(ReceiptRecord(f"msg-{i:06d}", f"o{i}", "DELIVRD", "000", "t", T0 + i))

        assert len(rec.calls) == 1
        assert rec.calls[0][0] == 0.005
        for table in ("messages", "message_events", "receipts"):
            assert raw_count(db_path, table) == 0

        rec.run_all()  # the reactor fires the single delayed call
        assert raw_count(db_path, "messages") == 500
        assert raw_count(db_path, "message_events") == 500
        assert raw_count(db_path, "receipts") == 500

        # the next write after that flush arms exactly one new flush
        store.set_state("msg-000000", MessageState.DELIVERED, T0 + 9)
        store.set_state("msg-000001", MessageState.DELIVERED, T0 + 9)
        assert len(rec.calls) == 1
        assert raw_count(db_path, "message_events") == 500
        rec.run_all()
        assert raw_count(db_path, "message_events") == 502
    finally:
        store.close()


def test_explicit_flush_does_not_double_schedule(db_path: Path) -> None:
    rec = Recorder()
    store = Store(str(db_path), schedule=rec)
    store.add_message(make_msg(1))
    store.flush()
    store.add_message(make_msg(2))  # still covered by the flush armed for msg 1
    assert len(rec.calls) == 1
    assert raw_count(db_path, "messages") == 1
    rec.run_all()
    assert raw_count(db_path, "messages") == 2
    store.close()
    rec.run_all()  # nothing armed; a late callback after close would be a no-op anyway


def test_no_schedule_means_explicit_flush_only(db_path: Path) -> None:
    store = Store(str(db_path))
    store.add_message(make_msg(1))
    assert raw_count(db_path, "messages") == 0
    store.flush()
    assert raw_count(db_path, "messages") == 1
    store.close()


def test_reads_flush_pending_writes(store: Store, db_path: Path) -> None:
    store.add_message(make_msg(1))
    assert raw_count(db_path, "messages") == 0
    assert [m.id for m in store.messages()] == ["msg-000001"]
    assert raw_count(db_path, "messages") == 1


def test_wal_and_synchronous(store: Store, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_scratch_store_writes_the_same_rows_without_a_journal_on_disk(tmp_path: Path) -> None:
    """A replay's store (scratch): journal in memory, no syncs, and the same rows as a durable one."""
    dumps = []
    for scratch in (False, True):
        path = tmp_path / f"{scratch}.db"
        store = Store(str(path), scratch=scratch)
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == ("memory" if scratch else "wal")
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == (0 if scratch else 1)
        for i in range(3):
            store.add_message(make_msg(i))
        store.flush()
        store.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1)
        store.add_receipt(ReceiptRecord(message_id="msg-000001", operator_message_id="op-1", stat="DELIVRD",
                                        err="000", text="id:op-1 stat:DELIVRD", received_at=T0 + 2))
        store.close()
        conn = sqlite3.connect(path)
        dumps.append([line for line in conn.iterdump()])
        conn.close()
        assert not (tmp_path / f"{scratch}.db-journal").exists()
    assert dumps[0] == dumps[1]


def test_flushes_per_write_commits_one_scheduled_flush_in_n_and_counts_uncommitted_as_if_each_had(
        tmp_path: Path) -> None:
    """A replay's store: flushes 1 and 2 of 3 only mark (uncommitted_messages counts from the
    mark, as if they had committed), the 3rd writes; the rows are those of a store that writes
    every flush; a read writes everything at once."""
    dumps = []
    for per_write in (1, 3):
        path = tmp_path / f"{per_write}.db"
        rec = Recorder()
        store = Store(str(path), schedule=rec, flush_interval=5.0, scratch=True, flushes_per_write=per_write)
        written = []
        for tick in range(7):
            store.add_message(make_msg(2 * tick))
            store.add_message(make_msg(2 * tick + 1))
            if tick:
                store.set_state(f"msg-{2 * tick - 1:06d}", MessageState.SUBMITTED, T0 + tick, operator_id="sfr-fr")
            assert store.uncommitted_messages == 2
            assert len(rec.calls) == 1          # one flush armed per batch of writes, as always
            rec.run_all()
            assert store.uncommitted_messages == 0
            written.append(raw_count(path, "messages"))
        if per_write == 3:
            assert written == [0, 0, 6, 6, 6, 12, 12]
            store.add_message(make_msg(99))
            assert store.count_messages() == 15     # a read writes what is pending
            assert raw_count(path, "messages") == 15
        else:
            assert written == [2, 4, 6, 8, 10, 12, 14]
            store.add_message(make_msg(99))
        store.close()
        conn = sqlite3.connect(path)
        dumps.append(list(conn.iterdump()))
        conn.close()
    assert dumps[0] == dumps[1]
    with pytest.raises(ValueError):
        Store(":memory:", flushes_per_write=0)


def test_scratch_store_has_no_writer_thread(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scratch"):
        Store(str(tmp_path / "s.db"), scratch=True, call_from_thread=lambda f, *a: f(*a))


def test_reopen_keeps_data(db_path: Path) -> None:
    s1 = Store(str(db_path))
    s1.add_message(make_msg(1))
    s1.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1)
    s1.close()  # close flushes

    s2 = Store(str(db_path))
    got = s2.message("msg-000001")
    assert got is not None and got.state is MessageState.SUBMITTED
    s2.set_state("msg-000001", MessageState.DELIVERED, T0 + 2)
    assert [e.seq for e in s2.history("msg-000001")] == [1, 2]
    s2.close()


def test_messages_order_and_filter_and_counts(store: Store) -> None:
    # created out of id order, with a tie on created_at broken by id
    store.add_message(make_msg(3, created_at=T0 + 1))
    store.add_message(make_msg(1, created_at=T0 + 2))
    store.add_message(make_msg(2, created_at=T0 + 1))
    store.add_message(make_msg(4, created_at=T0 + 0))
    store.set_state("msg-000001", MessageState.DELIVERED, T0 + 5)
    store.set_state("msg-000004", MessageState.DELIVERED, T0 + 5)
    store.set_state("msg-000002", MessageState.REJECTED, T0 + 5)

    assert [m.id for m in store.messages()] == [
        "msg-000004", "msg-000002", "msg-000003", "msg-000001",
    ]
    assert [m.id for m in store.messages(MessageState.DELIVERED)] == ["msg-000004", "msg-000001"]
    assert store.messages(MessageState.EXPIRED) == []
    assert store.count_by_state() == {
        "accepted": 1, "submitted": 0, "delivered": 2,
        "undeliverable": 0, "rejected": 1, "expired": 0,
    }


def test_memory_database() -> None:
    s = Store(":memory:")
    s.add_message(make_msg(1))
    assert s.count_by_state()["accepted"] == 1
    s.close()


def test_bad_calls_fail_at_call_time(store: Store) -> None:
    store.add_message(make_msg(1))
    with pytest.raises(ValueError):
        store.add_message(make_msg(1))
    with pytest.raises(TypeError):
        store.set_state("msg-000001", MessageState.SUBMITTED, T0, account="evil")
    with pytest.raises(ValueError):
        store.set_state("msg-000001", "bogus", T0)  # type: ignore[arg-type]
    store.close()
    with pytest.raises(RuntimeError):
        store.add_message(make_msg(2))


def test_failed_flush_rolls_back_and_keeps_queue(store: Store, db_path: Path) -> None:
    store.add_message(make_msg(1))
    store.flush()
    store.add_message(make_msg(2))
    store.add_message(make_msg(1))  # duplicate of a stored row: only SQLite can tell
    with pytest.raises(sqlite3.IntegrityError):
        store.flush()
    assert raw_count(db_path, "messages") == 1  # msg 2 was rolled back with the batch
    assert len(store._open.adds) == 2  # nothing lost
    store._open.adds.pop("msg-000001")  # (test-only) drop the bad row
    store.flush()
    assert raw_count(db_path, "messages") == 2


def test_state_enum_values() -> None:
    assert [s.value for s in MessageState] == [
        "accepted", "submitted", "delivered", "undeliverable", "rejected", "expired",
    ]
    assert MessageState("delivered") is MessageState.DELIVERED
    assert isinstance(MessageState.DELIVERED, str)


def test_ledger_and_event_counts(store: Store) -> None:
    store.add_message(make_msg(1))
    store.add_message(make_msg(2))
    store.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1)
    store.set_state("msg-000001", MessageState.ACCEPTED, T0 + 2, "retry")
    store.set_state("msg-000001", MessageState.DELIVERED, T0 + 3)
    store.bill("acme", "msg-000001", 1, T0)
    store.bill("acme", "msg-000002", 3, T0)
    assert store.count_ledger() == 2 and store.count_ledger("nobody") == 0
    assert store.billed_segments("acme") == 4
    assert store.count_events() == 3
    assert store.count_events(MessageState.ACCEPTED) == 1
    account = store.message("msg-000001").account  # type: ignore[union-attr]
    assert store.count_events(account=account) == 3 and store.count_events(account="nobody") == 0
