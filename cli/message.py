"""`smsc-harness message ID`: one message of a running `serve`, its state history and its
receipts, through the control API (GET /messages/{id}; docs/control-api.md)."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from cli.control_client import call


def message_command(args: argparse.Namespace) -> int:
    return call(args, "message", "GET", f"/messages/{quote(args.message_id, safe='')}")
