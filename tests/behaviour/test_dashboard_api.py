"""The dashboard's side of the control API (issue 14): GET / and its cookie, GET /dashboard.js,
GET /messages?last=N, GET /rules/events?last=N, and every refusal that keeps another site from acting with the cookie.

A real twisted.web Site of `aggregator.control` in front of the whole stack in memory
(tests/support/memstack.py), fed raw HTTP bytes; the browser's side is tests/browser/.
"""

from __future__ import annotations

import json

import pytest
from twisted.web.server import Site

from tests.support.memstack import TOKEN, Client, MemStack, http, raw_request

COOKIE = f"smsc-harness-2776={TOKEN}"          # raw_request's Host is 127.0.0.1:2776
NO_BEARER = {"Authorization": None}


@pytest.fixture
def site(stack: MemStack) -> Site:
    return stack.control_site(TOKEN)


def get(site: Site, path: str, **headers: str | None) -> object:
    return http(site, raw_request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}))


# --- GET /: the page, how to get in, the token once in the address -------------------------------

def test_the_token_in_the_address_sets_the_cookie_and_leaves_the_address(site: Site) -> None:
    answer = http(site, raw_request("GET", f"/?token={TOKEN}", headers=NO_BEARER))
    assert answer.status == 303 and answer.headers["location"] == "/"
    assert answer.headers["set-cookie"] == f"smsc-harness-2776={TOKEN}; HttpOnly; SameSite=Strict; Path=/"


def test_with_the_cookie_get_slash_is_the_dashboard(site: Site, stack: MemStack) -> None:
    answer = http(site, raw_request("GET", "/", headers={**NO_BEARER, "Cookie": f"theme=dark; {COOKIE}"}))
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    page = answer.body.decode()
    for operator in stack.harness.operators:
        assert f'<tr data-operator="{operator}">' in page
    assert '<option value="refuse_binds">' in page and '<option value="silent" selected>' in page
    assert '<script src="/dashboard.js" defer></script>' in page
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["referrer-policy"] == "no-referrer"


def test_the_bearer_header_opens_the_page_too(site: Site) -> None:
    assert http(site, raw_request("GET", "/")).status == 200


def test_without_the_token_get_slash_says_how_to_get_in(site: Site) -> None:
    answer = http(site, raw_request("GET", "/", headers=NO_BEARER))
    assert answer.status == 401 and answer.headers["content-type"] == "text/html; charset=utf-8"
    assert b"smsc-harness dashboard --db" in answer.body
    assert TOKEN.encode() not in answer.body


def test_a_wrong_token_in_the_address_sets_no_cookie(site: Site) -> None:
    answer = http(site, raw_request("GET", "/?token=" + "x" * len(TOKEN), headers=NO_BEARER))
    assert answer.status == 401 and "set-cookie" not in answer.headers
    assert b"is not this serve" in answer.body


@pytest.mark.parametrize("query, field", [("?tok=1", "tok"), ("?token=a&token=b", "token"), ("?token", "query"),
                                          ("?token=", "token"), ("?token=%ff", "token")])
def test_a_bad_query_on_get_slash_is_a_4xx_naming_it(site: Site, query: str, field: str) -> None:
    answer = http(site, raw_request("GET", "/" + query, headers=NO_BEARER))
    if field == "token":                       # two tokens, or an empty one: not the token
        assert answer.status == 401 and "set-cookie" not in answer.headers
    else:
        assert answer.status == 400 and answer.json["field"] == field  # type: ignore[index]


def test_the_script_is_served_with_the_cookie_only(site: Site) -> None:
    answer = http(site, raw_request("GET", "/dashboard.js", headers={**NO_BEARER, "Cookie": COOKIE}))
    assert answer.status == 200 and answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"/messages?last=20" in answer.body and b"innerHTML" not in answer.body
    assert http(site, raw_request("GET", "/dashboard.js", headers=NO_BEARER)).status == 401


def test_post_to_the_page_is_405(site: Site) -> None:
    answer = http(site, raw_request("POST", "/", b"{}", headers={**NO_BEARER, "Cookie": COOKIE}))
    assert answer.status == 405 and answer.headers["allow"] == "GET"


# --- the cookie opens the API, and nothing else does -----------------------------------------------

def test_the_cookie_opens_the_api(site: Site) -> None:
    answer = http(site, raw_request("GET", "/status", headers={**NO_BEARER, "Cookie": COOKIE}))
    assert answer.status == 200 and "operators" in answer.json  # type: ignore[operator]
    mo = json.dumps({"from": "+33612345678", "to": "36180", "text": "HELLO"}).encode()
    assert http(site, raw_request("POST", "/mo", mo, headers={**NO_BEARER, "Cookie": COOKIE,
                                                               "Origin": "http://127.0.0.1:2776"})).status == 202


