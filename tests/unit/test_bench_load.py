"""smsc.bench.load on a virtual clock: the bench's accounting against a test responder over
in-memory links (tests/support/bench_responder.py). Counts and latencies, never speed."""

from __future__ import annotations

from typing import Sequence

import pytest
from twisted.internet import defer

from smsc.bench.figures import Figures, merge
from smsc.bench.load import BindRefused, LoadConfig, LoadResult, LoadRun, Progress, receipted_id
from smsc.memory import MemoryNetwork, fired_result, run_until
from smsc.pdu.codec import Command, Tag, Tlv, encode, make
from smsc.pdu.receipt import Receipt
from smsc.pdu.status import CommandStatus
from smsc.virtualclock import VirtualClock
from tests.support.bench_responder import Behaviour, ResponderFactory, Seen

LATENCY = 0.001          # one-way, seconds, every in-memory write


def run_bench(behaviour: Behaviour, config: LoadConfig, horizon: float = 30.0,
              progress: list[Progress] | None = None) -> tuple[LoadResult, Figures, Seen]:
    clock = VirtualClock(1_000.0)
    network = MemoryNetwork(clock, latency=LATENCY)
    factory = ResponderFactory(clock, behaviour)
    port = fired_result(network.listen("127.0.0.1", 0, factory)).getHost().port
    run = LoadRun(config, clock, network.dial("127.0.0.1", port),
                  on_progress=None if progress is None else progress.append)
    done = defer.ensureDeferred(run.run())
    run_until(clock, clock.seconds() + horizon)
    result = fired_result(done)
    return result, merge(config, [result]), factory.seen


def closed(**changes: object) -> LoadConfig:
    settings: dict[str, object] = {"binds": 2, "window": 5, "duration": 1.0, "warmup": 0.2, "drain": 1.0}
    settings.update(changes)
    return LoadConfig(**settings)  # type: ignore[arg-type]


def accounted(figures: Figures) -> None:
    assert figures.resps_ok + figures.resps_error + figures.lost == figures.sent
    assert figures.resp_latency_us["count"] == figures.resps_ok + figures.resps_error


def test_closed_loop_every_submit_answered() -> None:
    result, figures, seen = run_bench(Behaviour(), closed())
    accounted(figures)
    assert figures.lost == 0 and figures.errors == {} and figures.receipts is None
    # 2 binds x window 5, a round trip of 2 ms: 2,500 per second each; the warm-up's
    # messages are not measured.
    assert figures.sent == pytest.approx(5_000, abs=10)
    assert seen.submits > figures.sent
    assert figures.submits_per_s == pytest.approx(5_000, rel=0.01)
    assert figures.resp_latency_us["p50"] == pytest.approx(2 * LATENCY * 1e6, abs=10)
    assert seen.binds == 2 and seen.unbinds == 2
    assert not result.disconnected and figures.drain_seconds < 0.1


def test_window_is_never_exceeded_and_sequence_numbers_are_unique_per_bind() -> None:
    _, figures, seen = run_bench(Behaviour(delay=0.05), closed(binds=1, window=7, duration=0.5))
    accounted(figures)
    assert len(set(seen.sequence_numbers)) == len(seen.sequence_numbers)
    # one round trip per 52 ms, 7 at a time
    assert figures.resp_latency_us["p50"] == pytest.approx(52_000, abs=50)


def test_errors_are_counted_by_status_name() -> None:
    _, figures, _ = run_bench(Behaviour(error_every=4), closed())
    accounted(figures)
    assert set(figures.errors) == {"ESME_RTHROTTLED"}
    assert figures.resps_error == figures.errors["ESME_RTHROTTLED"]
    assert figures.resps_error == pytest.approx(figures.sent / 4, abs=3)
    assert figures.lost == 0


def test_unanswered_submits_are_lost() -> None:
    result, figures, _ = run_bench(Behaviour(silent_every=50), closed(window=100, drain=0.5))
    accounted(figures)
    assert figures.lost > 0 and figures.lost_any
    # every 50th submit since the start; the warm-up's silent ones are not measured
    assert figures.lost == pytest.approx(figures.sent / 50, abs=3)
    assert figures.drain_seconds == pytest.approx(0.5, abs=0.02)
    assert result.lost_resps == figures.lost


def test_receipts_complete_messages() -> None:
    _, figures, seen = run_bench(Behaviour(receipts=True, receipt_delay=0.01), closed(receipts=True))
    accounted(figures)
    assert figures.receipts == figures.resps_ok > 0
    assert figures.lost_receipts == 0 and figures.unmatched_receipts == 0
    assert figures.receipt_latency_us is not None
    assert figures.receipt_latency_us["count"] == figures.receipts
    assert figures.receipt_latency_us["p50"] == pytest.approx(12_000, abs=50)   # 2 ms + 10 ms
    assert figures.receipts_per_s is not None and figures.receipts_per_s > 0
    assert seen.deliver_sm_resps >= figures.receipts
    assert not figures.lost_any


@pytest.mark.parametrize("behaviour", [Behaviour(receipts=True, receipt_tlv=False),
                                       Behaviour(receipts=True, receipt_first=True)],
                         ids=["appendix-b-text-only", "receipt-before-resp"])
def test_receipts_matched_by_text_or_before_their_resp(behaviour: Behaviour) -> None:
    _, figures, _ = run_bench(behaviour, closed(receipts=True))
    assert figures.receipts == figures.resps_ok > 0
    assert figures.lost_receipts == 0 and figures.unmatched_receipts == 0


