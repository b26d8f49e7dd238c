"""`smsc-harness optouts list|add|remove`: R1's opt-out lists of a running `serve`, through its
control API (GET, POST and DELETE /optouts; docs/control-api.md)."""

from __future__ import annotations

import argparse
from urllib.parse import urlencode

from cli.control_client import call

COMMAND = "optouts"


def optouts_command(args: argparse.Namespace) -> int:
    if args.action == "list":
        query = "" if args.account is None else "?" + urlencode({"account": args.account})
        return call(args, COMMAND, "GET", f"/optouts{query}")
    body = {"account": args.account, "number": args.number}
    return call(args, COMMAND, "POST" if args.action == "add" else "DELETE", "/optouts", body)
