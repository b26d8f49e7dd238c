"""Build the whole stack on one clock: operator SMSCs, connectors, delivery engine, client server.

`start_harness` takes the clock, a `listen` function and a `dial` function, so the same
wiring runs over TCP (`tcp_listen` / `tcp_dial`, used by `smsc-harness serve` and the
integration tests) and over in-memory links on a virtual clock for scenario replay.

TLS (`listen.tls`, `operators[i].tls`) needs two more functions, `listen_tls` and `dial_tls`
(`tls_listen` / `tls_dial`: Twisted's `ssl` endpoints over TCP). A network that passes none,
as the in-memory one of scenario replay, has no TLS: operators with `tls` are played as plain
links and the client TLS port is not opened (scenarios are about behaviour, not transport).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Awaitable, Callable

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ClientEndpoint, TCP4ServerEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IListeningPort, IProtocolFactory, IReactorTCP, IReactorTime, IStreamClientEndpoint,
)
from twisted.logger import Logger

from aggregator.config import LimitsConfig, NetworkConfig, OperatorConfig, TlsConfig
from aggregator.connectors import OperatorPool
from aggregator.delivery import DeliveryEngine
from aggregator.routing import Route, Router
from aggregator.rules.pipeline import Rules
from aggregator.server import AggregatorServer, client_session_config
from aggregator.stats import LiveStats
from aggregator.store import Store
from aggregator.tls import client_options, server_options
from smsc.adapter import ConnectionGate, SmppFactory
from smsc.operators.profile import OperatorProfile
from smsc.operators.smsc import OperatorSmsc
from smsc.pdu.codec import Ton
from smsc.session import SessionConfig
from smsc.states import Role

log = Logger(namespace="aggregator.harness")

Listen = Callable[[str, int, IProtocolFactory], Awaitable[IListeningPort]]
Dial = Callable[[str, int], IStreamClientEndpoint]
ListenTls = Callable[[str, int, IProtocolFactory, TlsConfig], Awaitable[IListeningPort]]
DialTls = Callable[[str, int, TlsConfig], IStreamClientEndpoint]


def tcp_listen(reactor: IReactorTCP) -> Listen:
    def listen(host: str, port: int, factory: IProtocolFactory) -> Awaitable[IListeningPort]:
        return TCP4ServerEndpoint(reactor, port, interface=host).listen(factory)
    return listen


def tcp_dial(reactor: IReactorTCP) -> Dial:
    def dial(host: str, port: int) -> IStreamClientEndpoint:
        return TCP4ClientEndpoint(reactor, host, port, timeout=10)
    return dial


def tls_listen(reactor: IReactorTCP) -> ListenTls:
    """Listen with TLS, presenting `tls`'s certificate (and chain). Each connection's protocol
    is made at once, before the handshake, so the session's timers (the bind timeout) cover a
    client that never finishes its handshake."""
    def listen(host: str, port: int, factory: IProtocolFactory, tls: TlsConfig) -> Awaitable[IListeningPort]:
        return SSL4ServerEndpoint(reactor, port, server_options(tls), interface=host).listen(factory)
    return listen


def tls_dial(reactor: IReactorTCP) -> DialTls:
    """Dial with TLS, trusting only `tls`'s certificates and checking they name `host`
    (aggregator.tls, rule 3). The endpoint is reused by ClientService for every reconnect."""
    def dial(host: str, port: int, tls: TlsConfig) -> IStreamClientEndpoint:
        return wrapClientTLS(client_options(tls, host), TCP4ClientEndpoint(reactor, host, port, timeout=10))
    return dial


def port_of(listening: IListeningPort) -> int:
    """The port a listener got (port 0 asks for any free one). Twisted types `getHost()` as a
    bare IAddress; TCP's, TLS's and smsc.memory's are IPv4Address."""
    address = listening.getHost()
    assert isinstance(address, IPv4Address), address
    return address.port


def operator_profile(op: OperatorConfig) -> OperatorProfile:
    """The simulated SMSC of an operator: its credentials and its `smsc:` behaviour."""
    return OperatorProfile(id=op.id, name=op.name, system_id=op.system_id, password=op.password,
                           behaviour=op.behaviour)


