"""R2 purge (aggregator/rules/purge.py): counts, the window's exact boundary, the threshold,
the reset option, accounts apart, repeated reports, bounded memory, and the rebuild from the
store after a restart (a Store on a file, closed and reopened)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from aggregator.rules.base import Outcome, RuleEvent, Submit
from aggregator.rules.pipeline import Rules
from aggregator.rules.purge import PurgeRule
from aggregator.rules.settings import DAY, PurgeSettings, RulesConfig
from aggregator.store import MessageRecord, MessageState, Store
from smsc.pdu.status import CommandStatus

NUMBER = "+33699990001"
OTHER = "+33611223344"
INVDSTADR = int(CommandStatus.ESME_RINVDSTADR)
STATUSES = {"orange": INVDSTADR, "sfr": INVDSTADR, "free": int(CommandStatus.ESME_RSUBMITFAIL)}


class FakeLog:
    """A RuleLog in lists (what the store would keep)."""

    def __init__(self, purged: list[tuple[str, str, float, str]] | None = None,
                 failures: list[Outcome] | None = None) -> None:
        self.events: list[RuleEvent] = []
        self.purged: list[tuple[str, str, float, str]] = list(purged or [])
        self.failures = list(failures or [])
        self.asked: list[tuple[float, dict[str, int], bool]] = []

    def add_rule_event(self, event: RuleEvent) -> None:
        self.events.append(event)

    def rule_events(self, rule: str | None = None, account: str | None = None) -> list[RuleEvent]:
        return [e for e in self.events if rule in (None, e.rule) and account in (None, e.account)]

    def set_optout(self, account: str, number: str, at: float, how: str) -> None:
        raise AssertionError("purge never opts out")

    def remove_optout(self, account: str, number: str) -> None:
        raise AssertionError("purge never opts out")

    def optouts(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        return []

    def add_purge(self, account: str, number: str, at: float, reason: str) -> None:
        self.purged.append((account, number, at, reason))

    def purges(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        return [p for p in self.purged if account in (None, p[0])]

    def unknown_failures(self, since: float, unknown_statuses: Mapping[str, int],
                         deliveries: bool = False) -> list[Outcome]:
        self.asked.append((since, dict(unknown_statuses), deliveries))
        return [o for o in self.failures if o.at > since]


def settings(**purge: Any) -> RulesConfig:
    return RulesConfig().overridden({"purge": purge} if purge else {})


_ids = iter(range(1, 10**6))


def outcome(at: float, *, account: str = "shop", number: str = NUMBER, stat: str = "UNDELIV", err: str = "001",
            error_code: int | None = None, operator: str = "orange", message_id: str | None = None,
            campaign: str | None = None) -> Outcome:
    if error_code is None and stat != "REJECTD" and err.isdigit():
        error_code = int(err)                                  # as the delivery engine reports a receipt
    return Outcome(account, number, operator, message_id or f"m{next(_ids):05d}", campaign, stat, err, error_code, at)


def submit(at: float, account: str = "shop", number: str = NUMBER) -> Submit:
    return Submit(account, number, "orange", "FR", None, False, 1, at)


def make(log: FakeLog | None = None, clock: Clock | None = None, **purge: Any) -> tuple[PurgeRule, FakeLog, Clock]:
    log = log or FakeLog()
    clock = clock or Clock()
    rule = PurgeRule(clock, log, STATUSES, {}, settings(**purge))
    return rule, log, clock


def feed(rule: PurgeRule, clock: Clock, result: Outcome, **purge: Any) -> None:
    """An outcome as the delivery engine reports it: at the clock's time."""
    if result.at > clock.seconds():
        clock.advance(result.at - clock.seconds())
    rule.outcome(result, settings(**purge))


def purge_events(log: FakeLog) -> list[RuleEvent]:
    return [e for e in log.events if e.action == "purge"]


# --- the count and the purge ---------------------------------------------------------


