"""aggregator.clock: the single seconds → datetime boundary must be exact and fixed-width."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from twisted.internet.task import Clock

from aggregator.clock import ScaledClock, iso, paris, utc

# 2026-11-29T19:48:44Z
T = datetime(2026, 11, 29, 19, 48, 44, tzinfo=timezone.utc).timestamp()

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_utc_is_aware_utc() -> None:
    d = utc(T + 0.5)
    assert d.tzinfo is not None and d.utcoffset() == timedelta(0)
    assert d == datetime(2026, 11, 29, 19, 48, 44, 500000, tzinfo=timezone.utc)


def test_iso_millis() -> None:
    assert iso(T + 0.123) == "2026-11-29T19:48:44.123Z"


def test_iso_is_fixed_width() -> None:
    samples = [0.0, T, T + 0.001, T + 0.1, T + 0.999, T + 59.9996, 1.5, 253402300799.0]
    outs = [iso(s) for s in samples]
    assert all(ISO_RE.match(o) for o in outs), outs
    assert len({len(o) for o in outs}) == 1
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(T) == "2026-11-29T19:48:44.000Z"


def test_iso_rounds_float_noise_and_carries() -> None:
    # 0.9996 s rounds up into the next second instead of printing ".1000"
    assert iso(T + 0.9996) == "2026-11-29T19:48:45.000Z"
    assert iso(T + 59.9996 - 44) == "2026-11-29T19:49:00.000Z"


def test_iso_sorts_like_time() -> None:
    samples = [T + i * 0.37 for i in range(200)]
    assert sorted(iso(s) for s in samples) == [iso(s) for s in samples]


def test_paris_winter_and_summer() -> None:
    winter = paris(T)  # November: CET, UTC+1
    assert winter.utcoffset() == timedelta(hours=1)
    assert (winter.hour, winter.minute) == (20, 48)
    summer_t = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    summer = paris(summer_t)  # CEST, UTC+2
    assert summer.utcoffset() == timedelta(hours=2)
    assert summer.hour == 14
    assert paris(T) == utc(T)  # same instant


def test_paris_dst_switch() -> None:
    # 2026-03-29 01:00Z: clocks jump from 02:00 CET to 03:00 CEST
    switch = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc).timestamp()
    assert paris(switch - 1).strftime("%H:%M:%S") == "01:59:59"
    assert paris(switch - 1).utcoffset() == timedelta(hours=1)
    assert paris(switch).strftime("%H:%M:%S") == "03:00:00"
    assert paris(switch).utcoffset() == timedelta(hours=2)


def test_scaled_clock_runs_faster_than_its_reactor() -> None:
    reactor = Clock()
    reactor.advance(1000.0)
    scaled = ScaledClock(reactor, 3600.0)
    fired: list[float] = []
    scaled.callLater(7200.0, lambda: fired.append(scaled.seconds()))
    reactor.advance(1.0)
    assert scaled.seconds() == 1000.0 + 3600.0 and fired == []
    reactor.advance(1.0)
    assert fired == [1000.0 + 7200.0]
