"""R11 `contact` (../shared/RULES.md): NOT BUILT YET, a rule that lets everything pass."""

from __future__ import annotations

from aggregator.rules.base import Rule


class ContactRule(Rule):
    name = "contact"
