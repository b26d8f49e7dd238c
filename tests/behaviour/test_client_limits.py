"""Issue 10, point 3: no client can exhaust the server (the parts that are about time).

On the in-memory network and the virtual clock, with exact times: unbound and half-sent
connections are closed on time, failed binds are rate-limited per source address and per
system_id, connection caps refuse the excess with a log line, and accepted messages that
cannot be committed yet are capped.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

from smsc.pdu.codec import Command, encode, make
from smsc.pdu.status import CommandStatus
from tests.support.memstack import MemStack
from tests.support.network import default_network_text

TWO_ACCOUNTS = default_network_text().replace(
    "accounts:\n", "accounts:\n  - {system_id: other, password: other}\n", 1)


@pytest.fixture
def logged():  # type: ignore[no-untyped-def]
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def texts(events: list[dict[str, object]]) -> list[str]:
    from twisted.logger import formatEvent
    return [formatEvent(e) for e in events]


def test_a_connection_that_does_not_bind_is_closed_after_10_s(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    idle = stack.connect()
    stack.run(9.9)
    assert idle.closed is None
    stack.run(0.2)
    assert idle.closed is not None
    stack.stop()


def test_a_pdu_that_stops_halfway_closes_its_connection_after_10_s_and_only_it(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    stuck, other = stack.client(), stack.client()
    frame = encode(make(Command.enquire_link, 99))
    stuck.conn.transport.write(frame + frame[:10])          # a whole PDU, then 10 octets of the next
    stack.run(9.9)
    assert stuck.closed is None
    stack.run(0.2)
    assert stuck.closed is not None and other.closed is None
    assert stack.wait(other.submit("+33612345678")).command_status == 0
    stack.stop()


def test_before_the_bind_a_frame_announced_larger_than_a_bind_closes_at_once(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    big = stack.connect()
    big.conn.transport.write(struct.pack("!IIII", 60_000, Command.bind_transceiver, 0, 1))
    stack.run(0.001)
    assert big.closed is not None                          # not 60 KB held for 10 s
    stack.stop()


def test_failed_binds_are_rate_limited_per_source_address(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    guesser = stack.connect(source="127.0.0.2")
    statuses = [stack.wait(guesser.bind(password="wrong")).command_status for _ in range(10)]
    assert statuses == [CommandStatus.ESME_RINVPASWD] * 10
    # the address has used its burst: even the right password is refused, without being checked
    assert stack.wait(guesser.bind()).command_status == CommandStatus.ESME_RBINDFAIL
    # another address binds the same account
    assert stack.wait(stack.connect(source="127.0.0.3").bind()).command_status == CommandStatus.ESME_ROK
    stack.run(1.0)                                         # one more try a second
    assert stack.wait(guesser.bind()).command_status == CommandStatus.ESME_ROK
    stack.stop()


def test_failed_binds_are_rate_limited_per_system_id_whatever_the_addresses(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db", TWO_ACCOUNTS)
    for i in range(20):                                    # 20 addresses, one wrong guess each
        client = stack.connect(source=f"127.0.1.{i}")
        assert stack.wait(client.bind(password="wrong")).command_status == CommandStatus.ESME_RINVPASWD
    fresh = stack.connect(source="127.0.2.1")
    assert stack.wait(fresh.bind()).command_status == CommandStatus.ESME_RBINDFAIL
    assert stack.wait(fresh.bind("other", "other")).command_status == CommandStatus.ESME_ROK
    stack.stop()


def test_connection_caps_refuse_the_excess_with_a_log_line(tmp_path: Path, logged) -> None:  # type: ignore[no-untyped-def]
    config = TWO_ACCOUNTS + "\nlimits: {max_connections: 6, max_connections_per_address: 3}\n"
    stack = MemStack.start(tmp_path / "s.db", config)
    flood = [stack.connect(source="127.0.0.9") for _ in range(5)]
    stack.run(0.001)
    assert [c.closed is None for c in flood] == [True, True, True, False, False]
    assert any("refusing connections: 3 connections from that address (limit 3)" in t for t in texts(logged))
    others = [stack.connect(source=f"127.0.0.{20 + i}") for i in range(4)]
    stack.run(0.001)
    assert [c.closed is None for c in others] == [True, True, True, False]     # 6 in all
    for client in flood[:3]:
        client.conn.transport.loseConnection()
    stack.run(0.001)
    late = stack.connect(source="127.0.0.30")
    assert stack.wait(late.bind()).command_status == CommandStatus.ESME_ROK   # slots come back
    stack.stop()


def test_accepted_messages_waiting_for_their_commit_are_capped(tmp_path: Path) -> None:
    config = TWO_ACCOUNTS + "\nlimits: {max_uncommitted: 3}\n"
    stack = MemStack.start(tmp_path / "s.db", config)
    client = stack.client(window=10)
    stack.run(1.0)                                         # the store has committed what came before
    sent = [client.submit("+33612345678") for _ in range(5)]     # all in one instant: one batch
    statuses = [stack.wait(d).command_status for d in sent]
    assert statuses == [0, 0, 0, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RMSGQFUL]
    stack.run(1.0)
    assert stack.wait(client.submit("+33612345678")).command_status == 0
    stack.stop()


def test_an_unbind_frees_the_bind_slot_before_the_connection_is_gone(tmp_path: Path) -> None:
    """With 0.1 s links: A's unbind reaches the server at the same instant as B's bind, and A's
    connection closes only 0.1 s later. B gets the account's one slot (before, A kept it until
    its connection was gone: for ever, for a client that never reads)."""
    stack = MemStack.start(tmp_path / "s.db", TWO_ACCOUNTS.replace("max_binds: 8", "max_binds: 1"), latency=0.1)
    first = stack.client()
    second = stack.connect()
    first.conn.unbind()
    bound = second.bind()
    stack.run(0.15)                          # both reached the server at +0.1 s; A's close is not done
    assert len(stack.harness.server.connections) == 2 and first.closed is None
    assert stack.wait(bound).command_status == CommandStatus.ESME_ROK
    stack.stop()


def test_deliver_windows_follow_the_config(tmp_path: Path) -> None:
    """limits.deliver_window is the deliver_sm window of the client-facing binds; an operator
    SMSC's own `smsc.window` holds both ways on its links, so it keeps that many receipts outstanding to us
    (each deliver_sm_resp waits for a commit: a window of 10 kept receipts far behind the
    submits under load, issue 13). The defaults stay 10."""
    stack = MemStack.start(tmp_path / "d.db")
    client = stack.client()
    assert client.closed is None
    (bound,) = stack.harness.server.binds["demo"]
    assert bound.session.config.window == 10
    assert {c.session.config.window for smsc in stack.harness.operators.values() for c in smsc.binds} == {10}
    stack.stop()
    config = (default_network_text().replace("    window: 10\n", "    window: 25\n")
              .replace("      window: 10 ", "      window: 25 ") + "\nlimits: {deliver_window: 30}\n")
    stack = MemStack.start(tmp_path / "e.db", config)
    client = stack.client()
    (bound,) = stack.harness.server.binds["demo"]
    assert bound.session.config.window == 30
    assert {c.session.config.window for smsc in stack.harness.operators.values() for c in smsc.binds} == {25}
    stack.stop()
