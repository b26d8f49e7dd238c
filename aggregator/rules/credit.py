"""R10 `credit` (../shared/RULES.md): NOT BUILT YET beyond what aggregator/credit.py does."""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.interfaces import IReactorTime

from aggregator.config import AccountConfig
from aggregator.rules.base import Rule, RuleLog


class CreditRule(Rule):
    name = "credit"

    def __init__(self, clock: IReactorTime, log: RuleLog, accounts: Iterable[AccountConfig]) -> None:
        super().__init__(clock, log)
