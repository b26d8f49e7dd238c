"""Tests for aggregator.config: the shipped network loads, bad files are located precisely."""

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import (
    AccountConfig,
    ConfigError,
    ControlConfig,
    DeliveryConfig,
    ListenConfig,
    NetworkConfig,
    NodeReader,
    OperatorConfig,
    RoutingConfig,
    TrafficClass,
    compose,
    load_config,
    parse_config,
)
from smsc.operators.profile import (
    Exponential,
    Faults,
    Fixed,
    LogNormal,
    NumberRule,
    Outage,
    OutageMode,
    Outcome,
    RangeRule,
    Reply,
    SlowResponses,
    SmscBehaviour,
    Stat,
    SubmitError,
    SubscriberState,
    Throughput,
    Uniform,
    UnknownSignal,
)
from smsc.pdu.status import CommandStatus

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
    send_rate: 0.5
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
    assert config.accounts == (AccountConfig(system_id="demo", password="demo", max_binds=8, short_codes=("36180",)),)
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
        assert op.behaviour.receipt_delay == LogNormal(median=2.0, p99=30.0)


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
    assert str(info.value) == f"{path}:12:13: operators[1].window: expected an integer from 1 to 1000, got 0"


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
    assert (orange.send_rate, orange.window, orange.binds) == (None, 10, 1)
    assert (sfr.send_rate, sfr.window) == (0.5, 4)
    assert orange.behaviour == SmscBehaviour() and orange.temporary_errors == ("027", "031", "034")
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
    text = VALID.replace("send_rate: 0.5", "send_rate: slow")
    assert errors(text) == ['net.yaml:11:16: operators[1].send_rate: expected a number > 0 and <= 100000, got "slow"']


def test_negative_number() -> None:
    text = VALID.replace("send_rate: 0.5", "send_rate: -1")
    assert errors(text) == ["net.yaml:11:16: operators[1].send_rate: expected a number > 0 and <= 100000, got -1"]


def test_bool_is_not_an_int() -> None:
    text = VALID.replace("window: 4", "window: true")
    assert errors(text) == ["net.yaml:12:13: operators[1].window: expected an integer from 1 to 1000, got a boolean (true)"]


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
        " got an integer (not shown) (put it in quotes to make it a string)"
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
    assert errors(text) == ["net.yaml:3:3: listen.colour: unknown key; expected one of: host, port, tls"]


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


# -- issue 4: network-wide settings ------------------------------------------


def test_network_defaults_when_left_out() -> None:
    config = parse_config(VALID, "net.yaml")
    assert config.seed == 1
    assert config.delivery == DeliveryConfig(validity=86400.0, retry_initial=5.0, retry_max=600.0, retry_factor=2.0)
    assert config.control == ControlConfig(host="127.0.0.1", port=2776)
    assert config.test_numbers == ()


def test_network_settings_are_read() -> None:
    text = (
        "seed: 42\n"
        "control: {host: 0.0.0.0, port: 0}\n"
        "delivery: {validity: 3600, retry_initial: 1, retry_max: 60, retry_factor: 1.5}\n" + VALID
    )
    config = parse_config(text, "net.yaml")
    assert config.seed == 42
    assert config.control == ControlConfig(host="0.0.0.0", port=0)
    assert config.delivery == DeliveryConfig(validity=3600.0, retry_initial=1.0, retry_max=60.0, retry_factor=1.5)


@pytest.mark.parametrize(
    "line, message",
    [
        ("seed: one", 'net.yaml:1:7: seed: expected an integer >= 0, got "one"'),
        ("delivery: {validity: 0}", "net.yaml:1:22: delivery.validity: expected a number > 0 and <= 31622400, got 0"),
        ("delivery: {retry_factor: 0.5}", "net.yaml:1:26: delivery.retry_factor: expected a number from 1 to 10, got 0.5"),
        (
            "delivery: {retry_initial: 10, retry_max: 5}",
            "net.yaml:1:42: delivery.retry_max: expected a number >= retry_initial (10), got 5",
        ),
        ("delivery: {validty: 60}", "net.yaml:1:12: delivery.validty: unknown key; did you mean 'validity'?"),
        ("control: {port: http}", 'net.yaml:1:17: control.port: expected an integer from 0 to 65535, got "http"'),
    ],
)
def test_network_settings_errors(line: str, message: str) -> None:
    assert errors(line + "\n" + VALID) == [message]


# -- issue 4: accounts -------------------------------------------------------


