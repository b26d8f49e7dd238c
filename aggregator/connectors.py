"""The aggregator's client binds to operator SMSCs (ESME role), one connector per operator.

A connector keeps one transceiver bind up through Twisted's `ClientService` (reconnect with
exponential backoff after a refusal or a drop), sends its queue of MTs while the session's
window has room, and hands receipts back to the delivery engine. Messages whose submit_sm got
no response before a drop or a timeout go back to the queue: nothing is lost. The endpoint
and the clock are passed in, so the same code dials TCP or an in-memory link.
"""

from __future__ import annotations

from collections import deque

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from aggregator.config import OperatorConfig
from aggregator.delivery import DeliveryEngine, Message
from smsc.adapter import ConnectionGone, ResponseTimeout, SmppConnection, SmppFactory
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, Pdu
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.pdu.status import CommandStatus, status_name
from smsc.session import SessionConfig
from smsc.states import Role, is_bound

log = Logger(namespace="aggregator.connector")

# Keep only the esm_class bits that describe the payload (UDHI 0x40, reply path 0x80); the
# messaging mode towards the operator is ours to choose (default store-and-forward).
_ESM_PAYLOAD_BITS = 0xC0


class OperatorConnector:
    def __init__(self, operator: OperatorConfig, clock: IReactorTime, endpoint: IStreamClientEndpoint,
                 engine: DeliveryEngine, session_config: SessionConfig | None = None) -> None:
        self.operator = operator
        self.clock = clock
        self.engine = engine
        self.queue: deque[Message] = deque()
        self.conn: SmppConnection | None = None
        config = session_config or SessionConfig(window=operator.window)
        self._service = ClientService(
            endpoint, SmppFactory(clock, Role.ESME, self, config),
            retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0, jitter=lambda: 0.0),
            clock=clock)
        self.bound: defer.Deferred[None] = defer.Deferred()   # fires the first time the bind succeeds
        self._stopping = False

    def start(self) -> None:
        self._service.startService()

    async def stop(self) -> None:
        """Unbind politely (bounded wait), then stop reconnecting."""
        self._stopping = True
        conn = self.conn
        if conn is not None and is_bound(conn.state):
            try:
                await conn.unbind().addTimeout(2.0, self.clock)
            except (ResponseTimeout, ConnectionGone, defer.TimeoutError):
                pass                                   # the connection is going away anyway
        await self._service.stopService()

    # --- Outbox ------------------------------------------------------------------------

    def enqueue(self, message: Message) -> None:
        self.queue.append(message)
        self._pump()

    def _pump(self) -> None:
        conn = self.conn
        while conn is not None and self.queue and conn.session.window_available > 0:
            self._send(conn, self.queue.popleft())

    def _send(self, conn: SmppConnection, message: Message) -> None:
        message.attempts += 1
        sent = conn.request(
            Command.submit_sm, message.tlvs,
            source_addr_ton=message.source_addr_ton, source_addr_npi=1 if message.source_addr_ton == 1 else 0,
            source_addr=message.source_addr, dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=message.msisdn.lstrip("+"), esm_class=message.esm_class & _ESM_PAYLOAD_BITS,
            registered_delivery=1, data_coding=message.data_coding, short_message=message.short_message)
        sent.addCallbacks(self._answered, self._unanswered, callbackArgs=(message,), errbackArgs=(message,))

    def _answered(self, resp: Pdu, message: Message) -> None:
        if resp.command_status == CommandStatus.ESME_ROK and resp.command is Command.submit_sm_resp:
            self.engine.submitted(message, str(resp["message_id"]))
        else:
            self.engine.refused(message, resp.command_status or CommandStatus.ESME_RSYSERR, self.enqueue)
        self._pump()

    def _unanswered(self, failure: Failure, message: Message) -> None:
        self.engine.refused(message, -1, self.enqueue)
        self._pump()

    # --- SessionHandler ----------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        op = self.operator
        log.info("{op}: connected to {peer}, binding as {system_id}", op=op.id, peer=conn.peer,
                 system_id=op.system_id)
        bind = conn.request(Command.bind_transceiver, system_id=op.system_id, password=op.password,
                            interface_version=0x34)
        bind.addCallbacks(self._bind_answered, lambda failure: None, callbackArgs=(conn,))

    def _bind_answered(self, resp: Pdu, conn: SmppConnection) -> None:
        if resp.command_status != CommandStatus.ESME_ROK or not is_bound(conn.state):
            log.error("{op}: bind refused: {status}", op=self.operator.id, status=status_name(resp.command_status))
            conn.close()
            return
        self.conn = conn
        log.info("{op}: bound ({n} queued)", op=self.operator.id, n=len(self.queue))
        if not self.bound.called:
            self.bound.callback(None)
        self._pump()

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        if pdu.command is not Command.deliver_sm and pdu.command is not Command.data_sm:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)
            return
        conn.respond(pdu)
        if is_receipt(pdu):
            receipt = parse_receipt(pdu)
            if receipt is None:
                log.warn("{op}: receipt without a message id ignored", op=self.operator.id)
                return
            self.engine.operator_receipt(self.operator.id, receipt)
        else:
            log.info("{op}: MO from {source} ignored (MO routing comes with issue 4)",
                     op=self.operator.id, source=pdu.get("source_addr"))

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if self.conn is conn:
            self.conn = None
            if self._stopping:
                log.info("{op}: unbound", op=self.operator.id)
                return
            log.warn("{op}: connection lost ({n} unanswered, {q} queued); reconnecting",
                     op=self.operator.id, n=len(event.unanswered), q=len(self.queue))
