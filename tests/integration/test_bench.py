"""`smsc-harness bench` as a user runs it: a real process loading a server over real TCP.

The servers are the test responder (tests/support/bench_responder.py) in this test's reactor,
on 127.0.0.1 and a free port, or the processes `--mode sink` and `--mode e2e` start. Short
runs; counts and exit statuses, never a speed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, threads
from twisted.internet.endpoints import TCP4ServerEndpoint

from cli.args import build_parser
from cli.bench import ServerDidNotStart, ServerProcess, cli_argv
from tests.support.bench_responder import Behaviour, ResponderFactory
from tests.support.serve import command

RUN_TIMEOUT = 120.0       # seconds a bench process may take (1 s of load, start-up, drain)
SHORT = ("--duration", "1", "--warmup", "0.2", "--drain", "2", "--binds", "2", "--window", "20")


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    out = tmp_path / "bench.json"
    result = subprocess.run(command("bench", *args, "--json", str(out)), capture_output=True, text=True,
                            timeout=RUN_TIMEOUT, cwd=tmp_path, env={**os.environ})
    return result, json.loads(out.read_text()) if out.exists() else None


async def _against_responder(tmp_path: Path, behaviour: Behaviour, *args: str
                             ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None, ResponderFactory]:
    from twisted.internet import reactor
    factory = ResponderFactory(reactor, behaviour)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        result, content = await threads.deferToThread(
            _bench, tmp_path, "--target", f"127.0.0.1:{port.getHost().port}", *args)
    finally:
        await defer.maybeDeferred(port.stopListening)
    return result, content, factory


@pytest_twisted.ensureDeferred
async def test_target_a_responder_prints_the_figures_and_writes_the_json(tmp_path: Path) -> None:
    result, content, factory = await _against_responder(
        tmp_path, Behaviour(error_every=10), "--mode", "sink", *SHORT)
    assert result.returncode == 0, result.stderr
    assert "submit_sm_resp ok" in result.stdout and "ESME_RTHROTTLED" in result.stdout
    assert "p99.9" in result.stdout and "traceback" not in result.stderr.lower()
    assert content is not None
    figures = content["figures"]
    assert figures["sent"] > 0 and figures["lost"] == 0
    assert figures["resps_ok"] + figures["resps_error"] + figures["lost"] == figures["sent"]
    assert set(figures["errors"]) == {"ESME_RTHROTTLED"}
    assert figures["submit_sm_resp_latency_us"]["count"] == figures["sent"]
    assert figures["receipts"] is None and figures["submit_to_receipt_latency_us"] is None
    assert content["parameters"]["binds"] == 2 and content["parameters"]["window"] == 20
    assert content["server"] == {"command": None, "address": content["parameters"]["target"]}
    assert content["exit_status"] == 0
    assert factory.seen.binds == 2 and factory.seen.unbinds == 2
    assert factory.seen.submits >= figures["sent"]


@pytest_twisted.ensureDeferred
async def test_target_with_receipts_counts_them(tmp_path: Path) -> None:
    result, content, factory = await _against_responder(
        tmp_path, Behaviour(receipts=True), "--mode", "e2e", "--rate", "500", *SHORT)
    assert result.returncode == 0, result.stderr
    assert content is not None
    figures = content["figures"]
    assert content["parameters"]["loop"] == "open"
    assert figures["sent"] == 500 and figures["resps_ok"] == 500
    assert figures["receipts"] == 500 and figures["lost_receipts"] == 0
    assert figures["submit_to_receipt_latency_us"]["count"] == 500
    assert factory.seen.deliver_sm_resps >= 500


@pytest_twisted.ensureDeferred
async def test_unanswered_submits_are_lost_exit_1(tmp_path: Path) -> None:
    # Open loop, so that the unanswered submits (they hold their window places for good)
    # do not stall the load: 240 submits, every 25th unanswered, in windows of 2 x 50.
    result, content, _ = await _against_responder(tmp_path, Behaviour(silent_every=25), "--mode", "sink",
                                                  *SHORT[:6], "--rate", "200", "--window", "50")
    assert result.returncode == 1
    assert "messages lost" in result.stderr and "submit_sm never answered" in result.stderr
    assert content is not None and content["exit_status"] == 1
    figures = content["figures"]
    assert figures["sent"] == 200 and 7 <= figures["lost"] <= 9
    assert figures["resps_ok"] + figures["resps_error"] + figures["lost"] == figures["sent"]


@pytest_twisted.ensureDeferred
async def test_missing_receipts_are_lost_exit_1(tmp_path: Path) -> None:
    result, content, _ = await _against_responder(
        tmp_path, Behaviour(receipts=True, no_receipt_every=20), "--mode", "e2e", *SHORT)
    assert result.returncode == 1
    assert "receipts never came" in result.stderr
    assert content is not None
    figures = content["figures"]
    assert figures["lost"] == 0 and figures["lost_receipts"] > 0
    assert figures["receipts"] + figures["lost_receipts"] == figures["resps_ok"]


@pytest_twisted.ensureDeferred
async def test_refused_bind_exit_1(tmp_path: Path) -> None:
    result, content, _ = await _against_responder(tmp_path, Behaviour(refuse_bind=True), "--mode", "sink", *SHORT)
    assert result.returncode == 1
    assert "refused the bind (ESME_RBINDFAIL)" in result.stderr and "Traceback" not in result.stderr
    assert content is None


def test_unreachable_target_and_bad_arguments_exit_2(tmp_path: Path) -> None:
    import socket
    with socket.socket() as probe:                      # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    result, _ = _bench(tmp_path, "--mode", "sink", "--target", f"127.0.0.1:{free}", *SHORT)
    assert result.returncode == 2 and "cannot connect to 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    result, _ = _bench(tmp_path, "--mode", "sink", "--target", "nowhere")
    assert result.returncode == 2 and "--target: expected HOST:PORT" in result.stderr
    result, _ = _bench(tmp_path, "--mode", "sink", "--window", "0")
    assert result.returncode == 2 and "--window" in result.stderr


@pytest_twisted.ensureDeferred
async def test_a_server_that_does_not_start_is_named() -> None:
    from twisted.internet import reactor
    with pytest.raises(ServerDidNotStart, match="exited before its first line: .*--port"):
        await ServerProcess.start(reactor, reactor, cli_argv(["serve", "--port", "70000"]))


def _has_command(*argv: str) -> bool:
    try:
        build_parser().parse_args([*argv])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not _has_command("sink", "--port", "0"), reason="smsc-harness sink not on this branch yet")
def test_mode_sink_starts_and_stops_the_sink(tmp_path: Path) -> None:
    result, content = _bench(tmp_path, "--mode", "sink", *SHORT)
    assert result.returncode == 0, result.stderr
    assert content is not None
    figures = content["figures"]
    assert figures["sent"] > 0 and figures["lost"] == 0 and figures["resps_ok"] == figures["sent"]
    assert content["server"]["command"] == "smsc-harness sink --port 0 --no-receipts"


@pytest.mark.skipif(not _has_command("serve", "--bench"), reason="smsc-harness serve --bench not on this branch yet")
def test_mode_e2e_starts_the_stack_and_counts_receipts(tmp_path: Path) -> None:
    result, content = _bench(tmp_path, "--mode", "e2e", *SHORT)
    assert result.returncode == 0, result.stderr
    assert content is not None
    figures = content["figures"]
    assert figures["sent"] > 0 and figures["lost"] == 0 and figures["lost_receipts"] == 0
    assert figures["receipts"] == figures["resps_ok"] == figures["sent"]
    assert content["server"]["command"].startswith("smsc-harness serve --bench")
    assert not list(tmp_path.glob("*.db"))             # the stack's store was a temporary one


@pytest.mark.skipif(not _has_command("sink", "--port", "0"), reason="smsc-harness sink not on this branch yet")
def test_compare_loads_each_server_in_turn_and_gives_ratios(tmp_path: Path) -> None:
    result, content = _bench(tmp_path, "--compare", "sink,responder", "--rounds", "2", *SHORT)
    assert result.returncode == 0, result.stderr
    assert content is not None and content["tool"] == "smsc-harness bench --compare"
    assert content["reference"] == "smsc-harness sink" and content["parameters"]["rounds"] == 2
    sink, responder = content["servers"]
    assert (sink["name"], responder["name"]) == ("smsc-harness sink", "raw responder")
    assert sink["command"].startswith("smsc-harness sink --host 127.0.0.1 --port 0 --no-receipts")
    assert responder["command"].startswith("python -m smsc.bench.peers.responder")
    for server in (sink, responder):
        assert len(server["runs"]) == 2 and server["skipped"] is None
        for run in server["runs"]:
            assert run["sent"] > 0 and run["lost"] == 0 and run["resps_ok"] == run["sent"]
    assert sink["ratio_to_reference"] == 1.0 and responder["ratio_to_reference"] > 0
    # the turns alternate: sink, responder, sink, responder
    rounds = [line for line in result.stderr.splitlines() if "round " in line]
    assert [line.rsplit(": ", 1)[1] for line in rounds] == ["smsc-harness sink", "raw responder"] * 2
    assert "ratio" in result.stdout and "raw responder" in result.stdout


@pytest_twisted.ensureDeferred
async def test_compare_measures_a_target_and_names_a_server_it_could_not_measure(tmp_path: Path) -> None:
    # the test responder refuses every bind: the target row says so, the raw responder is measured
    result, content, _ = await _against_responder(
        tmp_path, Behaviour(refuse_bind=True), "--compare", "responder", *SHORT)
    assert result.returncode == 0, result.stderr
    assert content is not None
    responder, target = content["servers"]
    assert responder["runs"] and target["name"].startswith("target 127.0.0.1:")
    assert target["runs"] == [] and "refused the bind" in target["skipped"]
    assert "not measured: refused the bind" in result.stdout
    assert "traceback" not in result.stderr.lower()


def test_compare_refuses_e2e_and_unknown_servers(tmp_path: Path) -> None:
    result, _ = _bench(tmp_path, "--mode", "e2e", "--compare", *SHORT)
    assert result.returncode == 2 and "--compare loads servers that answer submit_sm" in result.stderr
    result, _ = _bench(tmp_path, "--compare", "sink,kannel", *SHORT)
    assert result.returncode == 2 and "unknown server 'kannel'" in result.stderr
