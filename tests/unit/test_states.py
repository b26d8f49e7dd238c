"""The bind-state table (smsc/states.py `TRANSITIONS`): every state can be reached, every move
missing from the table is refused when we make it and changes nothing when the peer does,
the table agrees with the legality tables, and random conversations between two sessions
only ever change a state along a row of the table, and leave both sides agreeing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from smsc import states
from smsc.events import RequestReceived
from smsc.pdu.codec import Command
from smsc.pdu.status import CommandStatus
from smsc.session import Session, SessionConfig
from smsc.states import MOVE_OF, TRANSITIONS, LocalProtocolError, Move, Role, SessionState

S = SessionState
COMMAND_OF = {move: command for command, move in MOVE_OF.items()}


def test_every_state_is_reachable_from_open() -> None:
    seen, todo = {S.OPEN}, [S.OPEN]
    while todo:
        for to in TRANSITIONS[todo.pop()].values():
            if to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(SessionState)


def test_every_move_but_the_close_has_a_pdu_and_closed_is_the_end() -> None:
    assert set(COMMAND_OF) == set(Move) - {Move.CLOSE}
    assert TRANSITIONS[S.CLOSED] == {}
    assert all(TRANSITIONS[state][Move.CLOSE] is S.CLOSED for state in SessionState if state is not S.CLOSED)


@pytest.mark.parametrize("state, move", [(s, m) for s in SessionState for m in Move if m not in TRANSITIONS[s]])
def test_a_move_missing_from_the_table_is_refused_when_ours_and_ignored_when_the_peers(
        state: SessionState, move: Move) -> None:
    if move is Move.CLOSE:
        with pytest.raises(LocalProtocolError):
            states.after_close(state)
        return
    command = COMMAND_OF[move]
    for role in Role:
        with pytest.raises(LocalProtocolError):
            states.after_sent(role, state, command)
    assert states.after_received(state, command) is state


@pytest.mark.parametrize("state, move", [(s, m) for s in SessionState for m in TRANSITIONS[s]])
def test_each_move_of_the_table_is_applied_whichever_side_makes_it(state: SessionState, move: Move) -> None:
    if move is Move.CLOSE:
        assert states.after_close(state) is TRANSITIONS[state][move]
        return
    command = COMMAND_OF[move]
    for role in Role:
        assert states.after_sent(role, state, command) is TRANSITIONS[state][move]
    assert states.after_received(state, command) is TRANSITIONS[state][move]


@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("command", list(Command))
def test_a_pdu_that_is_no_move_changes_nothing(state: SessionState, command: Command) -> None:
    """submit_sm, enquire_link, ... and every response carrying an error leave the state as it is."""
    statuses = [CommandStatus.ESME_RINVBNDSTS] if command in MOVE_OF else [0, CommandStatus.ESME_RSYSERR]
    if command in MOVE_OF and not command.is_response:
        statuses = []                                    # a request (unbind) is a move whatever happens
    for status in statuses:
        for role in Role:
            assert states.after_sent(role, state, command, status) is state
        assert states.after_received(state, command, status) is state


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(SessionState))
def test_what_a_side_may_send_or_receive_the_transition_table_allows(role: Role, state: SessionState) -> None:
    """The legality tables and the transition table agree: a request a side may send or
    receive in a state is a move of that state, or no move at all."""
    for command in Command:
        if command.is_response or command not in MOVE_OF:
            continue
        if states.may_send(role, state, command) or states.may_receive(role, state, command):
            assert MOVE_OF[command] in TRANSITIONS[state]


# --- random conversations ----------------------------------------------------------------

REQUESTS = {
    Role.ESME: (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver) * 2
    + (Command.unbind, Command.submit_sm, Command.enquire_link),
    Role.SMSC: (Command.deliver_sm, Command.unbind, Command.enquire_link),
}
PARAMS = {
    Command.bind_transmitter: {"system_id": "acme", "password": "pw"},
    Command.bind_receiver: {"system_id": "acme", "password": "pw"},
    Command.bind_transceiver: {"system_id": "acme", "password": "pw"},
    Command.submit_sm: {"source_addr": "Shop", "destination_addr": "33612345678", "short_message": b"hi"},
    Command.deliver_sm: {"source_addr": "33612345678", "destination_addr": "36180", "short_message": b"hi"},
}


class Watched(Session):
    """A session that records each change of its bind state."""

    changes: list[tuple[SessionState, SessionState]]

    def __setattr__(self, name: str, value: object) -> None:
        if name == "state" and "state" in self.__dict__ and value is not self.state:
            self.changes.append((self.state, value))  # type: ignore[arg-type]
        super().__setattr__(name, value)


def _watched(role: Role) -> Watched:
    session = Watched.__new__(Watched)
    session.changes = []
    Session.__init__(session, role, SessionConfig(window=3))
    return session


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_conversations_move_along_the_table_and_both_sides_agree(data: st.DataObject) -> None:
    sides = {Role.ESME: _watched(Role.ESME), Role.SMSC: _watched(Role.SMSC)}
    closed = False
    for _ in range(data.draw(st.integers(0, 40))):
        role = data.draw(st.sampled_from(list(Role)))
        session, peer = sides[role], sides[Role.SMSC if role is Role.ESME else Role.ESME]
        action = data.draw(st.sampled_from(("request",) * 10 + ("deliver",) * 10 + ("close",)))
        if action == "request":
            command = data.draw(st.sampled_from(REQUESTS[role]))
            before = session.state
            allowed = states.may_send(role, before, command) and session.window_available > 0
            if allowed:
                session.send_request(command, 0.0, **PARAMS.get(command, {}))  # type: ignore[arg-type]
            else:
                with pytest.raises(LocalProtocolError):
                    session.send_request(command, 0.0, **PARAMS.get(command, {}))  # type: ignore[arg-type]
                assert session.state is before
        elif action == "deliver":                       # what one side wrote reaches the other, answered at once
            _deliver(session, peer, data)
        elif not closed:
            for side in sides.values():
                side.connection_lost()
            closed = True
    while not closed and (_deliver(sides[Role.ESME], sides[Role.SMSC], data)
                          | _deliver(sides[Role.SMSC], sides[Role.ESME], data)):
        pass
    for side in sides.values():
        for before, after in side.changes:
            assert after in TRANSITIONS[before].values()
    assert sides[Role.ESME].state is sides[Role.SMSC].state


def _deliver(sender: Session, receiver: Session, data: st.DataObject) -> bool:
    wire = sender.data_to_send()
    if not wire:
        return False
    for event in receiver.receive_data(wire, 0.0):
        if isinstance(event, RequestReceived):
            ok = data.draw(st.booleans()) or event.pdu.command not in (
                Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver)
            if receiver.state is not S.CLOSED:
                receiver.respond(event.pdu, 0.0, 0 if ok else CommandStatus.ESME_RINVPASWD)
    return True
