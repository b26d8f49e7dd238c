"""The delivery engine: from an accepted MT to its final state and the client's receipt.

It owns the in-memory life of each message in flight and records every step in the store:
accepted (client answered) -> submitted (operator answered, its id mapped to ours) ->
delivered / undeliverable / rejected / expired (operator receipt or refusal). It is the only
place that decides what the client's receipt says, and the only bridge between the
operator's message_id and the aggregator's own.

Issue 3 scope: temporary operator refusals (ESME_RTHROTTLED, ESME_RMSGQFUL), timeouts and
dropped connections put the message back in its connector's queue after `retry_delay`;
every other refusal is final (REJECTD). Validity, backoff policy and restart resumption
come with issue 4 and fit here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from aggregator.store import MessageRecord, MessageState, ReceiptRecord, Store
from smsc.pdu.codec import Tlv
from smsc.pdu.receipt import Receipt, receipt_date
from smsc.pdu.status import CommandStatus, status_name

log = Logger(namespace="aggregator.delivery")

TEMPORARY_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})

RECEIPT_STATE: dict[str, MessageState] = {
    "DELIVRD": MessageState.DELIVERED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "REJECTD": MessageState.REJECTED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.UNDELIVERABLE,
    "UNKNOWN": MessageState.UNDELIVERABLE,
}


@dataclass(slots=True)
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
    tlvs: tuple[Tlv, ...] = ()              # the client's optional parameters, forwarded as-is
    operator_message_id: str | None = None
    attempts: int = 0

    @property
    def text_head(self) -> str:
        """The first 20 characters Appendix B puts in a receipt's text field."""
        return self.short_message[:20].decode("latin-1")

    def wants_receipt(self, success: bool) -> bool:
        """registered_delivery bits 0-1 (§5.2.17): 1 = any final outcome, 2 = failure only,
        3 = success only (SMPP 5.0 meaning; reserved in 3.4)."""
        wanted = self.registered_delivery & 0x03
        return wanted == 1 or (wanted == 2 and not success) or (wanted == 3 and success)


class Outbox(Protocol):
    """Where messages leave for an operator (aggregator/connectors.py)."""

    def enqueue(self, message: Message) -> None: ...


class ReceiptSink(Protocol):
    """Where client receipts go (aggregator/server.py)."""

    def deliver_receipt(self, message: Message, receipt: Receipt) -> None: ...


class DeliveryEngine:
    def __init__(self, store: Store, clock: IReactorTime, retry_delay: float = 1.0) -> None:
        self.store = store
        self.clock = clock
        self.retry_delay = retry_delay
        self.outboxes: dict[str, Outbox] = {}
        self.receipts: ReceiptSink | None = None
        self._by_operator_id: dict[tuple[str, str], Message] = {}
        self._early_receipts: dict[tuple[str, str], Receipt] = {}
        self.in_flight = 0

    # --- from the client side ------------------------------------------------------------

    def accept(self, message: Message) -> None:
        """Record a message the client has just been answered for, and send it on."""
        self.store.add_message(MessageRecord(
            id=message.id, account=message.account, source_addr=message.source_addr,
            source_addr_ton=message.source_addr_ton, destination_addr=message.msisdn,
            operator_id=message.operator_id, operator_message_id=None, state=MessageState.ACCEPTED,
            registered_delivery=message.registered_delivery, data_coding=message.data_coding,
            esm_class=message.esm_class, short_message=message.short_message,
            created_at=message.accepted_at, submitted_at=None, done_at=None, error_code=None))
        self.store.set_state(message.id, MessageState.ACCEPTED, message.accepted_at,
                             f"from {message.account}, routed to {message.operator_id}")
        self.in_flight += 1
        self.outboxes[message.operator_id].enqueue(message)

    # --- from the connectors -------------------------------------------------------------

    def submitted(self, message: Message, operator_message_id: str) -> None:
        now = self.clock.seconds()
        message.operator_message_id = operator_message_id
        key = (message.operator_id, operator_message_id)
        self.store.set_state(message.id, MessageState.SUBMITTED, now,
                             f"{message.operator_id} accepted as {operator_message_id}",
                             operator_message_id=operator_message_id, submitted_at=now)
        early = self._early_receipts.pop(key, None)
        if early is not None:
            self._finish(message, early)
        else:
            self._by_operator_id[key] = message

    def refused(self, message: Message, status: int, retry: Callable[[Message], None]) -> None:
        """The operator answered submit_sm with an error, or did not answer at all (status -1)."""
        if status == -1 or status in TEMPORARY_STATUSES:
            why = "no response" if status == -1 else status_name(status)
            log.info("{id} to {op}: {why}, retrying in {delay} s", id=message.id, op=message.operator_id,
                     why=why, delay=self.retry_delay)
            self.clock.callLater(self.retry_delay, retry, message)
            return
        now = self.clock.seconds()
        self.store.set_state(message.id, MessageState.REJECTED, now,
                             f"{message.operator_id} refused: {status_name(status)}",
                             error_code=status, done_at=now)
        receipt = Receipt(message_id=message.id, stat="REJECTD", err=f"{status & 0xFF:03d}",
                          dlvrd="000", submit_date=receipt_date(message.accepted_at),
                          done_date=receipt_date(now), text=message.text_head)
        self._notify(message, receipt, success=False)

    def operator_receipt(self, operator_id: str, receipt: Receipt) -> None:
        key = (operator_id, receipt.message_id)
        message = self._by_operator_id.pop(key, None)
        if message is None:
            # The receipt overtook the submit_sm_resp (another bind of the pool): keep it
            # until the resp maps the ids.
            self._early_receipts[key] = receipt
            return
        self._finish(message, receipt)

    def _finish(self, message: Message, receipt: Receipt) -> None:
        now = self.clock.seconds()
        state = RECEIPT_STATE.get(receipt.stat)
        self.store.add_receipt(ReceiptRecord(
            message_id=message.id, operator_message_id=receipt.message_id, stat=receipt.stat,
            err=receipt.err, text=receipt.render(), received_at=now))
        if state is None:                       # ENROUTE / ACCEPTD: intermediate, not final
            self._by_operator_id[(message.operator_id, receipt.message_id)] = message
            return
        err = int(receipt.err) if receipt.err.isdigit() else None
        self.store.set_state(message.id, state, now, f"{message.operator_id} receipt {receipt.stat} err:{receipt.err}",
                             done_at=now, error_code=err)
        log.info("{id} {stat} from {op}", id=message.id, stat=receipt.stat, op=message.operator_id)
        ours = replace(receipt, message_id=message.id, submit_date=receipt_date(message.accepted_at),
                       done_date=receipt.done_date or receipt_date(now), text=message.text_head)
        self._notify(message, ours, success=state is MessageState.DELIVERED)

    def _notify(self, message: Message, receipt: Receipt, success: bool) -> None:
        """The message is final: tell the client if it asked (receipt carries *our* id)."""
        self.in_flight -= 1
        if self.receipts is not None and message.wants_receipt(success):
            self.receipts.deliver_receipt(message, receipt)
