"""The aggregator's SMPP server for its clients (SMSC role): binds, submits, receipts back.

Bind is a ladder of checks, each ending in one status (as Jasmin's doBindRequest):
unknown system_id -> ESME_RINVSYSID, wrong password -> ESME_RINVPASWD, too many binds ->
ESME_RBINDFAIL. A refused bind leaves the session OPEN, so the client may try again on the
same connection.

submit_sm: the destination is normalised to E.164 and routed; a destination no operator
serves gets ESME_RINVDSTADR. An accepted message is answered with the aggregator's own
message_id *before* it is handed to the delivery engine, so the submit_sm_resp is on the
wire before any receipt that could refer to it (Kannel drops a receipt that overtakes it).

submit_multi (§4.5): each SME destination goes through routing, message checks and the rules
exactly as a submit_sm does (one function, `_submit_one`, serves both) and becomes a message
of its own with its own id and receipt; distribution lists get ESME_RINVDESTFLAG. The resp's
message_id is the first accepted destination's id (the others follow it, consecutive, in
dest_address order), each refused destination is in unsuccess_sme with its status, and a
submit_multi with no destination accepted is answered ESME_RSUBMITFAIL (with that list).

Per-account limits: `rate`/`burst` (token bucket, ESME_RTHROTTLED beyond, R14),
`max_pending` messages not yet accepted by an operator (ESME_RMSGQFUL beyond). The operator
rules (aggregator/rules/) judge a submit after routing and the message checks; R10 `credit`
(prepaid credit in SMS segments, its validity, prices) is one of them: RULE_NO_CREDIT when the
message costs more than what is left, billed at acceptance. The client's validity_period
(relative or absolute) shortens the default validity (R9); a malformed one gets
ESME_RINVEXPIRY. schedule_delivery_time is accepted and not acted on yet.

Deliveries to clients (receipts, and MOs to the short codes an account owns) are written to
the store before they are sent, go to a receiver or transceiver bind of the account (round
robin), wait for the next such bind when none is up, and are marked done only when the client
answers deliver_sm_resp: a restart resends what was not acknowledged (at-least-once).
"""

from __future__ import annotations

import re
import struct
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from itertools import count
from typing import Iterable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from aggregator.bindguard import FailedBinds
from aggregator.clientcard import ClientCards
from aggregator.config import AccountConfig, DeliveryConfig, LimitsConfig
from aggregator.credit import segments
from aggregator.delivery import DeliveryEngine, Message
from aggregator.message_checks import check_message
from aggregator.routing import Router, RoutingError
from aggregator.rules.base import Mo, Reply, Submit
from aggregator.rules.pipeline import Rules
from aggregator.store import DeliveryRecord, MessageState, MoRecord, RefusalRecord, Store, StoreUnavailable
from smsc.adapter import ResponseTimeout, SmppConnection
from smsc.events import ConnectionClosed
from smsc.pdu.codec import (
    SHORT_MESSAGE_MAX,
    Command,
    DestAddress,
    Pdu,
    SmppMessageState,
    Tag,
    Tlv,
    Ton,
    UnsuccessSme,
    decode,
    encode,
    make,
)
from smsc.pdu.framing import DEFAULT_MAX_PDU
from smsc.pdu.gsm import decode_gsm, looks_gsm
from smsc.pdu.receipt import Receipt
from smsc.pdu.smpptime import absolute, seconds_until
from smsc.pdu.status import CommandStatus, status_name
from smsc.pdu.views import BIND_VIEWS, DataSm, DeliverSm, QuerySm, SubmitMulti, SubmitSm
from smsc.ratelimit import TokenBucket
from smsc.session import SessionConfig, Unsendable
from smsc.states import Role, can_receive_messages, is_bound

log = Logger(namespace="aggregator.server")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
SERVER_SYSTEM_ID = "smscharness"
# A client answering deliver_sm with one of these is busy, not refusing: try again later.
_CLIENT_BUSY = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RX_T_APPN})
CLIENT_BUSY_PAUSE = 1.0
# After a deliver_sm timed out and no other bind could take it, try again this often (a late
# answer or any PDU from the bind makes it usable again).
REDELIVER_AFTER = 5.0
# The largest PDU an operator link carries (its sessions' max_pdu): a message whose forwarded
# submit_sm would be larger is refused at submit (aggregator.message_checks).
OPERATOR_LINK_MAX_PDU = DEFAULT_MAX_PDU
# smsc-harness's vendor TLV (SMPP 3.4 §5.3.2: 0x1400-0x3FFF): the campaign a submit_sm or
# submit_multi belongs to, 1 to 64 printable ASCII octets (a trailing NUL is allowed). Submits
# with the same id are one bulk send (R3, R8). Never forwarded to an operator.
CAMPAIGN_ID_TAG = 0x1400
CAMPAIGN_ID_MAX = 64
# What a campaign id is, one definition for the TLV and the scenario files' `id:`.
CAMPAIGN_ID = re.compile(f"[\x21-\x7e]{{1,{CAMPAIGN_ID_MAX}}}")
_BAD_CAMPAIGN = f"campaign id TLV 0x{CAMPAIGN_ID_TAG:04x} is not 1 to {CAMPAIGN_ID_MAX} printable ASCII octets"
# submit_multi's number_of_dests (§4.5.1): 1 to 254 destinations.
MULTI_MAX_DESTS = 254
# Flow control ("try again later") is not a refusal of the message: not kept in the store.
_FLOW_CONTROL = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
# data_coding of a UCS-2 text (what an MO's text is read as: mo_text)
_UCS2 = 0x08
_UDHI = 0x40  # esm_class: short_message starts with a user data header


