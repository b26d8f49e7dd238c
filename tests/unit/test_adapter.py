"""The Twisted adapter with Twisted's fakes: bytes, Deferreds and the one timer."""

from __future__ import annotations

import struct

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smsc.adapter import ConnectionGone, ResponseTimeout, SmppConnection
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, Pdu, decode, encode, make, response_to
from smsc.session import LATE_MEMORY, Session, SessionConfig
from smsc.states import Role


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Pdu] = []
        self.closed: list[ConnectionClosed] = []
        self.made = 0

    def connection_made(self, conn: SmppConnection) -> None:
        self.made += 1

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.requests.append(pdu)
        conn.respond(pdu)

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.closed.append(event)


def written(transport: StringTransport) -> list[Pdu]:
    data, out = transport.value(), []
    transport.clear()
    while data:
        length = struct.unpack("!I", data[:4])[0]
        pdu = decode(data[:length])
        assert isinstance(pdu, Pdu)
        out.append(pdu)
        data = data[length:]
    return out


def connected(role: Role = Role.ESME, **config: object) -> tuple[SmppConnection, StringTransport, Clock, Recorder]:
    clock, transport, handler = Clock(), StringTransport(), Recorder()
    conn = SmppConnection(Session(role, SessionConfig(**config), clock.seconds()), clock, handler)  # type: ignore[arg-type]
    conn.makeConnection(transport)
    return conn, transport, clock, handler


def test_request_fires_with_its_response() -> None:
    conn, transport, clock, _ = connected(enquire_link_interval=None)
    answers: list[Pdu] = []
    conn.request(Command.bind_transceiver, system_id="a", password="b").addCallback(answers.append)
    (bind,) = written(transport)
    conn.dataReceived(encode(response_to(bind, system_id="smsc")))
    assert [a.command for a in answers] == [Command.bind_transceiver_resp]


def test_unanswered_request_times_out_on_the_clock() -> None:
    conn, transport, clock, _ = connected(response_timeout=10.0, enquire_link_interval=None,
                                          inactivity_timeout=None)
    failures: list[object] = []
    conn.request(Command.enquire_link).addErrback(failures.append)
    clock.advance(9.9)
    assert failures == []
    clock.advance(0.2)
    assert len(failures) == 1 and failures[0].check(ResponseTimeout)  # type: ignore[attr-defined]
    assert clock.getDelayedCalls() == []                                # nothing left armed


def test_one_timer_whatever_the_traffic() -> None:
    conn, transport, clock, _ = connected(Role.SMSC, enquire_link_interval=30.0, inactivity_timeout=300.0)
    for seq in range(1, 50):
        conn.dataReceived(encode(make(Command.enquire_link, seq)))
    assert len(clock.getDelayedCalls()) == 1


def test_requests_are_handed_to_the_handler_and_answered() -> None:
    conn, transport, clock, handler = connected(Role.SMSC)
    conn.dataReceived(encode(make(Command.bind_transmitter, 1, system_id="x")))
    assert [p.command for p in handler.requests] == [Command.bind_transmitter]
    (resp,) = written(transport)
    assert resp.command is Command.bind_transmitter_resp


def test_connection_loss_fails_waiting_requests_and_tells_the_handler() -> None:
    conn, transport, clock, handler = connected()
    failures: list[object] = []
    conn.request(Command.bind_transceiver, system_id="a").addErrback(failures.append)
    conn.connectionLost()
    assert failures[0].check(ConnectionGone)  # type: ignore[attr-defined]
    assert handler.closed and not handler.closed[0].clean
    assert clock.getDelayedCalls() == []


def test_request_then_calls_back_with_its_arguments() -> None:
    conn, transport, clock, _ = connected(response_timeout=10.0, enquire_link_interval=None,
                                          inactivity_timeout=None)
    seen: list[tuple[object, ...]] = []
    conn.request_then(lambda resp, *args: seen.append((resp.command, *args)),
                      lambda failure, *args: seen.append(("failed", failure.type, *args)),
                      Command.bind_transceiver, (), ("a", 1), system_id="a", password="b")
    (bind,) = written(transport)
    conn.dataReceived(encode(response_to(bind, system_id="smsc")))
    assert seen == [(Command.bind_transceiver_resp, "a", 1)]
    conn.request_then(seen.append, lambda failure, *args: seen.append(("failed", failure.type, *args)),
                      Command.enquire_link, (), ("b",))
    clock.advance(10.1)
    assert seen[-1] == ("failed", ResponseTimeout, "b")
    conn.request_then(seen.append, lambda failure, *args: seen.append(("failed", failure.type, *args)),
                      Command.enquire_link, (), ("c",))
    conn.connectionLost()
    assert seen[-1] == ("failed", ConnectionGone, "c")


