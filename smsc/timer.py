"""One armed call at the earliest time asked for.

Both a session (its keepalive, inactivity and response deadlines) and the delivery engine (a
million message deadlines) need "call me back by time T", asked far more often than the
answer changes.  Moving a reactor timer on every request would cost more than the work, so
:class:`EarliestCall` keeps the armed call when asked for a later time (whoever it calls asks
again, for the time as it is then) and moves it only for an earlier one.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["EarliestCall"]


class EarliestCall:
    def __init__(self, clock: IReactorTime, action: Callable[[], object]) -> None:
        self._clock = clock
        self._action = action
        self._call: IDelayedCall | None = None
        self._at = 0.0

    def at(self, when: float) -> None:
        """Make sure ``action`` runs no later than ``when``."""
        call = self._call
        if call is not None and call.active():
            if self._at <= when:
                return
            call.cancel()
        self._at = when
        self._call = self._clock.callLater(max(0.0, when - self._clock.seconds()), self._fire)

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        self._action()
