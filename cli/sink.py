"""`smsc-harness sink`: one simulated operator SMSC alone on TCP, for `bench --mode sink`.

The operator is the first of the shipped bench network (aggregator/bench_network.yaml): no
throughput caps, window 1000, 64 binds, every message DELIVRD with its receipt at once, no
unknown subscribers, faults or replies, so a load tool measures the SMSC's own speed, the
same code `serve` runs for each operator. `--no-receipts` plays it with every receipt lost
(the submit path alone); `--system-id`/`--password` are the credentials it accepts.

Its first stdout line, flushed, is the contract with whoever starts it (issue 13):
`smsc-harness sink: SMPP on HOST:PORT (system_id ...)`. SIGINT or SIGTERM stop it with exit
status 0 and one summary line on stderr: submits accepted and refused, receipts sent.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import NoReturn

from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorCore, IReactorTCP, IReactorTime

from aggregator.config import ConfigError, load_bench_config
from aggregator.harness import operator_profile, port_of, tcp_listen
from cli import heap
from cli.args import fail
from cli.serve import start_logging
from smsc.adapter import SmppFactory
from smsc.operators.profile import OperatorProfile
from smsc.operators.smsc import OperatorSmsc
from smsc.states import Role

# --no-receipts: every receipt lost, the operator's own fault (percent). The submit path is
# then exactly the one with receipts, less the deliver_sm; no other switch is needed.
ALL_LOST = 100.0


def react(args: argparse.Namespace) -> NoReturn:
    """Run the sink on the global reactor until SIGINT or SIGTERM; exits 0."""
    task.react(lambda reactor: defer.ensureDeferred(sink(reactor, args)))


def sink_profile(system_id: str, password: str, receipts: bool) -> OperatorProfile:
    """The bench network's first operator, with these credentials; without receipts, every
    receipt lost."""
    try:
        config = load_bench_config()
    except ConfigError as error:    # a broken install: the shipped file is checked by the tests
        fail(f"the bench network does not load: {error}")
    profile = replace(operator_profile(config.operators[0]), system_id=system_id, password=password)
    if receipts:
        return profile
    behaviour = profile.behaviour
    return replace(profile, behaviour=replace(behaviour, faults=replace(behaviour.faults, receipt_loss=ALL_LOST)))


async def sink(reactor: object, args: argparse.Namespace) -> None:
    clock, tcp = IReactorTime(reactor), IReactorTCP(reactor)
    profile = sink_profile(args.system_id, args.password, args.receipts)
    smsc = OperatorSmsc(profile, clock, trace=args.log_level in ("debug", "info"))
    try:
        listening = await tcp_listen(tcp)(args.host, args.port, SmppFactory(clock, Role.SMSC, smsc))
    except CannotListenError as error:
        reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
        fail(f"sink: cannot listen on {args.host}:{args.port}: {reason}")

    def summary() -> None:
        smsc.stop()
        print(f"smsc-harness sink: accepted {smsc.submitted} submit_sm, refused {smsc.refused}, "
              f"receipts sent {smsc.receipts_sent}", file=sys.stderr, flush=True)

    IReactorCore(reactor).addSystemEventTrigger("before", "shutdown", summary)
    # Wait for the reactor to run (its SIGTERM and SIGINT handlers installed) before saying we
    # listen: whoever reads the line may stop us at once, and must find us stoppable.
    await task.deferLater(clock, 0, lambda: None)
    receipts = "receipts at once when asked" if args.receipts else "no receipts"
    print(f"smsc-harness sink: SMPP on {args.host}:{port_of(listening)} (system_id {args.system_id}; "
          f"operator {profile.id}, {receipts}); Ctrl-C stops", flush=True)
    start_logging(args.log_level)                # after the first line: it is the contract
    heap.settle()                                # cli/heap.py: the collector's settings of a server
    await defer.Deferred()                       # run until the reactor is stopped
