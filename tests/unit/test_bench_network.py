"""The shipped bench network (aggregator/bench_network.yaml, issue 13): the French network of
default_network.yaml with nothing that slows or fails a message, and the rest unchanged."""

from __future__ import annotations

import dataclasses

from aggregator.config import load_bench_config, load_config
from cli.sink import ALL_LOST, sink_profile
from smsc.operators.profile import Fixed, Outcome, Stat


def test_same_operators_routing_rules_and_limits_as_the_default_network() -> None:
    bench, default = load_bench_config(), load_config()
    assert bench.source.endswith("bench_network.yaml")
    assert [(o.id, o.name, o.carriers) for o in bench.operators] == \
           [(o.id, o.name, o.carriers) for o in default.operators]
    assert bench.routing == default.routing                  # each number reaches the same operator
    assert bench.rules == default.rules                      # the rules users pay for, on
    # the same limits, but for the client binds' deliver_sm window: receipts keep pace at 1000
    assert bench.limits == dataclasses.replace(default.limits, deliver_window=1000)


def test_nothing_slows_or_fails_a_message() -> None:
    bench = load_bench_config()
    assert bench.test_numbers == ()
    for op in bench.operators:
        assert op.send_rate is None and op.window == 1000 and op.binds >= 2
        b = op.behaviour
        assert b.throughput is None and b.per_bind is None and b.max_binds == 64
        assert b.receipt_delay == Fixed(0.0)
        assert b.outcomes == (Outcome(Stat.DELIVRD, "000", 100.0),)
        assert b.submit_errors == () and b.subscribers == () and b.numbers == () and b.replies == ()
        assert b.faults.outages == () and b.faults.slow_responses.share == 0 and b.faults.receipt_loss == 0
    (demo,) = bench.accounts
    assert (demo.system_id, demo.rate, demo.credit, demo.max_binds) == ("demo", None, None, 64)
    assert demo.max_pending == 10_000_000


def test_the_sink_plays_the_first_operator_and_loses_every_receipt_without_receipts() -> None:
    first = load_bench_config().operators[0]
    with_receipts = sink_profile("bench", "pw", receipts=True)
    assert (with_receipts.id, with_receipts.system_id, with_receipts.password) == (first.id, "bench", "pw")
    assert with_receipts.behaviour == first.behaviour
    without = sink_profile("bench", "pw", receipts=False)
    assert without.behaviour.faults.receipt_loss == ALL_LOST
