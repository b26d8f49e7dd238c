"""`smsc-harness` command line. The only module that touches the global reactor (via task.react).

    smsc-harness serve [--config FILE] [--port N] [--db PATH] [--speed X] [--control-port N] [--log-level LEVEL]
    smsc-harness mo --from MSISDN --to SHORT_CODE TEXT [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness check SCENARIO.yaml [...]
    smsc-harness run SCENARIO.yaml [...] [--seed N] [--report-dir DIR] [--live]
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import sys
import tempfile
import time
import urllib.error
from datetime import datetime, timezone
from pathlib import Path
import urllib.request
from typing import Awaitable, Callable, Sequence, TextIO

from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, Logger, formatEvent,
    globalLogBeginner,
)
from zope.interface import provider

from aggregator.clock import ScaledClock
from aggregator.config import ConfigError, NetworkConfig, load_config
from aggregator.control import (
    control_file_path, control_site, read_control_file, remove_control_file, write_control_file,
)
from aggregator.harness import start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
from aggregator.tls import expired_listen_certificate, expired_operator_certificate
from aggregator.store import Store
from smsc import trace

DEFAULT_DB = "smsc-harness.db"
# A progress bar (on stderr) for scenarios planning at least this many messages, or on a terminal.
PROGRESS_MIN_MESSAGES = 10_000

log = Logger(namespace="aggregator.main")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsc-harness",
        description="SMSC simulator and operator test harness for SMS aggregators (SMPP 3.4).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the aggregator and the simulated operator SMSCs until interrupted",
        description="Start the whole stack in one reactor: the aggregator's SMPP server for "
                    "clients, one simulated SMSC per operator, and the aggregator's binds to them.")
    serve.add_argument("--config", metavar="FILE",
                       help="network config (YAML); default: the shipped French network")
    serve.add_argument("--port", type=int, default=None, metavar="N",
                       help="client SMPP port (default: the config's, 2775); 0 picks a free port")
    serve.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                       help=f"SQLite file for messages and receipts (default: ./{DEFAULT_DB})")
    serve.add_argument("--speed", type=float, default=1.0, metavar="X",
                       help="run simulated time X times faster than real time (receipt delays, "
                            "validity, retries, outages); default 1")
    serve.add_argument("--control-port", type=int, default=None, metavar="N",
                       help="HTTP control API port on 127.0.0.1 (default: the config's, 2776; 0 = free port)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"],
                       help="how much to log (default: info)")

    mo = commands.add_parser(
        "mo", help="make a subscriber send an MO to a running stack (through its control API)",
        description="The subscriber MSISDN sends TEXT to SHORT_CODE; the MO leaves from the operator "
                    "that serves the MSISDN and reaches the account owning the short code.")
    mo.add_argument("--from", dest="source", required=True, metavar="MSISDN", help="e.g. +33612345678")
    mo.add_argument("--to", dest="destination", required=True, metavar="SHORT_CODE", help="e.g. 36180")
    mo.add_argument("text", help="the message text, e.g. STOP")
    mo.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                    help=f"the database of the running serve: its control API's address and token are "
                         f"read from PATH.control.json, which serve writes (default: ./{DEFAULT_DB})")
    mo.add_argument("--control", default=None, metavar="HOST:PORT",
                    help="the control API's address, instead of the one in the control file")
    mo.add_argument("--token", default=None, metavar="TOKEN",
                    help="the control API's bearer token, instead of the one in the control file")

    check = commands.add_parser(
        "check", help="validate YAML scenarios without running them (exit 2 if one is invalid)",
        description="Read each scenario (and what it includes) and report every problem as "
                    "file:line:column: field: what was expected. `smsc-harness run` replays them.")
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml")

    run_cmd = commands.add_parser(
        "run", help="replay YAML scenarios in memory on a simulated clock and write reports",
        description="Play each scenario against the whole simulated network (no sockets, virtual "
                    "clock), check its expectations and write report.json and report.html per "
                    "scenario and junit.xml. Exit 0 if every expectation holds, 1 if one fails, "
                    "2 if a scenario is invalid.")
    run_cmd.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml")
    run_cmd.add_argument("--seed", type=int, default=None, metavar="N",
                         help="seed for the operators' draws and the populations (default: the scenario's)")
    run_cmd.add_argument("--report-dir", default=None, metavar="DIR",
                         help="where reports go: DIR/<scenario stem>/report.json|html and DIR/junit.xml "
                              "(default: reports-out/)")
    run_cmd.add_argument("--live", action="store_true",
                         help="play over real TCP on 127.0.0.1 in real time (advance waits): same "
                              "verdicts as the in-memory replay, for short scenarios")
    return parser


def _text_observer(out: TextIO) -> ILogObserver:
    @provider(ILogObserver)
    def observe(event: dict[str, object]) -> None:
        text = formatEvent(event)
        namespace = str(event.get("log_namespace", "-"))
        level = event.get("log_level")
        name = level.name if isinstance(level, type(LogLevel.info)) else "-"
        out.write(f"{namespace:<22} {name:<5} {text}\n")
        out.flush()
    return observe


def start_logging(level: str, out: TextIO = sys.stdout) -> None:
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    # Twisted's own lifecycle chatter (ports opened/closed, reconnect scheduling) repeats what
    # our lines already say; keep its warnings and errors.
    for namespace in ("log_legacy", "twisted"):
        predicate.setLogLevelForNamespace(namespace, LogLevel.warn)
    trace.enable(level == "debug")           # per-message lines cost even when filtered out
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(_text_observer(out), [predicate])],
                                     redirectStandardIO=False)


async def serve(reactor: object, args: argparse.Namespace) -> None:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"smsc-harness: invalid config:\n{error}", file=sys.stderr)
        raise SystemExit(2)
    except OSError as error:
        print(f"smsc-harness: cannot read config: {error}", file=sys.stderr)
        raise SystemExit(2)
    if args.speed <= 0:
        print("smsc-harness: --speed must be > 0", file=sys.stderr)
        raise SystemExit(2)
    stale = expired_operator_certificate(config, datetime.now(timezone.utc))
    if stale is not None:
        print(f"smsc-harness: {stale}", file=sys.stderr)
        raise SystemExit(2)
    trace.enable(args.log_level == "debug")
    try:
        banner = await _start_serving(reactor, args, config)
    except BaseException:
        start_logging(args.log_level)            # what start-up logged, then why it failed
        raise
    # One line, first on stdout (start-up's log lines are held until it is out):
    # tests/support/serve.py reads the ports and the control file from it.
    print(banner, flush=True)
    start_logging(args.log_level)
    await defer.Deferred()                       # run until the reactor is stopped


async def _start_serving(reactor: object, args: argparse.Namespace, config: NetworkConfig) -> str:
    """Everything listening, the control file written and its removal planned: the banner."""
    listen_stale = expired_listen_certificate(config, datetime.now(timezone.utc))
    if listen_stale is not None:
        log.warn("{problem}; clients that check it will refuse the TLS port", problem=listen_stale)
    clock = reactor if args.speed == 1 else ScaledClock(reactor, args.speed)  # type: ignore[arg-type]
    # Group commit on the store's writer thread: a resp leaves once what it acknowledges is
    # committed, and a locked or failing database never blocks the reactor (docs/reliability.md).
    store = Store(args.db, schedule=reactor.callLater, call_from_thread=reactor.callFromThread,  # type: ignore[attr-defined]
                  clock=reactor.seconds)  # type: ignore[attr-defined]
    harness = await start_harness(config, clock, store, tcp_listen(reactor), tcp_dial(reactor),  # type: ignore[arg-type]
                                  port=args.port, link_clock=reactor,  # type: ignore[arg-type]
                                  listen_tls=tls_listen(reactor), dial_tls=tls_dial(reactor),  # type: ignore[arg-type]
                                  max_connections=connections_the_fd_limit_allows(config.limits.max_connections))
    control_port = config.control.port if args.control_port is None else args.control_port
    token = config.control.token or secrets.token_urlsafe(32)
    control = await tcp_listen(reactor)(config.control.host, control_port,  # type: ignore[arg-type]
                                        control_site(harness, token, reactor))  # type: ignore[arg-type]
    url = f"http://{_url_host(config.control.host)}:{control.getHost().port}"
    control_file = control_file_path(args.db)
    try:
        write_control_file(control_file, url, token)
    except OSError as error:
        print(f"smsc-harness: cannot write the control file {control_file}: {error.strerror}", file=sys.stderr)
        await defer.maybeDeferred(control.stopListening)
        await harness.stop()
        raise SystemExit(2)

    async def shutdown() -> None:
        remove_control_file(control_file, token)         # no client finds a stopping instance
        await harness.stop()

    reactor.addSystemEventTrigger(  # type: ignore[attr-defined]
        "before", "shutdown", lambda: defer.ensureDeferred(shutdown()))
    accounts = ", ".join(a.system_id for a in config.accounts)
    speed = "" if args.speed == 1 else f"; simulated time x{args.speed:g}"
    tls = "" if harness.tls_port is None else f"TLS on {harness.host}:{harness.tls_port}; "
    return (f"smsc-harness: SMPP server on {harness.host}:{harness.port} "
            f"({tls}accounts: {accounts}; database: {args.db}; control API on {url}, token in {control_file}"
            f"{speed}); Ctrl-C stops")


def _url_host(host: str) -> str:
    """The address a client on this machine uses for a listening `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# File descriptors kept for what is not a client connection: the store (database, WAL, shared
# memory), the operator SMSCs' listeners and the aggregator's binds to them, the control API,
# the log, Python's own.
RESERVED_FDS = 100


def connections_the_fd_limit_allows(wanted: int) -> int:
    """How many client connections this process can hold open: the file-descriptor limit is
    raised to its hard maximum first (as servers do), and the client cap kept below it, so
    that a flood of connections is refused with a log line instead of making accept() fail
    for everyone (EMFILE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    allowed = max(1, soft - RESERVED_FDS)
    if allowed < wanted:
        log.warn("limits.max_connections lowered from {wanted} to {allowed}: the file-descriptor limit is {soft}",
                 wanted=wanted, allowed=allowed, soft=soft)
        return allowed
    return wanted


async def serve_or_refuse(reactor: object, args: argparse.Namespace) -> None:
    """`serve`, with a port that cannot be opened (in use; the TLS port is one more that can
    clash) said in one line, exit status 2, instead of a traceback."""
    try:
        await serve(reactor, args)
    except CannotListenError as error:
        reason = getattr(error.socketError, "strerror", None) or error.socketError
        print(f"smsc-harness: cannot listen on {error.interface or '0.0.0.0'}:{error.port}: {reason}",
              file=sys.stderr)
        raise SystemExit(2)


def send_mo(args: argparse.Namespace) -> int:
    """POST /mo to the serve that owns `--db`, with its token (from its control file)."""
    url, token = None, None
    if args.control is None or args.token is None:
        path = control_file_path(args.db)
        try:
            found = read_control_file(path)
        except FileNotFoundError:
            print(f"smsc-harness mo: no control file {path}: is `smsc-harness serve --db {args.db}` running? "
                  "(or give --control and --token)", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"smsc-harness mo: cannot read the control file {path}: {error.strerror}", file=sys.stderr)
            return 1
        except ValueError as error:
            print(f"smsc-harness mo: {error}", file=sys.stderr)
            return 1
        url, token = found.url, found.token
    if args.control is not None:
        url = args.control if "://" in args.control else f"http://{args.control}"
    if args.token is not None:
        token = args.token
    body = json.dumps({"from": args.source, "to": args.destination, "text": args.text}).encode()
    request = urllib.request.Request(f"{url}/mo", data=body, method="POST",
                                     headers={"content-type": "application/json",
                                              "authorization": f"Bearer {token}"})
    # Never through a proxy from the environment: the token is for this machine's serve only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            print(answer.read().decode().strip())
            return 0
    except urllib.error.HTTPError as error:
        print(f"smsc-harness mo: {error.code} {_error_text(error.read())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"smsc-harness mo: cannot reach the control API at {url}: {reason}", file=sys.stderr)
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


def check_scenarios(paths: Sequence[str]) -> int:
    from scenarios.loader import load_scenario          # scenarios build on aggregator, not the reverse
    status = 0
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ConfigError as error:
            print(f"{error}", file=sys.stderr)
            status = 2
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
            status = 2
        else:
            print(f"ok: {path}: {scenario.name!r}, {len(scenario.timeline)} step(s), seed {scenario.seed}")
    return status


def run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None) -> int:
    """Load every scenario first (exit 2 on any invalid one), then replay each in memory and
    write reports."""
    from reports.terminal import ProgressBar
    from scenarios.runner import run_scenario

    async def replay(scenario: object, db: Path, seed: int | None) -> object:
        total = scenario.planned_messages()  # type: ignore[attr-defined]
        if total < PROGRESS_MIN_MESSAGES and not sys.stderr.isatty():
            return run_scenario(scenario, db, seed)  # type: ignore[arg-type]
        bar = ProgressBar(sys.stderr, time.monotonic, label="messages")
        bar.update(0, total)
        try:
            return run_scenario(scenario, db, seed, lambda done: bar.update(done, total))  # type: ignore[arg-type]
        finally:
            bar.finish()

    done: list[object] = []
    defer.ensureDeferred(_run_scenarios(paths, seed, report_dir, replay)).addBoth(done.append)
    if not isinstance(done[0], int):                 # the in-memory replay never waits on a reactor
        done[0].raiseException()  # type: ignore[attr-defined]
    return done[0]


async def run_scenarios_live(reactor: object, paths: Sequence[str], seed: int | None,
                             report_dir: str | None) -> None:
    """`run --live`: the same, over real TCP on 127.0.0.1 in real time; exits with the status."""
    from scenarios.runner import run_scenario_live

    async def replay(scenario: object, db: Path, seed: int | None) -> object:
        return await run_scenario_live(scenario, db, reactor, seed)  # type: ignore[arg-type]

    raise SystemExit(await _run_scenarios(paths, seed, report_dir, replay))


async def _run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None,
                         replay: Callable[[object, Path, int | None], Awaitable[object]]) -> int:
    from reports.html import render_html
    from reports.json import render_json
    from reports.junit import render_junit
    from reports.model import ScenarioReport, WallClock
    from reports.terminal import summary
    from scenarios.loader import load_scenario
    from scenarios.runner import ScenarioRunError

    loaded = []
    invalid = False
    for path in paths:
        try:
            loaded.append((Path(path), load_scenario(path)))
        except ConfigError as error:
            print(f"{error}", file=sys.stderr)
            invalid = True
    if invalid:
        return 2
    if seed is not None and seed < 0:
        print("smsc-harness run: --seed must be >= 0", file=sys.stderr)
        return 2
    root = Path(report_dir) if report_dir is not None else Path("reports-out")
    reports: list[ScenarioReport] = []
    walls: dict[str, WallClock] = {}
    broken = False
    for path, scenario in loaded:
        out = root / path.stem
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="smsc-harness-run-") as tmp:
            started = time.monotonic()
            try:
                report = await replay(scenario, Path(tmp) / "run.db", seed)
            except ScenarioRunError as error:
                print(f"FAIL  {scenario.name}  ({path}): the replay stopped: {error}", file=sys.stderr)
                broken = True
                continue
            wall = WallClock(time.monotonic() - started)
        assert isinstance(report, ScenarioReport)
        reports.append(report)
        walls[report.name] = wall
        (out / "report.json").write_text(render_json(report), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, wall), encoding="utf-8")
        sys.stdout.write(summary(report, wall))
        print(f"  reports       {out}/report.json, {out}/report.html")
    root.mkdir(parents=True, exist_ok=True)
    (root / "junit.xml").write_text(render_junit(reports, walls), encoding="utf-8")
    print(f"junit: {root / 'junit.xml'}")
    return 0 if not broken and all(r.passed for r in reports) else 1


def run(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        task.react(lambda reactor: defer.ensureDeferred(serve_or_refuse(reactor, args)))
    elif args.command == "mo":
        raise SystemExit(send_mo(args))
    elif args.command == "check":
        raise SystemExit(check_scenarios(args.scenarios))
    elif args.command == "run" and args.live:
        task.react(lambda reactor: defer.ensureDeferred(
            run_scenarios_live(reactor, args.scenarios, args.seed, args.report_dir)))
    elif args.command == "run":
        raise SystemExit(run_scenarios(args.scenarios, args.seed, args.report_dir))


if __name__ == "__main__":
    run()
