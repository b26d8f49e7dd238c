"""Pure operator decisions: distributions, outcome weights, magic numbers, caps (no sockets, no clock)."""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from aggregator.config import load_config
from smsc.operators.behaviour import (
    Accepted, Admission, PlainDecider, PlannedReply, Refusal, RefusalReason, SubmitFacts, decide, is_alphanumeric,
)
from smsc.operators.profile import (
    Exponential, Faults, Fixed, LogNormal, NumberRule, Outcome, Reply, SlowResponses, SmscBehaviour, Stat,
    SubmitError, SubscriberState, Throughput, Uniform, UnknownSignal, sample_delay,
)
from smsc.operators.subscribers import Subscriber, SubscriberBook
from smsc.pdu.status import CommandStatus

DAY = 86400.0
N = 20_000


def facts(msisdn: str = "+33612000000", source: str = "36180", ton: int = 3, validity: float = DAY,
          before: int = 0) -> SubmitFacts:
    return SubmitFacts(msisdn, source, ton, validity, before)


def active(msisdn: str = "+33612000000") -> Subscriber:
    return Subscriber(msisdn, SubscriberState.ACTIVE)


# --- distributions ------------------------------------------------------------------------

@pytest.mark.parametrize("delay, low, high", [
    (Fixed(2.5), 2.5, 2.5),
    (Uniform(1.0, 5.0), 1.0, 5.0),
    (Exponential(3.0), 0.0, float("inf")),
    (LogNormal(2.0, 30.0), 0.0, float("inf")),
    (Exponential(0.0), 0.0, 0.0),
    (LogNormal(4.0, 4.0), 4.0, 4.0),
])
def test_delays_stay_within_bounds_and_repeat_for_a_seed(delay: object, low: float, high: float) -> None:
    rng_a, rng_b = random.Random("1:orange"), random.Random("1:orange")
    a = [sample_delay(delay, rng_a) for _ in range(2000)]  # type: ignore[arg-type]
    b = [sample_delay(delay, rng_b) for _ in range(2000)]  # type: ignore[arg-type]
    assert a == b
    assert all(low <= x <= high for x in a)


def test_sample_delay_is_capped() -> None:
    rng = random.Random(1)
    assert all(sample_delay(Uniform(10, 20), rng, cap=12.0) <= 12.0 for _ in range(200))
    assert sample_delay(Fixed(5), rng, cap=-1) == 0.0


def test_lognormal_median_and_p99_are_what_was_asked() -> None:
    rng = random.Random("lognormal")
    values = sorted(LogNormal(2.0, 30.0).sample(rng) for _ in range(N))
    assert statistics.median(values) == pytest.approx(2.0, rel=0.06)
    assert values[int(0.99 * N)] == pytest.approx(30.0, rel=0.2)


def test_exponential_and_uniform_means() -> None:
    rng = random.Random("means")
    assert statistics.fmean(Exponential(3.0).sample(rng) for _ in range(N)) == pytest.approx(3.0, rel=0.05)
    assert statistics.fmean(Uniform(1.0, 5.0).sample(rng) for _ in range(N)) == pytest.approx(3.0, rel=0.02)


@pytest.mark.parametrize("build", [lambda: Fixed(-1), lambda: Uniform(5, 1), lambda: Exponential(-2),
                                   lambda: LogNormal(0, 1), lambda: LogNormal(3, 2)])
def test_bad_distributions_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        build()


# --- outcome model ------------------------------------------------------------------------

FRENCH = load_config().operators[0].behaviour


def shares(values: list[object]) -> dict[object, float]:
    counts = Counter(values)
    return {key: 100.0 * count / len(values) for key, count in counts.items()}


def test_outcome_weights_are_approximately_respected() -> None:
    behaviour = SmscBehaviour(outcomes=FRENCH.outcomes, receipt_delay=Fixed(1.0))
    rng = random.Random("1:orange")
    decisions = [decide(facts(), active(), behaviour, rng) for _ in range(N)]
    assert all(isinstance(d, Accepted) for d in decisions)
    got = shares([(d.stat, d.err) for d in decisions if isinstance(d, Accepted)])
    # binomial standard deviation at n=20,000: 0.11 points at 97.5 %, 0.05 at 0.5 %
    assert got[(Stat.DELIVRD, "000")] == pytest.approx(97.5, abs=0.45)
    assert got[(Stat.UNDELIV, "034")] == pytest.approx(1.0, abs=0.3)
    for key in ((Stat.UNDELIV, "031"), (Stat.REJECTD, "010"), (Stat.EXPIRED, "027")):
        assert got[key] == pytest.approx(0.5, abs=0.22)


