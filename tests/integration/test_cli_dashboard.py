"""`smsc-harness dashboard` prints the address that lets a browser into a running `serve`'s
dashboard once (issue 14): real processes, real TCP on 127.0.0.1, a real control file."""

from __future__ import annotations

import http.client
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aggregator.control import write_control_file
from tests.support.serve import command, read_full_banner, start_serve, stop_serve

TIMEOUT = 30.0


def dashboard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("dashboard", *args), capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                          env={**os.environ})


def get(url: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_the_printed_address_gets_the_browser_in(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--db", str(tmp_path / "s.db"))
    try:
        banner = read_full_banner(process)
        printed = dashboard(tmp_path, "--db", str(tmp_path / "s.db"))
        assert printed.returncode == 0 and printed.stderr == ""
        address = printed.stdout.strip()
        parts = urlsplit(address)
        assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("http", "127.0.0.1", banner.control_port, "/")
        first = get(address, f"/?{parts.query}", {})
        assert first.status == 303 and first.getheader("location") == "/"
        cookie = first.getheader("set-cookie")
        assert cookie is not None and cookie.startswith(f"smsc-harness-{banner.control_port}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        page = get(address, "/", {"Cookie": cookie.split(";")[0]})
        assert page.status == 200 and page.getheader("content-type") == "text/html; charset=utf-8"
        assert get(address, "/", {}).status == 401
    finally:
        assert stop_serve(process) == 0


def test_a_configured_token_is_quoted_in_the_address(tmp_path: Path) -> None:
    """A token from the config may hold '+', '/' and '=': a query string would read '+' as a
    space, so the address quotes them."""
    token = "abc+def/ghi=jkl+mnop=="
    write_control_file(tmp_path / "x.db.control.json", "http://127.0.0.1:2776", token)
    printed = dashboard(tmp_path, "--db", "x.db")
    assert printed.returncode == 0
    assert parse_qs(urlsplit(printed.stdout.strip()).query) == {"token": [token]}


def test_without_a_running_serve_it_says_so(tmp_path: Path) -> None:
    printed = dashboard(tmp_path, "--db", "nothing.db")
    assert printed.returncode == 1 and printed.stdout == ""
    assert printed.stderr.startswith("smsc-harness dashboard: no control file nothing.db.control.json: is "
                                     "`smsc-harness serve --db nothing.db` running?")


def test_a_control_file_that_is_not_serves_is_named(tmp_path: Path) -> None:
    (tmp_path / "y.db.control.json").write_text("[1, 2]")
    printed = dashboard(tmp_path, "--db", "y.db")
    assert printed.returncode == 1 and printed.stderr.startswith("smsc-harness dashboard: y.db.control.json: expected")
