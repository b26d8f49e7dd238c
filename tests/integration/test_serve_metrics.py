"""`serve`'s GET /metrics and GET /status over real TCP after real SMPP traffic (issue 14): a
process, a socket client, an HTTP client with the token of the control file, and
prometheus_client's own parser reading what the server wrote."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from smsc.pdu.codec import Command
from tests.support.serve import Banner, read_full_banner, start_serve, stop_serve
from tests.support.smpp_socket import SmppSocket

SENT = 20


def get(banner: Banner, path: str, token: str | None = "file", method: str = "GET") -> tuple[int, str, bytes]:
    """(status, Content-Type, body) of a request to serve's control API; `token` "file": the
    control file's."""
    assert banner.control_file is not None
    if token == "file":
        token = json.loads(banner.control_file.read_text())["token"]
    connection = http.client.HTTPConnection("127.0.0.1", banner.control_port, timeout=10)
    try:
        connection.request(method, path, headers={} if token is None else {"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        return answer.status, answer.getheader("content-type") or "", answer.read()
    finally:
        connection.close()


def test_metrics_count_what_a_client_sent(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--bench", "--db", str(tmp_path / "m.db"))
    try:
        banner = read_full_banner(process)
        client = SmppSocket("127.0.0.1", banner.smpp_port)
        try:
            assert client.bind("demo", "demo").command_status == 0
            for _ in range(SENT):
                resp = client.request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5,
                                      destination_addr="33612345678", dest_addr_ton=1, dest_addr_npi=1,
                                      registered_delivery=1, short_message=b"hello")
                assert resp.command_status == 0
            while len(client.delivered) < SENT:             # every receipt (each read bounded)
                pdu = client.read()
                assert not isinstance(pdu, Exception) and pdu.command is Command.deliver_sm
                client.answer(pdu)
                client.delivered.append(pdu)

            code, content_type, body = get(banner, "/metrics")
            assert code == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
            samples = [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]

            def total(name: str, **labels: str) -> float:
                return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

            assert total("smsc_harness_messages_accepted_total", account="demo") == SENT
            assert total("smsc_harness_messages_final_total", account="demo", status="delivered") == SENT
            assert total("smsc_harness_operator_submits_total") == SENT
            assert total("smsc_harness_receipt_latency_seconds_count") == SENT
            assert total("smsc_harness_binds", account="demo", mode="transceiver") == 1
            assert total("smsc_harness_bind_messages_accepted_total", bind="demo#1") == SENT

            code, content_type, body = get(banner, "/status")
            status = json.loads(body)
            assert status["totals"] == {"submitted": SENT, "delivered": SENT, "failed": 0, "refused": 0}
            assert [(s["bind"], s["submitted"]) for s in status["sessions"]] == [("demo#1", SENT)]

            assert get(banner, "/metrics", token=None)[0] == 401
            assert get(banner, "/metrics", method="POST")[0] == 405
            client.request(Command.unbind)
        finally:
            client.close()
    finally:
        assert stop_serve(process) == 0
