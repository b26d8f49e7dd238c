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
queue in ONE transaction, a few multi-row statements per table. With a ``schedule`` function
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

A table's columns are declared once, as the fields of its record dataclass: the schema, the
INSERT statements and their parameters, and the records read back all derive from them.
"""

from __future__ import annotations

import json
import os
from itertools import chain
from operator import attrgetter, itemgetter
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import Enum, StrEnum
from functools import lru_cache, partial
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints

from sqlite_utils import Database
from twisted.logger import Logger

from aggregator.clock import iso
from aggregator.rules.base import Outcome, RuleEvent

__all__ = ["DeliveryRecord", "MessageState", "MessageRecord", "MessageEvent", "MoRecord", "ReceiptRecord",
           "RefusalRecord", "Store", "StoreUnavailable"]

log = Logger(namespace="aggregator.store")


class MessageState(StrEnum):
    """Life cycle of an MT inside the aggregator (stored as the lowercase value); not SMPP's
    message_state, which is `smsc.pdu.codec.SmppMessageState`."""

    ACCEPTED = "accepted"  # submit_sm_resp sent to the customer, not yet handed to an operator
    SUBMITTED = "submitted"  # operator answered submit_sm_resp OK, waiting for its receipt
    DELIVERED = "delivered"  # operator receipt DELIVRD
    UNDELIVERABLE = "undeliverable"  # operator receipt UNDELIV (or another final failure)
    REJECTED = "rejected"  # operator refused the submit_sm, or no route
    EXPIRED = "expired"  # validity ran out (receipt EXPIRED or our own timeout)


_UNFINISHED = (MessageState.ACCEPTED, MessageState.SUBMITTED)
_FINAL_VALUES = frozenset(s.value for s in MessageState if s not in _UNFINISHED)

# Metadata of a timestamp field (clock seconds) whose table also has a readable ``*_iso``
# column, right after it (``created_at`` -> ``created_iso``, ``at`` -> ``at_iso``).
_STAMPED = {"iso": True}


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
    created_at: float = field(metadata=_STAMPED)
    submitted_at: float | None = field(default=None, metadata=_STAMPED)
    done_at: float | None = field(default=None, metadata=_STAMPED)
    error_code: int | None = None
    client_destination_addr: str = ""  # the destination as the client wrote it (echoed in receipts)
    dest_addr_ton: int = 1
    deadline: float | None = None  # end of validity (R9), clock seconds
    attempts: int = 0  # submit_sm sent to operators so far
    tlvs: bytes = b""  # the client's optional parameters, as on the wire
    campaign: str | None = None  # the client's campaign id (a bulk send, R3 and R8), if it gave one


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    """A submit the aggregator refused (not forwarded, not billed), with why. Flow control
    (ESME_RTHROTTLED, ESME_RMSGQFUL: "try again later") is not a refusal and is not kept."""

    account: str
    destination_addr: str  # as the client wrote it
    msisdn: str | None  # the E.164 number, when routing got that far
    status: int  # the command_status the client got
    rule: str | None  # the rule that refused it (aggregator/rules), None for a protocol refusal
    reason: str
    campaign: str | None
    at: float = field(metadata=_STAMPED)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A deliver_sm owed to a client (a receipt or an MO), kept until the client acknowledges
    it, so that nothing waiting for a bind is lost across a restart."""

    id: int
    account: str
    kind: str  # "receipt" | "mo"
    message_id: str | None  # our message id for a receipt
    pdu: bytes  # the encoded deliver_sm (its sequence number is replaced when sent)
    created_at: float = field(metadata=_STAMPED)


@dataclass(frozen=True, slots=True)
class MoRecord:
    """A mobile-originated message received from an operator."""

    operator_id: str
    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    account: str | None  # owner of the destination short code, None if nobody owns it
    received_at: float = field(metadata=_STAMPED)


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """One state transition of a message: the audit trail behind ``MessageRecord.state``."""

    message_id: str
    seq: int  # per message, 1-based, in call order
    at: float = field(metadata=_STAMPED)
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
    received_at: float = field(metadata=_STAMPED)


# --------------------------------------------------------------------------- schema

# A table's columns are its record's fields, in order (one declaration: the dataclass above),
# with the column type from the field's annotation and a ``*_iso`` text column right after
# each ``_STAMPED`` field. A field with neither a default nor ``None`` in its type is NOT
# NULL (the fields with a default came later: a store made by an older version has NULLs
# there, read back as the default). An INTEGER PRIMARY KEY is the rowid: never NULL anyway.

_SQL_TYPES: tuple[type, ...] = (str, int, float, bytes)


def _iso_column(name: str) -> str:
    return f"{name[:-3]}_iso" if name.endswith("_at") else f"{name}_iso"


def _value_type(hint: Any) -> type:
    """``float | None`` -> float; a str enum (MessageState) -> str."""
    if isinstance(hint, UnionType):
        (hint,) = (arg for arg in get_args(hint) if arg is not NoneType)
    return next(t for t in _SQL_TYPES if issubclass(hint, t))


def _nullable(hint: Any) -> bool:
    return isinstance(hint, UnionType) and NoneType in get_args(hint)


def _has_default(f: Field[Any]) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


@dataclass(frozen=True, slots=True)
class _Table:
    """A table as declared by its record dataclass (plus columns the record does not carry)."""

    name: str
    columns: dict[str, Any]  # column -> Python type, for sqlite-utils
    not_null: tuple[str, ...]
    pk: str | tuple[str, ...]

    def insert(self, *, skip: tuple[str, ...] = ()) -> str:
        """``INSERT INTO name (every column but ``skip``) VALUES (?, ...)``."""
        names = [c for c in self.columns if c not in skip]
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    def params(self, *, skip: tuple[str, ...] = ()) -> Callable[[Mapping[str, Any], Callable[[float], str]],
                                                                 tuple[Any, ...]]:
        """(row (field name -> value), iso) -> the parameters of ``insert(skip=skip)``, each
        ``*_iso`` column computed from its timestamp by ``iso`` (``_Stamps``, or ``clock.iso``)."""
        stamp_of = {_iso_column(c): c for c in self.columns}
        columns = [c for c in self.columns if c not in skip]
        # Hot path (the writer thread runs it for every row of a batch, and it holds the GIL the
        # reactor needs): one C-level itemgetter for every value, then the few ``*_iso`` columns
        # replaced in place, instead of a generator testing each column.
        get = itemgetter(*(stamp_of.get(c, c) for c in columns))
        stamps = tuple(i for i, c in enumerate(columns) if c in stamp_of)

        def params(row: Mapping[str, Any], stamp: Callable[[float], str] = iso) -> tuple[Any, ...]:
            return _stamped(list(get(row)), stamps, stamp)

        return params


