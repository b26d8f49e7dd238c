"""`smsc-harness serve` start-up problems, as a user meets them: a real process for each, which
must end at once with one line on stderr naming the problem and exit status 2, no traceback.

The processes of one table start together (each exits within a second; run one after the
other they would add ten seconds to the suite)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from twisted.internet.error import CannotListenError

from aggregator.config import load_config
from cli.serve import _listen_failed, listeners
from tests.support.serve import BANNER, command, stop_serve

TIMEOUT = 60.0

NETWORK = """\
operators:
  - {id: sfr, name: SFR, carriers: [SFR]OPERATOR}
  - {id: orange, name: Orange, carriers: [Orange France]OTHER}
accounts:
  - {system_id: demo, password: demo}
"""


def network(path: Path, operator: str = "", other: str = "") -> str:
    path.write_text(NETWORK.replace("OPERATOR", operator).replace("OTHER", other))
    return str(path)


def unprivileged() -> list[str] | None:
    """A command prefix under which file permissions apply: none needed for a normal user;
    root ignores them unless it drops CAP_DAC_OVERRIDE (setpriv); None if it cannot."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


@dataclass
class Case:
    name: str
    args: list[str]
    expected: str                 # the one stderr line, exactly, or its start when it ends with "..."
    prefix: list[str] | None = None


def run_all(cases: list[Case], cwd: Path) -> list[str]:
    """Start every case's process, then collect them: a list of what went wrong."""
    started = []
    for case in cases:
        argv = [*(case.prefix or []), *command("serve", *case.args)]
        started.append((case, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True, cwd=cwd)))
    wrong = []
    for case, process in started:
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            wrong.append(f"{case.name}: still running after {TIMEOUT:g} s")
            continue
        lines = err.splitlines()
        matches = (lines == [case.expected] if not case.expected.endswith("...")
                   else len(lines) == 1 and lines[0].startswith(case.expected[:-3]))
        if process.returncode != 2 or not matches or out:
            wrong.append(f"{case.name}: exit {process.returncode}, stderr {err!r}, stdout {out[:200]!r}")
    return wrong


def test_bad_arguments_config_and_database_each_end_with_one_line_and_status_2(tmp_path: Path) -> None:
    text_db = tmp_path / "notes.db"
    text_db.write_text("this is a text file, not a database\n")
    random_db = tmp_path / "random.db"
    random_db.write_bytes(bytes((i * 7919) % 251 for i in range(4096)))
    damaged_db = tmp_path / "damaged.db"
    damaged_db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    (tmp_path / "dir.db").mkdir()
    os.mkfifo(tmp_path / "fifo.yaml")   # opened for reading, it would block start-up for ever
    window = network(tmp_path / "window.yaml", ", window: 1001")
    binds = network(tmp_path / "binds.yaml", ", binds: 65")
    same_port = network(tmp_path / "same.yaml", ", port: 2900", ", port: 2900")
    base = ["--port", "0", "--control-port", "0", "--db", str(tmp_path / "ok.db")]
    usage = "smsc-harness serve: argument {}: expected {}, got '{}' (see smsc-harness serve --help)"
    cases = [
        Case("port out of range", ["--port", "70000"], usage.format("--port", "a port from 0 to 65535", "70000")),
        Case("negative control port", ["--control-port", "-1"],
             usage.format("--control-port", "a port from 0 to 65535", "-1")),
        *(Case(f"speed {x}", ["--speed", x], usage.format("--speed", "a number > 0 and <= 1e+06", x))
          for x in ("nan", "inf", "0", "-1")),
        Case("text file as db", [*base, "--db", str(text_db)],
             f"smsc-harness: --db {text_db}: not an SQLite database (it does not start with the SQLite header)"),
        Case("random bytes as db", [*base, "--db", str(random_db)],
             f"smsc-harness: --db {random_db}: not an SQLite database (it does not start with the SQLite header)"),
        Case("damaged db", [*base, "--db", str(damaged_db)],
             f"smsc-harness: --db {damaged_db}: cannot open the database: file is not a database"),
        Case("directory as db", [*base, "--db", str(tmp_path / "dir.db")],
             f"smsc-harness: --db {tmp_path / 'dir.db'}: is a directory, not a database file"),
        Case("missing directory", [*base, "--db", str(tmp_path / "nowhere" / "x.db")],
             f"smsc-harness: --db {tmp_path / 'nowhere' / 'x.db'}: directory {tmp_path / 'nowhere'} does not exist"),
        Case("config is a FIFO", [*base, "--config", str(tmp_path / "fifo.yaml")],
             f"{tmp_path / 'fifo.yaml'}: cannot read config file: expected a regular file, got a FIFO (named pipe)"),
        Case("window past 1000", [*base, "--config", window],
             f"{window}:2:51: operators[0].window: expected an integer from 1 to 1000, got 1001"),
        Case("binds past 64", [*base, "--config", binds],
             f"{binds}:2:50: operators[0].binds: expected an integer from 1 to 64, got 65"),
        Case("two operators on one port", [*base, "--config", same_port],
             f"{same_port}:3:65: operators[1].port: port 2900 is already used by operators[0].port (line 2);"
             " give another, or 0 for a free one"),
        Case("--port on the control port", ["--port", "2776", "--db", str(tmp_path / "ok.db")],
             "smsc-harness: port 2776 is asked for by both the SMPP server (--port) and the control API"
             " (control.port); give one of them another port"),
    ]
    assert run_all(cases, tmp_path) == []