def client_session_config(limits: LimitsConfig) -> SessionConfig:
    """The sessions of the client-facing server: an SMSC's defaults with the config's limits."""
    return replace(SessionConfig.for_role(Role.SMSC), window=limits.deliver_window, bind_timeout=limits.bind_timeout,
                   frame_timeout=limits.frame_timeout, max_unanswered=limits.max_unanswered,
                   unread_timeout=limits.unread_timeout)


class AggregatorServer:
    """SessionHandler for client connections, shared by all of them."""

    def __init__(self, accounts: Iterable[AccountConfig], router: Router, engine: DeliveryEngine,
                 store: Store, clock: IReactorTime, delivery: DeliveryConfig, rules: Rules,
                 limits: LimitsConfig = LimitsConfig(), trace: bool = False) -> None:
        """`engine` builds this server as its client sink (DeliveryEngine's `clients`);
        `rules` are asked about every submit and MO (aggregator/rules/pipeline.py);
        `trace`: one debug line per submit accepted and per deliver_sm sent (DeliveryEngine)."""
        self.accounts = {account.system_id: account for account in accounts}
        self.rules = rules
        self.short_codes = {code: account.system_id for account in self.accounts.values()
                            for code in account.short_codes}
        self.router = router
        self.engine = engine
        self.stats = engine.stats                            # live stats (aggregator/stats.py)
        self.store = store
        self.clock = clock
        self.delivery = delivery
        self.binds: dict[str, list[SmppConnection]] = defaultdict(list)
        self.connections: list[SmppConnection] = []          # every client connection, bound or not
        self._buckets = {a.system_id: TokenBucket(a.rate, a.burst, clock.seconds())
                         for a in self.accounts.values() if a.rate}
        # deliver_sm owed to each account, with the PDU already built (the record keeps its
        # bytes for the store; after a restart the PDU is read back from them)
        self._outbound: dict[str, deque[_Owed]] = defaultdict(deque)
        self._busy_until: dict[str, IDelayedCall] = {}
        self._retry_at: dict[str, IDelayedCall] = {}
        self._suspect: dict[SmppConnection, float] = {}      # bind -> when a deliver_sm timed out on it
        self._numbers = count(store.next_message_number())
        self._multis = count(1)                              # Submit.multi: which submit_multi (R8)
        self._bind_numbers = count(1)                        # bind_id: "ACCOUNT#N", N over this server's life
        self.limits = limits
        self.failed_binds = FailedBinds(limits.failed_binds_per_address, limits.failed_binds_per_system_id)
        self.trace = trace
        # the report card of each bind (issue 14): fed by the one-line `self.cards.` hooks below
        sessions = client_session_config(limits)
        self.cards = ClientCards(sessions.window, sessions.response_timeout)
        self._closing_all = False

    def resume(self) -> int:
        """Queue the deliveries a previous run left unacknowledged. Returns how many."""
        pending = self.store.pending_deliveries()
        for record in pending:
            pdu = decode(record.pdu)
            assert isinstance(pdu, Pdu)                 # our own bytes
            self._outbound[record.account].append(_Owed(record, pdu))
        return len(pending)

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        self.connections.append(conn)
        log.info("client connected from {peer}", peer=conn.peer)

    def close_all(self) -> None:
        """Shutdown: close every client connection (what they were owed stays in the store)."""
        self._closing_all = True
        for conn in list(self.connections):
            conn.close()

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        if conn.system_id is not None and conn in self.binds[conn.system_id]:
            self.binds[conn.system_id].remove(conn)
        self._suspect.pop(conn, None)
        self.stats.unbound(conn.bind_id)
        self.cards.ended(conn, conn.clock.seconds(), event.clean, self._closing_all or conn.session.closing,
                         conn.session.unanswered, sum(r.command is Command.deliver_sm for r in event.unanswered))
        log.info("client {system_id} at {peer} disconnected ({how})", system_id=conn.system_id or "-",
                 peer=conn.peer, how="unbound" if event.clean else "dropped")

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        command = pdu.command
        if command is Command.submit_sm:
            self._submit_sm(conn, pdu)
        elif command is Command.submit_multi:
            self._submit_multi(conn, pdu)
        elif command in _BIND_REQUESTS:
            self._bind(conn, pdu)
        elif command is Command.query_sm:
            self._query_sm(conn, pdu)
        else:
            # data_sm, cancel_sm, replace_sm: not served yet.
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- bind -------------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        if conn.system_id is not None:
            # Binds pipelined in one write all pass the session's state check (it is still open
            # until the first is answered): only the first may bind, the others are refused as
            # a second bind (§4.1: ESME_RALYBND), or the connection would count as several binds.
            conn.respond(pdu, CommandStatus.ESME_RALYBND)
            return
        bind = BIND_VIEWS[pdu.command].from_pdu(pdu)
        system_id = bind.system_id
        account = self.accounts.get(system_id)
        now = conn.clock.seconds()                  # real time, whatever --speed does to ours
        limited = self.failed_binds.refused(conn.peer_host, system_id, account is not None, now)
        if limited is not None:
            log.warn("bind refused for {system_id} from {peer}: {why} (ESME_RBINDFAIL until the rate allows)",
                     system_id=system_id, peer=conn.peer, why=limited)
            conn.respond(pdu, CommandStatus.ESME_RBINDFAIL)
            return
        if account is None:
            status = CommandStatus.ESME_RINVSYSID
        elif not account.password.matches(bind.password):
            status = CommandStatus.ESME_RINVPASWD
        elif sum(1 for c in self.binds[system_id] if is_bound(c.state)) >= account.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status in (CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RINVPASWD):
            self.failed_binds.failed(conn.peer_host, system_id, account is not None, now)
        if status:
            log.info("bind refused for {system_id} from {peer}: {status}", system_id=system_id,
                     peer=conn.peer, status=status.name)
            conn.respond(pdu, status)
            return
        conn.system_id = system_id
        conn.bind_id = f"{system_id}#{next(self._bind_numbers)}"
        self.stats.bound(conn.bind_id, self.clock.seconds())
        conn.respond(pdu, system_id=SERVER_SYSTEM_ID)
        self.binds[system_id].append(conn)
        self.cards.bound(conn, conn.bind_id, system_id, conn.peer, conn.peer_host, now)
        conn.on_unanswered = self._unanswered_own
        log.info("{system_id} bound as {mode} from {peer} (bind {bind})", system_id=system_id,
                 mode=conn.state.value, peer=conn.peer, bind=conn.bind_id)
        self._send_owed(system_id)

    # --- submit_sm and submit_multi -----------------------------------------------------

    def _submit_sm(self, conn: SmppConnection, pdu: Pdu) -> None:
        account = conn.system_id or ""
        now = self.clock.seconds()
        sm = SubmitSm.from_pdu(pdu)
        self.cards.submit(conn, conn.session.unanswered, sm, conn.clock.seconds())
        destination = sm.destination_addr
        admitted = self._admit(account, sm, 1, now)
        if isinstance(admitted, _Turned):
            if admitted.reason is None:
                self._flow_control(conn, pdu, account, admitted.status)
            else:
                self._refuse(conn, pdu, account, destination, admitted.status, admitted.reason)
            return
        campaign, validity = admitted
        outcome = self._submit_one(account, sm, destination, sm.dest_addr_ton, campaign, validity, now)
        if isinstance(outcome, Message):
            self.stats.accepted_message(conn.bind_id, account, outcome.operator_id, now)
            self.store.after_commit(self._accepted, conn, pdu, outcome)
        else:
            conn.respond(pdu, outcome)

    def _submit_multi(self, conn: SmppConnection, pdu: Pdu) -> None:
        """submit_multi (§4.5): each SME destination goes the way of a submit_sm (routing,
        message checks, rules, billing) and becomes a message of its own, with its own id and
        receipt. Distribution lists are not served (ESME_RINVDESTFLAG). The resp lists each
        refused destination in unsuccess_sme with its status; its message_id is the first
        accepted destination's id, the others' ids following it one by one in the order of
        dest_address (the server numbers them in one go). No destination accepted: the resp
        says ESME_RSUBMITFAIL, with the unsuccess_sme list. Per PDU, as for a submit_sm:
        throttling (one token per SME destination, at most the burst), max_pending, the
        campaign TLV (it applies to every destination), validity_period."""
        account = conn.system_id or ""
        now = self.clock.seconds()
        sm = SubmitMulti.from_pdu(pdu)
        dests = sm.dest_addresses
        if not 1 <= len(dests) <= MULTI_MAX_DESTS:
            # number_of_dests is one octet: the codec reads 0 and 255 as they come (§4.5.1: 1 to 254).
            self._refuse(conn, pdu, account, "", CommandStatus.ESME_RINVNUMDESTS,
                         f"number_of_dests {len(dests)}, not 1 to {MULTI_MAX_DESTS}")
            return
        self.cards.submit_multi(conn, conn.session.unanswered, sm, conn.clock.seconds())
        admitted = self._admit(account, sm, len(dests), now)
        if isinstance(admitted, _Turned):
            if admitted.reason is None:
                self._flow_control(conn, pdu, account, admitted.status)
            else:
                self._refuse_all(conn, pdu, account, dests, admitted.status, admitted.reason, admitted.campaign)
            return
        campaign, validity = admitted
        multi = next(self._multis)
        accepted: list[Message] = []
        unsuccess: list[UnsuccessSme] = []
        for dest in dests:
            if dest.dl_name is not None:
                status = self._refused(account, dest.dl_name, CommandStatus.ESME_RINVDESTFLAG,
                                       "distribution lists are not served", campaign=campaign)
                unsuccess.append(UnsuccessSme(0, 0, dest.dl_name, status))
                continue
            outcome = self._submit_one(account, sm, dest.destination_addr, dest.dest_addr_ton, campaign, validity, now,
                                       multi)
            if isinstance(outcome, Message):
                self.stats.accepted_message(conn.bind_id, account, outcome.operator_id, now)
                accepted.append(outcome)
            else:
                unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi, dest.destination_addr, outcome))
        if not accepted:
            conn.respond(pdu, CommandStatus.ESME_RSUBMITFAIL, message_id="", unsuccess_smes=tuple(unsuccess))
            return
        self.store.after_commit(self._multi_accepted, conn, pdu, accepted, tuple(unsuccess))

    def _flow_control(self, conn: SmppConnection, pdu: Pdu, account: str, status: int) -> None:
        """Answer a submit with flow control (ESME_RTHROTTLED, ESME_RMSGQFUL: `_admit` gave no
        reason): counted by the live stats, noted on the bind's report card."""
        self.stats.refused_submit(account, status)
        self.cards.throttled(conn, conn.clock.seconds())
        conn.respond(pdu, status)

    def _admit(self, account: str, sm: SubmitSm | SubmitMulti, tokens: int, now: float
               ) -> tuple[str | None, float] | _Turned:
        """The checks a submit_sm or submit_multi passes as a whole, before any destination:
        the account's rate (``tokens`` submits, at most its burst), max_pending, the campaign
        id TLV, the store keeping up, validity_period. Returns (campaign id or None, validity
        in seconds), or why the whole PDU is turned away."""
        bucket = self._buckets.get(account)
        if bucket is not None and not bucket.take(now, min(tokens, bucket.burst)):
            return _Turned(CommandStatus.ESME_RTHROTTLED)
        if self.engine.waiting_count(account) >= self.accounts[account].max_pending:
            return _Turned(CommandStatus.ESME_RMSGQFUL)
        campaign = campaign_of(sm.tlvs)
        if campaign is None:
            return _Turned(CommandStatus.ESME_RINVOPTPARAMVAL, _BAD_CAMPAIGN)
        if self.store.uncommitted_messages >= self.limits.max_uncommitted:
            # The database has not taken a commit for a while (locked, full): accept no more
            # than can wait in memory; the client tries again later.
            return _Turned(CommandStatus.ESME_RMSGQFUL)
        validity = self._validity(sm.validity_period, now)
        if isinstance(validity, str):
            return _Turned(CommandStatus.ESME_RINVEXPIRY, validity, campaign or None)
        return campaign or None, validity

    def _validity(self, validity_period: str, now: float) -> float | str:
        """The message's validity in seconds (R9: the client's shorter one wins), or why the
        client's validity_period is refused (ESME_RINVEXPIRY)."""
        try:
            asked = seconds_until(validity_period, now)
        except ValueError:
            return "malformed validity_period"
        if asked is None:
            return self.delivery.validity
        if asked <= 0:
            return "validity_period already over"
        return min(self.delivery.validity, asked)

    def _submit_one(self, account: str, sm: SubmitSm | SubmitMulti, destination: str, dest_ton: int,
                    campaign: str | None, validity: float, now: float, multi: int | None = None) -> Message | int:
        """One destination of a submit_sm or submit_multi: routed, checked, asked of the rules,
        then accepted (recorded, billed; sent once committed, by the caller) as the Message
        returned, or refused (kept in the store's refusals) with the status returned."""
        try:
            route = self.router.route(destination, dest_ton)
        except RoutingError as error:
            log.info("{account}: submit to {destination} refused: {why}", account=account,
                     destination=destination, why=str(error))
            return self._refused(account, destination, CommandStatus.ESME_RINVDSTADR, str(error), campaign=campaign)
        payload = sm.tlv(Tag.message_payload)
        data_coding = sm.data_coding
        short_message = sm.short_message
        bad = check_message(data_coding, sm.esm_class, short_message,
                            None if payload is None else payload.value,
                            sum(4 + len(tlv.value) for tlv in sm.tlvs) if sm.tlvs else 0, OPERATOR_LINK_MAX_PDU)
        if bad is not None:
            log.info("{account}: submit to {destination} refused: {why}", account=account,
                     destination=destination, why=bad.reason)
            return self._refused(account, destination, bad.status, bad.reason, msisdn=route.msisdn, campaign=campaign)
        # R10: every accepted message is billed its segments (a ledger line), a refusal is not;
        # the credit rule refuses a prepaid account what it cannot pay (aggregator/rules/credit.py).
        cost = segments(data_coding, short_message, 0 if payload is None else len(payload.value))
        facts = Submit(account, route.msisdn, route.operator_id, self.router.country(route.msisdn), campaign,
                       self.rules.marketing.get(account, False), cost, now, multi)
        refusal = self.rules.check(facts)
        if refusal is not None:
            return self._refused(account, destination, refusal.status, refusal.reason, msisdn=route.msisdn,
                                 rule=refusal.rule, campaign=campaign)
        tlvs = sm.tlvs if campaign is None else tuple(t for t in sm.tlvs if t.tag != CAMPAIGN_ID_TAG)
        message = Message(
            id=f"{next(self._numbers):016x}", account=account, source_addr=sm.source_addr,
            source_addr_ton=sm.source_addr_ton, destination_addr=destination,
            dest_addr_ton=dest_ton, msisdn=route.msisdn, operator_id=route.operator_id,
            registered_delivery=sm.registered_delivery,
            data_coding=data_coding, esm_class=sm.esm_class,
            short_message=short_message, accepted_at=now,
            deadline=now + validity, tlvs=tlvs, campaign=campaign)
        if self.trace:
            log.info("{account}: {id} to {msisdn} routed to {op} ({reason})", account=account,
                      id=message.id, msisdn=route.msisdn, op=route.operator_id, reason=route.reason)
        self.engine.accept(message, send=False)
        for line in self.rules.accepted(facts, message.id):
            self.store.bill(line.account, line.message_id, line.segments, line.at, line.amount, line.kind)
        return message

    def _refused(self, account: str, destination: str, status: int, reason: str, *, msisdn: str | None = None,
                 rule: str | None = None, campaign: str | None = None) -> int:
        """Keep why a submit (one destination of it) is refused (the store's `refusals`): "why
        are 20 messages missing?" has an answer. Flow control is not kept. Returns ``status``."""
        self.stats.refused_submit(account, status)
        if status not in _FLOW_CONTROL:
            self.store.add_refusal(RefusalRecord(account, destination, msisdn, status, rule, reason, campaign,
                                                 self.clock.seconds()))
        return status

    def _refuse(self, conn: SmppConnection, pdu: Pdu, account: str, destination: str, status: int, reason: str, *,
                msisdn: str | None = None, rule: str | None = None, campaign: str | None = None) -> None:
        """Answer a submit with an error, and keep why (``_refused``)."""
        conn.respond(pdu, self._refused(account, destination, status, reason, msisdn=msisdn, rule=rule,
                                        campaign=campaign))

    def _refuse_all(self, conn: SmppConnection, pdu: Pdu, account: str, dests: tuple[DestAddress, ...], status: int,
                    reason: str, campaign: str | None = None) -> None:
        """Answer a submit_multi refused as a whole: one refusal kept per destination (they
        count as the submits they stand for)."""
        for dest in dests:
            self._refused(account, dest.destination_addr if dest.dl_name is None else dest.dl_name, status, reason,
                          campaign=campaign)
        conn.respond(pdu, status)

    def _accepted(self, conn: SmppConnection, pdu: Pdu, message: Message) -> None:
        """The message is committed: answer the client, then send it on. The resp leaves
        before anything that could bring a receipt back (Kannel drops a receipt that overtakes
        its resp). A client gone meanwhile misses its resp; the message still goes on."""
        conn.respond_message_id(pdu, message.id)        # respond(pdu, message_id=...) in one call
        self.engine.send(message)

    def _multi_accepted(self, conn: SmppConnection, pdu: Pdu, messages: list[Message],
                        unsuccess: tuple[UnsuccessSme, ...]) -> None:
        """A submit_multi's messages are committed: answer (the first id), then send them on."""
        conn.respond(pdu, message_id=messages[0].id, unsuccess_smes=unsuccess)
        for message in messages:
            self.engine.send(message)

    def _query_sm(self, conn: SmppConnection, pdu: Pdu) -> None:
        """Answer from the store, for the client's own messages only (§4.8)."""
        try:
            record = self.store.message(QuerySm.from_pdu(pdu).message_id)
        except StoreUnavailable as error:
            log.warn("query_sm from {account} not answered from the store: {error}", account=conn.system_id,
                     error=str(error))
            conn.respond(pdu, CommandStatus.ESME_RSYSERR)
            return
        if record is None or record.account != conn.system_id:
            conn.respond(pdu, CommandStatus.ESME_RQUERYFAIL)
            return
        final = receipt_date_for_query(record.done_at)
        conn.respond(pdu, message_id=record.id, final_date=final,
                     message_state=QUERY_STATES[record.state], error_code=min(255, record.error_code or 0))

    # --- deliveries to clients (ClientSink) -------------------------------------------

    def deliver_receipt(self, message: Message, receipt: Receipt) -> None:
        params = receipt.deliver_sm_params(message.destination_addr, message.dest_addr_ton,
                                           message.source_addr, message.source_addr_ton)
        pdu = make(Command.deliver_sm, 0, 0, receipt.tlvs(), **params)
        self._owe(message.account, "receipt", message.id, pdu)

    def deliver_mo(self, operator_id: str, pdu: Pdu) -> None:
        """An MO from an operator, as deliver_sm or as data_sm (§4.7: its text in message_payload):
        stored, then owed to the short code's owner as a deliver_sm, which every bind takes."""
        if pdu.command is Command.data_sm:
            mo = DataSm.from_pdu(pdu).as_deliver_sm()
            pdu = mo.to_pdu()
        else:
            mo = DeliverSm.from_pdu(pdu)
        destination = mo.destination_addr
        account = self.short_codes.get(destination.lstrip("+"))
        now = self.clock.seconds()
        self.store.add_mo(MoRecord(operator_id, mo.source_addr, destination, mo.short_message, mo.data_coding,
                                   account, now))
        if account is None:
            log.warn("MO from {op} to {destination}: no account owns that number; kept in the store only",
                     op=operator_id, destination=destination)
            return
        log.info("MO from {source} to {destination} for {account} ({text_len} octets)", source=mo.source_addr,
                 destination=destination, account=account, text_len=len(mo.short_message))
        self._owe(account, "mo", None, pdu)
        sender = self.router.subscriber(mo.source_addr) or mo.source_addr
        payload = mo.tlv(Tag.message_payload)
        octets = mo.short_message or (b"" if payload is None else payload.value)
        text = mo_text(mo.data_coding, octets, udh=bool(mo.esm_class & _UDHI))
        for reply in self.rules.mo(Mo(account, sender, destination.lstrip("+"), text, now)):
            self._reply(reply)

    def _reply(self, reply: Reply) -> None:
        """An MT the platform sends by itself (R1's confirmation, R11's answer): from the short
        code, accepted like a client's message but not billed and with no receipt asked."""
        now = self.clock.seconds()
        try:
            route = self.router.route(reply.to, Ton.INTERNATIONAL)
        except RoutingError as error:
            log.warn("{account}: {rule} reply to {to} not sent: {why}", account=reply.account, rule=reply.rule,
                     to=reply.to, why=str(error))
            return
        text, coding = reply_octets(reply.text)
        tlvs: tuple[Tlv, ...] = ()
        if len(text) > SHORT_MESSAGE_MAX:                      # longer than one short_message: §4.4.1
            text, tlvs = b"", (Tlv(Tag.message_payload, text),)
        message = Message(
            id=f"{next(self._numbers):016x}", account=reply.account, source_addr=reply.short_code,
            source_addr_ton=Ton.NETWORK_SPECIFIC, destination_addr=route.msisdn.lstrip("+"),
            dest_addr_ton=Ton.INTERNATIONAL, msisdn=route.msisdn, operator_id=route.operator_id,
            registered_delivery=0, data_coding=coding, esm_class=0, short_message=text, accepted_at=now,
            deadline=now + self.delivery.validity, tlvs=tlvs)
        self.engine.accept(message, send=False)
        self.stats.accepted_message(None, reply.account, route.operator_id, now)
        self.store.after_commit(self.engine.send, message)

    def _owe(self, account: str, kind: str, message_id: str | None, pdu: Pdu) -> None:
        try:
            data = encode(pdu)
        except (ValueError, OverflowError, struct.error) as error:
            # Defence in depth: nothing an operator can send us makes one, but if it did, that
            # deliver_sm alone is dropped, and said so.
            log.error("{account}: {kind} deliver_sm cannot be encoded ({why}); dropped", account=account, kind=kind,
                      why=str(error))
            return
        record = self.store.add_delivery(account, kind, message_id, data, self.clock.seconds())
        self._outbound[account].append(_Owed(record, pdu))
        self._send_owed(account)

    def _send_owed(self, system_id: str) -> None:
        waiting = self._outbound.get(system_id)
        if system_id in self._busy_until:
            return
        while waiting:
            if waiting[0].settled:                  # a late answer settled it while it waited
                waiting.popleft()
                continue
            conn = self._receiver_for(system_id)
            if conn is None:
                return
            self._send(conn, waiting.popleft())

    def _send(self, conn: SmppConnection, owed: _Owed) -> None:
        try:
            # The bytes the store keeps (encoded once, in _owe), with the bind's sequence number.
            pdu = owed.pdu
            owed.sent_at = conn.clock.seconds()
            conn.request_encoded_then(self._delivered, self._not_delivered, pdu.command, pdu.params, pdu.tlvs,
                                      owed.record.pdu[16:], (owed, conn), late=self._late_answer)
        except Unsendable as error:
            # This deliver_sm alone ends; the bind, its window and the other deliveries go on.
            record = owed.record
            log.error("{account}: {kind} {id} cannot be sent ({why}); given up", account=record.account,
                      kind=record.kind, id=record.message_id or record.id, why=str(error))
            owed.settled = True
            self.store.delivery_done(record.id, self.clock.seconds(), failure=str(error))
            return
        if self.trace:
            log.info("{account}: {kind} {id} sent", account=owed.record.account, kind=owed.record.kind,
                      id=owed.record.message_id or owed.record.id)

    def _delivered(self, resp: Pdu, owed: _Owed, conn: SmppConnection) -> None:
        record = owed.record
        self.cards.deliver_answered(conn, owed.sent_at, conn.clock.seconds())
        if owed.settled:                            # a late answer on another bind came first
            self._send_owed(record.account)
            return
        if resp.command_status in _CLIENT_BUSY:
            self._outbound[record.account].appendleft(owed)
            if record.account not in self._busy_until:      # one pause for answers in flight together
                self._busy_until[record.account] = self.clock.callLater(
                    CLIENT_BUSY_PAUSE, self._not_busy, record.account)
            return
        self._settle(owed, resp)
        self._send_owed(record.account)

    def _settle(self, owed: _Owed, resp: Pdu) -> None:
        record = owed.record
        if resp.command_status != CommandStatus.ESME_ROK:
            log.warn("{account} refused a {kind} deliver_sm: {status}; not sent again", account=record.account,
                     kind=record.kind, status=status_name(resp.command_status))
        owed.settled = True
        self.store.delivery_done(record.id, self.clock.seconds())

    def _late_answer(self, resp: Pdu, owed: _Owed, conn: SmppConnection) -> None:
        """The client answered after our timeout: it is alive, and the deliver_sm it answers is
        settled (not sent again) unless the answer says "busy" (then it is already queued)."""
        self._suspect.pop(conn, None)
        if not owed.settled and resp.command_status not in _CLIENT_BUSY:
            self._settle(owed, resp)
        self._send_owed(owed.record.account)

    def _not_busy(self, account: str) -> None:
        del self._busy_until[account]
        self._send_owed(account)

    def _not_delivered(self, failure: Failure, owed: _Owed, conn: SmppConnection) -> None:
        record = owed.record
        if owed.settled:
            return
        if failure.check(ResponseTimeout):
            # A bind that lets a deliver_sm time out gets nothing more until it shows life
            # (its late answer, or any PDU); the deliver_sm goes to another bind of the account.
            self._suspect[conn] = conn.clock.seconds()
            self.cards.deliver_timed_out(conn, conn.clock.seconds())
            log.warn("{account}: no deliver_sm_resp from {peer} for a {kind}; sent to another bind of the "
                     "account if one is up, and nothing more to that bind until it answers",
                     account=record.account, peer=conn.peer, kind=record.kind)
        else:
            log.warn("{account}: {kind} deliver_sm not acknowledged; kept for the next bind", account=record.account,
                     kind=record.kind)
        self._outbound[record.account].appendleft(owed)
        self._send_owed(record.account)
        if self._outbound[record.account] and record.account not in self._retry_at:
            self._retry_at[record.account] = self.clock.callLater(REDELIVER_AFTER, self._retry, record.account)

    def _retry(self, account: str) -> None:
        del self._retry_at[account]
        self._send_owed(account)
        if self._outbound.get(account) and account not in self._retry_at and self.binds.get(account):
            self._retry_at[account] = self.clock.callLater(REDELIVER_AFTER, self._retry, account)

    def _unanswered_own(self, conn: SmppConnection, request: Pdu) -> None:
        """A request the bind's session sent by itself got no response in time (SmppConnection.on_unanswered)."""
        if request.command is Command.enquire_link:
            self.cards.enquire_link_timed_out(conn, conn.clock.seconds())

    def _receiver_for(self, system_id: str) -> SmppConnection | None:
        """Round robin over the account's receiver/transceiver binds that have window room and
        have not let a deliver_sm time out since they last said anything."""
        binds = self.binds.get(system_id, [])
        for _ in range(len(binds)):
            conn = binds.pop(0)
            binds.append(conn)
            if not (can_receive_messages(conn.state) and conn.session.window_available > 0):
                continue
            since = self._suspect.get(conn)
            if since is not None:
                if conn.session.last_received <= since:
                    continue
                del self._suspect[conn]
            return conn
        return None


