"""`smsc-harness` command line. The only module that touches the global reactor (via task.react).

    smsc-harness serve [--config FILE] [--port N] [--db PATH] [--speed X] [--control-port N] [--log-level LEVEL]
    smsc-harness mo --from MSISDN --to SHORT_CODE TEXT [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness check SCENARIO.yaml [...] [--allow-outside]
    smsc-harness run SCENARIO.yaml [...] [--seed N] [--report-dir DIR] [--live] [--allow-outside]
    smsc-harness hash-password [--scheme scrypt|pbkdf2]

Start-up problems (bad arguments, config, database, ports) end with one line on stderr naming
the problem and exit status 2, never a traceback: they are the user's to fix, not bugs.  Once
`serve` runs, its log goes to stdout, after the banner line (`--port 0` users read the port
from the first line), and a logged failure carries its traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import resource
import secrets
import socket
import sqlite3
import sys
import tempfile
import time
import urllib.error
from datetime import datetime, timezone
from pathlib import Path
import urllib.request
from typing import TYPE_CHECKING, Awaitable, Callable, NoReturn, Sequence, TextIO

from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, Logger, formatEvent,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from zope.interface import provider

from aggregator.config import ConfigError, NetworkConfig, load_config
from aggregator.control import control_file_path, read_control_file
from aggregator.passwords import hash_password
from smsc import trace

if TYPE_CHECKING:
    from aggregator.harness import Harness
    from aggregator.store import Store

DEFAULT_DB = "smsc-harness.db"
_ALLOW_OUTSIDE_HELP = ("let includes and network files lie outside the scenario's directory tree "
                       "(by default they must be inside it, symlinks and .. resolved)")
# A progress bar (on stderr) for scenarios planning at least this many messages, or on a terminal.
PROGRESS_MIN_MESSAGES = 10_000
# --speed above this: a year of simulated time passes in 32 real seconds; beyond, every
# simulated delay rounds to nothing in real time, and ScaledClock's products lose precision.
MAX_SPEED = 1_000_000.0
SQLITE_HEADER = b"SQLite format 3\x00"
STOP_TIMEOUT = 5.0  # real seconds a harness stopped on a start-up failure may take
# The first write after an idle spell is handed to the store's writer thread this many seconds
# later (writes made meanwhile join it); while a commit runs, the next batch forms by itself.
GROUP_COMMIT_DELAY = 0.0


class _Parser(argparse.ArgumentParser):
    """One line for a bad command line (argparse prints its usage first): the same shape as
    every other start-up problem."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP port for --port / --control-port: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def speed_factor(text: str) -> float:
    """--speed: a finite number > 0 (nan, inf, 0 and negatives would stop or reverse time)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SPEED):
        raise argparse.ArgumentTypeError(f"expected a number > 0 and <= {MAX_SPEED:g}, got {text!r}")
    return value

log = Logger(namespace="aggregator.main")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smsc-harness",
        description="SMSC simulator and operator test harness for SMS aggregators (SMPP 3.4).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the aggregator and the simulated operator SMSCs until interrupted",
        description="Start the whole stack in one reactor: the aggregator's SMPP server for "
                    "clients, one simulated SMSC per operator, and the aggregator's binds to them.")
    serve.add_argument("--config", metavar="FILE",
                       help="network config (YAML); default: the shipped French network")
    serve.add_argument("--port", type=port_number, default=None, metavar="N",
                       help="client SMPP port (default: the config's, 2775); 0 picks a free port")
    serve.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                       help=f"SQLite file for messages and receipts (default: ./{DEFAULT_DB})")
    serve.add_argument("--speed", type=speed_factor, default=1.0, metavar="X",
                       help="run simulated time X times faster than real time (receipt delays, "
                            "validity, retries, outages); default 1")
    serve.add_argument("--control-port", type=port_number, default=None, metavar="N",
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

    hashing = commands.add_parser(
        "hash-password", help="print a salted hash of a password, for an account's password_hash",
        description="Reads the password from a prompt (or from stdin when it is not a terminal) "
                    "and prints the hash to put in the network config as password_hash, instead "
                    "of password. The password must be what password accepts: 1 to 8 ASCII "
                    "characters (SMPP's limit).")
    hashing.add_argument("--scheme", choices=["scrypt", "pbkdf2"], default="scrypt",
                         help="scrypt (default) or pbkdf2 (PBKDF2-SHA256); both take about 50 ms a check")
    return parser


def _text_observer(out: TextIO) -> ILogObserver:
    """One line per event; a failure (``log.failure``, Twisted's "Unhandled error in Deferred")
    adds its traceback under the line, and its error message when the event has no text of
    its own (the traceback is the only record of an unexpected error)."""
    @provider(ILogObserver)
    def observe(event: dict[str, object]) -> None:
        text = formatEvent(event)
        failure = event.get("log_failure")
        if not isinstance(failure, Failure):
            failure = None
        if not text:
            text = failure.getErrorMessage() if failure is not None else "(no message)"
            if failure is not None:
                text = f"{failure.type.__name__}: {text}" if failure.type is not None else text
        namespace = str(event.get("log_namespace", "-"))
        level = event.get("log_level")
        name = level.name if isinstance(level, type(LogLevel.info)) else "-"
        out.write(f"{namespace:<22} {name:<5} {text}\n")
        if failure is not None:
            for line in failure.getTraceback().rstrip("\n").splitlines():
                out.write(f"    {line}\n")
        out.flush()
    return observe


def start_logging(level: str, out: TextIO = sys.stdout) -> None:
    """Log to ``out`` from now on.  Events logged before (while `serve` starts) were kept by
    Twisted's global log beginner and come out now, after the banner."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    # Twisted's own lifecycle chatter (ports opened/closed, reconnect scheduling) repeats what
    # our lines already say; keep its warnings and errors.
    for namespace in ("log_legacy", "twisted"):
        predicate.setLogLevelForNamespace(namespace, LogLevel.warn)
    trace.enable(level == "debug")           # per-message lines cost even when filtered out
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(_text_observer(out), [predicate])],
                                     redirectStandardIO=False)


