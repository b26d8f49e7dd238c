"""The delivery engine: every accepted MT reaches exactly one final state, and nothing is lost.

Life of a message (its `phase` in memory, its `state` in the store). Every legal move is a
row of `MOVES`, and `DeliveryEngine._move` is the only code that changes a phase; it keeps
the counters (`attempts`, the account's messages not yet submitted) with it. A move that
the table lacks is a bug of ours (`IllegalMove`), except from FINAL: whatever comes for a
message once it is final (a late response, a retry due after the expiry) is ignored. The
table, as `transition_diagram()` draws it (a test checks that this is it):

    from       event                 to         attempts
    NEW        accepted              QUEUED
    NEW        resumed_submitted     SUBMITTED
    QUEUED     handed_over           QUEUED
    QUEUED     sent                  IN_FLIGHT  +1
    QUEUED     expired               FINAL
    QUEUED     held                  HELD
    HELD       released              QUEUED
    HELD       expired               FINAL
    IN_FLIGHT  operator_accepted     SUBMITTED
    IN_FLIGHT  throttled             QUEUED     -1
    IN_FLIGHT  unanswered            QUEUED
    IN_FLIGHT  refused_temporarily   WAITING
    IN_FLIGHT  refused               FINAL
    IN_FLIGHT  unsendable            FINAL      -1
    WAITING    retry_due             QUEUED
    WAITING    expired               FINAL
    SUBMITTED  temporary_error       WAITING
    SUBMITTED  unknown_to_operator   QUEUED
    SUBMITTED  final_outcome         FINAL
    SUBMITTED  expired               FINAL

- handed_over: the message goes to its operator pool's queue (`send`, `resume`); every move
  to QUEUED does so too, or expires the message if its validity has ended meanwhile.
- sent / throttled / unsendable: the pool sends the submit_sm; the operator answers
  ESME_RTHROTTLED or ESME_RMSGQFUL (the pool puts it back at the head of its queue and slows
  down, aggregator/connectors.py: not an attempt); the pool could not even build it (nothing
  was sent). unanswered: no submit_sm_resp (timeout, dropped connection).
- refused_temporarily (ESME_RSYSERR, ESME_RX_T_APPN) and temporary_error (a receipt or a
  query_sm answer with an err in the operator's temporary_errors) wait in WAITING, backing off
  retry_initial * retry_factor^n, at most retry_max, then retry_due.
- unknown_to_operator: after a restart, the operator does not know a SUBMITTED message.
- held / released (R3 skew, `suspend`): when the pool is about to send a message (`sending`)
  whose send is suspended (the `held(account, campaign)` callable the engine is given, the
  rules' answer), it waits in HELD, not sent, counted as not yet submitted; `release(account,
  campaign)` moves that send's held messages back to QUEUED, or its validity ends them.
  A message resumed after a restart meets the same check, so it stays held while its send is
  suspended (the rules rebuild their suspensions from the store).

R9 validity: a message is valid `validity` seconds (24 h by default) from acceptance, or
less when the client's validity_period says so. When the validity ends:
- a message not yet accepted by an operator (QUEUED, WAITING) is EXPIRED at once;
- a message in flight is EXPIRED if its response is not a success;
- a message the operator accepted (SUBMITTED) is the operator's to report (it got the same
  validity): if no receipt has come `RECEIPT_GRACE` seconds later, the engine asks the
  operator with query_sm, records the answer if it is final, and EXPIRED otherwise.
The client gets one final receipt when it asked for one (registered_delivery & 0x03),
carrying the aggregator's message id.

After a restart on the same database, `resume()` takes up every message that was not final:
ACCEPTED ones are sent again; SUBMITTED ones are looked up with query_sm first and only sent
again when the operator does not know them (a restarted simulated SMSC forgets everything).
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass
from typing import Callable, Generic, Mapping, Protocol, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from aggregator.config import DeliveryConfig
from aggregator.stats import LiveStats
from aggregator.store import MessageRecord, MessageState, ReceiptRecord, Store
from smsc.pdu.codec import Command, Pdu, SmppMessageState, Tlv, read_tlvs, write_tlvs
from smsc.pdu.receipt import STATE_TO_STAT, Receipt, receipt_date, text_head
from smsc.pdu.status import CommandStatus, status_name
from smsc.pdu.views import QuerySmResp
from smsc.timer import EarliestCall

log = Logger(namespace="aggregator.delivery")

RECEIPT_GRACE = 60.0            # seconds after the validity end before we ask the operator
RETRYABLE_SUBMIT_STATUSES = frozenset({CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RX_T_APPN})

RECEIPT_STATE: dict[str, MessageState] = {
    "DELIVRD": MessageState.DELIVERED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "REJECTD": MessageState.REJECTED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.UNDELIVERABLE,
    "UNKNOWN": MessageState.UNDELIVERABLE,
}


class IllegalMove(Exception):
    """The engine tried a move its table does not allow: a bug of ours, not traffic."""


class Phase(enum.Enum):
    # Compared by identity and hashed so too (Enum's own __hash__ is Python code; the table
    # is read on every move), as smsc.states.SessionState.
    __hash__ = object.__hash__

    NEW = "new"                  # built, not yet taken in by the engine
    QUEUED = "queued"            # accepted, waiting in (or for) its operator pool's queue
    WAITING = "waiting"          # waiting for a retry time
    IN_FLIGHT = "in_flight"      # submit_sm sent, no response yet
    SUBMITTED = "submitted"      # the operator accepted it; waiting for its receipt
    HELD = "held"                # not sent while its bulk send is suspended (R3)
    FINAL = "final"


class Event(enum.Enum):
    """What happened to a message (the module docstring says when each comes)."""
    __hash__ = object.__hash__

    ACCEPTED = "accepted"
    RESUMED_SUBMITTED = "resumed_submitted"
    HANDED_OVER = "handed_over"
    SENT = "sent"
    EXPIRED = "expired"
    OPERATOR_ACCEPTED = "operator_accepted"
    THROTTLED = "throttled"
    UNANSWERED = "unanswered"
    REFUSED_TEMPORARILY = "refused_temporarily"
    REFUSED = "refused"
    UNSENDABLE = "unsendable"
    RETRY_DUE = "retry_due"
    TEMPORARY_ERROR = "temporary_error"
    UNKNOWN_TO_OPERATOR = "unknown_to_operator"
    FINAL_OUTCOME = "final_outcome"
    HELD = "held"
    RELEASED = "released"


P, E = Phase, Event
# phase -> event -> (phase after, change of `attempts`). A missing key is an illegal move.
MOVES: dict[Phase, dict[Event, tuple[Phase, int]]] = {
    P.NEW: {E.ACCEPTED: (P.QUEUED, 0), E.RESUMED_SUBMITTED: (P.SUBMITTED, 0)},
    P.QUEUED: {E.HANDED_OVER: (P.QUEUED, 0), E.SENT: (P.IN_FLIGHT, +1), E.EXPIRED: (P.FINAL, 0),
               E.HELD: (P.HELD, 0)},
    P.HELD: {E.RELEASED: (P.QUEUED, 0), E.EXPIRED: (P.FINAL, 0)},
    P.IN_FLIGHT: {
        E.OPERATOR_ACCEPTED: (P.SUBMITTED, 0),
        E.THROTTLED: (P.QUEUED, -1),             # the operator said "slower": not an attempt
        E.UNANSWERED: (P.QUEUED, 0),
        E.REFUSED_TEMPORARILY: (P.WAITING, 0),
        E.REFUSED: (P.FINAL, 0),
        E.UNSENDABLE: (P.FINAL, -1),             # nothing was sent
    },
    P.WAITING: {E.RETRY_DUE: (P.QUEUED, 0), E.EXPIRED: (P.FINAL, 0)},
    P.SUBMITTED: {
        E.TEMPORARY_ERROR: (P.WAITING, 0),
        E.UNKNOWN_TO_OPERATOR: (P.QUEUED, 0),
        E.FINAL_OUTCOME: (P.FINAL, 0),
        E.EXPIRED: (P.FINAL, 0),
    },
    P.FINAL: {},                                 # every event ignored (see the module docstring)
}
START = P.NEW
# The phases an account's max_pending counts: taken in, not yet accepted by an operator.
NOT_YET_SUBMITTED = frozenset({P.QUEUED, P.WAITING, P.IN_FLIGHT, P.HELD})
# (phase, event) -> (phase after, attempts change, not-yet-submitted change), read by _move.
_STEPS: dict[Phase, dict[Event, tuple[Phase, int, int]]] = {
    phase: {event: (to, attempts, (to in NOT_YET_SUBMITTED) - (phase in NOT_YET_SUBMITTED))
            for event, (to, attempts) in row.items()}
    for phase, row in MOVES.items()}


def transition_diagram(indent: str = "    ") -> str:
    """The table as the module docstring shows it."""
    lines = [f"{indent}{'from':<11}{'event':<22}{'to':<11}attempts"]
    for phase, row in MOVES.items():
        for event, (to, attempts) in row.items():
            lines.append(f"{indent}{phase.name:<11}{event.value:<22}{to.name:<11}"
                         f"{f'{attempts:+d}' if attempts else ''}".rstrip())
    return "\n".join(lines)


@dataclass(slots=True, eq=False)
class Message:
    """An MT in flight. `destination_addr` is the client's own spelling (echoed in the
    receipt); `msisdn` is the E.164 form it was routed on."""

    id: str
    account: str
    source_addr: str
    source_addr_ton: int
    destination_addr: str
    dest_addr_ton: int
    msisdn: str
    operator_id: str
    registered_delivery: int
    data_coding: int
    esm_class: int
    short_message: bytes
    accepted_at: float
    deadline: float
    tlvs: tuple[Tlv, ...] = ()              # the client's optional parameters, forwarded as-is
    campaign: str | None = None              # the client's campaign id (R3, R8), never forwarded
    operator_message_id: str | None = None
    attempts: int = 0
    phase: Phase = START                     # written by DeliveryEngine._move only

    @property
    def text_head(self) -> str:
        """The first 20 characters Appendix B puts in a receipt's text field, as a person
        reads them (smsc.pdu.receipt.text_head)."""
        return text_head(self.short_message, self.esm_class, self.data_coding, self.tlvs)

    def wants_receipt(self, success: bool) -> bool:
        """registered_delivery bits 0-1 (§5.2.17): 1 = any final outcome, 2 = failure only,
        3 = success only (SMPP 5.0 meaning; reserved in 3.4)."""
        wanted = self.registered_delivery & 0x03
        return wanted == 1 or (wanted == 2 and not success) or (wanted == 3 and success)

    def record(self, state: MessageState) -> MessageRecord:
        return MessageRecord(
            id=self.id, account=self.account, source_addr=self.source_addr,
            source_addr_ton=self.source_addr_ton, destination_addr=self.msisdn,
            operator_id=self.operator_id, operator_message_id=self.operator_message_id, state=state,
            registered_delivery=self.registered_delivery, data_coding=self.data_coding,
            esm_class=self.esm_class, short_message=self.short_message, created_at=self.accepted_at,
            client_destination_addr=self.destination_addr, dest_addr_ton=self.dest_addr_ton,
            deadline=self.deadline, attempts=self.attempts, tlvs=write_tlvs(self.tlvs), campaign=self.campaign)

    @classmethod
    def from_record(cls, record: MessageRecord) -> Message:
        return cls(
            id=record.id, account=record.account, source_addr=record.source_addr,
            source_addr_ton=record.source_addr_ton,
            destination_addr=record.client_destination_addr or record.destination_addr,
            dest_addr_ton=record.dest_addr_ton, msisdn=record.destination_addr,
            operator_id=record.operator_id, registered_delivery=record.registered_delivery,
            data_coding=record.data_coding, esm_class=record.esm_class,
            short_message=record.short_message, accepted_at=record.created_at,
            deadline=record.deadline if record.deadline is not None else record.created_at,
            tlvs=read_tlvs(record.tlvs), operator_message_id=record.operator_message_id,
            attempts=record.attempts, campaign=record.campaign)


class Outbox(Protocol):
    """An operator's way out (aggregator/connectors.py OperatorPool)."""

    def enqueue(self, message: Message, front: bool = False) -> None: ...

    def query(self, message: Message) -> defer.Deferred[Pdu]: ...