@pytest.mark.parametrize("cookie", [
    f"smsc-harness-2776={TOKEN[:-1]}",          # a wrong token
    f"smsc-harness-2777={TOKEN}",               # the cookie of another serve (another port)
    f"smsc-harness-2776 {TOKEN}",               # not name=value
    "",
])
def test_a_wrong_cookie_is_401(site: Site, cookie: str) -> None:
    answer = http(site, raw_request("GET", "/status", headers={**NO_BEARER, "Cookie": cookie}))
    assert answer.status == 401


def test_a_page_of_another_site_is_refused_whatever_it_carries(site: Site, stack: MemStack) -> None:
    """Another port of this machine is another origin (and the same site for SameSite): its
    page gets 403, cookie, token or not."""
    mo = json.dumps({"from": "+33612345678", "to": "36180", "text": "STOP"}).encode()
    for origin in ("http://127.0.0.1:8000", "http://evil.example", "null", "http://localhost:2776"):
        answer = http(site, raw_request("POST", "/mo", mo, headers={"Cookie": COOKIE, "Origin": origin}))
        assert answer.status == 403 and answer.json["field"] == "origin", (origin, answer)  # type: ignore[index]
    assert stack.harness.operators["sfr"].mo_sent == 0


def test_a_form_post_with_the_cookie_is_415(site: Site, stack: MemStack) -> None:
    """What a cross-site HTML form can send (no preflight): urlencoded or text/plain. SameSite
    keeps the cookie from it; were it sent, the body type still refuses it."""
    for kind in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"):
        answer = http(site, raw_request("POST", "/operators/sfr/outage", b'{"mode": "silent"}',
                                        headers={**NO_BEARER, "Cookie": COOKIE, "Content-Type": kind}))
        assert answer.status == 415, (kind, answer)
    assert stack.harness.operators["sfr"].outage is None


def test_a_preflight_is_never_answered_with_cors(site: Site) -> None:
    answer = http(site, raw_request("OPTIONS", "/mo", headers={**NO_BEARER, "Origin": "http://127.0.0.1:8000",
                                                               "Access-Control-Request-Method": "POST"}))
    assert answer.status == 403 and not any(h.startswith("access-control-") for h in answer.headers)


def test_the_host_check_comes_before_the_cookie(site: Site) -> None:
    answer = http(site, raw_request("GET", "/", headers={"Host": "evil.example:2776", "Cookie": COOKIE}))
    assert answer.status == 421
    answer = http(site, raw_request("GET", f"/?token={TOKEN}", headers={"Host": "evil.example"}))
    assert answer.status == 421 and "set-cookie" not in answer.headers


# --- GET /messages?last=N ----------------------------------------------------------------------------

def test_the_last_messages_newest_first_with_their_histories(stack: MemStack, client: Client, site: Site) -> None:
    resps = stack.submit_all(client, ["+33612345678", "+33699990001", "+33612345678"])
    stack.run(5)
    ids = [r["message_id"] for r in resps]
    answer = get(site, "/messages?last=2")
    assert answer.status == 200  # type: ignore[attr-defined]
    listed = answer.json["messages"]  # type: ignore[attr-defined]
    assert [m["id"] for m in listed] == [ids[2], ids[1]]
    one = get(site, f"/messages/{ids[1]}").json  # type: ignore[attr-defined]
    assert listed[1] == one                                  # the same object as GET /messages/{id}
    assert [h["state"] for h in one["history"]][-1] == "undeliverable" and one["receipts"]
    assert [m["id"] for m in get(site, "/messages").json["messages"]] == ids[::-1]  # type: ignore[attr-defined]


def test_no_message_yet_is_an_empty_list(site: Site) -> None:
    answer = get(site, "/messages?last=100")
    assert answer.status == 200 and answer.json == {"messages": []}  # type: ignore[attr-defined]


@pytest.mark.parametrize("query, field", [
    ("last=0", "last"), ("last=101", "last"), ("last=-1", "last"), ("last=abc", "last"), ("last=", "last"),
    ("last=1&last=2", "last"), ("last=%D9%A3", "last"), ("last=1e3", "last"), ("first=3", "first"), ("last", "query"),
])
def test_a_bad_last_is_400_naming_it(site: Site, query: str, field: str) -> None:
    answer = get(site, "/messages?" + query)
    assert answer.status == 400, answer  # type: ignore[attr-defined]
    assert answer.json["field"] == field  # type: ignore[attr-defined]


def test_messages_takes_get_only(site: Site) -> None:
    answer = http(site, raw_request("POST", "/messages?last=3", b"{}"))
    assert answer.status == 405 and answer.headers["allow"] == "GET"


