"""Persistent record of every MT the aggregator accepted, its state history and its receipts.

All SQL of the project lives in this module, and it is the only one that imports
``sqlite_utils``: the rest of the code talks in records (``MessageRecord``...) and never
sees a cursor.

Why writes are batched
----------------------
The aggregator runs on a single Twisted reactor thread. A SQLite commit, even in WAL mode
with ``synchronous=NORMAL``, costs far more than building the row, and a load test pushes
thousands of messages a second, each producing several writes (accepted, submitted,
delivered, receipt). One transaction per write would make the disk the throughput limit
and stall the reactor. So writes are only queued in memory, and ``flush()`` writes the whole
queue in ONE transaction, one ``executemany`` per table. With a ``schedule`` function
(``reactor.callLater``), the first write after a flush arms a single flush a few
milliseconds later: in practice one transaction per reactor turn or per few ms, whatever the
message rate. Reads flush first, so callers always see their own writes.

Ordering inside a batch: a ``set_state`` on a message whose ``add_message`` is still queued
is folded into the queued row, and successive updates of an already-stored message are
merged column by column (last write wins, exactly as applying them one by one would). So
every message ends up as if each call had been applied in order, while the batch needs only
one INSERT and a few UPDATE statements per table. The state history (``message_events``)
keeps every transition, in call order.

Time is passed in as float seconds (the reactor's clock); ``aggregator.clock.iso`` adds a
readable ``*_iso`` column next to every timestamp so the database can be inspected with the
plain ``sqlite3`` CLI.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlite_utils import Database
from twisted.logger import Logger

from aggregator.clock import iso

__all__ = ["DeliveryRecord", "MessageState", "MessageRecord", "MessageEvent", "MoRecord", "ReceiptRecord", "Store",
           "StoreUnavailable"]

log = Logger(namespace="aggregator.store")


class MessageState(StrEnum):
    """Life cycle of an MT inside the aggregator (stored as the lowercase value)."""

    ACCEPTED = "accepted"  # submit_sm_resp sent to the customer, not yet handed to an operator
    SUBMITTED = "submitted"  # operator answered submit_sm_resp OK, waiting for its receipt
    DELIVERED = "delivered"  # operator receipt DELIVRD
    UNDELIVERABLE = "undeliverable"  # operator receipt UNDELIV (or another final failure)
    REJECTED = "rejected"  # operator refused the submit_sm, or no route
    EXPIRED = "expired"  # validity ran out (receipt EXPIRED or our own timeout)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One MT accepted by the aggregator, as stored in ``messages``."""

    id: str  # the aggregator's message_id (returned to the customer in submit_sm_resp)
    account: str  # customer system_id
    source_addr: str
    source_addr_ton: int
    destination_addr: str  # E.164 as routed
    operator_id: str
    operator_message_id: str | None  # the operator's message_id, once it has answered
    state: MessageState
    registered_delivery: int
    data_coding: int
    esm_class: int
    short_message: bytes
    created_at: float
    submitted_at: float | None = None
    done_at: float | None = None
    error_code: int | None = None
    client_destination_addr: str = ""  # the destination as the client wrote it (echoed in receipts)
    dest_addr_ton: int = 1
    deadline: float | None = None  # end of validity (R9), clock seconds
    attempts: int = 0  # submit_sm sent to operators so far
    tlvs: bytes = b""  # the client's optional parameters, as on the wire


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A deliver_sm owed to a client (a receipt or an MO), kept until the client acknowledges
    it, so that nothing waiting for a bind is lost across a restart."""

    id: int
    account: str
    kind: str  # "receipt" | "mo"
    message_id: str | None  # our message id for a receipt
    pdu: bytes  # the encoded deliver_sm (its sequence number is replaced when sent)
    created_at: float


@dataclass(frozen=True, slots=True)
class MoRecord:
    """A mobile-originated message received from an operator."""

    operator_id: str
    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    account: str | None  # owner of the destination short code, None if nobody owns it
    received_at: float


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """One state transition of a message: the audit trail behind ``MessageRecord.state``."""

    message_id: str
    seq: int  # per message, 1-based, in call order
    at: float
    state: MessageState
    detail: str


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    """A delivery receipt (deliver_sm with esm_class receipt bit) received from an operator."""

    message_id: str
    operator_message_id: str
    stat: str  # e.g. "DELIVRD"
    err: str  # 3 digits, e.g. "000"
    text: str  # the receipt's full short_message text
    received_at: float


# --------------------------------------------------------------------------- schema

_MESSAGE_COLUMNS: dict[str, Any] = {
    "id": str,
    "account": str,
    "source_addr": str,
    "source_addr_ton": int,
    "destination_addr": str,
    "operator_id": str,
    "operator_message_id": str,
    "state": str,
    "registered_delivery": int,
    "data_coding": int,
    "esm_class": int,
    "short_message": bytes,
    "created_at": float,
    "created_iso": str,
    "submitted_at": float,
    "submitted_iso": str,
    "done_at": float,
    "done_iso": str,
    "error_code": int,
    "client_destination_addr": str,
    "dest_addr_ton": int,
    "deadline": float,
    "attempts": int,
    "tlvs": bytes,
}
_MESSAGE_NOT_NULL = (
    "id",  # a TEXT primary key would otherwise accept NULL (SQLite legacy quirk)
    "account",
    "source_addr",
    "source_addr_ton",
    "destination_addr",
    "operator_id",
    "state",
    "registered_delivery",
    "data_coding",
    "esm_class",
    "short_message",
    "created_at",
    "created_iso",
)
_EVENT_COLUMNS: dict[str, Any] = {
    "message_id": str,
    "seq": int,
    "at": float,
    "at_iso": str,
    "state": str,
    "detail": str,
}
_RECEIPT_COLUMNS: dict[str, Any] = {
    "id": int,  # INTEGER PRIMARY KEY = rowid, i.e. arrival order
    "message_id": str,
    "operator_message_id": str,
    "stat": str,
    "err": str,
    "text": str,
    "received_at": float,
    "received_iso": str,
}

_DELIVERY_COLUMNS: dict[str, Any] = {
    "id": int,
    "account": str,
    "kind": str,
    "message_id": str,
    "pdu": bytes,
    "created_at": float,
    "created_iso": str,
    "delivered_at": float,
    "delivered_iso": str,
    "failure": str,  # why it was given up instead of acknowledged (NULL when the client answered)
}
_MO_COLUMNS: dict[str, Any] = {
    "id": int,
    "operator_id": str,
    "source_addr": str,
    "destination_addr": str,
    "short_message": bytes,
    "data_coding": int,
    "account": str,
    "received_at": float,
    "received_iso": str,
}
_LEDGER_COLUMNS: dict[str, Any] = {
    "id": int,  # INTEGER PRIMARY KEY = rowid, i.e. billing order
    "account": str,
    "message_id": str,
    "segments": int,
    "at": float,
    "at_iso": str,
}

# Columns set_state() may change besides ``state`` (canonical order: it fixes the UPDATE
# text per column set, so sqlite3's statement cache reuses the prepared statement).
_UPDATABLE = ("operator_id", "operator_message_id", "error_code", "submitted_at", "done_at",
              "attempts")
_UPDATABLE_SET = frozenset(_UPDATABLE)
_TIMESTAMPS = frozenset(("submitted_at", "done_at"))

# --------------------------------------------------------------------------- statements

_INSERT_MESSAGE = (
    "INSERT INTO messages (id, account, source_addr, source_addr_ton, destination_addr,"
    " operator_id, operator_message_id, state, registered_delivery, data_coding, esm_class,"
    " short_message, created_at, created_iso, submitted_at, submitted_iso, done_at, done_iso,"
    " error_code, client_destination_addr, dest_addr_ton, deadline, attempts, tlvs)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, account, kind, message_id, pdu, created_at, created_iso,"
    " delivered_at, delivered_iso, failure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELIVERY_DONE = "UPDATE deliveries SET delivered_at = ?, delivered_iso = ?, failure = ? WHERE id = ?"
_INSERT_MO = (
    "INSERT INTO mo (operator_id, source_addr, destination_addr, short_message, data_coding,"
    " account, received_at, received_iso) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# seq is computed by SQLite from the (message_id, seq) primary key: no per-message counter
# to keep in memory, correct across reopen, and executemany applies rows in order.
_INSERT_EVENT = (
    "INSERT INTO message_events (message_id, seq, at, at_iso, state, detail) VALUES"
    " (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM message_events WHERE message_id = ?1),"
    " ?2, ?3, ?4, ?5)"
)
_INSERT_LEDGER = "INSERT INTO ledger (account, message_id, segments, at, at_iso) VALUES (?, ?, ?, ?, ?)"
_INSERT_RECEIPT = (
    "INSERT INTO receipts (message_id, operator_message_id, stat, err, text, received_at,"
    " received_iso) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# The message-id counter only ever goes up: written in the same transaction as the messages it
# numbered, so an id handed to a client (after that commit) is never handed out again, even
# if rows are later deleted (retention) or the process dies at any instant.
_RAISE_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)"
)

_SELECT_MESSAGES = "SELECT * FROM messages"
_ORDER_MESSAGES = " ORDER BY created_at, id"


class StoreUnavailable(RuntimeError):
    """A read could not be answered because the database could not be reached in time
    (locked by another process, disk error); the caller answers its client with an error
    instead of blocking the reactor."""


class _Batch:
    """The changes of one transaction, and what waits for it to commit.

    Adds are kept as mutable column dicts so a set_state() in the same batch folds into the
    INSERT; updates of stored messages are merged per message.  `acks` are the callbacks
    (a submit_sm_resp, a deliver_sm_resp to an operator...) that may only run once every
    change made before them is committed."""

    __slots__ = ("adds", "updates", "events", "receipts", "deliveries", "deliveries_done", "mos", "ledger",
                 "acks", "committed")

    def __init__(self) -> None:
        self.adds: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, float, str, str]] = []
        self.receipts: list[ReceiptRecord] = []
        # Deliveries not yet written, by id, with their acknowledgement time if it came
        # before the write (then the row is written done, with no UPDATE).
        self.deliveries: dict[int, tuple[DeliveryRecord, float | None, str | None]] = {}
        self.deliveries_done: list[tuple[float, str, str | None, int]] = []
        self.mos: list[MoRecord] = []
        self.ledger: list[tuple[str, str, int, float]] = []
        self.acks: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        self.committed = False

    def has_writes(self) -> bool:
        return bool(self.adds or self.updates or self.events or self.receipts or self.deliveries
                    or self.deliveries_done or self.mos or self.ledger)


def _write(db: Database, batch: _Batch) -> None:
    """Write a batch in ONE transaction, one executemany per table, in call order. Rolls back
    and raises on error, leaving the batch as it was (so it can be written again)."""
    conn = db.conn
    with db.atomic():
        if batch.adds:
            conn.executemany(_INSERT_MESSAGE, map(_message_params, batch.adds.values()))
            number = _message_number(next(reversed(batch.adds)))
            if number is not None:
                conn.execute(_RAISE_COUNTER, ("message", number + 1))
        if batch.updates:
            for sql, rows in _group_updates(batch.updates).items():
                conn.executemany(sql, rows)
        if batch.events:
            conn.executemany(
                _INSERT_EVENT,
                ((mid, at, iso(at), state, detail) for mid, at, state, detail in batch.events),
            )
        if batch.receipts:
            conn.executemany(_INSERT_RECEIPT, map(_receipt_params, batch.receipts))
        if batch.deliveries:
            conn.executemany(_INSERT_DELIVERY, (
                (d.id, d.account, d.kind, d.message_id, d.pdu, d.created_at, iso(d.created_at),
                 done, None if done is None else iso(done), failure)
                for d, done, failure in batch.deliveries.values()))
        if batch.deliveries_done:
            conn.executemany(_DELIVERY_DONE, batch.deliveries_done)
        if batch.mos:
            conn.executemany(_INSERT_MO, (
                (m.operator_id, m.source_addr, m.destination_addr, m.short_message, m.data_coding,
                 m.account, m.received_at, iso(m.received_at)) for m in batch.mos))
        if batch.ledger:
            conn.executemany(_INSERT_LEDGER, (
                (account, message_id, segments, at, iso(at)) for account, message_id, segments, at in batch.ledger))


class _Writer:
    """The thread that owns the write connection (`serve`): it commits the batches it is
    handed, one at a time, in order, and retries one that fails (database locked by another
    process, disk full, read-only file) until it commits, so the reactor never waits on
    SQLite and nothing accepted is dropped. It reports back through `call_from_thread`."""

    RETRY_FIRST, RETRY_MAX = 0.05, 1.0      # seconds between attempts at a failing batch
    BUSY_TIMEOUT_MS = 250                   # SQLite's own wait for a lock, per attempt

    def __init__(self, path: str, call_from_thread: Callable[..., object],
                 committed: Callable[[_Batch], None],
                 failed: Callable[[_Batch, BaseException, int], None]) -> None:
        self._path = path
        self._call_from_thread = call_from_thread
        self._committed = committed
        self._failed = failed
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self.condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="smsc-harness store writer", daemon=True)
        self._thread.start()

    def submit(self, batch: _Batch) -> None:
        self._queue.put(batch)

    def stop(self, timeout: float) -> bool:
        """Commit what was submitted (retrying for at most `timeout` seconds), then end the
        thread. False if it had to give up."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stopping.set()                    # give up retrying
            self._thread.join(1.0)
            return False
        return True

    def _run(self) -> None:
        db = Database(self._path, execute_plugins=False)
        db.execute(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            while (batch := self._queue.get()) is not None:
                attempt = 0
                while True:
                    try:
                        _write(db, batch)
                        break
                    except sqlite3.Error as error:
                        attempt += 1
                        self._call_from_thread(self._failed, batch, error, attempt)
                        if self._stopping.wait(min(self.RETRY_MAX, self.RETRY_FIRST * 2 ** (attempt - 1))):
                            return
                with self.condition:
                    batch.committed = True
                    self.condition.notify_all()
                self._call_from_thread(self._committed, batch)
        finally:
            db.close()


class Store:
    """SQLite store with batched writes; see the module docstring for why and how."""

    # How long a shutdown waits for the last batches to commit (a database locked by another
    # process for ever must not hang the shutdown), and a read that needs every write first.
    CLOSE_TIMEOUT = 15.0
    SYNC_TIMEOUT = 30.0
    FAILURE_LOG_EVERY = 5.0                 # seconds between "still cannot commit" lines

    def __init__(
        self,
        path: str | os.PathLike[str],
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
        flush_interval: float = 0.005,
        call_from_thread: Callable[..., object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """path: SQLite file (":memory:" allowed for tests). schedule(delay, fn) is e.g.
        reactor.callLater; when given, the first write after a flush schedules one flush()
        `flush_interval` later; when None, writes are only flushed by an explicit flush()
        (tests, scripts).

        With `call_from_thread` (the reactor's callFromThread; `serve`), writes are committed
        by a dedicated writer thread (group commit) and `after_commit` callbacks wait for the
        commit of every write made before them; `clock` (the reactor's seconds) times the log
        lines about a failing database. Without it, batches are written on the caller's thread
        and `after_commit` callbacks run at once: a scenario replay is its own world, where a
        crash means a re-run."""
        # Plugins are not loaded: nothing here needs them, and a plugin installed in the venv
        # must not change how the harness's database behaves.
        self._path = os.fspath(path)
        self._db = Database(self._path, execute_plugins=False)
        self._db.enable_wal()  # readers (sqlite3 CLI, reports) never block the reactor's writes
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL-safe; no fsync per commit
        self._create_schema()
        self._schedule = schedule
        self._flush_interval = flush_interval
        self._flush_armed = False
        self._closed = False
        self._open = _Batch()                      # collecting changes
        self._sealed: _Batch | None = None         # handed to the writer thread, not committed yet
        self._clock = clock
        self._failing_since: float | None = None
        self._failure_logged_at = 0.0
        self._writer: _Writer | None = None
        if call_from_thread is not None:
            if self._path == ":memory:":
                raise ValueError("a writer thread needs a database file, not :memory:")
            self._writer = _Writer(self._path, call_from_thread, self._committed, self._write_failed)
        rows = list(self._db.query("SELECT COALESCE(MAX(id), 0) AS n FROM deliveries"))
        self._next_delivery_id = int(rows[0]["n"]) + 1

    @property
    def uncommitted_messages(self) -> int:
        """Messages added but not committed yet (what a stuck database holds back)."""
        sealed = self._sealed
        return len(self._open.adds) + (len(sealed.adds) if sealed is not None else 0)

    def _create_schema(self) -> None:
        """Create missing tables and indexes; an existing file keeps its data."""
        db = self._db
        db.table("messages").create(
            _MESSAGE_COLUMNS, pk="id", not_null=_MESSAGE_NOT_NULL, if_not_exists=True
        )
        db.table("message_events").create(
            _EVENT_COLUMNS,
            pk=("message_id", "seq"),
            not_null=("message_id", "seq", "at", "at_iso", "state", "detail"),
            if_not_exists=True,
        )
        db.table("receipts").create(
            _RECEIPT_COLUMNS,
            pk="id",
            not_null=tuple(c for c in _RECEIPT_COLUMNS if c != "id"),
            if_not_exists=True,
        )
        db.table("deliveries").create(
            _DELIVERY_COLUMNS, pk="id", not_null=("account", "kind", "pdu", "created_at", "created_iso"),
            if_not_exists=True,
        )
        if "failure" not in db.table("deliveries").columns_dict:   # a store made by an older version
            db.table("deliveries").add_column("failure", str)
        db.table("mo").create(
            _MO_COLUMNS, pk="id",
            not_null=("operator_id", "source_addr", "destination_addr", "short_message",
                      "data_coding", "received_at", "received_iso"),
            if_not_exists=True,
        )
        db.table("ledger").create(
            _LEDGER_COLUMNS, pk="id", not_null=("account", "message_id", "segments", "at", "at_iso"),
            if_not_exists=True,
        )
        db.table("counters").create({"name": str, "value": int}, pk="name", not_null=("value",),
                                    if_not_exists=True)
        db.table("ledger").create_index(("account",), "idx_ledger_account", if_not_exists=True)
        db.table("deliveries").create_index(
            ("delivered_at", "id"), "idx_deliveries_pending", if_not_exists=True
        )
        # Receipt correlation looks a message up by the operator's id (optionally + operator).
        db.table("messages").create_index(
            ("operator_message_id", "operator_id"), "idx_messages_operator_message_id",
            if_not_exists=True,
        )
        # Serves count_by_state() and messages(state) ... ORDER BY created_at, id without a sort.
        db.table("messages").create_index(
            ("state", "created_at", "id"), "idx_messages_state", if_not_exists=True
        )
        db.table("receipts").create_index(
            ("message_id",), "idx_receipts_message_id", if_not_exists=True
        )

    # ----------------------------------------------------------------------- lifecycle

    def flush(self) -> None:
        """Write every pending change now.

        Without a writer thread: ONE transaction (executemany per table), in order; on error
        it is rolled back, the changes stay queued (nothing half-written, nothing lost) and
        the exception propagates. With the writer thread: wait (blocking, bounded by
        SYNC_TIMEOUT) until every change made so far is committed, then run the callbacks
        that waited for it; raises StoreUnavailable when the database cannot be written in
        that time (tests, shutdown and whole-table reads use it, not the per-message paths)."""
        if self._writer is not None:
            self._sync()
            return
        batch = self._open
        if not batch.has_writes():
            return
        _write(self._db, batch)
        self._open = _Batch()

    def after_commit(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` once every change made so far is committed: how a
        submit_sm_resp (or a deliver_sm_resp to an operator) leaves only after what it
        acknowledges is on disk. The callbacks of a batch run in call order, together, when
        its transaction commits (group commit). Without a writer thread, at once."""
        if self._writer is None:
            callback(*args)
            return
        if self._open.has_writes():
            self._open.acks.append((callback, args))
            self._queued()
        elif self._sealed is not None:
            self._sealed.acks.append((callback, args))
        else:
            callback(*args)

    def close(self) -> None:
        """Flush, then close the connection. Idempotent. With the writer thread, waits at most
        CLOSE_TIMEOUT seconds for the last commits (then says what was left)."""
        if self._closed:
            return
        if self._writer is not None:
            try:
                self._sync(self.CLOSE_TIMEOUT)
            except StoreUnavailable as error:
                log.error("store: {error}; closing anyway", error=str(error))
            self._writer.stop(1.0)
        else:
            self.flush()
        self._closed = True
        self._db.close()

    def _scheduled_flush(self) -> None:
        # Disarm before flushing so that, even if the flush raises, the next write re-arms.
        self._flush_armed = False
        if self._closed:
            return
        if self._writer is not None:
            self._hand_over()
        else:
            self.flush()

    def _queued(self) -> None:
        """Arm one flush after the first write since the last scheduled one."""
        if self._schedule is not None and not self._flush_armed:
            self._flush_armed = True
            self._schedule(self._flush_interval, self._scheduled_flush)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Store is closed")

    # --- the writer thread's side (reactor thread) -------------------------------------

    def _hand_over(self) -> None:
        """Give the collected changes to the writer, unless it is busy: then they wait and
        grow until its commit ends (group commit: one transaction per disk round trip)."""
        assert self._writer is not None
        if self._sealed is not None or not self._open.has_writes():
            return
        self._sealed, self._open = self._open, _Batch()
        self._writer.submit(self._sealed)

    def _committed(self, batch: _Batch) -> None:
        """The writer committed `batch` (called on the reactor thread; a second call for the
        same batch, after `_sync` handled it, does nothing)."""
        if batch is not self._sealed:
            return
        self._sealed = None
        if self._failing_since is not None:
            log.warn("store: committing again after {seconds:.1f} s of failures",
                     seconds=self._now() - self._failing_since)
            self._failing_since = None
        for callback, args in batch.acks:
            try:
                callback(*args)
            except Exception:                  # noqa: BLE001 - a bug in one must not hold back the others
                log.failure("store: a callback waiting for a commit failed")
        if not self._closed:
            self._hand_over()

    def _write_failed(self, batch: _Batch, error: BaseException, attempt: int) -> None:
        """The writer could not commit `batch` (it retries): say so, without flooding."""
        now = self._now()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failure_logged_at < self.FAILURE_LOG_EVERY:
            return
        self._failure_logged_at = now
        log.warn("store: cannot commit ({error}) for {seconds:.1f} s; {messages} message(s) and {acks} "
                 "response(s) wait for the commit, retrying", error=str(error),
                 seconds=now - self._failing_since, messages=self.uncommitted_messages,
                 acks=len(batch.acks) + len(self._open.acks))

    def _sync(self, timeout: float | None = None) -> None:
        """Block until every change made so far is committed (see `flush`)."""
        assert self._writer is not None
        limit = self.SYNC_TIMEOUT if timeout is None else timeout
        condition = self._writer.condition
        while True:
            sealed = self._sealed
            if sealed is None:
                if not self._open.has_writes():    # (callbacks only ever wait on a batch with writes)
                    return
                self._hand_over()
                continue
            with condition:
                if not condition.wait_for(lambda: sealed.committed, limit):
                    raise StoreUnavailable(f"{self.uncommitted_messages} message(s) not committed after "
                                           f"{limit:g} s")
            self._committed(sealed)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else 0.0

    # ----------------------------------------------------------------------- writes

    def add_message(self, msg: MessageRecord) -> None:
        """Queue a new message row. The id must be new (a duplicate is a caller bug)."""
        self._check_open()
        if msg.id in self._open.adds:
            raise ValueError(f"message {msg.id!r} already added")
        self._open.adds[msg.id] = {
            "id": msg.id,
            "account": msg.account,
            "source_addr": msg.source_addr,
            "source_addr_ton": msg.source_addr_ton,
            "destination_addr": msg.destination_addr,
            "operator_id": msg.operator_id,
            "operator_message_id": msg.operator_message_id,
            "state": MessageState(msg.state).value,
            "registered_delivery": msg.registered_delivery,
            "data_coding": msg.data_coding,
            "esm_class": msg.esm_class,
            "short_message": bytes(msg.short_message),
            "created_at": msg.created_at,
            "submitted_at": msg.submitted_at,
            "done_at": msg.done_at,
            "error_code": msg.error_code,
            "client_destination_addr": msg.client_destination_addr,
            "dest_addr_ton": msg.dest_addr_ton,
            "deadline": msg.deadline,
            "attempts": msg.attempts,
            "tlvs": bytes(msg.tlvs),
        }
        self._queued()

    def set_state(
        self, message_id: str, state: MessageState, at: float, detail: str = "", **changes: object
    ) -> None:
        """update the message row's state (+ any of: operator_id, operator_message_id,
        error_code, submitted_at, done_at) and append a row to message_events (message_id,
        seq, at, state, detail) – the state history.

        Works on a message whose add is still pending (same batch). On an id that was never
        added the row update is a no-op but the event is still recorded: history is an audit
        log, and checking existence would cost a query per call on the hot path.
        """
        self._check_open()
        unknown = changes.keys() - _UPDATABLE_SET
        if unknown:
            raise TypeError(f"set_state() cannot change {', '.join(sorted(unknown))}")
        value = MessageState(state).value
        pending_add = self._open.adds.get(message_id)
        if pending_add is not None:
            pending_add["state"] = value
            pending_add.update(changes)
        else:
            update = self._open.updates.get(message_id)
            if update is None:
                self._open.updates[message_id] = update = {}
            update["state"] = value
            update.update(changes)
        self._open.events.append((message_id, at, value, detail))
        self._queued()

    def add_receipt(self, rec: ReceiptRecord) -> None:
        """Queue a received delivery receipt."""
        self._check_open()
        self._open.receipts.append(rec)
        self._queued()

    def add_delivery(self, account: str, kind: str, message_id: str | None, pdu: bytes,
                     at: float) -> DeliveryRecord:
        """Queue a deliver_sm owed to a client; the returned record's id marks it done later."""
        self._check_open()
        record = DeliveryRecord(self._next_delivery_id, account, kind, message_id, pdu, at)
        self._next_delivery_id += 1
        self._open.deliveries[record.id] = (record, None, None)
        self._queued()
        return record

    def delivery_done(self, delivery_id: int, at: float, failure: str | None = None) -> None:
        """The client acknowledged the deliver_sm (deliver_sm_resp), or, with `failure`, it was
        given up for that reason (it could not be sent at all)."""
        self._check_open()
        pending = self._open.deliveries.get(delivery_id)
        if pending is not None:
            self._open.deliveries[delivery_id] = (pending[0], at, failure)
        else:
            self._open.deliveries_done.append((at, iso(at), failure, delivery_id))
        self._queued()

    def bill(self, account: str, message_id: str, segments: int, at: float) -> None:
        """Queue a ledger line (R10): ``account`` is billed ``segments`` SMS for a message it
        had accepted."""
        self._check_open()
        self._open.ledger.append((account, message_id, segments, at))
        self._queued()

    def add_mo(self, mo: MoRecord) -> None:
        self._check_open()
        self._open.mos.append(mo)
        self._queued()

    # ----------------------------------------------------------------------- reads

    def pending_deliveries(self) -> list[DeliveryRecord]:
        """Deliveries not yet acknowledged, oldest first (resumed after a restart)."""
        rows = self._query(
            "SELECT id, account, kind, message_id, pdu, created_at FROM deliveries"
            " WHERE delivered_at IS NULL ORDER BY id"
        )
        return [DeliveryRecord(r["id"], r["account"], r["kind"], r["message_id"], bytes(r["pdu"]),
                               r["created_at"]) for r in rows]

    def deliveries(self, account: str | None = None) -> list[tuple[DeliveryRecord, float | None]]:
        """Every delivery with its acknowledgement time (None while pending), oldest first."""
        sql = "SELECT * FROM deliveries" + (" WHERE account = ?" if account else "") + " ORDER BY id"
        rows = self._query(sql, (account,) if account else ())
        return [(DeliveryRecord(r["id"], r["account"], r["kind"], r["message_id"], bytes(r["pdu"]),
                                r["created_at"]), r["delivered_at"]) for r in rows]

    def mos(self) -> list[MoRecord]:
        rows = self._query("SELECT * FROM mo ORDER BY id")
        return [MoRecord(r["operator_id"], r["source_addr"], r["destination_addr"], bytes(r["short_message"]),
                         r["data_coding"], r["account"], r["received_at"]) for r in rows]

    def unfinished(self) -> list[MessageRecord]:
        """Messages accepted but not final (resumed after a restart), oldest first."""
        rows = self._query(
            _SELECT_MESSAGES + " WHERE state IN ('accepted', 'submitted')" + _ORDER_MESSAGES
        )
        return [_message_record(r) for r in rows]

    def message(self, message_id: str) -> MessageRecord | None:
        """The message as it stands, or None if unknown: the committed row with the changes
        still waiting for their commit applied, so it never waits on the database (query_sm
        from a client). Raises StoreUnavailable when the file cannot be read now."""
        rows = self._committed_query(_SELECT_MESSAGES + " WHERE id = ? ORDER BY id", (message_id,))
        row: dict[str, Any] | None = rows[0] if rows else None
        for batch in (self._sealed, self._open):
            if batch is None:
                continue
            added = batch.adds.get(message_id)
            if added is not None:
                row = dict(added)
            changes = batch.updates.get(message_id)
            if changes is not None and row is not None:
                row = {**row, **changes}
        return _message_record(row) if row is not None else None

    def message_for_operator(
        self, operator_message_id: str, operator_id: str | None = None
    ) -> MessageRecord | None:
        """The message an operator's message_id refers to (receipt correlation).

        Operator ids are only unique per operator, so pass operator_id when known; without
        it the most recent match wins.
        """
        if operator_id is None:
            rows = self._query(
                _SELECT_MESSAGES + " WHERE operator_message_id = ?"
                " ORDER BY created_at DESC, id DESC LIMIT 1",
                (operator_message_id,),
            )
        else:
            rows = self._query(
                _SELECT_MESSAGES + " WHERE operator_message_id = ? AND operator_id = ?"
                " ORDER BY created_at DESC, id DESC LIMIT 1",
                (operator_message_id, operator_id),
            )
        return _message_record(rows[0]) if rows else None

    def history(self, message_id: str) -> list[MessageEvent]:
        """State transitions of a message, ordered by seq."""
        rows = self._query(
            "SELECT message_id, seq, at, state, detail FROM message_events"
            " WHERE message_id = ? ORDER BY seq",
            (message_id,),
        )
        return [
            MessageEvent(r["message_id"], r["seq"], r["at"], MessageState(r["state"]), r["detail"])
            for r in rows
        ]

    def receipts(self, message_id: str) -> list[ReceiptRecord]:
        """Receipts received for a message, in arrival order."""
        rows = self._query(
            "SELECT message_id, operator_message_id, stat, err, text, received_at FROM receipts"
            " WHERE message_id = ? ORDER BY received_at, id",
            (message_id,),
        )
        return [ReceiptRecord(**r) for r in rows]

    def messages(self, state: MessageState | None = None) -> list[MessageRecord]:
        """All messages, or those in `state`, ORDER BY created_at, id."""
        if state is None:
            rows = self._query(_SELECT_MESSAGES + _ORDER_MESSAGES)
        else:
            rows = self._query(
                _SELECT_MESSAGES + " WHERE state = ?" + _ORDER_MESSAGES,
                (MessageState(state).value,),
            )
        return [_message_record(r) for r in rows]

    def billed_segments(self, account: str) -> int:
        """SMS segments the ledger has billed to ``account`` (R10), 0 when none."""
        rows = self._query("SELECT COALESCE(SUM(segments), 0) AS n FROM ledger WHERE account = ?", (account,))
        return int(rows[0]["n"])

    def count_by_state(self, committed_only: bool = False) -> dict[str, int]:
        """{state value: count} with every MessageState present (0 when none), so reports
        can index any state without a KeyError. ``committed_only`` counts what is committed
        without waiting for pending writes: a running `serve`'s /status must not wait on the
        database (it may lag its batches by milliseconds)."""
        counts = {s.value: 0 for s in MessageState}
        query = self._committed_query if committed_only else self._query
        for r in query("SELECT state, COUNT(*) AS n FROM messages GROUP BY state ORDER BY state"):
            counts[r["state"]] = r["n"]
        return counts

    # --- counts for scenario expectations and reports: one SQL query each, so a million
    # --- messages are counted without building a Python object per row

    def count_messages(self, state: MessageState | None = None, account: str | None = None,
                       operator_id: str | None = None, short_message: bytes | None = None) -> int:
        """Messages matching every filter given."""
        where, params = _filters(("state", None if state is None else MessageState(state).value),
                                 ("account", account), ("operator_id", operator_id),
                                 ("short_message", short_message))
        return self._query("SELECT COUNT(*) AS n FROM messages" + where, params)[0]["n"]

    def count_receipts(self, stat: str | None = None, account: str | None = None,
                       operator_id: str | None = None) -> int:
        """Receipts received from operators, by their message's account / operator."""
        where, params = _filters(("r.stat", stat), ("m.account", account), ("m.operator_id", operator_id))
        return self._query("SELECT COUNT(*) AS n FROM receipts r JOIN messages m ON m.id = r.message_id"
                           + where, params)[0]["n"]

    def count_mos(self, account: str | None = None, operator_id: str | None = None,
                  short_message: bytes | None = None) -> int:
        where, params = _filters(("account", account), ("operator_id", operator_id),
                                 ("short_message", short_message))
        return self._query("SELECT COUNT(*) AS n FROM mo" + where, params)[0]["n"]

    def count_deliveries_done(self, account: str | None = None) -> int:
        """deliver_sm (receipts and MOs) that clients acknowledged."""
        where, params = _filters(("account", account))
        where = (where + " AND" if where else " WHERE") + " delivered_at IS NOT NULL"
        return self._query("SELECT COUNT(*) AS n FROM deliveries" + where, params)[0]["n"]

    def count_events(self, state: MessageState | None = None, account: str | None = None,
                     operator_id: str | None = None) -> int:
        """State changes in the messages' history (message_events), by their message."""
        where, params = _filters(("e.state", None if state is None else MessageState(state).value),
                                 ("m.account", account), ("m.operator_id", operator_id))
        return self._query("SELECT COUNT(*) AS n FROM message_events e JOIN messages m ON m.id = e.message_id"
                           + where, params)[0]["n"]

    def count_ledger(self, account: str | None = None) -> int:
        """Ledger lines (one per accepted message)."""
        where, params = _filters(("account", account))
        return self._query("SELECT COUNT(*) AS n FROM ledger" + where, params)[0]["n"]

    def message_timings(self) -> list[tuple[str, str, float, float | None]]:
        """(operator_id, state, created_at, done_at) of every message, ORDER BY created_at, id:
        what a report draws its outcomes, latencies and throughput from."""
        self._check_open()
        self.flush()
        return self._db.conn.execute(
            "SELECT operator_id, state, created_at, done_at FROM messages" + _ORDER_MESSAGES).fetchall()

    def next_message_number(self) -> int:
        """The next message-id counter value: past the highest id ever committed (the
        `counters` row, which never goes down) and past every id stored, so ids stay unique
        across restarts and crashes. Ids are the counter as 16 lowercase hex digits (fixed
        width: text order is number order, so the primary key index answers this)."""
        rows = self._query("SELECT id FROM messages WHERE length(id) = 16 ORDER BY id DESC LIMIT 1")
        stored = _message_number(rows[0]["id"]) if rows else None
        counter = self._query("SELECT value FROM counters WHERE name = 'message' ORDER BY name")
        return max(1, (stored or 0) + 1, int(counter[0]["value"]) if counter else 1)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Flush, then run a SELECT: reads must see every write made before them."""
        self._check_open()
        self.flush()
        return list(self._db.query(sql, tuple(params)))

    def _committed_query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """A SELECT of what is committed, without waiting for pending writes: for the reads of
        a running `serve` (query_sm, /status), which must never wait on a locked database.
        Raises StoreUnavailable when the file cannot be read now."""
        self._check_open()
        if self._writer is None:
            self.flush()
        try:
            return list(self._db.query(sql, tuple(params)))
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(str(error)) from None


# --------------------------------------------------------------------------- row mapping


def _filters(*pairs: tuple[str, object]) -> tuple[str, tuple[object, ...]]:
    """' WHERE a = ? AND b = ?' and its parameters for the pairs whose value is not None."""
    used = [(column, value) for column, value in pairs if value is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{column} = ?" for column, _ in used), tuple(v for _, v in used)


def _message_number(message_id: str) -> int | None:
    """The counter behind an id of ours (16 hex digits, below 2**63: SQLite's INTEGER), None
    for any other id."""
    if len(message_id) != 16:
        return None
    try:
        number = int(message_id, 16)
    except ValueError:
        return None
    return number if number < 2**63 - 1 else None


def _opt_iso(seconds: float | None) -> str | None:
    return None if seconds is None else iso(seconds)


def _message_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        row["id"],
        row["account"],
        row["source_addr"],
        row["source_addr_ton"],
        row["destination_addr"],
        row["operator_id"],
        row["operator_message_id"],
        row["state"],
        row["registered_delivery"],
        row["data_coding"],
        row["esm_class"],
        row["short_message"],
        row["created_at"],
        iso(row["created_at"]),
        row["submitted_at"],
        _opt_iso(row["submitted_at"]),
        row["done_at"],
        _opt_iso(row["done_at"]),
        row["error_code"],
        row["client_destination_addr"],
        row["dest_addr_ton"],
        row["deadline"],
        row["attempts"],
        row["tlvs"],
    )


def _group_updates(updates: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Merged per-message changes → {UPDATE statement: parameter rows}, one statement per
    distinct column set, so each set is a single executemany."""
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for message_id, change in updates.items():
        cols = ["state"] + [c for c in _UPDATABLE if c in change]
        assignments: list[str] = []
        params: list[Any] = []
        for col in cols:
            assignments.append(f"{col} = ?")
            params.append(change[col])
            if col in _TIMESTAMPS:
                assignments.append(f"{col[:-3]}_iso = ?")
                params.append(_opt_iso(change[col]))
        params.append(message_id)
        sql = f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?"
        groups.setdefault(sql, []).append(tuple(params))
    return groups


def _receipt_params(rec: ReceiptRecord) -> tuple[Any, ...]:
    return (
        rec.message_id,
        rec.operator_message_id,
        rec.stat,
        rec.err,
        rec.text,
        rec.received_at,
        iso(rec.received_at),
    )


def _message_record(r: Mapping[str, Any]) -> MessageRecord:
    return MessageRecord(
        id=r["id"],
        account=r["account"],
        source_addr=r["source_addr"],
        source_addr_ton=r["source_addr_ton"],
        destination_addr=r["destination_addr"],
        operator_id=r["operator_id"],
        operator_message_id=r["operator_message_id"],
        state=MessageState(r["state"]),
        registered_delivery=r["registered_delivery"],
        data_coding=r["data_coding"],
        esm_class=r["esm_class"],
        short_message=bytes(r["short_message"]),
        created_at=r["created_at"],
        submitted_at=r["submitted_at"],
        done_at=r["done_at"],
        error_code=r["error_code"],
        client_destination_addr=r["client_destination_addr"] or "",
        dest_addr_ton=r["dest_addr_ton"] if r["dest_addr_ton"] is not None else 1,
        deadline=r["deadline"],
        attempts=r["attempts"] or 0,
        tlvs=bytes(r["tlvs"] or b""),
    )