def test_second_unknown_subscriber_failure_purges_and_names_both() -> None:
    rule, log, clock = make()
    first, second = outcome(100.0, message_id="a1", campaign="c7"), outcome(5 * DAY, message_id="a2", campaign="c7")
    feed(rule, clock, first)
    assert not rule.is_purged("shop", NUMBER) and log.purged == [] and log.events == []
    assert rule.check(submit(200.0), settings()) is None
    feed(rule, clock, second)
    assert rule.is_purged("shop", NUMBER)
    assert [(a, n, at) for a, n, at, _ in log.purged] == [("shop", NUMBER, 5 * DAY)]
    [event] = purge_events(log)
    assert (event.rule, event.account, event.number, event.campaign, event.message_id, event.at) == (
        "purge", "shop", NUMBER, "c7", "a2", 5 * DAY)
    assert event.facts["cause"] == "unknown" and event.facts["threshold"] == 2
    assert [(f["message_id"], f["at"], f["operator"], f["stat"], f["err"]) for f in event.facts["failures"]] == [
        ("a1", 100.0, "orange", "UNDELIV", "001"), ("a2", 5 * DAY, "orange", "UNDELIV", "001")]
    assert event.facts["failures"][0]["time"] == "1970-01-01T00:01:40.000Z"
    refusal = rule.check(submit(6 * DAY), settings())
    assert refusal is not None and refusal.rule == "purge" and refusal.status is CommandStatus.RULE_PURGED
    assert NUMBER in refusal.reason and "a1, a2" in refusal.reason
    assert rule.counting() == {}                               # a purged number is not counted any more


def test_no_refuse_event_of_its_own() -> None:
    """The pipeline records `refuse`; the rule itself only records `purge`."""
    rule, log, clock = make(threshold=1)
    feed(rule, clock, outcome(1.0), threshold=1)
    assert rule.check(submit(2.0), settings()) is not None
    assert [e.action for e in log.events] == ["purge"]


@pytest.mark.parametrize(("gap", "purged"), [
    (30 * DAY - 60, True),          # 29 d 23 h 59 m: inside the window
    (30 * DAY - 0.001, True),
    (30 * DAY, False),              # exactly 30 d: the first has left the window ("less than a month")
    (31 * DAY, False),
])
def test_the_windows_exact_boundary(gap: float, purged: bool) -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1000.0))
    feed(rule, clock, outcome(1000.0 + gap))
    assert rule.is_purged("shop", NUMBER) is purged
    assert len(purge_events(log)) == (1 if purged else 0)
    if not purged:
        assert [len(f) for f in rule.counting().values()] == [1]   # the new failure starts a count of 1


def test_a_failure_out_of_the_window_starts_a_new_count() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(0.0, message_id="old"))
    feed(rule, clock, outcome(31 * DAY, message_id="n1"))
    feed(rule, clock, outcome(40 * DAY, message_id="n2"))
    [event] = purge_events(log)
    assert [f["message_id"] for f in event.facts["failures"]] == ["n1", "n2"]


def test_a_custom_window() -> None:
    rule, log, clock = make(window=3600.0)
    feed(rule, clock, outcome(0.0), window=3600.0)
    feed(rule, clock, outcome(3600.0), window=3600.0)
    assert not rule.is_purged("shop", NUMBER)
    feed(rule, clock, outcome(7199.0), window=3600.0)
    assert rule.is_purged("shop", NUMBER)
    assert "within 1 h" in log.purged[0][3]
    rule, log, clock = make(window=90.0)
    feed(rule, clock, outcome(0.0), window=90.0)
    feed(rule, clock, outcome(89.0), window=90.0)
    assert "within 90 s" in log.purged[0][3]


def test_threshold_3_is_the_contracts_more_than_2() -> None:
    rule, log, clock = make(threshold=3)
    for day in (1, 2):
        feed(rule, clock, outcome(day * DAY), threshold=3)
    assert not rule.is_purged("shop", NUMBER) and purge_events(log) == []
    feed(rule, clock, outcome(3 * DAY), threshold=3)
    [event] = purge_events(log)
    assert len(event.facts["failures"]) == 3 and event.facts["threshold"] == 3
    assert "3 unknown-subscriber failures within 30 d" in log.purged[0][3]


