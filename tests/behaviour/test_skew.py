"""R3 skew over time on the whole stack in memory: a campaign all to Free Mobile is alerted at
its min_sample-th destination; with `suspend` its next submits are refused RULE_SKEW_SUSPENDED
and its messages not yet sent wait in the delivery engine (HELD) until POST /skew/release,
across a restart too; with `reprice` its surcharge lines reach the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from twisted.web.server import Site

from aggregator.config import load_config
from aggregator.config.network import parse_config
from aggregator.delivery import Phase
from aggregator.server import CAMPAIGN_ID_TAG
from smsc.pdu.codec import Pdu, Tlv
from smsc.pdu.status import CommandStatus
from tests.support.memstack import TOKEN, Client, MemStack, http, raw_request

DEFAULT = (Path(__file__).resolve().parents[2] / "aggregator" / "default_network.yaml").read_text()
SAMPLE = 10
FREE = [f"+3365100{n:04d}" for n in range(40)]          # all Free Mobile (phonenumbers' ranges)
PROMO = (Tlv(CAMPAIGN_ID_TAG, b"promo"),)


def network(action: str) -> str:
    return DEFAULT + f"\nrules:\n  skew: {{action: {action}, min_sample: {SAMPLE}}}\n"


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MemStack]:
    running = MemStack.start(tmp_path / "stack.db", parse_config(network(getattr(request, "param", "suspend")),
                                                                 "<test>"))
    yield running
    running.stop()


def release(site: Site, body: object) -> tuple[int, object]:
    answer = http(site, raw_request("POST", "/skew/release", json.dumps(body).encode()))
    return answer.status, answer.json


def statuses(resps: list[Pdu]) -> list[int]:
    return [int(r.command_status) for r in resps]


def test_the_network_default_is_alert_only_and_holds_nothing(tmp_path: Path) -> None:
    config = load_config()
    assert config.rules.skew.action.value == "alert" and config.rules.skew.min_sample == 100


def test_a_suspended_campaign_is_refused_and_held_until_released(stack: MemStack, client: Client) -> None:
    free = stack.operator("free")
    # The pool sends at most 50/s to Free: of the ten accepted at once, those it has not sent
    # when the tenth tips the split wait.
    assert statuses(stack.submit_all(client, FREE[:SAMPLE], tlvs=PROMO)) == [0] * SAMPLE
    tipped_at = stack.clock.seconds()
    events = stack.store.rule_events("skew")
    assert [(e.action, e.campaign, e.at) for e in events] == [("alert", "promo", tipped_at),
                                                             ("suspend", "promo", tipped_at)]
    assert events[0].facts["counts"]["free"] == SAMPLE and events[0].facts["sample"] == SAMPLE
    refused = stack.submit_all(client, FREE[SAMPLE:SAMPLE + 3], tlvs=PROMO)
    assert statuses(refused) == [CommandStatus.RULE_SKEW_SUSPENDED] * 3
    assert stack.store.count_refusals(account="demo", rule="skew") == 3
    other = stack.submit_all(client, FREE[20:22], tlvs=(Tlv(CAMPAIGN_ID_TAG, b"news"),))
    assert statuses(other) == [0, 0]                                  # another send goes on

    stack.run(3600)
    held = stack.harness.engine.held_count("demo")
    assert held >= 1 and free.submitted == SAMPLE - held + 2
    assert all(m.phase is Phase.HELD for m in stack.harness.engine.live.values() if m.campaign == "promo")

    site = stack.control_site(TOKEN)
    status = http(site, raw_request("GET", "/status")).json
    assert status["suspended"] == [{"account": "demo", "campaign": "promo", "held": held}]  # type: ignore[index]
    assert release(site, {"account": "demo", "campaign": "promo"}) == (
        200, {"account": "demo", "campaign": "promo", "released": held})
    released_at = stack.clock.seconds()
    stack.until(lambda: free.submitted == SAMPLE + 2, "the held messages sent")
    assert stack.clock.seconds() - released_at < 1.0
    assert [e.action for e in stack.store.rule_events("skew")][-1] == "release"
    assert http(site, raw_request("GET", "/status")).json["suspended"] == []  # type: ignore[index]
    assert statuses(stack.submit_all(client, FREE[30:32], tlvs=PROMO)) == [0, 0]   # not suspended again


def test_held_messages_stay_held_across_a_restart_and_go_on_release(stack: MemStack, client: Client) -> None:
    stack.submit_all(client, FREE[:SAMPLE], tlvs=PROMO)
    stack.run(60)
    held = stack.harness.engine.held_count("demo")
    assert held >= 1
    stack.close(client)
    again = stack.restart()
    stack.harness = again.harness                                    # the fixture stops this one
    again.run(600)
    assert again.harness.engine.held_count("demo") == held and again.operator("free").submitted == 0
    refused = again.submit_all(again.client(), FREE[SAMPLE:SAMPLE + 1], tlvs=PROMO)
    assert statuses(refused) == [CommandStatus.RULE_SKEW_SUSPENDED]
    assert release(again.control_site(TOKEN), {"account": "demo", "campaign": "promo"})[1] == {
        "account": "demo", "campaign": "promo", "released": held}
    again.until(lambda: again.operator("free").submitted == held, "the held messages sent")


def test_held_messages_expire_at_their_validity_end(stack: MemStack, client: Client) -> None:
    stack.submit_all(client, FREE[:SAMPLE], tlvs=PROMO)
    held = stack.harness.engine.held_count("demo")
    stack.run(86_400 + 60)
    assert stack.harness.engine.held_count("demo") == 0 and stack.harness.engine.waiting_count("demo") == 0
    assert sum(1 for r in client.receipts() if r.stat == "EXPIRED") >= held


@pytest.mark.parametrize("stack", ["reprice"], indirect=True)
def test_reprice_bills_a_surcharge_line_per_message_to_the_skewed_operator(stack: MemStack, client: Client) -> None:
    stack.submit_all(client, FREE[:SAMPLE + 5], tlvs=PROMO)
    assert [e.action for e in stack.store.rule_events("skew")] == ["alert", "reprice"]
    rows = stack.store._query("SELECT kind, amount FROM ledger WHERE kind = 'reprice' ORDER BY id")
    assert [(r["kind"], r["amount"]) for r in rows] == [("reprice", 0.02)] * 6      # the 10th, then 5 more
    stack.run(60)
    assert stack.operator("free").submitted == SAMPLE + 5                        # nothing held


# --- POST /skew/release: bad input is a clear 4xx -------------------------------------------

BAD_RELEASE = {
    "account missing": ({"campaign": "promo"}, "account"),
    "account a number": ({"account": 7}, "account"),
    "unknown account": ({"account": "nobody"}, "account"),
    "campaign with a space": ({"account": "demo", "campaign": "a b"}, "campaign"),
    "campaign of 65": ({"account": "demo", "campaign": "x" * 65}, "campaign"),
    "campaign empty": ({"account": "demo", "campaign": ""}, "campaign"),
    "campaign a number": ({"account": "demo", "campaign": 3}, "campaign"),
    "unknown field": ({"account": "demo", "send": "promo"}, "send"),
    "an array": ([{"account": "demo"}], "body"),
}


@pytest.mark.parametrize("payload, field", BAD_RELEASE.values(), ids=BAD_RELEASE.keys())
def test_bad_release_gets_400_naming_the_field(stack: MemStack, payload: object, field: str) -> None:
    status, body = release(stack.control_site(TOKEN), payload)
    assert status == 400 and isinstance(body, dict) and body["field"] == field
    assert body["error"].startswith(f"{field}: ") or body["error"].startswith(f'"{field}": ')


def test_releasing_a_send_not_suspended_is_a_409(stack: MemStack) -> None:
    status, body = release(stack.control_site(TOKEN), {"account": "demo", "campaign": None})
    assert status == 409 and body == {
        "error": "demo: its traffic without campaign id is not suspended; suspended now: none", "field": "campaign"}
    assert stack.store.rule_events("skew") == []


def test_release_takes_only_post(stack: MemStack) -> None:
    answer = http(stack.control_site(TOKEN), raw_request("GET", "/skew/release"))
    assert answer.status == 405 and answer.headers["allow"] == "POST"
