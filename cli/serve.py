"""`smsc-harness serve`: the whole stack on the real reactor and real TCP, until interrupted.

Start-up problems (config, database, ports) end with one line on stderr naming the problem
and exit status 2, never a traceback: they are the user's to fix, not bugs.  Once `serve`
runs, its log goes to stdout, after the banner line (`--port 0` users read the port from the
first line), and a logged failure carries its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, NoReturn, Sequence, TextIO

from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads, IReactorTCP, IReactorTime
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, Logger, formatEvent,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from zope.interface import provider

from aggregator.clientcard import Card, clients_json, summary_line
from aggregator.clock import ScaledClock, iso
from aggregator.config import ConfigError, NetworkConfig, load_bench_config, load_config
from aggregator.control import control_file_path, control_site, remove_control_file, write_control_file
from aggregator.harness import Harness, port_of, start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
from aggregator.store import Store
from aggregator.tls import expired_listen_certificate, expired_operator_certificate
from cli import heap
from cli.args import fail

SQLITE_HEADER = b"SQLite format 3\x00"
STOP_TIMEOUT = 5.0  # real seconds a harness stopped on a start-up failure may take
# The first write after an idle spell is handed to the store's writer thread this many seconds
# later (writes made meanwhile join it); while a commit runs, the next batch forms by itself.
GROUP_COMMIT_DELAY = 0.0

log = Logger(namespace="cli.serve")


def _text_observer(out: TextIO, simulated: Callable[[], float] | None = None) -> ILogObserver:
    """One line per event, from its time (the event's `log_time`, stamped by Twisted's Logger;
    then, under `--speed`, the simulated time `simulated()` in brackets), its namespace and
    level. A failure (``log.failure``, Twisted's "Unhandled error in Deferred") adds its
    traceback under the line, and its error message when the event has no text of its own
    (the traceback is the only record of an unexpected error)."""
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
        when = event.get("log_time")
        stamp = iso(when) if isinstance(when, (int, float)) else "-"
        if simulated is not None:
            stamp += f" [sim {iso(simulated())}]"
        out.write(f"{stamp} {namespace:<22} {name:<5} {text}\n")
        if failure is not None:
            for line in failure.getTraceback().rstrip("\n").splitlines():
                out.write(f"    {line}\n")
        out.flush()
    return observe


def start_logging(level: str, out: TextIO = sys.stdout, simulated: Callable[[], float] | None = None) -> None:
    """Log to ``out`` from now on, each line stamped with its time (and the simulated time
    `simulated()` under `--speed`).  Events logged before (while `serve` starts) were kept by
    Twisted's global log beginner and come out now, after the banner."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    # Twisted's own lifecycle chatter (ports opened/closed, reconnect scheduling) repeats what
    # our lines already say; keep its warnings and errors.
    for namespace in ("log_legacy", "twisted"):
        predicate.setLogLevelForNamespace(namespace, LogLevel.warn)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(_text_observer(out, simulated), [predicate])],
                                     redirectStandardIO=False)


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


def log_level(args: argparse.Namespace) -> str:
    """--log-level, else info; with --bench, warn: a bench measures the stack, and a line per
    bind or refusal is all it should write (per-message lines come only with debug)."""
    if args.log_level is not None:
        return str(args.log_level)
    return "warn" if args.bench else "info"


def react(args: argparse.Namespace) -> NoReturn:
    """Run `serve` on the global reactor until it is stopped (Ctrl-C, SIGTERM); exits."""
    task.react(lambda reactor: defer.ensureDeferred(serve(reactor, args)))


