"""Latency histograms of `smsc-harness bench`: HDR histograms in microseconds.

Why HDR (`hdrhistogram`, the Python port of HdrHistogram, as wrk2 uses): exact percentiles
up to p99.9 and beyond in bounded memory (a few tens of KiB whatever the sample count), with a
fixed relative precision (3 significant figures: 1 us at 1 ms, 1 ms at 1 s), and a compact
encoding for merging histograms of several load processes.

Why a list in front of it: `HdrHistogram.record_value` is plain Python (about 2 us a call),
too dear once per PDU at 100k PDUs/s. The load appends each latency (float seconds) to
`pending`, one list append; `flush()` (once a second, and at the end) folds the batch into
the histogram by distinct microsecond value (`collections.Counter`, in C), so the histogram
is called once per distinct value, not once per sample.
"""

from __future__ import annotations

from collections import Counter

from hdrh.histogram import HdrHistogram

LOWEST_US = 1                      # 1 us: below, a latency is recorded as 1 us
HIGHEST_US = 3_600_000_000         # 1 hour: above, a latency is recorded as 1 hour
SIGNIFICANT_FIGURES = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _percentile_key(percentile: float) -> str:
    """50.0 -> "p50", 99.9 -> "p99.9" (the JSON's and the table's names)."""
    return f"p{percentile:g}"


PERCENTILE_KEYS = tuple(_percentile_key(p) for p in PERCENTILES)


class LatencyHistogram:
    """Latencies in microseconds: `pending` (seconds, appended by the load) folded into an
    HDR histogram by `flush()`. `max_us`/`min_us` are exact (the histogram's own are rounded
    to its precision)."""

    def __init__(self) -> None:
        self.pending: list[float] = []
        self._hdr = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        self.max_us = 0
        self.min_us = 0

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        had = self.count
        counts = Counter([int(seconds * 1_000_000) for seconds in batch])
        record = self._hdr.record_value
        for value, count in counts.items():
            record(min(max(value, LOWEST_US), HIGHEST_US), count)
        high, low = max(counts), min(counts)
        self.max_us = max(self.max_us, high)
        self.min_us = min(self.min_us, low) if had else low

    @property
    def count(self) -> int:
        return int(self._hdr.get_total_count())

    def percentile_us(self, percentile: float) -> int:
        """The value at `percentile` (0-100), in microseconds; 0 when nothing was recorded."""
        if not self.count:
            return 0
        # HDR answers with the highest value equivalent to the bucket (within the precision);
        # the exact maximum caps it, so that p99.9 never reads above max.
        return min(int(self._hdr.get_value_at_percentile(percentile)), self.max_us)

    def summary(self) -> dict[str, int]:
        """count, min, p50, p90, p99, p99.9, max (microseconds), as in the JSON file."""
        self.flush()
        figures = {"count": self.count, "min": self.min_us}
        for percentile, key in zip(PERCENTILES, PERCENTILE_KEYS):
            figures[key] = self.percentile_us(percentile)
        figures["max"] = self.max_us
        return figures

    def encode(self) -> bytes:
        """The HDR compressed form (what `merge` reads): the histogram itself, not the exact
        min and max, which travel beside it."""
        self.flush()
        encoded: bytes = self._hdr.encode()
        return encoded

    def merge(self, encoded: bytes, min_us: int, max_us: int) -> None:
        """Add another process's histogram (its `encode()`, its exact min and max)."""
        self.flush()
        had = self.count
        other = HdrHistogram.decode(encoded)
        if not other.get_total_count():
            return
        self._hdr.add(other)
        self.max_us = max(self.max_us, max_us)
        self.min_us = min(self.min_us, min_us) if had else min_us
