"""A token bucket on an injected clock: `rate` tokens a second, at most `burst` saved up.

Used for operator throughput caps (per operator, per bind), the aggregator's send rate to
each operator and per-account caps. Pure: time comes in as `now`.
"""

from __future__ import annotations

# A token due within SLACK seconds counts as there.  Float time cannot always land exactly on
# the instant a token is due (1.8e9 s after the epoch, a double steps by 0.24 us): without the
# slack, a sender woken "when the next token is due" could find 0.9999999 tokens, ask to be
# woken again 1e-18 s later, which is the same instant, and spin for ever.  With it, a wait is
# either 0 or longer than the slack, so time always moves on.
SLACK = 1e-6


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def take(self, now: float, tokens: float = 1.0) -> bool:
        """Spend `tokens` if available now (exactly when `wait_time` says 0)."""
        if self.wait_time(now, tokens) > 0:
            return False
        self._tokens -= tokens
        return True

    def wait_time(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until `tokens` are available (0 if they are now)."""
        self._refill(now)
        missing = tokens - self._tokens
        return 0.0 if missing <= self.rate * SLACK else missing / self.rate

    def reconfigure(self, rate: float, burst: float, now: float) -> None:
        self._refill(now)
        self.rate, self.burst = rate, burst
        self._tokens = min(self._tokens, burst)
