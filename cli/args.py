"""Arguments of `smsc-harness`: the parser, its value types, and the one-line failure.

Only argparse here, so `smsc-harness --help` and a bad command line are answered before any
part of the stack is imported.
"""

from __future__ import annotations

import argparse
from importlib import metadata
import math
import sys
from typing import Callable, NoReturn

DEFAULT_DB = "smsc-harness.db"
_ALLOW_OUTSIDE_HELP = ("let includes and network files lie outside the scenario's directory tree "
                       "(by default they must be inside it, symlinks and .. resolved)")
# --speed above this: a year of simulated time passes in 32 real seconds; beyond, every
# simulated delay rounds to nothing in real time, and ScaledClock's products lose precision.
MAX_SPEED = 1_000_000.0
LOG_LEVELS = ["debug", "info", "warn", "error"]


def version() -> str:
    """The installed distribution's version (pyproject.toml's), or `unknown` when the code runs
    from a folder that was never installed."""
    try:
        return metadata.version("smsc-harness")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


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


def rule_name(text: str) -> str:
    """--rule-off: an operator rule's name, or `all`."""
    from aggregator.rules.settings import RULE_NAMES
    if text != "all" and text not in RULE_NAMES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(RULE_NAMES)} or all, got {text!r}")
    return text


def _control_arguments(parser: argparse.ArgumentParser) -> None:
    """--db, --control, --token: how a client command finds a running serve's control API."""
    parser.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                        help=f"the database of the running serve: its control API's address and token are "
                             f"read from PATH.control.json, which serve writes (default: ./{DEFAULT_DB})")
    parser.add_argument("--control", default=None, metavar="HOST:PORT",
                        help="the control API's address, instead of the one in the control file")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help="the control API's bearer token, instead of the one in the control file")


