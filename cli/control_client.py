"""The control API's command-line client, shared by `smsc-harness mo` and `smsc-harness
release`: find the running `serve` by its database (its control file), POST one JSON body
with its token, print the answer (aggregator/control.py; docs/control-api.md)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

from aggregator.control import control_file_path, read_control_file


def post_json(args: argparse.Namespace, command: str, path: str, body: Mapping[str, object]) -> int:
    """POST `body` to `path` of the serve that owns `args.db` (`args.control` and `args.token`
    override its control file): 0 and the JSON answer on stdout, or 1 and one line on stderr
    starting with `smsc-harness COMMAND:`."""
    url, token = None, None
    if args.control is None or args.token is None:
        file = control_file_path(args.db)
        try:
            found = read_control_file(file)
        except FileNotFoundError:
            print(f"smsc-harness {command}: no control file {file}: is `smsc-harness serve --db {args.db}` running? "
                  "(or give --control and --token)", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"smsc-harness {command}: cannot read the control file {file}: {error.strerror}", file=sys.stderr)
            return 1
        except ValueError as error:
            print(f"smsc-harness {command}: {error}", file=sys.stderr)
            return 1
        url, token = found.url, found.token
    if args.control is not None:
        url = args.control if "://" in args.control else f"http://{args.control}"
    if args.token is not None:
        token = args.token
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              "authorization": f"Bearer {token}"})
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
