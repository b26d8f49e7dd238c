"""Clock seconds → datetimes and strings: the only place the project does that conversion.

Everything else in the project carries time as plain float seconds taken from a Twisted clock
(``reactor.seconds()`` in production, ``task.Clock().seconds()`` in tests). Keeping time as a
number until the very edge makes scenarios deterministic (a fake clock drives them) and keeps
timezone handling in one module, so a DST bug or a format drift can only live here.

All functions are pure: they never read the wall clock themselves.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

__all__ = ["utc", "iso", "paris", "ScaledClock"]

# A constant, not state: ZoneInfo instances are immutable and the tz database lookup is
# only worth doing once.
_PARIS = ZoneInfo("Europe/Paris")


def utc(seconds: float) -> datetime:
    """Aware UTC datetime for clock seconds (microsecond precision, as ``datetime`` allows)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def iso(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-29T19:48:44.123Z``.

    The width never varies (no dropped ``.000``, zero-padded year), so the strings sort
    lexically in time order and line up in logs and in the sqlite3 CLI. Milliseconds are
    rounded, not truncated, so a float such as ``x.123`` that is really ``x.12299999`` still
    prints ``.123``.
    """
    whole, millis = divmod(round(seconds * 1000), 1000)
    return f"{_iso_second(whole)}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _iso_second(whole: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a whole UTC second.  Cached: a store writes several
    timestamps per message, mostly within the same few seconds."""
    d = datetime.fromtimestamp(whole, tz=timezone.utc)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"


def paris(seconds: float) -> datetime:
    """Aware datetime in Europe/Paris, for operator-facing local times.

    CET/CEST switches come from the tz database, never from a hand-coded offset.
    """
    return utc(seconds).astimezone(_PARIS)


@implementer(IReactorTime)
class ScaledClock:
    """An IReactorTime whose time runs `speed` times faster than the reactor's.

    `smsc-harness serve --speed 3600` uses it for simulated time (receipt delays, validity,
    retries, outages): a day passes in 24 real seconds. It starts at the reactor's current
    time. SMPP session timers keep the reactor's own clock: links still need real keepalives.
    """

    def __init__(self, reactor: IReactorTime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._reactor = reactor
        self.speed = speed
        self._origin = reactor.seconds()

    def seconds(self) -> float:
        return self._origin + (self._reactor.seconds() - self._origin) * self.speed

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> IDelayedCall:
        return self._reactor.callLater(delay / self.speed, callable, *args, **kw)

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        return self._reactor.getDelayedCalls()