def _stamped(values: list[Any], stamps: tuple[int, ...], stamp: Callable[[float], str]) -> tuple[Any, ...]:
    """A row's parameters with each ``*_iso`` column (at `stamps`, holding its clock seconds
    until now) written as text."""
    for i in stamps:
        value = values[i]
        if value is not None:
            values[i] = stamp(value)
    return tuple(values)


def _table(name: str, record: type | None, *, pk: str | tuple[str, ...] = "id", rowid: bool = False,
           after: Mapping[str, Any] | None = None, after_not_null: tuple[str, ...] = ()) -> _Table:
    """The table of ``record``; ``rowid`` puts an INTEGER PRIMARY KEY ``id`` first, ``after``
    adds columns the record does not carry (``after_not_null`` of them NOT NULL)."""
    columns: dict[str, Any] = {"id": int} if rowid else {}
    not_null: list[str] = []
    hints = get_type_hints(record) if record is not None else {}
    for f in fields(record) if record is not None else ():
        columns[f.name] = kind = _value_type(hints[f.name])
        names = [f.name]
        if f.metadata.get("iso"):
            columns[_iso_column(f.name)] = str
            names.append(_iso_column(f.name))
        if not _has_default(f) and not _nullable(hints[f.name]) and not (f.name == pk and kind is int):
            not_null.extend(names)
    columns.update(after or {})
    not_null.extend(after_not_null)
    return _Table(name, columns, tuple(not_null), pk)


_MESSAGES = _table("messages", MessageRecord)
_EVENTS = _table("message_events", MessageEvent, pk=("message_id", "seq"))
_RECEIPTS = _table("receipts", ReceiptRecord, rowid=True)  # id: arrival order
_DELIVERIES = _table(
    "deliveries", DeliveryRecord,
    after={
        "delivered_at": float,
        "delivered_iso": str,
        "failure": str,  # why it was given up instead of acknowledged (NULL when the client answered)
    },
)
_MOS = _table("mo", MoRecord, rowid=True)
_LEDGER = _table(  # id: billing order
    "ledger", None, rowid=True,
    after={"account": str, "message_id": str, "segments": int, "at": float, "at_iso": str,
           "amount": float, "kind": str},
    after_not_null=("account", "message_id", "segments", "at", "at_iso"),
)
_REFUSALS = _table("refusals", RefusalRecord, rowid=True)
# A rule's decision (aggregator.rules.base.RuleEvent); facts as JSON text.
_RULE_EVENTS = _table(
    "rule_events", None, rowid=True,
    after={"rule": str, "action": str, "account": str, "number": str, "campaign": str, "message_id": str,
           "at": float, "at_iso": str, "facts": str},
    after_not_null=("rule", "action", "account", "at", "at_iso", "facts"),
)
# The opt-out list (R1) and the purged numbers (R2), per account: what a restart reads back.
_OPTOUTS = _table("optouts", None, pk=("account", "number"),
                  after={"account": str, "number": str, "at": float, "at_iso": str, "how": str},
                  after_not_null=("account", "number", "at", "at_iso", "how"))
_PURGES = _table("purges", None, pk=("account", "number"),
                 after={"account": str, "number": str, "at": float, "at_iso": str, "reason": str},
                 after_not_null=("account", "number", "at", "at_iso", "reason"))
# Each prepaid account's credit (R10): the credit configured, the instant its validity runs
# from (when this store first saw it, or saw it raised: a new order), the segments earlier
# lapses took, and whether this order has lapsed. What a restart reads back.
_CREDITS = _table("credits", None, pk="account",
                  after={"account": str, "credit": int, "started_at": float, "started_iso": str, "lost": int,
                         "lapsed": int},
                  after_not_null=("account", "credit", "started_at", "started_iso", "lost", "lapsed"))

# Columns set_state() may change besides ``state`` (canonical order: it fixes the UPDATE
# text per column set, so sqlite3's statement cache reuses the prepared statement).
_UPDATABLE = ("operator_id", "operator_message_id", "error_code", "submitted_at", "done_at",
              "attempts")
_UPDATABLE_SET = frozenset(_UPDATABLE)
_TIMESTAMPS = frozenset(name for name in _UPDATABLE if _iso_column(name) in _MESSAGES.columns)

# How a record's fields become column values and back: per field, (name, to the column,
# from the column or None), where a missing conversion is the identity.
_Codec = tuple[tuple[str, Callable[[Any], Any] | None, Callable[[Any], Any] | None], ...]


def _enum_value(kind: type[Enum], value: Any) -> Any:
    """What an enum field stores: its value (``MessageState.ACCEPTED`` -> ``"accepted"``)."""
    return kind(value).value


def _codec(record: type) -> _Codec:
    hints = get_type_hints(record)
    out: list[tuple[str, Callable[[Any], Any] | None, Callable[[Any], Any] | None]] = []
    for f in fields(record):
        hint = hints[f.name]
        if isinstance(hint, type) and issubclass(hint, Enum):
            out.append((f.name, partial(_enum_value, hint), hint))
        elif _value_type(hint) is bytes:
            out.append((f.name, bytes, bytes))
        else:
            out.append((f.name, None, None))
    return tuple(out)


def _row(record: object, codec: _Codec) -> dict[str, Any]:
    """A record as a row: field name -> column value (``*_iso`` columns are added on write)."""
    return _row_maker(codec)(record)


@lru_cache(maxsize=None)
def _row_maker(codec: _Codec) -> Callable[[object], dict[str, Any]]:
    """``_row`` for one codec. Hot path (every message, receipt and delivery goes through it):
    one C-level attrgetter for all the fields, then only the few fields that convert."""
    names = tuple(name for name, _, _ in codec)
    get = attrgetter(*names)
    converted = tuple((name, out) for name, out, _ in codec if out is not None)

    def row(record: object) -> dict[str, Any]:
        values = dict(zip(names, get(record)))
        for name, out in converted:
            values[name] = out(values[name])
        return values

    return row



def _defaults(record: type) -> Mapping[str, Any]:
    """Fields with a default other than None: a NULL there (an older store) reads as it."""
    return {f.name: f.default for f in fields(record) if f.default is not MISSING and f.default is not None}


def _from_row(record: type[Any], codec: _Codec, defaults: Mapping[str, Any], row: Mapping[str, Any]) -> Any:
    """The record of a row (extra columns, such as ``*_iso``, are ignored)."""
    values = {}
    for name, _, back in codec:
        value = row[name]
        if value is None:
            value = defaults.get(name)
        values[name] = value if back is None or value is None else back(value)
    return record(**values)


def _columns_of(record: type) -> str:
    return ", ".join(f.name for f in fields(record))


