"""A small closed-loop SMPP load: `python -m tests.load --port N [--binds B] [--window W] [--seconds S]`.

B transmitter binds of the demo account each keep W submit_sm outstanding for S seconds
against a running `smsc-harness serve` (or any SMSC), and it prints submit_sm_resp per
second and resp latency percentiles, as JSON with `--json FILE` too. It runs in its own
process, so the server under load has the other core. It is the load tool behind the group
commit figures of docs/reliability.md, not the product's benchmark (issue 13 plans
`smsc-harness bench`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from twisted.internet import defer, task

from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Pdu
from smsc.session import SessionConfig

DESTINATION = "+33612345678"          # delivered at once by the default network's operator


class Loader:
    def __init__(self, esme: Esme, window: int, until: float, latencies: list[float], statuses: Counter[int]) -> None:
        self.esme, self.window, self.until = esme, window, until
        self.latencies, self.statuses = latencies, statuses
        self.done: defer.Deferred[None] = defer.Deferred()
        self.outstanding = 0

    def start(self) -> None:
        for _ in range(self.window):
            self.send()

    def send(self) -> None:
        if time.monotonic() >= self.until:
            if not self.outstanding and not self.done.called:
                self.done.callback(None)
            return
        self.outstanding += 1
        sent = time.monotonic()
        self.esme.submit(DESTINATION, b"load", registered_delivery=0).addCallbacks(
            self.answered, self.failed, callbackArgs=(sent,))

    def answered(self, resp: Pdu, sent: float) -> None:
        self.outstanding -= 1
        self.statuses[resp.command_status] += 1
        if resp.command_status == 0:
            self.latencies.append(time.monotonic() - sent)
        self.send()

    def failed(self, failure: object) -> None:
        self.outstanding -= 1
        self.statuses[-1] += 1
        self.send()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


async def main(reactor: object, args: argparse.Namespace) -> None:
    esmes = []
    for _ in range(args.binds):
        esme = await connect_esme(reactor, args.host, args.port, SessionConfig(window=args.window))  # type: ignore[arg-type]
        bound = await esme.bind(args.system_id, args.password, "transmitter")
        if bound.command_status != 0:
            raise SystemExit(f"bind refused: {bound.command_status:#x}")
        esmes.append(esme)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    await task.deferLater(reactor, args.warmup, lambda: None)  # type: ignore[arg-type]
    started = time.monotonic()
    loaders = [Loader(e, args.window, started + args.seconds, latencies, statuses) for e in esmes]
    for loader in loaders:
        loader.start()
    await defer.gatherResults([loader.done for loader in loaders])
    elapsed = time.monotonic() - started
    figures = {
        "binds": args.binds, "window": args.window, "seconds": round(elapsed, 3),
        "accepted": statuses[0], "submit_sm_resp_per_s": round(statuses[0] / elapsed, 1),
        "other_statuses": {f"{k:#x}": v for k, v in sorted(statuses.items()) if k != 0},
        "latency_ms": {f"p{p:g}": round(percentile(latencies, p) * 1000, 2) for p in (50, 90, 99, 99.9)}
        | {"max": round(max(latencies, default=0.0) * 1000, 2)},
    }
    print(json.dumps(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    for esme in esmes:
        esme.conn.close()  # type: ignore[union-attr]


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system-id", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--binds", type=int, default=2)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    run(sys.argv[1:])
