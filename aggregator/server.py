"""The aggregator's SMPP server for its clients (SMSC role): binds, submits, receipts back.

Bind is a ladder of checks, each ending in one status (as Jasmin's doBindRequest):
unknown system_id -> ESME_RINVSYSID, wrong password -> ESME_RINVPASWD, too many binds ->
ESME_RBINDFAIL. A refused bind leaves the session OPEN, so the client may try again on the
same connection.

submit_sm: the destination is normalised to E.164 and routed; a destination no operator
serves gets ESME_RINVDSTADR. An accepted message is answered with the aggregator's own
message_id *before* it is handed to the delivery engine, so the submit_sm_resp is on the
wire before any receipt that could refer to it (Kannel drops a receipt that overtakes it).

Per-account limits: `rate`/`burst` (token bucket, ESME_RTHROTTLED beyond, R14),
`max_pending` messages not yet accepted by an operator (ESME_RMSGQFUL beyond) and `credit` in
SMS segments (aggregator.credit, R10: checked last, ESME_RSUBMITFAIL when the message costs more
than what is left; billed at acceptance). The client's validity_period (relative or absolute)
shortens the default validity (R9); a malformed one gets ESME_RINVEXPIRY. schedule_delivery_time
is accepted and not acted on yet.

Deliveries to clients (receipts, and MOs to the short codes an account owns) are written to
the store before they are sent, go to a receiver or transceiver bind of the account (round
robin), wait for the next such bind when none is up, and are marked done only when the client
answers deliver_sm_resp: a restart resends what was not acknowledged (at-least-once).
"""

from __future__ import annotations

from collections import defaultdict, deque
from itertools import count
from typing import Iterable

from twisted.internet.interfaces import IDelayedCall

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from aggregator.config import AccountConfig, DeliveryConfig
from aggregator.credit import CreditBook, segments
from aggregator.delivery import DeliveryEngine, Message
from aggregator.routing import Router, RoutingError
from aggregator.store import DeliveryRecord, MessageState, MoRecord, Store
from smsc import trace
from smsc.adapter import SmppConnection
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, MessageState as SmppMessageState, Pdu, Tag, decode, encode, make
from smsc.pdu.receipt import Receipt
from smsc.pdu.smpptime import absolute, seconds_until
from smsc.pdu.status import CommandStatus, status_name
from smsc.ratelimit import TokenBucket
from smsc.states import can_receive_messages

log = Logger(namespace="aggregator.server")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
SERVER_SYSTEM_ID = "smscharness"
# A client answering deliver_sm with one of these is busy, not refusing: try again later.
_CLIENT_BUSY = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RX_T_APPN})
CLIENT_BUSY_PAUSE = 1.0


