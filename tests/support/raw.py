"""A raw TCP peer for integration tests: writes any bytes (malformed ones included) and reads
back whole PDUs, without any session logic of its own."""

from __future__ import annotations

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure

from smsc.pdu.codec import DecodeFailed, Pdu, decode, encode
from smsc.pdu.framing import Framer

TIMEOUT = 10.0


class RawPeer(protocol.Protocol):
    def __init__(self, reactor: IReactorTCP) -> None:
        self.reactor = reactor
        self.framer = Framer()
        self.received: defer.DeferredQueue[Pdu | DecodeFailed] = defer.DeferredQueue()
        self.closed: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            assert isinstance(frame, bytes)
            self.received.put(decode(frame))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.closed.callback(None)

    def send(self, data: bytes | Pdu) -> None:
        self.transport.write(encode(data) if isinstance(data, Pdu) else data)

    def next_pdu(self) -> defer.Deferred[Pdu | DecodeFailed]:
        return self.received.get().addTimeout(TIMEOUT, self.reactor)  # type: ignore[arg-type]

    def close(self) -> None:
        self.transport.loseConnection()


async def connect_raw(reactor: IReactorTCP, port: int) -> RawPeer:
    peer = RawPeer(reactor)
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5), peer)
    return peer