def test_expired_outcome_comes_at_the_validity_end_and_delays_are_capped() -> None:
    expiring = SmscBehaviour(outcomes=(Outcome(Stat.EXPIRED, "027", 1.0),))
    decision = decide(facts(validity=3600.0), active(), expiring, random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.err, decision.done_after) == (
        Stat.EXPIRED, "027", 3600.0)
    slow = SmscBehaviour(receipt_delay=Fixed(500.0))
    decision = decide(facts(validity=60.0), active(), slow, random.Random(1))
    assert isinstance(decision, Accepted) and decision.done_after == 60.0


def test_submit_error_share() -> None:
    behaviour = SmscBehaviour(submit_errors=(SubmitError(CommandStatus.ESME_RSUBMITFAIL, 5.0),))
    rng = random.Random("errors")
    decisions = [decide(facts(), active(), behaviour, rng) for _ in range(N)]
    refused = [d for d in decisions if isinstance(d, Refusal)]
    assert {(d.status, d.reason) for d in refused} == {(CommandStatus.ESME_RSUBMITFAIL, RefusalReason.SUBMIT_ERROR)}
    assert 100.0 * len(refused) / N == pytest.approx(5.0, abs=0.6)


def test_receipt_loss_and_slow_response_shares() -> None:
    behaviour = SmscBehaviour(faults=Faults(slow_responses=SlowResponses(10.0, Uniform(1, 10)), receipt_loss=2.0))
    rng = random.Random("faults")
    decisions = [d for d in (decide(facts(), active(), behaviour, rng) for _ in range(N)) if isinstance(d, Accepted)]
    assert 100.0 * sum(not d.receipt for d in decisions) / N == pytest.approx(2.0, abs=0.4)
    slow = [d.respond_after for d in decisions if d.respond_after > 0]
    assert 100.0 * len(slow) / N == pytest.approx(10.0, abs=0.8)
    assert all(1.0 <= s <= 10.0 for s in slow)


def test_same_seed_same_traffic_same_fates() -> None:
    book = SubscriberBook("sfr", 1, FRENCH.subscribers)
    numbers = [f"+3361{n:07d}" for n in range(3000)]

    def run() -> list[object]:
        rng = random.Random("1:sfr")
        return [decide(facts(n), book.lookup(n), FRENCH, rng) for n in numbers]
    assert run() == run()


# --- subscribers --------------------------------------------------------------------------

@pytest.mark.parametrize("state, err", [
    (SubscriberState.UNKNOWN, "001"), (SubscriberState.TERMINATED, "005"), (SubscriberState.BARRED, "013"),
])
def test_permanent_subscriber_states_give_undeliv(state: SubscriberState, err: str) -> None:
    decision = decide(facts(), Subscriber("+33612000000", state), SmscBehaviour(), random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.err, decision.done_after) == (
        Stat.UNDELIV, err, 1.0)


def test_unknown_subscriber_refused_at_submit_when_configured() -> None:
    behaviour = SmscBehaviour(unknown_subscriber=UnknownSignal.SUBMIT_ERROR)
    decision = decide(facts(), Subscriber("+33612000000", SubscriberState.UNKNOWN), behaviour, random.Random(1))
    assert decision == Refusal(CommandStatus.ESME_RINVDSTADR, RefusalReason.UNKNOWN_SUBSCRIBER)


def test_absent_subscriber_is_delivered_when_back_or_expires() -> None:
    back_in_time = Subscriber("+33612000000", SubscriberState.ABSENT, back_after=Fixed(600.0))
    decision = decide(facts(validity=3600.0), back_in_time, SmscBehaviour(), random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.done_after) == (Stat.DELIVRD, 600.0)
    too_late = Subscriber("+33612000000", SubscriberState.ABSENT, back_after=Fixed(7200.0))
    decision = decide(facts(validity=3600.0), too_late, SmscBehaviour(), random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.err, decision.done_after) == (
        Stat.EXPIRED, "027", 3600.0)
    never = Subscriber("+33612000000", SubscriberState.ABSENT)
    decision = decide(facts(), never, SmscBehaviour(), random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.done_after) == (Stat.EXPIRED, DAY)


