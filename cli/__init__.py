"""The `smsc-harness` command line, above every package (smsc <- aggregator <- scenarios <- cli).

    smsc-harness serve [--config FILE | --bench] [--port N] [--db PATH] [--speed X] [--control-port N] [--log-level LEVEL | --quiet]
    smsc-harness mo --from MSISDN --to SHORT_CODE TEXT [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness release ACCOUNT [CAMPAIGN] [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness optouts list [--account SYSTEM_ID] [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness optouts add|remove --account SYSTEM_ID MSISDN [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness operator ID --outage refuse_binds|drop|silent | --recover | --throughput RATE [--burst N] [--db PATH] ...
    smsc-harness message ID [--db PATH] [--control HOST:PORT] [--token TOKEN]
    smsc-harness check SCENARIO.yaml [...] [--allow-outside]
    smsc-harness run SCENARIO.yaml [...] [--seed N] [--report-dir DIR] [--live] [--allow-outside]
    smsc-harness hash-password [--scheme scrypt|pbkdf2]
    smsc-harness bench [--mode sink|e2e] [--target HOST:PORT ...] [--compare [SERVERS]] [--binds B] ...
    smsc-harness sink [--host HOST] [--port N] [--receipts|--no-receipts] [--system-id ID] [--password PW]

One module per command: `cli.serve`, `cli.sink`, `cli.mo`, `cli.release`, `cli.optouts`,
`cli.operator`, `cli.message` (the five through `cli.control_client`), `cli.replay` (check and run),
`cli.hash_password`, `cli.bench` (and `cli.bench_compare`); `cli.args` holds the parser.  This is the only package that touches the
global reactor (`task.react` in `serve` and `run --live`) and the only one that wires real
TCP.  `run` imports a command's module once the command line is parsed: `--help` and a bad
command line are answered without importing the stack.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from cli.args import build_parser

__all__ = ["run"]


# A command whose reader went away (`smsc-harness check *.yaml | head -1`) ends as `cat`
# does: quietly, with the status of a process killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141


def run(argv: Sequence[str] | None = None) -> None:
    """The `smsc-harness` entry point ([project.scripts] in pyproject.toml); exits with the
    command's status."""
    try:
        try:
            _run(argv)
        finally:
            sys.stdout.flush()      # here, not at exit, where a broken pipe could not be caught
    except BrokenPipeError:
        # Python would print a traceback, then fail again flushing stdout at exit: point
        # stdout at /dev/null so the exit is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(EXIT_BROKEN_PIPE) from None


def _run(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from cli.serve import react
        react(args)
    elif args.command == "sink":
        from cli.sink import react as react_sink
        react_sink(args)
    elif args.command == "mo":
        from cli.mo import send_mo
        raise SystemExit(send_mo(args))
    elif args.command == "release":
        from cli.release import release_send
        raise SystemExit(release_send(args))
    elif args.command == "optouts":
        from cli.optouts import optouts_command
        raise SystemExit(optouts_command(args))
    elif args.command == "operator":
        from cli.operator import operator_command
        raise SystemExit(operator_command(args))
    elif args.command == "message":
        from cli.message import message_command
        raise SystemExit(message_command(args))
    elif args.command == "bench":
        from cli.bench import react as bench
        bench(args)
    elif args.command == "hash-password":
        from cli.hash_password import hash_password_command
        raise SystemExit(hash_password_command(args))
    elif args.command == "check":
        from cli.replay import check_scenarios
        raise SystemExit(check_scenarios(args.scenarios, args.allow_outside))
    elif args.command == "run" and args.live:
        from cli.replay import react_live
        react_live(args)
    elif args.command == "run":
        from cli.replay import run_scenarios
        raise SystemExit(run_scenarios(args.scenarios, args.seed, args.report_dir, args.allow_outside,
                                       args.rule_off))
