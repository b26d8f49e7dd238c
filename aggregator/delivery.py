"""The delivery engine: every accepted MT reaches exactly one final state, and nothing is lost.

Life of a message (its `phase` in memory, its `state` in the store):

    QUEUED --(pool sends submit_sm)--> IN_FLIGHT --(submit_sm_resp OK)--> SUBMITTED --(receipt)--> FINAL
      ^                                   |                                  |
      |   no response / connection drop   |  temporary refusal               |  temporary receipt error
      +-----------------------------------+  (ESME_RSYSERR, ESME_RX_T_APPN)   |  (err in the operator's
      |                                      or temporary receipt error       |   temporary_errors)
      +-- WAITING (backoff: retry_initial * retry_factor^n, at most retry_max) <+

Throttling answers (ESME_RTHROTTLED, ESME_RMSGQFUL) are handled by the operator pool, which
puts the message back at the head of its queue and slows down (aggregator/connectors.py).

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
from typing import Callable, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from aggregator.config import DeliveryConfig
from aggregator.store import MessageRecord, MessageState, ReceiptRecord, Store
from smsc import trace
from smsc.pdu.codec import MessageState as SmppMessageState, Pdu, Tlv, read_tlvs, write_tlvs
from smsc.pdu.receipt import STATE_TO_STAT, Receipt, receipt_date
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


class Phase(enum.Enum):
    QUEUED = "queued"            # waiting in its operator pool's queue
    WAITING = "waiting"          # waiting for a retry time
    IN_FLIGHT = "in_flight"      # submit_sm sent, no response yet
    SUBMITTED = "submitted"      # the operator accepted it; waiting for its receipt
    FINAL = "final"


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
    operator_message_id: str | None = None
    attempts: int = 0
    phase: Phase = Phase.QUEUED

    @property
    def text_head(self) -> str:
        """The first 20 characters Appendix B puts in a receipt's text field."""
        return self.short_message[:20].decode("latin-1")

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
            deadline=self.deadline, attempts=self.attempts, tlvs=write_tlvs(self.tlvs))

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
            attempts=record.attempts)


class Outbox(Protocol):
    """An operator's way out (aggregator/connectors.py OperatorPool)."""

    def enqueue(self, message: Message, front: bool = False) -> None: ...

    def query(self, message: Message) -> defer.Deferred[Pdu]: ...


class ClientSink(Protocol):
    """Where deliveries to clients go (aggregator/server.py)."""

    def deliver_receipt(self, message: Message, receipt: Receipt) -> None: ...

    def deliver_mo(self, operator_id: str, pdu: Pdu) -> None: ...


class Timers:
    """Many deadlines on one armed call (a heap), so a million messages in flight cost a
    million heap entries, not a million reactor timers."""

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._call = EarliestCall(clock, self._fire)

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, action))
        self._call.at(self._heap[0][0])

    def _fire(self) -> None:
        now = self._clock.seconds()
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            action()
        if self._heap:
            self._call.at(self._heap[0][0])

    def stop(self) -> None:
        self._call.cancel()
        self._heap.clear()


