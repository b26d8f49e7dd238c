"""The store's batch writer: many rows per statement (and UPDATE ... FROM) write exactly what
one statement per row writes, and event seqs counted in memory are those the store would give."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import aggregator.store as store_module
from aggregator.store import MessageEvent, MessageState, ReceiptRecord, Store
from tests.unit.test_store import T0, make_msg

_TABLES = ("messages", "message_events", "receipts", "deliveries", "ledger", "counters")


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in _TABLES}
    finally:
        conn.close()


def _life(store: Store, count: int) -> None:
    """``count`` messages through their life over three batches, as `serve` writes them:
    accepted and billed; submitted (some with their receipt in the same batch); the receipts'
    deliveries acknowledged, one twice (the last wins), a receipt after a final state."""
    for i in range(count):
        store.add_message(make_msg(i, id=f"{i + 1:016x}", created_at=T0 + i / 7))
        store.set_state(f"{i + 1:016x}", MessageState.ACCEPTED, T0 + i / 7, "accepted")
        store.bill("acme", f"{i + 1:016x}", 1 + i % 2, T0 + i / 7, 0.001 * i)
    store.flush()
    deliveries = []
    for i in range(count):
        mid, at = f"{i + 1:016x}", T0 + 10 + i / 3
        store.set_state(mid, MessageState.SUBMITTED, at, "submitted", operator_message_id=f"op{i}",
                        submitted_at=at, attempts=1)
        if i % 3:
            store.add_receipt(ReceiptRecord(mid, f"op{i}", "DELIVRD", "000", f"id:op{i} stat:DELIVRD", at))
            store.set_state(mid, MessageState.DELIVERED, at, "receipt", done_at=at, error_code=0)
            deliveries.append(store.add_delivery("acme", "receipt", mid, b"pdu%d" % i, at))
        if i % 5 == 0:
            store.set_state(mid, MessageState.DELIVERED, at, "late duplicate receipt")
    store.flush()
    for n, record in enumerate(deliveries):
        store.delivery_done(record.id, T0 + 20 + n, "gone" if n % 4 == 0 else None)
        if n % 6 == 0:
            store.delivery_done(record.id, T0 + 21 + n)
    store.flush()


@pytest.mark.parametrize("count", [0, 1, 2, 3, 36, 37, 38, 75, 100])
def test_multi_row_statements_write_what_row_by_row_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           count: int) -> None:
    fast = Store(str(tmp_path / "fast.db"))
    _life(fast, count)
    fast.close()

    # The general path: one row per statement, UPDATE ... WHERE id = ? per row.
    monkeypatch.setattr(store_module, "_MAX_PARAMS", 1)          # one row per statement
    monkeypatch.setattr(store_module, "_UPDATE_FROM", False)
    slow = Store(str(tmp_path / "slow.db"))
    _life(slow, count)
    slow.close()

    assert _dump(tmp_path / "fast.db") == _dump(tmp_path / "slow.db")


def test_chunks_cover_every_row_once_in_order() -> None:
    for per in (1, 2, 27, 37, 999):
        for total in range(0, 3 * per + 5):
            chunks = list(store_module._chunks(total, per))
            assert [s for s, _ in chunks] == [sum(c for _, c in chunks[:k]) for k in range(len(chunks))]
            assert sum(c for _, c in chunks) == total and all(1 <= c <= per for _, c in chunks)


def test_event_seq_across_final_states_reopen_and_unknown_ids(tmp_path: Path) -> None:
    """seq is counted in memory for unfinished messages, loaded again on reopen, and looked up
    in the store for the others (a final message, an id never added), even within a batch."""
    path = tmp_path / "s.db"
    s1 = Store(str(path))
    s1.add_message(make_msg(1))
    s1.add_message(make_msg(2))
    s1.set_state("msg-000001", MessageState.SUBMITTED, T0 + 1, "a")
    s1.set_state("msg-000002", MessageState.REJECTED, T0 + 1, "no route")
    s1.set_state("ghost", MessageState.DELIVERED, T0 + 1, "unknown id")
    s1.flush()
    s1.set_state("msg-000002", MessageState.DELIVERED, T0 + 2, "after final")
    s1.set_state("ghost", MessageState.DELIVERED, T0 + 2, "again")
    s1.close()

    s2 = Store(str(path))
    assert s2._seqs == {"msg-000001": 1}        # only the unfinished message is followed
    s2.set_state("msg-000001", MessageState.DELIVERED, T0 + 3, "b")
    s2.set_state("msg-000001", MessageState.DELIVERED, T0 + 3, "c")     # after final, same batch
    s2.set_state("msg-000002", MessageState.DELIVERED, T0 + 3, "d")
    assert [(e.seq, e.detail) for e in s2.history("msg-000001")] == [(1, "a"), (2, "b"), (3, "c")]
    assert [(e.seq, e.detail) for e in s2.history("msg-000002")] == [(1, "no route"), (2, "after final"),
                                                                      (3, "d")]
    assert s2.history("ghost") == [MessageEvent("ghost", 1, T0 + 1, MessageState.DELIVERED, "unknown id"),
                                   MessageEvent("ghost", 2, T0 + 2, MessageState.DELIVERED, "again")]
    assert s2._seqs == {}
    s2.close()


@pytest.mark.parametrize("changes", [
    {},
    {"state": "submitted", "operator_message_id": "op1", "submitted_at": T0 + 1.2345, "attempts": 1},
    {"state": "delivered", "done_at": T0 + 9.9996, "error_code": 0, "submitted_at": None},
])
def test_message_params_give_what_the_row_path_gives(changes: dict[str, object]) -> None:
    """The messages' INSERT parameters, built straight from the record (the hot path), equal
    the general path's: the record's row with the changes, through ``_Table.params``."""
    general = store_module._MESSAGES.params()
    for record in (make_msg(1), make_msg(2, short_message=bytearray(b"\x00\xff"), tlvs=b"\x14\x00\x00\x01x",
                                         campaign="c1", deadline=T0 + 60, done_at=T0 + 0.0005)):
        row = {**store_module._row(record, store_module._MESSAGE_CODEC), **changes}
        assert store_module._message_params(record, changes, store_module.iso) == general(row)
