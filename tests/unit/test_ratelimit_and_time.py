import pytest

from smsc.pdu.smpptime import relative, seconds_until
from smsc.ratelimit import TokenBucket


def test_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(0.0) == pytest.approx(0.1)
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert bucket.take(10.0) and bucket.take(10.0) and bucket.take(10.0) and not bucket.take(10.0)


def test_relative_and_absolute_smpp_times() -> None:
    assert relative(86400) == "000001000000000R"
    assert seconds_until(relative(3725), 0.0) == 3725
    assert seconds_until("", 5.0) is None
    now = 1_795_982_400.0                                      # 2026-11-29T20:00:00Z
    assert seconds_until("261129203000000+", now) == 1800.0
    assert seconds_until("261129213000004+", now) == 1800.0   # 21:30 at UTC+1 is 20:30Z
    with pytest.raises(ValueError):
        seconds_until("tomorrow", now)


@pytest.mark.parametrize("rate", [0.5, 3.0, 50.0, 1000.0])
@pytest.mark.parametrize("start", [0.0, 1.8e9])               # a clock at 2027 steps by 0.24 us
def test_waiting_as_told_always_moves_time_and_then_gets_a_token(rate: float, start: float) -> None:
    """A sender that sleeps `wait_time` and tries again (the operator pool) must never be told
    to wait for a time that float addition rounds back to now: that was a busy loop."""
    bucket = TokenBucket(rate, max(1.0, rate / 10), start)
    now, sent = start, 0
    for _ in range(2000):                                      # bounded
        if bucket.take(now):
            sent += 1
            continue
        wait = bucket.wait_time(now)
        assert wait > 0 and now + wait > now
        now = now + wait                                       # as a clock's callLater does
        assert bucket.wait_time(now) == 0 and bucket.take(now)  # woken on time: a token is there
        sent += 1
    elapsed = now - start
    assert sent <= max(1.0, rate / 10) + rate * elapsed + 1   # never above the rate


def test_take_and_wait_time_agree() -> None:
    bucket = TokenBucket(50.0, 5.0, 1.8e9)
    for step in range(500):
        now = 1.8e9 + step * 0.0037
        free = bucket.wait_time(now) == 0
        assert bucket.take(now) is free
