"""The HTTP control API of a running `serve` (twisted.web, JSON), for whoever started it only.

    GET  /status   message counts by state, client binds per account, operator counters, the
                   bulk sends suspended for traffic skew (R3) with their held messages
    POST /mo       {"from": "+33612345678", "to": "36180", "text": "STOP"}: the subscriber
                   sends an MO; it leaves from the operator that serves "from" (routing and
                   portability included), as a deliver_sm to the aggregator.
    POST /skew/release  {"account": "shop", "campaign": "promo-42"}: lift the R3 suspension of
                   that bulk send (campaign absent or null: the account's traffic without
                   campaign id) and send on its held messages.
    GET  /optouts[?account=A]   R1's opt-out lists (one account's, or every account's)
    POST /optouts    {"account": "shop", "number": "0612345678"}: put the number on the
                   account's opt-out list by hand (201; 200 if it was on it already)
    DELETE /optouts  {"account": "shop", "number": "0612345678"}: take it off (404 if it was
                   not on it)
    POST /operators/{id}/outage      {"mode": "silent"}: start an outage of that operator's
                   SMSC now (refuse_binds, drop or silent, as a scenario's `operator` step)
    POST /operators/{id}/recover     {}: end it (409 when there is none)
    POST /operators/{id}/throughput  {"rate": 50, "burst": 10}: set its operator-wide cap now
                   (burst optional: one second's worth)
    GET  /messages/{id}   one message as it stands, its state history and its receipts
    GET  /metrics  the live stats in Prometheus's text format (aggregator/metrics.py,
                   docs/metrics.md); GET /status has them too, in JSON
    GET  /messages?last=N the N newest messages (1 to 100, default 20), newest first, each as above
    GET  /          the web dashboard (aggregator/dashboard.py), GET /dashboard.js its script;
                   GET /?token=T sets the dashboard's cookie and answers 303 to / (rule 3)
    GET  /clients  the report card of every client bind, bound or ended (aggregator/clientcard.py)
    GET  /rules/events?last=N[&rule=R] the N newest rule decisions (1 to 100, default 20),
                   newest first, of every rule or of rule R ("stop", "purge", ...)

`smsc-harness mo` is the command-line client of POST /mo, `smsc-harness release` of POST
/skew/release, `smsc-harness optouts` of /optouts, `smsc-harness operator` of /operators/...,
`smsc-harness message` of /messages/...; docs/control-api.md is the user's
reference. Rules of this module (issue 10), checked in this order:

1. A body longer than `MAX_BODY` is refused with 413 as soon as its Content-Length says so,
   or as soon as that many octets of it (chunked or not) have come, and the connection is
   closed: a body is never read past the limit, so no client can make us hold more.
2. `Host` must name the loopback interface (`localhost`, 127.0.0.0/8, `[::1]`, any port), or
   421: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its
   own name as Host, and is refused before anything else is looked at.
3. Every request carries `Authorization: Bearer <token>`, compared in constant time, or 401.
   The token is generated at start-up and written with the API's URL to the control file
   next to the store (`control_file_path`), readable by its owner only; or set in the config.
   A browser cannot send that header when it opens an address, so the dashboard's cookie
   (`smsc-harness-PORT=<token>; HttpOnly; SameSite=Strict; Path=/`, set by GET /?token=T,
   the address `smsc-harness dashboard` prints) is taken as well. A request whose Origin
   header names another site (another port of this machine is one) is refused 403 before
   that: with rule 5 (a cross-site page cannot send JSON without a preflight) and SameSite,
   a page elsewhere cannot act with the cookie. GET / without either gets a small page
   saying how to get in (401).
4. Unknown paths get 404, other methods 405 (with Allow), all JSON. Every answer is JSON but
   the dashboard's page and script and GET /metrics's 200 (Prometheus's text format; an Accept
   that takes no text/plain: 406).
5. A body must be `application/json` (415 otherwise): a browser cannot send that cross-site
   without a CORS preflight, which this API never answers. POST /mo always has one.
6. Client input never gets a 500: bad JSON or fields get 400 with `{"error": ..., "field":
   ...}` naming the field. The MO itself is checked by `Harness.inject_mo` (an operator must
   serve "from") and `OperatorSmsc.inject_mo` (what SMPP can carry), whose refusals become
   that 400. A 500 means a bug: it is logged with its traceback and answered without details.
7. A request that names what is not there gets 404 naming the field (DELETE /optouts of a
   number not on the list, an operator or message id no one has), or 409 when it asks for a change that cannot be made now (POST
   /skew/release of a send that is not suspended); an account no config has is a bad field
   value, 400, as everywhere. A read the store cannot answer now (locked by another
   process) gets 503.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence
from urllib.parse import parse_qs

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest

from aggregator import dashboard
from aggregator.clientcard import clients_json
from aggregator.clock import iso
from aggregator.limits import MAX_BURST, MAX_RATE
from aggregator.metrics import CONTENT_TYPE as METRICS_TYPE
from aggregator.metrics import exposition, registry
from aggregator.routing import RoutingError
from aggregator.rules.base import RuleEvent
from aggregator.rules.settings import RULE_NAMES
from aggregator.rules.stop import OptOut
from aggregator.stats import WINDOW, snapshot
from aggregator.store import MessageEvent, MessageRecord, ReceiptRecord, StoreUnavailable
from smsc.operators.profile import OutageMode
from smsc.operators.smsc import MoRefused, OperatorSmsc

if TYPE_CHECKING:
    from aggregator.harness import Harness

__all__ = [
    "ControlFile", "MAX_BODY", "control_file_path", "control_site", "read_control_file",
    "remove_control_file", "write_control_file",
]

log = Logger(namespace="aggregator.control")

# The largest valid POST /mo is an MO of 255 segments of UCS-2 (17,085 UTF-16 code units,
# smsc.operators.smsc.MO_TEXT_MAX_UCS2), each written as a 6-octet "\uXXXX" escape by JSON
# encoders that escape non-ASCII (Python's json.dumps does by default): 102,510 octets plus
# the envelope. 128 KiB holds it with room, and holding that much per request is nothing.
MAX_BODY = 128 * 1024
# A control client sends its whole request at once; a connection idle this long is closed.
IDLE_TIMEOUT = 30.0

_JSON = "application/json"
_MO_FIELDS = ("from", "to", "text")
_MO_SHAPE = '{"from": MSISDN, "to": SHORT_CODE, "text": TEXT}'
_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?")
_ARGUMENT_FIELD = {"source": "from", "destination": "to", "text": "text"}
_RELEASE_SHAPE = '{"account": SYSTEM_ID, "campaign": CAMPAIGN_ID or null}'
_CAMPAIGN = re.compile(r"[\x21-\x7e]{1,64}")      # the campaign id TLV's own rule (aggregator/server.py)
_REASONS = {200: b"OK", 201: b"Created", 202: b"Accepted", 303: b"See Other", 400: b"Bad Request",
            401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
            406: b"Not Acceptable", 409: b"Conflict", 413: b"Content Too Large",
            415: b"Unsupported Media Type", 421: b"Misdirected Request", 500: b"Internal Server Error",
            503: b"Service Unavailable"}
_ROUTES: Mapping[bytes, tuple[bytes, ...]] = {b"/status": (b"GET",), b"/metrics": (b"GET",), b"/mo": (b"POST",),
                                              b"/skew/release": (b"POST",), b"/messages": (b"GET",),
                                              b"/optouts": (b"GET", b"POST", b"DELETE"), b"/clients": (b"GET",),
                                              b"/rules/events": (b"GET",)}
# Paths with an id in them: (pattern, route name); the id is one path segment, 1 to 64
# printable ASCII characters other than '/' (operator ids and message ids are far shorter).
_OPERATOR_PATH = re.compile(rb"/operators/([\x21-\x2e\x30-\x7e]{1,64})/(outage|recover|throughput)")
_MESSAGE_PATH = re.compile(rb"/messages/([\x21-\x2e\x30-\x7e]{1,64})")
_ID_METHODS = {b"outage": (b"POST",), b"recover": (b"POST",), b"throughput": (b"POST",), b"messages": (b"GET",)}
_ALL_PATHS = ("/", "/status", "/metrics", "/mo", "/skew/release", "/optouts", "/operators/{id}/outage",
              "/operators/{id}/recover", "/operators/{id}/throughput", "/messages/{id}", "/messages?last=N",
              "/clients", "/rules/events?last=N")
# The dashboard (aggregator/dashboard.py): its page and its script, answered by `page`.
_PAGES = (b"/", b"/dashboard.js")
_LAST_DEFAULT, _LAST_MAX = 20, 100           # GET /messages?last=N, GET /rules/events?last=N
_PAGE_HEADERS = (
    # Its own script and inline style only, fetches to this API only, never in a frame, no
    # form posted natively (the script sends JSON), and no address (with a token) as referrer.
    (b"Content-Security-Policy", b"default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
                                 b"connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; "
                                 b"frame-ancestors 'none'"),
    (b"X-Frame-Options", b"DENY"),
    (b"Referrer-Policy", b"no-referrer"),
)
_OUTAGE_SHAPE = '{"mode": "refuse_binds" | "drop" | "silent"}'
_THROUGHPUT_SHAPE = '{"rate": MESSAGES_A_SECOND, "burst": MESSAGES (optional)}'
_OPTOUT_FIELDS = ("account", "number")
_OPTOUT_SHAPE = '{"account": SYSTEM_ID, "number": MSISDN}'


@dataclass(frozen=True, slots=True)
class _Reply:
    """An answer: a JSON object, or (bytes) a body already in `content_type`."""

    code: int
    body: Mapping[str, object] | bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: str = _JSON


def _error(code: int, message: str, field: str | None = None,
           headers: tuple[tuple[bytes, bytes], ...] = ()) -> _Reply:
    body: dict[str, object] = {"error": message}
    if field is not None:
        body["field"] = field
    return _Reply(code, body, headers)


def _json_bytes(body: Mapping[str, object]) -> bytes:
    return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"


# --- the checks, pure -------------------------------------------------------------------

def host_is_loopback(host: bytes) -> bool:
    """Does a Host header name this machine's loopback interface? (`localhost`, 127.0.0.0/8,
    `[::1]`, each with or without a port; rule 2)."""
    try:
        text = host.decode("ascii").strip()
    except UnicodeDecodeError:
        return False
    found = _HOST.fullmatch(text)
    if found is None:
        return False
    name = found.group("name").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_matches(headers: Sequence[bytes] | None, token: bytes) -> bool:
    """Exactly one `Authorization: Bearer <token>` header with our token (the scheme's case
    does not matter, RFC 7235 §2.1), compared in constant time."""
    if headers is None or len(headers) != 1:
        return False
    scheme, _, given = headers[0].strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


def same_origin(origins: Sequence[bytes], host: bytes) -> bool:
    """Does the one Origin header name this server as the Host header does
    (`http://127.0.0.1:2776` for Host `127.0.0.1:2776`)? A browser sends Origin with every
    cross-origin request and every POST; a page of another site (another port of this machine
    is another origin) is refused at once, whatever its request."""
    if len(origins) != 1:
        return False
    return origins[0].strip().lower() == b"http://" + host.strip().lower()


def cookie_name(host: bytes) -> str:
    """The dashboard's cookie for the API reached through this Host: `smsc-harness-PORT`.
    Browsers keep cookies per host name, not per port: two `serve`s on one machine would
    overwrite each other's cookie if it had one name, and each dashboard would lose its own."""
    found = _HOST.fullmatch(host.decode("ascii", "replace").strip())
    port = found.group("port") if found is not None else None
    return f"smsc-harness-{port or 80}"