def test_account_defaults_and_fields() -> None:
    acc = parse_config(VALID, "net.yaml").accounts[0]
    assert (acc.short_codes, acc.traffic, acc.rate, acc.burst, acc.max_pending) == (
        (),
        TrafficClass.TRANSACTIONAL,
        None,
        10,
        100000,
    )
    text = VALID.replace(
        "{system_id: demo, password: demo}",
        '{system_id: demo, password: demo, short_codes: ["36180", "33612000000"], traffic: marketing,'
        " rate: 25.5, burst: 3, max_pending: 7}",
    )
    acc = parse_config(text, "net.yaml").accounts[0]
    assert acc == AccountConfig(
        system_id="demo",
        password="demo",
        short_codes=("36180", "33612000000"),
        traffic=TrafficClass.MARKETING,
        rate=25.5,
        burst=3,
        max_pending=7,
    )
    assert parse_config(VALID.replace("password: demo}", "password: demo, rate: null}"), "x").accounts[0].rate is None


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            "short_codes: [36180]",
            "net.yaml:14:53: accounts[0].short_codes[0]: expected a short code or long number: 1 to 15 digits,"
            " in quotes, got 36180 (put it in quotes to make it a string)",
        ),
        (
            'short_codes: ["36 180"]',
            'net.yaml:14:53: accounts[0].short_codes[0]: expected a short code or long number: 1 to 15 digits,'
            ' in quotes, got "36 180"',
        ),
        (
            "traffic: marketting",
            'net.yaml:14:48: accounts[0].traffic: expected one of marketing, transactional, got "marketting";'
            " did you mean 'marketing'?",
        ),
        ("rate: 0", "net.yaml:14:45: accounts[0].rate: expected a number > 0 and <= 100000, got 0"),
        ("burst: 0", "net.yaml:14:46: accounts[0].burst: expected an integer from 1 to 100000, got 0"),
        ("max_pending: lots", 'net.yaml:14:52: accounts[0].max_pending: expected an integer from 1 to 10000000, got "lots"'),
        ("max_pendnig: 3", "net.yaml:14:39: accounts[0].max_pendnig: unknown key; did you mean 'max_pending'?"),
    ],
)
def test_account_field_errors(fields: str, message: str) -> None:
    text = VALID.replace("{system_id: demo, password: demo}", "{system_id: demo, password: demo, " + fields + "}")
    assert errors(text) == [message]


def test_a_short_code_belongs_to_one_account() -> None:
    text = VALID.replace(
        "  - {system_id: demo, password: demo}\n",
        '  - {system_id: demo, password: demo, short_codes: ["36180"]}\n'
        '  - {system_id: other, password: x, short_codes: ["36181", "36180"]}\n',
    )
    assert errors(text) == [
        'net.yaml:15:60: accounts[1].short_codes[1]: short code "36180" already belongs to account "demo"'
        " (accounts[0].short_codes[0], line 14)"
    ]


# -- R10: account credit ------------------------------------------------------


def test_account_credit_is_optional_segments() -> None:
    assert parse_config(VALID, "net.yaml").accounts[0].credit is None
    with_credit = VALID.replace("password: demo}", "password: demo, credit: 3}")
    assert parse_config(with_credit, "net.yaml").accounts[0].credit == 3
    zero = VALID.replace("password: demo}", "password: demo, credit: 0}")
    assert parse_config(zero, "net.yaml").accounts[0].credit == 0
    null = VALID.replace("password: demo}", "password: demo, credit: null}")
    assert parse_config(null, "net.yaml").accounts[0].credit is None
    assert load_config().accounts[0].credit is None  # the demo account has no limit


@pytest.mark.parametrize(
    "fields, message",
    [
        ("credit: lots", 'net.yaml:14:47: accounts[0].credit: expected an integer >= 0, got "lots"'),
        ("credit: -1", "net.yaml:14:47: accounts[0].credit: expected an integer >= 0, got -1"),
        ("credit: 2.5", "net.yaml:14:47: accounts[0].credit: expected an integer >= 0, got 2.5"),
        ("credit: true", "net.yaml:14:47: accounts[0].credit: expected an integer >= 0, got a boolean (true)"),
        ("credits: 3", "net.yaml:14:39: accounts[0].credits: unknown key; did you mean 'credit'?"),
    ],
)
def test_account_credit_errors(fields: str, message: str) -> None:
    text = VALID.replace("{system_id: demo, password: demo}", "{system_id: demo, password: demo, " + fields + "}")
    assert errors(text) == [message]