def test_threshold_1_purges_on_the_first_failure() -> None:
    rule, log, clock = make(threshold=1)
    feed(rule, clock, outcome(5.0), threshold=1)
    assert rule.is_purged("shop", NUMBER)


def test_a_terminated_line_purges_at_once_whatever_the_threshold() -> None:
    rule, log, clock = make(threshold=5)
    feed(rule, clock, outcome(10.0, err="005", message_id="t1"), threshold=5)
    assert rule.is_purged("shop", NUMBER)
    [event] = purge_events(log)
    assert event.facts["cause"] == "terminated"
    assert [f["err"] for f in event.facts["failures"]] == ["005"]
    assert "line terminated" in log.purged[0][3]


def test_a_terminated_line_after_an_unknown_failure_names_only_itself() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0, number=OTHER))
    feed(rule, clock, outcome(2.0, number=OTHER, err="005", message_id="t2"))
    [event] = purge_events(log)
    assert [f["message_id"] for f in event.facts["failures"]] == ["t2"]


def test_delivery_in_between_does_not_reset_by_default() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0))
    feed(rule, clock, outcome(2.0, stat="DELIVRD", err="000"))
    feed(rule, clock, outcome(3.0))
    assert rule.is_purged("shop", NUMBER)


def test_delivery_in_between_resets_with_reset_on_delivery() -> None:
    rule, log, clock = make(reset_on_delivery=True)
    feed(rule, clock, outcome(1.0), reset_on_delivery=True)
    feed(rule, clock, outcome(2.0, stat="DELIVRD", err="000"), reset_on_delivery=True)
    feed(rule, clock, outcome(3.0), reset_on_delivery=True)
    assert not rule.is_purged("shop", NUMBER)
    feed(rule, clock, outcome(4.0), reset_on_delivery=True)
    assert rule.is_purged("shop", NUMBER)
    [event] = purge_events(log)
    assert [f["at"] for f in event.facts["failures"]] == [3.0, 4.0]


def test_another_accounts_failures_do_not_count() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0, account="shop"))
    feed(rule, clock, outcome(2.0, account="bank"))
    assert log.purged == [] and purge_events(log) == []
    feed(rule, clock, outcome(3.0, account="bank"))
    assert rule.is_purged("bank", NUMBER) and not rule.is_purged("shop", NUMBER)
    assert rule.check(submit(4.0, account="shop"), settings()) is None
    assert rule.check(submit(4.0, account="bank"), settings()) is not None


def test_another_number_does_not_count() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0, number=NUMBER))
    feed(rule, clock, outcome(2.0, number=OTHER))
    assert log.purged == []
    assert rule.check(submit(3.0, number=OTHER), settings()) is None


def test_the_same_failure_reported_twice_counts_once() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0, message_id="same"))
    feed(rule, clock, outcome(2.0, message_id="same"))         # e.g. a receipt, then a query_sm answer
    assert not rule.is_purged("shop", NUMBER)
    feed(rule, clock, outcome(3.0, message_id="other"))
    assert rule.is_purged("shop", NUMBER)


def test_failures_after_the_purge_record_nothing_more() -> None:
    rule, log, clock = make()
    for at in (1.0, 2.0, 3.0, 4.0):
        feed(rule, clock, outcome(at))
    feed(rule, clock, outcome(5.0, err="005"))
    assert len(log.purged) == 1 and len(purge_events(log)) == 1


def test_the_operators_unknown_status_at_submit_counts() -> None:
    rule, log, clock = make()
    feed(rule, clock, outcome(1.0, stat="REJECTD", err="011", error_code=INVDSTADR, message_id="r1"))
    feed(rule, clock, outcome(2.0, stat="REJECTD", err="011", error_code=INVDSTADR, operator="sfr", message_id="r2"))
    [event] = purge_events(log)
    assert [(f["stat"], f["operator"]) for f in event.facts["failures"]] == [("REJECTD", "orange"),
                                                                              ("REJECTD", "sfr")]