# --- replies ------------------------------------------------------------------------------

def test_reply_share_and_alphanumeric_senders() -> None:
    behaviour = SmscBehaviour(replies=(Reply("STOP", 2.0, Uniform(30, 7200)),))
    rng = random.Random("replies")
    decisions = [decide(facts(), active(), behaviour, rng) for _ in range(N)]
    replies = [d.reply for d in decisions if isinstance(d, Accepted) and d.reply is not None]
    assert 100.0 * len(replies) / N == pytest.approx(2.0, abs=0.4)
    assert all(r.text == "STOP" and r.reachable and 30 <= r.after <= 7200 for r in replies)
    alpha = [decide(facts(source="MyShop", ton=5), active(), behaviour, rng) for _ in range(2000)]
    dropped = [d.reply for d in alpha if isinstance(d, Accepted) and d.reply is not None]
    assert dropped and not any(r.reachable for r in dropped)


def test_alphanumeric_sender_only_rule() -> None:
    behaviour = SmscBehaviour(replies=(Reply("STOP", 100.0, Fixed(1), alphanumeric_sender_only=True),))
    numeric = decide(facts(), active(), behaviour, random.Random(1))
    assert isinstance(numeric, Accepted) and numeric.reply is None
    alpha = decide(facts(source="Shop1", ton=0), active(), behaviour, random.Random(1))
    assert isinstance(alpha, Accepted) and alpha.reply == PlannedReply("STOP", 1.0, reachable=False)


def test_no_reply_unless_delivered() -> None:
    behaviour = SmscBehaviour(outcomes=(Outcome(Stat.UNDELIV, "034", 1),), replies=(Reply("STOP", 100.0),))
    decision = decide(facts(), active(), behaviour, random.Random(1))
    assert isinstance(decision, Accepted) and decision.reply is None


@pytest.mark.parametrize("addr, ton, alpha", [("36180", 3, False), ("33612345678", 1, False), ("MyShop", 5, True),
                                              ("Shop24", 0, True), ("12345", 5, True)])
def test_is_alphanumeric(addr: str, ton: int, alpha: bool) -> None:
    assert is_alphanumeric(addr, ton) is alpha


# --- magic test numbers -------------------------------------------------------------------

MAGIC = SubscriberBook("orange", 1, FRENCH.subscribers, test_numbers=load_config().test_numbers)


def magic(number: str, before: int = 0, validity: float = DAY) -> Accepted | Refusal:
    # A "hostile" behaviour: whatever the weights say must not touch a magic number.
    hostile = SmscBehaviour(outcomes=(Outcome(Stat.UNDELIV, "034", 1),),
                            submit_errors=(SubmitError(CommandStatus.ESME_RSYSERR, 100.0),),
                            faults=Faults(slow_responses=SlowResponses(100.0), receipt_loss=100.0))
    return decide(facts(number, validity=validity, before=before), MAGIC.lookup(number), hostile, random.Random(1))


@pytest.mark.parametrize("number, stat, err, after", [
    ("+33612345678", Stat.DELIVRD, "000", 0.0),
    ("+33699990000", Stat.DELIVRD, "000", 0.0),
    ("+33699990001", Stat.UNDELIV, "001", 1.0),
    ("+33699990002", Stat.DELIVRD, "000", 300.0),
    ("+33699990003", Stat.EXPIRED, "027", DAY),
    ("+33699990004", Stat.UNDELIV, "005", 1.0),
    ("+33699990006", Stat.DELIVRD, "000", 30.0),
])
def test_magic_number_fates(number: str, stat: Stat, err: str, after: float) -> None:
    decision = magic(number)
    assert isinstance(decision, Accepted)
    assert (decision.stat, decision.err, decision.done_after, decision.receipt, decision.respond_after) == (
        stat, err, after, True, 0.0)
    assert decision.reply is None


