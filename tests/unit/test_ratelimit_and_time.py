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
