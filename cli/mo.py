"""`smsc-harness mo`: make a subscriber send an MO, through the control API of a running `serve`
(aggregator/control.py; docs/control-api.md)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from aggregator.control import control_file_path, read_control_file


def send_mo(args: argparse.Namespace) -> int:
    """POST /mo to the serve that owns `--db`, with its token (from its control file)."""
    url, token = None, None
    if args.control is None or args.token is None:
        path = control_file_path(args.db)
        try:
            found = read_control_file(path)
        except FileNotFoundError:
            print(f"smsc-harness mo: no control file {path}: is `smsc-harness serve --db {args.db}` running? "
                  "(or give --control and --token)", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"smsc-harness mo: cannot read the control file {path}: {error.strerror}", file=sys.stderr)
            return 1
        except ValueError as error:
            print(f"smsc-harness mo: {error}", file=sys.stderr)
            return 1
        url, token = found.url, found.token
    if args.control is not None:
        url = args.control if "://" in args.control else f"http://{args.control}"
    if args.token is not None:
        token = args.token
    body = json.dumps({"from": args.source, "to": args.destination, "text": args.text}).encode()
    request = urllib.request.Request(f"{url}/mo", data=body, method="POST",
                                     headers={"content-type": "application/json",
                                              "authorization": f"Bearer {token}"})
    # Never through a proxy from the environment: the token is for this machine's serve only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            print(answer.read().decode().strip())
            return 0
    except urllib.error.HTTPError as error:
        print(f"smsc-harness mo: {error.code} {_error_text(error.read())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"smsc-harness mo: cannot reach the control API at {url}: {reason}", file=sys.stderr)
        return 1


def _error_text(body: bytes) -> str:
    """The "error" of a JSON answer, else the body itself, on one line."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return " ".join(body.decode("utf-8", "replace").split())[:300]

