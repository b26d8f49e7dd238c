"""Each rule's settings, as typed frozen dataclasses (read from the network config's `rules:`
section and an account's own `rules:`, by aggregator/config/rules.py).

Every default here is the contracts' behaviour (../shared/RULES.md), and every rule is on
unless its `enabled` is false. An account's `rules:` overrides the network's key by key
(`RulesConfig.overridden`): `rules: {purge: {threshold: 3}}` keeps the network's window.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

DAY = 86400.0

# Rule and action names, used everywhere (config, events, reports, scenarios).
RULE_NAMES = ("stop", "purge", "skew", "duplicate", "credit", "contact")
ACTION_NAMES = ("optout", "confirm", "refuse", "purge", "alert", "suspend", "release", "reprice", "reply",
                "lapse")


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class StopSettings:
    """R1: an MO that is a STOP keyword opts its sender out of the short code owner's marketing."""

    enabled: bool = True
    # Compared after folding case, accents, punctuation and spacing (aggregator/rules/stop.py).
    keywords: tuple[str, ...] = ("STOP", "STOP SMS", "ARRET", "ARRET SMS", "DESABO", "DESABONNER",
                                 "DESINSCRIRE", "UNSUBSCRIBE")
    confirm: bool = True  # send a confirmation MT from the short code (not billed)
    confirm_text: str = "Votre demande a bien ete prise en compte: vous ne recevrez plus de SMS de notre part."
    transactional: bool = False  # opt-outs also block the account's transactional traffic

    def __post_init__(self) -> None:
        object.__setattr__(self, "keywords", tuple(self.keywords))


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    """R2: unknown-subscriber failures of one (account, number) within `window` reaching
    `threshold` purge the number; a terminated line purges at once."""

    enabled: bool = True
    threshold: int = 2  # the contract's literal "more than 2" is 3
    window: float = 30 * DAY
    reset_on_delivery: bool = False  # a delivery in between starts the count again


class SkewAction(enum.Enum):
    ALERT = "alert"
    SUSPEND = "suspend"
    REPRICE = "reprice"


# Reference split of French mobile subscribers by host network (MVNO customers counted on the
# network that hosts them): rounded approximations of the four networks' published subscriber
# counts around 2023, not a dataset. See README, "R3 skew", for the source and how to override it.
FRANCE_REFERENCE: Mapping[str, float] = MappingProxyType(
    {"orange": 0.35, "sfr": 0.25, "bouygues": 0.22, "free": 0.18})


@dataclass(frozen=True, slots=True)
class SkewSettings:
    """R3: a bulk send's split of destinations per (country, operator) against the market."""

    enabled: bool = True
    action: SkewAction = SkewAction.ALERT
    min_sample: int = 100  # destinations of one send before it is judged
    threshold: float = 0.25  # largest allowed excess of one operator's share over its reference
    window: float = 3600.0  # a send without campaign id: the account's traffic of the last hour
    surcharge: float = 0.02  # reprice: amount added per segment sent to the skewed operator
    # country (region code) -> operator id -> reference share (summing to 1)
    reference: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({"FR": FRANCE_REFERENCE}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference", _frozen({k: _frozen(v) for k, v in self.reference.items()}))


@dataclass(frozen=True, slots=True)
class DuplicateSettings:
    """R8: one message per destination per campaign id, and per submit_multi."""

    enabled: bool = True
    memory: float = 7 * DAY  # a campaign id unused this long is forgotten (bounded memory)


@dataclass(frozen=True, slots=True)
class CreditSettings:
    """R10: prices per destination, and the validity of a prepaid credit."""

    enabled: bool = True
    validity: float = 365 * DAY  # a prepaid credit lapses this long after it was first used
    price: float = 0.05  # amount per segment when no entry of `prices` matches
    # operator id or country region code -> amount per segment (the operator wins)
    prices: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", _frozen(self.prices))


@dataclass(frozen=True, slots=True)
class ContactSettings:
    """R11: an MO "CONTACT" gets the account's identity back."""

    enabled: bool = True
    keywords: tuple[str, ...] = ("CONTACT",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keywords", tuple(self.keywords))


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Every rule's settings: the network's `rules:` section, or one account's view of it."""

    stop: StopSettings = StopSettings()
    purge: PurgeSettings = PurgeSettings()
    skew: SkewSettings = SkewSettings()
    duplicate: DuplicateSettings = DuplicateSettings()
    credit: CreditSettings = CreditSettings()
    contact: ContactSettings = ContactSettings()

    def overridden(self, overrides: Mapping[str, Mapping[str, Any]]) -> RulesConfig:
        """These settings with an account's `rules:` keys (rule -> key -> value) over them."""
        if not overrides:
            return self
        changed = {rule: replace(getattr(self, rule), **keys) for rule, keys in overrides.items()}
        return replace(self, **changed)

    def enabled(self, rule: str) -> bool:
        return bool(getattr(self, rule).enabled)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an account is, for R11's CONTACT reply (contract 000: company name, postal address,
    and an email address or a phone number)."""

    company: str
    address: str
    contact: str