def _fail(message: str) -> NoReturn:
    """A start-up problem: one line on stderr, exit status 2."""
    print(f"smsc-harness: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def listeners(config: NetworkConfig, port: int | None, control_port: int | None) -> list[tuple[str, str, int]]:
    """(what, host, port) of every socket `serve` listens on, with the command line's
    overrides: the SMPP server, the control API, each operator's SMSC."""
    smpp = ("the SMPP server (--port)" if port is not None else "the SMPP server (listen.port)",
            config.listen.host, config.listen.port if port is None else port)
    control = ("the control API (--control-port)" if control_port is not None else "the control API (control.port)",
               config.control.host, config.control.port if control_port is None else control_port)
    operators = [(f"operator {op.id}'s SMSC (operators[{i}].port)", op.host, op.port)
                 for i, op in enumerate(config.operators)]
    tls = [] if config.listen.tls is None else [
        ("the SMPP server's TLS port (listen.tls.port)", config.listen.host, config.listen.tls_port)]
    return [smpp, *tls, control, *operators]


def port_clash(wanted: Sequence[tuple[str, str, int]]) -> str | None:
    """Two listeners on one non-zero port (the config reader refuses that within a file; the
    command line's --port and --control-port can still make it)."""
    seen: dict[int, str] = {}
    for what, _, port in wanted:
        if port and port in seen:
            return f"port {port} is asked for by both {seen[port]} and {what}; give one of them another port"
        seen.setdefault(port, what)
    return None


def port_in_use(wanted: Sequence[tuple[str, str, int]]) -> str | None:
    """Try each fixed port before anything starts (then nothing has to be undone), binding as
    Twisted will (SO_REUSEADDR, so a port in TIME_WAIT is not mistaken for a busy one).  A
    port taken between this check and the real listen is still caught: see ``_listen_failed``."""
    for what, host, port in wanted:
        if not port:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except OSError as error:
            return f"cannot listen on {host}:{port} for {what}: {error.strerror or error}"
    return None


def _listen_failed(error: CannotListenError, wanted: Sequence[tuple[str, str, int]]) -> str:
    reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
    what = next((w for w, _, port in wanted if port == error.port and port), "a listener")
    return f"cannot listen on {error.interface or '0.0.0.0'}:{error.port} for {what}: {reason}"


def database_problem(path: str) -> str | None:
    """Why ``--db PATH`` cannot be the store, before SQLite is asked: a directory, a missing or
    read-only directory (WAL mode writes PATH-wal and PATH-shm beside it), a read-only file, a
    file that is not SQLite.  None when it looks usable (an empty or missing file is a new
    store).  Deeper damage is SQLite's to find (see ``serve``)."""
    db = Path(path)
    if db.is_dir():
        return f"--db {path}: is a directory, not a database file"
    parent = db.parent
    if not parent.is_dir():
        return f"--db {path}: directory {parent} does not exist"
    if db.exists():
        if not db.is_file():
            return f"--db {path}: not a regular file"
        try:
            fd = os.open(db, os.O_RDWR | os.O_NONBLOCK)
        except OSError as error:
            return f"--db {path}: cannot open it for writing ({error.strerror}); is it read-only?"
        try:
            header = os.read(fd, len(SQLITE_HEADER))
        finally:
            os.close(fd)
        if header and header != SQLITE_HEADER:
            return f"--db {path}: not an SQLite database (it does not start with the SQLite header)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (f"--db {path}: directory {parent} is read-only (SQLite writes {db.name}-wal and"
                f" {db.name}-shm beside the database)")
    return None


async def serve(reactor: object, args: argparse.Namespace) -> None:
    # Imported here, not at the top: a bad command line or config is answered in a tenth of
    # a second instead of after importing the whole stack (sqlite_utils, phonenumbers, ...).
    from aggregator.clock import ScaledClock
    from aggregator.control import control_site, remove_control_file, write_control_file
    from aggregator.harness import start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
    from aggregator.store import Store
    from aggregator.tls import expired_listen_certificate, expired_operator_certificate

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"{error}", file=sys.stderr)         # one line per problem, each naming file:line:column
        raise SystemExit(2)
    except OSError as error:
        _fail(f"cannot read config: {error.strerror or error}")
    wanted = listeners(config, args.port, args.control_port)
    problem = port_clash(wanted) or port_in_use(wanted) or database_problem(args.db)
    if problem is not None:
        _fail(problem)
    stale = expired_operator_certificate(config, datetime.now(timezone.utc))
    if stale is not None:
        _fail(stale)
    try:
        # Group commit on the store's writer thread: a resp leaves once what it acknowledges is
        # committed, and a locked or failing database never blocks the reactor (docs/reliability.md).
        store = Store(args.db, schedule=reactor.callLater, flush_interval=GROUP_COMMIT_DELAY,  # type: ignore[attr-defined]
                      call_from_thread=reactor.callFromThread,  # type: ignore[attr-defined]
                      clock=reactor.seconds)  # type: ignore[attr-defined]
    except (sqlite3.Error, OSError) as error:
        _fail(f"--db {args.db}: cannot open the database: {error}")
    trace.enable(args.log_level == "debug")  # before anything logs; the lines come out after the banner
    listen_stale = expired_listen_certificate(config, datetime.now(timezone.utc))
    if listen_stale is not None:
        log.warn("{problem}; clients that check it will refuse the TLS port", problem=listen_stale)
    clock = reactor if args.speed == 1 else ScaledClock(reactor, args.speed)  # type: ignore[arg-type]
    token = config.control.token or secrets.token_urlsafe(32)
    harness: Harness | None = None
    try:
        harness = await start_harness(config, clock, store, tcp_listen(reactor), tcp_dial(reactor),  # type: ignore[arg-type]
                                      port=args.port, link_clock=reactor,  # type: ignore[arg-type]
                                      listen_tls=tls_listen(reactor), dial_tls=tls_dial(reactor),  # type: ignore[arg-type]
                                      max_connections=connections_the_fd_limit_allows(config.limits.max_connections))
        control_port = config.control.port if args.control_port is None else args.control_port
        control = await tcp_listen(reactor)(config.control.host, control_port,  # type: ignore[arg-type]
                                            control_site(harness, token, reactor))  # type: ignore[arg-type]
    except CannotListenError as error:
        await _undo(reactor, harness, store)
        _fail(_listen_failed(error, wanted))
    except sqlite3.DatabaseError as error:  # damage SQLite only meets when resume reads the rows
        await _undo(reactor, harness, store)
        _fail(f"--db {args.db}: cannot read the database: {error}")
    url = f"http://{_url_host(config.control.host)}:{control.getHost().port}"
    control_file = control_file_path(args.db)
    try:
        write_control_file(control_file, url, token)
    except OSError as error:
        await defer.maybeDeferred(control.stopListening)
        await _undo(reactor, harness, store)
        _fail(f"cannot write the control file {control_file}: {error.strerror}")

    async def shutdown() -> None:
        remove_control_file(control_file, token)         # no client finds a stopping instance
        await harness.stop()  # type: ignore[union-attr]

    reactor.addSystemEventTrigger(  # type: ignore[attr-defined]
        "before", "shutdown", lambda: defer.ensureDeferred(shutdown()))
    # task.react runs this before reactor.run(): wait for the reactor to run (its SIGTERM and
    # SIGINT handlers installed), so a client that reads the banner and stops us stops us cleanly.
    await task.deferLater(reactor, 0, lambda: None)  # type: ignore[arg-type]
    accounts = ", ".join(a.system_id for a in config.accounts)
    speed = "" if args.speed == 1 else f"; simulated time x{args.speed:g}"
    tls = "" if harness.tls_port is None else f"TLS on {harness.host}:{harness.tls_port}; "
    # One line, first on stdout: tests/support/serve.py reads the ports and the control file from it.
    print(f"smsc-harness: SMPP server on {harness.host}:{harness.port} "
          f"({tls}accounts: {accounts}; database: {args.db}; control API on {url}, token in {control_file}"
          f"{speed}); Ctrl-C stops", flush=True)
    start_logging(args.log_level)                # after the banner: it is the first line on stdout
    await defer.Deferred()                       # run until the reactor is stopped


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


