"""The targets of the campaign, on one virtual clock: the whole aggregator stack and/or one
simulated operator SMSC bound directly, over `smsc.memory.MemoryNetwork`.

Every server-side protocol (the aggregator's client server, the harness's own operator SMSCs,
the directly bound operator) is built through `ObservedFactory`, which puts a thin
`ObservedProtocol` between the network and the real `SmppConnection`. It changes nothing the
protocol sees (the protocol gets the real transport); it only knows which connection is
being fed, so that an exception or a log event can be pinned on the connection and the bytes
that caused it. An exception out of `dataReceived` is what Twisted's TCP transport would
log as "Unhandled Error" before dropping that connection: it is recorded as a finding and the
connection is aborted, as TCP would, so the campaign goes on against the same stack.
"""

from __future__ import annotations

import gc
import tempfile
import traceback
import weakref
from dataclasses import dataclass, is_dataclass, replace
from pathlib import Path
from typing import Callable

from twisted.internet import defer
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import IListeningPort, IProtocol, IProtocolFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from aggregator.config import NetworkConfig, load_config
from aggregator.harness import Harness, operator_profile, start_harness
from aggregator.server import AggregatorServer
from aggregator.store import Store
from smsc.adapter import SmppConnection, SmppFactory
from smsc.esme import Esme
from smsc.memory import MemoryNetwork
from smsc.operators.profile import NumberRule
from smsc.operators.smsc import OperatorSmsc
from smsc.pdu.codec import Pdu
from smsc.session import Session, SessionConfig
from smsc.states import Role
from smsc.virtualclock import VirtualClock
from tests.fuzz.pdus import START, Credentials

# The directly bound operator SMSC gets an id of its own, so that its log lines can be told
# from those of the harness's operators (whose peers are the aggregator, not the fuzzer).
FUZZ_OPERATOR_ID = "fuzzop"
# One number per operator of the default network, ported to it and answered DELIVRD at once:
# the service check after the campaign proves every operator route still carries a message.
SENTINELS = {"orange": "+33612345670", "sfr": "+33612345671", "bouygues": "+33612345672", "free": "+33612345673"}
STORE_FLUSH_INTERVAL = 5.0                 # as a scenario replay: one transaction per 5 simulated s
_PROJECT_DIRS = ("/smsc/", "/aggregator/", "/scenarios/")
_FUZZ_DIR = "/tests/fuzz/"


# The default network allows the demo account 8 binds and an operator 4: with 50 connections
# at once, most binds would be refused and most PDUs would only ever meet the unbound state.
# So the campaign lifts both limits out of reach: every binder binds, for the whole run, even
# while a bug leaves closed connections counted as binds (the registry oracle reports that
# directly; the limit's refusal, ESME_RBINDFAIL, is covered by the server's own tests).
FUZZ_MAX_BINDS = 1000
FUZZ_OPERATOR_MAX_BINDS = 1000


def fuzz_config(lift_bind_limits: bool = True) -> NetworkConfig:
    """The shipped default network, plus one sentinel number per operator (see SENTINELS), and
    (unless told not to) the demo account's max_binds raised to FUZZ_MAX_BINDS."""
    config = load_config()
    ported = dict(config.routing.ported)
    rules = list(config.test_numbers)
    for op in config.operators:
        number = SENTINELS.get(op.id)
        if number is not None:
            ported[number] = op.id
            rules.append(NumberRule(number, delay=0.0))
    accounts = tuple(replace(a, max_binds=FUZZ_MAX_BINDS) if a.system_id == "demo" and lift_bind_limits else a
                     for a in config.accounts)
    return replace(config, routing=replace(config.routing, ported=ported), test_numbers=tuple(rules),
                   accounts=accounts)


@dataclass(frozen=True, slots=True)
class Trouble:
    """An exception that got out of a protocol or a clock call, reduced to text (a finding must
    not hold the traceback: its frames would keep closed connections alive)."""

    exc_type: str
    message: str
    where: str                              # innermost project frame, file:line (function)
    traceback: str
    frame: bytes | None                     # the PDU being decoded or handled, when found
    conn_port: int | None                   # client port of the server-side connection involved
    message_ids: tuple[str, ...]            # message ids found among the frames' variables
    pdu_key: tuple[int, int] | None         # (command_id, sequence_number) of the PDU being handled