# -- issue 4: operators: aggregator side -------------------------------------


def test_operator_aggregator_side_fields() -> None:
    text = VALID.replace("    window: 4\n", '    window: 4\n    binds: 3\n    temporary_errors: ["031"]\n')
    sfr = parse_config(text, "net.yaml").operators[1]
    assert (sfr.binds, sfr.send_rate, sfr.temporary_errors) == (3, 0.5, ("031",))
    assert parse_config(VALID.replace("send_rate: 0.5", "send_rate: null"), "x").operators[1].send_rate is None


@pytest.mark.parametrize(
    "line, message",
    [
        ("binds: 0", "net.yaml:12:12: operators[1].binds: expected an integer from 1 to 64, got 0"),
        (
            "temporary_errors: [027]",
            'net.yaml:12:24: operators[1].temporary_errors[0]: expected a 3-digit receipt error code in quotes,'
            ' e.g. "034", got 027 (unquoted, YAML reads 034 as a number)',
        ),
        ("temporary_errors: \"027\"", 'net.yaml:12:23: operators[1].temporary_errors: expected a list, got "027"'),
        (
            "receipt_delay: 0.5",
            "net.yaml:12:5: operators[1].receipt_delay: this key has moved: write it as smsc.receipt_delay",
        ),
        (
            "smsc: []",
            "net.yaml:12:11: operators[1].smsc: expected a mapping with keys receipt_delay, validity,"
            " country_code, throughput, per_bind, max_binds, window, throttled_status, queue_full_status,"
            " unknown_status, unknown_subscriber, outcomes, submit_errors, subscribers, numbers, replies, faults,"
            " got an empty list",
        ),
    ],
)
def test_operator_field_errors(line: str, message: str) -> None:
    assert errors(VALID.replace("    window: 4\n", "    " + line + "\n")) == [message]


# -- issue 4: the operator SMSC block (smsc:) -------------------------------

SMSC = """\
operators:
  - id: sfr
    name: SFR
    carriers: [SFR]
    smsc:
{smsc}
accounts: []
"""


def smsc(block: str) -> SmscBehaviour:
    indented = "\n".join("      " + line for line in block.strip("\n").splitlines())
    return parse_config(SMSC.format(smsc=indented), "net.yaml").operators[0].behaviour


def smsc_errors(block: str) -> list[str]:
    indented = "\n".join("      " + line for line in block.strip("\n").splitlines())
    return errors(SMSC.format(smsc=indented))


def test_smsc_block_every_field() -> None:
    behaviour = smsc("""
receipt_delay: {lognormal: {median: 2, p99: 30}}
validity: 3600
country_code: "41"
throughput: {rate: 100, burst: 20}
per_bind: {rate: 50.5, burst: 5}
max_binds: 2
window: 3
throttled_status: ESME_RMSGQFUL
queue_full_status: ESME_RTHROTTLED
unknown_status: ESME_RINVDSTADR
unknown_subscriber: submit_error
outcomes:
  - {stat: DELIVRD, weight: 97.5}
  - {stat: UNDELIV, err: "034", weight: 2.5}
submit_errors: [{status: ESME_RSUBMITFAIL, weight: 0.1}]
subscribers:
  - {prefix: "+3366", unknown: 3.0, absent: 1.0, absent_back_after: {uniform: [60, 3600]}}
  - {prefix: "+33699", state: barred}
numbers:
  "+33699990001": unknown
  "+33699990002": {state: absent, back_after: 300}
replies: [{keyword: STOP, share: 2.0, delay: {uniform: [30, 7200]}, alphanumeric_sender_only: false}]
faults:
  outages: [{start: 3600, duration: 600, mode: refuse_binds}]
  slow_responses: {share: 5.0, delay: {exponential: {mean: 3}}}
  receipt_loss: 0.1
""")
    assert behaviour == SmscBehaviour(
        receipt_delay=LogNormal(2.0, 30.0),
        validity=3600.0,
        country_code="41",
        throughput=Throughput(100.0, 20),
        per_bind=Throughput(50.5, 5),
        max_binds=2,
        window=3,
        throttled_status=CommandStatus.ESME_RMSGQFUL,
        queue_full_status=CommandStatus.ESME_RTHROTTLED,
        unknown_status=CommandStatus.ESME_RINVDSTADR,
        unknown_subscriber=UnknownSignal.SUBMIT_ERROR,
        outcomes=(Outcome(Stat.DELIVRD, "000", 97.5), Outcome(Stat.UNDELIV, "034", 2.5)),
        submit_errors=(SubmitError(CommandStatus.ESME_RSUBMITFAIL, 0.1),),
        subscribers=(
            RangeRule("+3366", unknown=3.0, absent=1.0, absent_back_after=Uniform(60.0, 3600.0)),
            RangeRule("+33699", state=SubscriberState.BARRED),
        ),
        numbers=(
            NumberRule("+33699990001", SubscriberState.UNKNOWN),
            NumberRule("+33699990002", SubscriberState.ABSENT, back_after=300.0),
        ),
        replies=(Reply("STOP", 2.0, Uniform(30.0, 7200.0), False),),
        faults=Faults(
            outages=(Outage(3600.0, 600.0, OutageMode.REFUSE_BINDS),),
            slow_responses=SlowResponses(5.0, Exponential(3.0)),
            receipt_loss=0.1,
        ),
    )
    hash(behaviour)


