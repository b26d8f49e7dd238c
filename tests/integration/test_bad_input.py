"""Bad input never kills the service: each case is answered or closes only its own connection."""

from __future__ import annotations

import struct

import pytest_twisted

from aggregator.harness import Harness
from smsc.pdu.codec import Command, Pdu, encode, make
from smsc.pdu.status import CommandStatus
from tests.support.raw import RawPeer, connect_raw

TIMEOUT = 10.0


def _reactor():  # type: ignore[no-untyped-def]
    from twisted.internet import reactor
    return reactor


async def bound_raw(port: int, mode: Command = Command.bind_transceiver) -> RawPeer:
    peer = await connect_raw(_reactor(), port)
    peer.send(make(mode, 1, system_id="demo", password="demo", interface_version=0x34))
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and resp.command_status == CommandStatus.ESME_ROK
    return peer


async def still_alive(peer: RawPeer, seq: int) -> None:
    peer.send(make(Command.enquire_link, seq))
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and (resp.command, resp.sequence_number) == (Command.enquire_link_resp, seq)


@pytest_twisted.ensureDeferred
async def test_wrong_password_then_right_one_binds_on_the_same_connection(harness: Harness) -> None:
    peer = await connect_raw(_reactor(), harness.port)
    peer.send(make(Command.bind_transceiver, 1, system_id="demo", password="wrong"))
    refused = await peer.next_pdu()
    assert isinstance(refused, Pdu) and refused.command_status == CommandStatus.ESME_RINVPASWD
    assert refused.sequence_number == 1
    peer.send(make(Command.bind_transceiver, 2, system_id="nobody", password="demo"))
    unknown = await peer.next_pdu()
    assert isinstance(unknown, Pdu) and unknown.command_status == CommandStatus.ESME_RINVSYSID
    peer.send(make(Command.bind_transceiver, 3, system_id="demo", password="demo"))
    bound = await peer.next_pdu()
    assert isinstance(bound, Pdu) and bound.command_status == CommandStatus.ESME_ROK
    assert bound["system_id"]
    peer.close()


@pytest_twisted.ensureDeferred
async def test_unknown_command_id_gets_generic_nack_and_the_session_works(harness: Harness) -> None:
    peer = await bound_raw(harness.port)
    peer.send(struct.pack("!IIII", 16, 0x0000_0077, 0, 4242))
    nack = await peer.next_pdu()
    assert isinstance(nack, Pdu)
    assert (nack.command, nack.sequence_number, nack.command_status) == (
        Command.generic_nack, 4242, CommandStatus.ESME_RINVCMDID)
    await still_alive(peer, 4243)
    peer.send(make(Command.submit_sm, 4244, dest_addr_ton=1, destination_addr="33612345678", short_message=b"ok"))
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and resp.command_status == CommandStatus.ESME_ROK
    peer.close()


@pytest_twisted.ensureDeferred
async def test_enquire_link_answered_and_unbind_clean(harness: Harness) -> None:
    peer = await bound_raw(harness.port)
    await still_alive(peer, 7)
    peer.send(make(Command.unbind, 8))
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and (resp.command, resp.sequence_number, resp.command_status) == (
        Command.unbind_resp, 8, CommandStatus.ESME_ROK)
    await peer.closed.addTimeout(TIMEOUT, _reactor())         # the server closes after unbind_resp


@pytest_twisted.ensureDeferred
async def test_truncated_body_gets_an_error_status_and_the_session_goes_on(harness: Harness) -> None:
    peer = await bound_raw(harness.port)
    wire = encode(make(Command.submit_sm, 30, dest_addr_ton=1, destination_addr="33612345678",
                       short_message=b"y" * 80))
    peer.send(struct.pack("!I", 36) + wire[4:36])       # the body stops before priority_flag
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu)
    assert (resp.command, resp.sequence_number, resp.command_status) == (
        Command.submit_sm_resp, 30, CommandStatus.ESME_RINVCMDLEN)
    await still_alive(peer, 31)
    peer.send(struct.pack("!I", 45) + wire[4:45])       # sm_length says 80, one octet follows
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and resp.command_status == CommandStatus.ESME_RINVMSGLEN
    await still_alive(peer, 32)
    peer.close()


@pytest_twisted.ensureDeferred
async def test_bad_command_length_closes_only_that_connection(harness: Harness) -> None:
    other = await bound_raw(harness.port)
    for bad_length in (8, 1_000_000):
        peer = await bound_raw(harness.port)
        peer.send(struct.pack("!IIII", bad_length, Command.enquire_link, 0, 5))
        await peer.closed.addTimeout(TIMEOUT, _reactor())
    await still_alive(other, 2)
    other.close()


@pytest_twisted.ensureDeferred
async def test_submit_from_a_receiver_bind_is_refused_with_rinvbndsts(harness: Harness) -> None:
    peer = await bound_raw(harness.port, Command.bind_receiver)
    peer.send(make(Command.submit_sm, 2, dest_addr_ton=1, destination_addr="33612345678"))
    resp = await peer.next_pdu()
    assert isinstance(resp, Pdu) and resp.command_status == CommandStatus.ESME_RINVBNDSTS
    await still_alive(peer, 3)
    peer.close()


@pytest_twisted.ensureDeferred
async def test_garbage_bytes_then_a_good_client_is_served(harness: Harness) -> None:
    peer = await connect_raw(_reactor(), harness.port)
    peer.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")   # "GET " as a length is far above the maximum
    await peer.closed.addTimeout(TIMEOUT, _reactor())
    good = await bound_raw(harness.port)
    await still_alive(good, 2)
    good.close()
