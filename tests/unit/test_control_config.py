"""`control: {token: ...}` in the network config (issue 10): read once at the edge, checked,
and never echoed in an error (it is a secret)."""

from __future__ import annotations

import pytest

from aggregator.config import ConfigError, ControlConfig, parse_config
from tests.unit.test_config import VALID


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "net.yaml")
    return str(info.value).splitlines()


def test_no_token_by_default() -> None:
    assert parse_config(VALID, "net.yaml").control == ControlConfig("127.0.0.1", 2776, None)


@pytest.mark.parametrize("token", ["0123456789abcdef", "Kybjh96reEPRM9ZpTNombKsn13Ao5s_4IpYGZBey71Q",
                                   "a.b-c_d~e+f/g0123==", "x" * 1024])
def test_a_token_is_read(token: str) -> None:
    config = parse_config(f'control: {{port: 0, token: "{token}"}}\n' + VALID, "net.yaml")
    assert config.control == ControlConfig("127.0.0.1", 0, token)
    assert token not in repr(config.control)               # not in a repr that a log may show


@pytest.mark.parametrize("value, got", [
    ('"short-secret"', "got 12 characters"),
    ('"' + "x" * 1025 + '"', "got 1025 characters"),
    ('"with space in the middle of it"', "got characters outside that alphabet"),
    ('"caf\\u00e9-0123456789abcdef"', "got characters outside that alphabet"),
    ('"=0123456789abcdef"', "got characters outside that alphabet"),
    ("12345678901234567890", "got something that is not a string (put it in quotes)"),
    ("[a, b]", "got something that is not a string (put it in quotes)"),
])
def test_a_bad_token_is_one_line_naming_the_field_without_its_value(value: str, got: str) -> None:
    (line,) = problems(f"control:\n  token: {value}\n" + VALID)
    assert line.startswith("net.yaml:2:10: control.token: expected a token of 16 to 1024 characters of ")
    assert line.endswith(got)
    secret = value.strip('"')
    assert secret[:12] not in line


def test_an_unknown_control_key_is_still_named() -> None:
    (line,) = problems("control: {tokn: abc}\n" + VALID)
    assert line.startswith("net.yaml:1:11: control.tokn: unknown key") and "did you mean 'token'?" in line
