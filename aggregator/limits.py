"""Upper bounds on what a network config or a scenario may ask for, in one place.

A config or scenario file is input, and `check` must refuse what `run` or `serve` cannot do.
Without bounds, a typo or a hostile file becomes a hang (opening a FIFO, composing a 100 MB
YAML file, walking a "billion laughs" alias tree, replaying 10,000 days of keepalives), a crash
(``RecursionError`` on deep nesting, ``OverflowError`` on ``1e308`` or ``10**400``,
``MemoryError`` on a population of 10**12) or a run that never ends.

Each value below is far above what a real user writes (the shipped files are the yardstick:
scenarios of at most 4.3 KB and 5 levels of nesting, the default network of 15.7 KB and 8
levels, a month of a million messages) and low enough that the worst file accepted is still
read in seconds and replayed in bounded time.  ``docs/reliability.md`` and the README repeat
this table; a test keeps ``scenarios/million_month.yaml`` inside it.
"""

from __future__ import annotations

__all__ = [
    "MAX_ACCOUNT_BINDS",
    "MAX_BURST",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT",
    "MAX_NODES",
    "MAX_OPERATOR_BINDS",
    "MAX_PENDING",
    "MAX_RATE",
    "MAX_RETRY_FACTOR",
    "MAX_SCALAR_CHARS",
    "MAX_SECONDS",
    "MAX_THROTTLE_EVERY",
    "MAX_WEIGHT",
    "MAX_WINDOW",
]

# -- files ---------------------------------------------------------------------------------
# Bytes in one YAML file (scenario, include, network config).  The pure-Python YAML composer
# (kept for its line/column marks) reads about 80 KB/s, so 256 KiB is about 3 s in the worst
# case; the largest shipped file, the default network, is 15.7 KB (16 times less), and a
# scenario of 3,000 explicit submit steps still fits.
MAX_FILE_BYTES = 256 * 1024

# -- YAML structure --------------------------------------------------------------------------
# Nested mappings and lists.  The deepest shipped file has 8 levels; 32 leaves room for inline
# networks in scenarios and stays far from Python's recursion limit in the composer and readers.
MAX_DEPTH = 32
# YAML nodes read, counting every alias (and, in a scenario, every inclusion of a file) as
# the whole tree it stands for.  A 256 KiB file holds at most about 130,000 nodes written out,
# so only alias or include expansion can reach a million: a "billion laughs" stops here.
MAX_NODES = 1_000_000
# Characters in one scalar (a key or a value).  The longest legitimate one is a message text
# (at most 254 octets on the wire) or a name; 4096 also stays under Python's 4300-digit limit
# for int() (a longer integer would raise ValueError deep inside the YAML constructor).
MAX_SCALAR_CHARS = 4096

# -- numbers ---------------------------------------------------------------------------------
# Integers are stored in SQLite (a signed 64-bit INTEGER) or become floats; anything larger
# would raise OverflowError there.  Every integer field is bounded by this at least.
MAX_INT = 2**63 - 1
# Any duration in seconds (delays, validity, retries, outages, a scenario's timeline): a
# leap year.  A month of traffic (31 days, scenarios/million_month.yaml) passes with room
# left; a replay of 10,000 days would play 28 million keepalives per link and never end.
MAX_SECONDS = 366 * 86400
# Messages per second (an account's rate, an operator's send_rate or throughput, a scenario
# campaign).  The whole harness handles about 2,500 messages a second on 2 cores and real
# SMPP binds rarely exceed a few thousand; 100,000 is 40 times that, and 1 / rate stays a
# normal float.
MAX_RATE = 100_000.0
# Token-bucket burst (accounts, operator throughput): messages let through at once.
MAX_BURST = 100_000
# Outstanding requests on one SMPP bind: real SMSCs grant 1 to 100; each slot holds a PDU.
MAX_WINDOW = 1000
# The aggregator's binds to one operator: operators grant a handful per account.
MAX_OPERATOR_BINDS = 64
# Concurrent binds of one client account (and binds an operator SMSC accepts).
MAX_ACCOUNT_BINDS = 64
# Messages an account may have accepted but not yet handed to an operator.  Ten million rows
# is about 4 GB of store; the default is 100,000.
MAX_PENDING = 10_000_000
# Backoff factor between retries: above 10 the wait reaches retry_max within a few attempts
# anyway (and a larger one only brings retry_factor ** attempts closer to float overflow).
MAX_RETRY_FACTOR = 10.0
# Relative weight of an operator outcome: shares are weights over their sum.
MAX_WEIGHT = 1_000_000.0
# throttle_every of a magic number (throttle one submit in N).
MAX_THROTTLE_EVERY = 1_000_000
