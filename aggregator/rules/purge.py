"""R2 `purge` (../shared/RULES.md): NOT BUILT YET, a rule that lets everything pass."""

from __future__ import annotations

from collections.abc import Mapping

from twisted.internet.interfaces import IReactorTime

from aggregator.rules.base import Rule, RuleLog


class PurgeRule(Rule):
    name = "purge"

    def __init__(self, clock: IReactorTime, log: RuleLog, unknown_statuses: Mapping[str, int]) -> None:
        super().__init__(clock, log)
        self.unknown_statuses = dict(unknown_statuses)  # operator id -> its unknown-subscriber submit status