_MESSAGE_CODEC = _codec(MessageRecord)
_MESSAGE_DEFAULTS = _defaults(MessageRecord)
_DELIVERY_CODEC = _codec(DeliveryRecord)
_MO_CODEC = _codec(MoRecord)
_EVENT_CODEC = _codec(MessageEvent)
_RECEIPT_CODEC = _codec(ReceiptRecord)

# --------------------------------------------------------------------------- statements

_INSERT_MESSAGE = _MESSAGES.insert()


def _message_params_maker() -> Callable[[MessageRecord, Mapping[str, Any], Callable[[float], str]], tuple[Any, ...]]:
    """(record, changes folded since its add, iso) -> the parameters of ``_INSERT_MESSAGE``.
    Hot path (every message): one C-level attrgetter straight into column order, no row dict
    (it was ~3 % of serve's reactor thread in add_message), then the few conversions, the
    changes and the ``*_iso`` columns in place. ``test_store_rows`` checks it against
    ``_row`` + ``_MESSAGES.params``, the general path of the other tables."""
    columns = list(_MESSAGES.columns)
    stamp_of = {_iso_column(c): c for c in columns}
    get = attrgetter(*(stamp_of.get(c, c) for c in columns))
    index = {c: i for i, c in enumerate(columns)}
    converted = tuple((index[name], out) for name, out, _ in _MESSAGE_CODEC if out is not None)
    stamps = tuple(i for i, c in enumerate(columns) if c in stamp_of)

    def params(record: MessageRecord, changes: Mapping[str, Any], stamp: Callable[[float], str]) -> tuple[Any, ...]:
        values = list(get(record))
        for i, out in converted:
            values[i] = out(values[i])
        for name, value in changes.items():
            i = index[name]
            values[i] = value
            if name in _TIMESTAMPS:
                values[i + 1] = value
        return _stamped(values, stamps, stamp)

    return params


_message_params = _message_params_maker()
_INSERT_DELIVERY = _DELIVERIES.insert()
_delivery_params = _DELIVERIES.params()
_DELIVERY_DONE = "UPDATE deliveries SET delivered_at = ?, delivered_iso = ?, failure = ? WHERE id = ?"
_DELIVERY_DONE_FROM = ("UPDATE deliveries SET delivered_at = v.column1, delivered_iso = v.column2, failure = v.column3"
                       " FROM (VALUES {values}) AS v WHERE deliveries.id = v.column4")
_INSERT_MO = _MOS.insert(skip=("id",))
_mo_params = _MOS.params(skip=("id",))
# seq is counted in memory (Store._seqs, per unfinished message; loaded again on reopen), so a
# batch's events are one multi-row INSERT; an event of a message the counter does not follow
# (final already, or never added) takes its seq from what is stored (the writer's lookup).
_INSERT_EVENT = _EVENTS.insert()
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM message_events WHERE message_id = ?"
_INSERT_LEDGER = _LEDGER.insert(skip=("id",))
_INSERT_REFUSAL = _REFUSALS.insert(skip=("id",))
_refusal_params = _REFUSALS.params(skip=("id",))
_REFUSAL_CODEC = _codec(RefusalRecord)
_INSERT_RULE_EVENT = _RULE_EVENTS.insert(skip=("id",))
_SET_OPTOUT = "INSERT OR REPLACE" + _OPTOUTS.insert()[len("INSERT"):]
_REMOVE_OPTOUT = "DELETE FROM optouts WHERE account = ? AND number = ?"
_SET_PURGE = "INSERT OR REPLACE" + _PURGES.insert()[len("INSERT"):]
# The per-account number lists (R1's opt-outs, R2's purges): table -> its "why" column.
_NUMBER_LISTS = {"optouts": "how", "purges": "reason"}
_SET_CREDIT = "INSERT OR REPLACE" + _CREDITS.insert()[len("INSERT"):]
_INSERT_RECEIPT = _RECEIPTS.insert(skip=("id",))
_receipt_params = _RECEIPTS.params(skip=("id",))

# The message-id counter only ever goes up: written in the same transaction as the messages it
# numbered, so an id handed to a client (after that commit) is never handed out again, even
# if rows are later deleted (retention) or the process dies at any instant.
_RAISE_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)"
)

_SELECT_MESSAGES = "SELECT * FROM messages"
_ORDER_MESSAGES = " ORDER BY created_at, id"

# What a failing scenario expectation lists of the rows it counted or missed (``Store.records``,
# scenarios/runner.py): per subject (the expectation's), the rows with the fields a report names
# (times as clock seconds, "at" first), the column each of the expectation's filters reads
# (scenarios.model.Filter's names; "acknowledged" is the condition the deliveries count has),
# and their order: time, then arrival.
_RECORD_VIEWS: Mapping[str, tuple[str, Mapping[str, str], str]] = {
    "messages": ("SELECT m.created_at AS at, m.id AS message, m.account, m.destination_addr AS number,"
                 " m.operator_id AS operator, m.state, m.error_code AS error, m.done_at FROM messages m",
                 {"state": "m.state", "account": "m.account", "operator": "m.operator_id", "text": "m.short_message"},
                 "m.created_at, m.id"),
    "receipts": ("SELECT r.received_at AS at, r.message_id AS message, m.account, m.destination_addr AS number,"
                 " m.operator_id AS operator, r.stat, r.err FROM receipts r JOIN messages m ON m.id = r.message_id",
                 {"stat": "r.stat", "account": "m.account", "operator": "m.operator_id"}, "r.received_at, r.id"),
    "mos": ("SELECT received_at AS at, source_addr AS number, destination_addr AS short_code,"
            " operator_id AS operator, account FROM mo",
            {"account": "account", "operator": "operator_id", "text": "short_message"}, "received_at, id"),
    "deliveries": ("SELECT created_at AS at, id AS delivery, account, kind, message_id AS message, delivered_at,"
                   " failure FROM deliveries",
                   {"account": "account", "acknowledged": "(delivered_at IS NOT NULL)"}, "created_at, id"),
    "events": ("SELECT e.at, e.message_id AS message, m.account, m.destination_addr AS number,"
               " m.operator_id AS operator, e.state, e.detail FROM message_events e"
               " JOIN messages m ON m.id = e.message_id",
               {"state": "e.state", "account": "m.account", "operator": "m.operator_id"}, "e.at, e.message_id, e.seq"),
    "ledger": ("SELECT at, message_id AS message, account, segments, amount, kind FROM ledger",
               {"account": "account"}, "at, id"),
    "rules": ("SELECT at, rule, action, account, number, campaign, message_id AS message FROM rule_events",
              {"rule": "rule", "action": "action", "account": "account", "number": "number", "campaign": "campaign"},
              "at, id"),
    "refusals": ("SELECT at, account, destination_addr AS number, status, rule, reason FROM refusals",
                 {"account": "account", "status": "status", "rule": "rule"}, "at, id"),
}


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
                 "refusals", "rule_events", "lists", "acks", "committed")

    def __init__(self) -> None:
        # message id -> (its record as added, the set_state changes since, folded into its INSERT)
        self.adds: dict[str, tuple[MessageRecord, dict[str, Any]]] = {}
        self.updates: dict[str, dict[str, Any]] = {}
        # (message_id, seq or None: the writer looks it up, at, state, detail)
        self.events: list[tuple[str, int | None, float, str, str]] = []
        self.receipts: list[ReceiptRecord] = []
        # Deliveries not yet written, by id, with their acknowledgement time if it came
        # before the write (then the row is written done, with no UPDATE).
        self.deliveries: dict[int, tuple[DeliveryRecord, float | None, str | None]] = {}
        self.deliveries_done: list[tuple[float, str | None, int]] = []
        self.mos: list[MoRecord] = []
        self.ledger: list[tuple[str, str, int, float, float, str]] = []
        self.refusals: list[RefusalRecord] = []
        self.rule_events: list[RuleEvent] = []
        # changes of the opt-out and purge lists and of the credit starts, in call order:
        # (statement, parameters)
        self.lists: list[tuple[str, tuple[Any, ...]]] = []
        self.acks: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        self.committed = False

    def has_writes(self) -> bool:
        return bool(self.adds or self.updates or self.events or self.receipts or self.deliveries
                    or self.deliveries_done or self.mos or self.ledger or self.refusals or self.rule_events
                    or self.lists)


