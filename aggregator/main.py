"""`smsc-harness` command line. The only module that touches the global reactor (via task.react).

    smsc-harness serve [--config FILE] [--port N] [--db PATH] [--speed X] [--control-port N] [--log-level LEVEL]
    smsc-harness mo --from MSISDN --to SHORT_CODE TEXT [--control HOST:PORT]
    smsc-harness check SCENARIO.yaml [...] [--allow-outside]
    smsc-harness run SCENARIO.yaml [...] [--seed N] [--report-dir DIR] [--live] [--allow-outside]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
import urllib.request
from typing import Awaitable, Callable, Sequence, TextIO

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, formatEvent,
    globalLogBeginner,
)
from zope.interface import provider

from aggregator.clock import ScaledClock
from aggregator.config import ConfigError, load_config
from aggregator.control import control_site
from aggregator.harness import start_harness, tcp_dial, tcp_listen
from aggregator.store import Store
from smsc import trace

DEFAULT_DB = "smsc-harness.db"
_ALLOW_OUTSIDE_HELP = ("let includes and network files lie outside the scenario's directory tree "
                       "(by default they must be inside it, symlinks and .. resolved)")
# A progress bar (on stderr) for scenarios planning at least this many messages, or on a terminal.
PROGRESS_MIN_MESSAGES = 10_000


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
    mo.add_argument("--control", default="127.0.0.1:2776", metavar="HOST:PORT",
                    help="where the stack's control API listens (default 127.0.0.1:2776)")

    check = commands.add_parser(
        "check", help="validate YAML scenarios without running them (exit 2 if one is invalid)",
        description="Read each scenario (and what it includes) and report every problem as "
                    "file:line:column: field: what was expected. `smsc-harness run` replays them.")
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml")
    check.add_argument("--allow-outside", action="store_true", help=_ALLOW_OUTSIDE_HELP)

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
    run_cmd.add_argument("--allow-outside", action="store_true", help=_ALLOW_OUTSIDE_HELP)
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
    start_logging(args.log_level)
    clock = reactor if args.speed == 1 else ScaledClock(reactor, args.speed)  # type: ignore[arg-type]
    store = Store(args.db, schedule=reactor.callLater)  # type: ignore[attr-defined]
    harness = await start_harness(config, clock, store, tcp_listen(reactor), tcp_dial(reactor),  # type: ignore[arg-type]
                                  port=args.port, link_clock=reactor)  # type: ignore[arg-type]
    control_port = config.control.port if args.control_port is None else args.control_port
    control = await tcp_listen(reactor)(config.control.host, control_port, control_site(harness))  # type: ignore[arg-type]
    reactor.addSystemEventTrigger(  # type: ignore[attr-defined]
        "before", "shutdown", lambda: defer.ensureDeferred(harness.stop()))
    accounts = ", ".join(a.system_id for a in config.accounts)
    speed = "" if args.speed == 1 else f"; simulated time x{args.speed:g}"
    print(f"smsc-harness: SMPP server on {harness.host}:{harness.port} "
          f"(accounts: {accounts}; database: {args.db}; control API on "
          f"http://{config.control.host}:{control.getHost().port}{speed}); Ctrl-C stops", flush=True)
    await defer.Deferred()                       # run until the reactor is stopped


def send_mo(args: argparse.Namespace) -> int:
    body = json.dumps({"from": args.source, "to": args.destination, "text": args.text}).encode()
    request = urllib.request.Request(f"http://{args.control}/mo", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            print(answer.read().decode().strip())
            return 0
    except urllib.error.HTTPError as error:
        print(f"smsc-harness mo: {error.read().decode().strip()}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"smsc-harness mo: cannot reach the control API at {args.control}: {error}", file=sys.stderr)
        return 1


def check_scenarios(paths: Sequence[str], allow_outside: bool = False) -> int:
    from scenarios.loader import load_scenario          # scenarios build on aggregator, not the reverse
    status = 0
    for path in paths:
        try:
            scenario = load_scenario(path, allow_outside=allow_outside)
        except ConfigError as error:
            print(f"{error}", file=sys.stderr)
            status = 2
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
            status = 2
        else:
            print(f"ok: {path}: {scenario.name!r}, {len(scenario.timeline)} step(s), seed {scenario.seed}")
    return status


def run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None,
                  allow_outside: bool = False) -> int:
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
    defer.ensureDeferred(_run_scenarios(paths, seed, report_dir, replay, allow_outside)).addBoth(done.append)
    if not isinstance(done[0], int):                 # the in-memory replay never waits on a reactor
        done[0].raiseException()  # type: ignore[attr-defined]
    return done[0]


async def run_scenarios_live(reactor: object, paths: Sequence[str], seed: int | None,
                             report_dir: str | None, allow_outside: bool = False) -> None:
    """`run --live`: the same, over real TCP on 127.0.0.1 in real time; exits with the status."""
    from scenarios.runner import run_scenario_live

    async def replay(scenario: object, db: Path, seed: int | None) -> object:
        return await run_scenario_live(scenario, db, reactor, seed)  # type: ignore[arg-type]

    raise SystemExit(await _run_scenarios(paths, seed, report_dir, replay, allow_outside))


async def _run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None,
                         replay: Callable[[object, Path, int | None], Awaitable[object]],
                         allow_outside: bool = False) -> int:
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
            loaded.append((Path(path), load_scenario(path, allow_outside=allow_outside)))
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
        task.react(lambda reactor: defer.ensureDeferred(serve(reactor, args)))
    elif args.command == "mo":
        raise SystemExit(send_mo(args))
    elif args.command == "check":
        raise SystemExit(check_scenarios(args.scenarios, args.allow_outside))
    elif args.command == "run" and args.live:
        task.react(lambda reactor: defer.ensureDeferred(
            run_scenarios_live(reactor, args.scenarios, args.seed, args.report_dir, args.allow_outside)))
    elif args.command == "run":
        raise SystemExit(run_scenarios(args.scenarios, args.seed, args.report_dir, args.allow_outside))


if __name__ == "__main__":
    run()
