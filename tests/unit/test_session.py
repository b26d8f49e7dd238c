"""The sans-IO session: state machine, automatic answers, window, sequence numbers, timers."""

import struct

import pytest

from smsc.events import (
    CloseConnection, ConnectionClosed, LateResponse, ProtocolError, RequestReceived, ResponseReceived,
    ResponseTimedOut,
)
from smsc.pdu.codec import MAX_SEQUENCE, Command, Pdu, Tag, Tlv, decode, encode, make
from smsc.pdu.status import CommandStatus
from smsc.session import LocalProtocolError, Session, SessionConfig, Unsendable
from smsc.states import Role, SessionState


def replies(session: Session) -> list[Pdu]:
    """Decode what a session queued for the wire."""
    data, out = session.data_to_send(), []
    while data:
        length = struct.unpack("!I", data[:4])[0]
        out.append(decode(data[:length]))
        data = data[length:]
    return out


def bound_pair(mode: Command = Command.bind_transceiver, **config: object) -> tuple[Session, Session]:
    esme, smsc = Session(Role.ESME, SessionConfig(**config)), Session(Role.SMSC, SessionConfig(**config))  # type: ignore[arg-type]
    esme.send_request(mode, 0.0, system_id="acme", password="pw")
    (bind,) = smsc.receive_data(esme.data_to_send(), 0.0)
    assert isinstance(bind, RequestReceived)
    smsc.respond(bind.pdu, 0.0, system_id="smsc")
    (resp,) = esme.receive_data(smsc.data_to_send(), 0.0)
    assert isinstance(resp, ResponseReceived) and resp.pdu.command_status == 0
    return esme, smsc


@pytest.mark.parametrize("bind, state", [(Command.bind_transmitter, SessionState.BOUND_TX),
                                         (Command.bind_receiver, SessionState.BOUND_RX),
                                         (Command.bind_transceiver, SessionState.BOUND_TRX)])
def test_bind_moves_both_sides_to_the_bound_state(bind: Command, state: SessionState) -> None:
    esme, smsc = bound_pair(bind)
    assert esme.state is state and smsc.state is state


def test_refused_bind_leaves_the_session_open_for_another_attempt() -> None:
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.send_request(Command.bind_transceiver, 0.0, system_id="acme", password="bad")
    (bind,) = smsc.receive_data(esme.data_to_send(), 0.0)
    smsc.respond(bind.pdu, 0.0, CommandStatus.ESME_RINVPASWD)  # type: ignore[union-attr]
    (resp,) = esme.receive_data(smsc.data_to_send(), 0.0)
    assert resp.pdu.command_status == CommandStatus.ESME_RINVPASWD  # type: ignore[union-attr]
    assert esme.state is SessionState.OPEN and smsc.state is SessionState.OPEN
    esme.send_request(Command.bind_transceiver, 0.0, system_id="acme", password="good")
    (bind,) = smsc.receive_data(esme.data_to_send(), 0.0)
    smsc.respond(bind.pdu, 0.0)  # type: ignore[union-attr]
    esme.receive_data(smsc.data_to_send(), 0.0)
    assert esme.state is SessionState.BOUND_TRX


def test_submit_before_bind_gets_rinvbndsts_and_the_session_goes_on() -> None:
    smsc = Session(Role.SMSC)
    events = smsc.receive_data(encode(make(Command.submit_sm, 5, destination_addr="336")), 0.0)
    assert isinstance(events[0], ProtocolError)
    (resp,) = replies(smsc)
    assert (resp.command, resp.sequence_number, resp.command_status) == (  # type: ignore[union-attr]
        Command.submit_sm_resp, 5, CommandStatus.ESME_RINVBNDSTS)
    assert smsc.state is SessionState.OPEN


def test_second_bind_gets_ralybnd() -> None:
    _, smsc = bound_pair()
    smsc.receive_data(encode(make(Command.bind_transmitter, 9, system_id="x")), 0.0)
    (resp,) = replies(smsc)
    assert resp.command_status == CommandStatus.ESME_RALYBND  # type: ignore[union-attr]


