"""`smsc-harness bench --compare`: the same load on several servers, in one run, one table.

    smsc-harness bench --compare [sink,responder,npm] [--rounds N] [--target HOST:PORT ...]
        [--binds 2] [--window 200] [--rate R] [--duration 10] ...

Absolute rates mean little on a shared or unknown machine; ratios between servers measured
in the same session do. So this loads, one after the other and with the same parameters:

- `sink`: our simulated operator SMSC (`smsc-harness sink`), the reference (ratio 1);
- `responder`: the raw responder (`python -m smsc.bench.peers.responder`), which only frames
  and answers: the ceiling of plain Python I/O, and a check that the load is not the limit;
- `npm`: a server built on the npm `smpp` 0.5.1 package (Node.js), a peer users could pick
  instead of ours, installed into a cache on first use (smsc.bench.peers);
- with `--target HOST:PORT`, that running server too (bound with --system-id/--password).

Each started server is a process of its own, started before its run and stopped after it.
With `--rounds N` the servers take turns N times (A B C A B C ...), so drift in the machine's
load spreads over all of them, and the table gives each server's median rate.

A server that cannot be started (no node or npm, no network for the first install, a
target that does not answer) is reported with the reason and the others are measured:
exit status 0 when every measured run lost nothing, 1 when one lost messages, 2 on bad
arguments or when nothing could be measured.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from twisted.internet import error, threads
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IReactorProcess, IReactorTCP, IReactorTime

from cli.bench import (
    CONNECT_TIMEOUT, ProgressPrinter, ServerDidNotStart, ServerProcess, fail, load_config, load_parameters, load_text,
    parse_target, say, write_json,
)
from smsc.bench.figures import CompareRow, JsonValue, compare_report, compare_table, merge
from smsc.bench.load import BindRefused, LoadConfig, LoadRun
from smsc.bench.peers import NPM_SMPP_VERSION, PeerError, npm_smpp_command, responder_command, sink_command

SERVERS = ("sink", "responder", "npm")
DEFAULT = ",".join(SERVERS)
NAMES = {"sink": "smsc-harness sink", "responder": "raw responder", "npm": f"npm smpp {NPM_SMPP_VERSION}"}


def servers_from(text: str) -> list[str]:
    """`sink,npm` -> ['sink', 'npm']: known names, each once, in the order given;
    ValueError naming the unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in SERVERS:
            raise ValueError(f"--compare: unknown server {name!r} (known: {DEFAULT}; "
                             "add another server with --target HOST:PORT)")
    if not names:
        raise ValueError(f"--compare: name at least one server ({DEFAULT})")
    return list(dict.fromkeys(names))


@dataclass
class _Server:
    key: str                                   # sink, responder, npm, target
    name: str
    argv: list[str] | None = None              # None: a running target, nothing to start
    env: dict[str, str] | None = None
    address: tuple[str, int] | None = None     # a target's
    config: LoadConfig | None = None
    row: CompareRow = field(init=False)

    def __post_init__(self) -> None:
        self.row = CompareRow(name=self.name, command=_shown(self.argv) if self.argv else None)


async def compare(reactor: object, args: argparse.Namespace) -> NoReturn:
    clock, tcp, processes = IReactorTime(reactor), IReactorTCP(reactor), IReactorProcess(reactor)
    try:
        if args.mode == "e2e":
            raise ValueError("--compare loads servers that answer submit_sm (--mode sink); "
                             "the whole stack is measured with --mode e2e alone")
        keys = servers_from(args.compare)
        config = load_config(args)
        target = parse_target(args.target) if args.target else None
    except ValueError as problem:
        fail(str(problem))
    servers = await _servers(keys, config, target)
    progress = ProgressPrinter(sys.stderr, quiet=args.quiet)
    for round_ in range(1, args.rounds + 1):
        for server in servers:
            if server.row.skipped is not None or server.config is None:
                continue
            say(f"round {round_}/{args.rounds}: {server.name}")
            await _measure(server, server.config, clock, tcp, processes, progress)
    measured = [s.row for s in servers if s.row.runs]
    if not measured:
        fail("no server could be measured: " + "; ".join(f"{s.name}: {s.row.skipped}" for s in servers))
    rows = [s.row for s in servers]
    status = 1 if any(f.lost_any for row in rows for f in row.runs) else 0
    print(compare_table(_title(args, config), rows), flush=True)
    if args.json:
        write_json(Path(args.json), compare_report(_parameters(args, config, keys), rows, status))
    raise SystemExit(status)


