"""The scenario format's `refusals` subject, `ledger` totals and campaign ids, replayed on the
virtual network: a refused submit is counted with its status, a campaign id reaches the store."""

from __future__ import annotations

from pathlib import Path

from aggregator.store import Store
from scenarios.loader import parse_scenario
from scenarios.runner import run_scenario

SCENARIO = """
name: refusals and totals
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
subscribers:
  - {name: two, numbers: ["+33612345678", "+33612345679"]}
timeline:
  - bind: {account: demo}
  - submit: {account: demo, to: "+3361234", text: "no such number"}
  - submit: {account: demo, to: "+33612345670", text: "%s"}
  - campaign: {account: demo, to: two, text: "spring", id: "spring-1"}
  - advance: 1m
  - expect: {name: "one refused as unroutable", refusals: {account: demo, status: ESME_RINVDSTADR, "==": 1}}
  - expect: {name: "no rule refused anything", refusals: {rule: stop, "==": 0}}
  - expect: {name: "three accepted", messages: {account: demo, "==": 3}}
  - expect: {name: "4 segments billed", ledger: {account: demo, sum: segments, "==": 4}}
  - expect: {name: "wrong total fails", ledger: {sum: segments, "==": 5}}
""" % ("x" * 200)


def test_refusals_ledger_totals_and_campaign_ids(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO, str(tmp_path / "s.yaml"))
    report = run_scenario(scenario, tmp_path / "r.db")
    verdicts = {e.name: (e.passed, e.actual) for e in report.expectations}
    assert verdicts == {
        "one refused as unroutable": (True, "1"),
        "no rule refused anything": (True, "0"),
        "three accepted": (True, "3"),
        "4 segments billed": (True, "4"),
        "wrong total fails": (False, "4"),
    }
    store = Store(tmp_path / "r.db")
    try:
        (refusal,) = store.refusals()
        assert (refusal.account, refusal.destination_addr, refusal.status, refusal.rule) == (
            "demo", "3361234", 0x0B, None)
        assert sorted(m.campaign or "-" for m in store.messages()) == ["-", "spring-1", "spring-1"]
    finally:
        store.close()