def test_magic_absent_expires_at_a_shorter_validity() -> None:
    decision = magic("+33699990003", validity=3600.0)
    assert isinstance(decision, Accepted) and (decision.stat, decision.done_after) == (Stat.EXPIRED, 3600.0)


def test_magic_refused_at_submit() -> None:
    assert magic("+33699990005") == Refusal(CommandStatus.ESME_RSUBMITFAIL, RefusalReason.TEST_NUMBER)


@pytest.mark.parametrize("number, keyword", [("+33699990007", "STOP"), ("+33699990008", "CONTACT")])
def test_magic_replies(number: str, keyword: str) -> None:
    decision = magic(number)
    assert isinstance(decision, Accepted) and decision.stat is Stat.DELIVRD and decision.reply is not None
    assert decision.reply.text == keyword and decision.reply.reachable and 0 < decision.reply.after <= 5.0


def test_magic_no_receipt_ever() -> None:
    decision = magic("+33699990009")
    assert isinstance(decision, Accepted) and decision.stat is Stat.DELIVRD and decision.receipt is False


def test_magic_throttled_every_other_submit() -> None:
    results = [magic("+33699990010", before=n) for n in range(6)]
    assert [isinstance(r, Accepted) for r in results] == [True, False, True, False, True, False]
    assert {r for r in results if isinstance(r, Refusal)} == {
        Refusal(CommandStatus.ESME_RTHROTTLED, RefusalReason.TEST_NUMBER_THROTTLE)}


def test_magic_numbers_draw_no_outcome_randomness() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    decide(facts("+33699990004"), MAGIC.lookup("+33699990004"), FRENCH, rng)
    assert rng.getstate() == state                      # fixed delay, no shares: nothing drawn


def test_exact_numbers_of_the_operator_follow_their_state_only() -> None:
    book = SubscriberBook("orange", 1, numbers=(NumberRule("+33600000001", SubscriberState.BARRED),))
    decision = decide(facts("+33600000001"), book.lookup("+33600000001"), FRENCH, random.Random(1))
    assert isinstance(decision, Accepted) and (decision.stat, decision.err) == (Stat.UNDELIV, "013")


# --- throughput caps and window (R14) -----------------------------------------------------

def test_operator_bucket_throttles_beyond_the_burst_and_refills() -> None:
    admission = Admission(SmscBehaviour(throughput=Throughput(rate=10.0, burst=5)), now=0.0)
    admission.add_bind("a", 0.0)
    assert [admission.admit("a", 0, 0.0) for _ in range(5)] == [None] * 5
    assert admission.admit("a", 0, 0.0) == Refusal(CommandStatus.ESME_RTHROTTLED, RefusalReason.OPERATOR_THROUGHPUT)
    assert admission.admit("a", 0, 0.05) is not None              # half a token
    assert admission.admit("a", 0, 0.1) is None                   # one token after 0.1 s at 10/s
    assert admission.admit("a", 0, 0.1) is not None


def test_per_bind_bucket_is_per_bind() -> None:
    admission = Admission(SmscBehaviour(per_bind=Throughput(rate=1.0, burst=2)), now=0.0)
    admission.add_bind("a", 0.0)
    admission.add_bind("b", 0.0)
    assert [admission.admit("a", 0, 0.0) is None for _ in range(3)] == [True, True, False]
    assert admission.admit("a", 0, 0.0) == Refusal(CommandStatus.ESME_RTHROTTLED, RefusalReason.BIND_THROUGHPUT)
    assert admission.admit("b", 0, 0.0) is None
    admission.remove_bind("a")
    admission.add_bind("a", 0.0)                                  # a new bind starts with a full bucket
    assert admission.admit("a", 0, 0.0) is None


def test_a_throttled_submit_spends_no_operator_token() -> None:
    admission = Admission(SmscBehaviour(throughput=Throughput(1.0, 1), per_bind=Throughput(1.0, 1)), now=0.0)
    admission.add_bind("a", 0.0)
    admission.add_bind("b", 0.0)
    assert admission.admit("a", 0, 0.0) is None
    assert admission.admit("a", 0, 0.0) is not None               # bind a empty
    assert admission.admit("b", 0, 0.0) is not None               # operator empty too
    assert admission.admit("b", 0, 1.0) is None