@pytest.mark.parametrize("result", [
    outcome(1.0, stat="REJECTD", err="011", error_code=INVDSTADR, operator="free"),   # free's status is another
    outcome(1.0, stat="REJECTD", err="008", error_code=int(CommandStatus.ESME_RSYSERR)),
    outcome(1.0, stat="REJECTD", err="011", error_code=INVDSTADR, operator="unknown-op"),
    outcome(1.0, stat="REJECTD", err="010"),                   # the operator's filter, by receipt
    outcome(1.0, stat="REJECTD", err="011", error_code=None),
    outcome(1.0, stat="UNDELIV", err="013"),                   # barred
    outcome(1.0, stat="UNDELIV", err="027"),                   # absent
    outcome(1.0, stat="UNDELIV", err="01"),
    outcome(1.0, stat="UNDELIV", err=""),
    outcome(1.0, stat="EXPIRED", err="001"),
    outcome(1.0, stat="DELIVRD", err="001"),
    outcome(1.0, stat="undeliv", err="001"),
    outcome(1.0, stat="UNKNOWN", err="005"),
])
def test_what_does_not_count(result: Outcome) -> None:
    rule, log, clock = make(threshold=1)
    feed(rule, clock, result, threshold=1)
    assert log.purged == [] and log.events == [] and rule.counting() == {}


def test_the_operator_refusing_with_its_own_unknown_status() -> None:
    rule, log, clock = make(threshold=1)
    feed(rule, clock, outcome(1.0, stat="REJECTD", err="069", error_code=int(CommandStatus.ESME_RSUBMITFAIL),
                              operator="free"), threshold=1)
    assert rule.is_purged("shop", NUMBER)


# --- bounded memory ------------------------------------------------------------------


def test_numbers_whose_failures_left_the_window_are_forgotten() -> None:
    rule, log, clock = make()
    for i in range(1000):
        feed(rule, clock, outcome(float(i), number=f"+3361{i:07d}"))
    assert len(rule.counting()) == 1000
    feed(rule, clock, outcome(30 * DAY + 500.0, number=OTHER))    # numbers 0..500 have left the window
    kept = rule.counting()
    assert len(kept) == 1000 - 501 + 1 and ("shop", "+33610000000") not in kept
    assert ("shop", "+33610000501") in kept and ("shop", OTHER) in kept
    feed(rule, clock, outcome(61 * DAY, number=NUMBER))
    assert list(rule.counting()) == [("shop", NUMBER)]
    assert len(rule._sweep_queue) == 1


def test_a_number_failing_again_is_kept_by_its_latest_failure() -> None:
    rule, log, clock = make(threshold=3)
    feed(rule, clock, outcome(0.0), threshold=3)
    feed(rule, clock, outcome(20 * DAY), threshold=3)
    feed(rule, clock, outcome(31 * DAY, number=OTHER), threshold=3)   # sweeps the entry of day 0
    assert [len(f) for k, f in rule.counting().items() if k[1] == NUMBER] == [2]
    feed(rule, clock, outcome(40 * DAY), threshold=3)                 # day 0 is out: 20 and 40 only
    assert not rule.is_purged("shop", NUMBER)
    feed(rule, clock, outcome(45 * DAY), threshold=3)
    assert rule.is_purged("shop", NUMBER)


def test_the_longest_window_in_use_bounds_the_memory() -> None:
    clock, log = Clock(), FakeLog()
    network = settings()
    accounts = {"slow": settings(window=60 * DAY), "off": settings(window=300 * DAY, enabled=False)}
    rule = PurgeRule(clock, log, STATUSES, accounts, network)
    assert rule.horizon == 60 * DAY
    rule.outcome(outcome(0.0, account="slow"), accounts["slow"])
    clock.advance(45 * DAY)
    rule.outcome(outcome(45 * DAY, account="slow", number=OTHER), accounts["slow"])
    assert ("slow", NUMBER) in rule.counting()
    clock.advance(5 * DAY)
    rule.outcome(outcome(50 * DAY, account="slow"), accounts["slow"])
    assert rule.is_purged("slow", NUMBER)


# --- restart -------------------------------------------------------------------------


