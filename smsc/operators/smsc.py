"""A simulated operator SMSC: a real SMPP server (SMSC role) that aggregators bind to.

It applies the pure decisions of `smsc/operators/behaviour.py` with timers on the injected
clock. Rules of this module:

1. The submit_sm_resp is always written before any deliver_sm that refers to its message_id:
   the fate of an accepted message is scheduled with `callLater` *after* responding, even with
   a zero delay, and with a slow response the fate is scheduled from the moment the resp
   leaves (Kannel drops a receipt that overtakes its resp).
2. Receipts (SMPP 3.4 Appendix B text + receipted_message_id / message_state TLVs, §5.3.2)
   and MO messages wait in one queue, in order, for a receiver or transceiver bind of the
   system_id they belong to, as an SMSC's store does (§2.3).
3. Nothing is persisted: a restart forgets every message, queue and timer. While it runs,
   every accepted message stays in memory for query_sm (ids, addresses, fate, 20 octets of
   text for the receipt), not its body.
4. Time comes only from the injected clock: outages are placed relative to the clock reading
   at construction; `clock.advance()` on a task.Clock moves everything.
5. Logs carry ids, states and lengths, never message bodies.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from smsc import trace
from smsc.adapter import SmppConnection
from smsc.events import ConnectionClosed
from smsc.operators.behaviour import (
    Accepted, Admission, Decision, PlannedReply, Refusal, SubmitFacts, decide,
)
from smsc.operators.profile import NumberRule, OperatorProfile, OutageMode, Stat
from smsc.operators.subscribers import SubscriberBook, normalise
from smsc.pdu.codec import Command, MessageState, Pdu, Tag, Tlv, Value
from smsc.pdu.receipt import STAT_TO_STATE, Receipt, receipt_date
from smsc.pdu.smpptime import absolute, seconds_until
from smsc.pdu.status import CommandStatus, status_name
from smsc.states import can_receive_messages

log = Logger(namespace="smsc.operator")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
_SHORT_MESSAGE_MAX = 254                   # §4.4.1; longer MO text goes in message_payload
_REDELIVER_AFTER = 10.0                    # seconds before a deliver_sm refused for now is retried
_TRY_AGAIN = (CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL)
_DATA_CODING_DEFAULT = 0x00
_DATA_CODING_LATIN1 = 0x03
_DATA_CODING_UCS2 = 0x08
# A message stays answerable to query_sm this long after its final state, then is forgotten
# (real SMSCs purge too; the aggregator asks within minutes of a validity end).
QUERY_RETENTION = 48 * 3600.0


@dataclass(slots=True)
class _Message:
    message_id: str
    system_id: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    msisdn: str
    text_head: bytes                        # the first 20 octets, for the receipt's text: field
    submitted_at: float
    receipt_wanted: int                     # registered_delivery & 0x03
    fate: Accepted
    state: MessageState = MessageState.ENROUTE
    done_at: float | None = None


class _Kind(enum.Enum):
    RECEIPT = "receipt"
    MO = "mo"


@dataclass(slots=True)
class _Outgoing:
    """A deliver_sm waiting for a receiver bind: a receipt or an MO."""

    system_id: str
    kind: _Kind
    ref: str                                # message id or MO number, for logs
    params: Mapping[str, Value]
    tlvs: tuple[Tlv, ...] = field(default_factory=tuple)


class OperatorSmsc:
    """SessionHandler of one operator's SMSC; shared by all its connections.

    `seed` seeds this operator's random stream (`random.Random(f"{seed}:{profile.id}")`) and
    its subscriber states; `test_numbers` are the network's magic numbers."""

    def __init__(self, profile: OperatorProfile, clock: IReactorTime, seed: int = 1,
                 test_numbers: tuple[NumberRule, ...] = ()) -> None:
        behaviour = profile.behaviour
        self.profile = profile
        self.clock = clock
        self.started_at = clock.seconds()
        self.rng = random.Random(f"{seed}:{profile.id}")
        self.book = SubscriberBook(profile.id, seed, behaviour.subscribers, behaviour.numbers, test_numbers)
        self.admission = Admission(behaviour, self.started_at)
        self.connections: list[SmppConnection] = []
        self.binds: list[SmppConnection] = []
        self.messages: dict[str, _Message] = {}
        self.outage: OutageMode | None = None
        self._counter = 0
        self._mo_counter = 0
        self._outbox: deque[_Outgoing] = deque()
        self._unanswered: dict[SmppConnection, int] = {}   # slow submit_sm_resp still owed, per bind
        self._submits_to: dict[str, int] = {}              # submits per exact-rule number
        self._timers: dict[int, IDelayedCall] = {}
        self._timer_ids = 0
        self._forget: deque[tuple[float, str]] = deque()   # (when, message_id), in time order
        # counters
        self.submitted = 0                  # accepted submit_sm
        self.refused = 0                    # submit_sm answered with an error status
        self.throttled = 0                  # ... of which the throttled status
        self.receipts_sent = 0
        self.receipts_lost = 0
        self.mo_sent = 0
        self.mo_dropped = 0
        for outage in behaviour.faults.outages:
            self._later(outage.start, self.start_outage, outage.mode)
            self._later(outage.start + outage.duration, self.end_outage)

    # --- runtime API (scenarios, tests, the control API) --------------------------------

    def start_outage(self, mode: OutageMode) -> None:
        """Start an outage now (see OutageMode); it lasts until `end_outage`."""
        self.outage = mode
        log.warn("{op}: outage started ({mode})", op=self.profile.id, mode=mode.value)
        if mode is OutageMode.REFUSE_BINDS or mode is OutageMode.DROP:
            for conn in list(self.connections):
                conn.close()

    def end_outage(self) -> None:
        if self.outage is None:
            return
        log.warn("{op}: outage over ({mode})", op=self.profile.id, mode=self.outage.value)
        self.outage = None
        self._flush_outbox()

    def set_throughput(self, rate: float, burst: int) -> None:
        """Change the operator-wide throughput cap now (R14)."""
        self.admission.set_throughput(rate, burst, self.clock.seconds())
        log.info("{op}: throughput set to {rate}/s, burst {burst}", op=self.profile.id, rate=rate, burst=burst)

    def inject_mo(self, source: str, destination: str, text: str, destination_ton: int | None = None) -> None:
        """A subscriber sends an MO: `source` is the subscriber's number (E.164, '+' optional),
        `destination` the short code or number it was sent to. Without `destination_ton`, a
        '+' or 10+ digits is international (TON 1), anything shorter a short code (TON 0)."""
        dest = destination
        if destination_ton is None:
            destination_ton = 1 if dest.startswith("+") or len(dest) >= 10 else 0
        dest = dest.lstrip("+")
        self._queue_mo(source, dest, destination_ton, 1 if destination_ton == 1 else 0, text)

    def stop(self) -> None:
        """Cancel every pending timer (receipts, replies, outages, slow responses)."""
        for timer in list(self._timers.values()):
            if timer.active():
                timer.cancel()
        self._timers.clear()

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        self.connections.append(conn)
        if self.outage is OutageMode.DROP:
            log.info("{op}: connection from {peer} dropped (outage)", op=self.profile.id, peer=conn.peer)
            conn.close()
            return
        log.debug("{op}: connection from {peer}", op=self.profile.id, peer=conn.peer)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        if conn in self.binds:
            self.binds.remove(conn)
        self.admission.remove_bind(conn)
        self._unanswered.pop(conn, None)
        log.info("{op}: {peer} disconnected ({how})", op=self.profile.id, peer=conn.peer,
                 how="unbound" if event.clean else "dropped")

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        command = pdu.command
        if self.outage is OutageMode.SILENT:
            log.debug("{op}: {command} from {peer} ignored (silent outage)", op=self.profile.id,
                      command=command.name, peer=conn.peer)
            return
        if command in _BIND_REQUESTS:
            self._bind(conn, pdu)
        elif command is Command.submit_sm:
            self._submit(conn, pdu)
        elif command is Command.query_sm:
            self._query(conn, pdu)
        else:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- requests ---------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        """The check ladder of a bind, each ending in one status (§4.1)."""
        profile = self.profile
        if self.outage is OutageMode.REFUSE_BINDS:
            status = CommandStatus.ESME_RBINDFAIL
        elif pdu["system_id"] != profile.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif pdu["password"] != profile.password:
            status = CommandStatus.ESME_RINVPASWD
        elif len(self.binds) >= profile.behaviour.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status:
            log.info("{op}: bind refused for {system_id}: {status}", op=profile.id,
                     system_id=pdu["system_id"], status=status.name)
            conn.respond(pdu, status)
            return
        conn.system_id = profile.system_id
        conn.respond(pdu, system_id=profile.id)
        self.binds.append(conn)
        self.admission.add_bind(conn, self.clock.seconds())
        log.info("{op}: {peer} bound as {mode}", op=profile.id, peer=conn.peer, mode=conn.state.value)
        self._flush_outbox()

    def _submit(self, conn: SmppConnection, pdu: Pdu) -> None:
        now = self.clock.seconds()
        behaviour = self.profile.behaviour
        refusal = self.admission.admit(conn, self._unanswered.get(conn, 0), now)
        if refusal is not None:
            self._refuse(conn, pdu, refusal)
            return
        try:
            validity = seconds_until(str(pdu["validity_period"]), now)
        except ValueError:
            validity = -1.0
        if validity is None:
            validity = behaviour.validity
        if validity <= 0:
            self._refuse(conn, pdu, CommandStatus.ESME_RINVEXPIRY)
            return
        msisdn = normalise(str(pdu["destination_addr"]), _int(pdu, "dest_addr_ton"), behaviour.country_code)
        subscriber = self.book.lookup(msisdn)
        before = 0
        if subscriber.rule is not None:
            before = self._submits_to.get(msisdn, 0)
            self._submits_to[msisdn] = before + 1
        facts = SubmitFacts(msisdn, str(pdu["source_addr"]), _int(pdu, "source_addr_ton"), validity, before)
        decision = decide(facts, subscriber, behaviour, self.rng)
        if decision.respond_after > 0:
            self._unanswered[conn] = self._unanswered.get(conn, 0) + 1
            self._later(decision.respond_after, self._answer, conn, pdu, msisdn, decision, True)
        else:
            self._answer(conn, pdu, msisdn, decision, False)

    def _refuse(self, conn: SmppConnection, pdu: Pdu, refusal: Refusal | CommandStatus) -> None:
        status = refusal.status if isinstance(refusal, Refusal) else refusal
        reason = refusal.reason.value if isinstance(refusal, Refusal) else status.name
        self.refused += 1
        if status == self.profile.behaviour.throttled_status:
            self.throttled += 1
        if trace.ON:
            log.debug("{op}: submit_sm refused: {status} ({reason})", op=self.profile.id, status=status.name,
                      reason=reason)
        conn.respond(pdu, status)

    def _answer(self, conn: SmppConnection, pdu: Pdu, msisdn: str, decision: Decision, slow: bool) -> None:
        if slow and conn in self._unanswered:
            self._unanswered[conn] -= 1
        if conn not in self.connections or self.outage is OutageMode.SILENT:
            # Nobody to tell, or a hung core: the submit is forgotten, no message is created.
            log.info("{op}: submit_sm_resp to {peer} never sent; submit discarded", op=self.profile.id,
                     peer=conn.peer)
            return
        if isinstance(decision, Refusal):
            self._refuse(conn, pdu, decision)
            return
        self._counter += 1
        message_id = f"{self.profile.message_id_prefix}{self._counter:010d}"
        now = self.clock.seconds()
        message = _Message(
            message_id=message_id, system_id=conn.system_id or "", source_addr=str(pdu["source_addr"]),
            source_addr_ton=_int(pdu, "source_addr_ton"), source_addr_npi=_int(pdu, "source_addr_npi"),
            destination_addr=str(pdu["destination_addr"]), dest_addr_ton=_int(pdu, "dest_addr_ton"),
            msisdn=msisdn, text_head=_bytes(pdu, "short_message")[:20], submitted_at=now,
            receipt_wanted=_int(pdu, "registered_delivery") & 0x03, fate=decision)
        self.messages[message_id] = message
        self.submitted += 1
        conn.respond(pdu, message_id=message_id)        # rule 1: the resp first...
        if trace.ON:
            log.debug("{op}: submit_sm accepted as {id}: {stat} in {after}s", op=self.profile.id, id=message_id,
                      stat=decision.stat.value, after=round(decision.done_after, 3))
        self._later(decision.done_after, self._finish, message)   # ...then the fate, always later

    def _query(self, conn: SmppConnection, pdu: Pdu) -> None:
        """query_sm (§4.8): what this SMSC knows; ESME_RQUERYFAIL for an id it never gave."""
        message = self.messages.get(str(pdu["message_id"]))
        if message is None:
            conn.respond(pdu, CommandStatus.ESME_RQUERYFAIL)
            return
        final = ""
        error_code = 0
        if message.done_at is not None:
            final = absolute(message.done_at)
            error_code = int(message.fate.err)
        conn.respond(pdu, message_id=message.message_id, final_date=final,
                     message_state=message.state, error_code=error_code)

    # --- fates, receipts and replies --------------------------------------------------

    def _finish(self, message: _Message) -> None:
        fate = message.fate
        message.state = STAT_TO_STATE[fate.stat.value]
        message.done_at = now = self.clock.seconds()
        self._forget.append((now + QUERY_RETENTION, message.message_id))
        while self._forget[0][0] <= now:       # times only grow: the oldest are on the left
            self.messages.pop(self._forget.popleft()[1], None)
        delivered = fate.stat is Stat.DELIVRD
        wanted = message.receipt_wanted
        asked = wanted == 1 or (wanted == 2 and not delivered) or (wanted == 3 and delivered)
        if asked and fate.receipt:
            self._queue_receipt(message)
        elif asked:
            self.receipts_lost += 1
            if trace.ON:
                log.debug("{op}: receipt {id} {stat} not sent (lost)", op=self.profile.id,
                          id=message.message_id, stat=fate.stat.value)
        if fate.reply is not None:
            self._later(fate.reply.after, self._reply, message, fate.reply)

    def _queue_receipt(self, message: _Message) -> None:
        fate = message.fate
        receipt = Receipt(message_id=message.message_id, stat=fate.stat.value, err=fate.err,
                          submit_date=receipt_date(message.submitted_at),
                          done_date=receipt_date(message.done_at or message.submitted_at),
                          dlvrd="001" if fate.stat is Stat.DELIVRD else "000",
                          text=message.text_head.decode("latin-1"))
        params = receipt.deliver_sm_params(message.destination_addr, message.dest_addr_ton,
                                           message.source_addr, message.source_addr_ton)
        self._outbox.append(_Outgoing(message.system_id, _Kind.RECEIPT, message.message_id, params, receipt.tlvs()))
        self._flush_outbox()

    def _reply(self, message: _Message, reply: PlannedReply) -> None:
        if not reply.reachable:
            self.mo_dropped += 1
            log.info("{op}: MO reply to {id} dropped: alphanumeric sender {sender} cannot be answered (R5)",
                     op=self.profile.id, id=message.message_id, sender=message.source_addr,
                     text_len=len(reply.text))
            return
        self._queue_mo(message.msisdn, message.source_addr, message.source_addr_ton, message.source_addr_npi,
                       reply.text, message.system_id)

    def _queue_mo(self, source: str, destination: str, dest_ton: int, dest_npi: int, text: str,
                  system_id: str | None = None) -> None:
        """An MO deliver_sm (esm_class 0): from the subscriber (TON 1 NPI 1) to `destination`."""
        if text.isascii():
            coding, payload = _DATA_CODING_DEFAULT, text.encode("ascii")
        else:
            try:
                coding, payload = _DATA_CODING_LATIN1, text.encode("latin-1")
            except UnicodeEncodeError:
                coding, payload = _DATA_CODING_UCS2, text.encode("utf-16-be")
        tlvs: tuple[Tlv, ...] = ()
        short_message = payload
        if len(payload) > _SHORT_MESSAGE_MAX:
            tlvs, short_message = (Tlv(Tag.message_payload, payload),), b""
        self._mo_counter += 1
        ref = f"mo{self._mo_counter}"
        params: dict[str, Value] = {
            "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": source.lstrip("+"),
            "dest_addr_ton": dest_ton, "dest_addr_npi": dest_npi, "destination_addr": destination,
            "esm_class": 0, "data_coding": coding, "short_message": short_message,
        }
        log.info("{op}: MO {ref} queued for {destination}", op=self.profile.id, ref=ref,
                 destination=destination, text_len=len(text))
        self._outbox.append(_Outgoing(system_id or self.profile.system_id, _Kind.MO, ref, params, tlvs))
        self._flush_outbox()

    def _flush_outbox(self) -> None:
        if self.outage is OutageMode.SILENT:
            return
        while self._outbox:
            item = self._outbox[0]
            conn = self._receiver_for(item.system_id)
            if conn is None:
                return
            self._outbox.popleft()
            self._send(conn, item)

    def _receiver_for(self, system_id: str) -> SmppConnection | None:
        for conn in self.binds:
            if conn.system_id == system_id and can_receive_messages(conn.state) \
                    and conn.session.window_available > 0:
                return conn
        return None

    def _send(self, conn: SmppConnection, item: _Outgoing) -> None:
        conn.request_then(self._delivered, self._not_delivered, Command.deliver_sm, item.tlvs, (item,),
                          **item.params)
        if item.kind is _Kind.RECEIPT:
            self.receipts_sent += 1
        else:
            self.mo_sent += 1
        if trace.ON:
            log.debug("{op}: {kind} {ref} sent to {peer}", op=self.profile.id, kind=item.kind.value,
                      ref=item.ref, peer=conn.peer)

    def _delivered(self, resp: Pdu, item: _Outgoing) -> None:
        status = resp.command_status
        if status in _TRY_AGAIN:
            log.info("{op}: {kind} {ref} refused for now ({status}); retried in {after}s",
                     op=self.profile.id, kind=item.kind.value, ref=item.ref, status=status_name(status),
                     after=_REDELIVER_AFTER)
            self._later(_REDELIVER_AFTER, self._requeue, item)
        elif status:
            log.warn("{op}: {kind} {ref} refused ({status}); dropped", op=self.profile.id,
                     kind=item.kind.value, ref=item.ref, status=status_name(status))
        self._flush_outbox()

    def _not_delivered(self, reason: object, item: _Outgoing) -> None:
        log.warn("{op}: {kind} {ref} not acknowledged; kept for the next bind", op=self.profile.id,
                 kind=item.kind.value, ref=item.ref)
        self._outbox.append(item)

    def _requeue(self, item: _Outgoing) -> None:
        self._outbox.append(item)
        self._flush_outbox()

    # --- timers -----------------------------------------------------------------------

    def _later(self, delay: float, action: Callable[..., object], *args: object) -> None:
        """callLater on the injected clock, remembered so that `stop()` can cancel it."""
        self._timer_ids += 1
        key = self._timer_ids

        def fire() -> None:
            self._timers.pop(key, None)
            action(*args)

        self._timers[key] = self.clock.callLater(max(0.0, delay), fire)


def _int(pdu: Pdu, name: str) -> int:
    value = pdu[name]
    return value if isinstance(value, int) else 0


def _bytes(pdu: Pdu, name: str) -> bytes:
    value = pdu[name]
    return value if isinstance(value, bytes) else b""