def describe(error: BaseException) -> Trouble:
    """What a finding keeps of an exception: where it was raised, the PDU and connection involved."""
    tb = error.__traceback__
    where = "?"
    frame_bytes: bytes | None = None
    conn_port: int | None = None
    pdu_key: tuple[int, int] | None = None
    ids: list[str] = []
    for frame, lineno in traceback.walk_tb(tb):
        path = frame.f_code.co_filename.replace("\\", "/")
        if any(d in path for d in _PROJECT_DIRS):
            where = f"{path.rsplit('/', 2)[-2]}/{path.rsplit('/', 1)[-1]}:{lineno} ({frame.f_code.co_name})"
        local = frame.f_locals
        candidate = local.get("frame")
        if isinstance(candidate, bytes) and len(candidate) >= 16:
            frame_bytes = candidate
        for name in ("pdu", "request"):
            handled = local.get(name)
            if isinstance(handled, Pdu):
                pdu_key = (int(handled.command), handled.sequence_number)
        owner = local.get("self")
        if isinstance(owner, SmppConnection) and owner.transport is not None:
            peer = owner.transport.getPeer()
            conn_port = getattr(peer, "port", None)
        for value in local.values():
            if is_dataclass(value) and not isinstance(value, type):
                message_id = getattr(value, "id", None)
                if isinstance(message_id, str):
                    ids.append(message_id)
    text = "".join(traceback.format_exception(type(error), error, tb))
    del tb
    return Trouble(type(error).__name__, str(error), where, text, frame_bytes, conn_port, tuple(dict.fromkeys(ids)),
                   pdu_key)


def raised_by_fuzzer(error: BaseException) -> bool:
    """True when the innermost frame is the fuzzer's own code: a bug here, not a finding."""
    last = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        last = frame.f_code.co_filename.replace("\\", "/")
    return last is not None and _FUZZ_DIR in last


@implementer(IProtocol)
class ObservedProtocol:
    """Between the memory network and a server-side protocol: see the module docstring."""

    def __init__(self, inner: SmppConnection, world: World, label: str, peer_port: int) -> None:
        self.inner: SmppConnection | None = inner
        self.world = world
        self.label = label
        self.peer_port = peer_port
        self.transport: object = None

    def makeConnection(self, transport: object) -> None:
        self.transport = transport
        self._guard(self.inner.makeConnection, transport, None)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self._guard(self.inner.dataReceived, data, data)

    def connectionLost(self, reason: Failure) -> None:
        inner = self.inner
        if inner is not None:
            self._guard(inner.connectionLost, reason, None)
        self.world.released(self)
        self.inner = None                   # from here on, only the target may keep it alive
        self.transport = None

    def _guard(self, call: Callable[[object], object], arg: object, data: bytes | None) -> None:
        world = self.world
        world.current = self
        try:
            call(arg)
        except Exception as error:          # noqa: BLE001 - what TCP would log as "Unhandled Error"
            world.on_exception(error, self, data)
            transport = self.transport
            if transport is not None and not getattr(transport, "disconnected", True):
                transport.abortConnection()  # type: ignore[attr-defined]
        finally:
            world.current = None


@implementer(IProtocolFactory)
class ObservedFactory:
    def __init__(self, inner: SmppFactory, world: World, label: str) -> None:
        self.inner = inner
        self.world = world
        self.label = label

    def doStart(self) -> None:
        self.inner.doStart()

    def doStop(self) -> None:
        self.inner.doStop()

    def buildProtocol(self, addr: object) -> ObservedProtocol | None:
        protocol = self.inner.buildProtocol(addr)
        if protocol is None:
            return None
        observed = ObservedProtocol(protocol, self.world, self.label, getattr(addr, "port", 0))
        self.world.built(observed)
        return observed