@dataclass(frozen=True, slots=True)
class _Turned:
    """A submit_sm or submit_multi turned away as a whole (``AggregatorServer._admit``): flow
    control (``reason`` None: answered only, the client tries again), or a refusal kept with
    its reason; ``campaign``: the PDU's campaign id when it was read by then."""

    status: int
    reason: str | None = None
    campaign: str | None = None


def campaign_of(tlvs: tuple[Tlv, ...]) -> str | None:
    """The campaign id TLV's text, "" when there is none, None when it is malformed."""
    for tlv in tlvs:
        if tlv.tag == CAMPAIGN_ID_TAG:
            text = (tlv.value[:-1] if tlv.value.endswith(b"\x00") else tlv.value).decode("latin-1")
            return text if CAMPAIGN_ID.fullmatch(text) else None
    return ""


def mo_text(data_coding: int, octets: bytes, udh: bool = False) -> str:
    """An MO's text, for the rules (R1, R11): never raises. ``udh`` (esm_class 0x40): a user
    data header comes first, and is skipped. By data_coding (SMPP 3.4 §5.2.19, GSM 03.38 §4):
    UCS-2 (8, the general groups' UCS-2 codings, UCS-2 message waiting) as UTF-16 BE (an odd
    octet becomes U+FFFD); the SMSC default alphabet (0, the groups' default-alphabet codings)
    as unpacked GSM 03.38 when it looks like it (octets below 0x20 that are not line breaks:
    "é" is 0x05 there), else as Latin-1, as everything else (IA5 and Latin-1 included)."""
    if udh and octets:
        octets = octets[1 + octets[0]:]
    if _is_ucs2(data_coding):
        return octets.decode("utf-16-be", "replace")
    if _is_default_alphabet(data_coding) and looks_gsm(octets):
        return decode_gsm(octets)
    return octets.decode("latin-1")


