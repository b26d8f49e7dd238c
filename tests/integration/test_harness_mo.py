"""`Harness.inject_mo`, the one way in for an MO (control API's POST /mo and a scenario's `mo`
step), on the in-memory stack: the subscriber's number is routed as a person writes it, and
the operator sends the E.164 number it routed."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.routing import RoutingError
from smsc.operators.smsc import MoRefused
from smsc.pdu.codec import Command
from tests.support.memstack import MemStack


@pytest.mark.parametrize("source", ["+33612345678", "+330612345678", "0612345678", "33612345678"])
def test_an_mo_leaves_from_the_routed_number(tmp_path: Path, source: str) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    client = stack.client()
    route = stack.harness.inject_mo(source, "36180", "STOP")
    stack.until(lambda: client.delivered, "the MO")
    assert route.msisdn == "+33612345678"
    (_, pdu), = client.delivered
    assert pdu.command is Command.deliver_sm
    assert (pdu["source_addr"], pdu["source_addr_ton"], pdu["destination_addr"], pdu["short_message"]) == \
        ("33612345678", 1, "36180", b"STOP")
    stack.stop()


def test_an_mo_no_operator_serves_or_smpp_cannot_carry_is_refused(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    with pytest.raises(RoutingError):
        stack.harness.inject_mo("+12025550123", "36180", "STOP")
    with pytest.raises(MoRefused):
        stack.harness.inject_mo("+33612345678", "3" * 21, "STOP")
    stack.stop()
