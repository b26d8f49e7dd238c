"""Issue 4 acceptance: 1,000 messages to random valid French mobile numbers through
`smsc-harness serve` on the default network. Exactly 1,000 submit_sm_resp, exactly one final
receipt for each, and a mix of outcomes close to the documented defaults.

serve runs with --speed 2000 (simulated time 2000x real time, so the 24 h validity of the
slowest messages passes in about 45 s); bytes still travel over real TCP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest_twisted
from twisted.internet import threads

from smsc.esme import connect_esme
from smsc.pdu.receipt import is_receipt, parse_receipt
from smsc.session import SessionConfig
from tests.support.numbers import random_french_mobiles
from tests.support.serve import control_get, read_full_banner, start_serve, stop_serve
from tests.support.stack import submit_all

COUNT = 1000
WAIT_ROUNDS = 1200                    # x 0.1 s real: at most 120 s




@pytest_twisted.ensureDeferred
async def test_thousand_messages_each_get_one_resp_and_one_final_receipt(tmp_path: Path) -> None:
    from twisted.internet import reactor, task
    numbers = random_french_mobiles(COUNT)
    process = start_serve(tmp_path, "--speed", "2000", "--db", str(tmp_path / "serve.db"), "--log-level", "warn")
    try:
        banner = await threads.deferToThread(read_full_banner, process).addTimeout(30, reactor)
        port = banner.smpp_port
        esme = await connect_esme(reactor, "127.0.0.1", port, SessionConfig(window=10))
        assert (await esme.bind("demo", "demo", "transceiver").addTimeout(10, reactor)).command_status == 0
        resps = await submit_all(esme, numbers, text=b"Votre code est 1234", registered_delivery=1,
                                 source_addr="MyShop", source_addr_ton=5)
        assert len(resps) == COUNT and all(r.command_status == 0 for r in resps)
        ids = [str(r["message_id"]) for r in resps]
        assert len(set(ids)) == COUNT

        receipts = []
        for _ in range(WAIT_ROUNDS):
            while esme.delivered.pending:
                pdu = await esme.delivered.get()
                if is_receipt(pdu):
                    receipts.append(parse_receipt(pdu))
            if len(receipts) >= COUNT:
                break
            await task.deferLater(reactor, 0.1, lambda: None)
        await task.deferLater(reactor, 0.5, lambda: None)          # a duplicate would arrive now
        while esme.delivered.pending:
            pdu = await esme.delivered.get()
            if is_receipt(pdu):
                receipts.append(parse_receipt(pdu))

        assert sorted(r.message_id for r in receipts if r) == sorted(ids)      # one each, no more
        stats = Counter(r.stat for r in receipts if r)
        share = {stat: n / COUNT for stat, n in stats.items()}
        # Documented defaults (docs/operator-model.md): ~97 % delivered, ~1.8 % undeliverable
        # (unknown 1.5 %, terminated 0.3 %), ~0.6 % rejected, ~0.5 % expired.
        assert 0.94 <= share.get("DELIVRD", 0) <= 0.995, stats
        assert 0.005 <= share.get("UNDELIV", 0) <= 0.04, stats
        assert share.get("REJECTD", 0) <= 0.02 and share.get("EXPIRED", 0) <= 0.02, stats
        status = await threads.deferToThread(control_get, banner)       # with serve's token
        assert isinstance(status, dict)
        messages = status["messages"]
        assert isinstance(messages, dict) and messages["accepted"] == 0 and messages["submitted"] == 0
        assert sum(messages.values()) == COUNT
        esme.conn.close()  # type: ignore[union-attr]
    finally:
        stop_serve(process)
