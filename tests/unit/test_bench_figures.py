"""smsc.bench.histogram and smsc.bench.figures: percentiles, merging, the table, the JSON
file's shape, and the bench command line's parameters."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cli.args import build_parser
from cli.bench import load_config, parameters, parse_target, receipts_counted, server_command
from smsc.bench.figures import Figures, cpu_model, latency_text, report, table
from smsc.bench.histogram import LatencyHistogram


def test_histogram_percentiles_in_microseconds() -> None:
    histogram = LatencyHistogram()
    histogram.pending.extend(i / 1_000_000 for i in range(1, 10_001))     # 1 us .. 10 ms
    summary = histogram.summary()
    assert list(summary) == ["count", "min", "p50", "p90", "p99", "p99.9", "max"]
    assert summary["count"] == 10_000 and summary["min"] == 1 and summary["max"] == 10_000
    assert summary["p50"] == pytest.approx(5_000, rel=0.001)
    assert summary["p99"] == pytest.approx(9_900, rel=0.001)
    assert summary["p99.9"] <= summary["max"]
    assert LatencyHistogram().summary() == {"count": 0, "min": 0, "p50": 0, "p90": 0, "p99": 0,
                                            "p99.9": 0, "max": 0}


def test_histograms_of_several_processes_merge() -> None:
    one, two = LatencyHistogram(), LatencyHistogram()
    one.pending.extend([0.001] * 900)
    two.pending.extend([0.1] * 100)
    two.flush()
    one.merge(two.encode(), two.min_us, two.max_us)
    summary = one.summary()
    assert summary["count"] == 1_000 and summary["min"] == 1_000 and summary["max"] == 100_000
    assert summary["p50"] == pytest.approx(1_000, rel=0.001)
    assert summary["p99"] == pytest.approx(100_000, rel=0.001)


def _figures(**changes: object) -> Figures:
    latency = {"count": 10, "min": 100, "p50": 200, "p90": 300, "p99": 400, "p99.9": 500, "max": 600}
    values: dict[str, object] = dict(
        sent=10, resps_ok=7, resps_error=2, errors={"ESME_RTHROTTLED": 2}, lost=1, unsent=0,
        receipts=6, lost_receipts=1, unmatched_receipts=0, submits_per_s=7.0, receipts_per_s=6.0,
        resp_latency_us=latency, receipt_latency_us=latency, measured_seconds=1.0, drain_seconds=0.5,
        disconnected=0, unexpected_resps=0, protocol_errors=0)
    values.update(changes)
    return Figures(**values)  # type: ignore[arg-type]


def test_json_report_has_every_figure_parameter_and_the_machine(tmp_path: Path) -> None:
    args = build_parser().parse_args(["bench", "--mode", "e2e", "--target", "127.0.0.1:2775", "--binds", "3",
                                      "--window", "50", "--rate", "1000", "--duration", "5", "--warmup", "0.5",
                                      "--drain", "2", "--system-id", "acme", "--password", "pw",
                                      "--json", str(tmp_path / "out.json")])
    config = load_config(args)
    when = datetime(2026, 12, 1, 1, 2, 3, tzinfo=timezone.utc)
    content = report(parameters(args, config), _figures(), {"command": None, "address": "127.0.0.1:2775"}, 1, when)
    content = json.loads(json.dumps(content))                    # what the file holds
    assert set(content) == {"tool", "date", "parameters", "server", "machine", "figures", "exit_status"}
    assert content["date"] == "2026-12-01T01:02:03+00:00" and content["exit_status"] == 1
    assert content["parameters"] == {
        "mode": "e2e", "target": "127.0.0.1:2775", "loop": "open", "binds": 3, "window": 50, "rate": 1000.0,
        "duration": 5.0, "warmup": 0.5, "drain": 2.0, "receipts": True, "system_id": "acme",
        "source_addr": "33600000000", "destination_addr": "33612345678", "tick": 0.001, "procs": 1}
    assert "pw" not in json.dumps(content)
    machine = content["machine"]
    assert set(machine) == {"cores", "platform", "cpu_model", "python", "python_implementation"}
    assert isinstance(machine["cores"], int) and isinstance(machine["python"], str)
    figures = content["figures"]
    assert figures["sent"] == 10 and figures["errors"] == {"ESME_RTHROTTLED": 2}
    assert figures["lost"] == 1 and figures["lost_receipts"] == 1
    assert set(figures["submit_sm_resp_latency_us"]) == {"count", "min", "p50", "p90", "p99", "p99.9", "max"}
    assert all(isinstance(v, int) for v in figures["submit_to_receipt_latency_us"].values())
    assert isinstance(figures["submits_per_s"], float) and isinstance(figures["drain_seconds"], float)


def test_table_names_every_figure() -> None:
    text = table("title", _figures())
    for needle in ("submit_sm sent", "ESME_RTHROTTLED 2", "lost (no resp)", "receipts", "lost (no receipt)",
                   "p99.9", "submit_sm_resp", "submit to receipt", "200 us"):
        assert needle in text
    assert "receipt" not in table("title", _figures(receipts=None, lost_receipts=None, receipts_per_s=None,
                                                    receipt_latency_us=None))


def test_latency_text() -> None:
    assert [latency_text(v) for v in (850, 12_345, 1_500_000)] == ["850 us", "12.35 ms", "1.50 s"]


def test_cpu_model_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.00GHz\n")
    assert cpu_model(info) == "Example CPU @ 2.00GHz"
    assert cpu_model(tmp_path / "missing") is None


def test_modes_choose_the_server_the_account_and_receipts(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    sink = parse(["bench", "--mode", "sink"])
    assert not receipts_counted(sink) and load_config(sink).system_id == "aggregator"
    assert server_command(sink, tmp_path / "db") == ["sink", "--port", "0", "--no-receipts"]
    assert server_command(parse(["bench", "--mode", "sink", "--receipts"]), tmp_path / "db")[-1] == "--receipts"
    e2e = parse(["bench", "--mode", "e2e"])
    assert receipts_counted(e2e) and (load_config(e2e).system_id, load_config(e2e).password) == ("demo", "demo")
    assert server_command(e2e, tmp_path / "db") == ["serve", "--bench", "--port", "0", "--control-port", "0",
                                                     "--db", str(tmp_path / "db")]
    assert not receipts_counted(parse(["bench", "--mode", "e2e", "--no-receipts"]))


def test_target_and_bad_arguments() -> None:
    assert parse_target("127.0.0.1:2775") == ("127.0.0.1", 2775)
    assert parse_target("[::1]:2775") == ("::1", 2775)
    for bad in ("2775", "host:", "host:0", "host:70000", ":12"):
        with pytest.raises(ValueError):
            parse_target(bad)
    for argv in (["--binds", "0"], ["--window", "x"], ["--rate", "0"], ["--duration", "-1"], ["--rate", "nan"]):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(["bench", "--mode", "sink", *argv])
        assert stopped.value.code == 2


def test_the_address_is_read_from_the_servers_first_line() -> None:
    from smsc.bench.peers import listening_address
    for line, address in (
            ("smsc-harness sink: SMPP on 127.0.0.1:40123 (system_id aggregator)", ("127.0.0.1", 40123)),
            ("smsc-harness: SMPP server on 127.0.0.1:2775 (TLS on 127.0.0.1:2777; accounts: demo; ...)",
             ("127.0.0.1", 2775)),
            ("responder: SMPP on 127.0.0.1:5000", ("127.0.0.1", 5000)),
            ("npm-smpp: SMPP on [::1]:5001", ("::1", 5001))):
        assert listening_address(line) == address
    for line in ("smsc-harness: starting", "responder: SMPP on 127.0.0.1:0", "SMPP on 127.0.0.1:99999", ""):
        assert listening_address(line) is None


def test_compare_table_gives_medians_spreads_and_ratios_to_our_sink() -> None:
    from smsc.bench.figures import CompareRow, compare_report, compare_table
    latency = {"count": 10, "min": 100, "p50": 200, "p90": 300, "p99": 400, "p99.9": 500, "max": 600}
    def run(rate: float, lost: int = 0) -> Figures:
        return _figures(submits_per_s=rate, lost=lost, lost_receipts=None, receipts=None,
                        resp_latency_us=latency)
    rows = [CompareRow("raw responder", "python -m smsc.bench.peers.responder", [run(500_000.0)]),
            CompareRow("smsc-harness sink", "smsc-harness sink", [run(40_000.0), run(10_000.0), run(30_000.0)]),
            CompareRow("npm smpp 0.5.1", None, skipped="npm is not on PATH")]
    text = compare_table("title", rows)
    sink_line = next(line for line in text.splitlines() if line.strip().startswith("smsc-harness sink"))
    assert "30,000" in sink_line and "10,000-40,000" in sink_line and sink_line.rstrip().endswith("1.00")
    responder_line = next(line for line in text.splitlines() if "raw responder" in line)
    assert responder_line.rstrip().endswith("16.67")             # 500,000 / the sink's median 30,000
    assert "not measured: npm is not on PATH" in text
    content = compare_report({"rounds": 3}, rows, 0, when=datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert content["reference"] == "smsc-harness sink" and content["date"] == "2026-12-01T00:00:00+00:00"
    servers = content["servers"]
    assert isinstance(servers, list) and [s["name"] for s in servers] == [r.name for r in rows]  # type: ignore[index]
    sink = servers[1]
    assert isinstance(sink, dict) and sink["median_submits_per_s"] == 30_000.0 and sink["ratio_to_reference"] == 1.0
    assert isinstance(sink["runs"], list) and len(sink["runs"]) == 3
    npm = servers[2]
    assert isinstance(npm, dict) and npm["skipped"] == "npm is not on PATH" and npm["ratio_to_reference"] is None
    json.dumps(content)                                          # all of it is JSON


def test_without_our_sink_ratios_are_to_the_first_server_measured() -> None:
    from smsc.bench.figures import CompareRow, compare_table
    rows = [CompareRow("npm smpp 0.5.1", None, skipped="no node"),
            CompareRow("raw responder", None, [_figures(submits_per_s=100.0)]),
            CompareRow("target 10.0.0.1:2775", None, [_figures(submits_per_s=50.0)])]
    lines = compare_table("title", rows).splitlines()
    assert next(line for line in lines if "target" in line).rstrip().endswith("0.50")
    assert lines[-1].strip().startswith("ratio: each server's median submit_sm_resp/s over raw responder's")


def test_compare_names_known_servers_only() -> None:
    from cli.bench_compare import servers_from
    assert servers_from("sink, npm,sink") == ["sink", "npm"]
    for bad in ("", ",", "sink,kannel"):
        with pytest.raises(ValueError, match="--compare"):
            servers_from(bad)
    args = build_parser().parse_args(["bench", "--compare"])
    assert args.compare == "sink,responder,npm" and args.rounds == 1 and args.mode == "sink"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--compare", "sink", "--rounds", "0"])
