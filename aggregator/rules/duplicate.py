"""R8 `duplicate` (../shared/RULES.md): NOT BUILT YET, a rule that lets everything pass."""

from __future__ import annotations

from aggregator.rules.base import Rule


class DuplicateRule(Rule):
    name = "duplicate"
