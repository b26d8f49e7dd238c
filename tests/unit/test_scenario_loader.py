"""Tests for scenarios.loader: the format parses into the model, bad files are located precisely."""

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import ConfigError, TrafficClass
from aggregator.store import MessageState
from scenarios import loader
from scenarios.loader import load_scenario, parse_duration, parse_scenario
from scenarios.model import (
    Advance,
    Bind,
    BindMode,
    Campaign,
    Comparison,
    Expect,
    Filters,
    LedgerSum,
    Mo,
    OperatorAction,
    OperatorChange,
    Population,
    ScenarioClock,
    Subject,
    Submit,
)
from smsc.operators.profile import OutageMode, Stat, Throughput

SCHEMA = Path(__file__).resolve().parents[2] / "scenarios" / "schema.json"

FULL = """\
name: smoke test of the default network
seed: 7
clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
network: default
accounts:
  - {system_id: shop, password: shop, short_codes: ["38000"], traffic: marketing, credit: 500}
subscribers:
  - {name: french_mobiles, prefix: "+336", count: 1000}
  - {name: vip, numbers: ["+33612345678", "+33699990001"]}
timeline:
  - bind: {account: demo, mode: transceiver}
  - submit: {account: demo, to: "+33612345678", text: "Bonjour", from: "36180", receipt: true}
  - campaign: {account: demo, to: french_mobiles, count: 1000, rate: 50, text: "Promo", from: "MyShop", receipt: true}
  - mo: {from: "+33612345678", to: "36180", text: "STOP"}
  - advance: 2h
  - operator: {id: sfr, outage: silent}
  - operator: {id: sfr, recover: true}
  - operator: {id: sfr, throughput: {rate: 10, burst: 5}}
  - expect: {name: "all delivered", messages: {state: delivered, account: demo, ">=": 990}}
  - expect: {name: "one STOP reached demo", mos: {account: demo, text: STOP, "==": 1}}
  - expect: {name: "receipts", receipts: {account: demo, stat: DELIVRD, ">=": 990}}
  - include: fragments/common.yaml
"""

COMMON = """\
- advance: 1h30m
- bind: {account: shop, mode: receiver}
"""


