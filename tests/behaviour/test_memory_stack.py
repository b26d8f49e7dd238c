"""The whole stack in memory on a task.Clock: operator SMSCs, pools, client server, a client.

`start_harness` gets `MemoryNetwork.listen` / `.dial` instead of TCP (tests/support/memstack.py
`MemStack`), so the same wiring and the same protocol code run with no socket and no reactor; a day of traffic (the magic numbers
of the default network, through 24 h of validity) replays in about a second, and replaying it
again in a fresh stack gives the same PDUs at the same clock times and the same history in the
store (the groundwork of scenario replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from twisted.internet.task import Clock

from aggregator.store import MessageState
from smsc.memory import run_until
from smsc.pdu.codec import Command, Pdu, decode
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.pdu.status import CommandStatus
from tests.support.memstack import MemStack

START = 1_795_982_400.0                    # 2026-11-29T20:00:00Z
DAY = 86_400.0
REPLAY = DAY + 300.0                       # the validity, then a few minutes for the last receipt
STEP = 10.0
SHORT_CODE = "36180"

# number -> (stat, err) of its one receipt; extra submit_sm params
MAGIC: dict[str, tuple[tuple[str, str], dict[str, str | int]]] = {
    "+33612345678": (("DELIVRD", "000"), {}),
    "+33699990001": (("UNDELIV", "001"), {}),
    "+33699990003": (("EXPIRED", "027"), {}),
    "+33699990007": (("DELIVRD", "000"), {"source_addr": SHORT_CODE, "source_addr_ton": 3}),
}


@dataclass(frozen=True, slots=True)
class Received:
    """One PDU the client received: when, what, and the fields a reader checks."""

    at: float
    command: str
    sequence_number: int
    command_status: int
    fields: tuple[tuple[str, str], ...]
    frame: bytes


@dataclass(frozen=True, slots=True)
class Replay:
    message_ids: dict[str, str]            # number -> our message_id
    received: tuple[Received, ...]
    events: tuple[tuple[str, int, float, str, str], ...]   # message_events: id, seq, at, state, detail
    mos: tuple[tuple[str, str, str, bytes, float], ...]
    final_states: dict[str, MessageState]
    port: int
    stops: int


def key_fields(pdu: Pdu) -> tuple[tuple[str, str], ...]:
    names = {
        Command.submit_sm_resp: ("message_id",),
        Command.bind_transceiver_resp: ("system_id",),
        Command.deliver_sm: ("source_addr", "destination_addr", "esm_class", "short_message"),
    }.get(pdu.command, ())
    return tuple((name, repr(pdu[name])) for name in names)




def by_events(clock: Clock, seconds: float) -> int:
    """Each call at its own time (see smsc.memory.run_until)."""
    return run_until(clock, clock.seconds() + seconds)


def plain(clock: Clock, seconds: float) -> int:
    """task.Clock.advance as is: everything due runs at the end of the step."""
    clock.advance(seconds)
    return 1


def replay(db: Path, stepper: Callable[[Clock, float], int]) -> Replay:
    """One fresh stack in memory on a plain task.Clock (so that `plain` steps as Twisted's own
    clock does); the magic numbers; 24 h and some minutes in 10 s steps."""
    clock = Clock()
    clock.advance(START)
    stack = MemStack.start(db, clock=clock)
    client = stack.client()

    resps = {number: client.submit(number, b"hello", **params)  # type: ignore[arg-type]
             for number, (_, params) in MAGIC.items()}
    message_ids: dict[str, str] = {}
    for number, sent in resps.items():
        resp = stack.wait(sent, f"the submit to {number}")  # type: ignore[arg-type]
        assert isinstance(resp, Pdu) and resp.command_status == CommandStatus.ESME_ROK, resp
        message_ids[number] = str(resp["message_id"])

    stops = 0
    end = START + REPLAY
    while clock.seconds() < end:
        stops += stepper(clock, min(STEP, end - clock.seconds()))

    store = stack.store
    events = tuple((e.message_id, e.seq, e.at, e.state.value, e.detail)
                   for record in store.messages() for e in store.history(record.id))
    mos = tuple((m.source_addr, m.destination_addr, m.account or "", m.short_message, m.received_at)
                for m in store.mos())
    final = {number: store.message(mid).state for number, mid in message_ids.items()}  # type: ignore[union-attr]
    stack.wait(client.unbind(), "the client's unbind")
    stack.stop()
    assert clock.getDelayedCalls() == [], "something still waits on the clock after stop()"
    received = []
    for at, frame in client.frames:
        pdu = decode(frame)
        assert isinstance(pdu, Pdu), pdu
        received.append(Received(at, pdu.command.name, pdu.sequence_number, pdu.command_status, key_fields(pdu), frame))
    return Replay(message_ids, tuple(received), events, mos, final, stack.port, stops)


@pytest.fixture(params=[by_events, plain], ids=["by_events", "plain_advance"])
def stepper(request: pytest.FixtureRequest) -> Callable[[Clock, float], int]:
    return request.param  # type: ignore[no-any-return]


def test_a_day_of_magic_numbers_in_memory_is_deterministic(tmp_path: Path,
                                                           stepper: Callable[[Clock, float], int]) -> None:
    first = replay(tmp_path / "m.db", stepper)
    second = replay(tmp_path / "again.db", stepper)

    # Determinism: the same PDUs at the same clock times, the same history in the store.
    assert [r.frame for r in first.received] == [r.frame for r in second.received]
    assert first.received == second.received
    assert first.events == second.events
    assert first.mos == second.mos and first.message_ids == second.message_ids

    # No sockets: every address is a MemoryNetwork counter.
    assert first.port == 10004

    # Each submit_sm_resp came before any receipt, and each message got exactly one receipt.
    received = first.received
    receipts = [(i, r) for i, r in enumerate(received) if r.command == "deliver_sm" and dict(r.fields)["esm_class"] == "4"]
    resp_index = {dict(r.fields)["message_id"].strip("'"): i for i, r in enumerate(received)
                  if r.command == "submit_sm_resp"}
    stats: dict[str, list[tuple[str, str, float]]] = {}
    for i, r in receipts:
        pdu = decode(r.frame)
        assert isinstance(pdu, Pdu) and is_receipt(pdu)
        receipt = parse_receipt(pdu)
        assert receipt is not None
        assert resp_index[receipt.message_id] < i
        stats.setdefault(receipt.message_id, []).append((receipt.stat, receipt.err, r.at))
    assert {mid: [(stat, err) for stat, err, _ in got] for mid, got in stats.items()} == {
        first.message_ids[number]: [outcome] for number, (outcome, _) in MAGIC.items()}
    assert first.final_states == {
        "+33612345678": MessageState.DELIVERED, "+33699990001": MessageState.UNDELIVERABLE,
        "+33699990003": MessageState.EXPIRED, "+33699990007": MessageState.DELIVERED}

    # The MOs: +33699990007 answers STOP to the numeric source, and it reaches the client; it
    # answers R1's confirmation of its opt-out (from the short code) with STOP again, the last.
    mos = [r for r in received if r.command == "deliver_sm" and dict(r.fields)["esm_class"] == "0"]
    assert [(dict(m.fields)["source_addr"], dict(m.fields)["destination_addr"], dict(m.fields)["short_message"])
            for m in mos] == [("'33699990007'", f"'{SHORT_CODE}'", "b'STOP'")] * 2
    assert [(source, destination, account, text) for source, destination, account, text, _ in first.mos] == [
        ("33699990007", SHORT_CODE, "demo", b"STOP")] * 2

    if stepper is by_events:
        # Every call ran at its own time: the receipts at the times the operator model says.
        at = {number: stats[first.message_ids[number]][0][2] - START for number in MAGIC}
        assert at == {"+33612345678": 0.0, "+33699990001": 1.0, "+33699990003": DAY, "+33699990007": 1.0}
        assert 2.0 <= mos[0].at - START <= 5.0
        assert [e[2] - START for e in first.events if e[0] == first.message_ids["+33699990003"]] == [0.0, 0.0, DAY]