@pytest.mark.parametrize(
    "text, delay",
    [
        ("1.5", Fixed(1.5)),
        ("{fixed: 0}", Fixed(0.0)),
        ("{uniform: [1, 5]}", Uniform(1.0, 5.0)),
        ("{exponential: {mean: 3}}", Exponential(3.0)),
        ("{lognormal: {median: 2.0, p99: 30}}", LogNormal(2.0, 30.0)),
    ],
)
def test_delay_forms(text: str, delay: object) -> None:
    assert smsc("receipt_delay: " + text).receipt_delay == delay


def test_null_throughput_and_never_back() -> None:
    behaviour = smsc('throughput: null\nsubscribers: [{prefix: "+33", absent: 5, absent_back_after: null}]')
    assert behaviour.throughput is None
    assert behaviour.subscribers[0].absent_back_after is None


@pytest.mark.parametrize(
    "block, message",
    [
        (
            "receipt_delay: slow",
            "net.yaml:6:22: operators[0].smsc.receipt_delay: expected a delay: a number of seconds >= 0, or one of"
            " {fixed: S}, {uniform: [LOW, HIGH]}, {exponential: {mean: M}}, {lognormal: {median: M, p99: P}},"
            ' got "slow"',
        ),
        (
            "receipt_delay: {uniform: [5, 1]}",
            "net.yaml:6:32: operators[0].smsc.receipt_delay.uniform: expected a list [LOW, HIGH] of two numbers"
            " from 0 to 31622400 with LOW <= HIGH, got a list (LOW 5 > HIGH 1)",
        ),
        (
            "receipt_delay: {lognormal: {median: 2, p99: 1}}",
            "net.yaml:6:51: operators[0].smsc.receipt_delay.lognormal.p99: expected a number >= the median (2),"
            " got 1",
        ),
        (
            "receipt_delay: {normal: 3}",
            "net.yaml:6:23: operators[0].smsc.receipt_delay.normal: unknown key; did you mean 'lognormal'?",
        ),
        ("throughput: {rate: fast, burst: 10}",
         'net.yaml:6:26: operators[0].smsc.throughput.rate: expected a number > 0 and <= 100000, got "fast"'),
        ("windw: 4", "net.yaml:6:7: operators[0].smsc.windw: unknown key; did you mean 'window'?"),
        ("max_binds: 0", "net.yaml:6:18: operators[0].smsc.max_binds: expected an integer from 1 to 64, got 0"),
        (
            "outcomes: [{stat: DELIVERED, weight: 1}]",
            "net.yaml:6:25: operators[0].smsc.outcomes[0].stat: expected one of DELIVRD, UNDELIV, REJECTD, EXPIRED,"
            " got \"DELIVERED\"; did you mean 'DELIVRD'?",
        ),
        (
            "outcomes: [{stat: UNDELIV, err: 034, weight: 1}]",
            'net.yaml:6:39: operators[0].smsc.outcomes[0].err: expected a 3-digit receipt error code in quotes,'
            ' e.g. "034", got 034 (unquoted, YAML reads 034 as a number)',
        ),
        ("outcomes: []",
         "net.yaml:6:17: operators[0].smsc.outcomes: expected a list of at least one outcome, got an empty list"),
        (
            "throttled_status: ESME_RTHROTLED",
            "net.yaml:6:25: operators[0].smsc.throttled_status: expected an SMPP 3.4 command_status name,"
            " e.g. ESME_RTHROTTLED, got \"ESME_RTHROTLED\"; did you mean 'ESME_RTHROTTLED'?",
        ),
        (
            "submit_errors: [{status: ESME_RSUBMITFAIL, weight: 101}]",
            "net.yaml:6:58: operators[0].smsc.submit_errors[0].weight: expected a number from 0 to 100, got 101",
        ),
        (
            "unknown_subscriber: refuse",
            'net.yaml:6:27: operators[0].smsc.unknown_subscriber: expected one of receipt, submit_error,'
            ' got "refuse"',
        ),
        (
            'subscribers: [{prefix: "+33", unknown: 60, absent: 50}]',
            "net.yaml:6:21: operators[0].smsc.subscribers[0]: expected shares of unknown, absent, terminated and"
            " barred adding up to at most 100, got a mapping (they add up to 110)",
        ),
        (
            'subscribers: [{prefix: "+33", state: barred, unknown: 1}]',
            "net.yaml:6:61: operators[0].smsc.subscribers[0].unknown: give either a state for the whole range or"
            " shares, not both",
        ),
        (
            'subscribers: [{prefix: "+33", unknwn: 1}]',
            "net.yaml:6:37: operators[0].smsc.subscribers[0].unknwn: unknown key; did you mean 'unknown'?",
        ),
        (
            'subscribers: [{prefix: "+33"}, {prefix: "+33"}]',
            'net.yaml:6:47: operators[0].smsc.subscribers[1].prefix: duplicate prefix "+33", already given at'
            " operators[0].smsc.subscribers[0].prefix (line 6)",
        ),
        (
            'numbers: {"0612345678": unknown}',
            'net.yaml:6:17: operators[0].smsc.numbers["0612345678"]: expected an E.164 number: \'+\' followed by'
            ' 2 to 15 digits, got "0612345678"',
        ),
        (
            'numbers: {"+33612345678": gone}',
            'net.yaml:6:33: operators[0].smsc.numbers["+33612345678"]: expected a subscriber state (one of active,'
            ' unknown, absent, terminated, barred) or a mapping, got "gone"',
        ),
        (
            'numbers: {"+33612345678": {state: barred, back_after: 3}}',
            'net.yaml:6:61: operators[0].smsc.numbers["+33612345678"].back_after: only applies to state absent',
        ),
        (
            "replies: [{keyword: STOP, text: STOP}]",
            "net.yaml:6:39: operators[0].smsc.replies[0]: give exactly one of keyword or text",
        ),
        (
            "replies: [{keyword: STOP, share: 60}, {keyword: ARRET, share: 50}]",
            "net.yaml:6:16: operators[0].smsc.replies: expected reply shares (percent of delivered messages)"
            " adding up to at most 100, got a list (they add up to 110)",
        ),
        (
            "faults: {outages: [{start: 0, duration: 60, mode: down}]}",
            'net.yaml:6:57: operators[0].smsc.faults.outages[0].mode: expected one of refuse_binds, drop, silent,'
            ' got "down"',
        ),
        (
            "faults: {receipt_loss: lots}",
            'net.yaml:6:30: operators[0].smsc.faults.receipt_loss: expected a number from 0 to 100, got "lots"',
        ),
        (
            "faults: {slow_response: {share: 5}}",
            "net.yaml:6:16: operators[0].smsc.faults.slow_response: unknown key; did you mean 'slow_responses'?",
        ),
    ],
)
def test_smsc_block_errors(block: str, message: str) -> None:
    assert smsc_errors(block) == [message]