@dataclass
class Harness:
    config: NetworkConfig
    store: Store
    engine: DeliveryEngine[OperatorPool, AggregatorServer]
    server: AggregatorServer
    operators: dict[str, OperatorSmsc]
    pools: dict[str, OperatorPool]
    host: str
    port: int
    operator_ports: dict[str, int]
    tls_port: int | None = None                   # the client TLS port, when there is one
    _listening: list[IListeningPort] = field(default_factory=list)

    @property
    def stats(self) -> LiveStats:
        """The live counters (aggregator/stats.py: `snapshot` reads them with the state)."""
        return self.engine.stats

    def connectors_bound(self) -> defer.Deferred[list[None]]:
        """Fires once every operator pool has at least one bind up."""
        return defer.gatherResults([pool.first_bind for pool in self.pools.values()])

    def inject_mo(self, source: str, destination: str, text: str) -> Route:
        """The subscriber `source` sends `text` to `destination` (a short code or number): the
        MO leaves from the operator that serves `source` (routing and portability as for an
        MT) and reaches the aggregator as a deliver_sm. For the control API's POST /mo and a
        scenario's `mo` step.

        `source` is read as a person writes a number (TON 0, `routing.valid_e164`): a '+' is
        international, a leading '0' national in `routing.default_region`, other digits
        international. The operator sends it as the E.164 number it routed, without '+', so
        "+330612345678" leaves as 33612345678, the subscriber that operator serves. Raises
        RoutingError when no operator serves `source`, MoRefused for an MO SMPP could not
        carry (smsc/operators/smsc.py)."""
        route = self.server.router.route(source, Ton.UNKNOWN)
        self.operators[route.operator_id].inject_mo(route.msisdn.lstrip("+"), destination, text)
        return route

    def release(self, account: str, campaign: str | None) -> int | None:
        """Lift the R3 suspension of a bulk send (`campaign` None: the account's traffic
        without campaign id) and send on its held messages: how many, or None when that send
        was not suspended. For the control API's POST /skew/release."""
        if not self.server.rules.release(account, campaign):
            return None
        return self.engine.release(account, campaign)

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
        self.server.rules.close()
        self.store.close()


def client_gate(limits: LimitsConfig, clock: IReactorTime, max_connections: int | None) -> ConnectionGate:
    """The connection caps of the client-facing server; `max_connections` (what the process's
    file-descriptor limit allows, from `serve`) lowers the configured one."""
    total = limits.max_connections if max_connections is None else min(limits.max_connections, max_connections)
    return ConnectionGate(clock, total, limits.max_connections_per_address)


