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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlite_utils import Database

from aggregator.clock import iso

__all__ = ["DeliveryRecord", "MessageState", "MessageRecord", "MessageEvent", "MoRecord", "ReceiptRecord", "Store"]


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
    " delivered_at, delivered_iso) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELIVERY_DONE = "UPDATE deliveries SET delivered_at = ?, delivered_iso = ? WHERE id = ?"
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

_SELECT_MESSAGES = "SELECT * FROM messages"
_ORDER_MESSAGES = " ORDER BY created_at, id"


class Store:
    """SQLite store with batched writes; see the module docstring for why and how."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
        flush_interval: float = 0.005,
    ) -> None:
        """path: SQLite file (":memory:" allowed for tests). schedule(delay, fn) is e.g.
        reactor.callLater; when given, the first write after a flush schedules one flush()
        `flush_interval` later; when None, writes are only flushed by an explicit flush()
        (tests, scripts)."""
        # Plugins are not loaded: nothing here needs them, and a plugin installed in the venv
        # must not change how the harness's database behaves.
        self._db = Database(os.fspath(path), execute_plugins=False)
        self._db.enable_wal()  # readers (sqlite3 CLI, reports) never block the reactor's writes
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL-safe; no fsync per commit
        self._create_schema()
        self._schedule = schedule
        self._flush_interval = flush_interval
        self._flush_armed = False
        self._closed = False
        # Pending writes. Adds are kept as mutable column dicts so a set_state() in the same
        # batch folds into the INSERT; updates of stored messages are merged per message.
        self._adds: dict[str, dict[str, Any]] = {}
        self._updates: dict[str, dict[str, Any]] = {}
        self._events: list[tuple[str, float, str, str]] = []
        self._receipts: list[ReceiptRecord] = []
        # Deliveries not yet written, by id, with their acknowledgement time if it came
        # before the flush (then the row is written done, with no UPDATE).
        self._deliveries: dict[int, tuple[DeliveryRecord, float | None]] = {}
        self._deliveries_done: list[tuple[float, str, int]] = []
        self._mos: list[MoRecord] = []
        self._ledger: list[tuple[str, str, int, float]] = []
        rows = list(self._db.query("SELECT COALESCE(MAX(id), 0) AS n FROM deliveries"))
        self._next_delivery_id = int(rows[0]["n"]) + 1

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
        """Write every pending change in ONE transaction (executemany per table), in order.

        On error the transaction is rolled back and the queue is left intact (nothing is
        half-written, nothing is lost), and the exception propagates.
        """
        if not (self._adds or self._updates or self._events or self._receipts or self._deliveries
                or self._deliveries_done or self._mos or self._ledger):
            return
        conn = self._db.conn
        with self._db.atomic():
            if self._adds:
                conn.executemany(_INSERT_MESSAGE, map(_message_params, self._adds.values()))
            if self._updates:
                for sql, rows in _group_updates(self._updates).items():
                    conn.executemany(sql, rows)
            if self._events:
                conn.executemany(
                    _INSERT_EVENT,
                    ((mid, at, iso(at), state, detail) for mid, at, state, detail in self._events),
                )
            if self._receipts:
                conn.executemany(_INSERT_RECEIPT, map(_receipt_params, self._receipts))
            if self._deliveries:
                conn.executemany(_INSERT_DELIVERY, (
                    (d.id, d.account, d.kind, d.message_id, d.pdu, d.created_at, iso(d.created_at),
                     done, None if done is None else iso(done))
                    for d, done in self._deliveries.values()))
            if self._deliveries_done:
                conn.executemany(_DELIVERY_DONE, self._deliveries_done)
            if self._mos:
                conn.executemany(_INSERT_MO, (
                    (m.operator_id, m.source_addr, m.destination_addr, m.short_message, m.data_coding,
                     m.account, m.received_at, iso(m.received_at)) for m in self._mos))
            if self._ledger:
                conn.executemany(_INSERT_LEDGER, (
                    (account, message_id, segments, at, iso(at)) for account, message_id, segments, at in self._ledger))
        self._adds = {}
        self._updates = {}
        self._events = []
        self._receipts = []
        self._deliveries = {}
        self._deliveries_done = []
        self._mos = []
        self._ledger = []

    def close(self) -> None:
        """Flush, then close the connection. Idempotent."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._db.close()

    def _scheduled_flush(self) -> None:
        # Disarm before flushing so that, even if the flush raises, the next write re-arms.
        self._flush_armed = False
        if not self._closed:
            self.flush()

    def _queued(self) -> None:
        """Arm one flush after the first write since the last scheduled one."""
        if self._schedule is not None and not self._flush_armed:
            self._flush_armed = True
            self._schedule(self._flush_interval, self._scheduled_flush)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Store is closed")

    # ----------------------------------------------------------------------- writes

    def add_message(self, msg: MessageRecord) -> None:
        """Queue a new message row. The id must be new (a duplicate is a caller bug)."""
        self._check_open()
        if msg.id in self._adds:
            raise ValueError(f"message {msg.id!r} already added")
        self._adds[msg.id] = {
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
        pending_add = self._adds.get(message_id)
        if pending_add is not None:
            pending_add["state"] = value
            pending_add.update(changes)
        else:
            update = self._updates.get(message_id)
            if update is None:
                self._updates[message_id] = update = {}
            update["state"] = value
            update.update(changes)
        self._events.append((message_id, at, value, detail))
        self._queued()

    def add_receipt(self, rec: ReceiptRecord) -> None:
        """Queue a received delivery receipt."""
        self._check_open()
        self._receipts.append(rec)
        self._queued()

    def add_delivery(self, account: str, kind: str, message_id: str | None, pdu: bytes,
                     at: float) -> DeliveryRecord:
        """Queue a deliver_sm owed to a client; the returned record's id marks it done later."""
        self._check_open()
        record = DeliveryRecord(self._next_delivery_id, account, kind, message_id, pdu, at)
        self._next_delivery_id += 1
        self._deliveries[record.id] = (record, None)
        self._queued()
        return record

    def delivery_done(self, delivery_id: int, at: float) -> None:
        """The client acknowledged the deliver_sm (deliver_sm_resp)."""
        self._check_open()
        pending = self._deliveries.get(delivery_id)
        if pending is not None:
            self._deliveries[delivery_id] = (pending[0], at)
        else:
            self._deliveries_done.append((at, iso(at), delivery_id))
        self._queued()

    def bill(self, account: str, message_id: str, segments: int, at: float) -> None:
        """Queue a ledger line (R10): ``account`` is billed ``segments`` SMS for a message it
        had accepted."""
        self._check_open()
        self._ledger.append((account, message_id, segments, at))
        self._queued()

    def add_mo(self, mo: MoRecord) -> None:
        self._check_open()
        self._mos.append(mo)
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
        """The message row, or None if unknown."""
        rows = self._query(_SELECT_MESSAGES + " WHERE id = ? ORDER BY id", (message_id,))
        return _message_record(rows[0]) if rows else None

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

    def count_by_state(self) -> dict[str, int]:
        """{state value: count} with every MessageState present (0 when none), so reports
        can index any state without a KeyError."""
        counts = {s.value: 0 for s in MessageState}
        for r in self._query(
            "SELECT state, COUNT(*) AS n FROM messages GROUP BY state ORDER BY state"
        ):
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
        """The counter value after the highest message id stored, so ids stay unique across
        restarts. Ids are the counter as 16 lowercase hex digits (fixed width: text order is
        number order, so the primary key index answers this)."""
        rows = self._query("SELECT id FROM messages WHERE length(id) = 16 ORDER BY id DESC LIMIT 1")
        if not rows:
            return 1
        try:
            return int(rows[0]["id"], 16) + 1
        except ValueError:
            return 1

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Flush, then run a SELECT: reads must see every write made before them."""
        self._check_open()
        self.flush()
        return list(self._db.query(sql, tuple(params)))


# --------------------------------------------------------------------------- row mapping


def _filters(*pairs: tuple[str, object]) -> tuple[str, tuple[object, ...]]:
    """' WHERE a = ? AND b = ?' and its parameters for the pairs whose value is not None."""
    used = [(column, value) for column, value in pairs if value is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{column} = ?" for column, _ in used), tuple(v for _, v in used)


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
