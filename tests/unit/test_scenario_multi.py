"""The scenario step `multi` (one submit_multi): what the loader takes and refuses."""

from __future__ import annotations

import pytest

from aggregator.config import ConfigError
from scenarios.loader import parse_scenario
from scenarios.model import Multi

HEAD = "name: t\ntimeline:\n  - bind: {account: demo}\n"


def lines(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_scenario(HEAD + text, "x.yaml")
    return str(info.value).splitlines()


def test_a_multi_step() -> None:
    scenario = parse_scenario(HEAD + '  - multi: {account: demo, to: ["+33612345678", "0612345678"], text: hi,'
                                     ' from: "MyShop", receipt: true, id: spring}\n', "x.yaml")
    assert scenario.timeline[1] == Multi("demo", ("+33612345678", "0612345678"), "hi", "MyShop", True,
                                         "x.yaml:4:5", "spring")
    assert scenario.planned_messages() == 2


def test_254_destinations_at_most() -> None:
    numbers = ", ".join(f'"+336123{n:05d}"' for n in range(254))
    scenario = parse_scenario(HEAD + f"  - multi: {{account: demo, to: [{numbers}], text: hi}}\n", "x.yaml")
    assert scenario.planned_messages() == 254
    assert lines(f'  - multi: {{account: demo, to: [{numbers}, "+33600000000"], text: hi}}\n') == [
        "x.yaml:4:32: timeline[1].multi.to: expected a list of 1 to 254 destination numbers (one submit_multi),"
        " got 255"]


@pytest.mark.parametrize("to, problem", [
    ("[]", "timeline[1].multi.to: expected a list of 1 to 254 destination numbers (one submit_multi), got 0"),
    ('"+33612345678"', 'timeline[1].multi.to: expected a list, got "+33612345678"'),
    ('["+33612345678", abc]', "timeline[1].multi.to[1]: expected a destination number (digits, optionally after"
                              " '+'), in quotes, got \"abc\""),
])
def test_bad_destinations(to: str, problem: str) -> None:
    (line,) = lines(f"  - multi: {{account: demo, to: {to}, text: hi}}\n")
    assert line.split(": ", 1)[1] == problem


def test_unknown_account_and_missing_keys() -> None:
    got = lines('  - multi: {account: nobody, to: ["+33612345678"]}\n')
    assert any("timeline[1].multi.account" in line for line in got)
    assert any("timeline[1].multi.text: missing required key" in line for line in got)
