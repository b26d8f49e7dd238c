"""Build the whole stack on one clock: operator SMSCs, connectors, delivery engine, client server.

`start_harness` takes the clock, a `listen` function and a `dial` function, so the same
wiring runs over TCP (`tcp_listen` / `tcp_dial`, used by `smsc-harness serve` and the
integration tests) and, later, over in-memory links on a virtual clock for scenario replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from aggregator.config import NetworkConfig, OperatorConfig
from aggregator.connectors import OperatorPool
from aggregator.delivery import DeliveryEngine
from aggregator.routing import Router
from aggregator.server import AggregatorServer
from aggregator.store import Store
from smsc.adapter import SmppFactory
from smsc.operators.profile import OperatorProfile
from smsc.operators.smsc import OperatorSmsc
from smsc.states import Role

log = Logger(namespace="aggregator.harness")

Listen = Callable[[str, int, Factory], Awaitable[IListeningPort]]
Dial = Callable[[str, int], IStreamClientEndpoint]


def tcp_listen(reactor: IReactorTCP) -> Listen:
    def listen(host: str, port: int, factory: Factory) -> Awaitable[IListeningPort]:
        return TCP4ServerEndpoint(reactor, port, interface=host).listen(factory)
    return listen


def tcp_dial(reactor: IReactorTCP) -> Dial:
    def dial(host: str, port: int) -> IStreamClientEndpoint:
        return TCP4ClientEndpoint(reactor, host, port, timeout=10)
    return dial


def operator_profile(op: OperatorConfig) -> OperatorProfile:
    """The simulated SMSC of an operator: its credentials and its `smsc:` behaviour."""
    return OperatorProfile(id=op.id, name=op.name, system_id=op.system_id, password=op.password,
                           behaviour=op.behaviour)


@dataclass
class Harness:
    config: NetworkConfig
    store: Store
    engine: DeliveryEngine
    server: AggregatorServer
    operators: dict[str, OperatorSmsc]
    pools: dict[str, OperatorPool]
    host: str
    port: int
    operator_ports: dict[str, int]
    _listening: list[IListeningPort] = field(default_factory=list)

    def connectors_bound(self) -> defer.Deferred[list[object]]:
        """Fires once every operator pool has at least one bind up."""
        return defer.gatherResults([pool.first_bind for pool in self.pools.values()])

    async def stop(self) -> None:
        """Stop listening, close client connections, unbind from operators, flush the store.
        Over a virtual clock the caller keeps the clock moving until this completes."""
        for port in self._listening:
            await defer.maybeDeferred(port.stopListening)
        self.server.close_all()
        for pool in self.pools.values():
            await pool.stop()
        for smsc in self.operators.values():
            smsc.stop()
        self.engine.stop()
        self.store.close()


async def start_harness(config: NetworkConfig, clock: IReactorTime, store: Store, listen: Listen,
                        dial: Dial, port: int | None = None, link_clock: IReactorTime | None = None) -> Harness:
    """Start every operator SMSC, the connectors to them and the client-facing server, then
    resume what the store left unfinished. `port` overrides the config's listening port
    (0 = any free port). `clock` is simulated time (receipt delays, validity, retries, rates);
    `link_clock` (default: `clock`) drives SMPP session timers and reconnects, which must
    follow real time when `clock` runs faster than it."""
    link_clock = link_clock or clock
    listening: list[IListeningPort] = []
    operators: dict[str, OperatorSmsc] = {}
    operator_ports: dict[str, int] = {}
    for op in config.operators:
        smsc = OperatorSmsc(operator_profile(op), clock, seed=config.seed, test_numbers=config.test_numbers)
        lp = await listen(op.host, op.port, SmppFactory(link_clock, Role.SMSC, smsc))
        listening.append(lp)
        operators[op.id] = smsc
        operator_ports[op.id] = lp.getHost().port
        log.info("operator {id} ({name}) SMSC listening on {host}:{port}", id=op.id, name=op.name,
                 host=op.host, port=operator_ports[op.id])

    engine = DeliveryEngine(store, clock, config.delivery,
                            {op.id: frozenset(op.temporary_errors) for op in config.operators})
    pools: dict[str, OperatorPool] = {}
    for op in config.operators:
        address = (op.host, operator_ports[op.id])
        pools[op.id] = engine.outboxes[op.id] = OperatorPool(
            op, engine, clock, link_clock, lambda address=address: dial(*address))  # type: ignore[misc]

    router = Router(config.operators, config.routing)
    server = AggregatorServer(config.accounts, router, engine, store, clock, config.delivery)
    host = config.listen.host
    lp = await listen(host, config.listen.port if port is None else port,
                      SmppFactory(link_clock, Role.SMSC, server))
    listening.append(lp)
    actual = lp.getHost().port
    log.info("aggregator listening for SMPP clients on {host}:{port}", host=host, port=actual)
    resumed, owed = engine.resume(), server.resume()
    if resumed or owed:
        log.info("resuming {resumed} unfinished message(s) and {owed} unacknowledged delivery(ies)",
                 resumed=resumed, owed=owed)
    for pool in pools.values():
        pool.start()
    return Harness(config, store, engine, server, operators, pools, host, actual, operator_ports, listening)