async def _servers(keys: list[str], config: LoadConfig, target: tuple[str, int] | None) -> list[_Server]:
    """The servers to measure, each with its command and its load's credentials; those that
    cannot run say why in `row.skipped`."""
    peer_config = replace(config, system_id="aggregator", password="secret")
    servers: list[_Server] = []
    for key in keys:
        if key == "sink":
            server = _Server(key, NAMES[key], sink_command(receipts=config.receipts), config=peer_config)
        elif key == "responder":
            server = _Server(key, NAMES[key], responder_command(), config=peer_config)
            if config.receipts:
                server.row.skipped = "it sends no receipts (compare it with --no-receipts)"
        else:
            server = _Server(key, NAMES[key], config=peer_config)
            try:
                # npm may have to install the package first (minutes, a blocking subprocess)
                server.argv, server.env = await threads.deferToThread(
                    npm_smpp_command, None, "127.0.0.1", 0, config.receipts)
                server.row.command = _shown(server.argv)
            except PeerError as problem:
                server.row.skipped = str(problem)
        servers.append(server)
    if target is not None:
        servers.append(_Server("target", f"target {target[0]}:{target[1]}", address=target, config=config))
    for server in servers:
        if server.row.skipped:
            say(f"{server.name}: not measured: {server.row.skipped}")
    return servers


async def _measure(server: _Server, config: LoadConfig, clock: IReactorTime, tcp: IReactorTCP,
                   processes: IReactorProcess, progress: ProgressPrinter) -> None:
    """One run on one server; a server that fails to start or refuses the bind is skipped
    from then on, with the reason."""
    process: ServerProcess | None = None
    if server.argv is not None:
        try:
            process = await ServerProcess.start(processes, clock, server.argv, server.env)
        except ServerDidNotStart as problem:
            server.row.skipped = f"would not start: {problem}"
            say(f"{server.name}: {server.row.skipped}")
            return
        host, port = process.address
    else:
        assert server.address is not None
        host, port = server.address
    run = LoadRun(config, clock, TCP4ClientEndpoint(tcp, host, port, timeout=CONNECT_TIMEOUT),
                  on_progress=progress.show)
    try:
        result = await run.run()
    except BindRefused as refused:
        server.row.skipped = f"refused the bind: {refused}"
    except (error.ConnectError, error.ConnectionLost, error.TimeoutError) as problem:
        server.row.skipped = f"cannot connect to {host}:{port}: {problem}"
    else:
        server.row.runs.append(merge(config, [result]))
    finally:
        progress.done()
        if process is not None:
            await process.stop(clock)
    if server.row.skipped:
        say(f"{server.name}: {server.row.skipped}")


def _shown(argv: list[str] | None) -> str | None:
    """The command as a user would type it: `smsc-harness sink ...`, `python -m ...`, `node ...`."""
    if not argv:
        return None
    if argv[1:3] == ["-m", "cli"]:
        return "smsc-harness " + " ".join(argv[3:])
    if argv[1:2] == ["-m"]:
        return "python " + " ".join(argv[1:])
    return " ".join([Path(argv[0]).name, Path(argv[1]).name, *argv[2:]])


def _title(args: argparse.Namespace, config: LoadConfig) -> str:
    rounds = "1 round" if args.rounds == 1 else f"{args.rounds} rounds in turn, medians"
    return (f"smsc-harness bench --compare: the same load on each server, one after the other\n"
            f"  {load_text(config)}, {rounds}")


def _parameters(args: argparse.Namespace, config: LoadConfig, keys: list[str]) -> dict[str, JsonValue]:
    return {"compare": list(keys), "target": args.target, "rounds": args.rounds, **load_parameters(config)}
