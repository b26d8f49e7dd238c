"""R8 duplicate (aggregator/rules/duplicate.py): one message per destination per campaign id of
an account, and per submit_multi; memory of a campaign bounded by `memory`; rebuilt after a
restart from the store."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from aggregator.config import AccountConfig
from aggregator.rules.base import Submit
from aggregator.rules.duplicate import SWEEP_EVERY, DuplicateRule
from aggregator.rules.pipeline import Rules
from aggregator.rules.settings import DAY, DuplicateSettings, RulesConfig
from aggregator.store import MessageRecord, MessageState, Store
from smsc.pdu.status import CommandStatus

T0 = 1_767_225_600.0          # 2026-01-01T00:00:00Z
SETTINGS = RulesConfig()
A, B = "+33612345678", "+33698765432"


def submit(msisdn: str = A, campaign: str | None = "spring", account: str = "acme", at: float = T0,
           multi: int | None = None) -> Submit:
    return Submit(account, msisdn, "orange", "FR", campaign, False, 1, at, multi)


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(T0)
    return c


@pytest.fixture
def store() -> Store:
    return Store(":memory:")


@pytest.fixture
def rule(clock: Clock, store: Store) -> DuplicateRule:
    return DuplicateRule(clock, store)


def test_a_destination_once_per_campaign(rule: DuplicateRule) -> None:
    assert rule.check(submit(), SETTINGS) is None
    assert rule.accepted(submit(), "0000000000000001", SETTINGS) == []     # bills nothing itself
    refusal = rule.check(submit(at=T0 + 60), SETTINGS)
    assert refusal is not None
    assert (refusal.rule, refusal.status) == ("duplicate", CommandStatus.RULE_DUPLICATE)
    assert "spring" in refusal.reason and "0000000000000001" in refusal.reason
    assert rule.check(submit(B), SETTINGS) is None                          # another number


def test_only_accepted_destinations_are_remembered(rule: DuplicateRule) -> None:
    # Checked (then refused by a later rule, or never accepted): it may come again.
    assert rule.check(submit(), SETTINGS) is None
    assert rule.check(submit(), SETTINGS) is None


@pytest.mark.parametrize("other", [
    submit(campaign="summer"),           # another campaign
    submit(account="other"),             # the same campaign id of another account
    submit(campaign=None),               # no campaign at all
])
def test_other_sends_are_not_duplicates(rule: DuplicateRule, other: Submit) -> None:
    rule.accepted(submit(), "0000000000000001", SETTINGS)
    assert rule.check(other, SETTINGS) is None


def test_without_campaign_nothing_is_remembered(rule: DuplicateRule) -> None:
    rule.accepted(submit(campaign=None), "0000000000000001", SETTINGS)
    assert rule.check(submit(campaign=None), SETTINGS) is None
    assert rule.campaigns() == 0


def test_twice_in_one_submit_multi(rule: DuplicateRule) -> None:
    assert rule.check(submit(campaign=None, multi=1), SETTINGS) is None
    rule.accepted(submit(campaign=None, multi=1), "0000000000000001", SETTINGS)
    assert rule.check(submit(B, campaign=None, multi=1), SETTINGS) is None
    refusal = rule.check(submit(campaign=None, multi=1), SETTINGS)
    assert refusal is not None and refusal.status == CommandStatus.RULE_DUPLICATE
    assert "submit_multi" in refusal.reason
    # The next submit_multi is another send; a plain submit_sm is no submit_multi.
    assert rule.check(submit(campaign=None, multi=2), SETTINGS) is None
    assert rule.check(submit(campaign=None), SETTINGS) is None


def test_a_submit_multi_in_a_campaign_meets_the_campaign(rule: DuplicateRule) -> None:
    rule.accepted(submit(), "0000000000000001", SETTINGS)
    refusal = rule.check(submit(multi=7), SETTINGS)
    assert refusal is not None and "campaign spring" in refusal.reason


def test_a_campaign_is_forgotten_after_memory_unused(rule: DuplicateRule) -> None:
    memory = SETTINGS.duplicate.memory
    rule.accepted(submit(), "0000000000000001", SETTINGS)
    # Just inside the memory: still the same send (and that use restarts the memory).
    assert rule.check(submit(at=T0 + memory - 1), SETTINGS) is not None
    assert rule.check(submit(at=T0 + 2 * memory - 2), SETTINGS) is not None
    # Exactly `memory` after its last use: forgotten, a new send.
    assert rule.check(submit(at=T0 + 3 * memory - 2), SETTINGS) is None
    assert rule.campaigns() == 0


def test_memory_is_per_account(rule: DuplicateRule) -> None:
    short = RulesConfig(duplicate=DuplicateSettings(memory=DAY))
    rule.accepted(submit(account="long"), "0000000000000001", SETTINGS)
    rule.accepted(submit(account="short"), "0000000000000002", short)
    later = T0 + 2 * DAY
    assert rule.check(submit(account="short", at=later), short) is None
    # The sweep that dropped "short" keeps "long", whose memory is 7 days.
    assert rule.check(submit(account="long", at=later), SETTINGS) is not None


def test_unused_campaigns_are_swept_out(rule: DuplicateRule) -> None:
    short = RulesConfig(duplicate=DuplicateSettings(memory=DAY))
    for i in range(100):
        rule.accepted(submit(campaign=f"c{i}"), f"{i + 1:016x}", short)
    assert rule.campaigns() == 100
    rule.check(submit(campaign="new", at=T0 + DAY + SWEEP_EVERY), short)
    assert rule.campaigns() == 0


def test_three_spellings_are_one_destination(rule: DuplicateRule) -> None:
    # The server hands the rule the routed E.164 number, whatever the client wrote.
    rule.accepted(submit("+33612345678"), "0000000000000001", SETTINGS)
    assert rule.check(submit("+33612345678"), SETTINGS) is not None


def message(id: str, campaign: str | None, msisdn: str, at: float, account: str = "acme") -> MessageRecord:
    return MessageRecord(id=id, account=account, source_addr="ACME", source_addr_ton=5, destination_addr=msisdn,
                         operator_id="orange", operator_message_id=None, state=MessageState.ACCEPTED,
                         registered_delivery=0, data_coding=0, esm_class=0, short_message=b"hi", created_at=at,
                         campaign=campaign)


def test_restart_rebuilds_campaigns_from_the_store(clock: Clock, store: Store) -> None:
    store.add_message(message("0000000000000001", "spring", A, T0 - 3 * DAY))
    store.add_message(message("0000000000000002", "spring", B, T0 - DAY))
    store.add_message(message("0000000000000003", "old", A, T0 - 8 * DAY))     # unused for > 7 days
    store.add_message(message("0000000000000004", None, B, T0))                # no campaign
    store.add_message(message("0000000000000005", "spring", A, T0 - DAY, account="off"))
    accounts = [AccountConfig("acme", "x"), AccountConfig("off", "x", rules={"duplicate": {"enabled": False}})]
    rules = Rules(RulesConfig(), accounts, clock, store)
    assert rules.restore_duplicates(store) == 1
    # The campaign used a day ago keeps both its destinations, the first one too.
    refusal = rules.check(submit(A))
    assert refusal is not None and "0000000000000001" in refusal.reason
    assert rules.check(submit(B)) is not None
    assert rules.check(submit(A, campaign="old")) is None
    assert rules.check(submit(A, account="off")) is None


def test_campaign_destinations_since(store: Store) -> None:
    store.add_message(message("0000000000000001", "spring", A, T0 - 9 * DAY))
    store.add_message(message("0000000000000002", "spring", B, T0 - DAY))
    store.add_message(message("0000000000000003", "old", A, T0 - 8 * DAY))
    assert store.campaign_destinations(since=T0 - 7 * DAY) == [
        ("acme", "spring", A, "0000000000000001", T0 - 9 * DAY),
        ("acme", "spring", B, "0000000000000002", T0 - DAY),
    ]
    assert len(store.campaign_destinations()) == 3


def test_the_pipeline_records_the_refusal_once(clock: Clock, store: Store) -> None:
    rules = Rules(RulesConfig(), [AccountConfig("acme", "x")], clock, store)
    assert rules.check(submit()) is None
    rules.accepted(submit(), "0000000000000001")
    refusal = rules.check(submit())
    assert refusal is not None and refusal.rule == "duplicate"
    events = store.rule_events("duplicate")
    assert [(e.action, e.number, e.campaign) for e in events] == [("refuse", A, "spring")]
    assert events[0].facts["status"] == "RULE_DUPLICATE"


def test_switched_off_for_an_account(clock: Clock, store: Store) -> None:
    rules = Rules(RulesConfig(), [AccountConfig("acme", "x", rules={"duplicate": {"enabled": False}})], clock, store)
    rules.accepted(submit(), "0000000000000001")
    assert rules.check(submit()) is None
