"""Which numbers of a scenario the network will route: what ``check`` reports, and the test a
drawn population keeps its numbers by.

A scenario's client writes a number the way ``destination`` says (``"+336..."`` as
international digits, ``"06..."`` as national); the aggregator routes it with the network's
``aggregator.routing.Router`` and refuses it ``ESME_RINVDSTADR`` when no operator serves it.
Drawn populations (``prefix``) keep only numbers that route (``Population.draw`` with
``routes(router)``), so a campaign to them is refused nothing for routing; numbers written in
the scenario (``submit.to``, a population's ``numbers``, an ``mo``'s ``from``) are sent as
written, and ``unroutable`` lists those that will not route (a scenario may mean it: a test of
refusals).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from aggregator.config import NetworkConfig
from aggregator.routing import Router, RoutingError
from scenarios.model import Campaign, Mo, Population, PopulationDrawError, Scenario, Submit
from smsc.pdu.codec import Ton

__all__ = ["PROBE", "Reach", "destination", "probe", "reach", "router_of", "routes"]

# Numbers the loader tries under a prefix, at most, to find one that routes (PopulationDrawError
# then says why at run time if the prefix routes too few to fill the population).
PROBE = 1000


def destination(to: str) -> tuple[str, int]:
    """(destination_addr, dest_addr_ton) a scenario client sends for ``to``: '+' numbers as
    international digits, 10 digits with a leading '0' as national, other digits international."""
    if to.startswith("+"):
        return to[1:], 1
    if to.startswith("0") and len(to) == 10:
        return to, 2
    return to, 1


def router_of(network: NetworkConfig) -> Router:
    """The router the aggregator of ``network`` routes with."""
    return Router(network.operators, network.routing)


def why_not(router: Router, number: str) -> str | None:
    """None when a scenario client's submit to ``number`` routes, else the router's reason."""
    address, ton = destination(number)
    try:
        router.route(address, ton)
    except RoutingError as error:
        return str(error)
    return None


def routes(router: Router) -> Callable[[str], bool]:
    """The test a drawn population keeps its numbers by: a submit to it routes."""
    return lambda number: why_not(router, number) is None


def probe(population: Population, seed: int, routable: Callable[[str], bool], attempts: int = PROBE) -> str | None:
    """None when ``population``'s prefix can be drawn on the network, else why not: a prefix of
    at most ``attempts`` numbers is tried whole (it must hold ``count`` that route), a larger one
    until a number routes, at most ``attempts`` random numbers. Costs one route for a prefix
    of mobile numbers."""
    digits = population.length - (len(population.prefix) - 1)
    space = 10**digits
    if space <= attempts:
        good = sum(1 for n in range(space) if routable(f"{population.prefix}{n:0{digits}d}"))
        if good < population.count:
            return f"only {good} of the {space} numbers under {population.prefix} route on this network"
        return None
    rng = random.Random(f"{seed}:{population.name}:probe")
    for _ in range(attempts):
        if routable(f"{population.prefix}{rng.randrange(space):0{digits}d}"):
            return None
    return f"none of {attempts:,} numbers drawn under {population.prefix} routes on this network"


@dataclass(frozen=True, slots=True)
class Reach:
    """What will not route in a scenario: drawn populations (numbers tried and skipped, or why
    they cannot be drawn), and the numbers written in it that the network refuses."""

    drawn: tuple[tuple[Population, int, int, str | None], ...]  # (population, kept, skipped, error)
    unroutable: tuple[tuple[str, str, str], ...]  # (where: source or population, number, why)
    sends: int  # submits the timeline sends to numbers that will not route (campaigns included)

    @property
    def failed(self) -> bool:
        """A drawn population cannot be drawn: ``run`` would stop."""
        return any(error is not None for _, _, _, error in self.drawn)


def reach(scenario: Scenario) -> Reach:
    """Route every number the scenario will use, with its own seed (``run --seed`` draws others)."""
    router = router_of(scenario.network)
    ok = routes(router)
    drawn: list[tuple[Population, int, int, str | None]] = []
    unroutable: list[tuple[str, str, str]] = []
    bad_listed: dict[str, set[str]] = {}
    for population in scenario.populations:
        if population.numbers:
            bad: set[str] = set()
            for number in population.numbers:
                why = why_not(router, number)
                if why is not None:
                    bad.add(number)
                    unroutable.append((f"population {population.name} ({population.source})", number, why))
            bad_listed[population.name] = bad
            continue
        try:
            draw = population.drawn(scenario.seed, ok)
        except PopulationDrawError as error:
            drawn.append((population, 0, 0, str(error)))
        else:
            drawn.append((population, len(draw.numbers), draw.skipped, None))
    sends = 0
    for step in scenario.timeline:
        if isinstance(step, Submit):
            why = why_not(router, step.to)
            if why is not None:
                sends += 1
                unroutable.append((f"submit ({step.source})", step.to, why))
        elif isinstance(step, Mo):
            try:
                router.route(step.sender, Ton.UNKNOWN)
            except RoutingError as error:
                unroutable.append((f"mo from ({step.source})", step.sender, str(error)))
        elif isinstance(step, Campaign):
            listed = bad_listed.get(step.population)
            if listed:
                sends += sum(1 for number in scenario.population(step.population).numbers[: step.count]
                             if number in listed)
    return Reach(tuple(drawn), tuple(unroutable), sends)
