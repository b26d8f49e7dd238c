"""The scenario step `multi` (one submit_multi) replayed on the virtual network: each
destination counts as one submit, accepted or refused with its own status, and the campaign id
goes with it."""

from __future__ import annotations

from pathlib import Path

from aggregator.store import Store
from scenarios.loader import parse_scenario
from scenarios.runner import run_scenario

SCENARIO = """
name: multi
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
timeline:
  - bind: {account: demo}
  - multi: {account: demo, to: ["+33612345678", "0612345678", "+447700900123", "+33699990000"], text: "hi",
            receipt: true, id: "spring-1"}
  - multi: {account: demo, to: ["+447700900123", "+447700900124"], text: "nowhere"}
  - advance: 2m
  - expect: {name: "two sent", messages: {account: demo, "==": 2}}
  - expect: {name: "one duplicate", refusals: {status: RULE_DUPLICATE, rule: duplicate, "==": 1}}
  - expect: {name: "three unroutable", refusals: {status: ESME_RINVDSTADR, "==": 3}}
  - expect: {name: "its campaign", rules: {rule: duplicate, campaign: "spring-1", "==": 1}}
  - expect: {name: "two receipts", messages: {state: delivered, "==": 2}}
"""


def test_a_multi_step_counts_each_destination(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO, str(tmp_path / "s.yaml"))
    assert scenario.planned_messages() == 6
    answered: list[int] = []
    report = run_scenario(scenario, tmp_path / "r.db", progress=answered.append)
    assert [(e.name, e.passed) for e in report.expectations if not e.passed] == []
    assert answered[-1] == 6                       # 2 accepted + 4 refused, as the client counted them
    assert [e.kind for e in report.events][:3] == ["bind", "multi", "multi"]
    store = Store(tmp_path / "r.db")
    try:
        assert [m.campaign for m in store.messages()] == ["spring-1", "spring-1"]
    finally:
        store.close()
