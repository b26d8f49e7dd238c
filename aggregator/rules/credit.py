"""R10 `credit` (../shared/RULES.md R10; contract 001 "Achat et utilisation de crédits"):
every accepted message is billed at its destination's price, and a prepaid account sends only
what its credit pays, for as long as the credit is valid.

Billing (``accepted``): one "message" ledger line per accepted message (one per destination of
a submit_multi): its segments (aggregator.credit.segments) and its amount, price x segments.
The price per segment is the account's ``prices`` entry for the destination's operator (after
portability and MVNO hosting), else its entry for the destination's country (region code),
else ``price``. Amounts are rounded to a millionth. Contract 001 bills every submitted message,
"including invalid or wrong numbers": a message is billed when it is accepted, whatever the
operator makes of it (refused, unknown subscriber, expired). A submit refused by a rule (this
one included) is not billed; the platform's own replies (R1's confirmation, R11's answer) are
not billed (the server does not ask the rules about them); R3's surcharges are their own
"reprice" lines (aggregator/rules/skew.py) and take no credit.

Prepaid credit (``check``): an account's ``credit`` (network config, in SMS segments; none =
unlimited) less the segments the ledger has billed it for messages, less what earlier lapses
took: a restart on the same store does not refill anyone. A submit costing more segments than
are left is refused RULE_NO_CREDIT (0x404), not billed (a message is billed whole or refused
whole: no partial sending of a long message).

Validity: contract 001 makes credits valid 12 months "from the order". The harness's order is
the instant this store first sees the account with a credit (the first start of the harness
with it), kept in the store's ``credits`` table with what lapses took, so a restart keeps
both; raising the
account's ``credit`` later is a new order: the validity starts again from the start that sees
it, for all that is left (lowering it is a correction: same start). ``validity`` (default
365 days, on the simulated clock) after the start, what is left is lost: event ``lapse`` (facts:
the credit, its start, the validity, the segments lost), stamped at the lapse instant, and every
later submit is refused RULE_NO_CREDIT until a new order. The lapse is a timer on the injected
clock, so the event happens at its instant even if the account sends nothing more; a start
after the instant (a restart) records it at once, with the lapse instant as its time. An
account without ``credit`` never lapses.

Switched off (``credit: {enabled: false}``) for an account, the rule neither limits nor lapses
it and bills no amounts: the pipeline still bills the plain segments line (amount 0), so the
ledger counts segments and nothing is owed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from aggregator.clock import iso
from aggregator.config import AccountConfig
from aggregator.rules.base import LedgerLine, Refusal, Rule, RuleLog, Submit
from aggregator.rules.settings import DAY, CreditSettings, RulesConfig
from smsc.pdu.status import CommandStatus

__all__ = ["CreditLog", "CreditRule", "price_of"]

log = Logger(namespace="aggregator.rules.credit")

AMOUNT_DIGITS = 6  # amounts are rounded to a millionth of the currency unit


class CreditLog(RuleLog, Protocol):
    """What the credit rule reads back across a restart besides its events (aggregator.store.Store)."""

    def billed_segments(self, account: str) -> int: ...

    def credits(self) -> dict[str, tuple[int, float, int, bool]]: ...

    def set_credit(self, account: str, credit: int, started_at: float, lost: int, lapsed: bool) -> None: ...


def price_of(settings: CreditSettings, operator_id: str, country: str) -> float:
    """The price of one segment to a destination: its operator's entry, else its country's,
    else the default ``price``."""
    prices = settings.prices
    if operator_id in prices:
        return prices[operator_id]
    if country and country in prices:
        return prices[country]
    return settings.price


@dataclass(slots=True)
class _Prepaid:
    """A prepaid account's credit, as this run knows it."""

    credit: int  # segments ordered in all (the config's `credit`)
    started: float  # the order its validity runs from
    validity: float
    left: int  # segments still to spend
    lost: int  # segments earlier lapses took
    lapsed: bool = False  # this order's validity is over
    timer: IDelayedCall | None = None

    @property
    def lapses_at(self) -> float:
        return self.started + self.validity