def write(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def problems(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> list[str]:
    """The lines of the ConfigError that loading ``x.yaml`` (with ``files`` beside it) raises."""
    write(tmp_path, {"x.yaml": text, **(files or {})})
    with pytest.raises(ConfigError) as info:
        load_scenario(tmp_path / "x.yaml")
    return str(info.value).splitlines()


# --------------------------------------------------------------------------- valid


def test_full_example_parses_into_the_model(tmp_path: Path) -> None:
    write(tmp_path, {"x.yaml": FULL, "fragments/common.yaml": COMMON})
    s = load_scenario(tmp_path / "x.yaml")
    x = str(tmp_path / "x.yaml")
    frag = str(tmp_path / "fragments" / "common.yaml")

    assert s.name == "smoke test of the default network"
    assert s.seed == 7 and s.network.seed == 7
    assert s.clock == ScenarioClock(datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris")), "Europe/Paris")
    assert [a.system_id for a in s.network.accounts] == ["demo", "shop"]
    (shop,) = s.accounts
    assert shop.credit == 500 and s.network.accounts[1] == shop
    assert shop.traffic is TrafficClass.MARKETING and shop.short_codes == ("38000",)
    assert s.populations == (
        Population(name="french_mobiles", prefix="+336", count=1000, source=f"{x}:8:5"),
        Population(name="vip", numbers=("+33612345678", "+33699990001"), source=f"{x}:9:5"),
    )
    assert s.timeline == (
        Bind("demo", BindMode.TRANSCEIVER, f"{x}:11:5"),
        Submit("demo", "+33612345678", "Bonjour", "36180", True, f"{x}:12:5"),
        Campaign("demo", "french_mobiles", 1000, "Promo", 50.0, "MyShop", True, f"{x}:13:5"),
        Mo("+33612345678", "36180", "STOP", f"{x}:14:5"),
        Advance(7200.0, f"{x}:15:5"),
        OperatorChange("sfr", OperatorAction.OUTAGE, outage=OutageMode.SILENT, source=f"{x}:16:5"),
        OperatorChange("sfr", OperatorAction.RECOVER, source=f"{x}:17:5"),
        OperatorChange("sfr", OperatorAction.THROUGHPUT, throughput=Throughput(10.0, 5), source=f"{x}:18:5"),
        Expect(
            "all delivered",
            Subject.MESSAGES,
            Comparison.GE,
            990,
            Filters(account="demo", state=MessageState.DELIVERED),
            f"{x}:19:5",
        ),
        Expect("one STOP reached demo", Subject.MOS, Comparison.EQ, 1, Filters(account="demo", text="STOP"), f"{x}:20:5"),
        Expect("receipts", Subject.RECEIPTS, Comparison.GE, 990, Filters(account="demo", stat=Stat.DELIVRD), f"{x}:21:5"),
        Advance(5400.0, f"{frag}:1:3"),
        Bind("shop", BindMode.RECEIVER, f"{frag}:2:3"),
    )


def test_populations_are_drawn_deterministically(tmp_path: Path) -> None:
    write(tmp_path, {"x.yaml": FULL, "fragments/common.yaml": COMMON})
    pop = load_scenario(tmp_path / "x.yaml").population("french_mobiles")
    drawn = pop.draw(7)
    assert drawn == pop.draw(7) != pop.draw(8)
    assert len(set(drawn)) == 1000
    assert all(n.startswith("+336") and len(n) == 12 for n in drawn)


def test_defaults_and_inline_network() -> None:
    text = """\
name: inline
network:
  seed: 3
  operators:
    - {id: op, name: Op, carriers: ["Orange France"]}
  accounts:
    - {system_id: a, password: a}
timeline:
  - bind: {account: a}
  - advance: 90
"""
    s = parse_scenario(text, "inline.yaml")
    assert s.seed == 3 and [o.id for o in s.network.operators] == ["op"]
    assert s.clock.timezone == "Europe/Paris"
    assert s.timeline == (Bind("a", BindMode.TRANSCEIVER, "inline.yaml:9:5"), Advance(90.0, "inline.yaml:10:5"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), ("1h30m", 5400.0), ("1.5h", 5400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 hours", "30", "0s", "5m1h", "h"])
def test_parse_duration_refuses(text: str) -> None:
    assert parse_duration(text) is None


# --------------------------------------------------------------------------- errors

HEAD = "name: t\ntimeline:\n"


def test_bad_rate_type(tmp_path: Path) -> None:
    text = HEAD + (
        "  - campaign:\n"  # 3
        "      account: demo\n"  # 4
        "      to: vip\n"  # 5
        "      text: hi\n"  # 6
        "      rate: fast\n"  # 7
        "subscribers:\n"
        '  - {name: vip, numbers: ["+33612345678"]}\n'
    )
    assert problems(tmp_path, text) == [
        f'{tmp_path / "x.yaml"}:7:13: timeline[0].campaign.rate: expected a positive number of messages a second,'
        ' at most 100000, got "fast"'
    ]


@pytest.mark.parametrize(("written", "meant"), [("=", "=="), ("=>", ">="), ("=<", "<="), ("<>", "!=")])
def test_a_comparison_spelled_as_elsewhere_suggests_ours(tmp_path: Path, written: str, meant: str) -> None:
    text = HEAD + f'  - expect: {{name: x, messages: {{"{written}": 5}}}}\n'
    found = problems(tmp_path, text)
    assert any(f"messages.{written}: unknown key; did you mean '{meant}'?" in line for line in found), found


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    text = HEAD + (
        "  - sumbit: {account: demo}\n"  # 3
        "  - bind: {acount: demo}\n"  # 4
    )
    x = tmp_path / "x.yaml"
    assert problems(tmp_path, "nme: t\n" + text[len("name: t\n") :]) == [
        f"{x}:1:1: nme: unknown key; did you mean 'name'?",
        f"{x}:1:1: name: missing required key",
        f"{x}:3:5: timeline[0].sumbit: unknown key; did you mean 'submit'?",
        f"{x}:4:11: timeline[1].bind.account: missing required key",
        f"{x}:4:12: timeline[1].bind.acount: unknown key; did you mean 'account'?",
    ]


def test_step_with_two_verbs(tmp_path: Path) -> None:
    text = HEAD + (
        "  - advance: 10\n"  # 3
        "  - bind: {account: demo}\n"  # 4
        "    advance: 10\n"  # 5
    )
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'x.yaml'}:4:5: timeline[1]: expected exactly one verb, got 2: bind, advance"
    ]


def test_step_with_no_verb(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "  - {}\n") == [
        f"{tmp_path / 'x.yaml'}:3:5: timeline[0]: expected a step: a mapping with one of "
        + ", ".join(loader.VERBS)
        + ", got an empty mapping"
    ]


def test_unknown_population(tmp_path: Path) -> None:
    text = HEAD + (
        "  - campaign: {account: demo, to: vips, text: hi}\n"  # 3
        "subscribers:\n"
        '  - {name: vip, numbers: ["+33612345678"]}\n'
    )
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'x.yaml'}:3:35: timeline[0].campaign.to: expected a population of subscribers (vip),"
        " got \"vips\"; did you mean 'vip'?"
    ]


def test_unknown_account(tmp_path: Path) -> None:
    text = HEAD + "  - submit: {account: dmeo, to: \"+33612345678\", text: hi}\n"
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'x.yaml'}:3:23: timeline[0].submit.account: expected an account of the network or of"
        " accounts (demo), got \"dmeo\"; did you mean 'demo'?"
    ]


