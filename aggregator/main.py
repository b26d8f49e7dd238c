"""`smsc-harness` command line. The only module that touches the global reactor (via task.react).

    smsc-harness serve [--config FILE] [--port N] [--db PATH] [--log-level LEVEL]
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence, TextIO

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, formatEvent,
    globalLogBeginner,
)
from zope.interface import provider

from aggregator.config import ConfigError, load_config
from aggregator.harness import start_harness, tcp_dial, tcp_listen
from aggregator.store import Store

DEFAULT_DB = "smsc-harness.db"


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
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"],
                       help="how much to log (default: info)")
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
    start_logging(args.log_level)
    store = Store(args.db, schedule=reactor.callLater)  # type: ignore[attr-defined]
    harness = await start_harness(config, reactor, store, tcp_listen(reactor), tcp_dial(reactor),  # type: ignore[arg-type]
                                  port=args.port)
    reactor.addSystemEventTrigger(  # type: ignore[attr-defined]
        "before", "shutdown", lambda: defer.ensureDeferred(harness.stop()))
    accounts = ", ".join(a.system_id for a in config.accounts)
    print(f"smsc-harness: SMPP server on {harness.host}:{harness.port} "
          f"(accounts: {accounts}; database: {args.db}); Ctrl-C stops", flush=True)
    await defer.Deferred()                       # run until the reactor is stopped


def run(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        task.react(lambda reactor: defer.ensureDeferred(serve(reactor, args)))


if __name__ == "__main__":
    run()
