"""A small ESME (SMPP client) on the same session code: for tests, the benchmark and scripts.

It binds, submits, and collects what the SMSC delivers (receipts and MO messages), answering
each deliver_sm with deliver_sm_resp at once. It makes no policy decisions.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTCP, IReactorTime

from smsc.adapter import SmppConnection
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, Pdu, Tlv, Value, npi_for
from smsc.session import Session, SessionConfig
from smsc.states import Role

BIND_COMMANDS = {
    "transmitter": Command.bind_transmitter,
    "receiver": Command.bind_receiver,
    "transceiver": Command.bind_transceiver,
}


class Esme:
    """SessionHandler of one client connection."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.conn: SmppConnection | None = None
        self.delivered: defer.DeferredQueue[Pdu] = defer.DeferredQueue()
        self.closed: defer.Deferred[ConnectionClosed] = defer.Deferred()

    def connection_made(self, conn: SmppConnection) -> None:
        self.conn = conn

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu)
        self.delivered.put(pdu)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.closed.callback(event)

    # --- conveniences ------------------------------------------------------------------

    def bind(self, system_id: str, password: str, mode: str = "transceiver",
             **params: Value) -> defer.Deferred[Pdu]:
        assert self.conn is not None
        return self.conn.request(BIND_COMMANDS[mode], (), system_id=system_id, password=password,
                                 interface_version=0x34, **params)

    def submit(self, destination_addr: str, text: bytes = b"hello", source_addr: str = "SMSC",
               registered_delivery: int = 1, dest_addr_ton: int = 1, source_addr_ton: int = 5,
               tlvs: tuple[Tlv, ...] = (), **params: Value) -> defer.Deferred[Pdu]:
        assert self.conn is not None
        return self.conn.request(
            Command.submit_sm, tlvs, source_addr_ton=source_addr_ton, source_addr=source_addr,
            dest_addr_ton=dest_addr_ton, dest_addr_npi=npi_for(dest_addr_ton),
            destination_addr=destination_addr, registered_delivery=registered_delivery,
            short_message=text, **params)


async def connect_esme(reactor: IReactorTCP, host: str, port: int,
                       config: SessionConfig = SessionConfig()) -> Esme:
    """Open a TCP connection to an SMSC and return its Esme (not yet bound)."""
    clock = IReactorTime(reactor)                  # the reactor provides both; zope checks it
    esme = Esme(clock)
    conn = SmppConnection(Session(Role.ESME, config, clock.seconds()), clock, esme)
    await connectProtocol(TCP4ClientEndpoint(reactor, host, port, timeout=5), conn)
    return esme
