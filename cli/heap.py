"""The garbage collector's settings of the long-running servers (`serve`, `sink`), set once
they listen.

A server keeps hundreds of thousands of small objects per minute of load (messages in flight,
the store's pending rows, receipts owed), and CPython's default (a young collection every 700
allocations, full ones as the old generation grows by a quarter) spends a share of the
reactor's time walking them, in pauses that show in the latency percentiles. So, once the
server is up:

- `gc.freeze()`: everything built at start-up (modules, the parsed config, the network)
  moves to the permanent generation: no collection walks it again;
- young collections every `YOUNG` allocations instead of 700: the objects of a message mostly
  die within one read, before a collection sees them.

Cycles are still collected. Measured with `smsc-harness bench` (docs/performance.md).
"""

from __future__ import annotations

import gc

YOUNG = 10_000          # allocations between young collections (CPython's default: 700)


def settle() -> None:
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