def test_unknown_account_in_an_expectation_and_unknown_operator(tmp_path: Path) -> None:
    text = HEAD + (
        "  - operator: {id: sfrr, outage: silent}\n"  # 3
        "  - expect: {name: n, mos: {account: shop, \"==\": 1}}\n"  # 4
    )
    x = tmp_path / "x.yaml"
    assert problems(tmp_path, text) == [
        f"{x}:3:20: timeline[0].operator.id: expected an operator id of the network (orange, sfr, bouygues, free),"
        " got \"sfrr\"; did you mean 'sfr'?",
        f"{x}:4:38: timeline[1].expect.mos.account: expected an account of the network or of accounts (demo),"
        ' got "shop"',
    ]


def test_bad_duration(tmp_path: Path) -> None:
    text = HEAD + "  - advance: 2 hours\n"
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'x.yaml'}:3:14: timeline[0].advance: expected {loader.DURATION_WHAT}, got \"2 hours\""
    ]
    assert problems(tmp_path, HEAD + "  - advance: -5\n") == [
        f"{tmp_path / 'x.yaml'}:3:14: timeline[0].advance: expected {loader.DURATION_WHAT}, got -5"
    ]


def test_include_cycle(tmp_path: Path) -> None:
    files = {
        "a.yaml": "- advance: 1s\n- include: b.yaml\n",
        "b.yaml": "- include: a.yaml\n",
    }
    text = HEAD + "  - include: a.yaml\n"
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert problems(tmp_path, text, files) == [
        f"{b}:1:12: timeline[0].include[1].include[0].include: include cycle:"
        f" {tmp_path / 'x.yaml'} -> {a} -> {b} -> {a}"
    ]


def test_error_inside_an_included_file_names_that_file(tmp_path: Path) -> None:
    files = {"parts/more.yaml": "- advance: 1m\n- submit: {account: demo, to: 33612345678, text: hi}\n"}
    text = HEAD + "  - advance: 1s\n  - include: parts/more.yaml\n"
    assert problems(tmp_path, text, files) == [
        f"{tmp_path / 'parts' / 'more.yaml'}:2:31: timeline[1].include[1].submit.to: expected a destination"
        " number (digits, optionally after '+'), in quotes, got 33612345678 (put it in quotes to make it a string)"
    ]


def test_missing_included_file(tmp_path: Path) -> None:
    lines = problems(tmp_path, HEAD + "  - include: nope.yaml\n")
    assert lines == [
        f"{tmp_path / 'x.yaml'}:3:14: timeline[0].include: cannot read included file {tmp_path / 'nope.yaml'}:"
        " No such file or directory"
    ]


def test_inline_network_errors_name_the_scenario_file() -> None:
    text = """\
name: inline
network:
  operators:
    - {id: op, name: Op, carriers: ["Orange France"], windw: 3}
  accounts:
    - {system_id: a, password: a}
timeline: []
"""
    with pytest.raises(ConfigError) as info:
        parse_scenario(text, "scenarios/x.yaml")
    assert str(info.value) == (
        "scenarios/x.yaml:4:55: network.operators[0].windw: unknown key; did you mean 'window'?"
    )