def _write(db: Database, batch: _Batch) -> None:
    """Write a batch in ONE transaction, in call order. Rolls back and raises on error,
    leaving the batch as it was (so it can be written again).

    Rows go in as multi-row statements (``_Rows``: up to ``_MAX_PARAMS`` parameters each), not
    one ``executemany`` step per row: fewer statements for SQLite to run, and sqlite3 releases
    the GIL around every step, so in `serve` each step made the writer thread wait for the
    reactor thread to give the GIL back (~9 steps per message before, well under one now)."""
    conn = db.conn
    stamp = _Stamps()
    with db.atomic():
        if batch.adds:
            _MESSAGE_ROWS.insert(conn, [_message_params(record, changes, stamp)
                                        for record, changes in batch.adds.values()])
            number = _message_number(next(reversed(batch.adds)))
            if number is not None:
                conn.execute(_RAISE_COUNTER, ("message", number + 1))
        if batch.updates:
            for (sql, cols), rows in _group_updates(batch.updates, stamp).items():
                _update_rows(conn, sql, cols, rows)
        if batch.events:
            _EVENT_ROWS.insert(conn, _event_rows(conn, batch.events, stamp))
        if batch.receipts:
            _RECEIPT_ROWS.insert(conn, [_receipt_params(_row(r, _RECEIPT_CODEC), stamp) for r in batch.receipts])
        if batch.deliveries:
            _DELIVERY_ROWS.insert(conn, [
                _delivery_params({**_row(d, _DELIVERY_CODEC), "delivered_at": done, "failure": failure}, stamp)
                for d, done, failure in batch.deliveries.values()])
        if batch.deliveries_done:
            _update_rows(conn, _DELIVERY_DONE, _DELIVERY_DONE_FROM, [
                (at, stamp(at), failure, delivery_id)
                # last call wins, as applying them one by one would (one row per id in a statement)
                for delivery_id, (at, failure) in _last_per_key(batch.deliveries_done).items()])
        if batch.mos:
            conn.executemany(_INSERT_MO, (_mo_params(_row(m, _MO_CODEC), stamp) for m in batch.mos))
        if batch.ledger:
            _LEDGER_ROWS.insert(conn, [
                (account, message_id, segments, at, stamp(at), amount, kind)
                for account, message_id, segments, at, amount, kind in batch.ledger])
        if batch.refusals:
            conn.executemany(_INSERT_REFUSAL, (_refusal_params(_row(r, _REFUSAL_CODEC), stamp)
                                               for r in batch.refusals))
        if batch.rule_events:
            conn.executemany(_INSERT_RULE_EVENT, (
                (e.rule, e.action, e.account, e.number, e.campaign, e.message_id, e.at, stamp(e.at),
                 json.dumps(dict(e.facts), sort_keys=True, separators=(",", ":")))
                for e in batch.rule_events))
        for sql, params in batch.lists:
            conn.execute(sql, params)


def _event_rows(conn: sqlite3.Connection, events: list[tuple[str, int | None, float, str, str]],
                stamp: Callable[[float], str]) -> list[tuple[Any, ...]]:
    """The events' rows, each with its seq: the one counted in memory, or (None) the next after
    what is stored and what this batch wrote before it for that message."""
    rows = []
    last: dict[str, int] = {}       # message -> the seq this batch gave it last
    for mid, seq, at, state, detail in events:
        if seq is None:
            seq = last.get(mid)
            if seq is None:
                seq = conn.execute(_LAST_SEQ, (mid,)).fetchone()[0]
            seq += 1
        last[mid] = seq
        rows.append((mid, seq, at, stamp(at), state, detail))
    return rows


def _last_per_key(done: list[tuple[float, str | None, int]]) -> dict[int, tuple[float, str | None]]:
    return {delivery_id: (at, failure) for at, failure, delivery_id in done}


