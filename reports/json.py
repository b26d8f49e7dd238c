"""reports.json: report.json, the machine-readable record of a replay.

Its rules: (1) the same `ScenarioReport` always gives the same bytes: keys sorted, floats rounded
to `FLOAT_DIGITS` decimals, -0.0 written as 0.0, NaN and infinities refused (a bug upstream);
(2) no wall-clock figure ever appears (it takes no `WallClock`); (3) the top-level `"format"`
names the schema, bumped on any incompatible change.
"""

from __future__ import annotations

import json as _json
from typing import TypeAlias

from reports.model import ScenarioReport

FORMAT = "smsc-harness-report/1"
FLOAT_DIGITS = 3

# A JSON value as this module builds it (recursive alias; no Any in signatures).
JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"


def _num(x: float) -> float:
    r = round(float(x), FLOAT_DIGITS)
    return 0.0 if r == 0.0 else r  # folds -0.0


def _counts(counts: tuple[tuple[str, int], ...]) -> dict[str, JsonValue]:
    return {state: n for state, n in counts}


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
            {"t": _num(p.t), "submitted": p.submitted, "delivered": p.delivered} for p in report.throughput
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
            }
            for x in report.expectations
        ],
        "summary": {
            "expectations": len(report.expectations),
            "failed": len(report.failures),
        },
    }


def _dump(tree: dict[str, JsonValue]) -> str:
    return _json.dumps(tree, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_json(report: ScenarioReport) -> str:
    """report.json for one scenario: `{"format": FORMAT, "passed": ..., "expectations": [...], ...}`.

    Raises ValueError if a float is NaN or infinite.
    """
    return _dump({"format": FORMAT, **report_to_dict(report)})