def test_scenario_account_errors(tmp_path: Path) -> None:
    text = HEAD + (
        "  - advance: 1\n"
        "accounts:\n"  # 4
        "  - {system_id: shop, password: shop, credti: 5}\n"  # 5
        "  - {system_id: x, password: x, short_codes: [\"36180\"], credit: -1}\n"  # 6
    )
    x = tmp_path / "x.yaml"
    assert problems(tmp_path, text) == [
        f"{x}:5:39: accounts[0].credti: unknown key; did you mean 'credit'?",
        f"{x}:6:65: accounts[1].credit: expected an integer >= 0, got -1",
    ]


def test_short_code_of_a_network_account(tmp_path: Path) -> None:
    text = HEAD + "  - advance: 1\naccounts:\n  - {system_id: x, password: x, short_codes: [\"36180\"]}\n"
    assert problems(tmp_path, text) == [
        f'{tmp_path / "x.yaml"}:5:5: accounts[0].short_codes: short code "36180" already belongs to network'
        ' account "demo"'
    ]


def test_expectation_needs_one_subject_and_one_comparison(tmp_path: Path) -> None:
    text = HEAD + (
        '  - expect: {name: a, messages: {">=": 1}, mos: {"==": 1}}\n'  # 3
        '  - expect: {name: b, receipts: {stat: DELIVRD, ">=": 1, "<": 5}}\n'  # 4
        '  - expect: {name: c, deliveries: {state: delivered, "==": 1}}\n'  # 5
    )
    x = tmp_path / "x.yaml"
    assert problems(tmp_path, text) == [
        f"{x}:3:49: timeline[0].expect: expected exactly one subject among messages, receipts, mos, deliveries,"
        " events, ledger, rules, refusals, got messages, mos",
        f"{x}:4:63: timeline[1].expect.receipts: expected exactly one comparison among ==, !=, >=, <=, >, <,"
        " got >=, <",
        f"{x}:5:36: timeline[2].expect.deliveries.state: unknown key; expected one of: account, ==, !=, >=, <=, >, <",
    ]


def test_syntax_error_is_located(tmp_path: Path) -> None:
    lines = problems(tmp_path, "name: [\n")
    assert lines[0].startswith(f"{tmp_path / 'x.yaml'}:2:1: YAML syntax error")


# --------------------------------------------------------------------------- schema


def test_schema_is_json_and_matches_the_loader_keys() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert sorted(schema["properties"]) == sorted(loader.TOP_KEYS)
    assert schema["required"] == list(loader.TOP_REQUIRED)
    assert schema["additionalProperties"] is False
    assert "authority" in schema["description"]
    defs = schema["$defs"]
    assert sorted(defs["account"]["properties"]) == sorted(loader.ACCOUNT_KEYS)
    assert sorted(defs["population"]["properties"]) == sorted(loader.POPULATION_KEYS)
    assert sorted(schema["properties"]["clock"]["properties"]) == sorted(loader.CLOCK_KEYS)
    steps = {next(iter(v["properties"])): v["properties"] for v in defs["step"]["oneOf"]}
    assert sorted(steps) == sorted(loader.VERBS)
    for verb, (required, optional) in loader.STEP_KEYS.items():
        body = steps[verb][verb]
        assert sorted(body["properties"]) == sorted((*required, *optional)), verb
        assert body["required"] == list(required), verb


def test_ledger_and_events_expectations(tmp_path: Path) -> None:
    text = (
        'name: x\ntimeline:\n'
        '  - expect: {name: billed, ledger: {account: demo, "==": 3}}\n'
        '  - expect: {name: retried, events: {account: demo, state: accepted, operator: sfr, ">": 3}}\n'
        '  - expect: {name: bad, ledger: {state: accepted, "==": 1}}\n'
    )
    x = tmp_path / "x.yaml"
    assert problems(tmp_path, text) == [
        f"{x}:5:34: timeline[2].expect.ledger.state: unknown key; expected one of: account, sum, ==, !=, >=, <=, >, <",
    ]
    s = parse_scenario(text.rsplit("  - expect: {name: bad", 1)[0], str(x))
    billed, retried = s.timeline
    assert billed == Expect("billed", Subject.LEDGER, Comparison.EQ, 3, Filters(account="demo"), f"{x}:3:5")
    assert retried == Expect("retried", Subject.EVENTS, Comparison.GT, 3,
                             Filters(account="demo", state=MessageState.ACCEPTED, operator="sfr"), f"{x}:4:5")


