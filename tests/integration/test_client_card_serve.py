"""The client report card of a running `serve` (issue 14): GET /clients over real TCP, its bad
input, and the file serve writes next to its database when SIGTERM stops it."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

from smsc.pdu.codec import Command
from tests.support.serve import Banner, control_get, output, read_full_banner, start_serve, stop_serve
from tests.support.smpp_socket import SmppSocket

TIMEOUT = 30.0


def call(banner: Banner, method: str, path: str, token: bool = True) -> tuple[int, object]:
    assert banner.control_file is not None
    found = json.loads(banner.control_file.read_text())
    connection = http.client.HTTPConnection("127.0.0.1", banner.control_port, timeout=TIMEOUT)
    headers = {"Authorization": f"Bearer {found['token']}"} if token else {}
    try:
        connection.request(method, path, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_get_clients_and_the_card_written_when_serve_stops(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    process = start_serve(tmp_path, "--db", str(db))
    try:
        banner = read_full_banner(process)
        client = SmppSocket("127.0.0.1", banner.smpp_port)
        assert client.bind("demo", "demo").command_status == 0
        # An alphanumeric sender without TON 5, then a close with no unbind.
        resp = client.request(Command.submit_sm, source_addr_ton=0, source_addr="MyShop", dest_addr_ton=1,
                              dest_addr_npi=1, destination_addr="33612345678", registered_delivery=1,
                              short_message=b"hello")
        assert resp.command_status == 0
        client.close()
        deadline = time.monotonic() + TIMEOUT                  # the server hears of the close
        while True:
            body = control_get(banner, "/clients")
            assert isinstance(body, dict)
            (card,) = body["clients"]
            if card["unbound_at"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert card["bind"] == "demo#1" and card["account"] == "demo" and card["peer"].startswith("127.0.0.1:")
        assert card["unbound_at"] is not None
        codes = {f["code"]: f for f in card["findings"]}
        assert set(codes) == {"wrong_ton_npi", "closed_without_unbind"}
        assert codes["wrong_ton_npi"]["count"] == 1 and "'MyShop'" in codes["wrong_ton_npi"]["seen"]
        assert all(f["advice"] and f["title"] and f["first_at"].endswith("Z") for f in card["findings"])

        code, answer = call(banner, "POST", "/clients")
        assert code == 405 and "GET" in answer["error"]        # type: ignore[index]
        code, answer = call(banner, "GET", "/clients", token=False)
        assert code == 401 and "error" in answer               # type: ignore[operator]
    finally:
        assert stop_serve(process) == 0
    written = json.loads((tmp_path / "store.db.clients.json").read_text())
    assert [c["bind"] for c in written["clients"]] == ["demo#1"]
    assert {f["code"] for f in written["clients"][0]["findings"]} == {"wrong_ton_npi", "closed_without_unbind"}
    log = output(process)
    assert "client report card: demo#1 from 127.0.0.1:" in log
    assert f"client report card of 1 binds (1 with findings) written to {db}.clients.json" in log