def test_the_rebuild_reads_the_purge_list_and_the_window() -> None:
    clock = Clock()
    clock.advance(100 * DAY)
    log = FakeLog(purged=[("shop", OTHER, 3.0, "line terminated")],
                  failures=[outcome(60 * DAY, message_id="out"), outcome(80 * DAY, message_id="in"),
                            outcome(81 * DAY, number=OTHER, message_id="already")])
    rule = PurgeRule(clock, log, STATUSES, {}, settings())
    assert log.asked == [(70 * DAY, STATUSES, False)]
    assert rule.is_purged("shop", OTHER)
    refusal = rule.check(submit(100 * DAY, number=OTHER), settings())
    assert refusal is not None and "line terminated" in refusal.reason
    assert {k: [f.message_id for f in v] for k, v in rule.counting().items()} == {("shop", NUMBER): ["in"]}
    assert log.events == []
    rule.outcome(outcome(100 * DAY, message_id="now"), settings())
    assert [f["message_id"] for f in purge_events(log)[0].facts["failures"]] == ["in", "now"]


def test_the_rebuild_asks_for_deliveries_only_when_a_reset_is_on() -> None:
    log = FakeLog(failures=[outcome(1.0), outcome(2.0, stat="DELIVRD", err="000")])
    PurgeRule(Clock(), log, STATUSES, {"a": settings(reset_on_delivery=True)}, settings())
    assert log.asked[-1][2] is True
    PurgeRule(Clock(), log, STATUSES, {"a": settings(reset_on_delivery=True, enabled=False)}, settings())
    assert log.asked[-1][2] is False


def test_a_count_completed_by_lower_settings_purges_at_the_rebuild() -> None:
    clock = Clock()
    clock.advance(10 * DAY)
    log = FakeLog(failures=[outcome(2 * DAY, message_id="x1")])
    rule = PurgeRule(clock, log, STATUSES, {}, settings(threshold=1))
    assert rule.is_purged("shop", NUMBER)
    [event] = purge_events(log)
    assert event.at == 10 * DAY and event.facts["failures"][0]["at"] == 2 * DAY


def test_a_rule_switched_off_is_not_rebuilt() -> None:
    log = FakeLog(failures=[outcome(1.0), outcome(2.0)])
    rule = PurgeRule(Clock(), log, STATUSES, {"shop": settings(enabled=False)}, settings())
    assert rule.counting() == {} and log.purged == []


def stored(store: Store, n: int, at: float, state: MessageState, error_code: int | None, *,
           account: str = "shop", number: str = NUMBER, operator: str = "orange") -> str:
    message_id = f"{n:016x}"
    store.add_message(MessageRecord(
        id=message_id, account=account, source_addr="36180", source_addr_ton=3, destination_addr=number,
        operator_id=operator, operator_message_id=None, state=MessageState.ACCEPTED, registered_delivery=1,
        data_coding=0, esm_class=0, short_message=b"hi", created_at=at - 2, campaign="promo"))
    store.set_state(message_id, state, at, "final", done_at=at, error_code=error_code)
    return message_id


def rules_on(store: Store, clock: Clock, **purge: Any) -> Rules:
    return Rules(RulesConfig().overridden({"purge": purge} if purge else {}), (), clock, store, STATUSES)


