"""Tests for aggregator.config: the shipped network loads, bad files are located precisely."""

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import (
    AccountConfig,
    ConfigError,
    ListenConfig,
    NetworkConfig,
    NodeReader,
    OperatorConfig,
    RoutingConfig,
    compose,
    load_config,
    parse_config,
)

# A small valid config; tests below break one thing at a time.  Line numbers
# in expected messages refer to this text (line 1 is "listen:").
VALID = """\
listen:
  host: 127.0.0.1
  port: 2775
operators:
  - id: orange
    name: Orange France
    carriers: [Orange France]
  - id: sfr
    name: SFR
    carriers: [SFR]
    receipt_delay: 0.5
    window: 4
accounts:
  - {system_id: demo, password: demo}
routing:
  default_region: FR
  mvno_hosts: {"La poste telecom": sfr}
  ported: {"+33612345678": orange}
"""


def errors(text: str, source: str = "net.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source)
    return str(info.value).splitlines()


# -- the shipped default network ---------------------------------------------


def test_default_network_loads() -> None:
    config = load_config()
    assert isinstance(config, NetworkConfig)
    assert [op.id for op in config.operators] == ["orange", "sfr", "bouygues", "free"]
    assert config.accounts == (AccountConfig(system_id="demo", password="demo", max_binds=8),)
    assert config.listen == ListenConfig(host="127.0.0.1", port=2775)
    assert config.source.endswith("default_network.yaml")


def test_default_network_operators() -> None:
    config = load_config()
    carriers = {op.id: op.carriers for op in config.operators}
    assert carriers == {
        "orange": ("Orange France",),
        "sfr": ("SFR",),
        "bouygues": ("Bouygues",),
        "free": ("Free Mobile",),
    }
    for op in config.operators:
        assert op.port == 0
        assert op.receipt_delay == 1.0


def test_default_network_mvno_hosts() -> None:
    routing = load_config().routing
    assert routing.default_region == "FR"
    assert routing.mvno_hosts["La poste telecom"] == "sfr"
    assert routing.mvno_hosts["Euroinformation Telecom"] == "orange"
    assert routing.mvno_hosts["Lycamobile"] == "bouygues"
    assert set(routing.mvno_hosts.values()) <= {"orange", "sfr", "bouygues", "free"}
    assert dict(routing.ported) == {}


def test_load_config_from_path_uses_the_path_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(VALID.replace("window: 4", "window: 0"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:12:13: operators[1].window: expected an integer >= 1, got 0"


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: cannot read config file:")


# -- a valid file ------------------------------------------------------------


def test_valid_config_values_and_defaults() -> None:
    config = parse_config(VALID, "net.yaml")
    orange, sfr = config.operators
    assert orange == OperatorConfig(id="orange", name="Orange France", carriers=("Orange France",))
    assert (orange.host, orange.port, orange.system_id, orange.password) == ("127.0.0.1", 0, "aggregator", "secret")
    assert (orange.receipt_delay, orange.window) == (1.0, 10)
    assert (sfr.receipt_delay, sfr.window) == (0.5, 4)
    assert config.routing.mvno_hosts == {"La poste telecom": "sfr"}
    assert config.routing.ported == {"+33612345678": "orange"}
    assert config.source == "net.yaml"


def test_optional_sections_default() -> None:
    text = "operators:\n  - {id: a, name: A, carriers: []}\naccounts: []\n"
    config = parse_config(text, "net.yaml")
    assert config.listen == ListenConfig()
    assert config.routing == RoutingConfig()
    assert config.accounts == ()


def test_unquoted_ported_number_is_taken_as_written() -> None:
    # YAML reads an unquoted +33612345678 as an integer; the key text is kept.
    config = parse_config(VALID.replace('"+33612345678"', "+33612345678"), "net.yaml")
    assert dict(config.routing.ported) == {"+33612345678": "orange"}


def test_config_objects_are_frozen() -> None:
    config = parse_config(VALID, "net.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.operators[0].port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.routing.mvno_hosts["x"] = "sfr"  # type: ignore[index]
    assert list(load_config().routing.mvno_hosts)[:2] == ["La poste telecom", "Prixtel"]  # file order kept
    hash(config)  # usable as a dict key / cache key


def test_plain_dicts_and_lists_are_frozen_on_construction() -> None:
    hosts = {"X": "a"}
    routing = RoutingConfig(mvno_hosts=hosts)
    hosts["Y"] = "b"
    assert dict(routing.mvno_hosts) == {"X": "a"}
    op = OperatorConfig(id="a", name="A", carriers=["X"])  # type: ignore[arg-type]
    assert op.carriers == ("X",)


# -- bad files: exact messages ---------------------------------------------


def test_bad_number_names_file_line_column_and_field() -> None:
    text = VALID.replace("receipt_delay: 0.5", "receipt_delay: slow")
    assert errors(text) == ['net.yaml:11:20: operators[1].receipt_delay: expected a number >= 0, got "slow"']


def test_negative_number() -> None:
    text = VALID.replace("receipt_delay: 0.5", "receipt_delay: -1")
    assert errors(text) == ["net.yaml:11:20: operators[1].receipt_delay: expected a number >= 0, got -1"]


def test_bool_is_not_an_int() -> None:
    text = VALID.replace("window: 4", "window: true")
    assert errors(text) == ["net.yaml:12:13: operators[1].window: expected an integer >= 1, got a boolean (true)"]


def test_string_is_not_an_int_and_port_range() -> None:
    assert errors(VALID.replace("port: 2775", 'port: "2775"')) == [
        'net.yaml:3:9: listen.port: expected an integer from 0 to 65535, got "2775"'
    ]
    assert errors(VALID.replace("port: 2775", "port: 70000")) == [
        "net.yaml:3:9: listen.port: expected an integer from 0 to 65535, got 70000"
    ]


def test_number_where_string_expected_suggests_quotes() -> None:
    text = VALID.replace("password: demo", "password: 1234")
    assert errors(text) == [
        "net.yaml:14:33: accounts[0].password: expected a string of at most 8 ASCII characters (no NUL),"
        " got 1234 (put it in quotes to make it a string)"
    ]


def test_smpp_length_limits() -> None:
    text = VALID.replace("system_id: demo", "system_id: sixteen_chars_long")
    assert errors(text) == [
        "net.yaml:14:17: accounts[0].system_id: expected a string of 1 to 15 ASCII characters (no NUL),"
        ' got "sixteen_chars_long" (18 characters)'
    ]


def test_unknown_key_with_did_you_mean() -> None:
    text = VALID.replace("    window: 4", "    windw: 4")
    assert errors(text) == ["net.yaml:12:5: operators[1].windw: unknown key; did you mean 'window'?"]


def test_unknown_key_without_close_match_lists_keys() -> None:
    text = VALID.replace("  port: 2775", "  colour: blue")
    assert errors(text) == ["net.yaml:3:3: listen.colour: unknown key; expected one of: host, port"]


def test_missing_required_key_names_the_mapping() -> None:
    text = VALID.replace("    name: SFR\n", "")
    assert errors(text) == ["net.yaml:8:5: operators[1].name: missing required key"]


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = VALID.replace("name: SFR", "name: [SFR")
    lines = errors(text)
    assert len(lines) == 1
    assert lines[0].startswith("net.yaml:10:13: YAML syntax error: expected ',' or ']'")


def test_yaml_syntax_error_bad_indentation() -> None:
    text = "operators:\n  - id: a\n name: b\n"
    (line,) = errors(text)
    assert line.startswith("net.yaml:3:2: YAML syntax error:")


def test_empty_document() -> None:
    assert errors("") == ["net.yaml:1:1: (top level): expected a mapping, got an empty document"]


def test_duplicate_operator_ids() -> None:
    text = VALID.replace("id: sfr", "id: orange")
    assert errors(text) == [
        'net.yaml:8:9: operators[1].id: duplicate operator id "orange", already used by operators[0].id (line 5)'
    ]


def test_duplicate_account_system_ids() -> None:
    text = VALID.replace(
        "  - {system_id: demo, password: demo}\n",
        "  - {system_id: demo, password: demo}\n  - {system_id: demo, password: other}\n",
    )
    assert errors(text) == [
        'net.yaml:15:17: accounts[1].system_id: duplicate account system_id "demo",'
        " already used by accounts[0].system_id (line 14)"
    ]


def test_duplicate_yaml_key() -> None:
    text = VALID.replace("    window: 4", "    window: 4\n    window: 5")
    assert errors(text) == ["net.yaml:13:5: operators[1].window: duplicate key, first given at line 12"]


def test_mvno_host_must_be_a_known_operator() -> None:
    text = VALID.replace('{"La poste telecom": sfr}', '{"La poste telecom": sfrr}')
    assert errors(text) == [
        'net.yaml:17:36: routing.mvno_hosts["La poste telecom"]: expected an operator id (one of orange, sfr),'
        " got \"sfrr\"; did you mean 'sfr'?"
    ]


def test_mvno_host_cannot_repeat_a_native_carrier() -> None:
    text = VALID.replace('{"La poste telecom": sfr}', "{SFR: orange}")
    (line,) = errors(text)
    assert line.startswith(
        'net.yaml:17:16: routing.mvno_hosts["SFR"]: carrier "SFR" is served natively by operator "sfr"'
    )


def test_carrier_served_by_two_operators() -> None:
    text = VALID.replace("carriers: [SFR]", "carriers: [Orange France]")
    (line,) = errors(text)
    assert line.startswith('net.yaml:10:16: operators[1].carriers[0]: carrier "Orange France" is already served')


def test_ported_key_must_be_plus_digits_and_value_known() -> None:
    text = VALID.replace('{"+33612345678": orange}', '{"0612345678": orange, "+336": nobody}')
    assert errors(text) == [
        'net.yaml:18:12: routing.ported["0612345678"]: expected an E.164 number or prefix:'
        " '+' followed by 1 to 15 digits, got \"0612345678\"",
        'net.yaml:18:42: routing.ported["+336"]: expected an operator id (one of orange, sfr), got "nobody"',
    ]


def test_at_least_one_operator() -> None:
    text = "operators: []\naccounts: []\n"
    assert errors(text) == ["net.yaml:1:12: operators: expected a list of at least one operator, got an empty list"]


def test_region_code() -> None:
    text = VALID.replace("default_region: FR", "default_region: NO")
    assert errors(text) == [
        'net.yaml:16:19: routing.default_region: expected a two-letter region code in capitals, e.g. "FR",'
        " got a boolean (NO) (put it in quotes to make it a string)"
    ]


def test_several_problems_reported_in_file_order() -> None:
    text = VALID.replace("window: 4", "window: 0").replace("port: 2775", "port: -1").replace("sfr}", "xyz}")
    lines = errors(text)
    assert [line.split(": ")[1] for line in lines] == [
        "listen.port",
        "operators[1].window",
        'routing.mvno_hosts["La poste telecom"]',
    ]
    assert all(line.startswith("net.yaml:") for line in lines)


# -- the generic reader, as another YAML format would use it -----------------


def test_node_reader_is_reusable_for_other_formats() -> None:
    text = "steps:\n  - {send: 3, every: 0.5}\n  - {send: x}\n"
    root = compose(text, "scenario.yaml")
    reader = NodeReader("scenario.yaml")
    top = reader.mapping(root, "", required=("steps",))
    assert top is not None

    def step(node: Any, path: str) -> tuple[int, float] | None:
        fields = reader.mapping(node, path, required=("send",), optional=("every",))
        if fields is None:
            return None
        send = reader.required(fields, "send", path, reader.integer)
        every = reader.optional(fields, "every", path, reader.number, 1.0)
        return None if send is None or every is None else (send, every)

    steps = reader.required(top, "steps", "", lambda n, p: reader.items(n, p, step))
    assert steps is None
    with pytest.raises(ConfigError) as info:
        reader.raise_if_problems()
    assert str(info.value) == 'scenario.yaml:3:12: steps[1].send: expected an integer, got "x"'