def test_receiver_bind_may_not_submit() -> None:
    _, smsc = bound_pair(Command.bind_receiver)
    smsc.receive_data(encode(make(Command.submit_sm, 3)), 0.0)
    (resp,) = replies(smsc)
    assert resp.command_status == CommandStatus.ESME_RINVBNDSTS  # type: ignore[union-attr]
    esme = Session(Role.ESME)
    with pytest.raises(LocalProtocolError):
        esme.send_request(Command.submit_sm, 0.0)


def test_unknown_command_id_gets_generic_nack_with_its_sequence_number() -> None:
    _, smsc = bound_pair()
    events = smsc.receive_data(struct.pack("!IIII", 16, 0x0000_0042, 0, 777), 0.0)
    assert [type(e) for e in events] == [ProtocolError]
    (nack,) = replies(smsc)
    assert (nack.command, nack.sequence_number, nack.command_status) == (  # type: ignore[union-attr]
        Command.generic_nack, 777, CommandStatus.ESME_RINVCMDID)
    smsc.receive_data(encode(make(Command.enquire_link, 778)), 0.0)
    assert [p.command for p in replies(smsc)] == [Command.enquire_link_resp]  # type: ignore[union-attr]


def test_enquire_link_and_unbind_are_answered_by_the_session() -> None:
    esme, smsc = bound_pair()
    smsc.receive_data(encode(make(Command.enquire_link, 11)), 1.0)
    (resp,) = replies(smsc)
    assert (resp.command, resp.sequence_number) == (Command.enquire_link_resp, 11)  # type: ignore[union-attr]
    esme.send_request(Command.unbind, 2.0)
    assert esme.state is SessionState.UNBOUND
    events = smsc.receive_data(esme.data_to_send(), 2.0)
    assert isinstance(events[-1], CloseConnection) and smsc.state is SessionState.UNBOUND
    events = esme.receive_data(smsc.data_to_send(), 2.0)
    assert isinstance(events[0], ResponseReceived) and isinstance(events[1], CloseConnection)
    assert esme.connection_lost() == [ConnectionClosed(clean=True, unanswered=())]


def test_sequence_numbers_wrap_and_skip_those_in_flight() -> None:
    esme, _ = bound_pair(window=3)
    esme._next_seq = MAX_SEQUENCE                       # as if 2**31 requests had been sent
    first = esme.send_request(Command.enquire_link, 0.0)
    second = esme.send_request(Command.enquire_link, 0.0)
    assert (first.sequence_number, second.sequence_number) == (MAX_SEQUENCE, 1)


def test_window_limits_outstanding_requests() -> None:
    esme, smsc = bound_pair(window=2)
    esme.send_request(Command.submit_sm, 0.0)
    esme.send_request(Command.submit_sm, 0.0)
    assert esme.window_available == 0
    with pytest.raises(LocalProtocolError):
        esme.send_request(Command.submit_sm, 0.0)
    for event in smsc.receive_data(esme.data_to_send(), 0.0):
        smsc.respond(event.pdu, 0.0, message_id="m")  # type: ignore[union-attr]
    esme.receive_data(smsc.data_to_send(), 0.0)
    assert esme.window_available == 2


def test_unanswered_request_times_out_at_its_deadline() -> None:
    esme, _ = bound_pair(response_timeout=10.0, enquire_link_interval=None, inactivity_timeout=None)
    request = esme.send_request(Command.submit_sm, 100.0)
    assert esme.deadline() == 110.0
    assert esme.handle_timer(109.9) == []
    assert esme.handle_timer(110.0) == [ResponseTimedOut(request)]
    assert esme.deadline() is None


def test_idle_bound_session_sends_enquire_link_and_closes_when_the_peer_is_silent() -> None:
    esme, _ = bound_pair(response_timeout=5.0, enquire_link_interval=30.0, inactivity_timeout=60.0)
    assert esme.deadline() == 30.0
    assert esme.handle_timer(30.0) == []
    assert [p.command for p in replies(esme)] == [Command.enquire_link]  # type: ignore[union-attr]
    events = esme.handle_timer(35.0)
    assert [type(e) for e in events] == [ResponseTimedOut]
    events = esme.handle_timer(60.0)
    assert isinstance(events[-1], CloseConnection)


