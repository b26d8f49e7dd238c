"""R8 `duplicate` (../shared/RULES.md; seed 001: "duplicate numbers are detected at send time
so each recipient gets one message per send").

Rules of this module:

1. One message per subscriber per send. A send is a campaign id of one account (the vendor
   TLV ``CAMPAIGN_ID_TAG``, aggregator/server.py), or one ``submit_multi`` (``Submit.multi``).
   A destination is the subscriber's E.164 number (``Submit.msisdn``), so "0612345678",
   "+33612345678" and "33612345678" are one destination.
2. A second submit to a destination of the same send is refused ``RULE_DUPLICATE`` (0x403):
   not forwarded, not billed. The pipeline records the ``refuse`` event; its ``reason``
   names the message the destination already got.
3. A destination is remembered only once its submit is *accepted* (``accepted``): a submit
   another rule refused, or the operator link never took, does not block a later one.
4. Bounded memory. A campaign unused (no submit naming it) for ``memory`` seconds (default
   7 days, per account) is forgotten: a submit to it afterwards starts a new send. A
   submit_multi is handled in one go by the server (every destination checked and accepted
   before the next PDU is read), so only the current one is kept.
5. A restart rebuilds the campaigns from the store's accepted messages (``restore``, fed by
   ``Store.campaign_destinations``): each campaign used within ``memory`` comes back with
   every destination it was accepted for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from twisted.internet.interfaces import IReactorTime

from aggregator.rules.base import LedgerLine, Refusal, Rule, RuleLog, Submit
from aggregator.rules.settings import RulesConfig
from smsc.pdu.status import CommandStatus


# How often (clock seconds) the campaigns unused for their memory are swept out.
SWEEP_EVERY = 3600.0


@dataclass(slots=True)
class _Send:
    """A campaign's destinations so far (E.164 -> the message id it was accepted as), when it
    was last used, and the account's ``memory`` then."""

    last_used: float
    memory: float
    numbers: dict[str, str] = field(default_factory=dict)


class DuplicateRule(Rule):
    name = "duplicate"

    def __init__(self, clock: IReactorTime, log: RuleLog) -> None:
        super().__init__(clock, log)
        self._campaigns: dict[tuple[str, str], _Send] = {}
        self._multi: int | None = None          # the submit_multi being handled, and its destinations
        self._multi_numbers: dict[str, str] = {}
        self._next_sweep = float("-inf")

    # --- what the pipeline calls ----------------------------------------------------------

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        multi = submit.multi
        if multi is not None:
            if multi != self._multi:
                self._multi, self._multi_numbers = multi, {}
            first = self._multi_numbers.get(submit.msisdn)
            if first is not None:
                return Refusal(self.name, CommandStatus.RULE_DUPLICATE,
                               f"{submit.msisdn} twice in one submit_multi (sent as {first})")
        campaign = submit.campaign
        if campaign is None:
            return None
        send = self._send(submit.account, campaign, submit.at, settings.duplicate.memory)
        if send is None:
            return None
        send.last_used = submit.at
        first = send.numbers.get(submit.msisdn)
        if first is not None:
            return Refusal(self.name, CommandStatus.RULE_DUPLICATE,
                           f"{submit.msisdn} already in campaign {campaign} (sent as {first})")
        return None

    def accepted(self, submit: Submit, message_id: str, settings: RulesConfig) -> list[LedgerLine]:
        if submit.multi is not None:
            if submit.multi != self._multi:
                self._multi, self._multi_numbers = submit.multi, {}
            self._multi_numbers[submit.msisdn] = message_id
        campaign = submit.campaign
        if campaign is not None:
            self._remember(submit.account, campaign, submit.msisdn, message_id, submit.at,
                           settings.duplicate.memory)
        return []

    # --- memory ---------------------------------------------------------------------------

    def restore(self, rows: Iterable[tuple[str, str, str, str, float]],
                settings_of: Callable[[str], RulesConfig]) -> int:
        """Rebuild the campaigns after a restart from (account, campaign, msisdn, message_id,
        accepted_at) rows of accepted messages, oldest first; campaigns of accounts whose rule
        is off, or unused for their ``memory``, stay forgotten. Returns how many came back."""
        now = self.clock.seconds()
        for account, campaign, msisdn, message_id, at in rows:
            settings = settings_of(account)
            if settings.enabled(self.name):
                self._remember(account, campaign, msisdn, message_id, at, settings.duplicate.memory)
        self._sweep(now)
        return len(self._campaigns)

    def campaigns(self) -> int:
        """How many campaigns are remembered now (for tests and the curious)."""
        return len(self._campaigns)

    def _send(self, account: str, campaign: str, now: float, memory: float) -> _Send | None:
        """The campaign's memory, None if it has none (new, or unused for ``memory``)."""
        if now >= self._next_sweep:
            self._sweep(now)
        send = self._campaigns.get((account, campaign))
        if send is not None:
            if now - send.last_used >= memory:
                del self._campaigns[(account, campaign)]
                return None
            send.memory = memory
        return send

    def _remember(self, account: str, campaign: str, msisdn: str, message_id: str, at: float,
                  memory: float) -> None:
        send = self._send(account, campaign, at, memory)
        if send is None:
            send = self._campaigns[(account, campaign)] = _Send(at, memory)
        send.last_used = max(send.last_used, at)
        send.numbers.setdefault(msisdn, message_id)

    def _sweep(self, now: float) -> None:
        """Forget every campaign unused for its account's ``memory``. Runs at most once per
        SWEEP_EVERY of clock time, when a campaign submit comes: what is kept is at most the
        campaigns used within ``memory`` + SWEEP_EVERY (``_send`` checks the exact boundary)."""
        self._next_sweep = now + SWEEP_EVERY
        stale = [key for key, send in self._campaigns.items() if now - send.last_used >= send.memory]
        for key in stale:
            del self._campaigns[key]
