"""R3 skew (aggregator/rules/skew.py): the send, the split, the statistic and its boundaries,
the actions, and what a restart rebuilds from the store."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest
from twisted.internet.task import Clock

from aggregator.rules.base import LedgerLine, RuleEvent, Submit
from aggregator.rules.settings import FRANCE_REFERENCE, RulesConfig, SkewAction, SkewSettings
from aggregator.rules.skew import SkewRule, largest_excess, split_facts
from aggregator.store import Store
from smsc.pdu.status import CommandStatus

T0 = 1_800_000_000.0
NUMBERS = {"orange": "+3367", "sfr": "+3361", "bouygues": "+3366", "free": "+3365"}


class FakeLog:
    """The RuleLog a rule writes its events to (only what R3 uses)."""

    def __init__(self, events: list[RuleEvent] | None = None) -> None:
        self.events: list[RuleEvent] = list(events or [])

    def add_rule_event(self, event: RuleEvent) -> None:
        self.events.append(event)

    def rule_events(self, rule: str | None = None, account: str | None = None) -> list[RuleEvent]:
        return [e for e in self.events if rule in (None, e.rule) and account in (None, e.account)]

    # R3 keeps no lists: the rest of the RuleLog protocol is never called.
    def set_optout(self, account: str, number: str, at: float, how: str) -> None:
        raise AssertionError("R3 keeps no opt-outs")

    def remove_optout(self, account: str, number: str) -> None:
        raise AssertionError("R3 keeps no opt-outs")

    def optouts(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        raise AssertionError("R3 keeps no opt-outs")

    def add_purge(self, account: str, number: str, at: float, reason: str) -> None:
        raise AssertionError("R3 purges nothing")

    def purges(self, account: str | None = None) -> list[tuple[str, str, float, str]]:
        raise AssertionError("R3 purges nothing")


class Sender:
    """A rule, its settings, and submits of one account numbered as they go."""

    def __init__(self, log: FakeLog | Store | None = None, **skew: object) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.log = FakeLog() if log is None else log
        self.rule = SkewRule(self.clock, self.log)
        self.settings = RulesConfig(skew=replace(SkewSettings(), **skew))  # type: ignore[arg-type]
        self.n = 0

    def submit(self, operator: str, campaign: str | None = "promo", country: str = "FR", at: float | None = None,
               account: str = "shop", segments: int = 1) -> Submit:
        self.n += 1
        return Submit(account, f"{NUMBERS.get(operator, '+3369')}{self.n:07d}", operator, country, campaign,
                      True, segments, T0 if at is None else at)

    def send(self, operator: str, count: int = 1, **kw: object) -> list[LedgerLine]:
        """`count` submits checked and accepted; the ledger lines of the last."""
        lines: list[LedgerLine] = []
        for _ in range(count):
            s = self.submit(operator, **kw)  # type: ignore[arg-type]
            assert self.rule.check(s, self.settings) is None
            lines = self.rule.accepted(s, f"m{self.n}", self.settings)
        return lines

    def events(self, action: str | None = None) -> list[RuleEvent]:
        return [e for e in self.log.rule_events("skew") if action in (None, e.action)]


# --- the statistic --------------------------------------------------------------------------

def test_largest_excess_is_in_share_points_and_counts_an_operator_without_reference_from_zero() -> None:
    assert largest_excess({"free": 90, "orange": 10}, 100, FRANCE_REFERENCE) == ("free", pytest.approx(0.72))
    assert largest_excess({"orange": 35, "sfr": 25, "bouygues": 22, "free": 18}, 100,
                          FRANCE_REFERENCE)[1] == pytest.approx(0.0)
    assert largest_excess({"orange": 70, "lyca": 30}, 100, {"orange": 1.0}) == ("lyca", pytest.approx(0.3))


def test_ties_go_to_the_reference_order() -> None:
    assert largest_excess({"b": 60, "a": 40}, 100, {"a": 0.2, "b": 0.4})[0] == "a"


def test_split_facts_carry_observed_and_reference_per_operator() -> None:
    facts = split_facts("FR", {"free": 90, "lyca": 10}, 100, FRANCE_REFERENCE, SkewSettings())
    assert facts == {
        "country": "FR", "operator": "free", "excess": 0.72, "threshold": 0.25, "min_sample": 100, "sample": 100,
        "counts": {"orange": 0, "sfr": 0, "bouygues": 0, "free": 90, "lyca": 10},
        "observed": {"orange": 0.0, "sfr": 0.0, "bouygues": 0.0, "free": 0.9, "lyca": 0.1},
        "reference": {"orange": 0.35, "sfr": 0.25, "bouygues": 0.22, "free": 0.18, "lyca": 0.0},
    }


# --- the sample -------------------------------------------------------------------------

def test_a_send_of_exactly_min_sample_is_judged_at_its_last_destination() -> None:
    s = Sender()
    s.send("free", 90)
    s.send("orange", 9)
    assert s.events() == []
    s.send("orange")
    [alert] = s.events()
    assert (alert.action, alert.account, alert.campaign, alert.message_id, alert.at) == ("alert", "shop", "promo",
                                                                                         "m100", T0)
    assert alert.number == "+3367" + "0000100"
    assert alert.facts["sample"] == 100 and alert.facts["operator"] == "free" and alert.facts["send"] == "campaign"
    assert alert.facts["counts"] == {"orange": 10, "sfr": 0, "bouygues": 0, "free": 90}
    assert alert.facts["observed"]["free"] == 0.9 and alert.facts["excess"] == 0.72
    assert "window" not in alert.facts


def test_one_destination_below_min_sample_is_not_judged() -> None:
    s = Sender()
    s.send("free", 99)
    assert s.events() == []


def test_min_sample_of_one() -> None:
    s = Sender(min_sample=1)
    s.send("free")
    assert s.rule.suspended() == [] and [e.action for e in s.events()] == ["alert"]


def test_one_alert_per_campaign_however_long_it_stays_skewed() -> None:
    s = Sender()
    s.send("free", 500)
    assert len(s.events("alert")) == 1


def test_campaigns_and_accounts_are_separate_sends() -> None:
    s = Sender()
    s.send("free", 60, campaign="a")
    s.send("free", 60, campaign="b")
    s.send("free", 60, campaign="a", account="other")
    s.send("free", 60, campaign=None)
    assert s.events() == []
    s.send("free", 40, campaign="b")
    assert [(e.account, e.campaign) for e in s.events()] == [("shop", "b")]


# --- the threshold ------------------------------------------------------------------------

def _at_threshold(s: Sender, free: int) -> None:
    """100 destinations: `free` to Free Mobile (reference 0.18), the others under their share."""
    s.send("orange", 20)
    s.send("sfr", 20)
    s.send("bouygues", 60 - free)
    s.send("free", free - 3)
    s.send("free", 3)


def test_an_excess_equal_to_the_threshold_passes() -> None:
    s = Sender()
    _at_threshold(s, 43)                 # 0.43 - 0.18 = 0.25 on paper, 0.25000000000000006 in floats
    assert s.events() == []


def test_one_destination_past_the_threshold_alerts() -> None:
    s = Sender()
    _at_threshold(s, 44)
    [alert] = s.events()
    assert alert.facts["excess"] == 0.26 and alert.facts["operator"] == "free"


def test_a_send_that_follows_the_reference_split_is_not_skewed() -> None:
    s = Sender()
    for _ in range(10):
        for operator, share in FRANCE_REFERENCE.items():
            s.send(operator, round(share * 100))
    assert s.events() == []


# --- countries ----------------------------------------------------------------------------

def test_two_countries_are_judged_apart_each_on_its_own_sample_and_reference() -> None:
    reference = MappingProxyType({"FR": FRANCE_REFERENCE, "BE": {"proximus": 0.4, "orange-be": 0.3, "base": 0.3}})
    s = Sender(reference=reference)
    s.send("free", 60)                               # FR: 60, all to Free, not judged yet
    for operator in ("proximus", "orange-be", "base"):
        s.send(operator, 40, country="BE")           # BE: 120, 33 % each, not skewed
    s.send("proximus", 20, country="BE")             # 140: 43 % to Proximus, 3 points over
    assert s.events() == []
    s.send("free", 40)                               # FR reaches 100
    [alert] = s.events()
    assert alert.facts["country"] == "FR" and alert.facts["sample"] == 100
    s.send("base", 200, country="BE")                # BE: Base 240/340 = 71 %, 41 points over
    assert [e.facts["country"] for e in s.events()] == ["FR", "BE"]
    assert s.events()[1].facts["operator"] == "base"


@pytest.mark.parametrize("country", ["", "DE"])
def test_a_country_unknown_or_without_reference_is_not_counted(country: str) -> None:
    s = Sender()
    s.send("free", 150, country=country)
    s.send("free", 99)                                # FR alone: still one short
    assert s.events() == []
    s.send("free")
    assert s.events()[0].facts["sample"] == 100


# --- the window send ----------------------------------------------------------------------

def test_the_window_holds_the_last_hour_and_a_submit_one_hour_old_has_left_it() -> None:
    s = Sender()
    s.send("free", 60, campaign=None, at=T0)
    s.send("free", 40, campaign=None, at=T0 + 3600)   # the 60 at T0 are out: 40 in the window
    assert s.events() == []
    s.send("free", 59, campaign=None, at=T0 + 3600)
    assert s.events() == []
    s.send("free", 1, campaign=None, at=T0 + 3600)
    [alert] = s.events()
    assert alert.campaign is None and alert.facts["send"] == "window" and alert.facts["window"] == 3600


def test_a_submit_just_inside_the_window_still_counts() -> None:
    s = Sender()
    s.send("free", 60, campaign=None, at=T0)
    s.send("free", 40, campaign=None, at=T0 + 3599.999)
    assert len(s.events("alert")) == 1


def test_a_window_episode_is_rearmed_when_the_split_comes_back_under_the_threshold() -> None:
    s = Sender()
    s.send("free", 100, campaign=None, at=T0)
    s.send("free", 100, campaign=None, at=T0 + 60)           # same episode: no second alert
    assert len(s.events("alert")) == 1
    for operator in ("orange", "sfr", "bouygues"):           # back to a fair split: re-armed
        s.send(operator, 200, campaign=None, at=T0 + 120)
    assert len(s.events("alert")) == 1
    s.send("free", 300, campaign=None, at=T0 + 180)          # skewed again: a new episode
    assert len(s.events("alert")) == 2


def test_a_window_that_empties_is_rearmed() -> None:
    s = Sender(window=600.0)
    s.send("free", 100, campaign=None, at=T0)
    s.send("free", 100, campaign=None, at=T0 + 600)          # the first hundred left: a new episode
    assert len(s.events("alert")) == 2


# --- actions ------------------------------------------------------------------------------

def test_suspend_refuses_the_rest_of_the_send_and_holds_it_until_release() -> None:
    s = Sender(action=SkewAction.SUSPEND)
    s.send("free", 100)
    assert [e.action for e in s.events()] == ["alert", "suspend"]
    assert s.events("suspend")[0].facts == {"send": "campaign", "country": "FR", "operator": "free", "excess": 0.82}
    refusal = s.rule.check(s.submit("orange"), s.settings)
    assert refusal is not None and refusal.status is CommandStatus.RULE_SKEW_SUSPENDED and refusal.rule == "skew"
    assert "campaign 'promo'" in refusal.reason
    assert s.rule.held("shop", "promo") and not s.rule.held("shop", "other") and not s.rule.held("shop", None)
    assert s.rule.check(s.submit("free", campaign="other"), s.settings) is None
    assert s.rule.suspended() == [("shop", "promo")]
    assert s.rule.release("shop", "promo") is True
    assert s.rule.release("shop", "promo") is False and s.rule.release("nobody", None) is False
    assert [e.action for e in s.events()] == ["alert", "suspend", "release"]
    assert not s.rule.held("shop", "promo") and s.rule.check(s.submit("free"), s.settings) is None
    s.send("free", 100)                                       # the same skew: not suspended again
    assert not s.rule.held("shop", "promo") and len(s.events()) == 3


def test_suspend_of_a_window_send_holds_the_traffic_without_campaign_id_only() -> None:
    s = Sender(action=SkewAction.SUSPEND)
    s.send("free", 100, campaign=None)
    assert s.rule.held("shop", None) and not s.rule.held("shop", "promo")
    refusal = s.rule.check(s.submit("sfr", campaign=None), s.settings)
    assert refusal is not None and "without campaign id" in refusal.reason


def test_reprice_bills_a_surcharge_for_each_message_to_the_skewed_operator_from_then_on() -> None:
    s = Sender(action=SkewAction.REPRICE, surcharge=0.03)
    assert s.send("free", 99) == []
    assert s.send("free", segments=2) == [LedgerLine("shop", "m100", 2, 0.06, T0, "reprice")]
    assert [e.action for e in s.events()] == ["alert", "reprice"]
    assert s.events("reprice")[0].facts["surcharge"] == 0.03
    assert s.send("orange") == []
    assert s.send("free") == [LedgerLine("shop", "m102", 1, 0.03, T0, "reprice")]
    assert s.send("free", campaign="other") == []


def test_reprice_of_a_window_send_ends_with_its_episode() -> None:
    s = Sender(action=SkewAction.REPRICE)
    s.send("free", 100, campaign=None, at=T0)
    assert s.send("free", campaign=None, at=T0 + 3599) != []
    assert s.send("free", campaign=None, at=T0 + 7200) == []    # alone in the window: under min_sample


# --- restart ------------------------------------------------------------------------------

def test_a_restart_keeps_the_suspensions_not_released_and_the_campaigns_already_alerted() -> None:
    store = Store(":memory:")
    s = Sender(store, action=SkewAction.SUSPEND)
    s.send("free", 100, campaign="a")
    s.send("free", 100, campaign="b")
    s.send("free", 100, campaign=None)
    assert s.rule.release("shop", "b")
    again = Sender(store, action=SkewAction.SUSPEND)
    assert again.rule.suspended() == [("shop", None), ("shop", "a")]
    assert again.rule.held("shop", "a") and not again.rule.held("shop", "b")
    again.send("free", 200, campaign="b")                      # alerted before the restart: not again
    assert len(again.events("alert")) == 3
    store.close()


def test_a_restart_goes_on_repricing_an_alerted_campaign() -> None:
    log = FakeLog()
    s = Sender(log, action=SkewAction.REPRICE)
    s.send("free", 100)
    again = Sender(log, action=SkewAction.REPRICE)
    assert again.send("free") != [] and again.send("orange") == []
