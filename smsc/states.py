"""Who may send what, in which bind state (SMPP 3.4 §2.2-§2.4, Table 2-1). The only judge of legality.

Two rules, as in h11's `_state.py`:
1. Every transition of a session's bind state is in this module: `after_sent` / `after_received`.
2. Legality is one table, written from the SMSC's side: which requests an SMSC accepts from
   the ESME in each state (`SMSC_ACCEPTS`) and which it may send to the ESME (`SMSC_SENDS`).
   The ESME's view is the same table read the other way round.
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

BOUND_BY: dict[Command, SessionState] = {
    Command.bind_transmitter_resp: S.BOUND_TX,
    Command.bind_receiver_resp: S.BOUND_RX,
    Command.bind_transceiver_resp: S.BOUND_TRX,
}


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


def after_response(state: SessionState, response: Command, status: int) -> SessionState:
    """State once a response has crossed the wire, whichever side sent it."""
    if status == 0 and state is S.OPEN and response in BOUND_BY:
        return BOUND_BY[response]
    if response is Command.unbind_resp:
        return S.UNBOUND
    return state


def is_bound(state: SessionState) -> bool:
    return state in _BOUND


def can_receive_messages(state: SessionState) -> bool:
    """May an SMSC deliver_sm to an ESME in this state (receiver or transceiver bind)?"""
    return state in (S.BOUND_RX, S.BOUND_TRX)
