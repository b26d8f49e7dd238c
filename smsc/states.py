"""Who may send what, in which bind state (SMPP 3.4 §2.2-§2.4, Table 2-1). The only judge of legality.

Two rules, as in h11's `_state.py`:
1. Every change of a session's bind state is in this module: the session tells it what crossed
   the wire (`after_sent` / `after_received`, and `after_close` for a lost connection), and
   `TRANSITIONS` says what the bind state becomes. A PDU that is no `Move` (submit_sm,
   enquire_link, any response with an error status) changes nothing and is not looked up.
2. Legality is tables, written from the SMSC's side: which requests an SMSC accepts from the
   ESME in each state (`SMSC_ACCEPTS`) and which it may send to the ESME (`SMSC_SENDS`); the
   ESME's view is the same table read the other way round. And which moves each bind state
   allows (`TRANSITIONS`; both sides move alike): a missing key is an illegal move. One that
   *we* make raises `LocalProtocolError` (a bug of ours, not traffic); one the peer makes
   never reaches the table (the session answers a request the state forbids with a refusal,
   and a response that answers no request of ours is reported, not applied), and
   `after_received` leaves the state as it is should one ever do.
"""

from __future__ import annotations

import enum

from smsc.pdu.codec import Command
from smsc.pdu.status import CommandStatus


class Role(enum.Enum):
    SMSC = "smsc"      # accepts binds (our aggregator's client side, our simulated operators)
    ESME = "esme"      # binds (the aggregator's connectors, test clients)


class SessionState(enum.Enum):
    # Members are singletons compared by identity: hash them so too.  Enum's own __hash__ is
    # Python code (hash of the name), and the legality tables are read on every PDU.
    __hash__ = object.__hash__

    OPEN = "open"                  # connected, not bound
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"            # unbind sent or received; only the unbind_resp and a close remain
    CLOSED = "closed"


S = SessionState
_ESME_TO_SMSC_BOUND = frozenset({Command.submit_sm, Command.submit_multi, Command.data_sm,
                                 Command.query_sm, Command.cancel_sm, Command.replace_sm})
_SMSC_TO_ESME_BOUND = frozenset({Command.deliver_sm, Command.data_sm, Command.alert_notification})
_ALWAYS = frozenset({Command.enquire_link})
_BINDS = frozenset({Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver})
_BOUND = (S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX)

SMSC_ACCEPTS: dict[SessionState, frozenset[Command]] = {
    S.OPEN: _BINDS | _ALWAYS,
    S.BOUND_TX: _ESME_TO_SMSC_BOUND | _ALWAYS | {Command.unbind},
    S.BOUND_RX: _ALWAYS | {Command.unbind},
    S.BOUND_TRX: _ESME_TO_SMSC_BOUND | _ALWAYS | {Command.unbind},
    S.UNBOUND: frozenset(),
    S.CLOSED: frozenset(),
}
SMSC_SENDS: dict[SessionState, frozenset[Command]] = {
    S.OPEN: _ALWAYS | {Command.outbind},
    S.BOUND_TX: _ALWAYS | {Command.unbind},
    S.BOUND_RX: _SMSC_TO_ESME_BOUND | _ALWAYS | {Command.unbind},
    S.BOUND_TRX: _SMSC_TO_ESME_BOUND | _ALWAYS | {Command.unbind},
    S.UNBOUND: frozenset(),
    S.CLOSED: frozenset(),
}


class LocalProtocolError(Exception):
    """Our own code tried something illegal (wrong state, full window): a bug, not traffic."""


class Move(enum.Enum):
    """What a PDU that crossed the wire, in either direction, does to the bind state."""
    BOUND_TX = "bind_transmitter_resp ESME_ROK"
    BOUND_RX = "bind_receiver_resp ESME_ROK"
    BOUND_TRX = "bind_transceiver_resp ESME_ROK"
    UNBIND = "unbind"
    UNBIND_RESP = "unbind_resp ESME_ROK"
    CLOSE = "connection lost"


