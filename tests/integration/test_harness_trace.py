"""`start_harness(trace=...)`: the per-message debug lines (`serve --log-level debug`) are built
only when asked for, by the operator SMSCs, the client server and the delivery engine alike;
the flag is passed in, never a module-level switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.logger import LogLevel, globalLogPublisher

from aggregator.config import load_config
from aggregator.harness import start_harness
from aggregator.store import Store
from smsc.memory import MemoryNetwork
from smsc.virtualclock import VirtualClock
from tests.support.memstack import START, MemStack


@pytest.mark.parametrize("trace", [False, True])
def test_per_message_lines_only_with_trace(tmp_path: Path, trace: bool) -> None:
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        clock = VirtualClock()
        clock.advance(START)
        net = MemoryNetwork(clock)
        store = Store(tmp_path / "s.db", schedule=clock.callLater, flush_interval=0.005)
        stack = MemStack(clock, net, None)  # type: ignore[arg-type]
        stack.harness = stack.wait(defer.ensureDeferred(start_harness(  # type: ignore[assignment]
            load_config(), clock, store, net.listen, net.dial, port=0, link_clock=clock, trace=trace)))
        stack.wait(stack.harness.connectors_bound())
        client = stack.client()
        stack.wait(client.submit("+33612345678"))
        stack.until(lambda: len(client.delivered) == 1, "the receipt")
        stack.stop()
    finally:
        globalLogPublisher.removeObserver(events.append)
    per_message = {e["log_namespace"] for e in events
                   if e.get("log_level") is LogLevel.debug and "id" in e}
    assert per_message == ({"smsc.operator", "aggregator.server", "aggregator.delivery"} if trace else set())
