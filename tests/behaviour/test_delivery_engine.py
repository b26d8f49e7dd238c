"""Issue 4, aggregator side, on the virtual network: retries, validity, outages, MO routing,
queued deliveries and restart resumption. Every message ends in one final state.

Submits are answered at START (links carry bytes in zero simulated time), so each time below is
the operator model's (aggregator/default_network.yaml `test_numbers`) or the delivery engine's
(R9 validity, RECEIPT_GRACE) to the millisecond.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.delivery import RECEIPT_GRACE
from aggregator.store import MessageState
from smsc.operators.profile import OutageMode
from smsc.pdu.codec import Command
from smsc.pdu.receipt import is_receipt
from smsc.pdu.status import CommandStatus
from tests.support.memstack import START, MemStack

DAY = 86_400.0

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


def final_states(stack: MemStack) -> dict[str, int]:
    return {k: v for k, v in stack.store.count_by_state().items() if v}


def ids(resps: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(str(r["message_id"]) for r in resps)


def test_operator_cap_throttles_and_every_message_is_finally_delivered(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", ONE_OPERATOR)
    client = stack.client()
    resps = stack.submit_all(client, SFR, registered_delivery=1)
    assert all(r.command_status == 0 for r in resps)
    stack.until(lambda: client.receipt_count >= len(SFR), "40 receipts", limit=20)
    stack.run(600)                                                   # a duplicate would come by now
    receipts = client.receipts()
    assert sorted(r.message_id for r in receipts) == ids(resps)      # each exactly once
    assert {r.stat for r in receipts} == {"DELIVRD"}
    assert stack.harness.pools["sfr"].throttled > 0                  # the cap was really hit
    assert final_states(stack) == {"delivered": len(SFR)}
    stack.stop()


MAGIC = [
    # number, simulated seconds from the submit to each of the two receipts, client stat, err
    ("+33699990000", (0, 0), "DELIVRD", "000"),                      # delay 0
    ("+33699990001", (1, 1), "UNDELIV", "001"),                      # unknown, delay 1
    ("+33699990002", (300, 300), "DELIVRD", "000"),                  # absent, back 300 s after the submit
    ("+33699990004", (1, 1), "UNDELIV", "005"),                      # terminated, delay 1
    ("+33699990005", (0, 0), "REJECTD", "069"),                      # ESME_RSUBMITFAIL (0x45) at submit
    ("+33699990006", (30, 30), "DELIVRD", "000"),                    # delay 30
    # delay 1, every 2nd submit throttled: the pool pauses PAUSE_FIRST (0.1 s) and sends it again
    ("+33699990010", (1, 1.1), "DELIVRD", "000"),
]


@pytest.mark.parametrize("number, after, stat, err", MAGIC, ids=[m[0] for m in MAGIC])
def test_magic_numbers_through_the_whole_stack(tmp_path: Path, number: str, after: tuple[float, float],
                                               stat: str, err: str) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    # two submits, so that …10 (throttled every other submit) is throttled once
    resps = stack.submit_all(client, [number, number], source_addr="36180", source_addr_ton=3,
                             registered_delivery=1)
    assert all(r.command_status == 0 for r in resps)
    assert stack.clock.seconds() == START
    stack.run(max(after) + 60)
    got = client.receipts_at()
    assert sorted(r.message_id for _, r in got) == ids(resps)          # one each
    assert {(r.stat, r.err) for _, r in got} == {(stat, err)}
    assert sorted(round(at - START, 6) for at, _ in got) == list(after)
    assert stack.store.count_by_state()[stat_state(stat)] == 2
    stack.stop()


def stat_state(stat: str) -> str:
    return {"DELIVRD": "delivered", "UNDELIV": "undeliverable", "REJECTD": "rejected", "EXPIRED": "expired"}[stat]


def test_absent_subscriber_expires_at_the_validity_period(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    (resp,) = stack.submit_all(client, ["+33699990003"], registered_delivery=1)
    message_id = str(resp["message_id"])
    assert stack.store.count_by_state()["submitted"] == 1
    stack.close(client)                     # the receipt will wait for a bind
    # The operator got the aggregator's validity (24 h from acceptance at START) and reports
    # EXPIRED when it ends; the aggregator records it at that very time.
    stack.run_to(START + DAY - 0.001)
    assert stack.store.count_by_state()["submitted"] == 1           # still absent just before 24 h
    stack.run_to(START + DAY)
    record = stack.store.message(message_id)
    assert record is not None and record.state is MessageState.EXPIRED and record.done_at == START + DAY
    stack.run(61)
    client = stack.client()                                          # the receipt waited for a bind
    stack.run(0)
    assert [(at, r.message_id, r.stat) for at, r in client.receipts_at()] == [
        (START + DAY + 61, message_id, "EXPIRED")]
    stack.stop()


def test_client_validity_period_shorter_than_24h_is_honoured(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    (resp,) = stack.submit_all(client, ["+33699990003"], registered_delivery=1,
                               validity_period="000000010000000R")              # one hour
    stack.close(client)
    stack.run_to(START + 3600 - 0.001)
    assert stack.store.count_by_state()["submitted"] == 1
    stack.run_to(START + 3600)
    record = stack.store.message(str(resp["message_id"]))
    assert record is not None and record.state is MessageState.EXPIRED and record.done_at == START + 3600
    stack.run(61)
    client = stack.client()
    stack.run(0)
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(resp["message_id"], "EXPIRED")]
    bad = stack.submit_all(client, ["+33612345678"], validity_period="soon")
    assert bad[0].command_status == CommandStatus.ESME_RINVEXPIRY                # 0x62
    stack.stop()


@pytest.mark.parametrize("mode", ["drop", "silent", "refuse_binds"])
def test_operator_outage_mid_traffic_loses_nothing(tmp_path: Path, mode: str) -> None:
    stack = MemStack.start(tmp_path / "h.db", ONE_OPERATOR)
    client = stack.client()
    sfr = stack.operator("sfr")
    first = stack.submit_all(client, SFR[:10], registered_delivery=1)
    sfr.start_outage(OutageMode(mode))
    second = stack.submit_all(client, SFR[10:30], registered_delivery=1)
    stack.run(120)                                                   # timeouts, reconnect attempts
    during = len(client.receipts())
    sfr.end_outage()
    ended = stack.clock.seconds()
    stack.until(lambda: client.receipt_count >= 30, "30 receipts", limit=600)
    stack.run(600)                                                   # a duplicate would come by now
    got = client.receipts_at()
    assert sorted(r.message_id for _, r in got) == ids(first + second)    # each exactly once
    # Nothing is delivered while the operator is out: before the outage, or after it.
    assert all(at == START or at >= ended for at, _ in got) and during == len([a for a, _ in got if a == START])
    assert final_states(stack) == {"delivered": 30}
    stack.stop()


def test_mo_stop_reaches_the_owning_accounts_transceiver(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    stack.operator("sfr").inject_mo("33612345678", "36180", "STOP")
    stack.run(0)                                                     # at once: no delay on the way
    ((at, mo),) = client.delivered
    assert at == START and mo.command is Command.deliver_sm and not client.receipts()
    assert (mo["source_addr"], mo["destination_addr"], mo["short_message"]) == ("33612345678", "36180", b"STOP")
    (stored,) = stack.store.mos()
    assert stored.account == "demo" and stored.operator_id == "sfr" and stored.received_at == START
    stack.stop()


@pytest.mark.parametrize("number, keyword", [("+33699990007", b"STOP"), ("+33699990008", b"CONTACT")])
def test_magic_reply_reaches_the_short_code_owner(tmp_path: Path, number: str, keyword: bytes) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    (resp,) = stack.submit_all(client, [number], source_addr="36180", source_addr_ton=3, registered_delivery=1)
    stack.run(60)
    assert [(at, r.message_id, r.stat) for at, r in client.receipts_at()] == [
        (START + 1, resp["message_id"], "DELIVRD")]                  # delay 1
    mos = [(at, p) for at, p in client.delivered if not is_receipt(p)]
    # R1 confirms the STOP with an MT from 36180, which the handset answers with STOP again (the
    # last: R1 does not confirm a number twice); demo has no identity, so R11 sends no reply.
    replies = 2 if keyword == b"STOP" else 1
    assert [(p["source_addr"], p["destination_addr"], p["short_message"]) for _, p in mos] == [
        (number.lstrip("+"), "36180", keyword)] * replies
    # the reply's delay is drawn (uniform 1 to 4 s after the delivery) from the operator's seeded stream
    assert START + 1 + 1 <= mos[0][0] <= START + 1 + 4
    stack.stop()


def test_mo_waits_for_a_bind_and_survives_a_restart(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db")
    stack.operator("sfr").inject_mo("33612345678", "36180", "CONTACT")
    stack.until(lambda: len(stack.store.mos()) == 1, "the MO at the aggregator")
    stack = stack.restart()
    stack.run(10)
    client = stack.client()
    bound_at = stack.clock.seconds()
    stack.run(0)
    assert [(at, p["short_message"]) for at, p in client.delivered] == [(bound_at, b"CONTACT")]
    stack.stop()


def test_restart_resumes_unfinished_messages(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", ONE_OPERATOR)
    client = stack.client()
    stack.operator("sfr").start_outage(OutageMode.REFUSE_BINDS)
    resps = stack.submit_all(client, SFR[:12], registered_delivery=1)
    stack.run(10)
    assert final_states(stack) == {"accepted": 12}                   # 12 accepted, none delivered
    stack.close(client)
    stack = stack.restart()                                          # same database, new operators
    client = stack.client()
    stack.until(lambda: client.receipt_count >= 12, "12 receipts", limit=100)
    stack.run(600)                                                   # a duplicate would come by now
    assert sorted(r.message_id for r in client.receipts()) == ids(resps)
    assert final_states(stack) == {"delivered": 12}
    stack.stop()


def test_lost_receipt_is_settled_by_query_sm_at_the_validity_end(tmp_path: Path) -> None:
    """…09: the operator never sends the receipt; RECEIPT_GRACE (60 s) after the validity end
    the aggregator asks with query_sm and reports what the operator says (delivered)."""
    stack = MemStack.start(tmp_path / "h.db")
    client = stack.client()
    (resp,) = stack.submit_all(client, ["+33699990009"], registered_delivery=1)
    message_id = str(resp["message_id"])
    stack.close(client)
    asked_at = START + DAY + RECEIPT_GRACE
    stack.run_to(asked_at - 0.001)
    assert stack.store.count_by_state()["submitted"] == 1            # still waiting for a receipt
    stack.run_to(asked_at)
    record = stack.store.message(message_id)
    assert record is not None and record.state is MessageState.DELIVERED and record.done_at == asked_at
    stack.run(5)
    client = stack.client()
    stack.run(0)
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(message_id, "DELIVRD")]
    assert stack.store.receipts(message_id) == []                    # no operator receipt ever came
    stack.stop()