class DeliveryEngine:
    def __init__(self, store: Store, clock: IReactorTime, config: DeliveryConfig,
                 temporary_errors: dict[str, frozenset[str]] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.temporary_errors = temporary_errors or {}
        self.outboxes: dict[str, Outbox] = {}
        self.clients: ClientSink | None = None
        self.live: dict[str, Message] = {}
        self.timers = Timers(clock)
        self._by_operator_id: dict[tuple[str, str], Message] = {}
        self._early_receipts: dict[tuple[str, str], Receipt] = {}
        self._not_yet_submitted: dict[str, int] = {}        # per account: QUEUED/WAITING/IN_FLIGHT

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
        if send:
            self._queue(message)

    def send(self, message: Message) -> None:
        """Send on a message recorded with ``accept(message, send=False)``."""
        self._queue(message)

    def resume(self) -> int:
        """Take up every unfinished message of the store (after a restart). Returns how many."""
        records = self.store.unfinished()
        for record in records:
            message = Message.from_record(record)
            self._track(message)
            if record.state is MessageState.SUBMITTED and message.operator_message_id:
                message.phase = Phase.SUBMITTED
                self._not_yet_submitted[message.account] -= 1
                self._by_operator_id[(message.operator_id, message.operator_message_id)] = message
                self._ask_operator(message, resend_if_unknown=True)
            else:
                self._queue(message)
        if records:
            log.info("resumed {n} unfinished message(s)", n=len(records))
        return len(records)

    def _track(self, message: Message) -> None:
        self.live[message.id] = message
        self._not_yet_submitted[message.account] = self._not_yet_submitted.get(message.account, 0) + 1
        self.timers.at(message.deadline, lambda: self._validity_ended(message))

    def _queue(self, message: Message, front: bool = False) -> None:
        if message.phase is Phase.FINAL:
            return
        if self.clock.seconds() >= message.deadline:
            self._expire(message, "validity ended before it could be sent")
            return
        message.phase = Phase.QUEUED
        self.outboxes[message.operator_id].enqueue(message, front)

    # --- from the operator pools -----------------------------------------------------------

    def sending(self, message: Message) -> bool:
        """The pool is about to send it: False if it went final meanwhile (skip it)."""
        if message.phase is Phase.FINAL:
            return False
        message.phase = Phase.IN_FLIGHT
        message.attempts += 1
        return True

    def requeue(self, message: Message) -> bool:
        """The pool puts a throttled message back at the head of its queue: still worth it?"""
        if message.phase is Phase.FINAL:
            return False
        if self.clock.seconds() >= message.deadline:
            self._expire(message, "validity ended while the operator throttled us")
            return False
        message.phase = Phase.QUEUED
        return True

    def submitted(self, message: Message, operator_message_id: str) -> None:
        if message.phase is Phase.FINAL:
            return
        now = self.clock.seconds()
        message.operator_message_id = operator_message_id
        message.phase = Phase.SUBMITTED
        self._not_yet_submitted[message.account] -= 1
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
        if message.phase is Phase.FINAL:
            return
        if status in RETRYABLE_SUBMIT_STATUSES:
            self._retry(message, f"{message.operator_id} answered {status_name(status)}")
            return
        self._final(message, MessageState.REJECTED, "REJECTD", f"{status & 0xFF:03d}",
                    f"{message.operator_id} refused: {status_name(status)}", error_code=status)

    def unsendable(self, message: Message, why: str) -> None:
        """The pool could not even build the submit_sm (a value out of range, larger than the
        link's maximum): the message alone ends, REJECTD, with why in its history."""
        log.error("{id} to {op} cannot be sent: {why}; rejected", id=message.id, op=message.operator_id, why=why)
        message.attempts -= 1                              # nothing was sent
        self._final(message, MessageState.REJECTED, "REJECTD", f"{CommandStatus.ESME_RSYSERR:03d}",
                    f"could not be sent to {message.operator_id}: {why}", error_code=CommandStatus.ESME_RSYSERR)

    def unanswered(self, message: Message, why: str) -> None:
        """No submit_sm_resp (timeout or dropped connection): send it again."""
        if message.phase is Phase.FINAL:
            return
        log.info("{id} to {op}: {why}; sending again", id=message.id, op=message.operator_id, why=why)
        self._queue(message, front=True)

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
            self._not_yet_submitted[message.account] += 1
            self._retry(message, f"{message.operator_id} {via} UNDELIV err:{receipt.err} (temporary)")
            return
        err = int(receipt.err) if receipt.err.isdigit() else None
        self._final(message, state, receipt.stat, receipt.err,
                    f"{message.operator_id} {via} {receipt.stat} err:{receipt.err}",
                    error_code=err, done_date=receipt.done_date, sub=receipt.sub, dlvrd=receipt.dlvrd)

    def _retry(self, message: Message, why: str) -> None:
        now = self.clock.seconds()
        cfg = self.config
        # The exponent is capped: past a few dozen attempts retry_max rules anyway, and a float
        # power overflows near 2**1024 (a week of validity can make a thousand attempts).
        delay = min(cfg.retry_max, cfg.retry_initial * cfg.retry_factor ** min(64, max(0, message.attempts - 1)))
        message.phase = Phase.WAITING
        if now >= message.deadline:                            # _validity_ended has been: end it now
            self._expire(message, f"{why}, after the validity end")
            return
        if now + delay >= message.deadline:
            self.store.set_state(message.id, MessageState.ACCEPTED, now,
                                 f"{why}; no retry before the validity end", attempts=message.attempts)
            return                                             # _validity_ended, still to come, expires it
        self.store.set_state(message.id, MessageState.ACCEPTED, now, f"{why}; retry in {delay:g} s",
                             attempts=message.attempts)
        self.timers.at(now + delay, lambda: self._queue(message, front=True))

    def _validity_ended(self, message: Message) -> None:
        phase = message.phase
        if phase in (Phase.QUEUED, Phase.WAITING):
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
        if resp.command_status != CommandStatus.ESME_ROK:
            if resend_if_unknown and self.clock.seconds() < message.deadline:
                self._by_operator_id.pop((message.operator_id, message.operator_message_id or ""), None)
                self._not_yet_submitted[message.account] += 1
                self.store.set_state(message.id, MessageState.ACCEPTED, self.clock.seconds(),
                                     f"{message.operator_id} does not know {message.operator_message_id}: sending again")
                self._queue(message, front=True)
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
        self._final(message, MessageState.EXPIRED, "EXPIRED", "000", why)

    def _final(self, message: Message, state: MessageState, stat: str, err: str, detail: str, *,
               error_code: int | None = None, done_date: str = "", sub: str = "001", dlvrd: str = "") -> None:
        if message.phase is Phase.FINAL:
            return
        now = self.clock.seconds()
        if message.phase is not Phase.SUBMITTED:
            self._not_yet_submitted[message.account] -= 1
        message.phase = Phase.FINAL
        del self.live[message.id]
        if message.operator_message_id is not None:
            self._by_operator_id.pop((message.operator_id, message.operator_message_id), None)
        self.store.set_state(message.id, state, now, detail, done_at=now, error_code=error_code,
                             attempts=message.attempts)
        if trace.ON:
            log.debug("{id} {stat} ({detail})", id=message.id, stat=stat, detail=detail)
        success = state is MessageState.DELIVERED
        if self.clients is not None and message.wants_receipt(success):
            self.clients.deliver_receipt(message, Receipt(
                message_id=message.id, stat=stat, err=err, sub=sub,
                dlvrd=dlvrd or ("001" if success else "000"), submit_date=receipt_date(message.accepted_at),
                done_date=done_date or receipt_date(now), text=message.text_head))

    def stop(self) -> None:
        self.timers.stop()


