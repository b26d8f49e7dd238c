"""The one-declaration machinery: yamlreader.Fields (a YAML mapping read into a dataclass)
and the store's tables derived from its record dataclasses."""

from dataclasses import dataclass, fields
from functools import partial

import pytest

from aggregator.yamlreader import NULL, ConfigError, Fields, MappingNode, NodeReader, compose
from aggregator.store import (
    _DELIVERIES,
    _EVENTS,
    _MESSAGES,
    _MOS,
    _RECEIPTS,
    DeliveryRecord,
    MessageEvent,
    MessageRecord,
    MoRecord,
    ReceiptRecord,
)


@dataclass(frozen=True)
class Sample:
    name: str
    size: int = 3
    rate: float | None = 1.0


def read(text: str, spec_of):  # type: ignore[no-untyped-def]
    root = compose(text, "t.yaml", root_kind=MappingNode, root_what="a mapping")
    r = NodeReader("t.yaml")
    value = r.record(root, "", spec_of(r))
    return value, str(ConfigError(r.problems)).splitlines() if r.problems else []


def sample(r: NodeReader) -> Fields[Sample]:
    return Fields(Sample, {
        "name": partial(r.string, min_length=1),
        "size": partial(r.integer, minimum=1),
        "rate": r.nullable(partial(r.number, above=0)),
    })


def test_absent_keys_take_the_dataclass_default_and_null_is_none() -> None:
    assert read("name: a", sample) == (Sample("a"), [])
    assert read("name: a\nsize: 5\nrate: null", sample) == (Sample("a", 5, None), [])


def test_required_keys_are_the_fields_without_default_and_unknown_keys_are_named() -> None:
    value, problems = read("size: 0\ncolour: red", sample)
    assert value is None
    assert problems == [
        "t.yaml:1:1: name: missing required key",
        "t.yaml:1:7: size: expected an integer >= 1, got 0",
        "t.yaml:2:1: colour: unknown key; expected one of: name, size, rate",
    ]


def test_keys_left_to_the_caller_are_allowed_but_not_read() -> None:
    spec = Fields(Sample, {"name": None, "size": None}, required=("name",))
    assert spec.required_keys() == ("name",)
    assert spec.optional_keys() == ("size",)
    assert spec.default("size") == 3


def test_a_key_without_a_field_is_a_declaration_error() -> None:
    with pytest.raises(TypeError, match="no field for key"):
        Fields(Sample, {"nam": lambda node, path: None})
    assert NULL is not None


def test_build_refuses_a_value_that_had_a_problem() -> None:
    assert NodeReader.build(Fields(Sample, {}), {"name": None}) is None
    assert NodeReader.build(Fields(Sample, {}), {"name": "x"}, rate=NULL) == Sample("x", 3, None)


@pytest.mark.parametrize(
    "table, record, extra",
    [
        (_MESSAGES, MessageRecord, {"created_iso", "submitted_iso", "done_iso"}),
        (_EVENTS, MessageEvent, {"at_iso"}),
        (_RECEIPTS, ReceiptRecord, {"id", "received_iso"}),
        (_DELIVERIES, DeliveryRecord, {"created_iso", "delivered_at", "delivered_iso", "failure"}),
        (_MOS, MoRecord, {"id", "received_iso"}),
    ],
)
def test_each_table_is_its_record_plus_its_iso_columns(table, record, extra) -> None:  # type: ignore[no-untyped-def]
    assert set(table.columns) == {f.name for f in fields(record)} | extra
    assert [c for c in table.columns if c in {f.name for f in fields(record)}] == [f.name for f in fields(record)]


def test_not_null_follows_the_record() -> None:
    # No default and no None in the type: NOT NULL; the TEXT primary key too, the rowid not.
    assert _MESSAGES.not_null == (
        "id", "account", "source_addr", "source_addr_ton", "destination_addr", "operator_id", "state",
        "registered_delivery", "data_coding", "esm_class", "short_message", "created_at", "created_iso",
    )
    assert "id" not in _DELIVERIES.not_null and "message_id" not in _DELIVERIES.not_null