def test_missing_receipts_are_lost() -> None:
    _, figures, _ = run_bench(Behaviour(receipts=True, no_receipt_every=10), closed(receipts=True, drain=0.3))
    accounted(figures)
    assert figures.lost == 0
    assert figures.receipts is not None and figures.lost_receipts is not None
    assert figures.receipts + figures.lost_receipts == figures.resps_ok
    assert figures.lost_receipts == pytest.approx(figures.resps_ok / 10, abs=3)
    assert figures.lost_any


def test_no_receipts_asked_when_not_counted() -> None:
    _, figures, seen = run_bench(Behaviour(receipts=True), closed(receipts=False))
    assert seen.deliver_sm_resps == 0 and figures.receipts is None and figures.lost_receipts is None


def test_refused_bind_raises_with_its_status() -> None:
    clock = VirtualClock(1_000.0)
    network = MemoryNetwork(clock, latency=LATENCY)
    factory = ResponderFactory(clock, Behaviour(refuse_bind=True))
    port = fired_result(network.listen("127.0.0.1", 0, factory)).getHost().port
    done = defer.ensureDeferred(LoadRun(closed(), clock, network.dial("127.0.0.1", port)).run())
    run_until(clock, clock.seconds() + 1.0)
    with pytest.raises(BindRefused) as refused:
        fired_result(done)
    assert refused.value.status == CommandStatus.ESME_RBINDFAIL
    assert factory.seen.submits == 0


def test_open_loop_latency_counts_from_the_intended_time() -> None:
    """100 msg/s on one bind of window 1, answers 50 ms late: message k is due at 10k ms but
    waits for the window until 50k ms, answered at 50(k+1) ms. Measured from the intended
    time its latency is 40k + 50 ms (what a user of the server would see), not the 50 ms a
    send-time stamp would show."""
    config = LoadConfig(binds=1, window=1, rate=100.0, duration=0.1, warmup=0.0, drain=2.0)
    result, figures, _ = run_bench(Behaviour(delay=0.05 - 2 * LATENCY), config)
    accounted(figures)
    assert figures.sent == 10 and figures.resps_ok == 10 and figures.unsent == 0
    latency = figures.resp_latency_us
    assert latency["min"] == pytest.approx(50_000, abs=5)
    assert latency["max"] == pytest.approx(50_000 + 40_000 * 9, abs=5)
    assert latency["p50"] == pytest.approx(50_000 + 40_000 * 4, rel=0.002)


def test_open_loop_sends_at_the_rate_when_the_server_keeps_up() -> None:
    config = LoadConfig(binds=2, window=10, rate=1_000.0, duration=1.0, warmup=0.1, drain=1.0)
    _, figures, _ = run_bench(Behaviour(), config)
    accounted(figures)
    assert figures.sent == 1_000 and figures.lost == 0 and figures.unsent == 0
    assert figures.submits_per_s == pytest.approx(1_000, abs=3)
    # sent on the tick (every ms) after it was due, answered 2 ms later
    assert figures.resp_latency_us["max"] <= 3_100


def test_open_loop_messages_still_queued_at_the_end_are_unsent_not_lost() -> None:
    config = LoadConfig(binds=1, window=3, rate=1_000.0, duration=0.5, warmup=0.0, drain=0.2)
    _, figures, _ = run_bench(Behaviour(silent_every=1), config)
    assert figures.sent == 3 and figures.lost == 3 and figures.unsent == 497
    assert figures.resps_ok == 0


def test_progress_once_a_second() -> None:
    progress: list[Progress] = []
    run_bench(Behaviour(), closed(duration=3.0, warmup=1.0), progress=progress)
    assert [p.phase for p in progress] == ["warmup", "load", "load", "load"]
    assert progress[0].elapsed == pytest.approx(1.0)
    assert progress[1].resps_per_s == pytest.approx(5_000, rel=0.01)
    assert all(p.outstanding == 10 for p in progress)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        LoadConfig(binds=0)
    with pytest.raises(ValueError):
        LoadConfig(rate=0.0)


def _deliver_sm(esm_class: int, text: str, tlvs: Sequence[Tlv] = ()) -> bytes:
    return encode(make(Command.deliver_sm, 7, tlvs=tuple(tlvs), source_addr="33612345678",
                       destination_addr="33600000000", esm_class=esm_class,
                       short_message=text.encode("latin-1")))


def test_receipted_id_reads_the_tlv_the_text_or_nothing() -> None:
    receipt = Receipt(message_id="abc123", stat="DELIVRD", text="x")
    frame = _deliver_sm(0x04, receipt.render(), receipt.tlvs())
    assert receipted_id(frame, 16, len(frame)) == b"abc123"
    frame = _deliver_sm(0x04, "id:fe01 sub:001 dlvrd:001 submit date:2612010000 done date:2612010000 "
                              "stat:DELIVRD err:000 text:x")
    assert receipted_id(frame, 16, len(frame)) == b"fe01"
    frame = _deliver_sm(0x04, "stat:DELIVRD", [Tlv.cstring(Tag.receipted_message_id, "42")])
    assert receipted_id(frame, 16, len(frame)) == b"42"
    frame = _deliver_sm(0x00, "id:nope hello")                   # an MO, not a receipt
    assert receipted_id(frame, 16, len(frame)) is None
    frame = _deliver_sm(0x04, "stat:DELIVRD")                     # a receipt that names nothing
    assert receipted_id(frame, 16, len(frame)) is None
