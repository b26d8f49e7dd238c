"""`smsc-harness serve --bench` as a process (issue 13): the whole stack on the shipped bench
network, for load tools. Its banner comes first as for serve; the demo account binds, a
submit gets its receipt at once; it logs at warn (no start-up info lines); --config with it
is refused. Every wait is bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from smsc.bench.peers import start_serve_bench, stop
from tests.support.serve import output, read_full_banner, start_serve, stop_serve
from tests.support.smpplib_client import smpplib_session


def test_serve_bench_starts_and_a_submit_gets_its_receipt(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--bench", "--db", str(tmp_path / "bench.db"))
    try:
        banner = read_full_banner(process)
        assert banner.index == 0                                    # first on stdout, as serve's
        assert "(bench network; accounts: demo;" in banner.line
        seen = smpplib_session(banner.smpp_port)
        receipt = seen["receipt"].short_message.decode()          # type: ignore[attr-defined]
        assert f"id:{seen['message_id']}" in receipt and "stat:DELIVRD" in receipt
    finally:
        status = stop_serve(process)
    assert status == 0
    log = output(process)
    assert " info " not in log and "Traceback" not in log          # log level warn


def test_serve_bench_with_log_level_info_logs_at_info(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--bench", "--db", str(tmp_path / "bench.db"), "--log-level", "info")
    try:
        read_full_banner(process)
    finally:
        status = stop_serve(process)
    assert status == 0
    assert "aggregator listening for SMPP clients" in output(process)


def test_serve_bench_refuses_a_config_too(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "--bench", "--config", "net.yaml"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "smsc-harness serve: argument --config: not allowed with argument --bench (see smsc-harness serve --help)"]


def test_start_serve_bench_reads_the_port_from_the_banner_and_stops_it(tmp_path: Path) -> None:
    peer = start_serve_bench(tmp_path / "bench.db")
    try:
        seen = smpplib_session(peer.port)
        assert "stat:DELIVRD" in seen["receipt"].short_message.decode()   # type: ignore[attr-defined]
    finally:
        assert stop(peer.process) == 0
