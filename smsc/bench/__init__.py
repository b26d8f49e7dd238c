"""`smsc-harness bench`: load generation and figures (issue 13); `smsc.bench.peers`: the
servers it measures ours against."""
