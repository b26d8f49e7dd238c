"""What a rule sees, what it decides, and the base class of the rules.

A rule is a small object with the clock injected. It sees four things: a submit about to be
accepted (``check``: pass, or a ``Refusal``), a submit accepted (``accepted``: what to bill),
an operator's final verdict on an MT (``outcome``) and an MO (``mo``: maybe a ``Reply``).
Every decision it makes is a ``RuleEvent`` it hands to ``RuleLog.add_rule_event``. It never
touches sockets or SQL: what it remembers across a restart it reads and writes through the
``RuleLog`` protocol, which the store implements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorTime

from aggregator.rules.settings import Identity, RulesConfig
from smsc.pdu.status import CommandStatus

_NO_FACTS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Submit:
    """A submit (one destination of a submit_multi) that passed the protocol checks and routing."""

    account: str
    msisdn: str  # E.164, '+' first: the subscriber, whatever the client's spelling
    operator_id: str  # after portability and MVNO hosting
    country: str  # region code of the number ("FR"), "" if unknown
    campaign: str | None  # the client's campaign id (vendor TLV), None when it gave none
    marketing: bool
    segments: int
    at: float
    multi: int | None = None  # the submit_multi this destination belongs to (a per-run counter)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A submit a rule refuses: not forwarded, not billed; the client gets ``status``."""

    rule: str
    status: CommandStatus
    reason: str


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A line of the account's ledger (R10). ``kind``: "message" (a message accepted, its
    segments at its price) or "reprice" (R3's surcharge for the same message)."""

    account: str
    message_id: str
    segments: int
    amount: float
    at: float
    kind: str = "message"


@dataclass(frozen=True, slots=True)
class Outcome:
    """An operator's final verdict on an MT: its receipt (``stat``, ``err``), or its refusal
    of the submit_sm (``stat`` "REJECTD", ``error_code`` the command_status)."""

    account: str
    msisdn: str
    operator_id: str
    message_id: str
    campaign: str | None
    stat: str  # DELIVRD, UNDELIV, REJECTD, EXPIRED...
    err: str  # the receipt's 3 digits
    error_code: int | None  # the submit_sm_resp status when the operator refused the submit
    at: float


@dataclass(frozen=True, slots=True)
class Mo:
    """An MO to a short code an account owns, its text decoded."""

    account: str
    sender: str  # E.164 when it is a phone number, else as the operator sent it
    short_code: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Reply:
    """An MT the platform sends by itself, from ``short_code`` to ``to`` (not billed)."""

    rule: str
    account: str
    short_code: str
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """A decision of a rule, as stored (table ``rule_events``) and reported. ``facts`` are
    what caused it, JSON-able (e.g. the two failures behind a purge)."""

    rule: str
    action: str
    account: str
    at: float
    number: str | None = None
    campaign: str | None = None
    message_id: str | None = None
    facts: Mapping[str, Any] = field(default_factory=lambda: _NO_FACTS, hash=False)


class RuleLog(Protocol):
    """What the rules write and read back across a restart (implemented by aggregator.store.Store)."""

    def add_rule_event(self, event: RuleEvent) -> None: ...

    def rule_events(self, rule: str | None = None, account: str | None = None) -> list[RuleEvent]: ...

    def set_optout(self, account: str, number: str, at: float, how: str) -> None: ...

    def remove_optout(self, account: str, number: str) -> None: ...

    def optouts(self, account: str | None = None) -> list[tuple[str, str, float, str]]: ...

    def add_purge(self, account: str, number: str, at: float, reason: str) -> None: ...

    def purges(self, account: str | None = None) -> list[tuple[str, str, float, str]]: ...

    def unknown_failures(self, since: float, unknown_statuses: Mapping[str, int],
                         deliveries: bool = False) -> list[Outcome]:
        """R2's restart: the final outcomes after ``since`` that are unknown-subscriber or
        terminated-line failures (and, with ``deliveries``, the deliveries to the same
        (account, number)), oldest first."""
        ...


class Rule:
    """A rule: each hook does nothing unless the rule's module says otherwise. ``settings``
    are the account's (the network's ``rules:`` with the account's own over them)."""

    name = ""

    def __init__(self, clock: IReactorTime, log: RuleLog) -> None:
        self.clock = clock
        self.log = log

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        """Before a submit is accepted: None to let it pass, or why it is refused."""
        return None

    def accepted(self, submit: Submit, message_id: str, settings: RulesConfig) -> list[LedgerLine]:
        """A submit was accepted as ``message_id``: the ledger lines this rule bills for it."""
        return []

    def outcome(self, outcome: Outcome, settings: RulesConfig) -> None:
        """An operator's final verdict on an MT."""

    def mo(self, mo: Mo, settings: RulesConfig, identity: Identity | None) -> Reply | None:
        """An MO to a short code of ``mo.account``: maybe an automatic reply."""
        return None

    def held(self, account: str, campaign: str | None) -> bool:
        """True while the messages of this send must wait (R3 suspend)."""
        return False

    def event(self, action: str, account: str, *, number: str | None = None, campaign: str | None = None,
              message_id: str | None = None, at: float | None = None, **facts: Any) -> RuleEvent:
        """Record a decision of this rule (now, unless ``at`` says when) and return it."""
        event = RuleEvent(self.name, action, account, self.clock.seconds() if at is None else at, number, campaign,
                          message_id, MappingProxyType(facts))
        self.log.add_rule_event(event)
        return event
