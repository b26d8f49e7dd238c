"""The command-line clients of a running `serve`'s control API (`smsc-harness mo`,
`smsc-harness optouts`): where the API is and its token (the control file next to the store,
or `--control` and `--token`), one request, the answer on stdout or one line on stderr.

Every failure is one line `smsc-harness COMMAND: ...` on stderr and exit status 1; an answer
is its JSON on stdout and exit status 0 (docs/control-api.md)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from aggregator.control import control_file_path, read_control_file

__all__ = ["call"]


def _where(args: argparse.Namespace, prog: str) -> tuple[str, str] | None:
    """(url, token) of the API, or None once the problem is said on stderr."""
    url, token = "", ""
    if args.control is None or args.token is None:
        path = control_file_path(args.db)
        try:
            found = read_control_file(path)
        except FileNotFoundError:
            print(f"{prog}: no control file {path}: is `smsc-harness serve --db {args.db}` running? "
                  "(or give --control and --token)", file=sys.stderr)
            return None
        except OSError as error:
            print(f"{prog}: cannot read the control file {path}: {error.strerror}", file=sys.stderr)
            return None
        except ValueError as error:
            print(f"{prog}: {error}", file=sys.stderr)
            return None
        url, token = found.url, found.token
    if args.control is not None:
        url = args.control if "://" in args.control else f"http://{args.control}"
    if args.token is not None:
        token = args.token
    return url, token


def call(args: argparse.Namespace, prog: str, method: str, path: str, body: object = None) -> int:
    """One request to the serve that owns `--db` (or `--control`): 0 and the JSON answer on
    stdout, or 1 and one line on stderr."""
    where = _where(args, prog)
    if where is None:
        return 1
    url, token = where
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
        print(f"{prog}: {error.code} {_error_text(error.read())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"{prog}: cannot reach the control API at {url}: {reason}", file=sys.stderr)
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
