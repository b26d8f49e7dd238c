"""SMPP time strings (schedule_delivery_time, validity_period; SMPP 3.4 §7.1.1), via smpp.pdu.

"YYMMDDhhmmsstnnp": p = '+'/'-' absolute with an offset in quarter hours, 'R' relative.
The only module that imports smpp.pdu.smpp_time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from smpp.pdu import smpp_time

_DAY = 86400.0


def seconds_until(value: str, now: float) -> float | None:
    """How many seconds from `now` (clock seconds since the epoch) the SMPP time `value` lies;
    None for the empty string (no value). Raises ValueError for a malformed time."""
    if not value:
        return None
    if len(value) != 16:
        raise ValueError(f"not an SMPP time (16 characters): {value!r}")
    if value[-1] == "R":
        return _relative_seconds(value)
    # smpp_time.parse() would do this dispatch, but it print()s to stdout on every call.
    try:
        parsed = smpp_time.parse_absolute_time(value)
    except (ValueError, IndexError, KeyError) as error:   # smpp.pdu raises all three
        raise ValueError(f"not an SMPP time: {value!r}") from error
    if not isinstance(parsed, datetime):
        raise ValueError(f"not an SMPP time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp() - now


@lru_cache(maxsize=4096)
def _relative_seconds(value: str) -> float:
    """Seconds of a relative time.  Cached: an aggregator sends nearly the same validity with
    every submit (24 h minus a second or two), and parsing it was on every message's path."""
    try:
        parsed = smpp_time.parse_relative_time(value)
    except (ValueError, IndexError, KeyError) as error:   # smpp.pdu raises all three
        raise ValueError(f"not an SMPP time: {value!r}") from error
    return (parsed.years * 365 * _DAY + parsed.months * 30 * _DAY + parsed.days * _DAY
            + parsed.hours * 3600.0 + parsed.minutes * 60.0 + parsed.seconds)


def relative(seconds: float) -> str:
    """A relative SMPP time for a duration, e.g. 86400 -> '000001000000000R'."""
    return _relative_text(max(0, int(seconds)))


@lru_cache(maxsize=4096)
def _relative_text(total: int) -> str:
    """Cached: the validity sent with every submit is nearly always the same few values."""
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    years, days = divmod(days, 365)
    months, days = divmod(days, 30)
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def absolute(seconds: float) -> str:
    """An absolute SMPP time in UTC for a clock reading, e.g. '261129203000000+'."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%y%m%d%H%M%S") + "000+"