MOVE_OF: dict[Command, Move] = {                 # a response is a move only with ESME_ROK
    Command.bind_transmitter_resp: Move.BOUND_TX,
    Command.bind_receiver_resp: Move.BOUND_RX,
    Command.bind_transceiver_resp: Move.BOUND_TRX,
    Command.unbind: Move.UNBIND,
    Command.unbind_resp: Move.UNBIND_RESP,
}

_BIND_ANSWERED = (Move.BOUND_TX, Move.BOUND_RX, Move.BOUND_TRX)


def _stay(state: SessionState, *moves: Move) -> dict[Move, SessionState]:
    return {move: state for move in moves}


TRANSITIONS: dict[SessionState, dict[Move, SessionState]] = {
    S.OPEN: {
        Move.BOUND_TX: S.BOUND_TX, Move.BOUND_RX: S.BOUND_RX, Move.BOUND_TRX: S.BOUND_TRX,
        Move.UNBIND_RESP: S.UNBOUND,             # answering an unbind (§4.2) ends the session in any state
        Move.CLOSE: S.CLOSED,
    },
    # Bound: a second bind answered with ESME_ROK (two binds pipelined before the first
    # answer) leaves the first bind as it is.
    **{bound: {**_stay(bound, *_BIND_ANSWERED),
               Move.UNBIND: S.UNBOUND, Move.UNBIND_RESP: S.UNBOUND, Move.CLOSE: S.CLOSED}
       for bound in (S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX)},
    # Unbound: only the unbind_resp and the close remain (a late bind answer changes nothing).
    S.UNBOUND: {**_stay(S.UNBOUND, *_BIND_ANSWERED, Move.UNBIND_RESP), Move.CLOSE: S.CLOSED},
    S.CLOSED: {},
}


def after_sent(role: Role, state: SessionState, command: Command, status: int = 0) -> SessionState:
    """The bind state once we have sent this PDU. Raises LocalProtocolError for a move the
    table does not allow in this state (our code erred)."""
    move = MOVE_OF.get(command)
    if move is None or status:
        return state
    after = TRANSITIONS[state].get(move)
    if after is None:
        raise LocalProtocolError(f"{role.value} may not send {command.name} in state {state.value}")
    return after


def after_received(state: SessionState, command: Command, status: int = 0) -> SessionState:
    """The bind state once the peer's PDU has been accepted (a request the state allows, or
    the response to a request of ours). A move the table lacks changes nothing."""
    move = MOVE_OF.get(command)
    if move is None or status:
        return state
    return TRANSITIONS[state].get(move, state)


def after_close(state: SessionState) -> SessionState:
    """The bind state once the connection is gone (a second close is the caller's to ignore)."""
    after = TRANSITIONS[state].get(Move.CLOSE)
    if after is None:
        raise LocalProtocolError(f"connection closed twice (state {state.value})")
    return after


def may_receive(role: Role, state: SessionState, command: Command) -> bool:
    table = SMSC_ACCEPTS if role is Role.SMSC else SMSC_SENDS
    return command in table[state]


def may_send(role: Role, state: SessionState, command: Command) -> bool:
    table = SMSC_SENDS if role is Role.SMSC else SMSC_ACCEPTS
    return command in table[state]


def refusal_status(state: SessionState, command: Command) -> CommandStatus:
    """Status for a request received in a state that does not allow it (§5.1.3)."""
    if command in _BINDS and state in _BOUND:
        return CommandStatus.ESME_RALYBND
    return CommandStatus.ESME_RINVBNDSTS


def is_bound(state: SessionState) -> bool:
    return state in _BOUND


def can_receive_messages(state: SessionState) -> bool:
    """May an SMSC deliver_sm to an ESME in this state (receiver or transceiver bind)?"""
    return state in (S.BOUND_RX, S.BOUND_TRX)
