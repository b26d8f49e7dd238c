"""A replay's report answers "where did my messages go": a campaign to a drawn population is
refused nothing for routing (only routable numbers are drawn), and every refused submit is in
the report, by status and rule, with the store's counts."""

from __future__ import annotations

from pathlib import Path

from scenarios.loader import parse_scenario
from scenarios.runner import run_scenario

SCENARIO = """\
name: drawn numbers route, refusals are reported
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
accounts:
  - {system_id: prepaid, password: prepaid, credit: 150}
subscribers:
  - {name: bank, prefix: "+337", count: 200}
timeline:
  - bind: {account: demo}
  - bind: {account: prepaid}
  - campaign: {account: demo, to: bank, text: "Votre code"}
  - campaign: {account: prepaid, to: bank, text: "Promo"}
  - submit: {account: demo, to: "+33123", text: "nobody"}
  - advance: 2m
"""


def test_drawn_numbers_route_and_every_refusal_is_in_the_report(tmp_path: Path) -> None:
    report = run_scenario(parse_scenario(SCENARIO, "s.yaml"), tmp_path / "run.db")
    # Before, about 61 % of "+337" draws were refused ESME_RINVDSTADR: 120 of these 200.
    assert report.messages == 200 + 150
    # (R10's status is the credit rule's business: counted here by rule, whatever its name.)
    assert [(r.account, r.status, r.rule, r.count) for r in report.refusals if r.rule is None] == [
        ("demo", "ESME_RINVDSTADR", None, 1)]
    assert sum(r.count for r in report.refusals if (r.account, r.rule) == ("prepaid", "credit")) == 50
    assert report.refused == 51
    assert report.refusals_by_status[0][1:] == ("credit", 50)