# -- issue 4: magic test numbers ---------------------------------------------


def test_test_numbers_block() -> None:
    text = VALID + (
        "test_numbers:\n"
        '  "+33699990005": {submit_status: ESME_RSUBMITFAIL}\n'
        '  "+33699990007": {delay: 1, reply: {keyword: STOP, delay: {uniform: [1, 4]}}}\n'
        '  "+33699990009": {receipt: false}\n'
        '  "+33699990010": {throttle_every: 2}\n'
    )
    assert parse_config(text, "net.yaml").test_numbers == (
        NumberRule("+33699990005", submit_status=CommandStatus.ESME_RSUBMITFAIL),
        NumberRule("+33699990007", delay=1.0, reply=Reply("STOP", 100.0, Uniform(1.0, 4.0))),
        NumberRule("+33699990009", receipt=False),
        NumberRule("+33699990010", throttle_every=2),
    )


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{receipt: maybe}", 'net.yaml:20:29: test_numbers["+33699990009"].receipt: expected true or false,'
                             ' got "maybe"'),
        ("{throttle_every: 1}", 'net.yaml:20:36: test_numbers["+33699990009"].throttle_every: expected 0 (never)'
                                " or an integer >= 2, got 1"),
        ("{dealy: 3}", "net.yaml:20:20: test_numbers[\"+33699990009\"].dealy: unknown key; did you mean 'delay'?"),
    ],
)
def test_test_numbers_errors(entry: str, message: str) -> None:
    assert errors(VALID + 'test_numbers:\n  "+33699990009": ' + entry + "\n") == [message]