def test_an_mo_text_no_sms_can_carry_is_refused_by_check_not_by_the_replay(tmp_path: Path) -> None:
    text = 'name: x\ntimeline:\n  - bind: {account: demo}\n  - mo: {from: "+33612345678", to: "36180", text: "a\\ud800b"}\n'
    assert [line.replace(str(tmp_path) + "/", "") for line in problems(tmp_path, text)] == [
        "x.yaml:4:51: timeline[1].mo.text: expected an MO text an SMS can carry, got a lone surrogate (U+D800) at "
        "character 1: no SMS alphabet can carry it"]


def test_rules_refusals_and_ledger_sums(tmp_path: Path) -> None:
    text = HEAD + (
        '  - expect: {name: a, rules: {rule: purge, action: purge, account: demo, number: "+33612345678",'
        ' campaign: "spring-1", "==": 1}}\n'  # 3
        '  - expect: {name: b, refusals: {status: RULE_OPTED_OUT, rule: stop, ">=": 2}}\n'  # 4
        '  - expect: {name: c, ledger: {account: demo, sum: amount, "==": 0.35}}\n'  # 5
        '  - expect: {name: d, ledger: {sum: segments, "<": 12}}\n'  # 6
    )
    x = tmp_path / "x.yaml"
    (x).write_text(text)
    a, b, c, d = load_scenario(x).timeline
    assert a == Expect("a", Subject.RULES, Comparison.EQ, 1,
                       Filters(account="demo", rule="purge", action="purge", number="+33612345678",
                               campaign="spring-1"), f"{x}:3:5")
    assert b == Expect("b", Subject.REFUSALS, Comparison.GE, 2, Filters(status=0x400, rule="stop"), f"{x}:4:5")
    assert c == Expect("c", Subject.LEDGER, Comparison.EQ, 0.35, Filters(account="demo"), f"{x}:5:5",
                       sum=LedgerSum.AMOUNT)
    assert d == Expect("d", Subject.LEDGER, Comparison.LT, 12, Filters(), f"{x}:6:5", sum=LedgerSum.SEGMENTS)


def test_rules_and_refusals_filters_are_checked(tmp_path: Path) -> None:
    text = HEAD + (
        '  - expect: {name: a, rules: {rule: optout, "==": 1}}\n'  # 3
        '  - expect: {name: b, refusals: {status: ESME_NOPE, "==": 1}}\n'  # 4
        '  - expect: {name: c, ledger: {sum: segments, "==": 1.5}}\n'  # 5
        '  - expect: {name: d, messages: {sum: amount, "==": 1}}\n'  # 6
        '  - expect: {name: e, rules: {number: "0612345678", "==": 1}}\n'  # 7
    )
    found = problems(tmp_path, text)
    assert [line.split(": ", 1)[1].split(":")[0] for line in found] == [
        "timeline[0].expect.rules.rule", "timeline[1].expect.refusals.status", "timeline[2].expect.ledger.==",
        "timeline[3].expect.messages.sum", "timeline[4].expect.rules.number"]
    assert "did you mean" in found[0] or "one of stop" in found[0]


def test_campaign_id(tmp_path: Path) -> None:
    base = HEAD.replace("timeline:\n", "subscribers:\n  - {name: p, numbers: [\"+33612345678\"]}\ntimeline:\n")
    x = tmp_path / "x.yaml"
    x.write_text(base + '  - campaign: {account: demo, to: p, text: hi, id: "spring-1"}\n')
    (campaign,) = load_scenario(x).timeline
    assert isinstance(campaign, Campaign) and campaign.id == "spring-1"
    assert problems(tmp_path, base + '  - campaign: {account: demo, to: p, text: hi, id: "two words"}\n') == [
        f'{x}:5:52: timeline[0].campaign.id: expected a campaign id: 1 to 64 printable ASCII characters, no space,'
        ' got "two words"']
