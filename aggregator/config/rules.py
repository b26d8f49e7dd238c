"""The ``rules:`` section (network defaults) and an account's own ``rules:`` and ``identity:``.

One Fields table per rule, used twice: the network's section builds each rule's settings
(absent keys keep the dataclass defaults of aggregator/rules/settings.py); an account's
section keeps only the keys it gives, laid over the network's by ``RulesConfig.overridden``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from aggregator.limits import MAX_SECONDS
from aggregator.rules.settings import (
    ContactSettings,
    CreditSettings,
    DuplicateSettings,
    Identity,
    PurgeSettings,
    RulesConfig,
    SkewAction,
    SkewSettings,
    StopSettings,
)
from aggregator.yamlreader import Fields, Node, NodeReader, by_value, join_path

__all__ = ["RulesReader"]

_REGION = re.compile(r"[A-Z]{2}")
_OPERATOR_ID = re.compile(r"[a-z0-9_-]+")
_SHARE_TOLERANCE = 0.01
_SKEW_ACTIONS = by_value(SkewAction)
MAX_TEXT = 459  # an automatic reply: at most 3 concatenated GSM segments


class RulesReader:
    """Reads rule settings into one NodeReader (its problems are the file's)."""

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader
        r = reader
        seconds = partial(r.number, above=0, maximum=MAX_SECONDS)
        self.tables: dict[str, Fields[Any]] = {
            "stop": Fields(StopSettings, {
                "enabled": r.boolean,
                "keywords": self.keywords,
                "confirm": r.boolean,
                "confirm_text": self.text,
                "transactional": r.boolean,
            }),
            "purge": Fields(PurgeSettings, {
                "enabled": r.boolean,
                "threshold": partial(r.integer, minimum=1, maximum=1000),
                "window": seconds,
                "reset_on_delivery": r.boolean,
            }),
            "skew": Fields(SkewSettings, {
                "enabled": r.boolean,
                "action": partial(r.choice, choices=_SKEW_ACTIONS),
                "min_sample": partial(r.integer, minimum=1, maximum=10_000_000),
                "threshold": partial(r.number, above=0, maximum=1),
                "window": seconds,
                "surcharge": partial(r.number, minimum=0, maximum=1000),
                "reference": self.reference,
            }),
            "duplicate": Fields(DuplicateSettings, {
                "enabled": r.boolean,
                "memory": seconds,
            }),
            "credit": Fields(CreditSettings, {
                "enabled": r.boolean,
                "validity": seconds,
                "price": partial(r.number, minimum=0, maximum=1000),
                "prices": self.prices,
            }),
            "contact": Fields(ContactSettings, {
                "enabled": r.boolean,
                "keywords": self.keywords,
                "interval": partial(r.number, minimum=0, maximum=MAX_SECONDS),
            }),
        }

    def network(self, node: Node, path: str) -> RulesConfig | None:
        """The network's ``rules:`` section: every rule's settings."""
        spec = Fields(RulesConfig, {rule: partial(self._settings, rule=rule) for rule in self.tables})
        return self.reader.record(node, path, spec)

    def _settings(self, node: Node, path: str, *, rule: str) -> Any:
        return self.reader.record(node, path, self.tables[rule])

    def account(self, node: Node, path: str) -> Mapping[str, Mapping[str, Any]] | None:
        """An account's ``rules:``: rule -> the keys it gives (checked as the network's)."""
        nodes = self.reader.mapping(node, path, optional=tuple(self.tables))
        if nodes is None:
            return None
        out: dict[str, Mapping[str, Any]] = {}
        ok = True
        for rule, value in nodes.items():
            read = self.reader.read_fields(value, join_path(path, rule), self.tables[rule])
            if read is None or any(v is None for v in read[1].values()):
                ok = False
                continue
            out[rule] = MappingProxyType(read[1])
        return MappingProxyType(out) if ok else None

    def identity(self, node: Node, path: str) -> Identity | None:
        """``identity: {company, address, contact}``: who the account is (R11)."""
        text = partial(self.reader.string, min_length=1, max_length=160)
        return self.reader.record(node, path, Fields(Identity, {
            "company": text,
            "address": text,
            "contact": text,
        }))

    # -- values ------------------------------------------------------------

    def text(self, node: Node, path: str) -> str | None:
        return self.reader.string(node, path, min_length=1, max_length=MAX_TEXT)

    def keywords(self, node: Node, path: str) -> tuple[str, ...] | None:
        words = self.reader.items(node, path, partial(self.reader.string, min_length=1, max_length=40))
        if words is None:
            return None
        if not words:
            self.reader.expected(node, path, "a list of at least one keyword")
            return None
        return tuple(words)

    def _operator_or_region(self, name: str, node: Node, path: str) -> str | None:
        if _REGION.fullmatch(name) or _OPERATOR_ID.fullmatch(name):
            return name
        self.reader.problem(node, path, "expected an operator id (e.g. orange) or a region code (e.g. FR)")
        return None

    def _operator(self, name: str, node: Node, path: str) -> str | None:
        if _OPERATOR_ID.fullmatch(name):
            return name
        self.reader.problem(node, path, "expected an operator id (lowercase letters, digits, - and _)")
        return None

    def _region(self, name: str, node: Node, path: str) -> str | None:
        if _REGION.fullmatch(name):
            return name
        self.reader.problem(node, path, 'expected a region code in capitals, e.g. "FR"')
        return None

    def prices(self, node: Node, path: str) -> Mapping[str, float] | None:
        """operator id or region code -> amount per segment."""
        price = partial(self.reader.number, minimum=0, maximum=1000)
        return self.reader.table(node, path, self._operator_or_region, price)

    def reference(self, node: Node, path: str) -> Mapping[str, Mapping[str, float]] | None:
        """region code -> operator id -> share (0..1), each region's shares summing to 1."""
        return self.reader.table(node, path, self._region, self._shares)

    def _shares(self, node: Node, path: str) -> Mapping[str, float] | None:
        """One region's operator id -> share (0..1), summing to 1."""
        share = partial(self.reader.number, minimum=0, maximum=1)
        shares = self.reader.table(node, path, self._operator, share)
        if shares is None:
            return None
        total = sum(shares.values())
        if abs(total - 1.0) > _SHARE_TOLERANCE:
            self.reader.problem(node, path, f"expected shares summing to 1, got {total:g}")
            return None
        return MappingProxyType(shares)