class AggregatorServer:
    """SessionHandler for client connections, shared by all of them."""

    def __init__(self, accounts: Iterable[AccountConfig], router: Router, engine: DeliveryEngine,
                 store: Store, clock: IReactorTime, delivery: DeliveryConfig) -> None:
        self.accounts = {account.system_id: account for account in accounts}
        self.short_codes = {code: account.system_id for account in self.accounts.values()
                            for code in account.short_codes}
        self.router = router
        self.engine = engine
        self.store = store
        self.clock = clock
        self.delivery = delivery
        self.binds: dict[str, list[SmppConnection]] = defaultdict(list)
        self.connections: list[SmppConnection] = []          # every client connection, bound or not
        self._buckets = {a.system_id: TokenBucket(a.rate, a.burst, clock.seconds())
                         for a in self.accounts.values() if a.rate}
        # deliver_sm owed to each account, with the PDU already built (the record keeps its
        # bytes for the store; after a restart the PDU is read back from them)
        self._outbound: dict[str, deque[tuple[DeliveryRecord, Pdu]]] = defaultdict(deque)
        self._busy_until: dict[str, IDelayedCall] = {}
        self._numbers = count(store.next_message_number())
        self.credit = CreditBook(self.accounts.values(), store)  # R10: limited accounts only
        engine.clients = self

    def resume(self) -> int:
        """Queue the deliveries a previous run left unacknowledged. Returns how many."""
        pending = self.store.pending_deliveries()
        for record in pending:
            pdu = decode(record.pdu)
            assert isinstance(pdu, Pdu)                 # our own bytes
            self._outbound[record.account].append((record, pdu))
        return len(pending)

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        self.connections.append(conn)
        log.info("client connected from {peer}", peer=conn.peer)

    def close_all(self) -> None:
        """Shutdown: close every client connection (what they were owed stays in the store)."""
        for conn in list(self.connections):
            conn.close()

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        if conn.system_id is not None and conn in self.binds[conn.system_id]:
            self.binds[conn.system_id].remove(conn)
        log.info("client {system_id} at {peer} disconnected ({how})", system_id=conn.system_id or "-",
                 peer=conn.peer, how="unbound" if event.clean else "dropped")

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        command = pdu.command
        if command is Command.submit_sm:
            self._submit_sm(conn, pdu)
        elif command in _BIND_REQUESTS:
            self._bind(conn, pdu)
        elif command is Command.query_sm:
            self._query_sm(conn, pdu)
        else:
            # submit_multi, data_sm, cancel_sm, replace_sm: not served yet.
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- bind -------------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        system_id = str(pdu["system_id"])
        account = self.accounts.get(system_id)
        if account is None:
            status = CommandStatus.ESME_RINVSYSID
        elif not account.password.matches(str(pdu["password"])):
            status = CommandStatus.ESME_RINVPASWD
        elif len(self.binds[system_id]) >= account.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status:
            log.info("bind refused for {system_id} from {peer}: {status}", system_id=system_id,
                     peer=conn.peer, status=status.name)
            conn.respond(pdu, status)
            return
        conn.system_id = system_id
        conn.respond(pdu, system_id=SERVER_SYSTEM_ID)
        self.binds[system_id].append(conn)
        log.info("{system_id} bound as {mode} from {peer}", system_id=system_id, mode=conn.state.value,
                 peer=conn.peer)
        self._flush(system_id)

    # --- submit_sm --------------------------------------------------------------------

    def _submit_sm(self, conn: SmppConnection, pdu: Pdu) -> None:
        account = conn.system_id or ""
        now = self.clock.seconds()
        bucket = self._buckets.get(account)
        if bucket is not None and not bucket.take(now):
            conn.respond(pdu, CommandStatus.ESME_RTHROTTLED)
            return
        config = self.accounts[account]
        if self.engine.waiting_count(account) >= config.max_pending:
            conn.respond(pdu, CommandStatus.ESME_RMSGQFUL)
            return
        validity = self.delivery.validity
        try:
            asked = seconds_until(str(pdu["validity_period"]), now)
        except ValueError:
            conn.respond(pdu, CommandStatus.ESME_RINVEXPIRY)
            return
        if asked is not None:
            if asked <= 0:
                conn.respond(pdu, CommandStatus.ESME_RINVEXPIRY)
                return
            validity = min(validity, asked)
        destination = str(pdu["destination_addr"])
        dest_ton = int(pdu["dest_addr_ton"])  # type: ignore[call-overload]
        try:
            route = self.router.route(destination, dest_ton)
        except RoutingError as error:
            log.info("{account}: submit to {destination} refused: {why}", account=account,
                     destination=destination, why=str(error))
            conn.respond(pdu, CommandStatus.ESME_RINVDSTADR)
            return
        # R10: every accepted message is billed its segments (a ledger line), a refusal is not;
        # an account with a credit is refused what it cannot pay.
        payload = pdu.tlv(Tag.message_payload)
        cost = segments(int(pdu["data_coding"]), bytes(pdu["short_message"]),  # type: ignore[call-overload, arg-type]
                        0 if payload is None else len(payload.value))
        if config.credit is not None and not self.credit.take(account, cost):
            conn.respond(pdu, CommandStatus.ESME_RSUBMITFAIL)
            return
        message = Message(
            id=f"{next(self._numbers):016x}", account=account, source_addr=str(pdu["source_addr"]),
            source_addr_ton=int(pdu["source_addr_ton"]), destination_addr=destination,  # type: ignore[call-overload]
            dest_addr_ton=dest_ton, msisdn=route.msisdn, operator_id=route.operator_id,
            registered_delivery=int(pdu["registered_delivery"]),  # type: ignore[call-overload]
            data_coding=int(pdu["data_coding"]), esm_class=int(pdu["esm_class"]),  # type: ignore[call-overload]
            short_message=bytes(pdu["short_message"]), accepted_at=now,  # type: ignore[arg-type]
            deadline=now + validity, tlvs=pdu.tlvs)
        conn.respond(pdu, message_id=message.id)
        if trace.ON:
            log.debug("{account}: {id} to {msisdn} routed to {op} ({reason})", account=account,
                      id=message.id, msisdn=route.msisdn, op=route.operator_id, reason=route.reason)
        self.engine.accept(message)
        self.store.bill(account, message.id, cost, now)

    def _query_sm(self, conn: SmppConnection, pdu: Pdu) -> None:
        """Answer from the store, for the client's own messages only (§4.8)."""
        record = self.store.message(str(pdu["message_id"]))
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
        pdu = make(Command.deliver_sm, 0, tlvs=receipt.tlvs(), **params)
        self._owe(message.account, "receipt", message.id, pdu)

    def deliver_mo(self, operator_id: str, pdu: Pdu) -> None:
        destination = str(pdu["destination_addr"])
        account = self.short_codes.get(destination.lstrip("+"))
        now = self.clock.seconds()
        self.store.add_mo(MoRecord(operator_id, str(pdu["source_addr"]), destination,
                                   bytes(pdu["short_message"]), int(pdu["data_coding"]),  # type: ignore[arg-type, call-overload]
                                   account, now))
        if account is None:
            log.warn("MO from {op} to {destination}: no account owns that number; kept in the store only",
                     op=operator_id, destination=destination)
            return
        log.info("MO from {source} to {destination} for {account} ({text_len} octets)", source=pdu["source_addr"],
                 destination=destination, account=account, text_len=len(bytes(pdu["short_message"])))  # type: ignore[arg-type]
        self._owe(account, "mo", None, pdu)

    def _owe(self, account: str, kind: str, message_id: str | None, pdu: Pdu) -> None:
        record = self.store.add_delivery(account, kind, message_id, encode(pdu), self.clock.seconds())
        self._outbound[account].append((record, pdu))
        self._flush(account)

    def _flush(self, system_id: str) -> None:
        waiting = self._outbound.get(system_id)
        if system_id in self._busy_until:
            return
        while waiting:
            conn = self._receiver_for(system_id)
            if conn is None:
                return
            owed = waiting.popleft()
            record, pdu = owed
            conn.request_then(self._delivered, self._not_delivered, pdu.command, pdu.tlvs, (owed,), **pdu.params)
            if trace.ON:
                log.debug("{account}: {kind} {id} sent", account=system_id, kind=record.kind,
                          id=record.message_id or record.id)

    def _delivered(self, resp: Pdu, owed: tuple[DeliveryRecord, Pdu]) -> None:
        record = owed[0]
        if resp.command_status in _CLIENT_BUSY:
            self._outbound[record.account].appendleft(owed)
            self._busy_until[record.account] = self.clock.callLater(
                CLIENT_BUSY_PAUSE, self._not_busy, record.account)
            return
        if resp.command_status != CommandStatus.ESME_ROK:
            log.warn("{account} refused a {kind} deliver_sm: {status}; not sent again", account=record.account,
                     kind=record.kind, status=status_name(resp.command_status))
        self.store.delivery_done(record.id, self.clock.seconds())
        self._flush(record.account)

    def _not_busy(self, account: str) -> None:
        del self._busy_until[account]
        self._flush(account)

    def _not_delivered(self, failure: object, owed: tuple[DeliveryRecord, Pdu]) -> None:
        record = owed[0]
        log.warn("{account}: {kind} deliver_sm not acknowledged; kept for the next bind", account=record.account,
                 kind=record.kind)
        self._outbound[record.account].appendleft(owed)

    def _receiver_for(self, system_id: str) -> SmppConnection | None:
        """Round robin over the account's receiver/transceiver binds that have window room."""
        binds = self.binds.get(system_id, [])
        for _ in range(len(binds)):
            conn = binds.pop(0)
            binds.append(conn)
            if can_receive_messages(conn.state) and conn.session.window_available > 0:
                return conn
        return None


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