def test_ports_in_use_name_the_listener(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = network(tmp_path / "net.yaml", f", port: {port}")
        db = ["--db", str(tmp_path / "x.db")]
        cases = [
            Case("SMPP port", ["--port", str(port), "--control-port", "0", *db],
                 f"smsc-harness: cannot listen on 127.0.0.1:{port} for the SMPP server (--port): Address already in use"),
            Case("control port", ["--port", "0", "--control-port", str(port), *db],
                 f"smsc-harness: cannot listen on 127.0.0.1:{port} for the control API (--control-port):"
                 " Address already in use"),
            Case("operator port", ["--port", "0", "--control-port", "0", "--config", config, *db],
                 f"smsc-harness: cannot listen on 127.0.0.1:{port} for operator sfr's SMSC (operators[0].port):"
                 " Address already in use"),
        ]
        assert run_all(cases, tmp_path) == []
    assert not (tmp_path / "x.db").exists()  # refused before the store was created


def test_read_only_database_file_or_directory(tmp_path: Path) -> None:
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: file permissions cannot apply")
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "readonly.db").write_bytes(b"")
    (tmp_path / "readonly.db").chmod(0o444)
    locked.chmod(0o555)
    try:
        base = ["--port", "0", "--control-port", "0"]
        cases = [
            Case("read-only file", [*base, "--db", str(tmp_path / "readonly.db")],
                 f"smsc-harness: --db {tmp_path / 'readonly.db'}: cannot open it for writing (Permission denied);"
                 " is it read-only?", prefix),
            Case("read-only directory", [*base, "--db", str(locked / "x.db")],
                 f"smsc-harness: --db {locked / 'x.db'}: directory {locked} is read-only (SQLite writes x.db-wal"
                 " and x.db-shm beside the database)", prefix),
        ]
        assert run_all(cases, tmp_path) == []
    finally:
        locked.chmod(0o755)


def test_a_port_taken_after_the_check_is_still_named() -> None:
    """The race the pre-check cannot close: Twisted's own CannotListenError, mapped the same way."""
    wanted = listeners(load_config(), 2775, 0)
    error = CannotListenError("127.0.0.1", 2775, OSError(98, "Address already in use"))
    assert _listen_failed(error, wanted) == (
        "cannot listen on 127.0.0.1:2775 for the SMPP server (--port): Address already in use")


def test_the_banner_is_the_first_line_on_stdout(tmp_path: Path) -> None:
    """README: `--port 0` users read the port from the first line. Before, a dozen log lines
    (operators listening, binds) came first."""
    process = subprocess.Popen(command("serve", "--port", "0", "--control-port", "0", "--db", str(tmp_path / "b.db")),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()   # bounded: serve prints it or exits (then "" below)
        assert BANNER.search(first), first
        second = process.stdout.readline()
        stamp, namespace = second.split()[:2]            # then the log, from its start, each line timed
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp) and namespace == "aggregator.harness", second
    finally:
        assert stop_serve(process) == 0