class _Stamps:
    """``iso()`` with a memory, for one batch: a message's row, its event and its ledger line
    carry the same instant, written once."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[float, str] = {}

    def __call__(self, seconds: float) -> str:
        text = self._seen.get(seconds)
        if text is None:
            text = self._seen[seconds] = iso(seconds)
        return text


# The most parameters a statement binds: SQLite's SQLITE_MAX_VARIABLE_NUMBER before 3.32 (the
# lowest a Python 3.11 may bring; later versions allow 32,766).
_MAX_PARAMS = 999


class _Rows:
    """INSERTs of many rows per statement: ``INSERT ... VALUES (...), (...), ...`` (see
    `_execute_rows`). Rows go in in order: a rowid table numbers them as ``executemany`` would."""

    __slots__ = ("_template", "_width")

    def __init__(self, insert: str) -> None:
        head, _, values = insert.partition(" VALUES ")
        self._template = head + " VALUES {values}"
        self._width = values.count("?")

    def insert(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        _execute_rows(conn, self._template, self._width, rows)


def _execute_rows(conn: sqlite3.Connection, template: str, width: int, rows: list[tuple[Any, ...]]) -> None:
    """`rows` (of `width` values each) through `template`, whose ``{values}`` becomes a list of
    row groups ``(?, ...), (?, ...)``: as many rows per statement as ``_MAX_PARAMS`` allows,
    the rest in power-of-two statements (a few distinct texts, so sqlite3's statement cache
    keeps them prepared)."""
    for start, count in _chunks(len(rows), max(1, _MAX_PARAMS // width)):
        conn.execute(_many_rows(template, width, count), list(chain.from_iterable(rows[start:start + count])))


@lru_cache(maxsize=None)
def _many_rows(template: str, width: int, rows: int) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return template.format(values=", ".join([one] * rows))


def _chunks(total: int, per: int) -> Iterable[tuple[int, int]]:
    """(start, count) covering ``total`` rows: full chunks of ``per``, then powers of two."""
    start = 0
    while total - start >= per:
        yield start, per
        start += per
    size = 1 << max(0, per.bit_length() - 1)
    while start < total:
        while size > total - start:
            size >>= 1
        yield start, size
        start += size


def _update_rows(conn: sqlite3.Connection, sql: str, from_sql: str | None, rows: list[tuple[Any, ...]]) -> None:
    """``sql`` (an UPDATE ... WHERE key = ?, the key last) for each row; with ``from_sql``
    (SQLite 3.33+: UPDATE ... FROM), as few statements as ``_Rows`` would: the values joined
    as a VALUES table whose last column is the key. Each key once per call (merged before)."""
    if from_sql is None or not _UPDATE_FROM:
        conn.executemany(sql, rows)
        return
    _execute_rows(conn, from_sql, len(rows[0]), rows)


_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_MESSAGE_ROWS = _Rows(_INSERT_MESSAGE)
_EVENT_ROWS = _Rows(_INSERT_EVENT)
_RECEIPT_ROWS = _Rows(_INSERT_RECEIPT)
_DELIVERY_ROWS = _Rows(_INSERT_DELIVERY)
_LEDGER_ROWS = _Rows(_INSERT_LEDGER)


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
        scratch: bool = False,
        flushes_per_write: int = 1,
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
        crash means a re-run.

        `scratch`: the file is thrown away once read (a scenario replay's, whose report is all
        that is kept): no durability is asked of it, so the rollback journal stays in memory
        and nothing is synced (a transaction still commits or rolls back whole). A replay's
        commits cost about a third less; the rows written are the same.

        `flushes_per_write` (a replay's store, without a writer thread): only one scheduled
        flush in that many writes; the others just mark what it would have committed, so
        `uncommitted_messages` (which the server's `limits.max_uncommitted` reads) counts as if
        every one had, and the replay behaves the same. Fewer, larger transactions write the
        same rows (a message's later changes fold into its pending insert)."""
        # Plugins are not loaded: nothing here needs them, and a plugin installed in the venv
        # must not change how the harness's database behaves.
        self._path = os.fspath(path)
        self._db = Database(self._path, execute_plugins=False)
        if scratch:
            if call_from_thread is not None:
                raise ValueError("a scratch store has no writer thread (nothing waits for its commits)")
            self._db.execute("PRAGMA journal_mode=MEMORY")
            self._db.execute("PRAGMA synchronous=OFF")
        else:
            self._db.enable_wal()  # readers (sqlite3 CLI, reports) never block the reactor's writes
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL-safe; no fsync per commit
        self._create_schema()
        self._schedule = schedule
        self._flush_interval = flush_interval
        if flushes_per_write < 1 or (flushes_per_write > 1 and call_from_thread is not None):
            raise ValueError("flushes_per_write is >= 1, and 1 with a writer thread")
        self._flushes_per_write = flushes_per_write
        self._flushes_skipped = 0
        self._adds_marked = 0                      # adds of the open batch a skipped flush marked
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
        # The last event seq of every unfinished message (what will get more events): counted
        # here, not looked up per event by the writer. A final message leaves it (memory stays
        # bounded by what is in flight); an event for one is numbered from the store.
        self._seqs: dict[str, int] = dict(self._db.conn.execute(
            "SELECT message_id, MAX(seq) FROM message_events WHERE message_id IN"
            f" (SELECT id FROM messages WHERE state IN ({', '.join(repr(s.value) for s in _UNFINISHED)}))"
            " GROUP BY message_id ORDER BY message_id").fetchall())

    @property
    def uncommitted_messages(self) -> int:
        """Messages added but not committed yet (what a stuck database holds back)."""
        sealed = self._sealed
        return len(self._open.adds) - self._adds_marked + (len(sealed.adds) if sealed is not None else 0)

    def _create_schema(self) -> None:
        """Create missing tables and indexes; an existing file keeps its data."""
        db = self._db
        for table in (_MESSAGES, _EVENTS, _RECEIPTS, _DELIVERIES):
            db.table(table.name).create(table.columns, pk=table.pk, not_null=table.not_null, if_not_exists=True)
        if "failure" not in db.table("deliveries").columns_dict:   # a store made by an older version
            db.table("deliveries").add_column("failure", str)
        for table in (_MOS, _LEDGER, _REFUSALS, _RULE_EVENTS, _OPTOUTS, _PURGES, _CREDITS):
            db.table(table.name).create(table.columns, pk=table.pk, not_null=table.not_null, if_not_exists=True)
        # Columns added since the first version: a store made by an older one gets them.
        for name, column, kind in (("messages", "campaign", str), ("ledger", "amount", float), ("ledger", "kind", str)):
            if column not in db.table(name).columns_dict:
                db.table(name).add_column(column, kind)
        db.table("rule_events").create_index(("rule", "action"), "idx_rule_events_rule", if_not_exists=True)
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

        Without a writer thread: ONE transaction (a few statements per table), in order; on error
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
        self._flushes_skipped = self._adds_marked = 0

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
        elif self._flushes_skipped + 1 < self._flushes_per_write:
            self._flushes_skipped += 1
            self._adds_marked = len(self._open.adds)
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
        self._open.adds[msg.id] = (msg, {})
        self._seqs[msg.id] = 0
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
            pending_add[1]["state"] = value
            pending_add[1].update(changes)
        else:
            update = self._open.updates.get(message_id)
            if update is None:
                self._open.updates[message_id] = update = {}
            update["state"] = value
            update.update(changes)
        seq = self._seqs.pop(message_id, None)
        if seq is not None:
            seq += 1
            if value not in _FINAL_VALUES:
                self._seqs[message_id] = seq
        self._open.events.append((message_id, seq, at, value, detail))
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
            self._open.deliveries_done.append((at, failure, delivery_id))
        self._queued()

    def bill(self, account: str, message_id: str, segments: int, at: float, amount: float = 0.0,
             kind: str = "message") -> None:
        """Queue a ledger line (R10): ``account`` is billed ``segments`` SMS costing ``amount``
        for a message it had accepted (``kind`` "message"), or a surcharge (R3, "reprice")."""
        self._check_open()
        self._open.ledger.append((account, message_id, segments, at, amount, kind))
        self._queued()

    def add_refusal(self, refusal: RefusalRecord) -> None:
        """Queue a submit the aggregator refused."""
        self._check_open()
        self._open.refusals.append(refusal)
        self._queued()

    # --- what the rules remember (aggregator.rules.base.RuleLog) ----------------------

    def add_rule_event(self, event: RuleEvent) -> None:
        self._check_open()
        self._open.rule_events.append(event)
        self._queued()

    def set_optout(self, account: str, number: str, at: float, how: str) -> None:
        """Put ``number`` on ``account``'s opt-out list (R1); ``how``: "mo" or "manual"."""
        self._check_open()
        self._open.lists.append((_SET_OPTOUT, (account, number, at, iso(at), how)))
        self._queued()

    def remove_optout(self, account: str, number: str) -> None:
        self._check_open()
        self._open.lists.append((_REMOVE_OPTOUT, (account, number)))
        self._queued()

    def add_purge(self, account: str, number: str, at: float, reason: str) -> None:
        """Put ``number`` on ``account``'s purged numbers (R2)."""
        self._check_open()
        self._open.lists.append((_SET_PURGE, (account, number, at, iso(at), reason)))
        self._queued()

    def set_credit(self, account: str, credit: int, started_at: float, lost: int, lapsed: bool) -> None:
        """``account``'s prepaid credit (R10): ``credit`` segments, valid from ``started_at``;
        ``lost`` segments taken by lapses; ``lapsed``: this order's validity is over."""
        self._check_open()
        self._open.lists.append((_SET_CREDIT, (account, credit, started_at, iso(started_at), lost, int(lapsed))))
        self._queued()

    def add_mo(self, mo: MoRecord) -> None:
        self._check_open()
        self._open.mos.append(mo)
        self._queued()

    # ----------------------------------------------------------------------- reads

    def rule_events(self, rule: str | None = None, account: str | None = None) -> list[RuleEvent]:
        """Rule decisions, in the order they were made."""
        where, params = _filters(("rule", rule), ("account", account))
        rows = self._query("SELECT * FROM rule_events" + where + " ORDER BY id", params)
        return [_rule_event(r) for r in rows]

    def latest_rule_events(self, last: int, rule: str | None = None) -> list[RuleEvent]:
        """The `last` newest committed rule decisions (1 to 100), of every rule or of `rule`
        only, newest first: the dashboard's panel (GET /rules/events?last=N). Newest is the
        order the store wrote them in (rowid), read from the end of the table's b-tree: no
        sort. With `rule`, that walk skips the other rules' rows until it has `last` (a rule
        that never fired: the whole table, one pass in SQLite). What is committed only, as
        latest_messages: a running `serve` never waits on the database for it. Raises
        StoreUnavailable when the file cannot be read now."""
        if not 1 <= last <= 100:
            raise ValueError(f"last: 1 to 100, got {last}")
        # "+rule": not through idx_rule_events_rule, whose order (rule, action, rowid) would
        # need every row of that rule sorted; the table's own order needs none.
        where, params = ("", ()) if rule is None else (" WHERE +rule = ?", (rule,))
        rows = self._committed_query("SELECT * FROM rule_events" + where + " ORDER BY rowid DESC LIMIT ?",
                                     (*params, last))
        return [_rule_event(r) for r in rows]

    def count_rule_events(self, rule: str | None = None, action: str | None = None, account: str | None = None,
                          number: str | None = None, campaign: str | None = None) -> int:
        where, params = _filters(("rule", rule), ("action", action), ("account", account), ("number", number),
                                 ("campaign", campaign))
        return self._query("SELECT COUNT(*) AS n FROM rule_events" + where, params)[0]["n"]

    def refusals(self) -> list[RefusalRecord]:
        rows = self._query("SELECT * FROM refusals ORDER BY id")
        return [_from_row(RefusalRecord, _REFUSAL_CODEC, {}, r) for r in rows]

    def count_refusals(self, account: str | None = None, status: int | None = None, rule: str | None = None) -> int:
        where, params = _filters(("account", account), ("status", status), ("rule", rule))
        return self._query("SELECT COUNT(*) AS n FROM refusals" + where, params)[0]["n"]

    def refusal_counts(self) -> list[tuple[str, int, str | None, int]]:
        """(account, status, rule, count) of every kind of refusal, ordered."""
        rows = self._query("SELECT account, status, rule, COUNT(*) AS n FROM refusals"
                           " GROUP BY account, status, rule ORDER BY account, status, rule")
        return [(r["account"], r["status"], r["rule"], r["n"]) for r in rows]

    def optouts(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        """(account, number, since, how) on the opt-out lists (R1), by account then number."""
        return self._number_list("optouts", account)

    def purges(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        """(account, number, since, reason) of the purged numbers (R2), by account then number."""
        return self._number_list("purges", account)

    def _number_list(self, table: str, account: str | None) -> list[tuple[str, str, float, str]]:
        where, params = _filters(("account", account))
        rows = self._query(f"SELECT account, number, at, {_NUMBER_LISTS[table]} AS why FROM {table}" + where
                           + " ORDER BY account, number", params)
        return [(r["account"], r["number"], r["at"], r["why"]) for r in rows]

    def unknown_failures(self, since: float, unknown_statuses: Mapping[str, int],
                         deliveries: bool = False) -> list[Outcome]:
        """R2's restart (aggregator/rules/purge.py): the messages that ended after ``since``
        as an unknown subscriber (UNDELIV err 001, by receipt or query_sm), a terminated line
        (UNDELIV err 005) or refused at submit with their operator's unknown-subscriber status
        (``unknown_statuses``: operator id -> status), as the delivery engine reported them;
        with ``deliveries``, also the deliveries (DELIVRD) after ``since`` to an (account,
        number) among them. Oldest first (done_at, then id)."""
        refused = " OR ".join("(operator_id = ? AND error_code = ?)" for _ in unknown_statuses) or "0"
        failures = ("SELECT id, account, destination_addr, operator_id, campaign, state, error_code, done_at"
                    " FROM messages WHERE state IN ('undeliverable', 'rejected') AND done_at > ?"
                    " AND (state = 'undeliverable' AND error_code IN (1, 5)"
                    f" OR state = 'rejected' AND ({refused}))")
        params: list[Any] = [since]
        for operator_id, status in sorted(unknown_statuses.items()):
            params += [operator_id, int(status)]
        sql = failures
        if deliveries:
            sql = (f"WITH f AS ({failures}) SELECT * FROM f UNION ALL"
                   " SELECT id, account, destination_addr, operator_id, campaign, state, error_code, done_at"
                   " FROM messages WHERE state = 'delivered' AND done_at > ?"
                   " AND (account, destination_addr) IN (SELECT account, destination_addr FROM f)")
            params.append(since)
        rows = self._query(sql + " ORDER BY done_at, id", params)
        outcomes = []
        for r in rows:
            code = r["error_code"]
            stat, err = {"undeliverable": ("UNDELIV", f"{code or 0:03d}"),
                         "rejected": ("REJECTD", f"{(code or 0) & 0xFF:03d}"),
                         "delivered": ("DELIVRD", "000")}[r["state"]]
            outcomes.append(Outcome(r["account"], r["destination_addr"], r["operator_id"], r["id"], r["campaign"],
                                    stat, err, code, r["done_at"]))
        return outcomes

    def sum_ledger(self, column: str, account: str | None = None) -> float:
        """The total of ``column`` ("segments" or "amount") over the ledger lines. Amounts are
        summed exactly, in millionths (each line's amount is rounded to a millionth): a float
        sum of a million lines would be off by about that much."""
        if column not in ("segments", "amount"):
            raise ValueError(f"cannot sum ledger column {column!r}")
        where, params = _filters(("account", account))
        total = "SUM(segments)" if column == "segments" else "SUM(CAST(ROUND(amount * 1000000) AS INTEGER))"
        rows = self._query(f"SELECT COALESCE({total}, 0) AS n FROM ledger" + where, params)
        return rows[0]["n"] if column == "segments" else rows[0]["n"] / 1_000_000

    def campaign_destinations(self, since: float | None = None) -> list[tuple[str, str, str, str, float]]:
        """(account, campaign, E.164 destination, message id, accepted at) of every message
        accepted with a campaign id, oldest first; with ``since``, only the campaigns used at
        or after it (R8 rebuilds its memory of each send from them after a restart)."""
        sql = ("SELECT account, campaign, destination_addr, id, created_at FROM messages"
               " WHERE campaign IS NOT NULL")
        params: tuple[object, ...] = ()
        if since is not None:
            sql += (" AND (account, campaign) IN (SELECT account, campaign FROM messages"
                    " WHERE campaign IS NOT NULL GROUP BY account, campaign HAVING MAX(created_at) >= ?)")
            params = (since,)
        rows = self._query(sql + _ORDER_MESSAGES, params)
        return [(r["account"], r["campaign"], r["destination_addr"], r["id"], r["created_at"]) for r in rows]

    def pending_deliveries(self) -> list[DeliveryRecord]:
        """Deliveries not yet acknowledged, oldest first (resumed after a restart)."""
        rows = self._query(
            f"SELECT {_columns_of(DeliveryRecord)} FROM deliveries WHERE delivered_at IS NULL ORDER BY id"
        )
        return [_from_row(DeliveryRecord, _DELIVERY_CODEC, {}, r) for r in rows]

    def deliveries(self, account: str | None = None) -> list[tuple[DeliveryRecord, float | None]]:
        """Every delivery with its acknowledgement time (None while pending), oldest first."""
        sql = "SELECT * FROM deliveries" + (" WHERE account = ?" if account else "") + " ORDER BY id"
        rows = self._query(sql, (account,) if account else ())
        return [(_from_row(DeliveryRecord, _DELIVERY_CODEC, {}, r), r["delivered_at"]) for r in rows]

    def mos(self) -> list[MoRecord]:
        rows = self._query("SELECT * FROM mo ORDER BY id")
        return [_from_row(MoRecord, _MO_CODEC, {}, r) for r in rows]

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
                row = {**_row(added[0], _MESSAGE_CODEC), **added[1]}
            changes = batch.updates.get(message_id)
            if changes is not None and row is not None:
                row = {**row, **changes}
        return _message_record(row) if row is not None else None

    def history(self, message_id: str) -> list[MessageEvent]:
        """State transitions of a message, ordered by seq."""
        rows = self._query(
            f"SELECT {_columns_of(MessageEvent)} FROM message_events WHERE message_id = ? ORDER BY seq",
            (message_id,),
        )
        return [_from_row(MessageEvent, _EVENT_CODEC, {}, r) for r in rows]

    def receipts(self, message_id: str) -> list[ReceiptRecord]:
        """Receipts received for a message, in arrival order."""
        rows = self._query(
            f"SELECT {_columns_of(ReceiptRecord)} FROM receipts WHERE message_id = ? ORDER BY received_at, id",
            (message_id,),
        )
        return [_from_row(ReceiptRecord, _RECEIPT_CODEC, {}, r) for r in rows]

    def latest_messages(self, last: int) -> list[tuple[MessageRecord, list[MessageEvent], list[ReceiptRecord]]]:
        """The `last` newest committed messages (1 to 100), newest first, each with its state
        history and receipts: the dashboard's list (GET /messages?last=N), three queries
        whatever N. Newest is the order the store wrote them in (rowid: the order they were
        accepted in), read from the end of the table's b-tree: no sort, however many rows.
        What is committed only, as /status: a running `serve` never waits on the database
        for it. Raises StoreUnavailable when the file cannot be read now."""
        if not 1 <= last <= 100:
            raise ValueError(f"last: 1 to 100, got {last}")
        rows = self._committed_query(_SELECT_MESSAGES + " ORDER BY rowid DESC LIMIT ?", (last,))
        if not rows:
            return []
        ids = tuple(r["id"] for r in rows)
        marks = ", ".join("?" * len(ids))
        histories: dict[str, list[MessageEvent]] = {i: [] for i in ids}
        for r in self._committed_query(f"SELECT {_columns_of(MessageEvent)} FROM message_events"
                                       f" WHERE message_id IN ({marks}) ORDER BY message_id, seq", ids):
            histories[r["message_id"]].append(_from_row(MessageEvent, _EVENT_CODEC, {}, r))
        receipts: dict[str, list[ReceiptRecord]] = {i: [] for i in ids}
        for r in self._committed_query(f"SELECT {_columns_of(ReceiptRecord)} FROM receipts"
                                       f" WHERE message_id IN ({marks}) ORDER BY received_at, id", ids):
            receipts[r["message_id"]].append(_from_row(ReceiptRecord, _RECEIPT_CODEC, {}, r))
        return [(_message_record(r), histories[r["id"]], receipts[r["id"]]) for r in rows]

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
        """SMS segments the ledger has billed to ``account`` for its messages (R10: what its
        credit paid), 0 when none. Surcharge lines (R3 "reprice") are not messages; a line
        from a store older than the ``kind`` column is one."""
        rows = self._query("SELECT COALESCE(SUM(segments), 0) AS n FROM ledger"
                           " WHERE account = ? AND (kind IS NULL OR kind = 'message')", (account,))
        return int(rows[0]["n"])

    def credits(self) -> dict[str, tuple[int, float, int, bool]]:
        """account -> (credit, started_at, lost, lapsed) of every prepaid credit this store has
        seen (R10, ``set_credit``)."""
        rows = self._query("SELECT account, credit, started_at, lost, lapsed FROM credits ORDER BY account")
        return {r["account"]: (int(r["credit"]), float(r["started_at"]), int(r["lost"]), bool(r["lapsed"]))
                for r in rows}

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

    def records(self, subject: str, filters: Mapping[str, object], first: int,
                unlike: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """(how many, the first ``first`` in time order) of the rows an expectation on
        ``subject`` counts with ``filters`` (filter name -> value, as the count_* methods take
        them); with ``unlike`` (one of the filters), the rows that match every other filter and
        differ on that one: what the expectation did not count. Only for a failing
        expectation (scenarios/runner.py): two queries, rows as _RECORD_VIEWS names them."""
        select, columns, order = _RECORD_VIEWS[subject]
        terms, params = [], []
        for name, value in filters.items():
            terms.append(f"{columns[name]} {'IS NOT' if name == unlike else '='} ?")
            params.append(value)
        where = " WHERE " + " AND ".join(terms) if terms else ""
        table = select.partition(" FROM ")[2]
        total = self._query(f"SELECT COUNT(*) AS n FROM {table}{where}", params)[0]["n"]
        rows = self._query(f"{select}{where} ORDER BY {order} LIMIT ?", [*params, max(0, first)])
        return total, rows

    def message_timings(self) -> list[tuple[str, str, float, float | None]]:
        """(operator_id, state, created_at, done_at) of every message, ORDER BY created_at, id:
        what a report draws its outcomes, latencies and throughput from."""
        self._check_open()
        self.flush()
        return self._db.conn.execute(
            "SELECT operator_id, state, created_at, done_at FROM messages" + _ORDER_MESSAGES).fetchall()

    # --- what a report shows of the rules (reports.model; bounded however long the run) ---

    def rule_event_groups(self, first: int) -> list[tuple[str, str, str, int, float, float, list[RuleEvent]]]:
        """(rule, action, account, count, first at, last at, the group's first ``first`` events)
        per kind of rule decision, ordered by rule, action, account: a month of thousands of
        events reads as a few dozen groups."""
        groups = self._query(
            "SELECT rule, action, account, COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at"
            " FROM rule_events GROUP BY rule, action, account ORDER BY rule, action, account")
        out = []
        for g in groups:
            # The (rule, action) index keeps equal keys in id order: the LIMIT stops the scan early.
            rows = self._query("SELECT * FROM rule_events WHERE rule = ? AND action = ? AND account = ?"
                               " ORDER BY id LIMIT ?", (g["rule"], g["action"], g["account"], max(0, first)))
            out.append((g["rule"], g["action"], g["account"], g["n"], g["first_at"], g["last_at"],
                        [_rule_event(r) for r in rows]))
        return out

    def first_rule_events(self, rule: str, actions: tuple[str, ...], first: int) -> list[RuleEvent]:
        """The first ``first`` events of ``rule`` with one of ``actions`` and no campaign id, in
        the order they were made (R3's windowed sends, for the report)."""
        marks = ", ".join("?" for _ in actions)
        rows = self._query(f"SELECT * FROM rule_events WHERE rule = ? AND action IN ({marks}) AND campaign IS NULL"
                           " ORDER BY id LIMIT ?", (rule, *actions, max(0, first)))
        return [_rule_event(r) for r in rows]

    def list_summary(self, table: str, first: int) -> tuple[list[tuple[str, int]], list[tuple[str, str, float, str]]]:
        """The opt-out (``"optouts"``, R1) or purge (``"purges"``, R2) list, bounded: (account,
        count) per account, and the first ``first`` entries (account, number, since, how or
        reason) by account then number."""
        why = _NUMBER_LISTS.get(table)
        if why is None:
            raise ValueError(f"no number list {table!r}")
        counts = self._query(f"SELECT account, COUNT(*) AS n FROM {table} GROUP BY account ORDER BY account")
        rows = self._query(f"SELECT account, number, at, {why} AS why FROM {table} ORDER BY account, number LIMIT ?",
                           (max(0, first),))
        return ([(r["account"], r["n"]) for r in counts],
                [(r["account"], r["number"], r["at"], r["why"]) for r in rows])

    def campaign_split(self) -> list[tuple[str, str, str, int]]:
        """(account, campaign, operator_id, messages) of the messages sent with a campaign id,
        ordered: the observed split of each bulk send among operators (R3's report)."""
        rows = self._query(
            "SELECT account, campaign, operator_id, COUNT(*) AS n FROM messages WHERE campaign IS NOT NULL"
            " GROUP BY account, campaign, operator_id ORDER BY account, campaign, operator_id")
        return [(r["account"], r["campaign"], r["operator_id"], r["n"]) for r in rows]

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


def _rule_event(row: Mapping[str, Any]) -> RuleEvent:
    return RuleEvent(row["rule"], row["action"], row["account"], row["at"], row["number"], row["campaign"],
                     row["message_id"], json.loads(row["facts"]))


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


def _group_updates(updates: Mapping[str, Mapping[str, Any]], stamp: Callable[[float], str] = iso
                   ) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    """Merged per-message changes → {(UPDATE statement, its UPDATE ... FROM form): parameter
    rows}, one statement per distinct column set, so each set is written together."""
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for message_id, change in updates.items():
        # The statement and its column list depend only on which columns changed: built once
        # per column set (_update_plan), as this runs for every message of a batch.
        sql, from_sql, cols = _update_plan(tuple(c for c in _UPDATABLE if c in change))
        params: list[Any] = []
        for col, stamped in cols:
            value = change[col]
            params.append(value)
            if stamped:
                params.append(None if value is None else stamp(value))
        params.append(message_id)
        groups.setdefault((sql, from_sql), []).append(tuple(params))
    return groups


@lru_cache(maxsize=None)
def _update_plan(changed: tuple[str, ...]) -> tuple[str, str, tuple[tuple[str, bool], ...]]:
    """(UPDATE statement, the same as UPDATE ... FROM a ``{values}`` table, (column, has a
    ``*_iso`` column) in parameter order) for a change of ``state`` and the ``changed``
    columns (in ``_UPDATABLE`` order)."""
    cols = tuple((col, col in _TIMESTAMPS) for col in ("state", *changed))
    names: list[str] = []
    for col, stamped in cols:
        names.append(col)
        if stamped:
            names.append(f"{col[:-3]}_iso")
    sql = f"UPDATE messages SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?"
    from_sql = (f"UPDATE messages SET {', '.join(f'{n} = v.column{i}' for i, n in enumerate(names, 1))}"
                f" FROM (VALUES {{values}}) AS v WHERE messages.id = v.column{len(names) + 1}")
    return sql, from_sql, cols


def _message_record(row: Mapping[str, Any]) -> MessageRecord:
    record: MessageRecord = _from_row(MessageRecord, _MESSAGE_CODEC, _MESSAGE_DEFAULTS, row)
    return record
