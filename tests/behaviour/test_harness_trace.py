"""`start_harness(trace=...)`: the per-message info lines (`serve` at its default level) are built
only when asked for, by the operator SMSCs, the client server and the delivery engine alike;
the flag is passed in, never a module-level switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.logger import LogLevel, globalLogPublisher

from tests.support.memstack import MemStack


@pytest.mark.parametrize("trace", [False, True])
def test_per_message_lines_only_with_trace(tmp_path: Path, trace: bool) -> None:
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        stack = MemStack.start(tmp_path / "s.db", trace=trace)
        client = stack.client()
        stack.wait(client.submit("+33612345678"))
        stack.until(lambda: len(client.delivered) == 1, "the receipt")
        stack.stop()
    finally:
        globalLogPublisher.removeObserver(events.append)
    # a per-message line names its message as "id" (start-up lines of the harness name an operator so)
    per_message = {e["log_namespace"] for e in events
                   if e.get("log_level") is LogLevel.info and "id" in e and e["log_namespace"] != "aggregator.harness"}
    assert per_message == ({"smsc.operator", "aggregator.server", "aggregator.delivery"} if trace else set())
