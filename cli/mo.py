"""`smsc-harness mo`: make a subscriber send an MO, through the control API of a running `serve`
(aggregator/control.py; docs/control-api.md)."""

from __future__ import annotations

import argparse

from cli.control_client import post_json


def send_mo(args: argparse.Namespace) -> int:
    """POST /mo to the serve that owns `--db`, with its token (from its control file)."""
    return post_json(args, "mo", "/mo", {"from": args.source, "to": args.destination, "text": args.text})
