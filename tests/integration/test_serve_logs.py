"""`serve` at its default level logs what the README's Quick start promises (issue 14): a line
per submit and its routing decision, the operator's decision, the receipt and the deliver_sm
sent to the client, each line starting with its time. Real process, real TCP on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

from smsc.pdu.codec import Command
from tests.support.serve import output, read_full_banner, start_serve, stop_serve
from tests.support.smpp_socket import SmppSocket

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_default_level_logs_each_message_event(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--db", str(tmp_path / "s.db"))
    try:
        banner = read_full_banner(process)
        client = SmppSocket("127.0.0.1", banner.smpp_port)
        try:
            assert client.bind("demo", "demo").command_status == 0
            resp = client.request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5,
                                  destination_addr="33612345678", dest_addr_ton=1, dest_addr_npi=1,
                                  registered_delivery=1, short_message=b"hello")
            assert client.await_delivery()                   # the receipt reached us
            client.request(Command.unbind)
        finally:
            client.close()
    finally:
        assert stop_serve(process) == 0
    log = output(process)
    message_id = resp["message_id"]
    for wanted in (rf"aggregator\.server +info +demo: {message_id} to \+33612345678 routed to sfr",
                   r"smsc\.operator +info +sfr: submit_sm accepted as \S+: DELIVRD",
                   rf"aggregator\.delivery +info +{message_id} DELIVRD",
                   rf"aggregator\.server +info +demo: receipt {message_id} sent"):
        assert re.search(rf"^{STAMP} {wanted}", log, re.MULTILINE), (wanted, log)
