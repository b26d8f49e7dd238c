"""GET /status's live keys and GET /metrics after real traffic on the memory stack (issue 14).

Clients bind and submit over SMPP on the virtual clock; the control API's Site answers raw
HTTP (tests/support/memstack.py). Counts must equal what was sent, rates what the last minute
did at exact instants, and /metrics must parse with prometheus_client's own parser.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from aggregator.stats import WINDOW
from smsc.pdu.codec import Command, DestAddress
from smsc.pdu.status import CommandStatus
from tests.support.memstack import TOKEN, Client, MemStack, http, raw_request

NETWORK = """
operators:
  - id: sfr
    name: SFR
    carriers: [SFR]
    binds: 2
    smsc:
      receipt_delay: 3
      throughput: {rate: 20, burst: 20}
      numbers: {"+33612345679": terminated}
  - {id: orange, name: Orange France, carriers: [Orange France]}
accounts:
  - {system_id: demo, password: demo, rate: 5, burst: 5, short_codes: ["36180"]}
  - {system_id: shop, password: shop}
routing:
  mvno_hosts: {}
"""
DELIVERED_TO, TERMINATED = "+33612345678", "+33612345679"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[MemStack]:
    running = MemStack.start(tmp_path / "live.db", NETWORK)
    yield running
    running.stop()


def get(stack: MemStack, path: str, **headers: str | None) -> tuple[int, dict[str, str], bytes]:
    answer = http(stack.control_site(), raw_request("GET", path, headers=headers))
    return answer.status, dict(answer.headers), answer.body


def status(stack: MemStack) -> dict:  # type: ignore[type-arg]
    code, _, body = get(stack, "/status")
    assert code == 200
    return json.loads(body)  # type: ignore[no-any-return]


def traffic(stack: MemStack) -> tuple[Client, Client, float]:
    """demo (transceiver) submits 4 messages that are delivered, 1 to a number nobody serves
    (ESME_RINVDSTADR) and, its 5 tokens spent, 1 more (ESME_RTHROTTLED); shop (transmitter)
    submits 1 to a terminated subscriber (UNDELIV). All in one second; when it was."""
    demo = stack.client()
    shop = stack.client(mode="transmitter", system_id="shop", password="shop")
    at = stack.clock.seconds()
    resps = [stack.wait(demo.submit(to)) for to in [DELIVERED_TO] * 4 + ["+33123", DELIVERED_TO]]
    resps.append(stack.wait(shop.submit(TERMINATED)))
    assert [r.command_status for r in resps] == [0] * 4 + [CommandStatus.ESME_RINVDSTADR,  # type: ignore[attr-defined]
                                                           CommandStatus.ESME_RTHROTTLED, 0]
    assert math.floor(stack.clock.seconds()) == math.floor(at)
    return demo, shop, at


def test_status_has_the_live_keys_of_the_contract(stack: MemStack) -> None:
    idle = status(stack)
    assert idle["totals"] == {"submitted": 0, "delivered": 0, "failed": 0, "refused": 0}
    assert idle["rates"] == {"window_seconds": WINDOW, "submitted": 0.0, "delivered": 0.0, "failed": 0.0}
    assert idle["sessions"] == [] and idle["started"] == "2026-11-29T20:00:00.000Z"
    demo, shop, at = traffic(stack)
    stack.run_to(math.floor(at) + 10)          # the receipts came 3 s after the submits
    now = status(stack)
    assert now["now"] == "2026-11-29T20:00:10.000Z"
    assert now["totals"] == {"submitted": 5, "delivered": 4, "failed": 1, "refused": 2}
    assert now["rates"] == {"window_seconds": WINDOW, "submitted": round(5 / 60, 3), "delivered": round(4 / 60, 3),
                            "failed": round(1 / 60, 3)}
    sfr = now["operators"]["sfr"]
    assert sfr["links"] == {"bound": 2, "configured": 2}
    assert sfr["throughput"] == {"cap": 20.0, "rate": round(5 / 60, 3)}
    assert now["operators"]["orange"]["throughput"] == {"cap": None, "rate": 0.0}
    assert set(sfr) == {"submitted", "receipts_sent", "queued_at_aggregator", "outage", "mo_sent", "links",
                        "throughput"}
    sessions = now["sessions"]
    assert [(s["bind"], s["account"], s["mode"], s["submitted"], s["rate"]) for s in sessions] == [
        ("demo#1", "demo", "transceiver", 4, round(4 / 60, 3)), ("shop#2", "shop", "transmitter", 1, round(1 / 60, 3))]
    assert sessions[0]["window"] == {"outstanding": 0, "size": 10}
    assert sessions[0]["peer"].startswith("127.0.0.1:") and sessions[0]["bound_at"] == "2026-11-29T20:00:00.000Z"
    stack.run_to(math.floor(at) + 59.999)      # the submits' second is the window's oldest
    assert status(stack)["rates"]["submitted"] == round(5 / 60, 3)
    stack.run_to(math.floor(at) + 60)
    later = status(stack)
    assert later["rates"] == {"window_seconds": WINDOW, "submitted": 0.0, "delivered": round(4 / 60, 3),
                              "failed": round(1 / 60, 3)}      # the receipts came 3 s later
    assert later["totals"]["submitted"] == 5
    stack.close(shop)
    assert [s["bind"] for s in status(stack)["sessions"]] == ["demo#1"]


def test_an_outage_and_a_new_cap_show_at_once(stack: MemStack) -> None:
    site = stack.control_site()
    assert http(site, raw_request("POST", "/operators/orange/throughput", b'{"rate": 7.5}')).status == 200
    assert http(site, raw_request("POST", "/operators/orange/outage", b'{"mode": "silent"}')).status == 200
    orange = status(stack)["operators"]["orange"]
    assert orange["throughput"]["cap"] == 7.5 and orange["outage"] == "silent"


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of an exposition by family name, parsed by prometheus_client."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(found: dict[str, list[Sample]], family: str, sample: str, **labels: str) -> float:
    matches = [s.value for s in found[family] if s.name == sample and s.labels == labels]
    assert len(matches) == 1, (family, sample, labels, found[family])
    return matches[0]


def test_metrics_parse_and_count_what_was_sent(stack: MemStack) -> None:
    _, _, at = traffic(stack)
    stack.run_to(math.floor(at) + 10)
    code, headers, body = get(stack, "/metrics")
    assert code == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(body.decode())
    p = "smsc_harness_"
    assert value(found, p + "messages_accepted", p + "messages_accepted_total", account="demo", operator="sfr") == 4
    assert value(found, p + "messages_accepted", p + "messages_accepted_total", account="shop", operator="sfr") == 1
    assert value(found, p + "submits_refused", p + "submits_refused_total", account="demo",
                 status="ESME_RINVDSTADR") == 1
    assert value(found, p + "submits_refused", p + "submits_refused_total", account="demo",
                 status="ESME_RTHROTTLED") == 1
    assert value(found, p + "messages_final", p + "messages_final_total", account="demo", operator="sfr",
                 status="delivered") == 4
    assert value(found, p + "messages_final", p + "messages_final_total", account="shop", operator="sfr",
                 status="undeliverable") == 1
    latency = p + "receipt_latency_seconds"
    assert value(found, latency, latency + "_bucket", operator="sfr", le="2.5") == 0
    assert value(found, latency, latency + "_bucket", operator="sfr", le="5.0") == 5
    assert value(found, latency, latency + "_count", operator="sfr") == 5
    assert value(found, latency, latency + "_sum", operator="sfr") == pytest.approx(15.0)
    assert value(found, p + "binds", p + "binds", account="demo", mode="transceiver") == 1
    assert value(found, p + "binds", p + "binds", account="shop", mode="transmitter") == 1
    assert value(found, p + "binds", p + "binds", account="shop", mode="receiver") == 0
    assert value(found, p + "bind_messages_accepted", p + "bind_messages_accepted_total", account="demo",
                 bind="demo#1") == 4
    assert value(found, p + "bind_window_size", p + "bind_window_size", account="demo", bind="demo#1") == 10
    assert value(found, p + "operator_submits", p + "operator_submits_total", operator="sfr") == 5
    assert value(found, p + "operator_smsc_accepted", p + "operator_smsc_accepted_total", operator="sfr") == 5
    assert value(found, p + "operator_receipts_sent", p + "operator_receipts_sent_total", operator="sfr") == 5
    assert value(found, p + "operator_links_bound", p + "operator_links_bound", operator="sfr") == 2
    assert value(found, p + "operator_links_configured", p + "operator_links_configured", operator="orange") == 1
    assert value(found, p + "operator_throughput_cap", p + "operator_throughput_cap", operator="sfr") == 20
    assert [s for s in found[p + "operator_throughput_cap"] if s.labels["operator"] == "orange"] == []
    assert value(found, p + "operator_outage", p + "operator_outage", operator="sfr", mode="silent") == 0
    assert value(found, p + "messages_unfinished", p + "messages_unfinished") == 0
    assert value(found, p + "start_time_seconds", p + "start_time_seconds") == 1_795_982_400.0
    assert all(name.startswith(p) for name in found)


def test_two_harnesses_do_not_share_metrics(stack: MemStack, tmp_path: Path) -> None:
    traffic(stack)
    other = MemStack.start(tmp_path / "other.db", NETWORK, clock=stack.clock)
    try:
        found = samples(get(other, "/metrics")[2].decode())
        assert found["smsc_harness_messages_accepted"] == []
    finally:
        other.stop()


METRICS_REFUSALS = {
    "POST": (raw_request("POST", "/metrics", b"{}"), 405, None),
    "DELETE": (raw_request("DELETE", "/metrics"), 405, None),
    "no token": (raw_request("GET", "/metrics", headers={"Authorization": None}), 401, None),
    "wrong token": (raw_request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}), 401, None),
    "not loopback": (raw_request("GET", "/metrics", headers={"Host": "evil.example"}), 421, None),
    "JSON only": (raw_request("GET", "/metrics", headers={"Accept": "application/json"}), 406, "accept"),
    "text refused": (raw_request("GET", "/metrics", headers={"Accept": "text/plain;q=0, application/json"}), 406,
                     "accept"),
    "bad q": (raw_request("GET", "/metrics", headers={"Accept": "text/plain;q=x"}), 406, "accept"),
}


@pytest.mark.parametrize("request_bytes, code, field", METRICS_REFUSALS.values(), ids=METRICS_REFUSALS.keys())
def test_bad_metrics_requests_get_json_errors(stack: MemStack, request_bytes: bytes, code: int,
                                              field: str | None) -> None:
    answer = http(stack.control_site(), request_bytes)
    assert answer.status == code, answer
    body = answer.json
    assert isinstance(body, dict) and "error" in body and body.get("field") == field
    if code == 405:
        assert answer.headers["allow"] == "GET"


@pytest.mark.parametrize("accept", [
    "*/*", "text/*", "text/plain", "TEXT/PLAIN; version=0.0.4",
    # what Prometheus 2.x and 3.x send
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
])
def test_what_prometheus_and_curl_accept_gets_the_text_format(stack: MemStack, accept: str) -> None:
    code, headers, body = get(stack, "/metrics", Accept=accept)
    assert code == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE smsc_harness_messages_accepted_total counter" in body


def test_a_submit_multi_counts_each_destination(stack: MemStack) -> None:
    shop = stack.client(system_id="shop", password="shop")
    assert shop.conn is not None
    dests = (DestAddress(1, 1, "33612345678"), DestAddress(dl_name="friends"), DestAddress(1, 1, "447700900123"),
             DestAddress(1, 1, "33612345670"))
    resp = stack.wait(shop.conn.request(Command.submit_multi, source_addr_ton=5, source_addr="TEST",
                                        dest_addresses=dests, registered_delivery=1, short_message=b"hi all"))
    assert resp.command_status == 0  # type: ignore[attr-defined]
    now = status(stack)
    assert now["totals"] == {"submitted": 2, "delivered": 0, "failed": 0, "refused": 2}
    assert [(s["bind"], s["submitted"]) for s in now["sessions"]] == [("shop#1", 2)]
    found = samples(get(stack, "/metrics")[2].decode())
    refused = {s.labels["status"]: s.value for s in found["smsc_harness_submits_refused"]}
    assert refused == {"ESME_RINVDESTFLAG": 1, "ESME_RINVDSTADR": 1}
