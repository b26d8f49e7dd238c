"""Destination numbers for tests that need many distinct, routable French mobiles."""

from __future__ import annotations

import random

from aggregator.config import load_config
from aggregator.routing import Router, RoutingError


def random_french_mobiles(count: int, seed: int = 4) -> list[str]:
    """Valid numbers served by some operator of the default network (the router says so),
    outside the magic test block +336999900xx."""
    config = load_config()
    router = Router(config.operators, config.routing)
    rng = random.Random(seed)
    numbers: list[str] = []
    seen: set[str] = set()
    while len(numbers) < count:
        candidate = f"+33{rng.choice('67')}{rng.randrange(10**8):08d}"
        try:
            router.route(candidate)
        except RoutingError:
            continue
        if candidate.startswith("+3369999") or candidate in seen:
            continue
        seen.add(candidate)
        numbers.append(candidate)
    return numbers