class ClientSink(Protocol):
    """Where deliveries to clients go (aggregator/server.py)."""

    def deliver_receipt(self, message: Message, receipt: Receipt) -> None: ...

    def deliver_mo(self, operator_id: str, pdu: Pdu) -> None: ...


class OutcomeSink(Protocol):
    """Who hears every message's final verdict (the rules: aggregator/rules/pipeline.py)."""

    def final(self, message: Message, stat: str, err: str, error_code: int | None, at: float) -> None: ...


class Timers:
    """Many deadlines on one armed call (a heap), so a million messages in flight cost a
    million heap entries, not a million reactor timers.

    ``at_key(when, key)`` is ``at(when, lambda: on_key(key))`` without the closure: an entry
    of plain values (float, int, str), which holds no object alive and which the garbage
    collector stops scanning. Every message's validity deadline is one (days away, far after
    most messages are done): with a closure, each finished message stayed in memory until
    then, and `serve` spent a growing share of its time in the collector (py-spy, the last
    15 s of a 60 s bench --mode e2e: allocation sites 4-7 % each)."""

    def __init__(self, clock: IReactorTime, on_key: Callable[[str], None] | None = None) -> None:
        self._clock = clock
        self._on_key = on_key
        self._heap: list[tuple[float, int, Callable[[], None] | str]] = []
        self._seq = 0
        self._call = EarliestCall(clock, self._fire)

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, action))
        self._call.at(self._heap[0][0])

    def at_key(self, when: float, key: str) -> None:
        assert self._on_key is not None
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._call.at(self._heap[0][0])

    def _fire(self) -> None:
        now = self._clock.seconds()
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            if isinstance(action, str):
                assert self._on_key is not None
                self._on_key(action)
            else:
                action()
        if self._heap:
            self._call.at(self._heap[0][0])

    def stop(self) -> None:
        self._call.cancel()
        self._heap.clear()