def test_malformed_length_closes_only_after_answering_what_came_before() -> None:
    _, smsc = bound_pair()
    data = encode(make(Command.enquire_link, 1)) + struct.pack("!IIII", 10, 0x15, 0, 2)
    events = smsc.receive_data(data, 0.0)
    assert isinstance(events[-1], CloseConnection)
    assert [p.command for p in replies(smsc)] == [Command.enquire_link_resp]  # type: ignore[union-attr]


def test_truncated_submit_gets_an_error_response_and_the_session_goes_on() -> None:
    _, smsc = bound_pair()
    wire = encode(make(Command.submit_sm, 21, destination_addr="33612345678", short_message=b"x" * 50))
    cut = struct.pack("!I", 40) + wire[4:40]
    events = smsc.receive_data(cut + encode(make(Command.enquire_link, 22)), 0.0)
    assert isinstance(events[0], ProtocolError)
    resp, link = replies(smsc)
    assert (resp.command, resp.sequence_number, resp.command_status) == (  # type: ignore[union-attr]
        Command.submit_sm_resp, 21, CommandStatus.ESME_RINVCMDLEN)
    assert link.command is Command.enquire_link_resp  # type: ignore[union-attr]


def test_no_timer_once_the_close_is_asked_for() -> None:
    """A deadline in the past after CloseConnection would spin a virtual clock forever."""
    esme, _ = bound_pair(inactivity_timeout=60.0, enquire_link_interval=None)
    events = esme.handle_timer(60.0)
    assert isinstance(events[-1], CloseConnection)
    assert esme.deadline() is None


@pytest.mark.parametrize("command", [Command.outbind, Command.alert_notification])
@pytest.mark.parametrize("bound", [False, True])
def test_a_request_without_a_response_from_a_client_gets_generic_nack(command: Command, bound: bool) -> None:
    smsc = bound_pair()[1] if bound else Session(Role.SMSC)
    events = smsc.receive_data(encode(make(command, 77)), 0.0)
    assert [type(e) for e in events] == [ProtocolError]
    (nack,) = replies(smsc)
    assert (nack.command, nack.sequence_number, nack.command_status) == (
        Command.generic_nack, 77, CommandStatus.ESME_RINVCMDID)
    smsc.receive_data(encode(make(Command.enquire_link, 78)), 0.0)          # and it goes on
    assert [p.command for p in replies(smsc)] == [Command.enquire_link_resp]


def test_a_pdu_that_cannot_be_encoded_takes_no_window_slot_and_queues_nothing() -> None:
    esme, _ = bound_pair(window=1)
    with pytest.raises(Unsendable):
        esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678", short_message=b"x" * 255)
    with pytest.raises(Unsendable):
        esme.send_request(Command.submit_sm, 0.0, destination_addr="3" * 30)
    assert esme.window_available == 1 and esme.data_to_send() == b""
    esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678", short_message=b"ok")
    assert esme.window_available == 0


def test_a_pdu_larger_than_the_link_maximum_is_refused_before_it_is_sent() -> None:
    esme, _ = bound_pair(max_pdu=1024)
    payload = Tlv(Tag.message_payload, b"x" * 1000)
    with pytest.raises(Unsendable, match="above the 1024-octet maximum"):
        esme.send_request(Command.submit_sm, 0.0, (payload,), destination_addr="33612345678")
    assert esme.outstanding == 0 and esme.data_to_send() == b""


def test_a_response_after_its_timeout_is_reported_late_not_lost() -> None:
    esme, smsc = bound_pair(response_timeout=30.0)
    request = esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678")
    (submit,) = smsc.receive_data(esme.data_to_send(), 0.0)
    assert [type(e) for e in esme.handle_timer(30.0)] == [ResponseTimedOut]
    smsc.respond(submit.pdu, 31.0, message_id="m1")  # type: ignore[union-attr]
    (late,) = esme.receive_data(smsc.data_to_send(), 31.0)
    assert isinstance(late, LateResponse) and late.request == request and late.pdu["message_id"] == "m1"
    # its sequence number was not reused meanwhile, and a second copy is a plain protocol error
    assert esme.send_request(Command.enquire_link, 31.0).sequence_number != request.sequence_number


