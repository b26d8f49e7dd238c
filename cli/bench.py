"""`smsc-harness bench`: load a server, print the figures (issue 13).

    smsc-harness bench [--mode sink|e2e] [--target HOST:PORT --system-id X --password Y]
        [--compare [sink,responder,npm] [--rounds N]] [--binds 2] [--window 200] [--rate R] [--duration 10] [--warmup 1] [--drain 10]
        [--receipts|--no-receipts] [--json FILE] [--quiet]

Without --target, the server is a process of its own, started here as `python -m cli ...`
(so the load and the server never share a Python process: one core does not measure
itself): `--mode sink` starts `smsc-harness sink --port 0` (one simulated operator SMSC),
`--mode e2e` starts `smsc-harness serve --bench --port 0 --control-port 0 --db TMP` (the
whole stack). The first line the server prints names its `HOST:PORT`; bench loads it, then
stops it with SIGTERM. With --target, nothing is started. With --compare, cli/bench_compare.py
runs the same load on several servers in turn.

Exit status: 0 the load ran and the figures were printed; 1 messages were lost (no resp, or
no receipt when receipts are counted) or the server refused the bind; 2 a bad command line,
a server process that would not start, or a target that cannot be reached. The message says
why; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn, Sequence, TextIO

from twisted.internet import defer, error, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IProcessTransport, IReactorProcess, IReactorTCP, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from smsc.bench.figures import JsonValue, Figures, merge, progress_line, report, table
from smsc.bench.load import BindRefused, LoadConfig, LoadRun, Progress
from smsc.bench.peers import listening_address
from smsc.pdu.status import status_name

START_TIMEOUT = 60.0        # seconds a server process may take to print its first line
STOP_TIMEOUT = 10.0         # seconds it may take to exit after SIGTERM (then SIGKILL)
CONNECT_TIMEOUT = 10.0

DEFAULT_ACCOUNTS = {"sink": ("aggregator", "secret"), "e2e": ("demo", "demo")}


class ServerDidNotStart(Exception):
    """The server process exited, or said nothing usable, before its first line."""


def react(args: argparse.Namespace) -> NoReturn:
    if args.compare is not None:
        from cli.bench_compare import compare
        task.react(lambda reactor: defer.ensureDeferred(compare(reactor, args)))
    task.react(lambda reactor: defer.ensureDeferred(bench(reactor, args)))
    raise AssertionError("task.react returns only by exiting")


def parse_target(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) -> (host, port); ValueError with the reason."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"--target: expected HOST:PORT with a port from 1 to 65535, got {text!r}")
    return host, int(port)


def load_config(args: argparse.Namespace) -> LoadConfig:
    system_id, password = DEFAULT_ACCOUNTS[args.mode]
    return LoadConfig(
        binds=args.binds, window=args.window, rate=args.rate, duration=args.duration,
        warmup=args.warmup, drain=args.drain, receipts=receipts_counted(args),
        system_id=args.system_id if args.system_id is not None else system_id,
        password=args.password if args.password is not None else password,
        destination_addr=args.destination, source_addr=args.source)


def receipts_counted(args: argparse.Namespace) -> bool:
    """--receipts/--no-receipts when given; else e2e counts them and sink does not."""
    return bool(args.mode == "e2e") if args.receipts is None else bool(args.receipts)


def server_command(args: argparse.Namespace, db: Path) -> list[str]:
    """The `smsc-harness` arguments of the server process a mode starts."""
    if args.mode == "sink":
        return ["sink", "--port", "0", "--receipts" if receipts_counted(args) else "--no-receipts"]
    return ["serve", "--bench", "--port", "0", "--control-port", "0", "--db", str(db)]


def cli_argv(command: Sequence[str]) -> list[str]:
    """`smsc-harness COMMAND...` as this interpreter runs it (`python -m cli`)."""
    return [sys.executable, "-m", "cli", *command]


def parameters(args: argparse.Namespace, config: LoadConfig) -> dict[str, JsonValue]:
    """Every parameter of the run, for the JSON file (the password left out)."""
    return {"mode": args.mode, "target": args.target, **load_parameters(config), "system_id": config.system_id,
            "tick": config.tick, "procs": 1}


def load_parameters(config: LoadConfig) -> dict[str, JsonValue]:
    """The load's parameters, as a run's JSON file (and `--compare`'s) gives them."""
    return {
        "loop": "closed" if config.rate is None else "open", "binds": config.binds, "window": config.window,
        "rate": config.rate, "duration": config.duration, "warmup": config.warmup, "drain": config.drain,
        "receipts": config.receipts, "source_addr": config.source_addr, "destination_addr": config.destination_addr,
    }


def load_text(config: LoadConfig) -> str:
    """The load in words, for a table's title."""
    loop = (f"closed loop, {config.binds} binds x window {config.window}" if config.rate is None
            else f"open loop at {config.rate:,.0f} msg/s, {config.binds} binds, window {config.window}")
    receipts = "receipts counted" if config.receipts else "no receipts"
    return f"{loop}, {config.duration:g} s measured after {config.warmup:g} s warm-up, {receipts}"


async def bench(reactor: object, args: argparse.Namespace) -> None:
    """`reactor` is the global one, as task.react hands it over: its parts are taken by
    interface, as serve does."""
    clock, tcp, processes = IReactorTime(reactor), IReactorTCP(reactor), IReactorProcess(reactor)
    try:
        config = load_config(args)
        target = parse_target(args.target) if args.target else None
    except ValueError as problem:
        fail(str(problem))
    server: ServerProcess | None = None
    tmp: str | None = None
    if target is None:
        tmp = tempfile.mkdtemp(prefix="smsc-bench-")
        command = server_command(args, Path(tmp) / "bench.db")
        try:
            server = await ServerProcess.start(processes, clock, cli_argv(command))
        except ServerDidNotStart as problem:
            shutil.rmtree(tmp, ignore_errors=True)
            fail(f"the server would not start (smsc-harness {' '.join(command)}): {problem}")
        host, port = server.address
        server_info: dict[str, JsonValue] = {
            "command": "smsc-harness " + " ".join(command).replace(str(tmp), "TMP"),
            "address": f"{host}:{port}"}
    else:
        host, port = target
        server_info = {"command": None, "address": f"{host}:{port}"}
    progress = ProgressPrinter(sys.stderr, quiet=args.quiet)
    endpoint = TCP4ClientEndpoint(tcp, host, port, timeout=CONNECT_TIMEOUT)
    run = LoadRun(config, clock, endpoint, on_progress=progress.show)
    status = 0
    try:
        result = await run.run()
    except BindRefused as refused:
        progress.done()
        code = "" if refused.status is None else f" ({status_name(refused.status)})"
        say(f"{host}:{port}: {refused}{code}")
        status = 1
    except (error.ConnectError, error.ConnectionLost, error.TimeoutError) as problem:
        progress.done()
        say(f"cannot connect to {host}:{port}: {problem}")
        status = 2
    finally:
        if server is not None:
            await server.stop(clock)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if status:
        raise SystemExit(status)
    progress.done()
    figures = merge(config, [result])
    status = 1 if figures.lost_any else 0
    print(table(_title(args, config, server_info), figures), flush=True)
    if args.json:
        write_json(Path(args.json), report(parameters(args, config), figures, server_info, status))
    if figures.lost_any:
        say(_lost_text(figures))
    raise SystemExit(status)


def _lost_text(figures: Figures) -> str:
    parts = []
    if figures.lost:
        parts.append(f"{figures.lost:,} submit_sm never answered")
    if figures.lost_receipts:
        parts.append(f"{figures.lost_receipts:,} receipts never came")
    return "messages lost: " + ", ".join(parts)


def _title(args: argparse.Namespace, config: LoadConfig, server: dict[str, JsonValue]) -> str:
    who = f"{server['command']} on {server['address']}" if server["command"] else f"target {server['address']}"
    return f"smsc-harness bench --mode {args.mode}: {who}\n  {load_text(config)}"


def write_json(path: Path, content: dict[str, JsonValue]) -> None:
    """The JSON file; exit status 2 with one line when it cannot be written."""
    try:
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    except OSError as problem:
        fail(f"cannot write {path}: {problem.strerror or problem}")


def say(text: str) -> None:
    """One line on stderr, named after the command."""
    print(f"smsc-harness bench: {text}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    say(message)
    raise SystemExit(2)


class ProgressPrinter:
    """The live progress line on stderr: rewritten in place (`\\r`) on a terminal, one line
    per second otherwise (a log, a pipe); nothing with --quiet."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self._out = out
        self._quiet = quiet
        self._tty = out.isatty()
        self._width = 0

    def show(self, progress: Progress) -> None:
        if self._quiet:
            return
        line = progress_line(progress)
        if self._tty:
            self._out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self._out.write(line + "\n")
        self._out.flush()

    def done(self) -> None:
        if self._tty and self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0


class _ServerOutput(ProcessProtocol):
    """Reads a server process's first stdout line (its address); keeps the tail of its
    stderr for the message if it fails; discards the rest of its output (it must keep
    being read, or a full pipe would stall the server)."""

    def __init__(self) -> None:
        self.first_line: defer.Deferred[str] = defer.Deferred()
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._head = b""
        self._stderr = b""

    def outReceived(self, data: bytes) -> None:
        if self.first_line.called:
            return
        self._head += data
        line, newline, _ = self._head.partition(b"\n")
        if newline:
            self.first_line.callback(line.decode("utf-8", "replace").strip())
        elif len(self._head) > 4096:
            self.first_line.errback(ServerDidNotStart("its first line is longer than 4 KiB"))

    def errReceived(self, data: bytes) -> None:
        self._stderr = (self._stderr + data)[-4096:]

    def processEnded(self, reason: Failure) -> None:
        if not self.first_line.called:
            said = self._stderr.decode("utf-8", "replace").strip().splitlines()
            why = said[-1] if said else "no message"
            self.first_line.errback(ServerDidNotStart(f"it exited before its first line: {why}"))
        self.ended.callback(None)


class ServerProcess:
    """A server process (`python -m cli ARGS`, a peer of smsc.bench.peers), until `stop`."""

    def __init__(self, output: _ServerOutput, process: IProcessTransport, address: tuple[str, int]) -> None:
        self._output = output
        self._process = process
        self.address = address

    @classmethod
    async def start(cls, reactor: IReactorProcess, clock: IReactorTime, argv: Sequence[str],
                    env: dict[str, str] | None = None) -> ServerProcess:
        """Start `argv` (its environment: `env`, else this process's) and wait for the
        address on its first stdout line."""
        output = _ServerOutput()
        process = reactor.spawnProcess(output, argv[0], list(argv), env=dict(os.environ) if env is None else env)
        output.first_line.addTimeout(START_TIMEOUT, clock)
        try:
            line = await output.first_line
        except defer.TimeoutError:
            _kill(process, "KILL")
            raise ServerDidNotStart(f"no first line within {START_TIMEOUT:g} s") from None
        except ServerDidNotStart:
            _kill(process, "KILL")
            raise
        address = listening_address(line)
        if address is None:
            _kill(process, "KILL")
            raise ServerDidNotStart(f"its first line names no HOST:PORT: {line!r}")
        return cls(output, process, address)

    async def stop(self, reactor: IReactorTime) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self._output.ended.called:
            return
        _kill(self._process, "TERM")
        self._output.ended.addTimeout(STOP_TIMEOUT, reactor)
        try:
            await self._output.ended
        except defer.TimeoutError:
            _kill(self._process, "KILL")


def _kill(process: IProcessTransport, sig: str) -> None:
    try:
        process.signalProcess(sig)
    except error.ProcessExitedAlready:
        pass
