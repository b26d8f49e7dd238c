"""`serve` writes its control API's URL and token next to the store, and `smsc-harness mo` uses
them: real processes, real TCP on 127.0.0.1, a real file (issue 10).

Before, the control API took any request from anyone, and `mo` talked to whatever listened on
127.0.0.1:2776, another instance included.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aggregator.control import ControlFile, read_control_file, remove_control_file, write_control_file
from tests.support.serve import Banner, command, read_full_banner, start_serve, stop_serve

TIMEOUT = 30.0


def mo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("mo", "--from", "+33612345678", "--to", "36180", *args), capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=cwd, env={**os.environ})


def get_status(url: str, token: str | None, host: str | None = None) -> tuple[int, object]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if host is not None:
        headers["Host"] = host
    try:
        connection.request("GET", "/status", headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_serve_writes_the_control_file_and_mo_uses_it(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    control_file = tmp_path / "store.db.control.json"
    process = start_serve(tmp_path, "--db", str(db))
    try:
        banner: Banner = read_full_banner(process)
        # The banner is serve's first line, and names the file.
        assert banner.index == 0 and banner.line.startswith("smsc-harness: SMPP server on 127.0.0.1:")
        assert banner.control_file == control_file
        assert stat.S_IMODE(control_file.stat().st_mode) == 0o600
        found = read_control_file(control_file)
        assert found.url == f"http://127.0.0.1:{banner.control_port}" and len(found.token) >= 43

        # The token opens the API; nothing else does, and neither does a foreign Host.
        assert get_status(found.url, found.token)[0] == 200
        code, body = get_status(found.url, None)
        assert code == 401 and "error" in body  # type: ignore[operator]
        assert get_status(found.url, "x" * 43)[0] == 401
        assert get_status(found.url, found.token, host="evil.example")[0] == 421

        # `mo` reads the file named by --db ...
        sent = mo(tmp_path, "--db", str(db), "STOP")
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout) == {"operator": "sfr", "from": "+33612345678", "to": "36180"}
        # ... and ./smsc-harness.db.control.json without it: not this instance's, so none here.
        missing = mo(tmp_path, "STOP")
        assert missing.returncode == 1 and missing.stdout == ""
        (line,) = missing.stderr.splitlines()
        assert line.startswith("smsc-harness mo: no control file ") and "smsc-harness.db.control.json" in line
        # Overrides: a wrong token is refused in one line; --control and --token need no file.
        wrong = mo(tmp_path, "--db", str(db), "--token", "not-the-token-0123456789", "STOP")
        assert wrong.returncode == 1 and wrong.stderr.startswith("smsc-harness mo: 401 ")
        assert len(wrong.stderr.splitlines()) == 1
        direct = mo(tmp_path, "--db", str(tmp_path / "none.db"), "--control", f"127.0.0.1:{banner.control_port}",
                    "--token", found.token, "STOP")
        assert direct.returncode == 0, direct.stderr
        too_long = mo(tmp_path, "--db", str(db), "x" * 70_000)
        assert too_long.returncode == 1 and too_long.stderr.startswith("smsc-harness mo: 400 text: ")
    finally:
        returncode = stop_serve(process)
    assert returncode == 0
    assert not control_file.exists()            # removed on a clean stop


def test_a_configured_token_is_used(tmp_path: Path) -> None:
    token = "configured-token-0123456789"
    config = tmp_path / "net.yaml"
    default = (Path(__file__).parents[2] / "aggregator" / "default_network.yaml").read_text()
    config.write_text(default.replace("control:\n", f"control:\n  token: \"{token}\"\n", 1))
    process = start_serve(tmp_path, "--db", str(tmp_path / "c.db"), "--config", str(config))
    try:
        banner = read_full_banner(process)
        assert banner.control_file is not None and read_control_file(banner.control_file).token == token
        assert get_status(f"http://127.0.0.1:{banner.control_port}", token)[0] == 200
    finally:
        assert stop_serve(process) == 0


def test_a_short_configured_token_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "net.yaml"
    default = (Path(__file__).parents[2] / "aggregator" / "default_network.yaml").read_text()
    config.write_text(default.replace("control:\n", "control:\n  token: \"short-secret\"\n", 1))
    result = subprocess.run(command("serve", "--config", str(config), "--port", "0", "--control-port", "0",
                                    "--db", str(tmp_path / "s.db")),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ})
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(str(config))]
    assert ": control.token: expected a token of 16 to 1024 characters" in line and line.endswith("got 12 characters")
    assert "short-secret" not in result.stderr
    assert not (tmp_path / "s.db.control.json").exists()


# --- the file itself -----------------------------------------------------------------------------

def test_the_control_file_is_written_whole_and_private(tmp_path: Path) -> None:
    path = tmp_path / "x.db.control.json"
    path.write_text("stale")
    os.chmod(path, 0o644)
    write_control_file(path, "http://127.0.0.1:1", "token-one-0123456789")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_control_file(path) == ControlFile("http://127.0.0.1:1", "token-one-0123456789")
    assert [p.name for p in tmp_path.iterdir()] == ["x.db.control.json"]     # no temporary left
    remove_control_file(path, "another-instance-token")
    assert path.exists()                                                     # not ours: kept
    remove_control_file(path, "token-one-0123456789")
    assert not path.exists()


@pytest.mark.parametrize("content", ["", "{", "[]", '{"url": 1, "token": "x"}', '{"url": "http://x"}'])
def test_a_control_file_that_is_not_serves_is_refused_in_one_line(tmp_path: Path, content: str) -> None:
    db = tmp_path / "x.db"
    Path(f"{db}.control.json").write_text(content)
    result = mo(tmp_path, "--db", str(db), "STOP")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"smsc-harness mo: {db}.control.json: ")


def test_optouts_from_the_command_line(tmp_path: Path) -> None:
    """`smsc-harness optouts` against a real serve: a STOP sent with `mo` is on the list, a
    number added by hand in another spelling is one subscriber, remove takes it off, and bad
    input is one line and exit status 1."""
    db = tmp_path / "store.db"
    process = start_serve(tmp_path, "--db", str(db))

    def optouts(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command("optouts", *args, "--db", str(db)), capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=tmp_path, env={**os.environ})

    try:
        read_full_banner(process)
        assert mo(tmp_path, "--db", str(db), "Stop !").returncode == 0
        added = optouts("add", "--account", "demo", "0699990000")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["number"] == "+33699990000"
        again = optouts("add", "--account", "demo", "+33699990000")
        assert again.returncode == 0 and json.loads(again.stdout)["added"] is False
        listed = None
        for _ in range(100):                        # the MO crosses the operator link: not instant
            listed = optouts("list", "--account", "demo")
            if len(json.loads(listed.stdout)["optouts"]) == 2:
                break
        assert listed is not None and listed.returncode == 0
        assert [(o["number"], o["how"]) for o in json.loads(listed.stdout)["optouts"]] == [
            ("+33612345678", "mo"), ("+33699990000", "manual")]
        removed = optouts("remove", "--account", "demo", "33699990000")
        assert removed.returncode == 0 and json.loads(removed.stdout)["removed"] is True
        gone = optouts("remove", "--account", "demo", "33699990000")
        assert gone.returncode == 1 and gone.stderr.startswith("smsc-harness optouts: 404 number: ")
        unknown = optouts("list", "--account", "nobody")
        assert unknown.returncode == 1 and unknown.stderr.splitlines() == [
            'smsc-harness optouts: 400 account: no account "nobody"']
        bad = optouts("add", "--account", "demo", "hello")
        assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1 and "400 number: " in bad.stderr
    finally:
        assert stop_serve(process) == 0


def test_operator_and_message_from_the_command_line(tmp_path: Path) -> None:
    """`smsc-harness operator` starts and ends an outage and sets a throughput on a real serve,
    `smsc-harness message` shows a message an MO-free submit made; bad input is one line."""
    from tests.support.smpp_socket import SmppSocket
    from smsc.pdu.codec import Command

    db = tmp_path / "store.db"
    process = start_serve(tmp_path, "--db", str(db))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(*args, "--db", str(db)), capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=tmp_path, env={**os.environ})

    try:
        banner = read_full_banner(process)
        started = run("operator", "sfr", "--outage", "silent")
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout) == {"operator": "sfr", "outage": "silent"}
        ended = run("operator", "sfr", "--recover")
        assert ended.returncode == 0 and json.loads(ended.stdout)["ended"] == "silent"
        again = run("operator", "sfr", "--recover")
        assert again.returncode == 1 and again.stderr.splitlines() == [
            "smsc-harness operator: 409 operator: sfr is not in an outage"]
        capped = run("operator", "sfr", "--throughput", "50", "--burst", "5")
        assert capped.returncode == 0 and json.loads(capped.stdout) == {"operator": "sfr", "rate": 50.0, "burst": 5}
        nobody = run("operator", "nobody", "--recover")
        assert nobody.returncode == 1 and "404 operator: no operator" in nobody.stderr
        lone_burst = subprocess.run(command("operator", "sfr", "--outage", "drop", "--burst", "3", "--db", str(db)),
                                    capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
        assert lone_burst.returncode == 2 and "--burst goes with --throughput" in lone_burst.stderr

        client = SmppSocket("127.0.0.1", banner.smpp_port)
        try:
            assert client.bind("demo", "demo").command_status == 0
            resp = client.request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5,
                                  destination_addr="33612345678", dest_addr_ton=1, dest_addr_npi=1,
                                  short_message=b"look me up")
        finally:
            client.close()
        shown = run("message", resp["message_id"])
        assert shown.returncode == 0, shown.stderr
        body = json.loads(shown.stdout)
        assert body["id"] == resp["message_id"] and body["account"] == "demo" and body["history"]
        unknown = run("message", "no-such-id")
        assert unknown.returncode == 1 and "404 message: no message" in unknown.stderr
    finally:
        assert stop_serve(process) == 0