class CreditRule(Rule):
    name = "credit"

    def __init__(self, clock: IReactorTime, log: CreditLog, accounts: Iterable[AccountConfig],
                 settings: Mapping[str, RulesConfig] | None = None) -> None:
        """``settings``: each account's rules (default: the contracts'); an account with the
        rule off is not tracked."""
        super().__init__(clock, log)
        self._store = log  # self.log, typed for the credit reads
        self._prepaid: dict[str, _Prepaid] = {}
        now = clock.seconds()
        stored = log.credits()
        for account in accounts:
            config = (settings or {}).get(account.system_id, RulesConfig())
            if account.credit is None or not config.enabled(self.name):
                continue
            self._prepaid[account.system_id] = self._open(account.system_id, account.credit,
                                                          config.credit.validity, stored.get(account.system_id), now)

    def _open(self, account: str, credit: int, validity: float, stored: tuple[int, float, int, bool] | None,
              now: float) -> _Prepaid:
        """The account's credit at start: its order (recorded when new), what is left, and the
        lapse timer (or the lapse itself when its instant has passed)."""
        if stored is None:  # first seen: an order, valid from now
            started, lost, lapsed = now, 0, False
        else:
            _, started, lost, lapsed = stored
            if credit > stored[0]:  # raised: a new order, valid from now, for all that is left
                started, lapsed = now, False
        if stored is None or (credit, started, lost, lapsed) != stored:  # (lowered: a correction, same order)
            self._store.set_credit(account, credit, started, lost, lapsed)
        billed = self._store.billed_segments(account)
        state = _Prepaid(credit, started, validity, max(0, credit - billed - lost), lost, lapsed)
        if billed or lost:
            log.info("{account}: {billed} segment(s) billed and {lost} lost to a lapse, {left} of {credit} left",
                     account=account, billed=billed, lost=lost, left=state.left, credit=credit)
        if not lapsed:
            if now >= state.lapses_at:
                self._lapse(account, state)
            else:
                state.timer = self.clock.callLater(state.lapses_at - now, self._lapse, account, state)
        return state

    def _lapse(self, account: str, state: _Prepaid) -> None:
        """The credit's validity is over: what is left is lost (event `lapse`, at its instant)."""
        if state.lapsed:
            return
        if state.timer is not None and state.timer.active():
            state.timer.cancel()
        state.timer = None
        state.lapsed = True
        lost, state.left = state.left, 0
        state.lost += lost
        self._store.set_credit(account, state.credit, state.started, state.lost, True)
        self.event("lapse", account, at=state.lapses_at, credit=state.credit, started=state.started,
                   started_iso=iso(state.started), validity_days=round(state.validity / DAY, 6), lost=lost)
        log.info("{account}: prepaid credit lapsed ({lost} unused segment(s) lost); submits are refused",
                 account=account, lost=lost)

    def remaining(self, account: str) -> int | None:
        """Segments ``account`` may still send; None when it is not limited."""
        state = self._prepaid.get(account)
        return None if state is None else state.left

    def lapses_at(self, account: str) -> float | None:
        """When ``account``'s credit lapses (or lapsed); None when it is not limited."""
        state = self._prepaid.get(account)
        return None if state is None else state.lapses_at

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        state = self._prepaid.get(submit.account)
        if state is None:
            return None
        if submit.at >= state.lapses_at:  # the timer may not have run yet at this very instant
            self._lapse(submit.account, state)
        if state.lapsed:
            return Refusal(self.name, CommandStatus.RULE_NO_CREDIT,
                           f"prepaid credit lapsed at {iso(state.lapses_at)}"
                           f" ({state.validity / DAY:g} days after {iso(state.started)})")
        if submit.segments > state.left:
            return Refusal(self.name, CommandStatus.RULE_NO_CREDIT,
                           f"credit exhausted: {state.left} segment(s) left, the message needs {submit.segments}")
        return None

    def accepted(self, submit: Submit, message_id: str, settings: RulesConfig) -> list[LedgerLine]:
        state = self._prepaid.get(submit.account)
        if state is not None:
            state.left = max(0, state.left - submit.segments)
        price = price_of(settings.credit, submit.operator_id, submit.country)
        amount = round(price * submit.segments, AMOUNT_DIGITS)
        return [LedgerLine(submit.account, message_id, submit.segments, amount, submit.at)]

    def close(self) -> None:
        """Cancel the lapse timers (the harness stops; a later start sets them again)."""
        for state in self._prepaid.values():
            if state.timer is not None and state.timer.active():
                state.timer.cancel()
            state.timer = None