def test_a_peer_pipelining_past_max_unanswered_gets_throttled_until_we_answer() -> None:
    esme, smsc = bound_pair(max_unanswered=2, window=5)
    for _ in range(3):
        esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678")
    events = smsc.receive_data(esme.data_to_send(), 0.0)
    assert [type(e) for e in events] == [RequestReceived, RequestReceived, ProtocolError]
    (throttled,) = replies(smsc)
    assert throttled.command_status == CommandStatus.ESME_RTHROTTLED and throttled.sequence_number == 4
    smsc.respond(events[0].pdu, 0.0, message_id="m1")  # type: ignore[union-attr]
    esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678")
    assert [type(e) for e in smsc.receive_data(esme.data_to_send(), 0.0)] == [RequestReceived]


def test_an_smsc_closes_a_connection_not_bound_in_time_and_frames_little_before_the_bind() -> None:
    smsc = Session(Role.SMSC, SessionConfig.for_role(Role.SMSC), 100.0)
    assert smsc.deadline() == 110.0
    assert smsc.handle_timer(109.9) == []
    (closing,) = smsc.handle_timer(110.0)
    assert isinstance(closing, CloseConnection) and "not bound within 10 s" in closing.reason
    big = Session(Role.SMSC, SessionConfig.for_role(Role.SMSC), 0.0)
    events = big.receive_data(struct.pack("!IIII", 600, Command.bind_transceiver, 0, 1), 0.0)
    assert isinstance(events[-1], CloseConnection) and "above the 512-octet maximum" in events[-1].reason


def test_a_pdu_begun_and_not_finished_in_time_closes_the_connection() -> None:
    esme, smsc = bound_pair(frame_timeout=10.0)
    frame = encode(make(Command.enquire_link, 9))
    assert [type(e) for e in smsc.receive_data(frame[:7], 50.0)] == []
    smsc.receive_data(frame[7:12], 55.0)                  # progress does not reset the clock
    assert smsc.deadline() == 60.0
    (closing,) = smsc.handle_timer(60.0)
    assert isinstance(closing, CloseConnection) and "still incomplete" in closing.reason
    esme2, smsc2 = bound_pair(frame_timeout=10.0)
    smsc2.receive_data(frame + frame[:3], 50.0)           # a whole PDU, then a new one begins
    smsc2.receive_data(frame[3:], 59.0)
    assert smsc2.deadline() != 60.0                       # it completed: no frame deadline


@pytest.mark.parametrize("message_id", ["m1", "", "x" * 64, "x" * 65, "\u20ac"])
@pytest.mark.parametrize("objects", [False, True])
def test_respond_message_id_is_respond_with_a_message_id(message_id: str, objects: bool) -> None:
    """The SMSC's one-call answer to a submit_sm queues what `respond(..., message_id=...)` does
    (bytes, and the Pdu on a link that carries objects; the general path's ValueError for a
    message_id it cannot encode), and frees the request's place in max_unanswered likewise."""
    queued = []
    for fast in (True, False):
        esme, smsc = bound_pair(max_unanswered=1)
        if objects:
            smsc.keep_pdus()
        esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678")
        (request,) = smsc.receive_data(esme.data_to_send(), 0.0)
        assert isinstance(request, RequestReceived)
        try:
            if fast:
                smsc.respond_message_id(request.pdu, message_id, 1.0)
            else:
                smsc.respond(request.pdu, 1.0, message_id=message_id)
        except ValueError as error:
            queued.append(("raised", type(error)))
            continue
        esme.send_request(Command.submit_sm, 0.0, destination_addr="33612345678")
        again = smsc.receive_data(esme.data_to_send(), 0.0)
        queued.append((smsc.pdus_to_send() if objects else smsc.data_to_send(), [type(e) for e in again]))
    assert queued[0] == queued[1]
