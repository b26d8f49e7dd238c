"""R1 `stop` (../shared/RULES.md; seeds 000 Part II art. 1, 001, 003 art. 3, 004): an MO "STOP"
to an account's short code ends that account's marketing to the sender, at once.

Rules of this module:

1. An MO *is* a STOP when its whole text is one of the settings' ``keywords`` up to case,
   accents, punctuation and spacing, maybe with opt-out words or fillers around it and a number
   after it ("Stop", "STOP!!", "stop sms au 36180", "Désabo STOP", "S T O P"; never "Don't
   stop the music"): :func:`aggregator.rules.keywords.keyword_in` says exactly when.
2. Its sender goes on the opt-out list of the account that owns the short code (never of
   another account: contract 000 ties the STOP to the short number that carried the MT), with
   the event ``optout`` (facts: ``by: mo``, the keyword, the short code, the MO's text). The server gives the
   sender as E.164 (``Router.subscriber``), so "0612345678", "33612345678" and
   "+33612345678" are one subscriber on the list, as in every submit the rule checks.
3. With ``confirm`` (default), a confirmation (``confirm_text``) goes back from the short code
   to a sender that is a phone number (E.164), event ``confirm``; the server sends it unbilled.
4. A STOP from a number already on that list changes nothing: no event, no second
   confirmation. Otherwise two automatons would talk for ever: a handset that answers every MT
   with STOP (the network's +33 6 99 99 00 07 does) and the confirmation it answers.
5. ``check``: a marketing submit (``Submit.marketing``: the account's ``traffic``) of that
   account to a number on its list is refused with ``RULE_OPTED_OUT`` (0x0400), not forwarded,
   not billed; the pipeline records the ``refuse`` event. A transactional submit passes unless
   ``transactional: true``.
6. The lists live in the store (``RuleLog``): read back whole when the rule is built, so a
   restart keeps them, and kept in memory after that, written through at each change.
   :meth:`StopRule.add` and :meth:`StopRule.remove` are the manual changes of the control API
   and the CLI (events ``optout`` and ``release`` with ``by: manual``); they act whether or not
   the rule is enabled for the account (the list is the account's data; ``enabled`` says
   whether MOs feed it and submits are checked against it).
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from aggregator.rules.base import Mo, Refusal, Reply, Rule, RuleLog, Submit
from aggregator.rules.keywords import keyword_in
from aggregator.rules.settings import Identity, RulesConfig
from smsc.pdu.status import CommandStatus

__all__ = ["OptOut", "StopRule"]


@dataclass(frozen=True, slots=True)
class OptOut:
    """A number on an account's opt-out list: since when, and how it got there ("mo", "manual")."""

    account: str
    number: str
    since: float
    how: str


class StopRule(Rule):
    name = "stop"

    def __init__(self, clock: IReactorTime, log: RuleLog) -> None:
        super().__init__(clock, log)
        # account -> number -> its entry; read back from the store (rule 6)
        self._lists: dict[str, dict[str, OptOut]] = {}
        for account, number, since, how in log.optouts():
            self._lists.setdefault(account, {})[number] = OptOut(account, number, since, how)

    # --- the pipeline's hooks -----------------------------------------------------------

    def mo(self, mo: Mo, settings: RulesConfig, identity: Identity | None) -> Reply | None:
        stop = settings.stop
        keyword = keyword_in(mo.text, stop.keywords)
        if keyword is None:
            return None
        if mo.sender in self._lists.get(mo.account, {}):
            return None                                                     # rule 4
        self._put(OptOut(mo.account, mo.sender, mo.at, "mo"))
        self.event("optout", mo.account, number=mo.sender, at=mo.at, by="mo", keyword=keyword,
                   short_code=mo.short_code, text=mo.text)
        if not stop.confirm or not mo.sender.startswith("+"):
            return None
        self.event("confirm", mo.account, number=mo.sender, at=mo.at, short_code=mo.short_code,
                   text=stop.confirm_text)
        return Reply(self.name, mo.account, mo.short_code, mo.sender, stop.confirm_text)

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        if not (submit.marketing or settings.stop.transactional):
            return None
        entry = self._lists.get(submit.account, {}).get(submit.msisdn)
        if entry is None:
            return None
        kind = "marketing" if submit.marketing else "transactional"
        return Refusal(self.name, CommandStatus.RULE_OPTED_OUT,
                       f"{submit.msisdn} opted out of {submit.account}'s {kind} messages ({entry.how})")

    # --- the list, for the control API and the CLI ----------------------------------------

    def optouts(self, account: str | None = None) -> list[OptOut]:
        """The opt-out lists (one account's, or every account's), by account then number."""
        accounts = sorted(self._lists) if account is None else [account]
        return [self._lists[a][n] for a in accounts if a in self._lists for n in sorted(self._lists[a])]

    def is_opted_out(self, account: str, number: str) -> bool:
        return number in self._lists.get(account, {})

    def add(self, account: str, number: str, by: str = "manual") -> OptOut | None:
        """Put the E.164 ``number`` on ``account``'s list by hand, now (event ``optout``).
        None when it was there already (nothing changes)."""
        if number in self._lists.get(account, {}):
            return None
        entry = OptOut(account, number, self.clock.seconds(), by)
        self._put(entry)
        self.event("optout", account, number=number, at=entry.since, by=by)
        return entry

    def remove(self, account: str, number: str, by: str = "manual") -> OptOut | None:
        """Take ``number`` off ``account``'s list (event ``release``): its marketing may reach
        the number again. The entry removed, or None when it was not on the list."""
        entry = self._lists.get(account, {}).pop(number, None)
        if entry is None:
            return None
        if not self._lists[account]:
            del self._lists[account]
        self.log.remove_optout(account, number)
        self.event("release", account, number=number, by=by, since=entry.since, how=entry.how)
        return entry

    def _put(self, entry: OptOut) -> None:
        self._lists.setdefault(entry.account, {})[entry.number] = entry
        self.log.set_optout(entry.account, entry.number, entry.since, entry.how)