def test_window_full_gives_the_queue_full_status() -> None:
    behaviour = SmscBehaviour(window=3, queue_full_status=CommandStatus.ESME_RSYSERR)
    admission = Admission(behaviour, now=0.0)
    admission.add_bind("a", 0.0)
    assert admission.admit("a", 2, 0.0) is None
    assert admission.admit("a", 3, 0.0) == Refusal(CommandStatus.ESME_RSYSERR, RefusalReason.WINDOW_FULL)


def test_set_throughput_at_run_time() -> None:
    admission = Admission(SmscBehaviour(), now=0.0)               # no cap
    admission.add_bind("a", 0.0)
    assert all(admission.admit("a", 0, 0.0) is None for _ in range(100))
    admission.set_throughput(2.0, 2, now=0.0)
    assert [admission.admit("a", 0, 0.0) is None for _ in range(3)] == [True, True, False]
    admission.set_throughput(1.0, 1, now=10.0)
    assert [admission.admit("a", 0, 10.0) is None for _ in range(2)] == [True, False]


def test_configurable_throttled_status() -> None:
    behaviour = SmscBehaviour(throughput=Throughput(1.0, 1), throttled_status=CommandStatus.ESME_RMSGQFUL)
    admission = Admission(behaviour, now=0.0)
    admission.add_bind("a", 0.0)
    admission.admit("a", 0, 0.0)
    refusal = admission.admit("a", 0, 0.0)
    assert refusal is not None and refusal.status is CommandStatus.ESME_RMSGQFUL
    throttled = decide(facts("+33699990010", before=1), MAGIC.lookup("+33699990010"), behaviour, random.Random(1))
    assert isinstance(throttled, Refusal) and throttled.status is CommandStatus.ESME_RMSGQFUL


# --- PlainDecider: decide() of the common submit, without its objects ------------------------

_delays = st.one_of(
    st.builds(Fixed, st.sampled_from([0, 0.0, 0.5, 1.0, 30.0, DAY, 2 * DAY])),
    st.builds(Uniform, st.just(0.0), st.sampled_from([1.0, 60.0])),
    st.builds(Exponential, st.sampled_from([0.0, 5.0])),
)
_outcomes = st.lists(st.builds(Outcome, st.sampled_from(list(Stat)), st.sampled_from(["000", "001", "027"]),
                               st.sampled_from([0.0, 0.1, 1.0, 33.3, 100.0])), min_size=1, max_size=4) \
    .filter(lambda outcomes: sum(o.weight for o in outcomes) > 0)


@settings(max_examples=300, deadline=None)
@given(outcomes=_outcomes, delay=_delays, loss=st.sampled_from([0.0, 0.5, 50.0, 100.0]),
       validity=st.sampled_from([0.25, 1.0, 3600.0, DAY, 7 * DAY]), seed=st.integers(0, 2 ** 32))
def test_plain_decider_is_decide_on_its_path(outcomes: list[Outcome], delay: object, loss: float,
                                               validity: float, seed: int) -> None:
    """Same fate and the same rng state after, message after message (its shared Accepted values
    included), for every behaviour it covers; a behaviour it does not cover gets None."""
    behaviour = SmscBehaviour(receipt_delay=delay, outcomes=tuple(outcomes),  # type: ignore[arg-type]
                              faults=Faults(receipt_loss=loss))
    plain = PlainDecider.of(behaviour)
    assert plain is not None and PlainDecider.applies(active())
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    for _ in range(20):
        assert plain.decide(validity, rng_a) == decide(facts(validity=validity), active(), behaviour, rng_b)
        assert rng_a.getstate() == rng_b.getstate()


def test_plain_decider_covers_only_the_common_path() -> None:
    assert PlainDecider.of(SmscBehaviour(faults=Faults(slow_responses=SlowResponses(share=1.0)))) is None
    assert PlainDecider.of(SmscBehaviour(submit_errors=(SubmitError(CommandStatus.ESME_RSYSERR, 1.0),))) is None
    assert PlainDecider.of(SmscBehaviour(replies=(Reply("ok"),))) is None
    assert not PlainDecider.applies(Subscriber("+33612000000", SubscriberState.ABSENT))
    assert not PlainDecider.applies(Subscriber("+33612000000", SubscriberState.ACTIVE, NumberRule("+33612000000")))
