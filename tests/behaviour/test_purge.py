"""R2 purge on the virtual network: an operator that refuses unknown subscribers at submit
(`unknown_subscriber: submit_error`) and one that says so in the receipt both feed the count;
a restart in between keeps counting (the store rebuilds it); the purged number is refused
RULE_PURGED before any operator sees it, and the refusal is kept with its rule."""

from __future__ import annotations

from pathlib import Path

from aggregator.rules.settings import DAY
from aggregator.store import MessageState
from smsc.pdu.status import CommandStatus
from tests.support.memstack import MemStack

NETWORK = """
operators:
  - id: sfr
    name: SFR
    carriers: [SFR]
    smsc:
      unknown_subscriber: submit_error          # refused at submit with its unknown_status
      unknown_status: ESME_RINVDSTADR
      receipt_delay: {fixed: 2}
      numbers: {"+33612340001": unknown, "+33612340002": terminated}
      subscribers: []
      replies: []
accounts:
  - {system_id: demo, password: demo}
  - {system_id: other, password: other}
routing:
  mvno_hosts: {}
"""

UNKNOWN, TERMINATED, ACTIVE = "+33612340001", "+33612340002", "+33612340003"


def test_unknown_at_submit_twice_across_a_restart_purges_then_refuses(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", NETWORK)
    client = stack.client()
    (resp,) = stack.submit_all(client, [UNKNOWN], registered_delivery=1)
    assert resp.command_status == CommandStatus.ESME_ROK           # the aggregator accepts, sfr refuses
    stack.until(lambda: stack.store.count_messages(MessageState.REJECTED) == 1, "sfr's refusal")
    first_at = stack.clock.seconds()
    assert stack.store.purges() == []
    stack.close(client)

    stack = stack.restart()
    stack.run_to(first_at + 29 * DAY)
    client = stack.client()
    (resp,) = stack.submit_all(client, [UNKNOWN], registered_delivery=1)
    assert resp.command_status == CommandStatus.ESME_ROK
    stack.until(lambda: stack.store.purges() != [], "the purge")
    purged_at = stack.clock.seconds()
    [(account, number, at, reason)] = stack.store.purges()
    assert (account, number, at) == ("demo", UNKNOWN, purged_at)
    assert "2 unknown-subscriber failures within 30 d" in reason
    [event] = stack.store.rule_events(rule="purge")
    assert [(f["at"], f["stat"], f["err"], f["operator"]) for f in event.facts["failures"]] == [
        (first_at, "REJECTD", "011", "sfr"), (purged_at, "REJECTD", "011", "sfr")]

    sfr = stack.operator("sfr")
    seen = sfr.submitted + sfr.refused
    (resp,) = stack.submit_all(client, [UNKNOWN])
    assert resp.command_status == CommandStatus.RULE_PURGED
    stack.run(60)
    assert sfr.submitted + sfr.refused == seen                     # refused before the operator
    [refusal] = stack.store.refusals()
    assert (refusal.account, refusal.msisdn, refusal.status, refusal.rule) == (
        "demo", UNKNOWN, CommandStatus.RULE_PURGED, "purge")
    assert stack.store.count_messages(account="demo") == 2          # the refused one was not accepted
    assert stack.store.count_ledger("demo") == 2                    # nor billed

    other = stack.client(system_id="other", password="other")
    (resp,) = stack.submit_all(other, [UNKNOWN])                    # another account's list
    assert resp.command_status == CommandStatus.ESME_ROK
    stack.close(client)
    stack.close(other)
    stack.stop()


def test_a_terminated_line_by_receipt_purges_at_once(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", NETWORK)
    client = stack.client()
    (resp, active) = stack.submit_all(client, [TERMINATED, ACTIVE], registered_delivery=1)
    assert resp.command_status == active.command_status == CommandStatus.ESME_ROK
    accepted_at = stack.clock.seconds()
    stack.until(lambda: stack.store.purges() != [], "the purge")
    assert stack.clock.seconds() == accepted_at + 2                  # the receipt's fixed delay
    [(account, number, _, reason)] = stack.store.purges()
    assert (account, number) == ("demo", TERMINATED) and "line terminated" in reason
    (resp, active) = stack.submit_all(client, [TERMINATED, ACTIVE])
    assert (resp.command_status, active.command_status) == (CommandStatus.RULE_PURGED, CommandStatus.ESME_ROK)
    stack.close(client)
    stack.stop()


def test_an_accounts_own_threshold(tmp_path: Path) -> None:
    network = NETWORK.replace("{system_id: demo, password: demo}",
                              "{system_id: demo, password: demo, rules: {purge: {threshold: 3}}}")
    stack = MemStack.start(tmp_path / "h.db", network)
    client = stack.client()
    for _ in range(2):
        stack.submit_all(client, [UNKNOWN])
        stack.run(60)
    assert stack.store.purges() == []
    stack.submit_all(client, [UNKNOWN])
    stack.run(60)
    assert [p[1] for p in stack.store.purges()] == [UNKNOWN]
    stack.close(client)
    stack.stop()
