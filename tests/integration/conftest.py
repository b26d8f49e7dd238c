"""Real stack on real TCP (127.0.0.1, ephemeral ports) with a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest_twisted

from aggregator.config import load_config
from aggregator.harness import Harness, start_harness, tcp_dial, tcp_listen
from aggregator.store import Store

TIMEOUT = 10.0


@pytest_twisted.async_yield_fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    from twisted.internet import reactor                 # only tests and cli/ see it
    store = Store(tmp_path / "harness.db", schedule=reactor.callLater, call_from_thread=reactor.callFromThread)
    running = await start_harness(load_config(), reactor, store, tcp_listen(reactor), tcp_dial(reactor), port=0)
    await running.connectors_bound().addTimeout(TIMEOUT, reactor)
    try:
        yield running
    finally:
        await running.stop()