def test_default_network_magic_numbers() -> None:
    config = load_config()
    numbers = {rule.msisdn: rule for rule in config.test_numbers}
    assert sorted(numbers) == ["+33612345678"] + [f"+336999900{n:02d}" for n in range(11)]
    assert numbers["+33612345678"].delay == numbers["+33699990000"].delay == 0
    assert numbers["+33699990001"].state is SubscriberState.UNKNOWN
    assert (numbers["+33699990002"].state, numbers["+33699990002"].back_after) == (SubscriberState.ABSENT, 300)
    assert (numbers["+33699990003"].state, numbers["+33699990003"].back_after) == (SubscriberState.ABSENT, None)
    assert numbers["+33699990004"].state is SubscriberState.TERMINATED
    assert numbers["+33699990005"].submit_status is CommandStatus.ESME_RSUBMITFAIL
    assert numbers["+33699990006"].delay == 30
    assert numbers["+33699990007"].reply is not None and numbers["+33699990007"].reply.text == "STOP"
    assert numbers["+33699990008"].reply is not None and numbers["+33699990008"].reply.text == "CONTACT"
    assert numbers["+33699990009"].receipt is False
    assert numbers["+33699990010"].throttle_every == 2


def test_default_network_french_behaviour() -> None:
    config = load_config()
    behaviours = {op.behaviour for op in config.operators}
    assert len(behaviours) == 1                                  # one anchored block, shared
    (french,) = behaviours
    assert french.receipt_delay == LogNormal(2.0, 30.0)
    assert sum(o.weight for o in french.outcomes) == pytest.approx(100.0)
    assert french.subscribers == (
        RangeRule("+33", unknown=1.5, absent=1.0, terminated=0.3, absent_back_after=LogNormal(1800.0, 43200.0)),
    )
    assert (french.throughput, french.per_bind, french.max_binds) == (Throughput(100, 100), Throughput(50, 50), 4)
    assert french.unknown_subscriber is UnknownSignal.RECEIPT
    assert config.accounts[0].short_codes == ("36180",)


def test_the_default_networks_commented_rules_block_is_valid_and_says_the_defaults() -> None:
    """The `rules:` block shipped commented out in default_network.yaml parses once uncommented,
    and each value it shows is the default (so the file cannot drift from the dataclasses)."""
    from importlib import resources

    from aggregator.config import parse_config
    text = resources.files("aggregator").joinpath("default_network.yaml").read_text(encoding="utf-8")
    start = text.index("# rules:")
    block = "\n".join(line[2:] for line in text[start:].splitlines() if line.startswith("# "))
    uncommented = text[:start] + block + "\n"
    assert parse_config(uncommented, "default_network.yaml").rules == parse_config(text, "x").rules


def test_rules_tables_report_every_bad_key_and_value() -> None:
    text = VALID + """rules:
  credit: {prices: {orange: 0.04, FR: 0.05, "Bad Key": 1, sfr: -1}}
  skew:
    reference:
      fr: {orange: 1.0}
      FR: {orange: 0.5, sfr: 0.4}
      BE: {Orange: 1}
"""
    assert errors(text) == [
        'net.yaml:20:45: rules.credit.prices["Bad Key"]: expected an operator id (e.g. orange) or a region code'
        ' (e.g. FR)',
        'net.yaml:20:64: rules.credit.prices["sfr"]: expected a number from 0 to 1000, got -1',
        'net.yaml:23:7: rules.skew.reference["fr"]: expected a region code in capitals, e.g. "FR"',
        'net.yaml:24:11: rules.skew.reference["FR"]: expected shares summing to 1, got 0.9',
        'net.yaml:25:12: rules.skew.reference["BE"]["Orange"]: expected an operator id (lowercase letters, digits,'
        ' - and _)',
    ]
    good = parse_config(VALID + "rules: {credit: {prices: {orange: 0.04, FR: 0.05}}}\n", "net.yaml")
    assert dict(good.rules.credit.prices) == {"orange": 0.04, "FR": 0.05}
