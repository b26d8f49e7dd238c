"""`smsc-harness operator ID --outage MODE | --recover | --throughput RATE [--burst N]`: steer
an operator's simulated SMSC of a running `serve` through its control API (POST
/operators/{id}/outage, /recover, /throughput; aggregator/control.py, docs/control-api.md)."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote

from cli.control_client import call

COMMAND = "operator"


def operator_command(args: argparse.Namespace) -> int:
    path = f"/operators/{quote(args.operator, safe='')}"
    if args.burst is not None and args.throughput is None:
        print(f"smsc-harness {COMMAND}: --burst goes with --throughput (see smsc-harness {COMMAND} --help)",
              file=sys.stderr)
        return 2
    if args.outage is not None:
        return call(args, COMMAND, "POST", f"{path}/outage", {"mode": args.outage})
    if args.recover:
        return call(args, COMMAND, "POST", f"{path}/recover", {})
    body: dict[str, object] = {"rate": args.throughput}
    if args.burst is not None:
        body["burst"] = args.burst
    return call(args, COMMAND, "POST", f"{path}/throughput", body)