def cookie_matches(headers: Sequence[bytes] | None, name: str, token: bytes) -> bool:
    """A `name=<token>` cookie in the Cookie header(s), compared in constant time."""
    if headers is None:
        return False
    wanted = name.encode("ascii")
    found = False
    for header in headers:
        for pair in header.split(b";"):
            key, equals, value = pair.strip().partition(b"=")
            if equals and key == wanted:
                found = hmac.compare_digest(value.strip(), token) or found
    return found


def media_type(headers: Sequence[bytes] | None) -> str | None:
    """`type/subtype` of the one Content-Type header, lower case, without its parameters."""
    if headers is None or len(headers) != 1:
        return None
    return headers[0].split(b";", 1)[0].strip().lower().decode("latin-1")


def accepts_text(headers: Sequence[bytes] | None) -> bool:
    """Does an Accept header (RFC 9110 §12.5.1; none at all: anything) take text/plain? A
    range with q=0 refuses; one that does not parse is read as no range."""
    if not headers:
        return True
    for header in headers:
        for item in header.split(b","):
            kind, *params = item.split(b";")
            if kind.strip().lower() not in (b"text/plain", b"text/*", b"*/*"):
                continue
            refused = False
            for param in params:
                name, _, value = param.partition(b"=")
                if name.strip().lower() == b"q":
                    try:
                        refused = float(value.strip()) <= 0
                    except ValueError:
                        refused = True
            if not refused:
                return True
    return False


