"""The control API is for whoever started `serve`, and no input gets a 500 (issue 10).

A real twisted.web Site of `aggregator.control`, fed raw HTTP bytes over a StringTransport,
in front of the whole stack in memory on the virtual clock (tests/support/memstack.py). Before,
there was no token, no Host check, no body limit, HTML 404/405 pages, and POST /mo answered
a lone surrogate or a non-string field with a 500 and a 70,000-character text with a 202.
"""

from __future__ import annotations

import json

import pytest
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher

from aggregator.control import MAX_BODY
from tests.support.memstack import TOKEN, Client, MemStack, http, post_mo, raw_request

MO = {"from": "+33612345678", "to": "36180", "text": "STOP"}


@pytest.fixture
def site(stack: MemStack, client: Client):  # type: ignore[no-untyped-def]
    return stack.control_site(TOKEN)


# --- POST /mo: bad input is a 400 naming the field, never a 500 ----------------------------------

BAD_MO = {
    "100-digit to": ({**MO, "to": "1" * 100}, "to"),
    "to not digits": ({**MO, "to": "STOP"}, "to"),
    "70000-character text": ({**MO, "text": "x" * 70_000}, "text"),
    "UCS-2 text past 255 segments": ({**MO, "text": "€" * 17_086}, "text"),
    "lone surrogate": ({**MO, "text": "STOP \ud800"}, "text"),
    "from not a number": ({**MO, "from": "hello"}, "from"),
    "from too long": ({**MO, "from": "+" + "3" * 40}, "from"),
    "from no operator serves": ({**MO, "from": "+4915112345678"}, "from"),
    "text a number": ({**MO, "text": 12}, "text"),
    "to null": ({**MO, "to": None}, "to"),
    "from a list": ({**MO, "from": ["+33612345678"]}, "from"),
    "text missing": ({"from": "+33612345678", "to": "36180"}, "text"),
    "unknown field": ({**MO, "priority": 1}, "priority"),
    "an array": ([MO], "body"),
    "a string": ("STOP", "body"),
}


@pytest.mark.parametrize("payload, field", BAD_MO.values(), ids=BAD_MO.keys())
def test_bad_mo_gets_400_naming_the_field(stack: MemStack, site, payload: object, field: str) -> None:  # type: ignore[no-untyped-def]
    answer = post_mo(site, payload)
    assert answer.status == 400, answer
    body = answer.json
    assert isinstance(body, dict) and body["field"] == field
    assert body["error"].startswith(f"{field}: ") or body["error"].startswith(f'"{field}": ')
    assert stack.harness.operators["sfr"].mo_sent == 0


RAW_BODIES = {
    "invalid JSON": b'{"from": "+33612345678", ',
    "not UTF-8": b'{"from": "\xff"}',
    "NaN": b'{"from": NaN}',
    "deep nesting": b"[" * 60_000 + b"]" * 60_000,
    "empty": b"",
}


@pytest.mark.parametrize("body", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_a_body_that_is_not_json_gets_400(site, body: bytes) -> None:  # type: ignore[no-untyped-def]
    answer = http(site, raw_request("POST", "/mo", body, {"Content-Type": "application/json",
                                                           "Content-Length": str(len(body))}))
    assert answer.status == 400 and answer.json["field"] == "body", answer  # type: ignore[index]


def test_a_good_mo_is_accepted_and_reaches_the_client(stack: MemStack, client: Client, site) -> None:  # type: ignore[no-untyped-def]
    answer = post_mo(site, MO)
    assert answer.status == 202
    assert answer.json == {"operator": "sfr", "from": "+33612345678", "to": "36180"}
    stack.run(2)
    assert [(p["source_addr"], p["short_message"]) for p in client.pdus()] == [("33612345678", b"STOP")]


def test_ten_oversized_mos_through_the_api_leave_the_operator_working(stack: MemStack, client: Client,  # type: ignore[no-untyped-def]
                                                                      site) -> None:
    for _ in range(10):
        assert post_mo(site, {**MO, "text": "x" * 70_000}).status == 400
        assert post_mo(site, {**MO, "text": "x" * 65_500}).status == 400
        stack.run(5)
    assert post_mo(site, MO).status == 202
    submitted = client.submit("33612345678", b"hello")
    stack.run(5)
    assert submitted.called
    resp = stack.wait(submitted, "the submit")
    got = client.pdus()
    assert [p["short_message"] for p in got if p["esm_class"] == 0] == [b"STOP"]
    assert [(r.message_id, r.stat) for r in client.receipts()] == [(resp["message_id"], "DELIVRD")]  # type: ignore[index]


# --- who may ask: token, Host -------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}", f"{TOKEN}",
])
def test_no_valid_bearer_token_gets_401(site, authorization: str | None) -> None:  # type: ignore[no-untyped-def]
    for request in (raw_request("GET", "/status", headers={"Authorization": authorization}),
                    raw_request("POST", "/mo", json.dumps(MO).encode(), {"Authorization": authorization}),
                    raw_request("GET", "/nowhere", headers={"Authorization": authorization})):
        answer = http(site, request)
        assert answer.status == 401, answer
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token" in answer.json["error"]  # type: ignore[index]


def test_two_authorization_headers_get_401(site) -> None:  # type: ignore[no-untyped-def]
    request = raw_request("GET", "/status").replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    assert http(site, request).status == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_token_opens_status(site, scheme: str) -> None:  # type: ignore[no-untyped-def]
    answer = http(site, raw_request("GET", "/status", headers={"Authorization": f"{scheme} {TOKEN}"}))
    assert answer.status == 200
    body = answer.json
    assert isinstance(body, dict) and set(body) == {"messages", "binds", "operators", "suspended", "started", "now",
                                                "totals", "rates", "sessions"}
    assert body["binds"] == {"demo": 1}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.1:2776", "localhost", "LOCALHOST:80", "localhost.", "[::1]", "[::1]:2776",
    "127.1.2.3:9",
])
def test_a_loopback_host_is_served(site, host: str) -> None:  # type: ignore[no-untyped-def]
    assert http(site, raw_request("GET", "/status", headers={"Host": host})).status == 200


