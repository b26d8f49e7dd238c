"""R10 `credit` (aggregator/rules/credit.py): prices, prepaid credit, its validity, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from aggregator.config import AccountConfig
from aggregator.passwords import Secret
from aggregator.rules.base import LedgerLine, Submit
from aggregator.rules.credit import CreditRule, price_of
from aggregator.rules.pipeline import Rules
from aggregator.rules.settings import DAY, CreditSettings, RulesConfig
from aggregator.store import Store
from smsc.pdu.status import CommandStatus

PASSWORD = Secret.from_plain("x")
T0 = 1_796_083_200.0  # 2026-12-01T00:00:00Z
YEAR = 365 * DAY
PRICES = CreditSettings(price=0.05, prices={"free": 0.07, "FR": 0.045, "BE": 0.09, "orange": 0.04})
RULES = RulesConfig(credit=PRICES)


def submit(at: float, segments: int = 1, account: str = "paid", operator: str = "sfr", country: str = "FR",
           msisdn: str = "+33612345678") -> Submit:
    return Submit(account, msisdn, operator, country, None, False, segments, at)


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(T0)
    return clock


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store(":memory:")
    yield store
    store.close()


def rule(clock: Clock, store: Store, credit: int | None = 3, settings: RulesConfig = RULES) -> CreditRule:
    return CreditRule(clock, store, [AccountConfig("paid", PASSWORD, credit=credit), AccountConfig("free", PASSWORD)],
                      {"paid": settings, "free": settings})


def send(credit: CreditRule, s: Submit, message_id: str = "m") -> list[LedgerLine] | CommandStatus:
    """What the pipeline does: check, then bill when it passed."""
    refusal = credit.check(s, RULES)
    return refusal.status if refusal is not None else credit.accepted(s, message_id, RULES)


# -- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("operator", "country", "price"), [
    ("free", "FR", 0.07),       # the operator's entry wins over its country's
    ("orange", "BE", 0.04),     # whatever the country
    ("sfr", "FR", 0.045),       # no entry for the operator: its country's
    ("proximus", "BE", 0.09),
    ("sfr", "DE", 0.05),        # neither: the default
    ("sfr", "", 0.05),          # country unknown
    ("", "", 0.05),
])
def test_price_lookup_order(operator: str, country: str, price: float) -> None:
    assert price_of(PRICES, operator, country) == price


def test_default_prices_are_one_price_for_all() -> None:
    assert price_of(CreditSettings(), "free", "FR") == 0.05


def test_every_accepted_message_is_one_message_line_of_price_times_segments(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=None)
    assert credit.accepted(submit(T0, 3, operator="free"), "m1", RULES) == [LedgerLine("paid", "m1", 3, 0.21, T0)]
    assert credit.accepted(submit(T0, 7, country="FR"), "m2", RULES) == [LedgerLine("paid", "m2", 7, 0.315, T0)]
    assert credit.accepted(submit(T0, 1, operator="x", country="US"), "m3", RULES)[0].amount == 0.05
    assert credit.remaining("paid") is None and credit.lapses_at("paid") is None  # unlimited
    assert clock.getDelayedCalls() == []                     # nothing to lapse


def test_zero_prices_bill_segments_for_nothing(clock: Clock, store: Store) -> None:
    free = RulesConfig(credit=CreditSettings(price=0.0))
    line, = rule(clock, store, settings=free).accepted(submit(T0, 2), "m", free)
    assert (line.segments, line.amount) == (2, 0.0)


# -- prepaid credit ---------------------------------------------------------------------------


def test_exactly_enough_credit_passes_then_nothing_more(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=3)
    assert send(credit, submit(T0, 3)) == [LedgerLine("paid", "m", 3, 0.135, T0)]
    assert credit.remaining("paid") == 0
    assert send(credit, submit(T0 + 1, 1)) is CommandStatus.RULE_NO_CREDIT
    assert send(credit, submit(T0 + 1, 1, account="free")) != CommandStatus.RULE_NO_CREDIT  # not limited


def test_one_segment_short_is_refused_whole_and_not_taken(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=4)
    assert send(credit, submit(T0, 2)) != CommandStatus.RULE_NO_CREDIT
    refusal = credit.check(submit(T0, 3), RULES)
    assert refusal is not None and refusal.status is CommandStatus.RULE_NO_CREDIT and refusal.rule == "credit"
    assert refusal.reason == "credit exhausted: 2 segment(s) left, the message needs 3"
    assert credit.remaining("paid") == 2                     # a refusal takes nothing
    assert send(credit, submit(T0, 2)) != CommandStatus.RULE_NO_CREDIT


def test_zero_credit_refuses_the_first_submit(clock: Clock, store: Store) -> None:
    assert send(rule(clock, store, credit=0), submit(T0)) is CommandStatus.RULE_NO_CREDIT


def test_the_rule_off_does_not_track_the_account(clock: Clock, store: Store) -> None:
    off = RulesConfig(credit=CreditSettings(enabled=False))
    credit = rule(clock, store, credit=1, settings=off)
    assert credit.remaining("paid") is None and clock.getDelayedCalls() == []
    assert store.credits() == {}


def test_the_pipeline_records_the_refusal_and_bills_only_what_passed(clock: Clock, store: Store) -> None:
    rules = Rules(RULES, [AccountConfig("paid", PASSWORD, credit=1)], clock, store)
    assert rules.check(submit(T0)) is None
    assert [line.amount for line in rules.accepted(submit(T0), "m1")] == [0.045]
    refusal = rules.check(submit(T0 + 5))
    assert refusal is not None and refusal.status is CommandStatus.RULE_NO_CREDIT
    (event,) = store.rule_events("credit")
    assert (event.action, event.number, event.at, event.facts["status"]) == (
        "refuse", "+33612345678", T0 + 5, "RULE_NO_CREDIT")
    rules.close()
    assert clock.getDelayedCalls() == []


# -- validity -----------------------------------------------------------------------------------


def test_credit_starts_when_the_store_first_sees_the_account(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=5)
    assert store.credits() == {"paid": (5, T0, 0, False)}
    assert credit.lapses_at("paid") == T0 + YEAR
    assert [c.getTime() for c in clock.getDelayedCalls()] == [T0 + YEAR]


def test_lapse_boundary_and_its_event_at_the_instant(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=5)
    clock.advance(YEAR - 0.001)
    assert send(credit, submit(clock.seconds(), 2)) != CommandStatus.RULE_NO_CREDIT  # the last millisecond
    assert store.rule_events("credit") == []
    clock.advance(0.001)                                     # the timer, with no submit
    (lapse,) = store.rule_events("credit")
    assert (lapse.action, lapse.account, lapse.at) == ("lapse", "paid", T0 + YEAR)
    assert dict(lapse.facts) == {"credit": 5, "started": T0, "started_iso": "2026-12-01T00:00:00.000Z",
                                 "validity_days": 365, "lost": 3}
    assert credit.remaining("paid") == 0
    assert store.credits() == {"paid": (5, T0, 3, True)}     # what a restart reads back
    refusal = credit.check(submit(T0 + YEAR), RULES)
    assert refusal is not None and refusal.status is CommandStatus.RULE_NO_CREDIT
    assert refusal.reason == "prepaid credit lapsed at 2027-12-01T00:00:00.000Z (365 days after 2026-12-01T00:00:00.000Z)"
    assert len(store.rule_events("credit")) == 1             # lapses once
    assert clock.getDelayedCalls() == []


def test_a_submit_at_the_lapse_instant_lapses_before_the_timer_runs(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=5)
    assert send(credit, submit(T0 + YEAR)) is CommandStatus.RULE_NO_CREDIT
    assert [e.at for e in store.rule_events("credit")] == [T0 + YEAR]
    assert clock.getDelayedCalls() == []                     # the timer went with it
    clock.advance(YEAR)
    assert len(store.rule_events("credit")) == 1


def test_validity_is_a_setting(clock: Clock, store: Store) -> None:
    month = RulesConfig(credit=CreditSettings(validity=30 * DAY))
    credit = rule(clock, store, credit=5, settings=month)
    clock.advance(30 * DAY)
    assert credit.remaining("paid") == 0 and store.rule_events("credit")[0].facts["validity_days"] == 30


def test_an_unlimited_account_never_lapses(clock: Clock, store: Store) -> None:
    credit = rule(clock, store, credit=None)
    clock.advance(3 * YEAR)
    assert send(credit, submit(clock.seconds())) != CommandStatus.RULE_NO_CREDIT
    assert store.rule_events() == []


# -- restart --------------------------------------------------------------------------------------


def test_a_restart_keeps_what_was_billed_and_when_the_credit_started(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "harness.db"
    store = Store(path)
    credit = rule(clock, store, credit=10)
    for i, cost in enumerate([1, 2, 3]):
        for line in credit.accepted(submit(T0 + i, cost), f"m{i}", RULES):
            store.bill(line.account, line.message_id, line.segments, line.at, line.amount, line.kind)
    store.bill("paid", "m2", 3, T0 + 2, 0.06, "reprice")      # an R3 surcharge takes no credit
    credit.close()
    store.close()

    clock.advance(100 * DAY)
    reopened = Store(path)
    again = rule(clock, reopened, credit=10)
    assert again.remaining("paid") == 4
    assert again.lapses_at("paid") == T0 + YEAR              # not a new year from the restart
    assert reopened.credits() == {"paid": (10, T0, 0, False)}
    assert send(again, submit(clock.seconds(), 5)) is CommandStatus.RULE_NO_CREDIT
    again.close()
    reopened.close()


def test_a_restart_after_the_instant_lapses_at_start_stamped_at_the_instant(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "harness.db"
    store = Store(path)
    rule(clock, store, credit=10).close()                     # down before the lapse
    store.close()

    clock.advance(YEAR + 7 * DAY)
    reopened = Store(path)
    again = rule(clock, reopened, credit=10)
    (lapse,) = reopened.rule_events("credit")
    assert (lapse.action, lapse.at, lapse.facts["lost"]) == ("lapse", T0 + YEAR, 10)
    assert clock.getDelayedCalls() == []
    assert send(again, submit(clock.seconds())) is CommandStatus.RULE_NO_CREDIT
    reopened.close()

    third = Store(path)                                      # and once is enough
    assert rule(clock, third, credit=10).remaining("paid") == 0
    assert len(third.rule_events("credit")) == 1
    third.close()


def test_raising_the_credit_is_a_new_order_and_lapsed_credit_stays_lost(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "harness.db"
    store = Store(path)
    credit = rule(clock, store, credit=10)
    store.bill("paid", "m1", 4, T0, 0.2)
    credit.accepted(submit(T0, 4), "m1", RULES)
    clock.advance(YEAR)                                      # 6 lost
    store.close()

    clock.advance(DAY)
    reopened = Store(path)
    topped = rule(clock, reopened, credit=30)                # 20 more ordered
    assert reopened.credits() == {"paid": (30, T0 + YEAR + DAY, 6, False)}
    assert topped.remaining("paid") == 30 - 4 - 6
    assert send(topped, submit(clock.seconds(), 20)) != CommandStatus.RULE_NO_CREDIT
    assert topped.lapses_at("paid") == T0 + 2 * YEAR + DAY
    topped.close()
    reopened.close()

    lowered = Store(path)                                    # a correction keeps the start
    rule(clock, lowered, credit=25).close()
    assert lowered.credits() == {"paid": (25, T0 + YEAR + DAY, 6, False)}
    lowered.close()