async def _undo(reactor: object, harness: Harness | None, store: Store) -> None:
    """What a failed start-up had started, stopped within STOP_TIMEOUT (the store closed)."""
    try:
        if harness is not None:
            await defer.ensureDeferred(harness.stop()).addTimeout(STOP_TIMEOUT, reactor)  # type: ignore[arg-type]
        else:
            store.close()
    except Exception:  # noqa: BLE001 - the start-up error is the one to report
        pass


def read_password(stdin: TextIO = sys.stdin) -> str:
    """The password to hash: asked twice on a terminal (getpass, not echoed), else the first
    line of stdin (for scripts: ``echo secret | smsc-harness hash-password``)."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            _fail("hash-password: the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def hash_password_command(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    from aggregator.config.network import PASSWORD_MAX, SMPP_TEXT
    password = read_password(stdin)
    if not password or len(password) > PASSWORD_MAX or not SMPP_TEXT.fullmatch(password):
        _fail(f"hash-password: expected a password of 1 to {PASSWORD_MAX} ASCII characters (no NUL),"
              f" as SMPP carries it; got {len(password)} characters")
    print(hash_password(password, args.scheme))
    return 0


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
    elif args.command == "hash-password":
        raise SystemExit(hash_password_command(args))
    elif args.command == "check":
        raise SystemExit(check_scenarios(args.scenarios, args.allow_outside))
    elif args.command == "run" and args.live:
        task.react(lambda reactor: defer.ensureDeferred(
            run_scenarios_live(reactor, args.scenarios, args.seed, args.report_dir, args.allow_outside)))
    elif args.command == "run":
        raise SystemExit(run_scenarios(args.scenarios, args.seed, args.report_dir, args.allow_outside))


if __name__ == "__main__":
    run()