# --- GET /rules/events?last=N[&rule=R] ----------------------------------------------------------------

def post(site: Site, path: str, body: dict[str, str]) -> object:
    return http(site, raw_request("POST", path, json.dumps(body).encode()))


def test_the_last_rule_events_newest_first(stack: MemStack, client: Client, site: Site) -> None:
    """A STOP from a subscriber: R1's opt-out and its confirmation; then an opt-out by hand."""
    assert post(site, "/mo", {"from": "+33612345678", "to": "36180", "text": "STOP"}).status == 202  # type: ignore[attr-defined]
    stack.run(5)
    assert post(site, "/optouts", {"account": "demo", "number": "+33699990001"}).status == 201  # type: ignore[attr-defined]
    stack.run(1)
    answer = get(site, "/rules/events")
    assert answer.status == 200  # type: ignore[attr-defined]
    events = answer.json["events"]  # type: ignore[attr-defined]
    assert [(e["rule"], e["action"], e["account"], e["number"]) for e in events] == [
        ("stop", "optout", "demo", "+33699990001"), ("stop", "confirm", "demo", "+33612345678"),
        ("stop", "optout", "demo", "+33612345678")]
    stopped = events[2]
    assert stopped["facts"]["by"] == "mo" and stopped["facts"]["keyword"] == "STOP"
    assert stopped["at"].endswith("Z") and stopped["campaign"] is None and stopped["message_id"] is None
    assert sorted(stopped) == ["account", "action", "at", "campaign", "facts", "message_id", "number", "rule"]
    assert [e["action"] for e in get(site, "/rules/events?last=1").json["events"]] == ["optout"]  # type: ignore[attr-defined]
    assert get(site, "/rules/events?rule=stop&last=3").json == answer.json  # type: ignore[attr-defined]
    assert get(site, "/rules/events?rule=purge").json == {"events": []}  # type: ignore[attr-defined]


def test_the_rule_events_are_the_stores(stack: MemStack, client: Client, site: Site) -> None:
    """Whatever rule made them: the store's rows, newest first, the N newest only."""
    from aggregator.rules.base import RuleEvent
    for i in range(30):
        stack.store.add_rule_event(RuleEvent("skew" if i % 3 else "purge", "alert", "demo", 1000.0 + i,
                                             facts={"i": i}))
    events = get(site, "/rules/events?last=100").json["events"]  # type: ignore[attr-defined]
    assert [e["facts"]["i"] for e in events] == list(range(29, -1, -1))
    assert [e["facts"]["i"] for e in get(site, "/rules/events").json["events"]] == list(range(29, 9, -1))  # type: ignore[attr-defined]
    purges = get(site, "/rules/events?last=4&rule=purge").json["events"]  # type: ignore[attr-defined]
    assert [(e["rule"], e["facts"]["i"]) for e in purges] == [("purge", 27), ("purge", 24), ("purge", 21), ("purge", 18)]


@pytest.mark.parametrize("query, field", [
    ("last=0", "last"), ("last=101", "last"), ("last=abc", "last"), ("last=1&last=2", "last"),
    ("rule=R1", "rule"), ("rule=", "rule"), ("rule=stop&rule=purge", "rule"), ("rule=%ff", "rule"),
    ("first=3", "first"), ("last", "query"),
])
def test_a_bad_rule_events_query_is_400_naming_it(site: Site, query: str, field: str) -> None:
    answer = get(site, "/rules/events?" + query)
    assert answer.status == 400, answer  # type: ignore[attr-defined]
    assert answer.json["field"] == field  # type: ignore[attr-defined]


def test_an_unknown_rule_is_named_with_the_rules_there_are(site: Site) -> None:
    answer = get(site, "/rules/events?rule=R1")
    assert answer.json == {"error": 'rule: no rule "R1"; there are stop, purge, skew, duplicate, credit, contact',  # type: ignore[attr-defined]
                           "field": "rule"}


def test_rule_events_takes_get_only(site: Site) -> None:
    answer = http(site, raw_request("POST", "/rules/events", b"{}"))
    assert answer.status == 405 and answer.headers["allow"] == "GET"


def test_a_store_that_cannot_be_read_now_is_503(stack: MemStack, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator.store import StoreUnavailable

    def locked(last: int, rule: str | None = None) -> None:
        raise StoreUnavailable("database is locked")
    monkeypatch.setattr(stack.store, "latest_rule_events", locked)
    answer = get(site, "/rules/events")
    assert answer.status == 503  # type: ignore[attr-defined]
    assert answer.json == {"error": "the store cannot be read now: database is locked"}  # type: ignore[attr-defined]