def _rate(value: float) -> float:
    """A rate for JSON: messages per second to the thousandth."""
    return round(value, 3)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _shown(value: str, limit: int = 24) -> str:
    """A value for an error message: JSON-quoted (ASCII-safe), cut with its length when long."""
    if len(value) <= limit:
        return json.dumps(value)
    return f"{json.dumps(value[:limit])}... ({len(value)} characters)"


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# --- the API ----------------------------------------------------------------------------

class ControlApi(resource.Resource):
    """The whole API as one leaf resource: every path and method is answered here, in JSON
    (twisted.web's own 404 and 405 pages are HTML)."""

    isLeaf = True

    def __init__(self, harness: Harness, token: str) -> None:
        super().__init__()
        self.harness = harness
        self._token = token.encode("ascii")
        self._metrics = registry(harness)               # this harness's alone (aggregator/metrics.py)

    def render(self, request: IRequest) -> bytes:
        query = request.uri.partition(b"?")[2]
        reply = self.handle(request.method, request.path, request.requestHeaders, request.content.read(), query)
        return _write(request, reply)

    def handle(self, method: bytes, path: bytes, headers: Headers, body: bytes, query: bytes = b"") -> _Reply:
        hosts = headers.getRawHeaders(b"host")
        if hosts is None or len(hosts) != 1 or not host_is_loopback(hosts[0]):
            log.info("control API: request for {path} refused: Host {host} is not a loopback name or address",
                     path=path[:64], host=hosts)
            return _error(421, "the Host header must name the loopback interface: localhost, 127.0.0.1 or [::1]")
        origins = headers.getRawHeaders(b"origin")
        if origins is not None and not same_origin(origins, hosts[0]):
            log.info("control API: request for {path} refused: Origin {origin} is another site's",
                     path=path[:64], origin=[o[:80] for o in origins])
            return _error(403, "the Origin header names another site: the control API answers its own pages "
                               "and clients that send no Origin only", "origin")
        cookie = cookie_name(hosts[0])
        authorised = (bearer_matches(headers.getRawHeaders(b"authorization"), self._token)
                      or cookie_matches(headers.getRawHeaders(b"cookie"), cookie, self._token))
        if path in _PAGES:
            return self.page(method, path, query, authorised, cookie)
        if not authorised:
            log.info("control API: request for {path} refused: no valid bearer token", path=path[:64])
            return _error(401, "a bearer token is required: Authorization: Bearer <token> (see the control "
                               "file next to the database, named in serve's first line), or the dashboard's "
                               "cookie (smsc-harness dashboard prints its address)",
                          headers=((b"WWW-Authenticate", b'Bearer realm="smsc-harness"'),))
        methods = _ROUTES.get(path)
        routed = None if methods is not None else _id_route(path)
        if routed is not None:
            methods = _ID_METHODS[routed[0]]
        if methods is None:
            return _error(404, f"no such resource; there are {', '.join(_ALL_PATHS)}")
        if method not in methods:
            allowed = b", ".join(methods)
            return _error(405, f"{path.decode()} takes {allowed.decode()}", headers=((b"Allow", allowed),))
        if (body or method == b"POST") and media_type(headers.getRawHeaders(b"content-type")) != _JSON:
            return _error(415, f"the body must be {_JSON} (Content-Type: {_JSON})")
        if routed is not None:
            verb, ident = routed
            if verb == b"messages":
                return self.message(ident)
            return self.operator(ident, verb, body)
        if path == b"/status":
            return self.status()
        if path == b"/metrics":
            return self.metrics(headers.getRawHeaders(b"accept"))
        if path == b"/messages":
            return self.latest(query)
        if path == b"/clients":
            return _Reply(200, clients_json(self.harness.server.cards.cards()))
        if path == b"/rules/events":
            return self.rule_events(query)
        if path == b"/skew/release":
            return self.release(body)
        if path == b"/optouts":
            return self.optouts(query) if method == b"GET" else self.change_optout(body, add=method == b"POST")
        return self.mo(body)

    def status(self) -> _Reply:
        h = self.harness
        now = snapshot(h, h.engine.clock.seconds())        # the live stats (aggregator/stats.py)
        return _Reply(200, {
            "messages": h.store.count_by_state(committed_only=True),
            "binds": {account: len(conns) for account, conns in sorted(h.server.binds.items())},
            "operators": {o.id: {"submitted": o.smsc_submitted, "receipts_sent": o.receipts_sent,
                                 "queued_at_aggregator": o.queued, "outage": o.outage,
                                 "mo_sent": o.mo_sent,
                                 "links": {"bound": o.links_bound, "configured": o.links_configured},
                                 "throughput": {"cap": o.cap, "rate": _rate(o.rate)}}
                          for o in now.operators},
            # R3: the sends suspended for traffic skew, what POST /skew/release takes
            "suspended": [{"account": account, "campaign": campaign, "held": h.engine.held_in(account, campaign)}
                          for account, campaign in h.server.rules.skew.suspended()],
            "started": iso(now.started), "now": iso(now.now),
            "totals": {"submitted": now.submitted, "delivered": now.delivered, "failed": now.failed,
                       "refused": now.refused},
            "rates": {"window_seconds": WINDOW, "submitted": _rate(now.submitted_rate),
                      "delivered": _rate(now.delivered_rate), "failed": _rate(now.failed_rate)},
            "sessions": [{"bind": s.bind, "account": s.account, "mode": s.mode, "peer": s.peer,
                          "bound_at": iso(s.bound_at), "window": {"outstanding": s.outstanding, "size": s.window},
                          "submitted": s.submitted, "rate": _rate(s.rate)} for s in now.sessions],
        })

    def metrics(self, accept: Sequence[bytes] | None) -> _Reply:
        """The live stats in Prometheus's text format 0.0.4, or 406 for a client that takes
        none of text/plain, text/* and */*."""
        if not accepts_text(accept):
            return _error(406, f"accept: /metrics answers {METRICS_TYPE.split(';')[0]} (Prometheus text format "
                               "0.0.4) only", "accept")
        return _Reply(200, exposition(self._metrics), content_type=METRICS_TYPE)

    def mo(self, raw: bytes) -> _Reply:
        body = _json_fields(raw, _MO_FIELDS, _MO_SHAPE)
        if isinstance(body, _Reply):
            return body
        source, destination, text = body["from"], body["to"], body["text"]
        if not _NUMBER.fullmatch(source):
            return _error(400, "from: expected the subscriber's number: 1 to 20 digits, with a '+' first for "
                               f"E.164, got {_shown(source)}", "from")
        try:
            route = self.harness.inject_mo(source, destination, text)
        except RoutingError as error:
            return _error(400, f"from: {error}", "from")
        except MoRefused as refused:
            field = _ARGUMENT_FIELD.get(refused.argument, refused.argument)
            return _error(400, f"{field}: {refused.reason}", field)
        return _Reply(202, {"operator": route.operator_id, "from": route.msisdn, "to": destination})

    def release(self, raw: bytes) -> _Reply:
        """R3: lift a suspended bulk send; 400 for a bad body or an unknown account, 409 when
        that send is not suspended (naming the account's suspended sends)."""
        body = _json_object(raw, _RELEASE_SHAPE, ("account", "campaign"))
        if isinstance(body, _Reply):
            return body
        account, campaign = body.get("account"), body.get("campaign")
        if not isinstance(account, str):
            return _error(400, f"account: expected a string, got {_json_type(account)}; expected {_RELEASE_SHAPE}",
                          "account")
        if account not in self.harness.server.accounts:
            return _error(400, f"account: no account {_shown(account)}", "account")
        if campaign is not None and not (isinstance(campaign, str) and _CAMPAIGN.fullmatch(campaign)):
            got = _shown(campaign) if isinstance(campaign, str) else _json_type(campaign)
            return _error(400, f"campaign: expected a campaign id (1 to 64 printable ASCII characters, no space) "
                               f"or null for the traffic without campaign id, got {got}", "campaign")
        released = self.harness.release(account, campaign)
        if released is None:
            suspended = [c for a, c in self.harness.server.rules.skew.suspended() if a == account]
            send = "its traffic without campaign id" if campaign is None else f"campaign {_shown(campaign)}"
            return _error(409, f"{account}: {send} is not suspended; suspended now: "
                               f"{json.dumps(suspended) if suspended else 'none'}", "campaign")
        return _Reply(200, {"account": account, "campaign": campaign, "released": released})

    # --- the operators' SMSCs at run time, as a scenario's `operator` step ------------------

    def operator(self, ident: str, verb: bytes, raw: bytes) -> _Reply:
        smsc = self.harness.operators.get(ident)
        if smsc is None:
            known = ", ".join(sorted(self.harness.operators))
            return _error(404, f"operator: no operator {_shown(ident)}; there are {known}", "operator")
        if verb == b"recover":
            body = _json_object(raw, "{}", ()) if raw.strip() else {}
            if isinstance(body, _Reply):
                return body
            if smsc.outage is None:
                return _error(409, f"operator: {ident} is not in an outage", "operator")
            mode = smsc.outage
            smsc.end_outage()
            return _Reply(200, {"operator": ident, "outage": None, "ended": mode.value})
        if verb == b"outage":
            fields = _json_fields(raw, ("mode",), _OUTAGE_SHAPE)
            if isinstance(fields, _Reply):
                return fields
            try:
                mode = OutageMode(fields["mode"])
            except ValueError:
                modes = ", ".join(m.value for m in OutageMode)
                return _error(400, f"mode: expected one of {modes}, got {_shown(fields['mode'])}", "mode")
            smsc.start_outage(mode)
            return _Reply(200, {"operator": ident, "outage": mode.value})
        return self.throughput(ident, smsc, raw)

    def throughput(self, ident: str, smsc: OperatorSmsc, raw: bytes) -> _Reply:
        body = _json_object(raw, _THROUGHPUT_SHAPE, ("rate", "burst"))
        if isinstance(body, _Reply):
            return body
        rate, burst = body.get("rate"), body.get("burst")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_RATE:
            return _error(400, f"rate: expected messages a second, a number > 0 and at most {MAX_RATE:,.0f}, "
                               f"got {_got(rate, (int, float))}", "rate")
        if burst is None:
            burst = max(1, round(rate))
        elif isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
            return _error(400, f"burst: expected a whole number of messages from 1 to {MAX_BURST:,}, "
                               f"got {_got(burst, int)}", "burst")
        smsc.set_throughput(float(rate), burst)
        return _Reply(200, {"operator": ident, "rate": rate, "burst": burst})

    # --- one message, for a person tracing it -------------------------------------------------

    def message(self, ident: str) -> _Reply:
        store = self.harness.store
        try:
            record = store.message(ident)
            if record is None:
                return _error(404, f"message: no message {_shown(ident)}", "message")
            history = store.history(ident)
            receipts = store.receipts(ident)
        except StoreUnavailable as error:
            return _error(503, f"the store cannot be read now: {error}")
        return _Reply(200, _message_json(record, history, receipts))

    def latest(self, query: bytes) -> _Reply:
        """GET /messages?last=N: the N newest messages (1 to 100, default 20), newest first,
        each as GET /messages/{id} gives it: the dashboard's list."""
        params = _last_query(query, "messages")
        if isinstance(params, _Reply):
            return params
        try:
            latest = self.harness.store.latest_messages(params.last)
        except StoreUnavailable as error:
            return _error(503, f"the store cannot be read now: {error}")
        return _Reply(200, {"messages": [_message_json(*found) for found in latest]})

    # --- the rules' decisions (aggregator/rules/) ---------------------------------------------

    def rule_events(self, query: bytes) -> _Reply:
        """GET /rules/events?last=N[&rule=R]: the N newest rule decisions (1 to 100, default
        20), newest first, of every rule or of rule R only: the dashboard's panel."""
        params = _last_query(query, "rule events", ("rule",))
        if isinstance(params, _Reply):
            return params
        rule = params.others.get("rule")
        if rule is not None and rule not in RULE_NAMES:
            return _error(400, f"rule: no rule {_shown(rule)}; there are {', '.join(RULE_NAMES)}", "rule")
        try:
            events = self.harness.store.latest_rule_events(params.last, rule)
        except StoreUnavailable as error:
            return _error(503, f"the store cannot be read now: {error}")
        return _Reply(200, {"events": [_rule_event_json(e) for e in events]})

    # --- the dashboard (aggregator/dashboard.py) ------------------------------------------

    def page(self, method: bytes, path: bytes, query: bytes, authorised: bool, cookie: str) -> _Reply:
        """GET /: the dashboard, or how to get in; GET /?token=T: the cookie, then the
        dashboard; GET /dashboard.js: its script. A browser cannot send the bearer header when
        it opens an address, so the token comes once in the address (from `smsc-harness
        dashboard`) and is kept in an HttpOnly, SameSite=Strict cookie (docs/dashboard.md)."""
        if method != b"GET":
            return _error(405, f"{path.decode()} takes GET", headers=((b"Allow", b"GET"),))
        if path == b"/dashboard.js":
            if not authorised:
                return _error(401, "the dashboard's script needs its cookie: open the address "
                                   "`smsc-harness dashboard` prints")
            return _Reply(200, dashboard.script(), content_type="text/javascript; charset=utf-8")
        params = _query(query, ("token",), "?token=TOKEN")
        if isinstance(params, _Reply):
            return params
        html = "text/html; charset=utf-8"
        if "token" in params:
            given = params["token"]
            if len(given) != 1 or not hmac.compare_digest(given[0].encode("ascii", "replace"), self._token):
                log.info("control API: dashboard refused: the token in the address is not this serve's")
                return _Reply(401, dashboard.login_page(wrong_token=True), _PAGE_HEADERS, html)
            cookie_header = f"{cookie}={given[0]}; HttpOnly; SameSite=Strict; Path=/".encode("ascii")
            return _Reply(303, {"location": "/"}, ((b"Location", b"/"), (b"Set-Cookie", cookie_header)))
        if not authorised:
            return _Reply(401, dashboard.login_page(wrong_token=False), _PAGE_HEADERS, html)
        return _Reply(200, dashboard.page(self.harness), _PAGE_HEADERS, html)

    # --- R1's opt-out lists (aggregator/rules/stop.py) ------------------------------------

    def optouts(self, query: bytes) -> _Reply:
        """GET /optouts[?account=A]: the lists, by account then number."""
        params = _query(query, ("account",), "?account=SYSTEM_ID")
        if isinstance(params, _Reply):
            return params
        account = None
        if "account" in params:
            if len(params["account"]) != 1:
                return _error(400, "account: given more than once", "account")
            account = params["account"][0]
            if account not in self.harness.server.accounts:
                return _error(400, f"account: no account {_shown(account)}", "account")
        return _Reply(200, {"optouts": [_optout_json(o) for o in self.harness.server.rules.optouts(account)]})

    def change_optout(self, raw: bytes, add: bool) -> _Reply:
        """POST /optouts (add by hand) or DELETE /optouts (remove) ``{"account", "number"}``."""
        fields = _json_fields(raw, _OPTOUT_FIELDS, _OPTOUT_SHAPE)
        if isinstance(fields, _Reply):
            return fields
        account, written = fields["account"], fields["number"]
        if account not in self.harness.server.accounts:
            return _error(400, f"account: no account {_shown(account)}", "account")
        number = self.harness.server.router.subscriber(written) if _NUMBER.fullmatch(written) else None
        if number is None:
            return _error(400, "number: expected a subscriber's phone number (E.164 with '+', or national digits), "
                               f"got {_shown(written)}", "number")
        rules = self.harness.server.rules
        if add:
            entry = rules.add_optout(account, number)
            if entry is None:
                existing = next(o for o in rules.optouts(account) if o.number == number)
                return _Reply(200, {**_optout_json(existing), "added": False})
            return _Reply(201, {**_optout_json(entry), "added": True})
        removed = rules.remove_optout(account, number)
        if removed is None:
            return _error(404, f"number: {number} is not on {account}'s opt-out list", "number")
        return _Reply(200, {**_optout_json(removed), "removed": True})


