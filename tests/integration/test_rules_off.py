"""Each rule's acceptance scenario fails (exit 1: an expectation fails) with that rule switched
off, so no scenario passes by accident. The rule is switched off as a user would: `enabled:
false` in the network's `rules:` and in every account's own `rules:` of that rule
(`NetworkConfig.without_rules`, what `smsc-harness run --rule-off RULE` does: that command then
exits 1, as an expectation fails)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scenarios.loader import load_scenario
from scenarios.runner import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# (scenario, the rule it is about): one line per acceptance scenario of issue 12.
CASES: list[tuple[str, str]] = [
    ("stop_optout", "stop"),
    ("traffic_skew", "skew"),
    ("billing", "credit"),   # off: no limit, no lapse, no amounts (the server bills segments at 0)
    ("credit", "credit"),
    ("duplicates", "duplicate"),
    ("contact", "contact"),
    ("two_failure_purge", "purge"),
]


def test_rule_off_disables_it_everywhere() -> None:
    scenario = load_scenario(SCENARIOS / "smoke.yaml")
    network = replace(scenario.network, accounts=tuple(
        replace(a, rules={"purge": {"threshold": 3}}) for a in scenario.network.accounts))
    off = network.without_rules(["purge"])
    assert not off.rules.purge.enabled
    assert all(not off.rules.overridden(a.rules).purge.enabled for a in off.accounts)
    assert all(off.rules.overridden(a.rules).purge.threshold == 3 for a in off.accounts)
    assert all(off.rules.overridden(a.rules).stop.enabled for a in off.accounts)


@pytest.mark.parametrize(("name", "rule"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_scenario_fails_with_its_rule_off(tmp_path: Path, name: str, rule: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    on = run_scenario(scenario, tmp_path / "on.db")
    assert all(e.passed for e in on.expectations), [e for e in on.expectations if not e.passed]
    off = run_scenario(replace(scenario, network=scenario.network.without_rules([rule])), tmp_path / "off.db")
    assert any(not e.passed for e in off.expectations), f"{name} passes with {rule} off"
