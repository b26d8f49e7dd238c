"""Several clients of one account in a scenario (issue 14): `bind: {account, mode, client:
NAME}`, and `submit`/`multi`/`campaign` naming the client that sends. Before, a second bind
of an account was silently ignored, so a transmitter + receiver pair never got its receipts."""

from __future__ import annotations

from pathlib import Path

from scenarios.loader import parse_scenario
from scenarios.runner import run_scenario

PAIR = """
name: pair
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
subscribers:
  - {name: few, numbers: ["+33612345670", "+33612345671"]}
timeline:
  - bind: {account: demo, mode: transmitter, client: tx}
  - bind: {account: demo, mode: receiver, client: rx}
  - submit: {account: demo, client: tx, to: "+33612345678", text: "named", receipt: true}
  - submit: {account: demo, to: "+33612345679", text: "the account's sender", receipt: true}
  - multi: {account: demo, client: tx, to: ["+33612345680"], text: "multi", receipt: true}
  - campaign: {account: demo, client: tx, to: few, text: "campaign", receipt: true}
  - advance: 2m
  - expect: {name: "all delivered", messages: {state: delivered, "==": 5}}
  - expect: {name: "every receipt reached the receiver", deliveries: {account: demo, "==": 5}}
"""


def test_a_transmitter_and_a_receiver_of_one_account_get_their_receipts(tmp_path: Path) -> None:
    scenario = parse_scenario(PAIR, str(tmp_path / "s.yaml"))
    report = run_scenario(scenario, tmp_path / "r.db")
    assert [(e.name, e.passed) for e in report.expectations] == [
        ("all delivered", True), ("every receipt reached the receiver", True)]
    binds = [e.summary for e in report.events if e.kind == "bind"]
    assert binds == ["demo bound as transmitter (client tx)", "demo bound as receiver (client rx)"]


def test_an_unnamed_bind_keeps_its_timeline_line(tmp_path: Path) -> None:
    text = PAIR.replace("mode: transmitter, client: tx", "mode: transceiver").replace("client: tx, ", "")
    text = text.replace("  - bind: {account: demo, mode: receiver, client: rx}\n", "")
    report = run_scenario(parse_scenario(text, str(tmp_path / "s.yaml")), tmp_path / "r.db")
    assert [e.summary for e in report.events if e.kind == "bind"] == ["demo bound as transceiver"]
    assert all(e.passed for e in report.expectations)
