"""`python -m tests.fuzz --pdus N [--seed S] [--connections C] [--target server|operator|both]`

Prints progress on stderr and the summary on stdout. Exit status: 0 no finding, 1 at least
one finding (each printed with its seed, connection and bytes, and a reproduction on a fresh
stack when one was found), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, is_dataclass

from twisted.logger import globalLogBeginner

from tests.fuzz.campaign import Campaign


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--pdus", type=_positive, required=True, help="PDUs to send in all")
    p.add_argument("--seed", type=int, default=1, help="decides every byte and every clock time (default 1)")
    p.add_argument("--connections", type=_positive, default=50, help="connections open at once (default 50)")
    p.add_argument("--target", choices=("server", "operator", "both"), default="both",
                   help="the aggregator's client server (whole stack), one operator SMSC bound directly, or both "
                        "(70%% / 30%% of the connections; default)")
    p.add_argument("--mutation-rate", type=_rate, default=0.5, help="share of built PDUs that are mutated (default 0.5)")
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace Python allocations and report the peak (slows the run about twice)")
    p.add_argument("--memory-limit", type=_positive, default=512, metavar="MIB",
                   help="with --tracemalloc, a traced peak above this is a finding (default 512)")
    p.add_argument("--json", metavar="FILE", help="also write the summary and findings as JSON")
    p.add_argument("--no-minimise", action="store_true", help="do not look for a minimal reproduction of findings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The campaign's observer judges every log event; nothing else is printed but the summary.
    globalLogBeginner.beginLoggingTo([lambda event: None], discardBuffer=True, redirectStandardIO=False)
    campaign = Campaign(args.pdus, seed=args.seed, connections=args.connections, target=args.target,
                        mutation_rate=args.mutation_rate, trace_memory=args.tracemalloc,
                        memory_limit=args.memory_limit << 20, progress=sys.stderr,
                        minimise_findings=not args.no_minimise)
    report = campaign.run()
    print("\n".join(report.lines()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(_jsonable(report), out, indent=1, sort_keys=True)
    return 1 if report.findings else 0


def _jsonable(value: object) -> object:
    """The report as JSON values: dataclasses as objects, counters as objects, bytes as hex.
    (dataclasses.asdict would rebuild each Counter from its items, counting them.)"""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
