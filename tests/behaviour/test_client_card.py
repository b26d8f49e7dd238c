"""The client report card (issue 14, aggregator/clientcard.py) as a client earns it over time, on
the in-memory network and the virtual clock: a client that answers deliver_sm late, sends on
after ESME_RTHROTTLED and overflows its window gets exactly those three findings, with their
counts; a well-behaved one, throttled too, gets none."""

from __future__ import annotations

from pathlib import Path

from aggregator.clientcard import LATE_DELIVER_SM_RESP, THROTTLE_BACKOFF, Card
from scenarios.loader import parse_scenario
from scenarios.runner import run_scenario
from smsc.pdu.codec import Pdu
from smsc.pdu.status import CommandStatus
from smsc.session import SessionConfig
from tests.support.memstack import Client, MemStack, http, raw_request
from tests.support.network import default_network_text

MAGIC = "+33612345678"                      # DELIVRD with its receipt at once (default network)
NETWORK = default_network_text().replace(
    "accounts:\n", "accounts:\n  - {system_id: bad, password: bad, rate: 1, burst: 20}\n"
                   "  - {system_id: good, password: good, rate: 5, burst: 10}\n", 1)
WINDOW = 10                                  # limits.deliver_window: the window of a client link


def card_of(stack: MemStack, bind: str) -> Card:
    return next(c for c in stack.harness.server.cards.cards() if c.bind == bind)


def findings(card: Card) -> dict[str, int]:
    return {f.code: f.count for f in card.findings}


def test_a_late_throttle_ignoring_window_overflowing_client_gets_exactly_those_three_findings(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db", NETWORK)
    late = 8.0
    assert LATE_DELIVER_SM_RESP < late < 30.0          # late, but answered before the response timeout
    bad = stack.connect(Client(stack.clock, answer_after=late), window=50)
    assert stack.wait(bad.bind("bad", "bad")).command_status == 0  # type: ignore[attr-defined]
    # 1. Fifteen submits at once, with a window of 50: the server's window is 10, and each of
    #    the last 5 arrive with 10 or more already waiting for their answer (all accepted: the burst is 20).
    first = [bad.submit(MAGIC, f"at once {i}".encode()) for i in range(15)]
    for d in first:
        assert stack.wait(d).command_status == 0      # type: ignore[attr-defined]
    stack.run(30.0)                                    # the rate refills the burst (1/s, up to 20)
    # 2. One at a time (never over the window), on and on through ESME_RTHROTTLED: 20 accepted,
    #    then 35 throttled in a row, sent as soon as each answer came.
    throttled = 0
    i = 0
    while throttled < 35:
        resp = stack.wait(bad.submit(MAGIC, f"on and on {i}".encode()))
        assert isinstance(resp, Pdu)
        throttled += resp.command_status == CommandStatus.ESME_RTHROTTLED
        i += 1
    assert i == 55
    # Every receipt answered 8 s late, then a clean unbind.
    stack.until(lambda: bad.receipt_count == 35, "the 35 receipts")
    stack.run(late + 1.0)
    stack.wait(bad.unbind())
    card = card_of(stack, "bad#1")
    # the first throttled one starts the pause; of the 34 after it, two windows' worth are let through
    assert findings(card) == {"late_deliver_sm_resp": 35, "ignored_throttling": 34 - 2 * WINDOW,
                             "window_overflow": 15 - WINDOW}
    assert card.unbound_at is not None
    by_code = {f.code: f for f in card.findings}
    assert "at most 15 at once" in by_code["window_overflow"].seen
    assert by_code["late_deliver_sm_resp"].seen.endswith(f"(the slowest in {late:.1f} s)")
    assert all(f.advice and f.title for f in card.findings)
    stack.stop()


def test_a_well_behaved_client_throttled_and_backing_off_gets_no_finding(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db", NETWORK)
    good = stack.client(system_id="good", password="good")
    sent, throttled = 0, 0
    while sent < 40:
        window = [good.submit(MAGIC, f"message {sent + k}".encode()) for k in range(min(WINDOW, 40 - sent))]
        statuses = [stack.wait(d).command_status for d in window]      # type: ignore[attr-defined]
        sent += statuses.count(0)
        if CommandStatus.ESME_RTHROTTLED in statuses:
            throttled += 1
            stack.run(THROTTLE_BACKOFF)                 # it backs off before sending again
    assert throttled > 0                                # it was throttled, and behaved
    stack.until(lambda: good.receipt_count == 40, "the 40 receipts")
    stack.run(1.0)
    stack.wait(good.unbind())
    assert card_of(stack, "good#1").findings == ()
    stack.stop()


def test_a_client_that_never_answers_deliver_sm_nor_enquire_link_and_drops_the_link(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    mute = stack.client(answer_after=None)
    assert stack.wait(mute.submit(MAGIC)).command_status == 0      # type: ignore[attr-defined]
    stack.until(lambda: mute.receipt_count == 1, "the receipt")
    stack.run(31.0)                                     # the server's response timeout: 30 s
    card = card_of(stack, "demo#1")
    assert findings(card) == {"no_deliver_sm_resp": 1}
    stack.close(mute)                                   # gone without unbind, our deliver_sm unanswered
    card = card_of(stack, "demo#1")
    assert findings(card)["closed_without_unbind"] == 1
    stack.stop()


def test_unanswered_enquire_link_is_a_finding(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    idle = stack.dial(stack.port, config=SessionConfig(enquire_link_interval=None))   # no keepalive of its own
    assert stack.wait(idle.bind()).command_status == 0          # type: ignore[attr-defined]
    assert idle.conn is not None
    session = idle.conn.session                                 # from now on it hears nothing
    session.receive_data = lambda data, now: []                 # type: ignore[method-assign]
    session.receive_pdus = lambda items, now: []                # type: ignore[method-assign]
    stack.run(60.0 + 30.0 + 1.0)                       # the server's keepalive after 60 s idle, 30 s to answer
    assert findings(card_of(stack, "demo#1")) == {"no_enquire_link_resp": 1}
    stack.stop()


def test_get_clients_on_the_memory_stack_and_the_shutdown_is_no_finding(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    client = stack.client()
    assert stack.wait(client.submit(MAGIC)).command_status == 0    # type: ignore[attr-defined]
    answer = http(stack.control_site(), raw_request("GET", "/clients"))
    assert answer.status == 200
    body = answer.json
    assert isinstance(body, dict)
    (card,) = body["clients"]
    assert card["bind"] == "demo#1" and card["account"] == "demo" and card["unbound_at"] is None
    assert card["findings"] == [] and card["bound_at"].endswith("Z")
    stack.stop()                                        # the server closes it: not the client's doing
    assert card_of(stack, "demo#1").findings == ()


THROTTLED_SCENARIO = """\
name: a rate-limited account
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
network: default
accounts:
  - {system_id: shop, password: shop, rate: 2, burst: 2}
subscribers:
  - {name: people, prefix: "+3366", count: 30}
timeline:
  - bind: {account: shop, mode: transceiver}
  - campaign: {account: shop, to: people, count: 30, text: "Promo", from: "MyShop", receipt: true}
  - advance: 1m
  - expect: {name: "all accepted in the end", messages: {account: shop, "==": 30}}
"""


def test_the_scenario_runners_client_backs_off_when_throttled_and_gets_no_finding(tmp_path: Path) -> None:
    scenario = parse_scenario(THROTTLED_SCENARIO, str(tmp_path / "throttled.yaml"))
    report = run_scenario(scenario, tmp_path / "r.db")
    assert report.passed, report.failures
    (card,) = report.clients
    assert card.bind == "shop#1" and card.findings == ()
