"""The control API steers a running stack as a scenario's steps do (issue 14): an operator's
outage starts and ends, its throughput cap changes, and one message can be looked up with its
state history. Bad input is a 400 naming the field, an unknown operator or message a 404, a
recover without an outage a 409; none of them changes anything. The whole stack in memory on
the virtual clock (tests/support/memstack.py), fed raw HTTP bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smsc.operators.profile import OutageMode
from tests.support.memstack import TOKEN, Answer, Client, MemStack, http, raw_request


@pytest.fixture
def site(stack: MemStack, client: Client):  # type: ignore[no-untyped-def]
    return stack.control_site(TOKEN)


def post(site: Any, path: str, payload: object = None) -> Answer:
    return http(site, raw_request("POST", path, json.dumps({} if payload is None else payload).encode()))


def get(site: Any, path: str) -> Answer:
    return http(site, raw_request("GET", path))


def test_an_outage_starts_shows_in_status_and_ends(stack: MemStack, site: Any) -> None:
    sfr = stack.harness.operators["sfr"]
    answer = post(site, "/operators/sfr/outage", {"mode": "silent"})
    assert (answer.status, answer.json) == (200, {"operator": "sfr", "outage": "silent"})
    assert sfr.outage is OutageMode.SILENT
    assert get(site, "/status").json["operators"]["sfr"]["outage"] == "silent"  # type: ignore[index]
    answer = post(site, "/operators/sfr/recover")
    assert (answer.status, answer.json) == (200, {"operator": "sfr", "outage": None, "ended": "silent"})
    assert sfr.outage is None
    assert get(site, "/status").json["operators"]["sfr"]["outage"] is None  # type: ignore[index]
    again = post(site, "/operators/sfr/recover")
    assert again.status == 409 and again.json["field"] == "operator"  # type: ignore[index]


def test_a_message_sent_during_a_silent_outage_is_delivered_after_recover(stack: MemStack, client: Client,
                                                                        site: Any) -> None:
    assert post(site, "/operators/sfr/outage", {"mode": "silent"}).status == 200
    resp = stack.wait(client.submit("33612345678", b"during the outage"), "the submit")
    stack.run(5)
    assert client.receipts() == []                       # the operator answers nothing
    assert post(site, "/operators/sfr/recover").status == 200
    stack.run(120)                                       # the aggregator's retry after its response timeout
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(resp["message_id"], "DELIVRD")]


def test_refuse_binds_drops_the_aggregators_binds(stack: MemStack, site: Any) -> None:
    sfr = stack.harness.operators["sfr"]
    assert sfr.binds
    assert post(site, "/operators/sfr/outage", {"mode": "refuse_binds"}).status == 200
    stack.run(1)
    assert sfr.binds == []
    assert post(site, "/operators/sfr/recover").status == 200
    stack.run(60)                                        # the connectors' reconnect back-off
    assert sfr.binds


def test_a_throughput_cap_set_at_run_time_throttles(stack: MemStack, client: Client, site: Any) -> None:
    sfr = stack.harness.operators["sfr"]
    answer = post(site, "/operators/sfr/throughput", {"rate": 1, "burst": 1})
    assert (answer.status, answer.json) == (200, {"operator": "sfr", "rate": 1, "burst": 1})
    stack.submit_all(client, ["33612345678"] * 5)
    stack.run(30)
    assert sfr.throttled > 0
    assert sfr.submitted == 5                             # throttled, retried, all through at 1/s
    assert post(site, "/operators/sfr/throughput", {"rate": 20}).json == {"operator": "sfr", "rate": 20, "burst": 20}


BAD = {
    "outage mode unknown": ("/operators/sfr/outage", {"mode": "down"}, 400, "mode"),
    "outage mode missing": ("/operators/sfr/outage", {}, 400, "mode"),
    "outage mode a number": ("/operators/sfr/outage", {"mode": 1}, 400, "mode"),
    "outage extra field": ("/operators/sfr/outage", {"mode": "silent", "for": "1h"}, 400, "for"),
    "outage unknown operator": ("/operators/vodafone/outage", {"mode": "silent"}, 404, "operator"),
    "recover with a field": ("/operators/sfr/recover", {"now": True}, 400, "now"),
    "throughput rate 0": ("/operators/sfr/throughput", {"rate": 0}, 400, "rate"),
    "throughput rate a string": ("/operators/sfr/throughput", {"rate": "10"}, 400, "rate"),
    "throughput rate true": ("/operators/sfr/throughput", {"rate": True}, 400, "rate"),
    "throughput rate huge": ("/operators/sfr/throughput", {"rate": 1e308}, 400, "rate"),
    "throughput burst 0": ("/operators/sfr/throughput", {"rate": 5, "burst": 0}, 400, "burst"),
    "throughput burst 1.5": ("/operators/sfr/throughput", {"rate": 5, "burst": 1.5}, 400, "burst"),
    "throughput unknown operator": ("/operators/nobody/throughput", {"rate": 5}, 404, "operator"),
    "throughput a list": ("/operators/sfr/throughput", [5], 400, "body"),
}


@pytest.mark.parametrize("path, payload, status, field", BAD.values(), ids=BAD.keys())
def test_bad_operator_requests_name_the_field_and_change_nothing(stack: MemStack, site: Any, path: str,
                                                                 payload: object, status: int, field: str) -> None:
    answer = post(site, path, payload)
    assert answer.status == status, answer
    assert answer.json["field"] == field, answer  # type: ignore[index]
    assert all(smsc.outage is None for smsc in stack.harness.operators.values())


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/operators/sfr/outage", "POST"), ("DELETE", "/operators/sfr/recover", "POST"),
    ("POST", "/messages/1", "GET"),
])
def test_id_routes_take_their_methods(site: Any, method: str, path: str, allowed: str) -> None:
    answer = http(site, raw_request(method, path, b"{}" if method != "GET" else b""))
    assert answer.status == 405 and answer.headers["allow"] == allowed


@pytest.mark.parametrize("path", ["/operators/sfr", "/operators/sfr/outage/x", "/operators//outage",
                                  "/operators/sfr/explode", "/messages/", "/messages/a/b",
                                  "/messages/" + "9" * 65])
def test_other_id_paths_are_404(site: Any, path: str) -> None:
    assert get(site, path).status == 404


def test_a_message_with_its_history_and_receipt(stack: MemStack, client: Client, site: Any) -> None:
    resp = stack.wait(client.submit("33612345678", b"trace me"), "the submit")
    stack.run(10)
    stack.harness.store.flush()
    answer = get(site, f"/messages/{resp['message_id']}")
    assert answer.status == 200, answer
    body = answer.json
    assert isinstance(body, dict)
    assert body["id"] == resp["message_id"] and body["account"] == "demo" and body["operator"] == "sfr"
    assert body["state"] == "delivered" and body["to"] == "+33612345678"
    states = [event["state"] for event in body["history"]]
    assert states[0] == "accepted" and states[-1] == "delivered"
    assert [r["stat"] for r in body["receipts"]] == ["DELIVRD"]
    missing = get(site, "/messages/999999")
    assert missing.status == 404 and missing.json["field"] == "message"  # type: ignore[index]
