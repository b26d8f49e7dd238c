"""R10 credit on the virtual network: an account's `credit` (SMS segments) is billed at
acceptance, refuses submits beyond it with RULE_NO_CREDIT (0x404), and is not refilled by a
restart."""

from __future__ import annotations

from pathlib import Path

from smsc.pdu.codec import Tag, Tlv
from smsc.pdu.status import CommandStatus
from tests.support.memstack import MemStack

NETWORK = """
operators:
  - id: sfr
    name: SFR
    carriers: [SFR]
    smsc:
      outcomes: [{stat: UNDELIV, err: "001", weight: 1}]
      receipt_delay: {fixed: 0}
      subscribers: []
      replies: []
accounts:
  - {system_id: demo, password: demo, credit: CREDIT}
  - {system_id: free, password: free}
routing:
  mvno_hosts: {}
"""

SFR = [f"+3361234{n:04d}" for n in range(40)]       # SFR range
UNROUTABLE = "+33700000000"                          # not a valid number: ESME_RINVDSTADR


def network(credit: int) -> str:
    return NETWORK.replace("CREDIT", str(credit))


def statuses(resps: list) -> list[int]:  # type: ignore[type-arg]
    return [r.command_status for r in resps]


def test_credit_3_accepts_3_refuses_the_4th_and_a_restart_keeps_it_spent(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", network(3))
    client = stack.client()
    free = stack.client(system_id="free", password="free")
    resps = stack.submit_all(client, SFR[:2])
    assert statuses(resps) == [0, 0]
    (unroutable,) = stack.submit_all(client, [UNROUTABLE])               # refused by routing: not billed
    assert unroutable.command_status == CommandStatus.ESME_RINVDSTADR
    resps = stack.submit_all(client, SFR[2:4])
    assert statuses(resps) == [0, CommandStatus.RULE_NO_CREDIT]
    assert stack.harness.server.rules.credit.remaining("demo") == 0
    assert stack.store.count_refusals(account="demo", rule="credit") == 1
    assert statuses(stack.submit_all(free, SFR[:5])) == [0] * 5           # an account without credit is not limited
    assert [m.account for m in stack.store.messages()].count("demo") == 3
    stack.close(client)
    stack.close(free)

    stack = stack.restart()                                               # same SQLite file
    client = stack.client()
    (resp,) = stack.submit_all(client, SFR[5:6])
    assert resp.command_status == CommandStatus.RULE_NO_CREDIT
    assert stack.harness.server.rules.credit.remaining("demo") == 0
    assert [m.account for m in stack.store.messages()].count("demo") == 3
    stack.stop()


def test_long_messages_cost_several_segments_and_a_restart_resumes_the_balance(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", network(6))
    client = stack.client()
    (long,) = stack.submit_all(client, SFR[:1], text=b"a" * 161)          # GSM 7-bit: 2 segments
    assert long.command_status == 0
    (ucs2,) = stack.submit_all(client, SFR[1:2], text="é".encode("utf-16-be") * 70, data_coding=8)  # 140 octets: 1
    assert ucs2.command_status == 0
    assert stack.harness.server.rules.credit.remaining("demo") == 3
    stack.close(client)

    stack = stack.restart()
    client = stack.client()
    assert stack.harness.server.rules.credit.remaining("demo") == 3  # 3 billed before the restart
    payload = (Tlv(Tag.message_payload, b"p" * 307),)                     # ceil(307 / 153) = 3 > 2 left later
    (one,) = stack.submit_all(client, SFR[2:3])
    assert one.command_status == 0
    (too_long,) = stack.submit_all(client, SFR[3:4], text=b"", tlvs=payload)
    assert too_long.command_status == CommandStatus.RULE_NO_CREDIT       # refused whole, not billed
    (two,) = stack.submit_all(client, SFR[4:5], text=b"b" * 250)           # 2 segments: exactly what is left
    assert two.command_status == 0
    (last,) = stack.submit_all(client, SFR[5:6], text=b"")
    assert last.command_status == CommandStatus.RULE_NO_CREDIT
    assert stack.harness.server.rules.credit.remaining("demo") == 0
    assert stack.store.count_refusals(account="demo", rule="credit") == 2
    assert len(stack.store.messages()) == 4
    stack.stop()


LAPSING = NETWORK.replace("credit: CREDIT}", "credit: 10, rules: {credit: {validity: 86400, prices: {sfr: 0.03}}}}")
DAY = 86400.0


def test_the_credit_lapses_at_its_instant_and_stays_lapsed_across_a_restart(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", LAPSING)
    started = stack.clock.seconds()
    credit = stack.harness.server.rules.credit
    assert credit.lapses_at("demo") == started + DAY and credit.lapses_at("free") is None
    client = stack.client()
    assert statuses(stack.submit_all(client, SFR[:1])) == [0]
    stack.run_to(started + DAY - 1)
    assert statuses(stack.submit_all(client, SFR[1:2])) == [0]            # the validity's last second
    assert stack.store.rule_events("credit") == []
    stack.run_to(started + DAY)
    (lapse,) = stack.store.rule_events("credit")
    assert (lapse.action, lapse.account, lapse.at, lapse.facts["lost"]) == ("lapse", "demo", started + DAY, 8)
    assert statuses(stack.submit_all(client, SFR[2:3])) == [CommandStatus.RULE_NO_CREDIT]
    (refusal,) = stack.store.refusals()
    assert refusal.rule == "credit" and refusal.reason.startswith("prepaid credit lapsed at ")
    assert stack.store.sum_ledger("amount", "demo") == 0.06                 # 2 x 1 segment at SFR's 0.03
    stack.close(client)

    stack.run(DAY)
    stack = stack.restart()                                               # same file, a day later
    client = stack.client()
    assert statuses(stack.submit_all(client, SFR[3:4])) == [CommandStatus.RULE_NO_CREDIT]
    assert [e.action for e in stack.store.rule_events("credit")] == ["lapse", "refuse", "refuse"]
    assert stack.store.credits() == {"demo": (10, started, 8, True)}
    stack.close(client)
    stack.stop()
    stack.run(1)                                                          # the store's last scheduled flush
    assert stack.clock.getDelayedCalls() == [], "a lapse timer outlived the harness"


def test_stopping_the_harness_cancels_the_lapse_timer(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", LAPSING)
    assert any(c.getTime() == stack.clock.seconds() + DAY for c in stack.clock.getDelayedCalls())
    stack.stop()
    stack.run(1)                                                          # the store's last scheduled flush
    assert stack.clock.getDelayedCalls() == []
