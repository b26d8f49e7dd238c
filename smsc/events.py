"""What a `Session` tells its owner. Frozen values; don't subclass these.

Protocol-level duties (enquire_link_resp, unbind_resp, generic_nack, wrong-state refusals)
are answered by the session itself; the events about them exist so the owner can log them.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsc.pdu.codec import Pdu


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the owner must answer with `Session.respond` (bind, submit_sm, deliver_sm...)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The answer to one of our requests; `pdu` may be a generic_nack."""

    pdu: Pdu
    request: Pdu
    sent_at: float


@dataclass(frozen=True, slots=True)
class ResponseTimedOut:
    request: Pdu


@dataclass(frozen=True, slots=True)
class LateResponse:
    """The answer to one of our requests that had already timed out (`ResponseTimedOut`):
    the peer was slow, not gone. A deliver_sm it settles must not be sent again. `context`
    is what the owner gave `Session.await_late` for that request (None if nothing)."""

    pdu: Pdu
    request: Pdu
    context: object = None


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The peer sent something we could not accept; the session already answered it
    (with `answer_status`, or not at all when it was a response) and goes on."""

    command_id: int
    sequence_number: int
    answer_status: int
    reason: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The connection must be closed (unbind done, unframable stream, inactivity)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The transport is gone. `unanswered` are our requests that never got a response."""

    clean: bool
    unanswered: tuple[Pdu, ...]


Event = (RequestReceived | ResponseReceived | ResponseTimedOut | LateResponse | ProtocolError | CloseConnection
         | ConnectionClosed)