def _is_ucs2(data_coding: int) -> bool:
    return (data_coding == _UCS2 or (0x10 <= data_coding <= 0x3F and data_coding & 0x0C == 0x08)
            or 0xE0 <= data_coding <= 0xEF)


def _is_default_alphabet(data_coding: int) -> bool:
    return (data_coding == 0 or (0x10 <= data_coding <= 0x3F and data_coding & 0x0C == 0)
            or 0xC0 <= data_coding <= 0xDF or 0xF0 <= data_coding <= 0xF3)


def reply_octets(text: str) -> tuple[bytes, int]:
    """(short_message, data_coding) of an automatic reply: Latin-1 (3) when it can, else UCS-2."""
    try:
        return text.encode("latin-1"), 0x03
    except UnicodeEncodeError:
        return text.encode("utf-16-be"), _UCS2


@dataclass(slots=True, eq=False)
class _Owed:
    """A deliver_sm owed to a client, from its record in the store to the client's answer.
    `settled` once answered (or given up): a copy still queued or in flight on another bind
    is then dropped, so a client that answers gets one final receipt per message."""

    record: DeliveryRecord
    pdu: Pdu
    settled: bool = False
    sent_at: float = 0.0                        # link clock, when last sent (the report card's late answers)


QUERY_STATES: dict[MessageState, SmppMessageState] = {
    MessageState.ACCEPTED: SmppMessageState.ENROUTE,
    MessageState.SUBMITTED: SmppMessageState.ENROUTE,
    MessageState.DELIVERED: SmppMessageState.DELIVERED,
    MessageState.UNDELIVERABLE: SmppMessageState.UNDELIVERABLE,
    MessageState.REJECTED: SmppMessageState.REJECTED,
    MessageState.EXPIRED: SmppMessageState.EXPIRED,
}


def receipt_date_for_query(done_at: float | None) -> str:
    """final_date of query_sm_resp: an absolute SMPP time in UTC, or empty while not final."""
    return "" if done_at is None else absolute(done_at)
