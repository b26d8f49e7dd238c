"""reports.json: report.json, the machine-readable record of a replay.

Its rules: (1) the same `ScenarioReport` always gives the same bytes: keys sorted, floats rounded
to `FLOAT_DIGITS` decimals (a rule event's facts too), -0.0 written as 0.0, NaN and infinities
refused (a bug upstream);
(2) no wall-clock figure ever appears (it takes no `WallClock`); (3) the top-level `"format"`
names the schema, bumped on any incompatible change.
"""

from __future__ import annotations

import json as _json
import math
from collections.abc import Mapping
from typing import TypeAlias

from aggregator.clientcard import Card
from reports.model import ExpectationRecords, NumberList, ScenarioReport, SkewSplit

FORMAT = "smsc-harness-report/1"
FLOAT_DIGITS = 3

# A JSON value as this module builds it (recursive alias; no Any in signatures).
JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"


def _num(x: float) -> float:
    r = round(float(x), FLOAT_DIGITS)
    return 0.0 if r == 0.0 else r  # folds -0.0


def _counts(counts: tuple[tuple[str, int], ...]) -> dict[str, JsonValue]:
    return {state: n for state, n in counts}


def _value(value: object) -> JsonValue:
    """A rule event's fact as JSON: floats rounded as every other float, mappings by key (str),
    sequences as lists; anything else (not a JSON value: a bug upstream) as its str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a fact is not a finite number: {value!r}")
        return _num(value)
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return str(value)


def _number_list(numbers: NumberList) -> dict[str, JsonValue]:
    return {
        "total": numbers.total,
        "per_account": {account: n for account, n in numbers.per_account},
        "first": [{"account": x.account, "number": x.number, "at": _num(x.at), "why": x.why} for x in numbers.first],
    }


def _split(split: SkewSplit) -> dict[str, JsonValue]:
    return {
        "account": split.account,
        "send": split.send,
        "kind": split.kind,
        "country": split.country,
        "total": split.total,
        "verdict": split.verdict,
        "at": None if split.at is None else _num(split.at),
        "shares": [
            {"operator_id": s.operator_id, "count": s.count, "observed": _num(s.observed),
             "reference": None if s.reference is None else _num(s.reference)}
            for s in split.shares
        ],
    }


def _card(card: Card) -> dict[str, JsonValue]:
    """A client bind's report card, its times in seconds from the start (as every time here)."""
    return {
        "bind": card.bind,
        "account": card.account,
        "bound_at": _num(card.bound_at),
        "unbound_at": None if card.unbound_at is None else _num(card.unbound_at),
        "findings": [
            {"code": f.code, "title": f.title, "seen": f.seen, "count": f.count, "first_at": _num(f.first_at),
             "advice": f.advice}
            for f in card.findings
        ],
    }


def _records(records: ExpectationRecords | None) -> JsonValue:
    """A failing expectation's rows: {"kind", "subject", "total", "first": [{"at", fields...}]}; None when passed."""
    if records is None:
        return None
    return {
        "kind": records.kind,
        "subject": records.subject,
        "total": records.total,
        "first": [{"at": _num(r.at), **{k: _value(v) for k, v in r.fields}} for r in records.first],
    }


def report_to_dict(report: ScenarioReport) -> dict[str, JsonValue]:
    """The JSON tree of one scenario (without the `"format"` key), for embedding or tests."""
    lat = report.latency
    return {
        "name": report.name,
        "source": report.source,
        "seed": report.seed,
        "start": report.start,
        "sim_duration": _num(report.sim_duration),
        "messages": report.messages,
        "passed": report.passed,
        "outcomes": _counts(report.outcomes),
        "per_operator": [
            {"operator_id": op.operator_id, "outcomes": _counts(op.counts), "total": op.total}
            for op in report.per_operator
        ],
        "latency": None
        if lat is None
        else {"p50": _num(lat.p50), "p90": _num(lat.p90), "p99": _num(lat.p99), "max": _num(lat.max)},
        "throughput": [
            {"t": _num(p.t), "width": _num(p.width), "submitted": p.submitted, "delivered": p.delivered}
            for p in report.throughput
        ],
        "marks": [
            {"at": _num(m.at), "kind": m.kind, "label": m.label, "operator": m.operator,
             "until": None if m.until is None else _num(m.until)}
            for m in report.marks
        ],
        "events": [
            {"at": _num(e.at), "step": e.step, "kind": e.kind, "summary": e.summary} for e in report.events
        ],
        "expectations": [
            {
                "name": x.name,
                "step": x.step,
                "source": x.source,
                "expected": x.expected,
                "actual": x.actual,
                "passed": x.passed,
                "records": _records(x.records),
            }
            for x in report.expectations
        ],
        "refusals": [
            {"account": r.account, "status": r.status, "rule": r.rule, "count": r.count} for r in report.refusals
        ],
        "rule_events": [
            {
                "rule": g.rule,
                "action": g.action,
                "account": g.account,
                "count": g.count,
                "first_at": _num(g.first_at),
                "last_at": _num(g.last_at),
                "examples": [
                    {"at": _num(e.at), "number": e.number, "campaign": e.campaign, "message_id": e.message_id,
                     "facts": _value(e.facts)}
                    for e in g.examples
                ],
            }
            for g in report.rule_groups
        ],
        "optouts": _number_list(report.optouts),
        "purges": _number_list(report.purges),
        "skew": [_split(s) for s in report.skew],
        "clients": [_card(c) for c in report.clients],
        "summary": {
            "expectations": len(report.expectations),
            "failed": len(report.failures),
            "refused": report.refused,
            "rule_events": report.rule_event_count,
        },
    }


def _dump(tree: dict[str, JsonValue]) -> str:
    return _json.dumps(tree, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_json(report: ScenarioReport) -> str:
    """report.json for one scenario: `{"format": FORMAT, "passed": ..., "expectations": [...], ...}`.

    Raises ValueError if a float is NaN or infinite.
    """
    return _dump({"format": FORMAT, **report_to_dict(report)})