@pytest.mark.parametrize("host", [
    None, "", "evil.example", "evil.example:2776", "127.0.0.1.evil.example", "localhost.evil.example",
    "10.0.0.1", "0.0.0.0:2776", "[::2]", "::1", "192.168.1.10:2776", "127.0.0.1:2776:1", "[::1",
    "localhost:port",
])
def test_a_host_that_is_not_loopback_gets_421_before_anything(site, host: str | None) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends
    `Host: evil.example`; even with the token (it has not), even for /mo, it gets nothing."""
    answer = http(site, raw_request("POST", "/mo", json.dumps(MO).encode(), {"Host": host}))
    assert answer.status == 421 and "loopback" in answer.json["error"]  # type: ignore[index]


def test_two_host_headers_get_421(site) -> None:  # type: ignore[no-untyped-def]
    request = raw_request("GET", "/status").replace(b"\r\n\r\n", b"\r\nHost: evil.example\r\n\r\n")
    assert http(site, request).status == 421


# --- paths, methods, media types: JSON answers -------------------------------------------------

@pytest.mark.parametrize("path", ["/index.html", "/nowhere", "/status/", "/mo/x", "/status/../mo", "//status",
                                  "/STATUS", "*", "/dashboard.js/x"])   # "/": the dashboard (test_dashboard_api.py)
def test_an_unknown_path_gets_404_json(site, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = http(site, raw_request("GET", path))
    assert answer.status == 404 and "error" in answer.json  # type: ignore[operator]


@pytest.mark.parametrize("method, path, allowed", [
    ("POST", "/status", "GET"), ("DELETE", "/status", "GET"), ("HEAD", "/status", "GET"),
    ("GET", "/mo", "POST"), ("PUT", "/mo", "POST"), ("OPTIONS", "/mo", "POST"),
])
def test_a_wrong_method_gets_405_json(site, method: str, path: str, allowed: str) -> None:  # type: ignore[no-untyped-def]
    answer = http(site, raw_request(method, path))
    assert answer.status == 405 and answer.headers["allow"] == allowed
    if method != "HEAD":
        assert "error" in answer.json  # type: ignore[operator]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx",
                                          "text/json"])
def test_a_body_that_is_not_declared_json_gets_415(stack: MemStack, site,  # type: ignore[no-untyped-def]
                                                   content_type: str | None) -> None:
    """A browser may send text/plain or a form cross-site without a preflight; never JSON."""
    answer = http(site, raw_request("POST", "/mo", json.dumps(MO).encode(), {"Content-Type": content_type}))
    assert answer.status == 415 and "application/json" in answer.json["error"]  # type: ignore[index]
    assert stack.harness.operators["sfr"].mo_sent == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_json_with_parameters_is_json(site, content_type: str) -> None:  # type: ignore[no-untyped-def]
    answer = http(site, raw_request("POST", "/mo", json.dumps(MO).encode(), {"Content-Type": content_type}))
    assert answer.status == 202


# --- body size ------------------------------------------------------------------------------

def test_a_declared_length_past_the_limit_gets_413_before_the_body(site) -> None:  # type: ignore[no-untyped-def]
    head = raw_request("POST", "/mo", headers={"Content-Type": "application/json",
                                               "Content-Length": str(10 ** 12), "Expect": "100-continue"})
    answer = http(site, head, b"x" * 65536)
    assert answer.status == 413 and answer.closed
    assert answer.json["field"] == "body"  # type: ignore[index]


def test_a_chunked_body_past_the_limit_gets_413_and_is_not_kept(site) -> None:  # type: ignore[no-untyped-def]
    head = raw_request("POST", "/mo", headers={"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"})
    chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(head)
    requests = list(getattr(channel, "_channel", channel).requests)
    sent = 0
    while not transport.disconnecting and sent < 4 * MAX_BODY:
        channel.dataReceived(chunk)
        sent += 16384
    assert transport.disconnecting and sent <= MAX_BODY + 16384
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    (request,) = requests
    assert request.content.getvalue() == b""  # type: ignore[attr-defined]
    channel.connectionLost(None)


def test_a_body_at_the_limit_is_read(site) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(MO).encode()
    body += b" " * (MAX_BODY - len(body))
    assert http(site, raw_request("POST", "/mo", body)).status == 202


def test_the_longest_mo_in_escaped_json_fits_the_body_limit(site) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({**MO, "text": "€" * 17_085}).encode()      # "\u20ac" each: 6 octets
    assert len(body) < MAX_BODY
    assert http(site, raw_request("POST", "/mo", body)).status == 202


# --- a bug is a 500 without details, logged with its traceback ------------------------------------

def test_an_unexpected_error_is_a_json_500_and_logged_with_its_traceback(stack: MemStack, site) -> None:  # type: ignore[no-untyped-def]
    def broken(committed_only: bool = False) -> dict[str, int]:
        raise RuntimeError("secret detail")
    stack.harness.store.count_by_state = broken  # type: ignore[method-assign]
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        answer = http(site, raw_request("GET", "/status"))
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert answer.status == 500 and answer.json == {"error": "internal error (logged by the server)"}
    assert b"secret" not in answer.body
    failures = [e for e in events if e.get("log_level") is LogLevel.critical and "log_failure" in e]
    assert len(failures) == 1 and "secret detail" in failures[0]["log_failure"].getTraceback()  # type: ignore[union-attr]