def test_fail_once_close_reopen_fail_again_purges(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    clock = Clock()
    clock.advance(1000.0)
    store = Store(path)
    rules = rules_on(store, clock)
    first = stored(store, 1, 1000.0, MessageState.UNDELIVERABLE, 1)
    rules.outcome(outcome(1000.0, message_id=first))
    assert store.purges() == []
    store.close()

    clock.advance(10 * DAY)
    store = Store(path)
    rules = rules_on(store, clock)
    assert rules.purge.counting() == {("shop", NUMBER): rules.purge.counting()[("shop", NUMBER)]}
    [kept] = rules.purge.counting()[("shop", NUMBER)]
    assert (kept.message_id, kept.at, kept.stat, kept.err, kept.operator_id) == (first, 1000.0, "UNDELIV", "001",
                                                                                 "orange")
    second = stored(store, 2, clock.seconds(), MessageState.UNDELIVERABLE, 1)
    rules.outcome(outcome(clock.seconds(), message_id=second))
    assert [(a, n) for a, n, _, _ in store.purges()] == [("shop", NUMBER)]
    [event] = store.rule_events(rule="purge")
    assert [f["message_id"] for f in event.facts["failures"]] == [first, second]
    store.close()

    store = Store(path)                                        # and the purge itself survives
    rules = rules_on(store, clock)
    assert rules.check(submit(clock.seconds())) is not None
    assert store.count_rule_events(rule="purge", action="purge") == 1
    assert store.count_rule_events(rule="purge", action="refuse") == 1
    store.close()


def test_the_store_reads_every_kind_of_failure(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    unknown = stored(store, 1, 10.0, MessageState.UNDELIVERABLE, 1)
    terminated = stored(store, 2, 11.0, MessageState.UNDELIVERABLE, 5, number=OTHER)
    refused = stored(store, 3, 12.0, MessageState.REJECTED, INVDSTADR, operator="sfr")
    stored(store, 4, 13.0, MessageState.REJECTED, INVDSTADR, operator="free")        # not free's unknown status
    stored(store, 5, 14.0, MessageState.REJECTED, 10)                                # filter receipt
    stored(store, 6, 15.0, MessageState.UNDELIVERABLE, 13)                           # barred
    stored(store, 7, 16.0, MessageState.EXPIRED, None)
    stored(store, 8, 9.0, MessageState.UNDELIVERABLE, 1)                             # before `since`
    delivered = stored(store, 9, 17.0, MessageState.DELIVERED, 0)
    stored(store, 10, 18.0, MessageState.DELIVERED, 0, number="+33600000000")        # no failure there
    stored(store, 11, 19.0, MessageState.DELIVERED, 0, account="bank")               # another account's
    store.add_message(MessageRecord(                                                 # not final yet
        id="0000000000000012", account="shop", source_addr="36180", source_addr_ton=3, destination_addr=NUMBER,
        operator_id="orange", operator_message_id=None, state=MessageState.ACCEPTED, registered_delivery=1,
        data_coding=0, esm_class=0, short_message=b"hi", created_at=20.0))
    found = store.unknown_failures(9.0, STATUSES)
    assert [(o.message_id, o.stat, o.err, o.error_code, o.msisdn, o.operator_id, o.account, o.campaign, o.at)
            for o in found] == [
        (unknown, "UNDELIV", "001", 1, NUMBER, "orange", "shop", "promo", 10.0),
        (terminated, "UNDELIV", "005", 5, OTHER, "orange", "shop", "promo", 11.0),
        (refused, "REJECTD", "011", INVDSTADR, NUMBER, "sfr", "shop", "promo", 12.0)]
    with_deliveries = store.unknown_failures(9.0, STATUSES, deliveries=True)
    assert [(o.message_id, o.stat) for o in with_deliveries] == [
        (unknown, "UNDELIV"), (terminated, "UNDELIV"), (refused, "REJECTD"), (delivered, "DELIVRD")]
    assert [o.message_id for o in store.unknown_failures(9.0, {})] == [unknown, terminated]
    assert store.unknown_failures(100.0, STATUSES, deliveries=True) == []
    store.close()


def test_a_submit_refusal_and_a_reset_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    clock = Clock()
    clock.advance(DAY)
    store = Store(path)
    stored(store, 1, 100.0, MessageState.REJECTED, INVDSTADR)
    stored(store, 2, 200.0, MessageState.DELIVERED, 0)
    stored(store, 3, 300.0, MessageState.UNDELIVERABLE, 1, number=OTHER)
    store.close()
    store = Store(path)
    reset = rules_on(store, clock, reset_on_delivery=True)
    assert list(reset.purge.counting()) == [("shop", OTHER)]      # the delivery reset NUMBER's count
    plain = rules_on(store, clock)
    assert [len(f) for f in plain.purge.counting().values()] == [1, 1]
    store.close()