async def serve(reactor: object, args: argparse.Namespace) -> None:
    """`reactor` is the global one, as task.react hands it over: its parts are taken by
    interface (IReactorTime(reactor) checks that it provides it, and gives its type)."""
    real_time, tcp = IReactorTime(reactor), IReactorTCP(reactor)
    now = datetime.fromtimestamp(real_time.seconds(), timezone.utc)   # for both certificate checks
    level = log_level(args)
    try:
        config = load_bench_config() if args.bench else load_config(args.config)
    except ConfigError as error:
        print(f"{error}", file=sys.stderr)         # one line per problem, each naming file:line:column
        raise SystemExit(2)
    except OSError as error:
        fail(f"cannot read config: {error.strerror or error}")
    wanted = listeners(config, args.port, args.control_port)
    problem = port_clash(wanted) or port_in_use(wanted) or database_problem(args.db)
    if problem is not None:
        fail(problem)
    stale = expired_operator_certificate(config, now)
    if stale is not None:
        fail(stale)
    try:
        # Group commit on the store's writer thread: a resp leaves once what it acknowledges is
        # committed, and a locked or failing database never blocks the reactor (docs/reliability.md).
        store = Store(args.db, schedule=real_time.callLater, flush_interval=GROUP_COMMIT_DELAY,
                      call_from_thread=IReactorFromThreads(reactor).callFromThread, clock=real_time.seconds)
    except (sqlite3.Error, OSError) as error:
        fail(f"--db {args.db}: cannot open the database: {error}")
    listen_stale = expired_listen_certificate(config, now)
    if listen_stale is not None:
        log.warn("{problem}; clients that check it will refuse the TLS port", problem=listen_stale)
    clock = real_time if args.speed == 1 else ScaledClock(real_time, args.speed)
    token = config.control.token or secrets.token_urlsafe(32)
    harness: Harness | None = None
    try:
        harness = await start_harness(config, clock, store, tcp_listen(tcp), tcp_dial(tcp),
                                      port=args.port, link_clock=real_time,
                                      listen_tls=tls_listen(tcp), dial_tls=tls_dial(tcp),
                                      max_connections=connections_the_fd_limit_allows(config.limits.max_connections),
                                      trace=level in ("debug", "info"))   # per-message lines cost even when filtered
        control_port = config.control.port if args.control_port is None else args.control_port
        control = await tcp_listen(tcp)(config.control.host, control_port, control_site(harness, token, real_time))
    except CannotListenError as error:
        await _undo(real_time, harness, store)
        fail(_listen_failed(error, wanted))
    except sqlite3.DatabaseError as error:  # damage SQLite only meets when resume reads the rows
        await _undo(real_time, harness, store)
        fail(f"--db {args.db}: cannot read the database: {error}")
    url = f"http://{_url_host(config.control.host)}:{port_of(control)}"
    control_file = control_file_path(args.db)
    try:
        write_control_file(control_file, url, token)
    except OSError as error:
        await defer.maybeDeferred(control.stopListening)
        await _undo(real_time, harness, store)
        fail(f"cannot write the control file {control_file}: {error.strerror}")

    async def shutdown() -> None:
        remove_control_file(control_file, token)         # no client finds a stopping instance
        await harness.stop()
        write_client_cards(clients_file_path(args.db), harness.server.cards.cards())

    IReactorCore(reactor).addSystemEventTrigger("before", "shutdown", lambda: defer.ensureDeferred(shutdown()))
    # task.react runs this before reactor.run(): wait for the reactor to run (its SIGTERM and
    # SIGINT handlers installed), so a client that reads the banner and stops us stops us cleanly.
    await task.deferLater(real_time, 0, lambda: None)
    accounts = ", ".join(a.system_id for a in config.accounts)
    speed = "" if args.speed == 1 else f"; simulated time x{args.speed:g}"
    bench = "bench network; " if args.bench else ""
    tls = "" if harness.tls_port is None else f"TLS on {harness.host}:{harness.tls_port}; "
    # One line, first on stdout: tests/support/serve.py reads the ports and the control file from it.
    print(f"smsc-harness: SMPP server on {harness.host}:{harness.port} "
          f"({bench}{tls}accounts: {accounts}; database: {args.db}; control API on {url}, token in {control_file}"
          f"{speed}); Ctrl-C stops", flush=True)
    # after the banner: it is the first line on stdout
    start_logging(level, simulated=None if args.speed == 1 else clock.seconds)
    heap.settle()                                # cli/heap.py: the collector's settings of a server
    await defer.Deferred()                       # run until the reactor is stopped


# Binds with findings named one line each in the log at the stop; the others are in the file.
CARD_LOG_LINES = 50


def clients_file_path(db: str | os.PathLike[str]) -> Path:
    """Where `serve` writes the client report card when it stops: next to the database."""
    return Path(f"{os.fspath(db)}.clients.json")


def write_client_cards(path: Path, cards: Sequence[Card]) -> None:
    """The report card of every bind of the run as JSON (`GET /clients`' body), then one log
    line per bind with findings (at most CARD_LOG_LINES) and one naming the file. A file that
    cannot be written is said in the log; the stop goes on."""
    body = json.dumps(clients_json(cards), indent=2, ensure_ascii=False) + "\n"
    try:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(body, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        log.warn("client report card not written to {path}: {error}", path=str(path), error=error.strerror)
        return
    found = [card for card in cards if card.findings]
    for card in found[:CARD_LOG_LINES]:
        log.warn("client report card: {line}", line=summary_line(card))
    more = f", {len(found) - CARD_LOG_LINES} more binds with findings there" if len(found) > CARD_LOG_LINES else ""
    log.info("client report card of {n} binds ({found} with findings) written to {path}{more}", n=len(cards),
             found=len(found), path=str(path), more=more)


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


async def _undo(clock: IReactorTime, harness: Harness | None, store: Store) -> None:
    """What a failed start-up had started, stopped within STOP_TIMEOUT (the store closed)."""
    try:
        if harness is not None:
            await defer.ensureDeferred(harness.stop()).addTimeout(STOP_TIMEOUT, clock)
        else:
            store.close()
    except Exception:  # noqa: BLE001 - the start-up error is the one to report
        pass
