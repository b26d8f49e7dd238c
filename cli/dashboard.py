"""`smsc-harness dashboard`: print the address of a running `serve`'s web dashboard, with the
token that lets a browser in once (aggregator/dashboard.py; docs/dashboard.md). It opens
nothing: the address goes where the user wants it (a browser on this machine, an SSH tunnel)."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from cli.control_client import find_serve


def dashboard_command(args: argparse.Namespace) -> int:
    """0 and the address on stdout; 1 and one line on stderr when the control file is missing
    or not serve's (as `smsc-harness mo`)."""
    found = find_serve("dashboard", args.db)
    if found is None:
        return 1
    # A configured token may hold '+', '/' or '=': quoted, so the query string reads it back as it is.
    print(f"{found.url.rstrip('/')}/?token={quote(found.token, safe='')}")
    return 0