def _json_object(raw: bytes, shape: str, fields: tuple[str, ...] | None = None) -> dict[str, Any] | _Reply:
    """A request body that must be a JSON object (with no field but `fields`, when given), or
    the 400 saying why it is not."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        return _error(400, "body: not UTF-8 (JSON is UTF-8, RFC 8259 §8.1)", "body")
    except (ValueError, RecursionError) as error:
        return _error(400, f"body: not JSON: {str(error)[:120]}; expected {shape}", "body")
    if not isinstance(body, dict):
        return _error(400, f"body: expected a JSON object {shape}, got {_json_type(body)}", "body")
    for name in body:
        if fields is not None and name not in fields:
            return _error(400, f"{_shown(name)}: unknown field; expected {shape}", name[:64])
    return body


@dataclass(frozen=True, slots=True)
class _LastQuery:
    """A `?last=N` query: N, and the other parameters the route takes (each given once)."""

    last: int
    others: Mapping[str, str]


def _query(query: bytes, names: tuple[str, ...], shape: str) -> dict[str, list[str]] | _Reply:
    """A query string's parameters (at most 4, blank values kept), each one of `names`; or the
    400 naming what is wrong. `shape`: what is expected, for the message (?account=SYSTEM_ID)."""
    try:
        params = parse_qs(query.decode("ascii"), keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return _error(400, f"query: expected {shape} or nothing", "query")
    for name in params:
        if name not in names:
            return _error(400, f"{_shown(name)}: unknown parameter; expected {shape}", name[:64])
    return params


def _last_query(query: bytes, noun: str, others: tuple[str, ...] = ()) -> _LastQuery | _Reply:
    """The query of a "newest N" route (GET /messages, GET /rules/events): `last` (1 to
    _LAST_MAX, default _LAST_DEFAULT) and `others`, each at most once; or the 400 naming the
    parameter that is wrong. `noun`: what is counted, for the message."""
    params = _query(query, ("last", *others), "?last=N" + "".join(f"&{name}=..." for name in others))
    if isinstance(params, _Reply):
        return params
    last = _LAST_DEFAULT
    if "last" in params:
        given = params["last"]
        if len(given) != 1 or not given[0].isascii() or not given[0].isdigit() \
                or not 1 <= int(given[0]) <= _LAST_MAX:
            shown = _shown(given[0]) if len(given) == 1 else "it more than once"
            return _error(400, f"last: expected a whole number of {noun} from 1 to {_LAST_MAX}, got {shown}",
                          "last")
        last = int(given[0])
    for name in others:
        if name in params and len(params[name]) != 1:
            return _error(400, f"{name}: given more than once", name)
    return _LastQuery(last, {name: params[name][0] for name in others if name in params})


def _id_route(path: bytes) -> tuple[bytes, str] | None:
    """(verb, id) of a path with an id in it (`/operators/sfr/outage` -> (b"outage", "sfr"),
    `/messages/42` -> (b"messages", "42")), or None."""
    match = _OPERATOR_PATH.fullmatch(path)
    if match is not None:
        return match.group(2), match.group(1).decode("ascii")
    match = _MESSAGE_PATH.fullmatch(path)
    if match is not None:
        return b"messages", match.group(1).decode("ascii")
    return None


def _got(value: object, kind: type | tuple[type, ...]) -> str:
    """What a refused number was, for its 400: the number itself (a `kind`, true and false
    not counted, though bool is an int), or what JSON type came instead."""
    return repr(value) if isinstance(value, kind) and not isinstance(value, bool) else _json_type(value)


def _message_json(record: MessageRecord, history: Sequence[MessageEvent],
                  receipts: Sequence[ReceiptRecord]) -> dict[str, object]:
    """One message as GET /messages/{id} and GET /messages?last=N give it."""
    return {
        "id": record.id, "account": record.account, "state": record.state.value,
        "from": record.source_addr, "to": record.destination_addr, "operator": record.operator_id,
        "operator_message_id": record.operator_message_id, "attempts": record.attempts,
        "created": iso(record.created_at),
        "submitted": None if record.submitted_at is None else iso(record.submitted_at),
        "done": None if record.done_at is None else iso(record.done_at),
        "error_code": record.error_code, "campaign": record.campaign,
        "history": [{"at": iso(e.at), "state": e.state.value, "detail": e.detail} for e in history],
        "receipts": [_receipt_json(r) for r in receipts],
    }


def _receipt_json(receipt: ReceiptRecord) -> dict[str, object]:
    return {"operator_message_id": receipt.operator_message_id, "stat": receipt.stat, "err": receipt.err,
            "text": receipt.text, "received": iso(receipt.received_at)}


def _rule_event_json(event: RuleEvent) -> dict[str, object]:
    """One rule decision as GET /rules/events gives it: the names of report.json's rule
    events' examples (reports/json.py), and the facts that caused it as the rule wrote them."""
    return {"at": iso(event.at), "rule": event.rule, "action": event.action, "account": event.account,
            "number": event.number, "campaign": event.campaign, "message_id": event.message_id,
            "facts": dict(event.facts)}


