"""A fuzzing campaign against the harness's SMPP servers (issue 10: "no client can hurt another").

`python -m tests.fuzz --pdus N [--seed S] [--connections C] [--target server|operator|both]`
throws N structure-aware PDUs (every command of `smsc.pdu.codec`'s tables, valid and then
mutated, plus unknown command ids and random bytes) at the aggregator's client-facing SMPP
server (the whole stack, `aggregator.harness.start_harness`) and at one simulated operator
SMSC bound directly, over many in-memory connections on a virtual clock, and checks oracles
that hold for any input: nothing raises, nothing is logged as a failure or an error, no
session is left stuck, every request is answered once, the server's registries and memory
let go of closed connections, and a fresh client is still served end to end afterwards.

Modules: `pdus` builds the PDUs (pure: a `random.Random` in, bytes out), `campaign` drives the
connections and checks the oracles, `__main__` is the command line. Everything is decided by
`--seed`: the same seed against the same code sends the same bytes at the same clock times.
"""