@dataclass
class Target:
    """What the fuzzing connections aim at, and how to read its registry."""

    name: str                               # "server" | "operator"
    port: int
    creds: Credentials
    config: SessionConfig                   # the target's session settings (max_pdu, timeouts)
    connections: Callable[[], list[SmppConnection]]
    binds: Callable[[], list[SmppConnection]]


class World:
    """The stack(s) under test on one VirtualClock, with the hooks the campaign's oracles use.

    `on_exception(error, observed, data)` and the attribution of log events go to `sink`,
    which the campaign provides."""

    def __init__(self, targets: tuple[str, ...], sink: WorldSink, workdir: Path | None = None,
                 lift_bind_limits: bool = True) -> None:
        self.clock = VirtualClock(START)
        self.net = MemoryNetwork(self.clock)
        self.sink = sink
        self.current: ObservedProtocol | None = None
        self.observed: dict[int, ObservedProtocol] = {}        # by client port, while open
        self.watch: dict[int, weakref.ref[SmppConnection]] = {}  # by client port: leak check
        self._tmp = tempfile.TemporaryDirectory(prefix="smsc-fuzz-") if workdir is None else None
        self.workdir = Path(self._tmp.name) if self._tmp is not None else workdir
        self.targets: dict[str, Target] = {}
        self.harness: Harness | None = None
        self.operator: OperatorSmsc | None = None
        self._factories: dict[int, SmppFactory] = {}             # by listening port
        config = fuzz_config(lift_bind_limits)
        self.config = config
        if "server" in targets:
            store = Store(self.workdir / "fuzz.db", schedule=self.clock.callLater, flush_interval=STORE_FLUSH_INTERVAL)
            harness = self.settle(defer.ensureDeferred(start_harness(
                config, self.clock, store, self.listen, self.net.dial, port=0, link_clock=self.clock)), "start_harness")
            assert isinstance(harness, Harness)
            self.settle(harness.connectors_bound(), "the operator binds", seconds=60.0)
            self.harness = harness
            account = next(a for a in config.accounts if a.system_id == "demo")
            server = harness.server
            self.targets["server"] = Target(
                "server", harness.port, Credentials(account.system_id, account.password.plain or ""),
                self._session_config(harness.port), lambda: list(server.connections),
                lambda: [c for binds in server.binds.values() for c in binds])
        if "operator" in targets:
            op = config.operators[0]
            profile = operator_profile(op)
            behaviour = profile.behaviour
            if lift_bind_limits:
                behaviour = replace(behaviour, max_binds=FUZZ_OPERATOR_MAX_BINDS)
            profile = replace(profile, id=FUZZ_OPERATOR_ID, behaviour=behaviour)
            smsc = OperatorSmsc(profile, self.clock, seed=config.seed, test_numbers=config.test_numbers)
            port = self.settle(self.listen("127.0.0.1", 0, SmppFactory(self.clock, Role.SMSC, smsc)),
                               "the operator listen")
            self.operator = smsc
            number = port.getHost().port  # type: ignore[attr-defined]
            self.targets["operator"] = Target(
                "operator", number, Credentials(op.system_id, op.password), self._session_config(number),
                lambda: list(smsc.connections), lambda: list(smsc.binds))

    # --- wiring ---------------------------------------------------------------------------

    def listen(self, host: str, port: int, factory: SmppFactory) -> defer.Deferred[object]:
        handler = factory.handler
        if isinstance(handler, AggregatorServer):
            label = "server"
        elif isinstance(handler, OperatorSmsc):
            label = "operator" if handler.profile.id == FUZZ_OPERATOR_ID else f"{handler.profile.id} SMSC"
        else:
            label = type(handler).__name__
        def remember(listening: IListeningPort) -> IListeningPort:
            self._factories[listening.getHost().port] = factory   # type: ignore[attr-defined]
            return listening

        return self.net.listen(host, port, ObservedFactory(factory, self, label)).addCallback(remember)

    def _session_config(self, port: int) -> SessionConfig:
        return self._factories[port].config

    def built(self, observed: ObservedProtocol) -> None:
        self.observed[observed.peer_port] = observed
        if observed.label in ("server", "operator") and observed.inner is not None:
            self.watch[observed.peer_port] = weakref.ref(observed.inner)

    def released(self, observed: ObservedProtocol) -> None:
        if self.observed.get(observed.peer_port) is observed:
            del self.observed[observed.peer_port]

    def on_exception(self, error: Exception, observed: ObservedProtocol | None, data: bytes | None) -> None:
        self.sink.exception(error, observed, data)

    # --- the clock --------------------------------------------------------------------------

    def run_to(self, when: float) -> None:
        """Move the clock to `when`, each call at its own time. An exception that escapes a
        clock call (a timer, a Deferred callback) is a finding; the clock then goes on."""
        while True:
            try:
                self.clock.run_until(when)
                return
            except Exception as error:      # noqa: BLE001 - the oracle: nothing may escape
                if raised_by_fuzzer(error):
                    raise
                self.sink.exception(error, None, None)

    def advance(self, seconds: float) -> None:
        self.run_to(self.clock.seconds() + seconds)

    def settle(self, d: defer.Deferred[object], what: str, seconds: float = 10.0, step: float = 0.1) -> object:
        """Run the clock until `d` fires (at most `seconds`); its result, or raise."""
        box: list[object] = []
        d.addBoth(box.append)
        end = self.clock.seconds() + seconds
        while not box and self.clock.seconds() < end:
            self.advance(step)
        if not box:
            raise TimeoutError(f"{what} did not finish within {seconds:g} simulated s")
        if isinstance(box[0], Failure):
            box[0].raiseException()
        return box[0]

    def esme(self, target: Target) -> Esme:
        """A well-behaved client (the project's own Esme) connected to `target`."""
        esme = Esme(self.clock)
        conn = SmppConnection(Session(Role.ESME, SessionConfig(), self.clock.seconds()), self.clock, esme)
        self.settle(connectProtocol(self.net.dial("127.0.0.1", target.port), conn), "a fresh connection")
        return esme

    def inflight(self, port: int | None = None, operator: str | None = None) -> dict[str, list[str]]:
        """By operator: ids of the messages the aggregator has sent and not yet had answered,
        on the link with `port` at either end, or on every link of `operator`. When something
        goes wrong on an internal link, one of them is the likely cause. Reads the pools'
        internals, so it gives up quietly (nothing found) if they change."""
        found: dict[str, list[str]] = {}
        if self.harness is None:
            return found
        for op, pool in self.harness.pools.items():
            if operator is not None and op != operator:
                continue
            for connector in getattr(pool, "connectors", ()):
                conn = getattr(connector, "conn", None)
                transport = getattr(conn, "transport", None)
                if conn is None or transport is None:
                    continue
                ends = (getattr(transport.getHost(), "port", None), getattr(transport.getPeer(), "port", None))
                if port is not None and port not in ends:
                    continue
                for waiting in getattr(conn, "_waiting", {}).values():
                    if isinstance(waiting, tuple) and len(waiting) == 3:
                        found.setdefault(op, []).extend(
                            a.id for a in waiting[2] if isinstance(getattr(a, "id", None), str))
        return found

    def connect(self, target: Target, protocol: object) -> defer.Deferred[object]:
        return connectProtocol(self.net.dial("127.0.0.1", target.port), protocol)  # type: ignore[arg-type]

    # --- teardown ---------------------------------------------------------------------------

    def alive(self, ports: set[int]) -> list[int]:
        """Client ports among `ports` whose server-side SmppConnection is still in memory."""
        gc.collect()
        return sorted(p for p in ports if (ref := self.watch.get(p)) is not None and ref() is not None)

    def stop(self) -> None:
        if self.harness is not None:
            self.settle(defer.ensureDeferred(self.harness.stop()), "harness.stop()", seconds=700.0, step=1.0)
        if self.operator is not None:
            for conn in list(self.operator.connections):
                conn.close()
            self.operator.stop()
            self.advance(1.0)
        if self._tmp is not None:
            self._tmp.cleanup()


class WorldSink:
    """What a World reports to (the campaign implements it)."""

    def exception(self, error: Exception, observed: ObservedProtocol | None, data: bytes | None) -> None:
        raise error
