"""A simulated operator SMSC: a real SMPP server (SMSC role) that aggregators bind to.

It accepts binds with its configured credentials, answers submit_sm with its own
message_id, and, when the submit asked for a receipt (registered_delivery & 0x03, §5.2.17),
sends a deliver_sm receipt after `receipt_delay` seconds of the injected clock, with the
Appendix B text and the receipted_message_id / message_state TLVs. Receipts wait for a
receiver or transceiver bind of the same system_id when none is bound, as an SMSC's store
does. It answers query_sm from what it knows.

The submit_sm_resp is written before the receipt is even scheduled, so the receipt can never
overtake it, whatever the delay (0 included).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from smsc.adapter import SmppConnection
from smsc.events import ConnectionClosed
from smsc.operators.profile import OperatorProfile
from smsc.pdu.codec import Command, MessageState, Pdu
from smsc.pdu.receipt import Receipt, receipt_date
from smsc.pdu.status import CommandStatus
from smsc.states import can_receive_messages

log = Logger(namespace="smsc.operator")

_BIND_REQUESTS = (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)


@dataclass(slots=True)
class _Message:
    message_id: str
    system_id: str
    source_addr: str
    source_addr_ton: int
    destination_addr: str
    dest_addr_ton: int
    text: bytes
    submitted_at: float
    state: MessageState = MessageState.ENROUTE
    done_at: float | None = None


class OperatorSmsc:
    """SessionHandler of one operator's SMSC; shared by all its connections."""

    def __init__(self, profile: OperatorProfile, clock: IReactorTime) -> None:
        self.profile = profile
        self.clock = clock
        self.binds: list[SmppConnection] = []
        self.messages: dict[str, _Message] = {}
        self._counter = 0
        self._undelivered: deque[_Message] = deque()     # receipts waiting for a receiver bind
        self.submitted = 0
        self.receipts_sent = 0

    # --- SessionHandler ---------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        log.debug("{op}: connection from {peer}", op=self.profile.id, peer=conn.peer)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        if conn in self.binds:
            self.binds.remove(conn)
        log.info("{op}: {peer} disconnected ({how})", op=self.profile.id, peer=conn.peer,
                 how="unbound" if event.clean else "dropped")

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        command = pdu.command
        if command in _BIND_REQUESTS:
            self._bind(conn, pdu)
        elif command is Command.submit_sm:
            self._submit(conn, pdu)
        elif command is Command.query_sm:
            self._query(conn, pdu)
        elif command is Command.deliver_sm or command is Command.data_sm:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)
        else:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)

    # --- requests ---------------------------------------------------------------------

    def _bind(self, conn: SmppConnection, pdu: Pdu) -> None:
        profile = self.profile
        if pdu["system_id"] != profile.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif pdu["password"] != profile.password:
            status = CommandStatus.ESME_RINVPASWD
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
        log.info("{op}: {peer} bound as {mode}", op=profile.id, peer=conn.peer, mode=conn.state.value)
        self._flush_undelivered()

    def _submit(self, conn: SmppConnection, pdu: Pdu) -> None:
        self._counter += 1
        message_id = f"{self.profile.message_id_prefix}{self._counter:010d}"
        now = self.clock.seconds()
        message = _Message(message_id, conn.system_id or "", str(pdu["source_addr"]),
                           int(pdu["source_addr_ton"]), str(pdu["destination_addr"]),  # type: ignore[arg-type]
                           int(pdu["dest_addr_ton"]), bytes(pdu["short_message"]), now)  # type: ignore[arg-type]
        self.messages[message_id] = message
        self.submitted += 1
        conn.respond(pdu, message_id=message_id)
        if int(pdu["registered_delivery"]) & 0x03:  # type: ignore[call-overload]
            self.clock.callLater(self.profile.receipt_delay, self._deliver, message)
        else:
            self._deliver(message, send_receipt=False)

    def _query(self, conn: SmppConnection, pdu: Pdu) -> None:
        message = self.messages.get(str(pdu["message_id"]))
        if message is None:
            conn.respond(pdu, CommandStatus.ESME_RQUERYFAIL)
            return
        final = receipt_date(message.done_at) + "000+" if message.done_at is not None else ""
        conn.respond(pdu, message_id=message.message_id, final_date=final,
                     message_state=message.state, error_code=0)

    # --- receipts ---------------------------------------------------------------------

    def _deliver(self, message: _Message, send_receipt: bool = True) -> None:
        message.state = MessageState.DELIVERED
        message.done_at = self.clock.seconds()
        if send_receipt:
            self._undelivered.append(message)
            self._flush_undelivered()

    def _flush_undelivered(self) -> None:
        while self._undelivered:
            message = self._undelivered[0]
            conn = self._receiver_for(message.system_id)
            if conn is None:
                return
            self._undelivered.popleft()
            self._send_receipt(conn, message)

    def _receiver_for(self, system_id: str) -> SmppConnection | None:
        for conn in self.binds:
            if conn.system_id == system_id and can_receive_messages(conn.state) \
                    and conn.session.window_available > 0:
                return conn
        return None

    def _send_receipt(self, conn: SmppConnection, message: _Message) -> None:
        receipt = Receipt(message_id=message.message_id, stat="DELIVRD", err="000",
                          submit_date=receipt_date(message.submitted_at),
                          done_date=receipt_date(message.done_at or message.submitted_at),
                          text=message.text[:20].decode("latin-1"))
        params = receipt.deliver_sm_params(message.destination_addr, message.dest_addr_ton,
                                           message.source_addr, message.source_addr_ton)
        sent = conn.request(Command.deliver_sm, receipt.tlvs(), **params)
        self.receipts_sent += 1
        log.debug("{op}: receipt {id} {stat} sent", op=self.profile.id, id=message.message_id,
                  stat=receipt.stat)

        def failed(reason: object) -> None:
            log.warn("{op}: receipt {id} not acknowledged ({why}); kept for the next bind",
                     op=self.profile.id, id=message.message_id, why=str(reason))
            self._undelivered.append(message)
        sent.addCallbacks(lambda resp: self._flush_undelivered(), failed)
