"""A real `smsc-harness serve` process, over real TCP: 20 messages to random valid French
mobiles each get one submit_sm_resp and a final receipt (the first 20 receipts carry the 20
ids), and the control API then counts nothing unfinished. (The 1,000-message acceptance test of issue 4 runs the same stack
on the virtual network, where it also shows that no receipt comes twice:
tests/behaviour/test_thousand_messages.py.)

serve runs with --speed 1000000, the most it takes: the 24 h validity of the slowest messages
passes in under a tenth of a second of real time. The test waits for the process (its banner,
its receipts), each wait bounded, never for simulated time.
"""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import defer, task, threads

from smsc.esme import connect_esme
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.session import SessionConfig
from tests.support.numbers import random_french_mobiles
from tests.support.serve import control_get, read_full_banner, start_serve, stop_serve

COUNT = 20
TIMEOUT = 30.0                        # real seconds for any one wait on the process


@pytest_twisted.ensureDeferred
async def test_twenty_messages_through_serve_each_get_one_resp_and_one_final_receipt(tmp_path: Path) -> None:
    from twisted.internet import reactor
    numbers = random_french_mobiles(COUNT)
    process = start_serve(tmp_path, "--speed", "1000000", "--db", str(tmp_path / "serve.db"), "--log-level", "warn")
    try:
        banner = await threads.deferToThread(read_full_banner, process).addTimeout(TIMEOUT, reactor)
        esme = await connect_esme(reactor, "127.0.0.1", banner.smpp_port, SessionConfig(window=COUNT))
        assert (await esme.bind("demo", "demo", "transceiver").addTimeout(TIMEOUT, reactor)).command_status == 0
        resps = await defer.gatherResults([
            esme.submit(number.lstrip("+"), b"Votre code est 1234", registered_delivery=1, source_addr="MyShop",
                        source_addr_ton=5) for number in numbers]).addTimeout(TIMEOUT, reactor)
        assert len(resps) == COUNT and all(r.command_status == 0 for r in resps)
        ids = [str(r["message_id"]) for r in resps]
        assert len(set(ids)) == COUNT

        receipts = []
        while len(receipts) < COUNT:                          # each get bounded by TIMEOUT
            pdu = await esme.delivered.get().addTimeout(TIMEOUT, reactor)
            if is_receipt(pdu):
                receipts.append(parse_receipt(pdu))
        assert sorted(r.message_id for r in receipts if r) == sorted(ids)

        # /status counts what is committed, and a receipt may reach the client just before the
        # store's writer thread commits its message's last states: wait for that commit.
        waited = 0.0
        while True:
            status = await threads.deferToThread(control_get, banner)       # with serve's token
            assert isinstance(status, dict)
            messages = status["messages"]
            if not (isinstance(messages, dict) and (messages["accepted"] or messages["submitted"])) \
                    or waited >= TIMEOUT:
                break
            await task.deferLater(reactor, 0.1)
            waited += 0.1
        assert isinstance(messages, dict) and messages["accepted"] == 0 and messages["submitted"] == 0
        assert sum(messages.values()) == COUNT
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        stop_serve(process)
