"""The control API's command-line client, shared by `smsc-harness mo`, `smsc-harness release`
and `smsc-harness optouts`: find the running `serve` by its database (its control file), send
one request (a JSON body, if any) with its token, print the answer (aggregator/control.py;
docs/control-api.md)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

from aggregator.control import ControlFile, control_file_path, read_control_file


def find_serve(command: str, db: str, hint: str = "") -> ControlFile | None:
    """The control file of the `serve` whose store is `db`; None after one line on stderr
    starting with `smsc-harness COMMAND:` when it is missing, unreadable or not serve's."""
    file = control_file_path(db)
    try:
        return read_control_file(file)
    except FileNotFoundError:
        print(f"smsc-harness {command}: no control file {file}: is `smsc-harness serve --db {db}` running?{hint}",
              file=sys.stderr)
    except OSError as error:
        print(f"smsc-harness {command}: cannot read the control file {file}: {error.strerror}", file=sys.stderr)
    except ValueError as error:
        print(f"smsc-harness {command}: {error}", file=sys.stderr)
    return None


def post_json(args: argparse.Namespace, command: str, path: str, body: Mapping[str, object]) -> int:
    """POST `body` to `path` of the serve that owns `args.db` (`args.control` and `args.token`
    override its control file): 0 and the JSON answer on stdout, or 1 and one line on stderr
    starting with `smsc-harness COMMAND:`."""
    return call(args, command, "POST", path, body)


def call(args: argparse.Namespace, command: str, method: str, path: str,
         body: Mapping[str, object] | None = None) -> int:
    """`method` `path` (with `body` as JSON, if any), as `post_json` does."""
    url, token = None, None
    if args.control is None or args.token is None:
        found = find_serve(command, args.db, hint=" (or give --control and --token)")
        if found is None:
            return 1
        url, token = found.url, found.token
    if args.control is not None:
        url = args.control if "://" in args.control else f"http://{args.control}"
    if args.token is not None:
        token = args.token
    headers = {"authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    request = urllib.request.Request(f"{url}{path}", data=data, method=method, headers=headers)
    # Never through a proxy from the environment: the token is for this machine's serve only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            print(answer.read().decode().strip())
            return 0
    except urllib.error.HTTPError as error:
        print(f"smsc-harness {command}: {error.code} {_error_text(error.read())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"smsc-harness {command}: cannot reach the control API at {url}: {reason}", file=sys.stderr)
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