async def start_harness(config: NetworkConfig, clock: IReactorTime, store: Store, listen: Listen,
                        dial: Dial, port: int | None = None, link_clock: IReactorTime | None = None,
                        listen_tls: ListenTls | None = None, dial_tls: DialTls | None = None,
                        tls_port: int | None = None, max_connections: int | None = None,
                        trace: bool = False) -> Harness:
    """Start every operator SMSC, the connectors to them and the client-facing server, then
    resume what the store left unfinished. `port` overrides the config's listening port
    (0 = any free port). `clock` is simulated time (receipt delays, validity, retries, rates);
    `link_clock` (default: `clock`) drives SMPP session timers and reconnects, which must
    follow real time when `clock` runs faster than it. Without `listen_tls` and `dial_tls`
    the config's TLS settings are played as plain links (module docstring); `tls_port`
    overrides `listen.tls.port` as `port` does the plain one. `trace` turns on one info
    log line per message event (operators, engine, client server), which are otherwise not
    even built (`serve` at its default level, info; see DeliveryEngine)."""
    link_clock = link_clock or clock
    if listen_tls is None or dial_tls is None:
        listen_tls, dial_tls = None, None
        if config.listen.tls is not None or any(op.tls is not None for op in config.operators):
            log.info("this network has no TLS: the config's TLS port is not opened and its TLS operator"
                     " links are plain")
    listening: list[IListeningPort] = []
    operators: dict[str, OperatorSmsc] = {}
    operator_ports: dict[str, int] = {}
    for op in config.operators:
        smsc = OperatorSmsc(operator_profile(op), clock, seed=config.seed, test_numbers=config.test_numbers,
                            trace=trace)
        # The link's window holds both ways: the SMSC keeps as many deliver_sm (receipts, MOs)
        # outstanding per bind as the aggregator keeps submit_sm. Each deliver_sm_resp waits for
        # the aggregator's commit (docs/reliability.md), so with 10 a bind gets 10 receipts per
        # commit, far behind the submits under load; a bench network raises `window` for both.
        factory = SmppFactory(link_clock, Role.SMSC, smsc, replace(SessionConfig.for_role(Role.SMSC), window=op.window))
        if op.tls is not None and listen_tls is not None:
            lp = await listen_tls(op.host, op.port, factory, op.tls)
        else:
            lp = await listen(op.host, op.port, factory)
        listening.append(lp)
        operators[op.id] = smsc
        operator_ports[op.id] = port_of(lp)
        log.info("operator {id} ({name}) SMSC listening on {host}:{port}{tls}", id=op.id, name=op.name,
                 host=op.host, port=operator_ports[op.id], tls=" with TLS" if op.tls and listen_tls else "")

    router = Router(config.operators, config.routing)

    def operator_pools(engine: DeliveryEngine[OperatorPool, AggregatorServer]) -> dict[str, OperatorPool]:
        return {op.id: OperatorPool(op, engine, clock, link_clock, _dialler(op, operator_ports[op.id], dial, dial_tls))
                for op in config.operators}

    rules = Rules(config.rules, config.accounts, clock, store,
                  unknown_statuses={op.id: int(op.behaviour.unknown_status) for op in config.operators})
    rules.restore_duplicates(store)

    def client_server(engine: DeliveryEngine[OperatorPool, AggregatorServer]) -> AggregatorServer:
        return AggregatorServer(config.accounts, router, engine, store, clock, config.delivery, rules,
                                config.limits, trace=trace)

    engine = DeliveryEngine(store, clock, config.delivery, outboxes=operator_pools, clients=client_server,
                            temporary_errors={op.id: frozenset(op.temporary_errors) for op in config.operators},
                            trace=trace, outcomes=rules, held=rules.held, stats=LiveStats(clock.seconds()))
    pools, server = engine.outboxes, engine.clients
    assert server is not None
    host = config.listen.host
    factory = SmppFactory(link_clock, Role.SMSC, server, client_session_config(config.limits),
                          client_gate(config.limits, link_clock, max_connections))   # one for both ports
    lp = await listen(host, config.listen.port if port is None else port, factory)
    listening.append(lp)
    actual = port_of(lp)
    log.info("aggregator listening for SMPP clients on {host}:{port}", host=host, port=actual)
    actual_tls: int | None = None
    if config.listen.tls is not None and listen_tls is not None:
        tls_lp = await listen_tls(host, config.listen.tls_port if tls_port is None else tls_port, factory,
                                  config.listen.tls)
        listening.append(tls_lp)
        actual_tls = port_of(tls_lp)
        log.info("aggregator listening for SMPP clients over TLS on {host}:{port}", host=host, port=actual_tls)
    resumed, owed = engine.resume(), server.resume()
    if resumed or owed:
        log.info("resuming {resumed} unfinished message(s) and {owed} unacknowledged delivery(ies)",
                 resumed=resumed, owed=owed)
    for pool in pools.values():
        pool.start()
    return Harness(config, store, engine, server, operators, pools, host, actual, operator_ports,
                   tls_port=actual_tls, _listening=listening)


def _dialler(op: OperatorConfig, port: int, dial: Dial, dial_tls: DialTls | None) -> Callable[[], IStreamClientEndpoint]:
    """What OperatorPool calls once per bind for its endpoint: TLS when the operator has it
    and the network can (the SMSC then listens with TLS too), plain otherwise."""
    tls = op.tls
    if tls is not None and dial_tls is not None:
        return lambda: dial_tls(op.host, port, tls)
    return lambda: dial(op.host, port)
