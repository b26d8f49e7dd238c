"""`smsc-harness sink` as a process (issue 13): one simulated operator SMSC alone, the server
`bench --mode sink` loads. Its first stdout line names the port; it binds, answers submits,
sends a receipt when asked (none with --no-receipts), and SIGTERM stops it with exit status 0
and a summary line on stderr. Every wait is bounded (socket timeouts, start_peer's)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest

from smsc.bench.peers import PeerError, Peer, start_peer, stop
from smsc.pdu.codec import Command, Pdu
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.pdu.status import CommandStatus
from tests.support.smpp_socket import SmppSocket
from tests.support.smpplib_client import smpplib_session

FIRST_LINE = re.compile(r"smsc-harness sink: SMPP on 127\.0\.0\.1:(\d+) \(system_id (\S+?)[;)]")


def start(*args: str) -> Peer:
    return start_peer([sys.executable, "-m", "cli", "sink", "--port", "0", *args], stderr=subprocess.PIPE)


def stopped(peer: Peer) -> tuple[int, str]:
    """Exit status and stderr, after SIGTERM."""
    status = stop(peer.process)
    assert peer.process.stderr is not None
    return status, peer.process.stderr.read().decode()


def submit(client: SmppSocket, registered_delivery: int) -> str:
    resp = client.request(Command.submit_sm, source_addr="Bench", source_addr_ton=5,
                          destination_addr="33612345678", dest_addr_ton=1, dest_addr_npi=1,
                          registered_delivery=registered_delivery, short_message=b"bench")
    assert resp.command_status == 0
    return str(resp["message_id"])


def test_sink_binds_answers_sends_the_receipt_asked_and_stops_on_sigterm() -> None:
    peer = start("--system-id", "demo", "--password", "demo")      # what smpplib_session binds with
    try:
        seen = smpplib_session(peer.port)                            # an independent client
        assert seen["bind"] is not None and seen["message_id"]
        receipt = seen["receipt"]
        assert f"id:{seen['message_id']}" in receipt.short_message.decode()   # type: ignore[attr-defined]
        assert "stat:DELIVRD" in receipt.short_message.decode()             # type: ignore[attr-defined]
    finally:
        status, err = stopped(peer)
    assert status == 0
    assert "Traceback" not in err
    assert "smsc-harness sink: accepted 1 submit_sm, refused 0, receipts sent 1" in err


def test_first_line_is_the_contract_and_credentials_are_checked() -> None:
    process = subprocess.Popen([sys.executable, "-m", "cli", "sink", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()             # bounded: the process prints it or exits
        found = FIRST_LINE.match(line)
        assert found is not None, line
        assert found.group(2) == "aggregator"
        client = SmppSocket("127.0.0.1", int(found.group(1)))
        try:
            assert client.bind("aggregator", "wrong").command_status == CommandStatus.ESME_RINVPASWD
            assert client.bind("nobody", "secret").command_status == CommandStatus.ESME_RINVSYSID
            assert client.bind("aggregator", "secret").command_status == 0
            ids = {submit(client, registered_delivery=0) for _ in range(5)}
            assert len(ids) == 5
            assert client.request(Command.enquire_link).command_status == 0
            assert client.request(Command.unbind).command_status == 0
        finally:
            client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert "accepted 5 submit_sm, refused 0, receipts sent 0" in (process.stderr.read() if process.stderr else "")


def test_receipts_are_sent_when_asked_and_only_then() -> None:
    peer = start("--receipts")
    try:
        client = SmppSocket(peer.host, peer.port)
        try:
            assert client.bind("aggregator", "secret").command_status == 0
            message_id = submit(client, registered_delivery=1)
            submit(client, registered_delivery=0)
            (receipt,) = client.await_delivery()
            assert is_receipt(receipt)
            parsed = parse_receipt(receipt)
            assert parsed is not None and parsed.message_id == message_id and parsed.stat == "DELIVRD"
            assert client.request(Command.unbind).command_status == 0
        finally:
            client.close()
    finally:
        status, err = stopped(peer)
    assert status == 0
    assert "accepted 2 submit_sm, refused 0, receipts sent 1" in err


def test_no_receipts_sends_none_even_when_asked() -> None:
    peer = start("--no-receipts")
    try:
        client = SmppSocket(peer.host, peer.port)
        try:
            assert client.bind("aggregator", "secret").command_status == 0
            for _ in range(3):
                submit(client, registered_delivery=1)
            assert client.request(Command.unbind).command_status == 0
            assert client.delivered == []
        finally:
            client.close()
    finally:
        status, err = stopped(peer)
    assert status == 0
    assert "accepted 3 submit_sm, refused 0, receipts sent 0" in err      # counted by the sink itself


def test_a_port_in_use_is_one_line_and_exit_status_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PeerError, match="exited before it listened"):
            start_peer([sys.executable, "-m", "cli", "sink", "--port", str(port)], stderr=subprocess.DEVNULL)
        done = subprocess.run([sys.executable, "-m", "cli", "sink", "--port", str(port)],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith(f"smsc-harness: sink: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
