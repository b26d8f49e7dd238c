"""The bench peers (smsc/bench/peers, issue 13) as processes: the raw responder answers what
its table says, the npm smpp 0.5.1 server answers a bind, submits, enquire_link and unbind
(skipped, with the reason, where node or npm is missing or the package cannot be installed),
and the start helpers fail with one clear message. Every wait is bounded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smsc.bench.peers import (
    NPM_SMPP_VERSION, Peer, PeerError, ensure_npm_smpp, start_npm_smpp, start_peer, start_responder, stop,
)
from smsc.pdu.codec import Command, Pdu
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.pdu.status import CommandStatus
from tests.support.smpp_socket import SmppSocket


def submit(client: SmppSocket, registered_delivery: int = 0) -> Pdu:
    return client.request(Command.submit_sm, source_addr="Bench", destination_addr="33612345678",
                          dest_addr_ton=1, dest_addr_npi=1, registered_delivery=registered_delivery,
                          short_message=b"bench")


def answers_the_bench_commands(peer: Peer) -> None:
    """Bind, submit_sm (distinct ids), enquire_link, unbind; the peer stops on SIGTERM with 0."""
    try:
        client = SmppSocket(peer.host, peer.port)
        try:
            assert client.bind("anyone", "any").command_status == 0
            resps = [submit(client) for _ in range(3)]
            assert [r.command for r in resps] == [Command.submit_sm_resp] * 3
            assert all(r.command_status == 0 for r in resps)
            assert len({r["message_id"] for r in resps}) == 3
            assert client.request(Command.enquire_link).command == Command.enquire_link_resp
            assert client.request(Command.unbind).command == Command.unbind_resp
            assert client.delivered == []
        finally:
            client.close()
    finally:
        assert stop(peer.process) == 0


def test_responder_answers_bind_submit_enquire_link_unbind() -> None:
    answers_the_bench_commands(start_responder())


def test_responder_nacks_other_requests_and_ignores_responses() -> None:
    peer = start_responder()
    try:
        client = SmppSocket(peer.host, peer.port)
        try:
            for bind in (Command.bind_transmitter, Command.bind_receiver, Command.bind_transceiver):
                assert client.bind("x", "y", bind).command == Command(bind | 0x80000000)
            client.send_raw(b"\x00\x00\x00\x11\x80\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x07\x00")  # a deliver_sm_resp
            nack = client.request(Command.query_sm, message_id="1", source_addr="1")
            assert nack.command is Command.generic_nack and nack.command_status == CommandStatus.ESME_RINVCMDID
            assert client.request(Command.unbind).command is Command.unbind_resp
            with pytest.raises(EOFError):                         # it closes after unbind_resp
                client.read()
        finally:
            client.close()
    finally:
        assert stop(peer.process) == 0


def test_start_peer_says_why_a_peer_did_not_start() -> None:
    with pytest.raises(PeerError, match="exited before it listened"):
        start_peer([sys.executable, "-c", "pass"])
    with pytest.raises(PeerError, match="unexpected first line 'hello'"):
        start_peer([sys.executable, "-c", "print('hello')"])
    with pytest.raises(PeerError, match="said nothing within 0.5 s"):
        start_peer([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_npm_peer_without_node_or_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))                     # neither node nor npm there
    with pytest.raises(PeerError, match="node is not on PATH"):
        start_npm_smpp(tmp_path / "cache")
    with pytest.raises(PeerError, match="npm is not on PATH"):
        ensure_npm_smpp(tmp_path / "cache")


@pytest.fixture(scope="module")
def npm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """npm smpp installed once for this module, or the tests skipped with the reason."""
    cache = tmp_path_factory.mktemp("npm")
    try:
        ensure_npm_smpp(cache)
    except PeerError as error:
        pytest.skip(f"npm smpp {NPM_SMPP_VERSION} unavailable: {error}")
    return cache


def test_npm_smpp_peer_answers_bind_submit_enquire_link_unbind(npm_cache: Path) -> None:
    assert ensure_npm_smpp(npm_cache) == npm_cache / "node_modules"           # installed once, found again
    try:
        peer = start_npm_smpp(npm_cache)
    except PeerError as error:
        pytest.skip(f"node cannot run the npm smpp peer: {error}")
    answers_the_bench_commands(peer)


def test_npm_smpp_peer_sends_receipts_when_asked(npm_cache: Path) -> None:
    try:
        peer = start_npm_smpp(npm_cache, receipts=True)
    except PeerError as error:
        pytest.skip(f"node cannot run the npm smpp peer: {error}")
    try:
        client = SmppSocket(peer.host, peer.port)
        try:
            assert client.bind("anyone", "any").command_status == 0
            message_id = submit(client, registered_delivery=1)["message_id"]
            submit(client, registered_delivery=0)
            (receipt,) = client.await_delivery()
            parsed = parse_receipt(receipt)
            assert is_receipt(receipt) and parsed is not None
            assert parsed.message_id == message_id and parsed.stat == "DELIVRD"
            assert client.request(Command.unbind).command == Command.unbind_resp
        finally:
            client.close()
    finally:
        assert stop(peer.process) == 0
