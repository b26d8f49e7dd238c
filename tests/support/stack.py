"""Helpers for full-stack tests: a harness on a virtual clock over real TCP, and a bound client.

The harness's clock (simulated time and session timers) is a `task.Clock` that only moves when
a test advances it, while bytes travel over real TCP on 127.0.0.1 through the real reactor.
So a test can jump 24 hours without waiting, and still exercise the real sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from twisted.internet import defer, task

from aggregator.config import NetworkConfig, load_config, parse_config
from aggregator.harness import Harness, start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
from aggregator.store import Store
from smsc.esme import Esme, connect_esme
from smsc.pdu.codec import Pdu
from smsc.session import SessionConfig

TIMEOUT = 15.0
START = 1_795_982_400.0                    # 2026-11-29T20:00:00Z, a Sunday evening


def reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor as global_reactor
    return global_reactor


async def pause(seconds: float = 0.01) -> None:
    await task.deferLater(reactor(), seconds, lambda: None)


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT,
                clock: task.Clock | None = None, tick: float = 0.0) -> None:
    """Let the real reactor carry bytes until `condition()` holds (bounded). With a clock, run
    the calls already due on it as bytes arrive, moving simulated time `tick` seconds per
    round: after a big jump the links may be re-binding on backoff timers of that clock, and
    only moving time lets them finish (0 keeps time still, for exact timings)."""
    for _ in range(int(timeout / 0.01)):
        if clock is not None:
            clock.advance(tick)
        if condition():
            return
        await pause()
    raise AssertionError(f"timed out waiting for {what}")


async def advance(clock: task.Clock, seconds: float, step: float = 1.0) -> None:
    """Move simulated time in steps, letting TCP traffic flow between steps."""
    moved = 0.0
    while moved < seconds:
        delta = min(step, seconds - moved)
        clock.advance(delta)
        moved += delta
        await pause(0.002)


async def settle_links(harness: Harness, clock: task.Clock) -> None:
    """After jumps of simulated time (which idle-close links whose keepalives could not cross
    real TCP in time), let every operator pool bind again before time moves on finely."""
    await until(lambda: all(any(c.ready for c in pool.connectors) for pool in harness.pools.values()),
                "every operator pool bound again", clock=clock, tick=0.25)


async def start_stack(db: Path, config: NetworkConfig | str | None = None,
                      clock: task.Clock | None = None) -> tuple[Harness, task.Clock]:
    if isinstance(config, str):
        config = parse_config(config, "<test>")
    elif config is None:
        config = load_config()
    if clock is None:
        clock = task.Clock()
        clock.advance(START)
    store = Store(db, schedule=reactor().callLater, call_from_thread=reactor().callFromThread)
    harness = await start_harness(config, clock, store, tcp_listen(reactor()), tcp_dial(reactor()), port=0,
                                  link_clock=clock, listen_tls=tls_listen(reactor()), dial_tls=tls_dial(reactor()),
                                  tls_port=0)
    bound = harness.connectors_bound()
    await until(lambda: bound.called, "operator binds")
    return harness, clock


async def bound_client(harness: Harness, mode: str = "transceiver", system_id: str = "demo",
                       password: str = "demo", window: int = 10) -> Esme:
    esme = await connect_esme(reactor(), "127.0.0.1", harness.port, SessionConfig(window=window))
    resp = await esme.bind(system_id, password, mode).addTimeout(TIMEOUT, reactor())
    assert resp.command_status == 0, resp
    return esme


async def submit_all(esme: Esme, destinations: list[str], **params: object) -> list[Pdu]:
    """Submit to every destination, keeping within the client's window; returns the resps."""
    assert esme.conn is not None
    resps: list[Pdu] = []
    pending: list[defer.Deferred[Pdu]] = []
    for destination in destinations:
        while esme.conn.session.window_available == 0:
            resps.append(await pending.pop(0).addTimeout(TIMEOUT, reactor()))
        pending.append(esme.submit(destination, **params))  # type: ignore[arg-type]
    for waiting in pending:
        resps.append(await waiting.addTimeout(TIMEOUT, reactor()))
    return resps


def drain(esme: Esme) -> list[Pdu]:
    """Everything delivered to the client so far, without waiting."""
    out: list[Pdu] = []
    while esme.delivered.pending:
        esme.delivered.get().addCallback(out.append)
    return out


async def close(esme: Esme) -> None:
    if esme.conn is not None and not esme.closed.called:
        esme.conn.close()
        await esme.closed.addTimeout(TIMEOUT, reactor())
