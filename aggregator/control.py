"""A small HTTP control API for a running stack (twisted.web, JSON), on 127.0.0.1 by default.

    GET  /status   message counts by state, client binds per account, operator counters
    POST /mo       {"from": "+33612345678", "to": "36180", "text": "STOP"}: the subscriber
                   sends an MO; it leaves from the operator that serves "from" (routing and
                   portability included), as a deliver_sm to the aggregator.

`smsc-harness mo` is the command-line client of POST /mo. The later dashboard and
Prometheus metrics belong here too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from twisted.web import resource, server
from twisted.web.iweb import IRequest

from aggregator.routing import RoutingError

if TYPE_CHECKING:
    from aggregator.harness import Harness


def _reply(request: IRequest, code: int, body: object) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"


class Status(resource.Resource):
    isLeaf = True

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness

    def render_GET(self, request: IRequest) -> bytes:
        h = self.harness
        return _reply(request, 200, {
            "messages": h.store.count_by_state(committed_only=True),
            "binds": {account: len(conns) for account, conns in sorted(h.server.binds.items())},
            "operators": {op_id: {"submitted": smsc.submitted, "receipts_sent": smsc.receipts_sent,
                                  "queued_at_aggregator": len(h.pools[op_id].queue)}
                          for op_id, smsc in h.operators.items()},
        })


class InjectMo(resource.Resource):
    isLeaf = True

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness

    def render_POST(self, request: IRequest) -> bytes:
        try:
            body = json.loads(request.content.read() or b"{}")  # type: ignore[attr-defined]
            source, destination, text = str(body["from"]), str(body["to"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return _reply(request, 400, {"error": 'expected JSON {"from": MSISDN, "to": SHORT_CODE, "text": TEXT}'})
        try:
            route = self.harness.server.router.route(source, 1 if source.startswith("+") else 0)
        except RoutingError as error:
            return _reply(request, 400, {"error": f"from: {error}"})
        self.harness.operators[route.operator_id].inject_mo(route.msisdn.lstrip("+"), destination, text)
        return _reply(request, 202, {"operator": route.operator_id, "from": route.msisdn, "to": destination})


def control_site(harness: Harness) -> server.Site:
    root = resource.Resource()
    root.putChild(b"status", Status(harness))
    root.putChild(b"mo", InjectMo(harness))
    site = server.Site(root)
    site.noisy = False
    return site
