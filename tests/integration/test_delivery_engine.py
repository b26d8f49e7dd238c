"""Issue 4, aggregator side, over real TCP with simulated time: retries, validity, outages,
MO routing, queued deliveries and restart resumption. Every message ends in one final state."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted

from aggregator.store import MessageState
from smsc.operators.profile import OutageMode
from smsc.pdu.codec import Command
from smsc.pdu.receipt import is_receipt, parse_receipt
from tests.support.stack import (
    START, advance, bound_client, close, drain, settle_links, start_stack, submit_all, until,
)

ONE_OPERATOR = """
operators:
  - id: sfr
    name: SFR
    carriers: [SFR]
    smsc:
      throughput: {rate: 20, burst: 2}
      outcomes: [{stat: DELIVRD, weight: 1}]
      receipt_delay: {fixed: 0}
      subscribers: []
      replies: []
accounts:
  - {system_id: demo, password: demo, short_codes: ["36180"]}
routing:
  mvno_hosts: {}
"""

SFR = [f"+3361234{n:04d}" for n in range(40)]       # SFR range


def final_states(harness) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in harness.store.count_by_state().items() if v}


@pytest_twisted.ensureDeferred
async def test_operator_cap_throttles_and_every_message_is_finally_delivered(tmp_path: Path) -> None:
    harness, clock = await start_stack(tmp_path / "h.db", ONE_OPERATOR)
    client = await bound_client(harness)
    try:
        resps = await submit_all(client, SFR, registered_delivery=1)
        assert all(r.command_status == 0 for r in resps)
        for _ in range(200):                                         # bounded: 20 s of simulated time
            if len(client.delivered.pending) >= len(SFR):
                break
            await advance(clock, 0.1, step=0.1)
        receipts = [parse_receipt(p) for p in drain(client)]
        assert sorted(r.message_id for r in receipts if r) == sorted(str(r["message_id"]) for r in resps)
        assert {r.stat for r in receipts if r} == {"DELIVRD"}
        assert harness.pools["sfr"].throttled > 0                    # the cap was really hit
        assert final_states(harness) == {"delivered": len(SFR)}
    finally:
        await close(client)
        await harness.stop()


MAGIC = [
    # number, simulated seconds to wait, final client stat, err
    ("+33699990000", 1, "DELIVRD", "000"),
    ("+33699990001", 1, "UNDELIV", "001"),
    ("+33699990002", 301, "DELIVRD", "000"),
    ("+33699990004", 1, "UNDELIV", "005"),
    ("+33699990005", 1, "REJECTD", "069"),
    ("+33699990006", 31, "DELIVRD", "000"),
    ("+33699990010", 30, "DELIVRD", "000"),
]


@pytest.mark.parametrize("number, wait, stat, err", MAGIC)
@pytest_twisted.ensureDeferred
async def test_magic_numbers_through_the_whole_stack(tmp_path: Path, number: str, wait: float, stat: str,
                                                     err: str) -> None:
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        # two submits, so that …10 (throttled every other submit) is throttled once
        resps = await submit_all(client, [number, number], source_addr="36180", source_addr_ton=3,
                                 registered_delivery=1)
        assert all(r.command_status == 0 for r in resps)
        operators = harness.operators.values()
        await until(lambda: sum(o.submitted for o in operators) >= 1 or bool(client.delivered.pending),
                    "the first submit at the operator", clock=clock)
        await advance(clock, wait + 1, step=0.5)
        await until(lambda: len(client.delivered.pending) >= 2, "two receipts", clock=clock)
        receipts = {r.message_id: r for r in map(parse_receipt, drain(client)) if r}
        assert set(receipts) == {str(r["message_id"]) for r in resps}
        assert {(r.stat, r.err) for r in receipts.values()} == {(stat, err)}
        assert harness.store.count_by_state()[stat_state(stat)] == 2
    finally:
        await close(client)
        await harness.stop()


def stat_state(stat: str) -> str:
    return {"DELIVRD": "delivered", "UNDELIV": "undeliverable", "REJECTD": "rejected", "EXPIRED": "expired"}[stat]


@pytest_twisted.ensureDeferred
async def test_absent_subscriber_expires_at_the_validity_period(tmp_path: Path) -> None:
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        (resp,) = await submit_all(client, ["+33699990003"], registered_delivery=1)
        await until(lambda: harness.store.count_by_state()["submitted"] == 1, "the submit", clock=clock)
        await close(client)                   # a day in big jumps: a real-time client would be idle-dropped
        await advance(clock, 86_340, step=3600)
        await settle_links(harness, clock)
        await advance(clock, 59 - (clock.seconds() - START - 86_340), step=1)
        assert harness.store.count_by_state()["submitted"] == 1      # still absent a second before 24 h
        await advance(clock, 61, step=1)
        client = await bound_client(harness)                         # the receipt waited for a bind
        await until(lambda: bool(client.delivered.pending), "the EXPIRED receipt", clock=clock, tick=0.25)
        (receipt,) = [parse_receipt(p) for p in drain(client)]
        assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "EXPIRED"
        record = harness.store.message(str(resp["message_id"]))
        assert record is not None and record.state is MessageState.EXPIRED
        # At the validity end (+ the 60 s grace and the time the links take to re-bind after
        # the day was crossed in one-hour jumps).
        assert record.done_at is not None and START + 86_400 <= record.done_at <= START + 86_400 + 300
    finally:
        await close(client)
        await harness.stop()


@pytest_twisted.ensureDeferred
async def test_client_validity_period_shorter_than_24h_is_honoured(tmp_path: Path) -> None:
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        (resp,) = await submit_all(client, ["+33699990003"], registered_delivery=1,
                                   validity_period="000000010000000R")          # one hour
        await until(lambda: harness.store.count_by_state()["submitted"] == 1, "the submit", clock=clock)
        await close(client)
        await advance(clock, 3600 - 60, step=60)
        await settle_links(harness, clock)
        await advance(clock, 121, step=1)
        client = await bound_client(harness)
        await until(lambda: bool(client.delivered.pending), "the EXPIRED receipt", clock=clock, tick=0.25)
        (receipt,) = [parse_receipt(p) for p in drain(client)]
        assert receipt is not None and receipt.stat == "EXPIRED"
        bad = await submit_all(client, ["+33612345678"], validity_period="soon")
        assert bad[0].command_status == 0x62                                   # ESME_RINVEXPIRY
    finally:
        await close(client)
        await harness.stop()


@pytest.mark.parametrize("mode", ["drop", "silent", "refuse_binds"])
@pytest_twisted.ensureDeferred
async def test_operator_outage_mid_traffic_loses_nothing(tmp_path: Path, mode: str) -> None:
    harness, clock = await start_stack(tmp_path / "h.db", ONE_OPERATOR)
    client = await bound_client(harness)
    try:
        first = await submit_all(client, SFR[:10], registered_delivery=1)
        harness.operators["sfr"].start_outage(OutageMode(mode))
        second = await submit_all(client, SFR[10:30], registered_delivery=1)
        await advance(clock, 120, step=5)                              # timeouts, reconnect attempts
        harness.operators["sfr"].end_outage()
        for _ in range(120):
            if len(client.delivered.pending) >= 30:
                break
            await advance(clock, 5, step=1)
        ids = sorted(str(r["message_id"]) for r in first + second)
        receipts = [parse_receipt(p) for p in drain(client)]
        assert sorted(r.message_id for r in receipts if r) == ids              # each exactly once
        assert final_states(harness) == {"delivered": 30}
    finally:
        await close(client)
        await harness.stop()


@pytest_twisted.ensureDeferred
async def test_mo_stop_reaches_the_owning_accounts_transceiver(tmp_path: Path) -> None:
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        harness.operators["sfr"].inject_mo("33612345678", "36180", "STOP")
        await until(lambda: bool(client.delivered.pending), "the MO", clock=clock)
        (mo,) = drain(client)
        assert mo.command is Command.deliver_sm and not is_receipt(mo)
        assert (mo["source_addr"], mo["destination_addr"], mo["short_message"]) == ("33612345678", "36180", b"STOP")
        (stored,) = harness.store.mos()
        assert stored.account == "demo" and stored.operator_id == "sfr"
    finally:
        await close(client)
        await harness.stop()


@pytest.mark.parametrize("number, keyword", [("+33699990007", b"STOP"), ("+33699990008", b"CONTACT")])
@pytest_twisted.ensureDeferred
async def test_magic_reply_reaches_the_short_code_owner(tmp_path: Path, number: str, keyword: bytes) -> None:
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        await submit_all(client, [number], source_addr="36180", source_addr_ton=3, registered_delivery=1)
        await advance(clock, 6)
        await until(lambda: len(client.delivered.pending) >= 2, "receipt and MO", clock=clock)
        mos = [p for p in drain(client) if not is_receipt(p)]
        assert [(p["source_addr"], p["destination_addr"], p["short_message"]) for p in mos] == [
            (number.lstrip("+"), "36180", keyword)]
    finally:
        await close(client)
        await harness.stop()


@pytest_twisted.ensureDeferred
async def test_mo_waits_for_a_bind_and_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    harness, clock = await start_stack(db)
    harness.operators["sfr"].inject_mo("33612345678", "36180", "CONTACT")
    await until(lambda: len(harness.store.mos()) == 1, "the MO at the aggregator", clock=clock)
    await harness.stop()
    harness, clock = await start_stack(db, clock=clock)
    client = await bound_client(harness)
    try:
        await until(lambda: bool(client.delivered.pending), "the queued MO", clock=clock)
        (mo,) = drain(client)
        assert mo["short_message"] == b"CONTACT"
    finally:
        await close(client)
        await harness.stop()


@pytest_twisted.ensureDeferred
async def test_restart_resumes_unfinished_messages(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    harness, clock = await start_stack(db, ONE_OPERATOR)
    client = await bound_client(harness)
    harness.operators["sfr"].start_outage(OutageMode.REFUSE_BINDS)
    resps = await submit_all(client, SFR[:12], registered_delivery=1)
    await advance(clock, 10)
    await until(lambda: harness.store.count_by_state()["accepted"] == 12, "12 accepted, none delivered", clock=clock)
    await close(client)
    await harness.stop()                                                # the stack goes down

    harness, clock = await start_stack(db, ONE_OPERATOR, clock=clock)  # same database, new operators
    client = await bound_client(harness)
    try:
        for _ in range(100):
            if len(client.delivered.pending) >= 12:
                break
            await advance(clock, 1)
        receipts = [parse_receipt(p) for p in drain(client)]
        assert sorted(r.message_id for r in receipts if r) == sorted(str(r["message_id"]) for r in resps)
        assert final_states(harness) == {"delivered": 12}
    finally:
        await close(client)
        await harness.stop()


@pytest_twisted.ensureDeferred
async def test_lost_receipt_is_settled_by_query_sm_at_the_validity_end(tmp_path: Path) -> None:
    """…09: the operator never sends the receipt; 60 s after the validity end the aggregator
    asks with query_sm and reports what the operator says (delivered)."""
    harness, clock = await start_stack(tmp_path / "h.db")
    client = await bound_client(harness)
    try:
        (resp,) = await submit_all(client, ["+33699990009"], registered_delivery=1)
        await until(lambda: harness.store.count_by_state()["submitted"] == 1, "the submit", clock=clock)
        await close(client)
        await advance(clock, 86_340, step=3600)
        await settle_links(harness, clock)
        await advance(clock, 118 - (clock.seconds() - START - 86_340), step=1)
        assert harness.store.count_by_state()["submitted"] == 1          # still waiting for a receipt
        await advance(clock, 5, step=1)
        client = await bound_client(harness)
        await until(lambda: bool(client.delivered.pending), "the receipt", clock=clock, tick=0.25)
        (receipt,) = [parse_receipt(p) for p in drain(client)]
        assert receipt is not None and receipt.message_id == resp["message_id"] and receipt.stat == "DELIVRD"
        assert harness.store.receipts(str(resp["message_id"])) == []      # no operator receipt ever came
    finally:
        await close(client)
        await harness.stop()
