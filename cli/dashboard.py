"""`smsc-harness dashboard`: print the address of a running `serve`'s web dashboard, with the
token that lets a browser in once (aggregator/dashboard.py; docs/dashboard.md). It opens
nothing: the address goes where the user wants it (a browser on this machine, an SSH tunnel)."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote

from aggregator.control import control_file_path, read_control_file


def dashboard_command(args: argparse.Namespace) -> int:
    """0 and the address on stdout; 1 and one line on stderr when the control file is missing
    or not serve's (as `smsc-harness mo`)."""
    file = control_file_path(args.db)
    try:
        found = read_control_file(file)
    except FileNotFoundError:
        print(f"smsc-harness dashboard: no control file {file}: is `smsc-harness serve --db {args.db}` running?",
              file=sys.stderr)
        return 1
    except OSError as error:
        print(f"smsc-harness dashboard: cannot read the control file {file}: {error.strerror}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"smsc-harness dashboard: {error}", file=sys.stderr)
        return 1
    # A configured token may hold '+', '/' or '=': quoted, so the query string reads it back as it is.
    print(f"{found.url.rstrip('/')}/?token={quote(found.token, safe='')}")
    return 0