def _number(kind: type[int] | type[float], low: float, high: float,
            low_open: bool = False) -> Callable[[str], int | float]:
    """An argparse type: an int or finite float within [low, high] ((low, high] if low_open)."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (low < value if low_open else low <= value) and value <= high):
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'} "
                                             f"{bound} and <= {high:g}, got {text!r}")
        return value
    return parse


def _bench_arguments(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("--mode", choices=["sink", "e2e"], default="sink",
                       help="sink (default): one simulated operator SMSC; e2e: the whole stack, a message "
                            "done when its receipt reached the client (with --target: whether receipts "
                            "are expected)")
    bench.add_argument("--compare", nargs="?", const="sink,responder,npm", default=None, metavar="SERVERS",
                       help="the same load on several servers one after the other, one table with ratios: "
                            "a comma list of sink, responder (the raw responder), npm (the npm smpp 0.5.1 "
                            "server, installed on first use; needs node and npm) (default: all three), "
                            "plus --target if given")
    bench.add_argument("--rounds", type=_number(int, 1, 50), default=1, metavar="N",
                       help="with --compare: the servers take turns N times; the table gives medians (default 1)")
    bench.add_argument("--target", default=None, metavar="HOST:PORT",
                       help="load this running SMPP server instead of starting one")
    bench.add_argument("--system-id", default=None, metavar="X",
                       help="bind system_id (default: aggregator for sink, demo for e2e)")
    bench.add_argument("--password", default=None, metavar="Y",
                       help="bind password (default: secret for sink, demo for e2e)")
    bench.add_argument("--binds", type=_number(int, 1, 1000), default=2, metavar="B",
                       help="transceiver binds (default 2)")
    bench.add_argument("--window", type=_number(int, 1, 100_000), default=200, metavar="W",
                       help="submit_sm outstanding per bind at most (default 200)")
    bench.add_argument("--rate", type=_number(float, 0, 10_000_000, low_open=True), default=None,
                       metavar="R", help="open loop: R submit_sm/s over all binds, latency from each "
                                         "message's intended send time (default: closed loop)")
    bench.add_argument("--duration", type=_number(float, 0, 86_400, low_open=True), default=10.0,
                       metavar="S", help="seconds measured (default 10)")
    bench.add_argument("--warmup", type=_number(float, 0, 3_600), default=1.0, metavar="S",
                       help="seconds of load before the measurement, not counted (default 1)")
    bench.add_argument("--drain", type=_number(float, 0, 3_600), default=10.0, metavar="S",
                       help="seconds at most waited after the load for outstanding responses and "
                            "receipts; what has not come then is lost (default 10)")
    receipts = bench.add_mutually_exclusive_group()
    receipts.add_argument("--receipts", dest="receipts", action="store_true", default=None,
                          help="ask for receipts (registered_delivery=1) and count them (default for e2e)")
    receipts.add_argument("--no-receipts", dest="receipts", action="store_false",
                          help="ask for none (default for sink)")
    bench.add_argument("--source", default="33600000000", metavar="ADDR",
                       help="source_addr of every submit_sm, TON 1 (default 33600000000)")
    bench.add_argument("--destination", default="33612345678", metavar="ADDR",
                       help="destination_addr of every submit_sm, TON 1 (default 33612345678)")
    bench.add_argument("--json", default=None, metavar="FILE",
                       help="write every figure, parameter, the machine and the date to FILE")
    bench.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smsc-harness",
        description="SMSC simulator and operator test harness for SMS aggregators (SMPP 3.4).")
    parser.add_argument("--version", action="version", version=f"smsc-harness {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the aggregator and the simulated operator SMSCs until interrupted",
        description="Start the whole stack in one reactor: the aggregator's SMPP server for "
                    "clients, one simulated SMSC per operator, and the aggregator's binds to them.")
    network = serve.add_mutually_exclusive_group()
    network.add_argument("--config", metavar="FILE",
                         help="network config (YAML); default: the shipped French network")
    network.add_argument("--bench", action="store_true",
                         help="serve the shipped bench network (aggregator/bench_network.yaml) for load tools: "
                              "no throughput caps, every message delivered, receipts at once, the demo account "
                              "(demo/demo) unthrottled; log level warn unless --log-level says otherwise")
    serve.add_argument("--port", type=port_number, default=None, metavar="N",
                       help="client SMPP port (default: the config's, 2775); 0 picks a free port")
    serve.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                       help=f"SQLite file for messages and receipts (default: ./{DEFAULT_DB})")
    serve.add_argument("--speed", type=speed_factor, default=1.0, metavar="X",
                       help="run simulated time X times faster than real time (receipt delays, "
                            "validity, retries, outages); default 1")
    serve.add_argument("--control-port", type=port_number, default=None, metavar="N",
                       help="HTTP control API port on 127.0.0.1 (default: the config's, 2776; 0 = free port)")
    verbosity = serve.add_mutually_exclusive_group()
    verbosity.add_argument("--log-level", default=None, choices=LOG_LEVELS,
                           help="how much to log (default: info, a line per submit, routing decision and receipt; "
                                "warn with --bench: problems only, per-message lines not even built)")
    verbosity.add_argument("--quiet", dest="log_level", action="store_const", const="warn",
                           help="the same as --log-level warn: problems only, for benchmarks")

    sink = commands.add_parser(
        "sink", help="run one simulated operator SMSC alone, for load tools (bench --mode sink)",
        description="One simulated operator SMSC on TCP with the bench network's profile: no throughput "
                    "caps, window 1000, 64 binds, every message DELIVRD, its receipt at once when the "
                    "submit_sm asks for one (registered_delivery), no faults. Its first stdout line is "
                    "`smsc-harness sink: SMPP on HOST:PORT (...)`; SIGINT or SIGTERM stop it (exit 0) "
                    "with a summary line on stderr.")
    sink.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sink.add_argument("--port", type=port_number, default=2775, metavar="N",
                      help="SMPP port (default: 2775); 0 picks a free port, named on the first line")
    sink.add_argument("--receipts", action=argparse.BooleanOptionalAction, default=True,
                      help="send a receipt when the submit_sm asks for one (default); --no-receipts: never")
    sink.add_argument("--system-id", default="aggregator", metavar="ID",
                      help="the system_id binds must give (default: aggregator)")
    sink.add_argument("--password", default="secret", metavar="PASSWORD",
                      help="the password binds must give (default: secret)")
    sink.add_argument("--log-level", default="warn", choices=LOG_LEVELS,
                      help="how much to log (default: warn); info adds a line per message")

    mo = commands.add_parser(
        "mo", help="make a subscriber send an MO to a running stack (through its control API)",
        description="The subscriber MSISDN sends TEXT to SHORT_CODE; the MO leaves from the operator "
                    "that serves the MSISDN and reaches the account owning the short code.")
    mo.add_argument("--from", dest="source", required=True, metavar="MSISDN", help="e.g. +33612345678")
    mo.add_argument("--to", dest="destination", required=True, metavar="SHORT_CODE", help="e.g. 36180")
    mo.add_argument("text", help="the message text, e.g. STOP")
    _control_arguments(mo)

    optouts = commands.add_parser(
        "optouts", help="list, add or remove numbers on an account's STOP opt-out list (R1) of a running stack",
        description="R1's opt-out lists of the running serve whose store is --db, through its control API. "
                    "A number on an account's list gets none of its marketing messages.")
    actions = optouts.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="print the lists (JSON)")
    listing.add_argument("--account", default=None, metavar="SYSTEM_ID", help="only this account's list")
    changes = [actions.add_parser("add", help="put a number on an account's list by hand"),
               actions.add_parser("remove", help="take a number off an account's list")]
    for change in changes:
        change.add_argument("--account", required=True, metavar="SYSTEM_ID", help="e.g. demo")
        change.add_argument("number", metavar="MSISDN", help="e.g. +33612345678 or 0612345678")
    for sub in (listing, *changes):
        _control_arguments(sub)

    release = commands.add_parser(
        "release", help="send on a bulk send suspended for traffic skew (R3), on a running stack",
        description="Lift the suspension of ACCOUNT's campaign CAMPAIGN (without CAMPAIGN: its traffic "
                    "without campaign id): its further submits are accepted again and its held messages sent.")
    release.add_argument("account", metavar="ACCOUNT", help="the account's system_id")
    release.add_argument("campaign", nargs="?", default=None, metavar="CAMPAIGN",
                         help="the campaign id (the client's TLV 0x1400); absent: the traffic without one")
    _control_arguments(release)

    operator = commands.add_parser(
        "operator", help="start or end an outage of an operator's SMSC, or change its throughput, on a running stack",
        description="Change operator ID's simulated SMSC now, as a scenario's `operator` step does: "
                    "--outage refuse_binds|drop|silent starts an outage (docs/operator-model.md, Faults), "
                    "--recover ends it, --throughput RATE [--burst N] sets its operator-wide cap.")
    operator.add_argument("operator", metavar="ID", help="the operator's id in the network config, e.g. sfr")
    steer = operator.add_mutually_exclusive_group(required=True)
    steer.add_argument("--outage", choices=["refuse_binds", "drop", "silent"], default=None,
                        help="start an outage of this kind")
    steer.add_argument("--recover", action="store_true", help="end the outage")
    steer.add_argument("--throughput", type=_number(float, 0, 100_000, low_open=True), default=None,
                        metavar="RATE", help="messages a second the operator accepts from now on")
    operator.add_argument("--burst", type=_number(int, 1, 100_000), default=None, metavar="N",
                          help="with --throughput: messages it accepts at once (default: one second's worth)")
    _control_arguments(operator)

    message = commands.add_parser(
        "message", help="show one message of a running stack: its state, history and receipts (JSON)",
        description="GET /messages/ID of the running serve whose store is --db: the message as it stands, "
                    "its state history and the receipts its operator sent.")
    message.add_argument("message_id", metavar="ID", help="the message_id a submit_sm_resp gave")
    _control_arguments(message)

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
    run_cmd.add_argument("--rule-off", action="append", default=[], metavar="RULE", type=rule_name,
                         help="replay with this operator rule switched off everywhere, as `enabled: false` in "
                              "the network's and every account's rules: would (repeatable; `all`: every rule): "
                              "what the traffic would do without it")
    run_cmd.add_argument("--live", action="store_true",
                         help="play over real TCP on 127.0.0.1 in real time (advance waits): same "
                              "verdicts as the in-memory replay, for short scenarios")

    _bench_arguments(commands.add_parser(
        "bench", help="load an SMPP server (ours or any) and print throughput and latency figures",
        description="Bind --binds transceivers and send submit_sm: closed loop (each bind keeps "
                    "--window outstanding) or, with --rate, open loop at a fixed offered rate with "
                    "latency counted from each message's intended send time. --mode sink starts one "
                    "simulated operator SMSC (smsc-harness sink), --mode e2e the whole stack "
                    "(smsc-harness serve --bench), each in its own process; --target loads a running "
                    "server instead; --compare loads several servers in turn and prints one table. Exit 0 "
                    "figures printed, 1 messages lost or bind refused, 2 bad arguments or the server "
                    "would not start."))

    hashing = commands.add_parser(
        "hash-password", help="print a salted hash of a password, for an account's password_hash",
        description="Reads the password from a prompt (or from stdin when it is not a terminal) "
                    "and prints the hash to put in the network config as password_hash, instead "
                    "of password. The password must be what password accepts: 1 to 8 ASCII "
                    "characters (SMPP's limit).")
    hashing.add_argument("--scheme", choices=["scrypt", "pbkdf2"], default="scrypt",
                         help="scrypt (default) or pbkdf2 (PBKDF2-SHA256); both take about 50 ms a check")
    return parser


def fail(message: str) -> NoReturn:
    """A start-up problem: one line on stderr, exit status 2."""
    print(f"smsc-harness: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
