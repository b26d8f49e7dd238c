"""Failed binds, rate-limited per source address and per system_id. Pure: time comes in as `now`.

A bind that fails (unknown system_id, wrong password) takes a token from the bucket of its
source address and from the bucket of its system_id. While either is empty, every bind from
that address, or for that system_id, is refused with ESME_RBINDFAIL before its password is
even looked at: guessing is slowed to the buckets' rates (1 a second each by default, after
a burst of 10 per address and 20 per system_id), whatever the number of connections.

The price, documented in docs/reliability.md: someone hammering a system_id with wrong
passwords also holds up its owner's next binds for as long as they keep doing it (binds
already up are not touched). Unknown system_ids share one bucket, so a flood of made-up
names cannot grow the table; the tables forget the oldest entries past `MAX_KEYS`.
"""

from __future__ import annotations

from smsc.operators.profile import Throughput
from smsc.ratelimit import TokenBucket

MAX_KEYS = 10_000
UNKNOWN_SYSTEM_ID = "\x00unknown"


class FailedBinds:
    def __init__(self, per_address: Throughput, per_system_id: Throughput) -> None:
        self._limits = {"address": per_address, "system_id": per_system_id}
        self._buckets: dict[str, dict[str, TokenBucket]] = {"address": {}, "system_id": {}}

    def refused(self, address: str, system_id: str, known: bool, now: float) -> str | None:
        """Why a bind from `address` for `system_id` is refused now, or None if it may try."""
        for kind, key in (("address", address), ("system_id", system_id if known else UNKNOWN_SYSTEM_ID)):
            bucket = self._buckets[kind].get(key)
            if bucket is not None and bucket.wait_time(now) > 0:
                return f"too many failed binds for this {kind.replace('_', ' ')}"
        return None

    def failed(self, address: str, system_id: str, known: bool, now: float) -> None:
        """A bind failed: one token less for its address and for its system_id."""
        for kind, key in (("address", address), ("system_id", system_id if known else UNKNOWN_SYSTEM_ID)):
            table = self._buckets[kind]
            bucket = table.get(key)
            if bucket is None:
                if len(table) >= MAX_KEYS:
                    del table[next(iter(table))]
                limit = self._limits[kind]
                bucket = table[key] = TokenBucket(limit.rate, limit.burst, now)
            bucket.take(now)
