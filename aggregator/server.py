"""The aggregator's SMPP server for its clients (SMSC role): binds, submits, receipts back.

Bind is a ladder of checks, each ending in one status (as Jasmin's doBindRequest):
unknown system_id -> ESME_RINVSYSID, wrong password -> ESME_RINVPASWD, too many binds ->
ESME_RBINDFAIL. A refused bind leaves the session OPEN, so the client may try again on the
same connection.

submit_sm: the destination is normalised to E.164 and routed; a destination no operator
serves gets ESME_RINVDSTADR. An accepted message is answered with the aggregator's own
message_id *before* it is handed to the delivery engine, so the submit_sm_resp is on the
wire before any receipt that could refer to it (Kannel drops a receipt that overtakes it).

Receipts go to a receiver or transceiver bind of the message's account (round robin); when
none is bound they wait in memory and leave on the next such bind.
"""

from __future__ import annotations

from collections import defaultdict, deque
from itertools import count
from typing import Iterable

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from aggregator.config import AccountConfig
from aggregator.delivery import DeliveryEngine, Message
from aggregator.routing import Router, RoutingError
from smsc.adapter import SmppConnection
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, Pdu
from smsc.pdu.receipt import Receipt
from smsc.pdu.status import CommandStatus
from smsc.states import can_receive_messages

log = Logger(namespace="aggregator.server")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
SERVER_SYSTEM_ID = "smscharness"


class AggregatorServer:
    """SessionHandler for client connections, shared by all of them."""

    def __init__(self, accounts: Iterable[AccountConfig], router: Router, engine: DeliveryEngine,
                 clock: IReactorTime, first_message_number: int = 1) -> None:
        self.accounts = {account.system_id: account for account in accounts}
        self.router = router
        self.engine = engine
        self.clock = clock
        self.binds: dict[str, list[SmppConnection]] = defaultdict(list)
        self._waiting_receipts: dict[str, deque[tuple[Message, Receipt]]] = defaultdict(deque)
        self._numbers = count(first_message_number)
        engine.receipts = self

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        log.info("client connected from {peer}", peer=conn.peer)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
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
        else:
            # submit_multi, data_sm, query_sm, cancel_sm, replace_sm: not in issue 3's scope.
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- bind -------------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        system_id = str(pdu["system_id"])
        account = self.accounts.get(system_id)
        if account is None:
            status = CommandStatus.ESME_RINVSYSID
        elif pdu["password"] != account.password:
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
        self._flush_receipts(system_id)

    # --- submit_sm --------------------------------------------------------------------

    def _submit_sm(self, conn: SmppConnection, pdu: Pdu) -> None:
        account = conn.system_id or ""
        destination = str(pdu["destination_addr"])
        dest_ton = int(pdu["dest_addr_ton"])  # type: ignore[call-overload]
        try:
            route = self.router.route(destination, dest_ton)
        except RoutingError as error:
            log.info("{account}: submit to {destination} refused: {why}", account=account,
                     destination=destination, why=str(error))
            conn.respond(pdu, CommandStatus.ESME_RINVDSTADR)
            return
        message = Message(
            id=f"{next(self._numbers):016x}", account=account, source_addr=str(pdu["source_addr"]),
            source_addr_ton=int(pdu["source_addr_ton"]), destination_addr=destination,  # type: ignore[call-overload]
            dest_addr_ton=dest_ton, msisdn=route.msisdn, operator_id=route.operator_id,
            registered_delivery=int(pdu["registered_delivery"]),  # type: ignore[call-overload]
            data_coding=int(pdu["data_coding"]), esm_class=int(pdu["esm_class"]),  # type: ignore[call-overload]
            short_message=bytes(pdu["short_message"]), accepted_at=self.clock.seconds(),  # type: ignore[arg-type]
            tlvs=pdu.tlvs)
        conn.respond(pdu, message_id=message.id)
        log.info("{account}: {id} to {msisdn} routed to {op} ({reason})", account=account, id=message.id,
                 msisdn=route.msisdn, op=route.operator_id, reason=route.reason)
        self.engine.accept(message)

    # --- receipts (ReceiptSink) -------------------------------------------------------

    def deliver_receipt(self, message: Message, receipt: Receipt) -> None:
        self._waiting_receipts[message.account].append((message, receipt))
        self._flush_receipts(message.account)

    def _flush_receipts(self, system_id: str) -> None:
        waiting = self._waiting_receipts.get(system_id)
        while waiting:
            conn = self._receiver_for(system_id)
            if conn is None:
                return
            message, receipt = waiting.popleft()
            params = receipt.deliver_sm_params(message.destination_addr, message.dest_addr_ton,
                                               message.source_addr, message.source_addr_ton)
            sent = conn.request(Command.deliver_sm, receipt.tlvs(), **params)
            log.info("{account}: receipt {id} {stat} sent", account=system_id, id=message.id, stat=receipt.stat)
            sent.addCallbacks(self._receipt_answered, self._receipt_lost,
                              callbackArgs=(system_id,), errbackArgs=(system_id, message, receipt))

    def _receipt_answered(self, resp: Pdu, system_id: str) -> None:
        self._flush_receipts(system_id)

    def _receipt_lost(self, failure: object, system_id: str, message: Message, receipt: Receipt) -> None:
        log.warn("{account}: receipt {id} not acknowledged, kept for the next bind", account=system_id,
                 id=message.id)
        self._waiting_receipts[system_id].appendleft((message, receipt))

    def _receiver_for(self, system_id: str) -> SmppConnection | None:
        """Round robin over the account's receiver/transceiver binds that have window room."""
        binds = self.binds.get(system_id, [])
        for _ in range(len(binds)):
            conn = binds.pop(0)
            binds.append(conn)
            if can_receive_messages(conn.state) and conn.session.window_available > 0:
                return conn
        return None
