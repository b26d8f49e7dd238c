"""aggregator/stats.py's counters on their own: exact counts and rates at exact instants.

LiveStats takes `now` from its caller, so these tests give it the instants themselves: a
rate is the count of the 60 whole seconds ending with the current one, divided by 60.
"""

from __future__ import annotations

import pytest

from aggregator.stats import LATENCY_BUCKETS, WINDOW, LiveStats
from aggregator.store import MessageState

T0 = 1_795_982_400.0            # a whole second


def test_a_rate_counts_the_last_sixty_whole_seconds() -> None:
    stats = LiveStats(T0)
    for _ in range(6):
        stats.accepted_message(None, "shop", "sfr", T0 + 0.5)
    for _ in range(3):
        stats.accepted_message(None, "shop", "sfr", T0 + 30.9)
    stats.advance(T0 + 59.999)                 # second T0 is the window's oldest
    assert stats.submitted.rate() == 9 / WINDOW
    stats.advance(T0 + 60.0)                   # ... and now it is gone
    assert stats.submitted.rate() == 3 / WINDOW
    stats.advance(T0 + 89.999)
    assert stats.submitted.rate() == 3 / WINDOW
    stats.advance(T0 + 90.0)
    assert stats.submitted.rate() == 0.0
    assert stats.submitted.total == 9          # since start, whatever the window


def test_a_jump_of_a_window_or_more_empties_every_ring() -> None:
    stats = LiveStats(T0)
    stats.bound("shop#1", T0)
    for second in range(WINDOW):
        stats.accepted_message("shop#1", "shop", "sfr", T0 + second)
        stats.sent("sfr", T0 + second)
        stats.final("shop", "sfr", MessageState.DELIVERED, T0 + second, 1.0)
    stats.advance(T0 + WINDOW - 1)
    assert stats.submitted.rate() == stats.delivered.rate() == stats.operators["sfr"].rate() == 1.0
    assert stats.binds["shop#1"].meter.rate() == 1.0
    stats.advance(T0 + 3600 * 24 + 0.5)        # a day later (a replay's jump of time)
    assert stats.submitted.rate() == stats.delivered.rate() == stats.operators["sfr"].rate() == 0.0
    assert stats.binds["shop#1"].meter.rate() == 0.0
    stats.accepted_message("shop#1", "shop", "sfr", T0 + 3600 * 24 + 0.7)
    assert stats.submitted.rate() == 1 / WINDOW and stats.submitted.total == WINDOW + 1


def test_a_clock_set_back_counts_on_in_the_current_second() -> None:
    stats = LiveStats(T0)
    stats.accepted_message(None, "shop", "sfr", T0 + 10.2)
    stats.accepted_message(None, "shop", "sfr", T0 + 4.0)       # a wall clock set back 6 s
    stats.advance(T0 + 10.5)
    assert stats.submitted.rate() == 2 / WINDOW and stats.submitted.slots[int(T0 + 10) % WINDOW] == 2


def test_counts_by_account_operator_status_and_bind() -> None:
    stats = LiveStats(T0)
    stats.bound("demo#1", T0)
    stats.accepted_message("demo#1", "demo", "sfr", T0 + 1)
    stats.accepted_message("demo#1", "demo", "orange", T0 + 1)
    stats.accepted_message("demo#7", "demo", "orange", T0 + 1)          # a bind we never saw: totals only
    stats.accepted_message(None, "demo", "sfr", T0 + 2)                 # the platform's own reply
    stats.refused_submit("demo", 0x58)
    stats.refused_submit("demo", 0x58)
    stats.refused_submit("shop", 0x0B)
    stats.final("demo", "sfr", MessageState.DELIVERED, T0 + 3, 2.0)
    stats.final("demo", "orange", MessageState.EXPIRED, T0 + 3, None)
    stats.final("demo", "orange", MessageState.UNDELIVERABLE, T0 + 3, 2.0)
    assert stats.accepted == {("demo", "sfr"): 2, ("demo", "orange"): 2}
    assert stats.refused == {("demo", 0x58): 2, ("shop", 0x0B): 1} and stats.refused_total == 3
    assert stats.finals == {("demo", "sfr", MessageState.DELIVERED): 1, ("demo", "orange", MessageState.EXPIRED): 1,
                            ("demo", "orange", MessageState.UNDELIVERABLE): 1}
    assert (stats.submitted.total, stats.delivered.total, stats.failed.total) == (4, 1, 2)
    assert stats.binds["demo#1"].meter.total == 2 and "demo#7" not in stats.binds
    stats.unbound("demo#1")
    stats.unbound(None)                        # a connection that never bound
    assert stats.binds == {} and stats.submitted.total == 4


@pytest.mark.parametrize("latency, bucket", [
    (0.0, 0), (0.05, 0), (0.0501, 1), (0.1, 1), (3.0, 6), (86400.0, len(LATENCY_BUCKETS) - 1),
    (86400.5, len(LATENCY_BUCKETS)),
])
def test_a_latency_falls_in_the_first_bucket_whose_bound_it_does_not_pass(latency: float, bucket: int) -> None:
    stats = LiveStats(T0)
    stats.final("demo", "sfr", MessageState.DELIVERED, T0, latency)
    histogram = stats.latency["sfr"]
    assert histogram.counts[bucket] == 1 and sum(histogram.counts) == 1 and histogram.sum == latency


def test_an_end_without_the_operators_verdict_is_not_a_latency() -> None:
    stats = LiveStats(T0)
    stats.final("demo", "sfr", MessageState.EXPIRED, T0 + 86400, None)
    assert stats.latency == {} and stats.failed.total == 1
