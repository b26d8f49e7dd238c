"""R3 `skew` (../shared/RULES.md): NOT BUILT YET, a rule that lets everything pass."""

from __future__ import annotations

from aggregator.rules.base import Rule


class SkewRule(Rule):
    name = "skew"
