"""`smsc-harness release`: lift the R3 skew suspension of a bulk send, through the control API
of a running `serve` (POST /skew/release; aggregator/control.py, docs/control-api.md)."""

from __future__ import annotations

import argparse

from cli.control_client import post_json


def release_send(args: argparse.Namespace) -> int:
    """POST /skew/release {account, campaign} (no CAMPAIGN: the account's traffic without
    campaign id) to the serve that owns `--db`."""
    return post_json(args, "release", "/skew/release", {"account": args.account, "campaign": args.campaign})
