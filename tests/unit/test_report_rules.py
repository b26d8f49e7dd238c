"""What a report shows of the operator rules: refusals, rule events with their facts, the opt-out
and purge lists, R3 splits. The store's bounded reads, the pure helpers, and each renderer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.rules.base import RuleEvent
from aggregator.store import MessageRecord, MessageState, RefusalRecord, Store
from reports.html import render_html
from reports.json import render_json
from reports.model import (
    FACTS_TEXT_MAX,
    ListedNumber,
    NumberList,
    RefusalCount,
    RuleEventGroup,
    RuleEventRow,
    ScenarioReport,
    SkewSplit,
    TimelineEntry,
    campaign_splits,
    facts_of,
    format_facts,
    refusal_counts,
    split_shares,
    window_split,
    with_rule_events,
)
from reports.terminal import summary
from scenarios.model import SUBJECT_FILTERS, Subject
from scenarios.runner import _DECIDING
from smsc.pdu.status import CommandStatus

T0 = 1_764_576_000.0
FR = {"FR": {"orange": 0.35, "sfr": 0.25, "bouygues": 0.22, "free": 0.18}}
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path / "r.db"))
    yield s
    s.close()


def message(i: int, operator_id: str, campaign: str | None, account: str = "shop") -> MessageRecord:
    return MessageRecord(
        id=f"{i:016x}", account=account, source_addr="SHOP", source_addr_ton=5, destination_addr=f"+3365{i:07d}",
        operator_id=operator_id, operator_message_id=None, state=MessageState.ACCEPTED, registered_delivery=0,
        data_coding=0, esm_class=0, short_message=b"x", created_at=T0 + i, campaign=campaign)


# ---- the store's reads ---------------------------------------------------------------------------

def test_rule_event_groups_count_everything_and_keep_the_first_few_in_order(store: Store) -> None:
    for i in range(7):
        store.add_rule_event(RuleEvent("stop", "refuse", "shop", T0 + i, f"+3361234500{i}", None, None,
                                       {"status": "RULE_OPTED_OUT"}))
    store.add_rule_event(RuleEvent("purge", "purge", "bank", T0 + 50, "+33698765432", None, None,
                                   {"failures": [{"at": T0, "err": "001"}, {"at": T0 + 9.5, "err": "001"}]}))
    store.add_rule_event(RuleEvent("stop", "optout", "shop", T0 + 3, "+33612345001"))
    groups = store.rule_event_groups(3)
    assert [(g[0], g[1], g[2], g[3], g[4], g[5]) for g in groups] == [
        ("purge", "purge", "bank", 1, T0 + 50, T0 + 50),
        ("stop", "optout", "shop", 1, T0 + 3, T0 + 3),
        ("stop", "refuse", "shop", 7, T0, T0 + 6),
    ]
    assert [e.number for e in groups[2][6]] == ["+33612345000", "+33612345001", "+33612345002"]
    assert groups[0][6][0].facts == {"failures": [{"at": T0, "err": "001"}, {"at": T0 + 9.5, "err": "001"}]}
    assert store.rule_event_groups(0)[2][6] == []


def test_list_summary_counts_per_account_and_bounds_the_entries(store: Store) -> None:
    for i in range(5):
        store.set_optout("shop", f"+3361234500{i}", T0 + i, "mo")
    store.set_optout("bank", "+33612345999", T0, "manual")
    store.add_purge("shop", "+33698765432", T0 + 7, "2 unknown-subscriber failures in 30 days")
    counts, first = store.list_summary("optouts", 3)
    assert counts == [("bank", 1), ("shop", 5)]
    assert first == [("bank", "+33612345999", T0, "manual"), ("shop", "+33612345000", T0, "mo"),
                     ("shop", "+33612345001", T0 + 1, "mo")]
    assert store.list_summary("purges", 10) == (
        [("shop", 1)], [("shop", "+33698765432", T0 + 7, "2 unknown-subscriber failures in 30 days")])
    with pytest.raises(ValueError):
        store.list_summary("messages; DROP TABLE messages", 1)


def test_first_rule_events_reads_a_rules_windowed_decisions_only(store: Store) -> None:
    for i, (action, campaign) in enumerate([("alert", None), ("suspend", None), ("refuse", None),
                                            ("alert", "c1"), ("alert", None), ("reprice", None)]):
        store.add_rule_event(RuleEvent("skew", action, "shop", T0 + i, None, campaign, None, {"i": i}))
    store.add_rule_event(RuleEvent("stop", "alert", "shop", T0))
    events = store.first_rule_events("skew", ("alert", "suspend", "reprice"), 3)
    assert [(e.action, e.facts["i"]) for e in events] == [("alert", 0), ("suspend", 1), ("alert", 4)]


def test_campaign_split_groups_messages_with_a_campaign_id(store: Store) -> None:
    for i, (op, campaign) in enumerate([("free", "c1"), ("free", "c1"), ("orange", "c1"), ("sfr", "c2"),
                                        ("orange", None)]):
        store.add_message(message(i, op, campaign))
    assert store.campaign_split() == [("shop", "c1", "free", 2), ("shop", "c1", "orange", 1),
                                      ("shop", "c2", "sfr", 1)]


# ---- pure helpers --------------------------------------------------------------------------------

def test_refusal_counts_name_statuses_and_sum_over_accounts() -> None:
    rows = refusal_counts([("bank", CommandStatus.ESME_RINVDSTADR, None, 2), ("shop", 0x400, "stop", 5),
                           ("shop", CommandStatus.ESME_RINVDSTADR, None, 12), ("shop", 0x4FF, "x", 1)])
    assert rows[1] == RefusalCount("shop", "RULE_OPTED_OUT", "stop", 5)
    assert rows[3].status == "0x000004ff"
    report = replace(bare(), refusals=rows)
    assert report.refused == 20
    assert report.refusals_by_status == (("ESME_RINVDSTADR", None, 14), ("RULE_OPTED_OUT", "stop", 5),
                                         ("0x000004ff", "x", 1))


def test_format_facts_is_one_bounded_line_in_key_order() -> None:
    facts = facts_of({"z": 1, "a": [1.23456, {"y": None, "b": True}], "m": "text"})
    assert format_facts(facts) == "a=[1.235, {b: True, y: None}], m=text, z=1"
    long = format_facts({"k": "x" * 1000})
    assert len(long) == FACTS_TEXT_MAX and long.endswith("...")
    assert format_facts({}) == ""


def test_split_shares_lists_reference_operators_first_and_missed_ones() -> None:
    shares = split_shares({"free": 90, "orange": 10, "mvno": 0}, FR["FR"])
    assert [(s.operator_id, s.count, round(s.observed, 3), s.reference) for s in shares] == [
        ("orange", 10, 0.1, 0.35), ("sfr", 0, 0.0, 0.25), ("bouygues", 0, 0.0, 0.22), ("free", 90, 0.9, 0.18),
        ("mvno", 0, 0.0, None)]
    assert all(s.observed == 0.0 for s in split_shares({}, FR["FR"]))
    stored = dict(sorted(FR["FR"].items()))      # as the store's JSON gives it back: by key
    assert split_shares({"free": 90, "orange": 10}, stored) == split_shares({"free": 90, "orange": 10}, FR["FR"])


def test_campaign_splits_by_country_with_the_verdict_and_a_bound() -> None:
    rows = [("shop", "c1", "free", 90), ("shop", "c1", "orange", 10), ("shop", "c1", "be_proximus", 3),
            ("shop", "c2", "sfr", 5), ("shop", "c3", "sfr", 5)]
    verdicts: list[tuple[str, str, int]] = []

    def verdict(account: str, campaign: str, total: int) -> str:
        verdicts.append((account, campaign, total))
        return "alert" if campaign == "c1" else "below sample"

    splits = campaign_splits(rows, lambda account: FR, verdict, limit=2)
    assert [(s.send, s.country, s.total, s.verdict) for s in splits] == [
        ("c1", "", 3, "alert"), ("c1", "FR", 100, "alert"), ("c2", "FR", 5, "below sample")]
    assert verdicts == [("shop", "c1", 103), ("shop", "c2", 5)]
    assert splits[0].shares[0].reference is None


def test_window_split_reads_counts_or_shares_and_ignores_other_facts() -> None:
    """The facts as R3 writes them (aggregator/rules/skew.py split_facts), or shares only."""
    split = window_split("shop", "alert", 60.0, {
        "counts": {"orange": 0, "sfr": 10, "bouygues": 0, "free": 90}, "observed": {"sfr": 0.1, "free": 0.9},
        "reference": FR["FR"], "country": "FR", "sample": 100, "operator": "free", "excess": 0.72})
    assert split is not None and (split.kind, split.total, split.country, split.verdict, split.at) == (
        "window", 100, "FR", "alert", 60.0)
    assert [(s.operator_id, s.count) for s in split.shares][-1] == ("free", 90)
    shares = window_split("shop", "suspend", 1.0, {"observed": {"free": 0.9, "sfr": 0.1}})
    assert shares is not None and shares.total == 0 and shares.shares[0].count is None
    assert [s.reference for s in shares.shares] == [None, None]
    for junk in ({}, {"observed": "free"}, {"observed": {}}, {"observed": {"free": "many", "x": True}}):
        assert window_split("shop", "alert", 0.0, junk) is None


def test_rule_events_go_into_the_timeline_at_the_advance_that_reached_them() -> None:
    steps = [TimelineEntry(0.0, 0, "bind", "b"), TimelineEntry(0.0, 1, "campaign", "c"),
             TimelineEntry(3600.0, 2, "advance", "1h"), TimelineEntry(3600.0, 3, "expect", "e"),
             TimelineEntry(7200.0, 4, "advance", "1h")]
    rows = [RuleEventRow(3600.0, "skew", "alert", "shop"), RuleEventRow(0.0, "stop", "refuse", "shop", "+33611"),
            RuleEventRow(5000.0, "purge", "purge", "shop"), RuleEventRow(9000.0, "credit", "lapse", "shop")]
    timeline = with_rule_events(steps, rows)
    assert [(e.at, e.step, e.kind) for e in timeline] == [
        (0.0, 0, "bind"), (0.0, 1, "campaign"), (0.0, 2, "rule"), (3600.0, 2, "rule"), (3600.0, 2, "advance"),
        (3600.0, 3, "expect"), (5000.0, 4, "rule"), (7200.0, 4, "advance"), (9000.0, 4, "rule")]
    assert timeline[2].summary == "stop refuse shop +33611"
    assert with_rule_events([], rows[1:2]) == (TimelineEntry(0.0, 0, "rule", "stop refuse shop +33611"),)


# ---- renderers -----------------------------------------------------------------------------------

def bare() -> ScenarioReport:
    return ScenarioReport(name="rules", source="scenarios/rules.yaml", seed=1, start="2026-12-01T09:00:00+01:00",
                          sim_duration=7200.0, messages=80, outcomes=(("delivered", 80),), per_operator=(),
                          latency=None, throughput=(), events=(), expectations=())


def with_rules() -> ScenarioReport:
    purge = RuleEventRow(5000.0, "purge", "purge", "shop", "+33698765432", None, None, facts_of(
        {"failures": [{"at": 10.123456, "err": "001"}, {"at": 4000.0, "err": "001"}], "threshold": 2}))
    refuse = RuleEventRow(0.5, "stop", "refuse", "shop", EVIL, "promo<1>", None, facts_of({"status": "RULE_OPTED_OUT"}))
    return replace(
        bare(),
        events=(TimelineEntry(0.5, 0, "rule", refuse.summary),),
        refusals=(RefusalCount("shop", "ESME_RINVDSTADR", None, 12), RefusalCount("shop", "RULE_OPTED_OUT", "stop", 5),
                  RefusalCount("shop", "RULE_DUPLICATE", "duplicate", 3)),
        rule_groups=(RuleEventGroup("purge", "purge", "shop", 1, 5000.0, 5000.0, (purge,)),
                     RuleEventGroup("stop", "refuse", "shop", 40, 0.5, 7000.0, (refuse,))),
        optouts=NumberList((("shop", 41),), (ListedNumber("shop", "+33612345678", 1.0, "mo"),)),
        purges=NumberList((("shop", 1),), (ListedNumber("shop", "+33698765432", 5000.0, "2 failures"),)),
        skew=(SkewSplit("shop", "promo-free", "campaign", "FR", 100,
                        split_shares({"free": 90, "orange": 10}, FR["FR"]), "alert"),
              SkewSplit("shop", "window", "window", "FR", 120, split_shares({"sfr": 0.5, "free": 0.5}, None, False),
                        "suspend", 60.0)),
    )


def test_json_holds_every_rule_part_deterministically() -> None:
    report = with_rules()
    text = render_json(report)
    assert text == render_json(with_rules())
    tree = json.loads(text)
    assert tree["summary"] == {"expectations": 0, "failed": 0, "refused": 20, "rule_events": 41}
    assert tree["refusals"][1] == {"account": "shop", "count": 5, "rule": "stop", "status": "RULE_OPTED_OUT"}
    assert tree["rule_events"][0]["examples"][0]["facts"]["failures"][0] == {"at": 10.123, "err": "001"}
    assert tree["optouts"] == {"total": 41, "per_account": {"shop": 41},
                               "first": [{"account": "shop", "number": "+33612345678", "at": 1.0, "why": "mo"}]}
    assert tree["skew"][0]["shares"][-1] == {"operator_id": "free", "count": 90, "observed": 0.9, "reference": 0.18}
    assert tree["skew"][1]["shares"][0]["count"] is None and tree["skew"][1]["at"] == 60.0
    assert json.loads(render_json(bare()))["optouts"] == {"total": 0, "per_account": {}, "first": []}


def test_json_refuses_a_fact_that_is_not_a_finite_number() -> None:
    row = RuleEventRow(0.0, "skew", "alert", "shop", facts=facts_of({"z": float("nan")}))
    report = replace(bare(), rule_groups=(RuleEventGroup("skew", "alert", "shop", 1, 0.0, 0.0, (row,)),))
    with pytest.raises(ValueError):
        render_json(report)


def test_summary_answers_why_messages_are_missing_at_a_glance() -> None:
    text = summary(with_rules(), None)
    assert "  refused       20: ESME_RINVDSTADR 12, RULE_OPTED_OUT 5 (stop), RULE_DUPLICATE 3 (duplicate)\n" in text
    assert "  rule events   41: purge purge 1, stop refuse 40\n" in text
    assert "  lists         opted out 41 (first +33612345678), purged 1 (first +33698765432)\n" in text
    assert "  skew          2 sends checked: shop promo-free FR alert (free 90.0% vs 18.0%), shop window FR suspend\n" \
        in text
    few = replace(with_rules(), skew=(SkewSplit("shop", "c9", "campaign", "FR", 12, (), "below sample"),))
    assert "  skew          1 send checked: shop c9 FR below sample (12 destinations)\n" in summary(few, None)
    quiet = summary(bare(), None)
    assert "refused" not in quiet and "rule events" not in quiet and "lists" not in quiet and "skew" not in quiet


def test_html_shows_refusals_events_lists_and_a_split_chart_escaped() -> None:
    page = render_html(with_rules(), None)
    assert EVIL not in page and "&lt;script&gt;" in page and "promo&lt;1&gt;" in page
    assert "<h2>Refusals</h2>" in page and "RULE_DUPLICATE" in page and "20 submits refused" in page
    assert "failures=[{at: 10.123, err: 001}, {at: 4000, err: 001}]" in page
    assert "and 39 more" in page and "and 40 more" in page
    assert page.count('<svg class="chart"') == 2  # one per split (no throughput, operator or latency data)
    assert "free observed 90.0% (90)" in page and "ref 18.0%" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script" not in page
    empty = render_html(bare(), None)
    assert "No submit was refused." in empty and "No bulk send checked by R3" in empty
    assert "No number opted out." in empty and "No rule events in this run." in empty


def test_ledger_amounts_are_summed_exactly() -> None:
    """100,000 lines of 0.05 and one of 0.000001 total 5,000.000001 exactly (a float sum: 5,000.0000010094)."""
    from aggregator.store import Store
    store = Store(":memory:")
    try:
        for i in range(100_000):
            store.bill("a", f"{i:016x}", 1, 0.0, 0.05)
        store.bill("a", "x", 1, 0.0, 0.000001)
        assert store.sum_ledger("amount") == 5000.000001
        assert store.sum_ledger("amount", "nobody") == 0
        assert store.sum_ledger("segments", "a") == 100_001
    finally:
        store.close()


# ---- the rows behind a failing expectation (Store.records, issue 14) ------------------------------

@pytest.mark.parametrize("subject", list(Subject), ids=[s.value for s in Subject])
def test_records_reads_every_subject_with_every_filter_it_takes(store: Store, subject: Subject) -> None:
    """Every filter the loader lets a subject have is a column of its rows, and so is the
    deciding one (runner._DECIDING): a failing expectation never breaks its report."""
    for i in range(3):
        store.add_message(message(i, "sfr", "promo"))
    store.add_refusal(RefusalRecord("shop", "0612", None, int(CommandStatus.ESME_RINVDSTADR), None, "bad", None,
                                    T0 + 5))
    store.add_rule_event(RuleEvent("stop", "optout", "shop", T0 + 6, "+33650000001", None, None, {}))
    values = {"account": "shop", "state": "accepted", "stat": "DELIVRD", "operator": "sfr", "text": b"x",
              "rule": "stop", "action": "optout", "number": "+33650000001", "campaign": None, "status": 0}
    filters = {f.value: values[f.value] for f in SUBJECT_FILTERS[subject] if values[f.value] is not None}
    if subject is Subject.DELIVERIES:
        filters["acknowledged"] = 1
    total, rows = store.records(subject.value, filters, 10)
    assert total == len(rows) and all("at" in row for row in rows)
    deciding = _DECIDING.get(subject)
    if deciding is not None and deciding in filters:
        assert store.records(subject.value, filters, 10, unlike=deciding)[0] >= 0
    assert store.records(subject.value, {}, 2)[1][:2] == store.records(subject.value, {}, 10)[1][:2]


def test_records_counts_all_keeps_the_first_in_time_order_and_unlike_takes_the_others(store: Store) -> None:
    for i in range(12):
        store.add_message(message(11 - i, "sfr", None))
    store.set_state(f"{3:016x}", MessageState.DELIVERED, at=T0 + 20, done_at=T0 + 20)
    total, rows = store.records("messages", {"account": "shop", "state": "accepted"}, 10)
    assert total == 11 and [r["message"] for r in rows] == [f"{i:016x}" for i in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10)]
    total, rows = store.records("messages", {"account": "shop", "state": "accepted"}, 10, unlike="state")
    assert (total, [(r["message"], r["state"], r["done_at"]) for r in rows]) == (
        1, [(f"{3:016x}", "delivered", T0 + 20)])
