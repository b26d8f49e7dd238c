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
6. One deliver_sm that cannot go never holds up the others (issue 10). `inject_mo` refuses,
   with `MoRefused`, an MO that no SMSC could send: an address longer than SMPP's 20
   characters, text no SMS alphabet can carry (a lone surrogate), or more than 255
   concatenated segments. Whatever gets into the outbox anyway and would not fit the peer's
   frame limit, or fails to be built or sent, is dropped alone, counted in
   `deliveries_dropped` and logged with the reason; so is one that was in flight on
   `MAX_LINK_LOSSES` links that died (it may be what kills them). It is never put back for
   ever, and the link and the rest of the outbox go on.
"""

from __future__ import annotations

import enum
import random
import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from smsc.adapter import ConnectionGone, SmppConnection
from smsc.events import ConnectionClosed
from smsc.operators.behaviour import (
    Accepted, Admission, Decision, PlainDecider, PlannedReply, Refusal, SubmitFacts, decide,
)
from smsc.operators.profile import NumberRule, OperatorProfile, OutageMode, Stat, SubscriberState
from smsc.operators.subscribers import SubscriberBook, lenient_e164
from smsc.pdu.codec import SHORT_MESSAGE_MAX, Command, Pdu, SmppMessageState, Tag, Tlv, Value, encode, make, npi_for
from smsc.pdu.framing import DEFAULT_MAX_PDU
from smsc.pdu.receipt import STAT_TO_STATE, Receipt, receipt_date, receipt_deliver_sm, text_head
from smsc.pdu.smpptime import absolute, seconds_until
from smsc.pdu.status import CommandStatus, status_name
from smsc.pdu.views import BIND_VIEWS, QuerySm, SubmitSmFields, submit_sm_fields
from smsc.states import can_receive_messages

log = Logger(namespace="smsc.operator")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
_REDELIVER_AFTER = 10.0                    # seconds before a deliver_sm refused for now is retried
_TRY_AGAIN = (CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL)
_DATA_CODING_DEFAULT = 0x00
_DATA_CODING_LATIN1 = 0x03
_DATA_CODING_UCS2 = 0x08
# A message stays answerable to query_sm this long after its final state, then is forgotten
# (real SMSCs purge too; the aggregator asks within minutes of a validity end).
QUERY_RETENTION = 48 * 3600.0

# --- what an MO may be (rule 6) ---
# source_addr and destination_addr are C-Octet Strings of at most 21 octets with their NUL
# (SMPP 3.4 §5.2.8, §5.2.9): 20 digits, the '+' of E.164 left out.
ADDRESS_MAX = 20
_MO_ADDRESS = re.compile(r"\+?[0-9]{1,%d}" % ADDRESS_MAX)
# The concatenation header counts the parts of a message in one octet (3GPP TS 23.040
# §9.2.3.24.1), so no handset sends, and none reassembles, more than 255 segments. At 153
# GSM 7-bit characters (or 134 octets of UCS-2) a segment, that is 39,015 characters, or
# 17,085 UTF-16 code units: at most 39,015 octets in message_payload, well inside a frame.
MO_MAX_SEGMENTS = 255
MO_TEXT_MAX_GSM = MO_MAX_SEGMENTS * 153
MO_TEXT_MAX_UCS2 = MO_MAX_SEGMENTS * 134 // 2
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A deliver_sm that was outstanding on this many links that were lost is dropped: it may be
# what makes the peer close them (a frame it cannot read), and an SMSC that re-sends it to
# every new bind for ever stops everything queued behind it.
MAX_LINK_LOSSES = 5
# Header and every mandatory deliver_sm field at its longest, short_message aside (§4.6.1):
# a PDU whose short_message and TLVs fit in the frame limit minus this needs no encoding to
# know it fits (a receipt is about 200 octets).
_DELIVER_SM_FIXED_MAX = 16 + 6 + 2 + 21 + 2 + 21 + 3 + 17 + 17 + 4 + 1


class MoRefused(ValueError):
    """An MO that can never be sent as a deliver_sm. `argument` names what is wrong:
    "source", "destination" or "text" (the parameters of `OperatorSmsc.inject_mo`)."""

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")
        self.argument = argument
        self.reason = reason


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
    text_head: str                          # the first 20 characters as read, for the receipt's text: field
    submitted_at: float
    receipt_wanted: int                     # registered_delivery & 0x03
    fate: Accepted
    state: SmppMessageState = SmppMessageState.ENROUTE
    done_at: float | None = None


# A final message as query_sm reads it: (message_id, message_state, done_at, err); plain
# values only, so that the garbage collector stops tracking it.
_Final = tuple[str, int, float, str]


class _Kind(enum.Enum):
    RECEIPT = "receipt"
    MO = "mo"


@dataclass(slots=True)
class _PendingDeliverSm:
    """A deliver_sm waiting for a receiver bind: a receipt or an MO."""

    system_id: str
    kind: _Kind
    ref: str                                # message id or MO number, for logs
    params: Mapping[str, Value]
    tlvs: tuple[Tlv, ...] = field(default_factory=tuple)
    # Known to encode within the frame limit: an MO encoded once when built, or a receipt, built
    # by this SMSC from fields it decoded (bounded) and its own ids. Anything else is encoded
    # once before it is sent, so that the session never meets a PDU it cannot encode.
    checked: bool = False
    link_losses: int = 0                    # links lost while it was outstanding on them
    # A receipt from the template (`receipt_deliver_sm`): `params` complete and this the body
    # `encode` would write, so that sending it packs a header only (`Session.send_encoded`).
    body: bytes | None = None


class OperatorSmsc:
    """SessionHandler of one operator's SMSC; shared by all its connections.

    `seed` seeds this operator's random stream (`random.Random(f"{seed}:{profile.id}")`) and
    its subscriber states; `test_numbers` are the network's magic numbers."""

    def __init__(self, profile: OperatorProfile, clock: IReactorTime, seed: int = 1,
                 test_numbers: tuple[NumberRule, ...] = (), max_pdu: int = DEFAULT_MAX_PDU,
                 trace: bool = False) -> None:
        """`max_pdu`: the largest PDU (octets) the peer frames; the aggregator's sessions take
        the same default as ours, 64 KiB. A deliver_sm above it is dropped, not sent.
        `trace`: one debug line per submit answered, receipt and deliver_sm; without it those
        lines are not even built (at thousands a second they cost a tenth of a replay)."""
        self.trace = trace
        behaviour = profile.behaviour
        self.max_pdu = max_pdu
        self.profile = profile
        self.clock = clock
        self.started_at = clock.seconds()
        self.rng = random.Random(f"{seed}:{profile.id}")
        self.book = SubscriberBook(profile.id, seed, behaviour.subscribers, behaviour.numbers, test_numbers)
        self.admission = Admission(behaviour, self.started_at)
        self._plain = PlainDecider.of(behaviour)      # decide() of the common submit, or None
        self.connections: list[SmppConnection] = []
        self.binds: list[SmppConnection] = []
        self.messages: dict[str, _Message | _Final] = {}    # in flight, or final (_finish)
        self.outage: OutageMode | None = None
        self._counter = 0
        self._mo_counter = 0
        self._outbox: deque[_PendingDeliverSm] = deque()
        self._unanswered: dict[SmppConnection, int] = {}   # slow submit_sm_resp still owed, per bind
        self._healing: dict[SmppConnection, bool] = {}     # links with a look-out after a failed send
        self._submits_to: dict[str, int] = {}              # submits per exact-rule number
        self._timers: dict[int, IDelayedCall] = {}
        self._timer_ids = 0
        self._forget: deque[tuple[float, str]] = deque()   # (when, message_id), in time order
        self._soon: list[_Message] | None = None          # zero-delay fates of the read being handled
        self._soon_key: tuple[SmppConnection, int] | None = None
        # counters
        self.submitted = 0                  # accepted submit_sm
        self.refused = 0                    # submit_sm answered with an error status
        self.throttled = 0                  # ... of which the throttled status
        self.receipts_sent = 0
        self.receipts_lost = 0
        self.mo_sent = 0
        self.mo_dropped = 0
        self.deliveries_dropped = 0         # deliver_sm (receipt or MO) that could not go (rule 6)
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
        '+' or 10+ digits is international (TON 1), anything shorter a short code (TON 0).

        Raises `MoRefused` (a ValueError), and queues nothing, for an MO that could never be
        sent (rule 6): an address that is not 1 to 20 digits after an optional '+', a lone
        surrogate in `text`, more than `MO_MAX_SEGMENTS` segments, or a deliver_sm above the
        peer's frame limit."""
        for argument, address in (("source", source), ("destination", destination)):
            if not _MO_ADDRESS.fullmatch(address):
                raise MoRefused(argument, f"expected 1 to {ADDRESS_MAX} digits after an optional '+' "
                                          f"(SMPP addresses are at most {ADDRESS_MAX + 1} octets with their NUL), "
                                          f"got {_shown(address)}")
        dest = destination
        if destination_ton is None:
            destination_ton = 1 if dest.startswith("+") or len(dest) >= 10 else 0
        dest = dest.lstrip("+")
        item = self._build_mo(source, dest, destination_ton, npi_for(destination_ton), text)
        self._queue_built_mo(item, len(text))

    def stop(self) -> None:
        """Cancel every pending timer (receipts, replies, outages, slow responses)."""
        for timer in list(self._timers.values()):
            if timer.active():
                timer.cancel()
        self._timers.clear()

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        self.connections.append(conn)
        window = self.profile.behaviour.window
        if conn.session.config.window != window:
            # The SMSC's window holds both ways: as many deliver_sm outstanding as it takes
            # submit_sm unanswered. With the session default (10) against a peer that keeps
            # hundreds of submits in flight, receipts left at 10 per round trip and fell far
            # behind the submits (issue 13).
            conn.session.config = replace(conn.session.config, window=window)
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
        if command is Command.submit_sm:
            self._submit(conn, pdu)
        elif command in _BIND_REQUESTS:
            self._bind(conn, pdu)
        elif command is Command.query_sm:
            self._query(conn, pdu)
        else:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- requests ---------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        """The check ladder of a bind, each ending in one status (§4.1)."""
        profile = self.profile
        if conn.system_id is not None or conn in self.binds:
            conn.respond(pdu, CommandStatus.ESME_RALYBND)    # a second bind pipelined behind the first
            return
        bind = BIND_VIEWS[pdu.command].from_pdu(pdu)
        if self.outage is OutageMode.REFUSE_BINDS:
            status = CommandStatus.ESME_RBINDFAIL
        elif bind.system_id != profile.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif bind.password != profile.password:
            status = CommandStatus.ESME_RINVPASWD
        elif len(self.binds) >= profile.behaviour.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status:
            log.info("{op}: bind refused for {system_id}: {status}", op=profile.id,
                     system_id=bind.system_id, status=status.name)
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
        refusal = self.admission.admit(conn, self._unanswered.get(conn, 0) if self._unanswered else 0, now)
        if refusal is not None:
            self._refuse(conn, pdu, refusal)
            return
        sm = submit_sm_fields(pdu)
        (source_addr_ton, _, source_addr, dest_addr_ton, destination_addr, validity_period, _, _) = sm
        if validity_period:
            try:
                validity = seconds_until(validity_period, now)
            except ValueError:
                validity = -1.0
            if validity is None:
                validity = behaviour.validity
        else:
            validity = behaviour.validity                   # seconds_until(""): None
        if validity <= 0:
            self._refuse(conn, pdu, CommandStatus.ESME_RINVEXPIRY)
            return
        msisdn = lenient_e164(destination_addr, dest_addr_ton, behaviour.country_code)
        subscriber = self.book.lookup(msisdn)
        plain = self._plain
        decision: Decision
        if plain is not None and subscriber.rule is None and subscriber.state is SubscriberState.ACTIVE:
            decision = plain.decide(validity, self.rng)     # = decide(...) on this path, cheaper
        else:
            before = 0
            if subscriber.rule is not None:
                before = self._submits_to.get(msisdn, 0)
                self._submits_to[msisdn] = before + 1
            facts = SubmitFacts(msisdn, source_addr, source_addr_ton, validity, before)
            decision = decide(facts, subscriber, behaviour, self.rng)
        if decision.respond_after > 0:
            self._unanswered[conn] = self._unanswered.get(conn, 0) + 1
            self._later(decision.respond_after, self._answer, conn, pdu, sm, msisdn, decision, True)
        else:
            self._answer(conn, pdu, sm, msisdn, decision, False)

    def _refuse(self, conn: SmppConnection, pdu: Pdu, refusal: Refusal | CommandStatus) -> None:
        status = refusal.status if isinstance(refusal, Refusal) else refusal
        reason = refusal.reason.value if isinstance(refusal, Refusal) else status.name
        self.refused += 1
        if status == self.profile.behaviour.throttled_status:
            self.throttled += 1
        if self.trace:
            log.info("{op}: submit_sm refused: {status} ({reason})", op=self.profile.id, status=status.name,
                      reason=reason)
        conn.respond(pdu, status)

    def _answer(self, conn: SmppConnection, pdu: Pdu, sm: SubmitSmFields, msisdn: str, decision: Decision,
                slow: bool) -> None:
        if slow:
            # Answered from a read, the connection is there and no outage is silent (see
            # request_received); later, either may have changed.
            if conn in self._unanswered:
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
        (source_addr_ton, source_addr_npi, source_addr, dest_addr_ton, destination_addr, _,
         registered_delivery, short_message) = sm
        esm_class, data_coding = pdu.params["esm_class"], pdu.params["data_coding"]
        assert isinstance(esm_class, int) and isinstance(data_coding, int)     # the codec's types
        message = _Message(message_id, conn.system_id or "", source_addr, source_addr_ton, source_addr_npi,
                           destination_addr, dest_addr_ton, msisdn,
                           text_head(short_message, esm_class, data_coding, pdu.tlvs), now,
                           registered_delivery & 0x03, decision)
        self.messages[message_id] = message
        self.submitted += 1
        conn.respond_message_id(pdu, message_id)        # rule 1: the resp first...
        if self.trace:
            log.info("{op}: submit_sm accepted as {id}: {stat} in {after}s", op=self.profile.id, id=message_id,
                      stat=decision.stat.value, after=round(decision.done_after, 3))
        if decision.done_after > 0 or slow:
            self._later(decision.done_after, self._finish, message)   # ...then the fate, always later
        else:
            self._finish_soon(conn, message)

    def _finish_soon(self, conn: SmppConnection, message: _Message) -> None:
        """`_later(0, _finish, message)`, with every zero-delay fate of one read in one clock
        call: under load a read holds hundreds of submits, and a timer each (with its heap push
        and pop) was a sixth of the work. Only the fates of the same read share a call, so the
        clock's order of calls is what it was with one call each (the one write of that read,
        then its fates; `SmppConnection._write_soon`), and replays stay byte-identical."""
        batch = self._soon
        key = self._soon_key
        if batch is not None and key is not None and key[0] is conn and key[1] == conn.reads:
            batch.append(message)
            return
        self._soon = batch = [message]
        self._soon_key = (conn, conn.reads)
        self._later(0.0, self._finish_all, batch)

    def _finish_all(self, batch: list[_Message]) -> None:
        if self._soon is batch:
            self._soon = None
            self._soon_key = None               # holds the connection: not past its batch
        now = self.clock.seconds()
        # The receipts of a batch leave in one write per link, not one each (the first at once,
        # as the answers to a read: in-memory links deliver them where they did).
        held = [conn for conn in self.binds if conn.hold_writes()]
        try:
            for message in batch:
                self._finish(message, now)
        finally:
            for conn in held:
                conn.release_writes()

    def _query(self, conn: SmppConnection, pdu: Pdu) -> None:
        """query_sm (§4.8): what this SMSC knows; ESME_RQUERYFAIL for an id it never gave."""
        message = self.messages.get(QuerySm.from_pdu(pdu).message_id)
        if message is None:
            conn.respond(pdu, CommandStatus.ESME_RQUERYFAIL)
            return
        if isinstance(message, tuple):                  # final (`_finish`)
            message_id, state, done_at, err = message
            conn.respond(pdu, message_id=message_id, final_date=absolute(done_at),
                         message_state=SmppMessageState(state), error_code=int(err))
            return
        # in flight: `_finish` replaces a message by its tuple when its fate is known
        conn.respond(pdu, message_id=message.message_id, final_date="", message_state=message.state, error_code=0)

    # --- fates, receipts and replies --------------------------------------------------

    def _finish(self, message: _Message, now: float | None = None) -> None:
        """The fate of `message` is known `now` (the clock's reading when not given)."""
        if now is None:
            now = self.clock.seconds()
        fate = message.fate
        delivered = fate.stat is Stat.DELIVRD
        message.state = SmppMessageState.DELIVERED if delivered else STAT_TO_STATE[fate.stat.value]
        message.done_at = now
        # What query_sm needs of a final message from now on, as a tuple of plain values: the
        # garbage collector stops tracking it (a _Message each, kept 48 h, made every full
        # collection of a bench walk hundreds of thousands of objects: pauses of 30-150 ms).
        self.messages[message.message_id] = (message.message_id, int(message.state), now, fate.err)
        forget = self._forget
        forget.append((now + QUERY_RETENTION, message.message_id))
        while forget[0][0] <= now:             # times only grow: the oldest are on the left
            self.messages.pop(forget.popleft()[1], None)
        wanted = message.receipt_wanted
        asked = wanted == 1 or (wanted == 2 and not delivered) or (wanted == 3 and delivered)
        if asked and fate.receipt:
            self._queue_receipt(message)
        elif asked:
            self.receipts_lost += 1
            if self.trace:
                log.info("{op}: receipt {id} {stat} not sent (lost)", op=self.profile.id,
                          id=message.message_id, stat=fate.stat.value)
        if fate.reply is not None:
            self._later(fate.reply.after, self._reply, message, fate.reply)

    def _queue_receipt(self, message: _Message) -> None:
        fate = message.fate
        submit_date = receipt_date(message.submitted_at)
        done_date = receipt_date(message.done_at or message.submitted_at)
        dlvrd = "001" if fate.stat is Stat.DELIVRD else "000"
        prepared = receipt_deliver_sm(message.message_id, fate.stat.value, fate.err, submit_date, done_date, dlvrd,
                                      message.text_head, message.state, message.destination_addr,
                                      message.dest_addr_ton, message.source_addr, message.source_addr_ton)
        if prepared is not None:
            params, tlvs, body = prepared
            item = _PendingDeliverSm(message.system_id, _Kind.RECEIPT, message.message_id, params, tlvs, True, 0, body)
        else:                           # what the template does not cover: the general encoder
            receipt = Receipt(message_id=message.message_id, stat=fate.stat.value, err=fate.err,
                              submit_date=submit_date, done_date=done_date, dlvrd=dlvrd, text=message.text_head)
            item = _PendingDeliverSm(message.system_id, _Kind.RECEIPT, message.message_id,
                                     receipt.deliver_sm_params(message.destination_addr, message.dest_addr_ton,
                                                               message.source_addr, message.source_addr_ton),
                                     receipt.tlvs(), checked=True)
        self._outbox.append(item)
        self._flush_outbox()

    def _reply(self, message: _Message, reply: PlannedReply) -> None:
        if not reply.reachable:
            self.mo_dropped += 1
            log.info("{op}: MO reply to {id} dropped: alphanumeric sender {sender} cannot be answered (R5)",
                     op=self.profile.id, id=message.message_id, sender=message.source_addr,
                     text_len=len(reply.text))
            return
        try:
            item = self._build_mo(message.msisdn, message.source_addr, message.source_addr_ton,
                                  message.source_addr_npi, reply.text, message.system_id)
        except MoRefused as refused:
            self.mo_dropped += 1
            log.warn("{op}: MO reply to {id} dropped: {reason}", op=self.profile.id, id=message.message_id,
                     reason=str(refused))
            return
        self._queue_built_mo(item, len(reply.text))

    def _build_mo(self, source: str, destination: str, dest_ton: int, dest_npi: int, text: str,
                  system_id: str | None = None) -> _PendingDeliverSm:
        """An MO deliver_sm (esm_class 0): from the subscriber (TON 1 NPI 1) to `destination`.
        Raises MoRefused if it could never be sent (rule 6). MOs are few, so this one encodes
        the PDU once to be sure of it; receipts, built by this SMSC from fields it decoded,
        only get the cheap size bound of `_send`."""
        problem = mo_text_problem(text)
        if problem is not None:
            raise MoRefused("text", problem)
        coding, payload = _mo_payload(text)
        tlvs: tuple[Tlv, ...] = ()
        short_message = payload
        if len(payload) > SHORT_MESSAGE_MAX:            # longer MO text goes in message_payload
            tlvs, short_message = (Tlv(Tag.message_payload, payload),), b""
        params: dict[str, Value] = {
            "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": source.lstrip("+"),
            "dest_addr_ton": dest_ton, "dest_addr_npi": dest_npi, "destination_addr": destination,
            "esm_class": 0, "data_coding": coding, "short_message": short_message,
        }
        try:
            size = len(encode(make(Command.deliver_sm, 1, 0, tlvs, **params)))
        except Exception as error:     # noqa: BLE001 - whatever the codec refuses, the MO cannot go
            raise MoRefused("text", f"the deliver_sm cannot be built: {error}") from None
        if size > self.max_pdu:
            raise MoRefused("text", f"the deliver_sm would be {size} octets, above the peer's "
                                    f"{self.max_pdu}-octet frame limit")
        return _PendingDeliverSm(system_id or self.profile.system_id, _Kind.MO, "", params, tlvs, checked=True)

    def _queue_built_mo(self, item: _PendingDeliverSm, text_len: int) -> None:
        self._mo_counter += 1
        item.ref = f"mo{self._mo_counter}"
        log.info("{op}: MO {ref} queued for {destination}", op=self.profile.id, ref=item.ref,
                 destination=item.params["destination_addr"], text_len=text_len)
        self._outbox.append(item)
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

    def _send(self, conn: SmppConnection, item: _PendingDeliverSm) -> None:
        """Send one deliver_sm; one that is too big or cannot be sent is dropped alone (rule 6)."""
        problem = self._too_big(item) if item.checked else self._unsendable(item)
        if problem is not None:
            self._drop(item, problem)
            return
        body = item.body
        try:
            if body is not None:
                conn.request_encoded_then(self._delivered, self._not_delivered, Command.deliver_sm, item.params,
                                          item.tlvs, body, (item,))
            else:
                conn.request_then(self._delivered, self._not_delivered, Command.deliver_sm, item.tlvs, (item,),
                                  None, **item.params)
        except Exception:              # noqa: BLE001 - a bug of ours: this item goes, the link stays
            self.deliveries_dropped += 1
            log.failure("{op}: {kind} {ref} could not be sent to {peer}; dropped", op=self.profile.id,
                        kind=item.kind.value, ref=item.ref, peer=conn.peer)
            self._heal_later(conn)
            return
        if item.kind is _Kind.RECEIPT:
            self.receipts_sent += 1
        else:
            self.mo_sent += 1
        if self.trace:
            log.info("{op}: {kind} {ref} sent to {peer}", op=self.profile.id, kind=item.kind.value,
                      ref=item.ref, peer=conn.peer)

    def _delivered(self, resp: Pdu, item: _PendingDeliverSm) -> None:
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

    def _heal_later(self, conn: SmppConnection) -> None:
        """After a send that failed in the session: the session may have kept a window slot for
        the request it could not encode, and frees it only when that request times out, at its
        next timer (up to its keepalive interval later). Nothing else would flush the outbox
        then, so look again each response timeout while this link is full and items wait (one
        look-out per link, however many sends failed)."""
        if conn in self._healing:
            return
        self._healing[conn] = True

        def heal() -> None:
            del self._healing[conn]
            if conn not in self.binds:
                return
            if conn.session.window_available == 0 and self._outbox:
                self._heal_later(conn)
            else:
                self._flush_outbox()
        self._later(conn.session.config.response_timeout + 1.0, heal)

    def _too_big(self, item: _PendingDeliverSm) -> str | None:
        """Why a checked `item` would not fit the peer's frame limit, or None: without encoding
        as long as its variable parts fit with room to spare (every receipt, about 200 octets;
        encoding each would cost a replay about 6 us per message); a templated receipt's size is
        known exactly."""
        if item.body is not None:
            return self._over_limit(16 + len(item.body))
        short_message = item.params.get("short_message", b"")
        variable = (len(short_message) if isinstance(short_message, bytes) else 0) \
            + sum(4 + len(tlv.value) for tlv in item.tlvs)
        if _DELIVER_SM_FIXED_MAX + variable <= self.max_pdu:
            return None
        return self._unsendable(item)

    def _unsendable(self, item: _PendingDeliverSm) -> str | None:
        """Why `item` cannot be encoded, or would not fit the peer's frame limit, or None."""
        try:
            size = len(encode(make(Command.deliver_sm, 1, 0, item.tlvs, **item.params)))
        except Exception as error:     # noqa: BLE001 - whatever the codec refuses cannot go
            return f"it cannot be encoded: {error}"
        return self._over_limit(size)

    def _over_limit(self, size: int) -> str | None:
        return f"{size} octets, above the peer's {self.max_pdu}-octet frame limit" if size > self.max_pdu else None

    def _drop(self, item: _PendingDeliverSm, why: str, expected: bool = False) -> None:
        """Give one deliver_sm up. An error when it cannot be sent at all (our bug, or input we
        should have refused); a warning when it is what a peer's behaviour calls for."""
        self.deliveries_dropped += 1
        emit = log.warn if expected else log.error
        emit("{op}: {kind} {ref} dropped: {why}", op=self.profile.id, kind=item.kind.value, ref=item.ref, why=why)

    def _not_delivered(self, reason: object, item: _PendingDeliverSm) -> None:
        lost_link = isinstance(reason, Failure) and isinstance(reason.value, ConnectionGone)
        if lost_link:
            item.link_losses += 1
            if item.link_losses >= MAX_LINK_LOSSES:
                self._drop(item, f"outstanding on {item.link_losses} links that were lost; "
                                 "taken to be what breaks them", expected=True)
                return
        log.warn("{op}: {kind} {ref} not acknowledged; kept for the next bind", op=self.profile.id,
                 kind=item.kind.value, ref=item.ref)
        self._outbox.append(item)
        if not lost_link:
            self._flush_outbox()      # a response timeout freed a window slot: use it

    def _requeue(self, item: _PendingDeliverSm) -> None:
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


