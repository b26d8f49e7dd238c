"""The rule pipeline: the one object the client server and the delivery engine call.

Four points, each in a fixed order of rules (a refusal stops the checks; the first refusal's
status is what the client gets):

- ``check(submit)``, before a submit is accepted: stop, purge, duplicate, skew, credit
  (credit last: a message refused for another reason is not billed);
- ``accepted(submit, message_id)``, once it is: duplicate, credit, skew, each maybe billing
  ledger lines (credit the message, skew a surcharge);
- ``outcome(outcome)``, an operator's final verdict on an MT: purge;
- ``mo(mo)``, an MO to a short code an account owns: stop, contact, each maybe replying.

A rule switched off for an account (``enabled: false``) is skipped for it. ``log`` is the
store: the RuleLog every rule writes to, plus the ledger and credit reads R10 needs
(``CreditLog``). ``close()`` cancels the rules' timers (R10's lapses) when the harness stops.
At start, ``restore_duplicates(store)`` gives R8 back its memory of the campaigns in use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from twisted.internet.interfaces import IReactorTime

from aggregator.config import AccountConfig, TrafficClass
from aggregator.delivery import Message
from aggregator.rules.base import LedgerLine, Mo, Outcome, Refusal, Reply, Rule, Submit
from aggregator.rules.contact import ContactRule
from aggregator.rules.credit import CreditLog, CreditRule
from aggregator.rules.duplicate import DuplicateRule
from aggregator.rules.purge import PurgeRule
from aggregator.rules.settings import Identity, RulesConfig
from aggregator.rules.skew import SkewRule
from aggregator.rules.stop import OptOut, StopRule


class CampaignHistory(Protocol):
    """What R8 reads back after a restart (aggregator.store.Store implements it)."""

    def campaign_destinations(self, since: float | None = None) -> list[tuple[str, str, str, str, float]]: ...


class Rules:
    """Every rule, with each account's settings (the network's ``rules:`` under its own)."""

    def __init__(self, network: RulesConfig, accounts: Iterable[AccountConfig], clock: IReactorTime,
                 log: CreditLog, unknown_statuses: Mapping[str, int] | None = None) -> None:
        accounts = tuple(accounts)
        self.network = network
        self.settings: dict[str, RulesConfig] = {a.system_id: network.overridden(a.rules) for a in accounts}
        self.identities: dict[str, Identity | None] = {a.system_id: a.identity for a in accounts}
        self.marketing: dict[str, bool] = {a.system_id: a.traffic is TrafficClass.MARKETING for a in accounts}
        self.clock = clock
        self.stop = StopRule(clock, log)
        self.purge = PurgeRule(clock, log, unknown_statuses or {}, self.settings, network)
        self.skew = SkewRule(clock, log)
        self.duplicate = DuplicateRule(clock, log)
        self.credit = CreditRule(clock, log, accounts, self.settings)
        self.contact = ContactRule(clock, log)
        self._checks: tuple[Rule, ...] = (self.stop, self.purge, self.duplicate, self.skew, self.credit)
        self._billers: tuple[Rule, ...] = (self.duplicate, self.credit, self.skew)
        self._outcomes: tuple[Rule, ...] = (self.purge,)
        self._mos: tuple[Rule, ...] = (self.stop, self.contact)

    def restore_duplicates(self, history: CampaignHistory) -> int:
        """After a restart: R8's memory of each campaign, rebuilt from the accepted messages
        of the campaigns used within the longest ``memory``. Returns how many came back."""
        longest = max(s.duplicate.memory for s in (self.network, *self.settings.values()))
        rows = history.campaign_destinations(since=self.clock.seconds() - longest)
        return self.duplicate.restore(rows, self.settings_of)

    def settings_of(self, account: str) -> RulesConfig:
        return self.settings.get(account, self.network)

    def check(self, submit: Submit) -> Refusal | None:
        """None to accept the submit, or the first rule's refusal (recorded as its `refuse` event)."""
        settings = self.settings_of(submit.account)
        for rule in self._checks:
            if settings.enabled(rule.name):
                refusal = rule.check(submit, settings)
                if refusal is not None:
                    rule.event("refuse", submit.account, number=submit.msisdn, campaign=submit.campaign,
                               at=submit.at, status=refusal.status.name, reason=refusal.reason)
                    return refusal
        return None

    def accepted(self, submit: Submit, message_id: str) -> list[LedgerLine]:
        """The ledger lines of an accepted submit: its "message" line first (R10 prices it;
        with R10 off it is still billed, its segments at no amount), then R3's surcharge."""
        settings = self.settings_of(submit.account)
        lines: list[LedgerLine] = []
        for rule in self._billers:
            if settings.enabled(rule.name):
                lines.extend(rule.accepted(submit, message_id, settings))
            elif rule is self.credit:
                lines.append(LedgerLine(submit.account, message_id, submit.segments, 0.0, submit.at))
        return lines

    def outcome(self, outcome: Outcome) -> None:
        settings = self.settings_of(outcome.account)
        for rule in self._outcomes:
            if settings.enabled(rule.name):
                rule.outcome(outcome, settings)

    def final(self, message: Message, stat: str, err: str, error_code: int | None, at: float) -> None:
        """The delivery engine's OutcomeSink: a message's final verdict."""
        self.outcome(Outcome(message.account, message.msisdn, message.operator_id, message.id, message.campaign,
                             stat, err, error_code, at))

    def mo(self, mo: Mo) -> list[Reply]:
        settings = self.settings_of(mo.account)
        identity = self.identities.get(mo.account)
        replies = []
        for rule in self._mos:
            if settings.enabled(rule.name):
                reply = rule.mo(mo, settings, identity)
                if reply is not None:
                    replies.append(reply)
        return replies

    # --- R1's opt-out lists, by hand (the control API and the CLI) ---------------------

    def optouts(self, account: str | None = None) -> list[OptOut]:
        return self.stop.optouts(account)

    def add_optout(self, account: str, number: str) -> OptOut | None:
        """Put an E.164 number on an account's opt-out list by hand; None if it was on it."""
        return self.stop.add(account, number)

    def remove_optout(self, account: str, number: str) -> OptOut | None:
        """Take a number off an account's opt-out list; None if it was not on it."""
        return self.stop.remove(account, number)

    def held(self, account: str, campaign: str | None) -> bool:
        """True while a message of this send must wait in the delivery engine (R3 suspend)."""
        return self.skew.held(account, campaign)

    def release(self, account: str, campaign: str | None) -> bool:
        """Lift an R3 suspension (event ``release``); False when that send was not suspended.
        The caller (``Harness.release``) has the delivery engine re-queue its held messages."""
        return self.skew.release(account, campaign)

    def close(self) -> None:
        """The harness stops: cancel the rules' timers (R10's lapses). (``stop`` is R1.)"""
        self.credit.close()
