"""The aggregator's client binds to operator SMSCs (ESME role): one pool per operator.

A pool keeps `binds` transceiver binds up, each through Twisted's `ClientService`
(reconnect with exponential backoff after a refusal or a drop), and sends one shared queue
over whichever bind has window room, at most `send_rate` messages a second. Receipts and
MOs that come back on any bind go to the delivery engine.

Throttling (ESME_RTHROTTLED, ESME_RMSGQFUL) is the operator saying "slower": the message goes
back to the head of the queue (it is not an attempt that failed) and the whole pool pauses:
0.1 s, doubling for each new episode of refusals without a success between them, up to 5 s,
back to 0.1 s after a success (R14). Refusals of requests already in flight when the pause
began belong to the same episode. A submit_sm without a response (timeout, dropped connection) is sent
again; nothing in flight is lost when a connection drops. The endpoints and both clocks are
passed in: `clock` paces sending (simulated time), `link_clock` drives the SMPP sessions'
timers and reconnects (real time over TCP; the same virtual clock in scenario replay).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from aggregator.config import OperatorConfig
from aggregator.delivery import DeliveryEngine, Message
from smsc.adapter import ResponseTimeout, SmppConnection, SmppFactory
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, Pdu, npi_for
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.pdu.smpptime import relative
from smsc.pdu.status import CommandStatus, status_name
from smsc.pdu.views import SubmitSmResp
from smsc.ratelimit import TokenBucket
from smsc.session import SessionConfig, Unsendable
from smsc.states import Role, is_bound

log = Logger(namespace="aggregator.connector")

# Keep only the esm_class bits that describe the payload (UDHI 0x40, reply path 0x80); the
# messaging mode towards the operator is ours to choose (default store-and-forward).
_ESM_PAYLOAD_BITS = 0xC0
THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
PAUSE_FIRST, PAUSE_MAX = 0.1, 5.0


class OperatorConnector:
    """One bind of a pool: SessionHandler of the connections its ClientService makes."""

    def __init__(self, pool: OperatorPool, index: int, endpoint: IStreamClientEndpoint,
                 link_clock: IReactorTime, session_config: SessionConfig) -> None:
        self.pool = pool
        self.name = f"{pool.operator.id}#{index}"
        self.conn: SmppConnection | None = None
        self._stopping = False
        self._service = ClientService(
            endpoint, SmppFactory(link_clock, Role.ESME, self, session_config),
            retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0, jitter=lambda: 0.0),
            clock=link_clock)

    def start(self) -> None:
        self._service.startService()

    async def stop(self) -> None:
        """Send unbind, then close and stop reconnecting. We do not wait for unbind_resp:
        a silent operator (or a virtual clock nobody advances) must not hold up a shutdown."""
        self._stopping = True
        conn = self.conn
        if conn is not None and is_bound(conn.state) and conn.session.window_available > 0:
            conn.unbind().addErrback(lambda failure: None)
        await self._service.stopService()

    @property
    def ready(self) -> bool:
        conn = self.conn
        return conn is not None and is_bound(conn.state) and conn.session.window_available > 0

    # --- SessionHandler ----------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        op = self.pool.operator
        log.info("{name}: connected to {peer}, binding as {system_id}", name=self.name, peer=conn.peer,
                 system_id=op.system_id)
        bind = conn.request(Command.bind_transceiver, system_id=op.system_id, password=op.password,
                            interface_version=0x34)
        bind.addCallbacks(self._bind_answered, lambda failure: None, callbackArgs=(conn,))

    def _bind_answered(self, resp: Pdu, conn: SmppConnection) -> None:
        if resp.command_status != CommandStatus.ESME_ROK or not is_bound(conn.state):
            log.error("{name}: bind refused: {status}", name=self.name, status=status_name(resp.command_status))
            conn.close()
            return
        self.conn = conn
        log.info("{name}: bound", name=self.name)
        self.pool.bound(self)

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        if pdu.command is Command.alert_notification:        # has no response (§4.12)
            log.info("{name}: alert_notification ignored", name=self.name)
            return
        if pdu.command is not Command.deliver_sm and pdu.command is not Command.data_sm:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)
            return
        engine = self.pool.engine
        if is_receipt(pdu):
            receipt = parse_receipt(pdu)
            if receipt is None:
                log.warn("{name}: receipt without a message id ignored", name=self.name)
            else:
                engine.operator_receipt(self.pool.operator.id, receipt)
        else:
            engine.mo_received(self.pool.operator.id, pdu)
        # The operator may forget a receipt or an MO once answered: answer once it is committed.
        engine.store.after_commit(conn.respond, pdu)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if self.conn is not conn:
            return
        self.conn = None
        if self._stopping:
            log.info("{name}: unbound", name=self.name)
        else:
            log.warn("{name}: connection lost ({n} unanswered); reconnecting", name=self.name,
                     n=len(event.unanswered))


class OperatorPool:
    """All binds to one operator, one queue, one send rate (the engine's Outbox)."""

    def __init__(self, operator: OperatorConfig, engine: DeliveryEngine, clock: IReactorTime,
                 link_clock: IReactorTime, dial: Callable[[], IStreamClientEndpoint],
                 session_config: SessionConfig | None = None) -> None:
        self.operator = operator
        self.engine = engine
        self.clock = clock
        config = session_config or SessionConfig(window=operator.window)
        self.connectors = [OperatorConnector(self, i + 1, dial(), link_clock, config)
                           for i in range(operator.binds)]
        self.queue: deque[Message] = deque()
        self._queries: deque[tuple[Message, defer.Deferred[Pdu]]] = deque()
        self._bucket = TokenBucket(operator.send_rate, max(1.0, operator.send_rate / 10),
                                   clock.seconds()) if operator.send_rate else None
        self._next = 0                                      # round robin over connectors
        self._paused_until = 0.0
        self._pause = PAUSE_FIRST
        self._wake: IDelayedCall | None = None
        self.first_bind: defer.Deferred[None] = defer.Deferred()
        self.throttled = 0                                  # throttling answers seen (stats)

    def start(self) -> None:
        for connector in self.connectors:
            connector.start()

    async def stop(self) -> None:
        if self._wake is not None and self._wake.active():
            self._wake.cancel()
        for connector in self.connectors:
            await connector.stop()

    def bound(self, connector: OperatorConnector) -> None:
        if not self.first_bind.called:
            self.first_bind.callback(None)
        self.pump()

    # --- Outbox ------------------------------------------------------------------------

    def enqueue(self, message: Message, front: bool = False) -> None:
        if front:
            self.queue.appendleft(message)
        else:
            self.queue.append(message)
        self.pump()

    def query(self, message: Message) -> defer.Deferred[Pdu]:
        """query_sm about a message this operator accepted; waits for a bind if none is up."""
        answer: defer.Deferred[Pdu] = defer.Deferred()
        self._queries.append((message, answer))
        self.pump()
        return answer

    # --- sending -----------------------------------------------------------------------

    def _connector(self) -> OperatorConnector | None:
        count = len(self.connectors)
        for step in range(count):
            connector = self.connectors[(self._next + step) % count]
            if connector.ready:
                self._next = (self._next + step + 1) % count
                return connector
        return None

    def pump(self) -> None:
        now = self.clock.seconds()
        while self._queries:
            connector = self._connector()
            if connector is None:
                break
            message, answer = self._queries.popleft()
            assert connector.conn is not None
            connector.conn.request(Command.query_sm, message_id=message.operator_message_id or "",
                                   source_addr_ton=message.source_addr_ton, source_addr=message.source_addr
                                   ).chainDeferred(answer)
        if now < self._paused_until:
            self._wake_at(self._paused_until)
            return
        while self.queue:
            connector = self._connector()
            if connector is None:
                return                                      # a response or a bind pumps again
            if self._bucket is not None and not self._bucket.take(now):
                self._wake_at(now + self._bucket.wait_time(now))
                return
            message = self.queue.popleft()
            if self.engine.sending(message):
                self._send(connector, message, now)

    def _wake_at(self, when: float) -> None:
        if self._wake is not None and self._wake.active():
            return
        self._wake = self.clock.callLater(max(0.0, when - self.clock.seconds()), self.pump)

    def _send(self, connector: OperatorConnector, message: Message, now: float) -> None:
        assert connector.conn is not None
        try:
            connector.conn.request_then(
                self._answered, self._unanswered, Command.submit_sm, message.tlvs, (message,),
                source_addr_ton=message.source_addr_ton, source_addr_npi=npi_for(message.source_addr_ton),
                source_addr=message.source_addr, dest_addr_ton=1, dest_addr_npi=1,
                destination_addr=message.msisdn.lstrip("+"), esm_class=message.esm_class & _ESM_PAYLOAD_BITS,
                validity_period=relative(message.deadline - now), registered_delivery=1,
                data_coding=message.data_coding, short_message=message.short_message)
        except Unsendable as error:
            # Defence in depth (the server checks what it accepts): this message alone ends,
            # no window slot was taken, and the link goes on for every other message.
            self.engine.unsendable(message, str(error))
            return
        self.engine.stats.sent(self.operator.id, now)

    def _answered(self, resp: Pdu, message: Message) -> None:
        status = resp.command_status
        if status == CommandStatus.ESME_ROK and resp.command is Command.submit_sm_resp:
            self._pause = PAUSE_FIRST
            self.engine.submitted(message, SubmitSmResp.from_pdu(resp).message_id)
        elif status in THROTTLE_STATUSES:
            self.throttled += 1
            now = self.clock.seconds()
            if now >= self._paused_until:       # a new refusal episode (not the rest of a window)
                self._paused_until = now + self._pause
                log.debug("{op}: {status}, pausing {pause} s", op=self.operator.id,
                          status=status_name(status), pause=self._pause)
                self._pause = min(PAUSE_MAX, self._pause * 2)
            if self.engine.throttled(message):              # not a failed attempt: try again
                self.queue.appendleft(message)
        else:
            self.engine.refused(message, status or CommandStatus.ESME_RSYSERR)
        self.pump()

    def _unanswered(self, failure: Failure, message: Message) -> None:
        why = "no response" if failure.check(ResponseTimeout) else "connection lost"
        self.engine.unanswered(message, why)
        self.pump()
