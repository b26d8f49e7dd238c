"""R1 stop and R11 contact through the whole stack on the memory network: an MO from an
operator, the opt-out keyed on the subscriber whatever the spelling of its number, the client's
submits refused, the replies sent from the short code, the client still getting its MO; and
the control API's /optouts (GET, POST, DELETE), with its bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from aggregator.config import TrafficClass, load_config
from aggregator.rules.settings import Identity, StopSettings
from smsc.pdu.codec import Pdu
from smsc.pdu.status import CommandStatus
from tests.support.memstack import Client, MemStack, http, raw_request

SUBSCRIBER = "+33612345678"
IDENTITY = Identity("Demo SAS", "1 rue de la Paix, 75002 Paris", "contact@demo.example")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[MemStack]:
    """demo sends marketing from 36180 and has an identity; alerts sends transactional
    messages from 38001."""
    config = load_config()
    (demo,) = config.accounts
    accounts = (replace(demo, traffic=TrafficClass.MARKETING, identity=IDENTITY),
                replace(demo, system_id="alerts", short_codes=("38001",), traffic=TrafficClass.TRANSACTIONAL))
    running = MemStack.start(tmp_path / "stack.db", replace(config, accounts=accounts))
    yield running
    running.stop()


def status_of(stack: MemStack, client: Client, to: str, ton: int) -> int:
    resp = stack.wait(client.submit(to, dest_addr_ton=ton))
    assert isinstance(resp, Pdu)
    return resp.command_status


def replies_to(stack: MemStack, number: str) -> list[tuple[str, str, bytes]]:
    """(account, source_addr, text) of the MTs the aggregator sent to ``number`` by itself."""
    return [(m.account, m.source_addr, m.short_message) for m in stack.store.messages()
            if m.destination_addr == number and m.source_addr in ("36180", "38001")]


@pytest.mark.parametrize("sender", ["0612345678", "+33612345678", "33612345678"])
def test_one_subscriber_in_three_spellings(stack: MemStack, client: Client, sender: str) -> None:
    """A STOP from one spelling of the number blocks marketing to every other spelling."""
    stack.harness.inject_mo(sender, "36180", "Stop !")
    stack.run(2)
    assert [p["short_message"] for p in client.mos()] == [b"Stop !"]      # the client still gets its MO
    assert stack.harness.server.rules.stop.is_opted_out("demo", SUBSCRIBER)
    for to, ton in (("0612345678", 2), ("33612345678", 1), ("+33612345678", 0), ("612345678", 2)):
        assert status_of(stack, client, to, ton) == CommandStatus.RULE_OPTED_OUT, to
    assert status_of(stack, client, "+33699990000", 1) == CommandStatus.ESME_ROK
    alerts = stack.client(system_id="alerts")
    assert status_of(stack, alerts, "0612345678", 2) == CommandStatus.ESME_ROK     # transactional passes
    stack.run(5)
    assert replies_to(stack, SUBSCRIBER) == [("demo", "36180", StopSettings().confirm_text.encode("latin-1"))]
    assert stack.store.count_refusals("demo", CommandStatus.RULE_OPTED_OUT, "stop") == 4
    assert stack.store.sum_ledger("segments", "demo") == 1                 # neither refusals nor the reply


def test_a_stop_in_ucs2_and_a_contact(stack: MemStack, client: Client) -> None:
    stack.harness.inject_mo(SUBSCRIBER, "36180", "STOP 🛑")                # sent as UCS-2 by the operator
    stack.harness.inject_mo("+33699990000", "36180", "Contact ?")
    stack.run(5)
    assert len(client.mos()) == 2
    assert stack.harness.server.rules.stop.is_opted_out("demo", SUBSCRIBER)
    assert replies_to(stack, "+33699990000") == [
        ("demo", "36180", b"Demo SAS - 1 rue de la Paix, 75002 Paris - contact@demo.example")]
    assert [(e.rule, e.action) for e in stack.store.rule_events()] == [
        ("stop", "optout"), ("stop", "confirm"), ("contact", "reply")]


def test_a_stop_to_another_accounts_short_code_is_its_own(stack: MemStack, client: Client) -> None:
    stack.harness.inject_mo(SUBSCRIBER, "38001", "STOP")
    stack.run(2)
    rules = stack.harness.server.rules
    assert [(o.account, o.number, o.how) for o in rules.optouts()] == [("alerts", SUBSCRIBER, "mo")]
    assert status_of(stack, client, SUBSCRIBER, 1) == CommandStatus.ESME_ROK


# --- the control API -------------------------------------------------------------------------

def call(stack: MemStack, method: str, path: str, payload: object = None) -> tuple[int, object]:
    body = b"" if payload is None else json.dumps(payload).encode()
    answer = http(stack.control_site(), raw_request(method, path, body))
    return answer.status, answer.json


def test_optouts_by_hand(stack: MemStack, client: Client) -> None:
    assert call(stack, "GET", "/optouts") == (200, {"optouts": []})
    code, body = call(stack, "POST", "/optouts", {"account": "demo", "number": "0612345678"})
    assert code == 201 and isinstance(body, dict)
    assert body == {"account": "demo", "number": SUBSCRIBER, "since": body["since"], "how": "manual", "added": True}
    assert body["since"].startswith("2026-11-29T20:00:")
    code, body = call(stack, "POST", "/optouts", {"account": "demo", "number": "+33612345678"})
    assert code == 200 and body["added"] is False  # type: ignore[index]
    assert status_of(stack, client, SUBSCRIBER, 1) == CommandStatus.RULE_OPTED_OUT
    code, body = call(stack, "GET", "/optouts?account=demo")
    assert code == 200 and [o["number"] for o in body["optouts"]] == [SUBSCRIBER]  # type: ignore[index]
    assert call(stack, "GET", "/optouts?account=alerts") == (200, {"optouts": []})
    code, body = call(stack, "DELETE", "/optouts", {"account": "demo", "number": "33612345678"})
    assert code == 200 and body["removed"] is True  # type: ignore[index]
    assert status_of(stack, client, SUBSCRIBER, 1) == CommandStatus.ESME_ROK
    stack.run(1)
    events = stack.store.rule_events("stop")
    assert [(e.action, e.facts.get("by")) for e in events] == [("optout", "manual"), ("refuse", None),
                                                               ("release", "manual")]
    assert events[2].facts["how"] == "manual"
    assert stack.store.optouts() == []


BAD = {
    "unknown account": ("POST", "/optouts", {"account": "nobody", "number": SUBSCRIBER}, 400, "account"),
    "not a number": ("POST", "/optouts", {"account": "demo", "number": "STOP"}, 400, "number"),
    "a short code": ("POST", "/optouts", {"account": "demo", "number": "36180"}, 400, "number"),
    "too long": ("POST", "/optouts", {"account": "demo", "number": "+" + "3" * 40}, 400, "number"),
    "number a number": ("POST", "/optouts", {"account": "demo", "number": 33612345678}, 400, "number"),
    "missing number": ("DELETE", "/optouts", {"account": "demo"}, 400, "number"),
    "extra field": ("POST", "/optouts", {"account": "demo", "number": SUBSCRIBER, "how": "x"}, 400, "how"),
    "an array": ("POST", "/optouts", [SUBSCRIBER], 400, "body"),
    "not on the list": ("DELETE", "/optouts", {"account": "demo", "number": SUBSCRIBER}, 404, "number"),
    "unknown account listed": ("GET", "/optouts?account=nobody", None, 400, "account"),
    "unknown parameter": ("GET", "/optouts?acount=demo", None, 400, "acount"),
    "account twice": ("GET", "/optouts?account=demo&account=alerts", None, 400, "account"),
    "broken query": ("GET", "/optouts?account", None, 400, "query"),
}


@pytest.mark.parametrize("method, path, payload, code, field", BAD.values(), ids=BAD.keys())
def test_bad_optout_requests(stack: MemStack, method: str, path: str, payload: object, code: int,
                             field: str) -> None:
    status, body = call(stack, method, path, payload)
    assert (status, body["field"]) == (code, field), body  # type: ignore[index]
    assert stack.harness.server.rules.optouts() == []


def test_delete_without_a_body_and_put(stack: MemStack) -> None:
    assert http(stack.control_site(), raw_request("DELETE", "/optouts")).status == 400
    answer = http(stack.control_site(), raw_request("PUT", "/optouts", b"{}"))
    assert answer.status == 405 and answer.headers["allow"] == "GET, POST, DELETE"
