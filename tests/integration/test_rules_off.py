"""Each rule's acceptance scenario fails (exit 1: an expectation fails) with that rule switched
off, so no scenario passes by accident. The rule is switched off as a user would: `enabled:
false` in the network's `rules:` and in every account's own `rules:` of that rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from aggregator.config import NetworkConfig
from scenarios.loader import load_scenario
from scenarios.runner import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# (scenario, the rule it is about): one line per acceptance scenario of issue 12.
CASES: list[tuple[str, str]] = [
]


def rule_off(network: NetworkConfig, rule: str) -> NetworkConfig:
    """`network` with `rule` disabled everywhere: its `rules:` section and each account's."""
    rules = replace(network.rules, **{rule: replace(getattr(network.rules, rule), enabled=False)})
    accounts = tuple(
        replace(account, rules=MappingProxyType({**account.rules, rule: {**account.rules[rule], "enabled": False}}))
        if rule in account.rules else account
        for account in network.accounts)
    return replace(network, rules=rules, accounts=accounts)


def test_rule_off_disables_it_everywhere() -> None:
    scenario = load_scenario(SCENARIOS / "smoke.yaml")
    network = replace(scenario.network, accounts=tuple(
        replace(a, rules={"purge": {"threshold": 3}}) for a in scenario.network.accounts))
    off = rule_off(network, "purge")
    assert not off.rules.purge.enabled
    assert all(not off.rules.overridden(a.rules).purge.enabled for a in off.accounts)
    assert all(off.rules.overridden(a.rules).purge.threshold == 3 for a in off.accounts)
    assert all(off.rules.overridden(a.rules).stop.enabled for a in off.accounts)


@pytest.mark.parametrize(("name", "rule"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_scenario_fails_with_its_rule_off(tmp_path: Path, name: str, rule: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    on = run_scenario(scenario, tmp_path / "on.db")
    assert all(e.passed for e in on.expectations), [e for e in on.expectations if not e.passed]
    off = run_scenario(replace(scenario, network=rule_off(scenario.network, rule)), tmp_path / "off.db")
    assert any(not e.passed for e in off.expectations), f"{name} passes with {rule} off"