# data_coding -> (octets in one SMS, octets per part of a concatenated one), as aggregator/credit.py
# counts them: GSM 7-bit for ASCII and Latin-1 (sent as GSM 7-bit), UCS-2 otherwise.
_SEGMENT_OCTETS = {_DATA_CODING_DEFAULT: (160, 153), _DATA_CODING_LATIN1: (160, 153), _DATA_CODING_UCS2: (140, 134)}


def mo_text_problem(text: str) -> str | None:
    """Why `text` can never be an MO (rule 6), or None: a lone surrogate (no SMS alphabet
    carries one), or more than MO_MAX_SEGMENTS segments. Pure: a scenario loader may check
    its `mo` steps with it."""
    if (bad := _LONE_SURROGATE.search(text)) is not None:
        return f"a lone surrogate (U+{ord(bad.group()):04X}) at character {bad.start()}: no SMS alphabet can carry it"
    coding, payload = _mo_payload(text)
    segments = _segments(coding, len(payload))
    if segments > MO_MAX_SEGMENTS:
        alphabet = "UCS-2" if coding == _DATA_CODING_UCS2 else "GSM 7-bit"
        return (f"{len(text)} characters take {segments} SMS segments in {alphabet}; at most {MO_MAX_SEGMENTS}, "
                f"the parts a concatenated SMS can have: {MO_TEXT_MAX_GSM} characters in GSM 7-bit, "
                f"{MO_TEXT_MAX_UCS2} in UCS-2")
    return None


def _mo_payload(text: str) -> tuple[int, bytes]:
    """(data_coding, octets) of an MO: ASCII as is, else Latin-1, else UCS-2 (UTF-16 BE)."""
    if text.isascii():
        return _DATA_CODING_DEFAULT, text.encode("ascii")
    try:
        return _DATA_CODING_LATIN1, text.encode("latin-1")
    except UnicodeEncodeError:
        return _DATA_CODING_UCS2, text.encode("utf-16-be")


def _segments(coding: int, octets: int) -> int:
    single, part = _SEGMENT_OCTETS[coding]
    return 1 if octets <= single else -(-octets // part)


def _shown(value: str, limit: int = 24) -> str:
    """A value for an error message: quoted, and cut with its length when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"