def _optout_json(entry: OptOut) -> dict[str, object]:
    return {"account": entry.account, "number": entry.number, "since": iso(entry.since), "how": entry.how}


def _json_fields(raw: bytes, names: tuple[str, ...], shape: str) -> dict[str, str] | _Reply:
    """A JSON object body with exactly these string fields, or the 400 that says what is wrong."""
    body = _json_object(raw, shape, names)
    if isinstance(body, _Reply):
        return body
    for name in names:
        if name not in body:
            return _error(400, f"{name}: missing; expected {shape}", name)
        if not isinstance(body[name], str):
            return _error(400, f"{name}: expected a string, got {_json_type(body[name])}", name)
    return {name: body[name] for name in names}


def _write(request: IRequest, reply: _Reply) -> bytes:
    request.setResponseCode(reply.code, _REASONS.get(reply.code))
    request.setHeader(b"content-type", reply.content_type.encode())
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"x-content-type-options", b"nosniff")
    for name, value in reply.headers:
        request.setHeader(name, value)
    return reply.body if isinstance(reply.body, bytes) else _json_bytes(reply.body)


class _ControlRequest(server.Request):
    """A Request that never holds more than the site's `max_body` octets of body (rule 1)
    and answers an unexpected error in JSON, logged with its traceback (rule 6)."""

    # twisted.web.http.Request declares `content = None` and `args = None` without annotations,
    # so mypy takes their type to be None: ours are said here.
    content: io.BytesIO  # type: ignore[assignment]
    args: dict[bytes, list[bytes]]  # type: ignore[assignment]
    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()
        if length is not None and length > self._limit():
            self._too_large()

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._limit():
            self._too_large()
            return
        self.content.write(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """As twisted.web's, without parsing form bodies into `args` (this API takes JSON only,
        and a broken multipart body would get twisted.web's bare 400)."""
        if self._refused:               # answered already
            return
        self.content.seek(0, 0)
        self.args = {}
        self.method, self.uri, self.clientproto = command, path, version
        self.path = path.split(b"?", 1)[0]
        self.process()

    def process(self) -> None:
        if self.path == b"*":           # OPTIONS * and the like: an unknown path of ours, not
            self.site = self._site()    # twisted.web's bare answer that skips every check
            try:
                self.render(self.site.resource)
            except Exception:           # noqa: BLE001 - as twisted.web's process does
                self.processingFailed(Failure())
            return
        super().process()

    def processingFailed(self, reason: Failure) -> Failure:
        log.failure("control API: {method} {path} failed", failure=reason, method=self.method,
                    path=self.path[:64])
        body = _json_bytes({"error": "internal error (logged by the server)"})
        self.setResponseCode(500, _REASONS[500])
        self.setHeader(b"content-type", _JSON.encode())
        self.setHeader(b"content-length", b"%d" % len(body))
        self.write(body)
        self.finish()
        return reason

    def _site(self) -> ControlSite:
        # Site.buildProtocol sets channel.site; twisted.web's HTTPChannel does not declare it.
        site = self.channel.site  # type: ignore[attr-defined]
        assert isinstance(site, ControlSite)
        return site

    def _limit(self) -> int:
        return self._site().max_body

    def _too_large(self) -> None:
        """Answer 413 now and close: the rest of the body is never read, let alone kept."""
        self._refused = True
        self.content = io.BytesIO()
        self.requestHeaders.removeHeader(b"expect")       # no "100 Continue" after our answer
        body = _json_bytes({"error": f"body: larger than {self._limit()} octets", "field": "body"})
        assert self.channel.transport is not None
        self.channel.transport.write(
            b"HTTP/1.1 413 Content Too Large\r\ncontent-type: " + _JSON.encode()
            + b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
        self.channel.loseConnection()


class ControlSite(server.Site):
    requestFactory = _ControlRequest
    noisy = False

    def __init__(self, api: ControlApi, clock: IReactorTime, max_body: int = MAX_BODY) -> None:
        super().__init__(api, timeout=IDLE_TIMEOUT, reactor=clock)
        self.max_body = max_body

    def log(self, request: object) -> None:
        """No access log: the API's own lines say what matters (refusals, failures)."""


def control_site(harness: Harness, token: str, clock: IReactorTime, max_body: int = MAX_BODY) -> ControlSite:
    return ControlSite(ControlApi(harness, token), clock, max_body)


# --- the control file -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ControlFile:
    """What `serve` writes next to its store so that `smsc-harness mo` (and the user, with
    curl) finds this instance's control API and may use it."""

    url: str
    token: str


def control_file_path(db: str | os.PathLike[str]) -> Path:
    """`<db>.control.json`: one per store, so a client names the instance by its database."""
    return Path(f"{os.fspath(db)}.control.json")


def write_control_file(path: Path, url: str, token: str) -> None:
    """Write atomically (a temporary file in the same directory, then a rename) with mode
    0600 from its creation: there is no instant at which another user could read the token,
    nor one at which a reader finds half a file."""
    data = json.dumps({"url": url, "token": token, "pid": os.getpid()}, indent=2).encode() + b"\n"
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_control_file(path: Path) -> ControlFile:
    """Raises OSError if it cannot be read, ValueError if it is not what `serve` writes."""
    try:
        data = json.loads(path.read_bytes())
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not isinstance(data.get("token"), str):
        raise ValueError(f'{path}: expected {{"url": ..., "token": ...}} as written by smsc-harness serve')
    return ControlFile(data["url"], data["token"])


def remove_control_file(path: Path, token: str) -> None:
    """Remove the file if it is still ours (another serve on the same store may have replaced it)."""
    try:
        if read_control_file(path).token == token:
            path.unlink()
    except (OSError, ValueError):
        pass