def test_a_late_response_reaches_the_late_callback_while_the_session_remembers_its_request() -> None:
    """The session's memory of timed-out requests is the only one: the adapter hands it the
    `late` callback, and a response later than LATE_MEMORY other timeouts reaches nobody."""
    conn, transport, clock, _ = connected(response_timeout=10.0, enquire_link_interval=None,
                                          inactivity_timeout=None, window=LATE_MEMORY + 1)
    seen: list[tuple[object, ...]] = []

    def ask(tag: str) -> Pdu:
        conn.request_then(lambda resp, *args: seen.append(("answered", *args)),
                          lambda failure, *args: seen.append(("failed", *args)), Command.enquire_link, (), (tag,),
                          late=lambda resp, *args: seen.append(("late", resp.command, *args)))
        (request,) = written(transport)
        return request

    first, second = ask("first"), ask("second")
    clock.advance(10.1)
    assert seen == [("failed", "first"), ("failed", "second")]
    conn.dataReceived(encode(response_to(second)))
    assert seen[-1] == ("late", Command.enquire_link_resp, "second")
    for n in range(LATE_MEMORY):                           # the session forgets "first"
        ask(str(n))
    clock.advance(10.1)
    del seen[:]
    conn.dataReceived(encode(response_to(first)))
    assert seen == []


def test_a_failing_response_handler_is_logged_and_the_connection_goes_on() -> None:
    conn, transport, clock, handler = connected(enquire_link_interval=None)

    def broken(resp: Pdu) -> None:
        raise RuntimeError("bug in a handler")

    conn.request_then(broken, lambda failure: None, Command.bind_transceiver, system_id="a")
    (bind,) = written(transport)
    conn.dataReceived(encode(response_to(bind, system_id="smsc")))   # logged, not raised
    conn.dataReceived(encode(make(Command.enquire_link, 7)))
    (resp,) = written(transport)
    assert resp.command is Command.enquire_link_resp and not transport.disconnecting


@pytest.mark.parametrize("length", [8, 1 << 20])
def test_unframable_stream_closes_the_transport(length: int) -> None:
    conn, transport, clock, _ = connected(Role.SMSC)
    conn.dataReceived(struct.pack("!IIII", length, Command.enquire_link, 0, 1))
    assert transport.disconnecting


class AbortableTransport(StringTransport):
    """A StringTransport that records an abort (a peer that never reads: loseConnection never
    completes by itself)."""

    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


def test_a_peer_that_does_not_read_after_we_close_is_cut_off_after_unread_timeout() -> None:
    clock, transport, handler = Clock(), AbortableTransport(), Recorder()
    conn = SmppConnection(Session(Role.SMSC, SessionConfig(unread_timeout=30.0), 0.0), clock, handler)
    conn.makeConnection(transport)
    assert transport.producer is conn                     # registered: Twisted can pause us
    conn.close()
    assert transport.disconnecting and transport.producer is None    # unregistered, so it can close
    clock.advance(29.9)
    assert not transport.aborted
    clock.advance(0.2)
    assert transport.aborted


def test_a_paused_connection_stops_reading_and_is_cut_off_if_it_stays_paused() -> None:
    clock, transport, handler = Clock(), AbortableTransport(), Recorder()
    conn = SmppConnection(Session(Role.SMSC, SessionConfig(unread_timeout=30.0), 0.0), clock, handler)
    conn.makeConnection(transport)
    conn.pauseProducing()                                 # Twisted: the write buffer is full
    assert transport.producerState == "paused"
    clock.advance(20.0)
    conn.resumeProducing()                                # it read, the buffer drained
    assert transport.producerState == "producing"
    clock.advance(20.0)
    assert not transport.aborted                          # the clock restarts at each pause
    conn.pauseProducing()
    clock.advance(30.1)
    assert transport.aborted


def test_a_connection_over_a_cap_is_closed_before_its_handler_hears_of_it() -> None:
    from smsc.adapter import ConnectionGate
    clock = Clock()
    gate = ConnectionGate(clock, max_total=10, max_per_address=1)
    handlers, transports = [], []
    for _ in range(2):
        transport, handler = AbortableTransport(peerAddress=None), Recorder()
        conn = SmppConnection(Session(Role.SMSC, SessionConfig(), 0.0), clock, handler, gate)
        conn.makeConnection(transport)
        handlers.append(handler)
        transports.append(transport)
    assert [t.aborted for t in transports] == [False, True]
    assert [h.made for h in handlers] == [1, 0]
    assert gate.total == 1 and gate.refused == 1
