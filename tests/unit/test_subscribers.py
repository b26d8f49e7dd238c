"""The subscriber book: states per number that outlive a message, stable and traffic-independent."""

from __future__ import annotations

import pytest

from smsc.operators.profile import Fixed, NumberRule, RangeRule, SubscriberState, Uniform
from smsc.operators.subscribers import SubscriberBook, lenient_e164, stable_share

S = SubscriberState


@pytest.mark.parametrize("addr, ton, expected", [
    ("33612345678", 1, "+33612345678"),
    ("+33612345678", 0, "+33612345678"),
    ("0033612345678", 0, "+33612345678"),
    ("0612345678", 2, "+33612345678"),
    ("0612345678", 0, "+33612345678"),
    ("36180", 3, "+36180"),
])
def test_lenient_e164(addr: str, ton: int, expected: str) -> None:
    assert lenient_e164(addr, ton) == expected


def test_lenient_e164_reads_national_numbers_in_another_country() -> None:
    assert lenient_e164("0791234567", 2, country_code="41") == "+41791234567"


def test_no_rule_means_active() -> None:
    assert SubscriberBook("orange", 1).lookup("+33612345678").state is S.ACTIVE


def test_exact_rules_win_over_ranges_and_test_numbers_over_numbers() -> None:
    book = SubscriberBook(
        "orange", 1,
        ranges=(RangeRule("+33", state=S.BARRED), RangeRule("+3361", state=S.TERMINATED)),
        numbers=(NumberRule("+33612345678", S.UNKNOWN), NumberRule("+33699990002", S.BARRED)),
        test_numbers=(NumberRule("+33699990002", S.ABSENT, back_after=300.0),),
    )
    assert book.lookup("+33700000000").state is S.BARRED            # only "+33" matches
    assert book.lookup("+33611111111").state is S.TERMINATED        # longest prefix wins
    found = book.lookup("+33612345678")
    assert (found.state, found.test_number) == (S.UNKNOWN, False)
    magic = book.lookup("+33699990002")
    assert (magic.state, magic.test_number, magic.back_after) == (S.ABSENT, True, Fixed(300.0))


def test_absent_from_a_range_carries_its_back_after_distribution() -> None:
    book = SubscriberBook("sfr", 1, ranges=(RangeRule("+33", state=S.ABSENT, absent_back_after=Uniform(1, 2)),))
    assert book.lookup("+33612345678").back_after == Uniform(1, 2)
    never = SubscriberBook("sfr", 1, ranges=(RangeRule("+33", state=S.ABSENT, absent_back_after=None),))
    assert never.lookup("+33612345678").back_after is None


RANGE = RangeRule("+336", unknown=1.5, absent=1.0, terminated=0.3, barred=0.2)
NUMBERS = [f"+3361{n:07d}" for n in range(20_000)]


def test_a_number_keeps_its_state_whatever_the_traffic_order() -> None:
    first = SubscriberBook("orange", 7, ranges=(RANGE,))
    forward = [first.lookup(n).state for n in NUMBERS[:2000]]
    again = SubscriberBook("orange", 7, ranges=(RANGE,))
    backward = [again.lookup(n).state for n in reversed(NUMBERS[:2000])]
    assert forward == list(reversed(backward))
    assert forward == [first.lookup(n).state for n in NUMBERS[:2000]]     # and across messages


def test_range_shares_are_approximately_respected() -> None:
    book = SubscriberBook("orange", 1, ranges=(RANGE,))
    states = [book.lookup(n).state for n in NUMBERS]
    share = {state: 100.0 * states.count(state) / len(states) for state in S}
    # binomial standard deviation at n=20,000 is <= 0.09 points for these shares; allow ~4 of them
    assert share[S.UNKNOWN] == pytest.approx(1.5, abs=0.35)
    assert share[S.ABSENT] == pytest.approx(1.0, abs=0.3)
    assert share[S.TERMINATED] == pytest.approx(0.3, abs=0.15)
    assert share[S.BARRED] == pytest.approx(0.2, abs=0.12)
    assert share[S.ACTIVE] == pytest.approx(97.0, abs=0.5)


def test_seed_and_operator_change_which_numbers_get_a_state() -> None:
    def unknowns(book: SubscriberBook) -> list[str]:
        return [n for n in NUMBERS[:5000] if book.lookup(n).state is S.UNKNOWN]
    base = unknowns(SubscriberBook("orange", 1, ranges=(RANGE,)))
    assert base and base != unknowns(SubscriberBook("orange", 2, ranges=(RANGE,)))
    assert base != unknowns(SubscriberBook("sfr", 1, ranges=(RANGE,)))


def test_stable_share_is_in_range_and_fixed() -> None:
    values = [stable_share(1, "orange", n) for n in NUMBERS[:1000]]
    assert all(0.0 <= v < 100.0 for v in values)
    assert stable_share(1, "orange", "+33612345678") == stable_share(1, "orange", "+33612345678")