OutboxT = TypeVar("OutboxT", bound=Outbox)
ClientsT = TypeVar("ClientsT", bound=ClientSink)


class DeliveryEngine(Generic[OutboxT, ClientsT]):
    """The engine and its collaborators call each other: the operator pools (its outboxes)
    report submits and receipts to it, the client server (its client sink) hands it messages.
    So the engine builds them, as a Twisted Factory builds its protocols: `outboxes(engine)`
    returns the operator pools by operator id, `clients(engine)` the client sink (none: no
    client gets receipts or MOs). Nothing is attached after construction.

    `trace` turns on one info log line per final state. ``twisted.logger`` filters an event
    only after building and publishing it (microseconds each), which at thousands of messages
    a second costs a tenth of a replay, so per-message lines are not even built without it
    (`smsc-harness serve` sets it at its default level, info)."""

    def __init__(self, store: Store, clock: IReactorTime, config: DeliveryConfig,
                 outboxes: Callable[[DeliveryEngine[OutboxT, ClientsT]], Mapping[str, OutboxT]],
                 clients: Callable[[DeliveryEngine[OutboxT, ClientsT]], ClientsT] | None = None,
                 temporary_errors: dict[str, frozenset[str]] | None = None, trace: bool = False,
                 outcomes: OutcomeSink | None = None, held: Callable[[str, str | None], bool] | None = None,
                 stats: LiveStats | None = None) -> None:
        """`outcomes` hears each message's final verdict (the rules' R2 counts from it);
        `held(account, campaign)` says whether a message about to be sent must wait in HELD
        (R3 suspend: the rules' `held`); `stats` counts the events of the harness (its client
        server and operator pools reach it here), a new one from now when not given."""
        self.store = store
        self.stats = LiveStats(clock.seconds()) if stats is None else stats
        self.outcomes = outcomes
        self.held = held
        self._held: dict[tuple[str, str | None], list[Message]] = {}   # (account, campaign) -> HELD
        self.clock = clock
        self.config = config
        self.temporary_errors = temporary_errors or {}
        self.trace = trace
        self.live: dict[str, Message] = {}
        self.timers = Timers(clock, self._validity_ended_id)
        self._by_operator_id: dict[tuple[str, str], Message] = {}
        self._early_receipts: dict[tuple[str, str], Receipt] = {}
        self._not_yet_submitted: dict[str, int] = {}        # per account: QUEUED/WAITING/IN_FLIGHT
        self.outboxes: dict[str, OutboxT] = dict(outboxes(self))
        self.clients: ClientsT | None = None if clients is None else clients(self)

    def waiting_count(self, account: str) -> int:
        """Messages of this account not yet accepted by an operator (max_pending)."""
        return self._not_yet_submitted.get(account, 0)

    # --- from the client side ------------------------------------------------------------

    def accept(self, message: Message, send: bool = True) -> None:
        """Record a message the client is being answered for, and send it on. With
        ``send=False`` it is recorded and counted but waits for `send` (the server calls it
        once the record is committed and the client answered: nothing reaches an operator
        that a crash could make the store forget)."""
        self.store.add_message(message.record(MessageState.ACCEPTED))
        self.store.set_state(message.id, MessageState.ACCEPTED, message.accepted_at,
                             f"from {message.account}, routed to {message.operator_id}")
        self._track(message)
        self._move(message, Event.ACCEPTED)
        if send:
            self._queue(message, Event.HANDED_OVER)

    def send(self, message: Message) -> None:
        """Send on a message recorded with ``accept(message, send=False)``."""
        self._queue(message, Event.HANDED_OVER)

    def resume(self) -> int:
        """Take up every unfinished message of the store (after a restart). Returns how many."""
        records = self.store.unfinished()
        for record in records:
            message = Message.from_record(record)
            self._track(message)
            if record.state is MessageState.SUBMITTED and message.operator_message_id:
                self._move(message, Event.RESUMED_SUBMITTED)
                self._by_operator_id[(message.operator_id, message.operator_message_id)] = message
                self._ask_operator(message, resend_if_unknown=True)
            else:
                self._move(message, Event.ACCEPTED)
                self._queue(message, Event.HANDED_OVER)
        if records:
            log.info("resumed {n} unfinished message(s)", n=len(records))
        return len(records)

    def _track(self, message: Message) -> None:
        self.live[message.id] = message
        self.timers.at_key(message.deadline, message.id)

    def _move(self, message: Message, event: Event) -> bool:
        """The one place a phase changes (the `MOVES` table), with the counters that follow
        it. False, and nothing changed, for a message already FINAL; raises IllegalMove for a
        move the table lacks."""
        phase = message.phase
        step = _STEPS[phase].get(event)
        if step is None:
            if phase is Phase.FINAL:
                return False
            raise IllegalMove(f"{message.id}: {event.value} in phase {phase.name}")
        message.phase, attempts, not_yet_submitted = step
        if attempts:
            message.attempts += attempts
        if not_yet_submitted:
            counts = self._not_yet_submitted
            counts[message.account] = counts.get(message.account, 0) + not_yet_submitted
        return True

    def _queue(self, message: Message, event: Event, front: bool = False) -> None:
        """Move it to QUEUED (unless it is final by now) and on to its operator pool."""
        if self._move(message, event):
            self._enqueue(message, front)

    def _enqueue(self, message: Message, front: bool) -> None:
        if self.clock.seconds() >= message.deadline:
            self._expire(message, "validity ended before it could be sent")
            return
        self.outboxes[message.operator_id].enqueue(message, front)

    # --- from the operator pools -----------------------------------------------------------

    def sending(self, message: Message) -> bool:
        """The pool is about to send it: False if it went final meanwhile, or if its send is
        suspended (R3: it waits in HELD until `release`); skip it then."""
        held = self.held
        if held is not None and message.phase is Phase.QUEUED and held(message.account, message.campaign):
            self._move(message, Event.HELD)
            self._held.setdefault((message.account, message.campaign), []).append(message)
            self.store.set_state(message.id, MessageState.ACCEPTED, self.clock.seconds(),
                                 "held: its bulk send is suspended for traffic skew (R3) until released")
            return False
        return self._move(message, Event.SENT)

    def release(self, account: str, campaign: str | None) -> int:
        """Send on the messages held for this send (R3 release), in the order they were
        held: how many went back to their pools' queues (those whose validity ended
        meanwhile are already final)."""
        released = 0
        for message in self._held.pop((account, campaign), []):
            if self._move(message, Event.RELEASED):
                released += 1
                self._enqueue(message, front=False)
        if released:
            log.info("{account}: {n} held message(s) of {campaign} released", account=account, n=released,
                     campaign=campaign or "the traffic without campaign id")
        return released

    def held_count(self, account: str | None = None) -> int:
        """Messages waiting in HELD (of one account, or all)."""
        return sum(self.held_in(owner, campaign) for owner, campaign in self._held if account in (None, owner))

    def held_in(self, account: str, campaign: str | None) -> int:
        """Messages of this send waiting in HELD."""
        return sum(1 for m in self._held.get((account, campaign), ()) if m.phase is Phase.HELD)

    def throttled(self, message: Message) -> bool:
        """The operator throttled it (not an attempt): True if the pool should put it back
        at the head of its queue, False if it went final meanwhile or its validity ended."""
        if not self._move(message, Event.THROTTLED):
            return False
        if self.clock.seconds() >= message.deadline:
            self._expire(message, "validity ended while the operator throttled us")
            return False
        return True

    def submitted(self, message: Message, operator_message_id: str) -> None:
        if not self._move(message, Event.OPERATOR_ACCEPTED):
            return
        now = self.clock.seconds()
        message.operator_message_id = operator_message_id
        key = (message.operator_id, operator_message_id)
        self.store.set_state(message.id, MessageState.SUBMITTED, now,
                             f"{message.operator_id} accepted as {operator_message_id} (attempt {message.attempts})",
                             operator_message_id=operator_message_id, submitted_at=now,
                             attempts=message.attempts)
        early = self._early_receipts.pop(key, None)
        if early is not None:
            self._receipt(message, early)
        else:
            self._by_operator_id[key] = message

    def refused(self, message: Message, status: int) -> None:
        """The operator answered submit_sm with an error the pool does not handle itself."""
        if status in RETRYABLE_SUBMIT_STATUSES:
            self._retry(message, Event.REFUSED_TEMPORARILY, f"{message.operator_id} answered {status_name(status)}")
            return
        self._final(message, Event.REFUSED, MessageState.REJECTED, "REJECTD", f"{status & 0xFF:03d}",
                    f"{message.operator_id} refused: {status_name(status)}", error_code=status)

    def unsendable(self, message: Message, why: str) -> None:
        """The pool could not even build the submit_sm (a value out of range, larger than the
        link's maximum): the message alone ends, REJECTD, with why in its history."""
        log.error("{id} to {op} cannot be sent: {why}; rejected", id=message.id, op=message.operator_id, why=why)
        self._final(message, Event.UNSENDABLE, MessageState.REJECTED, "REJECTD",
                    f"{CommandStatus.ESME_RSYSERR:03d}",
                    f"could not be sent to {message.operator_id}: {why}", error_code=CommandStatus.ESME_RSYSERR)

    def unanswered(self, message: Message, why: str) -> None:
        """No submit_sm_resp (timeout or dropped connection): send it again."""
        if not self._move(message, Event.UNANSWERED):
            return
        log.info("{id} to {op}: {why}; sending again", id=message.id, op=message.operator_id, why=why)
        self._enqueue(message, front=True)

    def operator_receipt(self, operator_id: str, receipt: Receipt) -> None:
        key = (operator_id, receipt.message_id)
        message = self._by_operator_id.pop(key, None)
        if message is None:
            # The receipt overtook the submit_sm_resp (another bind of the pool): keep it
            # until the resp maps the ids.
            self._early_receipts[key] = receipt
            return
        self._receipt(message, receipt)

    def mo_received(self, operator_id: str, pdu: Pdu) -> None:
        if self.clients is not None:
            self.clients.deliver_mo(operator_id, pdu)

    # --- outcomes --------------------------------------------------------------------

    def _receipt(self, message: Message, receipt: Receipt, via: str = "receipt") -> None:
        """An operator's verdict on a message: a receipt it sent, or (via="query_sm") its
        answer to our query, which is not stored as a received receipt."""
        now = self.clock.seconds()
        if via == "receipt":
            self.store.add_receipt(ReceiptRecord(
                message_id=message.id, operator_message_id=receipt.message_id, stat=receipt.stat,
                err=receipt.err, text=receipt.render(), received_at=now))
        state = RECEIPT_STATE.get(receipt.stat)
        if state is None:                       # ENROUTE / ACCEPTD: intermediate, not final
            self._by_operator_id[(message.operator_id, receipt.message_id)] = message
            return
        if state is MessageState.UNDELIVERABLE and receipt.err in self.temporary_errors.get(
                message.operator_id, frozenset()):
            self._retry(message, Event.TEMPORARY_ERROR,
                        f"{message.operator_id} {via} UNDELIV err:{receipt.err} (temporary)")
            return
        err = int(receipt.err) if receipt.err.isdigit() else None
        self._final(message, Event.FINAL_OUTCOME, state, receipt.stat, receipt.err,
                    f"{message.operator_id} {via} {receipt.stat} err:{receipt.err}",
                    error_code=err, done_date=receipt.done_date, sub=receipt.sub, dlvrd=receipt.dlvrd)

    def _retry(self, message: Message, event: Event, why: str) -> None:
        if not self._move(message, event):               # to WAITING
            return
        now = self.clock.seconds()
        cfg = self.config
        # The exponent is capped: past a few dozen attempts retry_max rules anyway, and a float
        # power overflows near 2**1024 (a week of validity can make a thousand attempts).
        delay = min(cfg.retry_max, cfg.retry_initial * cfg.retry_factor ** min(64, max(0, message.attempts - 1)))
        if now >= message.deadline:                            # _validity_ended has been: end it now
            self._expire(message, f"{why}, after the validity end")
            return
        if now + delay >= message.deadline:
            self.store.set_state(message.id, MessageState.ACCEPTED, now,
                                 f"{why}; no retry before the validity end", attempts=message.attempts)
            return                                             # _validity_ended, still to come, expires it
        self.store.set_state(message.id, MessageState.ACCEPTED, now, f"{why}; retry in {delay:g} s",
                             attempts=message.attempts)
        self.timers.at(now + delay, lambda: self._queue(message, Event.RETRY_DUE, front=True))

    def _validity_ended_id(self, message_id: str) -> None:
        """A message's validity deadline (``_track``). A message no longer live is FINAL, where
        `_validity_ended` does nothing."""
        message = self.live.get(message_id)
        if message is not None:
            self._validity_ended(message)

    def _validity_ended(self, message: Message) -> None:
        phase = message.phase
        if phase in (Phase.QUEUED, Phase.WAITING, Phase.HELD):
            self._expire(message, "validity period ended before an operator accepted it")
        elif phase is Phase.SUBMITTED:
            self.timers.at(self.clock.seconds() + RECEIPT_GRACE,
                           lambda: self._ask_operator(message, resend_if_unknown=False))
        elif phase is Phase.IN_FLIGHT:
            # Its response decides: success -> SUBMITTED (the operator reports), failure -> expire.
            self.timers.at(self.clock.seconds() + RECEIPT_GRACE, lambda: self._validity_ended(message))

    def _ask_operator(self, message: Message, resend_if_unknown: bool) -> None:
        """query_sm the operator about a SUBMITTED message whose receipt has not come."""
        if message.phase is not Phase.SUBMITTED:
            return
        asked = self.outboxes[message.operator_id].query(message)
        asked.addCallbacks(self._query_answered, self._query_failed,
                           callbackArgs=(message, resend_if_unknown), errbackArgs=(message, resend_if_unknown))

    def _query_answered(self, resp: Pdu, message: Message, resend_if_unknown: bool) -> None:
        if message.phase is not Phase.SUBMITTED:
            return
        if resp.command is not Command.query_sm_resp and resp.command_status == CommandStatus.ESME_ROK:
            self._query_failed(resp, message, resend_if_unknown)     # a generic_nack saying nothing
            return
        if resp.command_status != CommandStatus.ESME_ROK:
            if resend_if_unknown and self.clock.seconds() < message.deadline:
                self._by_operator_id.pop((message.operator_id, message.operator_message_id or ""), None)
                self._move(message, Event.UNKNOWN_TO_OPERATOR)
                self.store.set_state(message.id, MessageState.ACCEPTED, self.clock.seconds(),
                                     f"{message.operator_id} does not know {message.operator_message_id}: sending again")
                self._enqueue(message, front=True)
            else:
                self._expire(message, f"no receipt, and {message.operator_id} does not know it")
            return
        answer = QuerySmResp.from_pdu(resp)
        try:
            state = SmppMessageState(answer.message_state)
        except ValueError:
            state = SmppMessageState.UNKNOWN
        stat = STATE_TO_STAT.get(state, "UNKNOWN")
        if stat in ("ENROUTE", "ACCEPTD") or state is SmppMessageState.UNKNOWN:
            if self.clock.seconds() >= message.deadline:
                self._expire(message, f"no receipt; {message.operator_id} still says {stat}")
            return                                             # the receipt will come
        self._by_operator_id.pop((message.operator_id, message.operator_message_id or ""), None)
        self._receipt(message, Receipt(message_id=message.operator_message_id or "", stat=stat,
                                       err=f"{answer.error_code:03d}"),
                      via="query_sm")

    def _query_failed(self, failure: object, message: Message, resend_if_unknown: bool) -> None:
        if message.phase is not Phase.SUBMITTED:
            return
        if self.clock.seconds() >= message.deadline:
            self._expire(message, f"no receipt, and {message.operator_id} did not answer query_sm")
        else:
            self.timers.at(self.clock.seconds() + self.config.retry_initial,
                           lambda: self._ask_operator(message, resend_if_unknown))

    def _expire(self, message: Message, why: str) -> None:
        self._final(message, Event.EXPIRED, MessageState.EXPIRED, "EXPIRED", "000", why)

    def _final(self, message: Message, event: Event, state: MessageState, stat: str, err: str, detail: str, *,
               error_code: int | None = None, done_date: str = "", sub: str = "001", dlvrd: str = "") -> None:
        if not self._move(message, event):
            return
        now = self.clock.seconds()
        del self.live[message.id]
        if message.operator_message_id is not None:
            self._by_operator_id.pop((message.operator_id, message.operator_message_id), None)
        self.store.set_state(message.id, state, now, detail, done_at=now, error_code=error_code,
                             attempts=message.attempts)
        self.stats.final(message.account, message.operator_id, state, now,
                         now - message.accepted_at if event is Event.FINAL_OUTCOME else None)
        if self.trace:
            log.info("{id} {stat} ({detail})", id=message.id, stat=stat, detail=detail)
        if self.outcomes is not None:
            self.outcomes.final(message, stat, err, error_code, now)
        success = state is MessageState.DELIVERED
        if self.clients is not None and message.wants_receipt(success):
            self.clients.deliver_receipt(message, Receipt(
                message_id=message.id, stat=stat, err=err, sub=sub,
                dlvrd=dlvrd or ("001" if success else "000"), submit_date=receipt_date(message.accepted_at),
                done_date=done_date or receipt_date(now), text=message.text_head))

    def stop(self) -> None:
        self.timers.stop()


