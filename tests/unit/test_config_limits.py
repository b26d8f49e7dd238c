"""The edges of the config reader: files that are not regular or too large, YAML past the
structural limits, numbers past their bounds, ports asked for twice, password hashes, and
error messages that never quote what a refused file holds."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from aggregator.config import ConfigError, load_config, parse_config
from aggregator.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_SCALAR_CHARS
from aggregator.yamlreader import FileRefused, compose, read_limited, read_text_file
from aggregator.passwords import Scheme, Secret, hash_password

NET = """\
operators:
  - {id: orange, name: Orange, carriers: [Orange France]OPERATOR}
  - {id: sfr, name: SFR, carriers: [SFR]}
accounts:
  - {system_id: demo, ACCOUNT}
"""


def net(operator: str = "", account: str = "password: demo") -> str:
    return NET.replace("OPERATOR", operator).replace("ACCOUNT", account)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "net.yaml")
    return str(info.value).splitlines()


# --------------------------------------------------------------------------- files


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the reader must not open it.
    (Before: read_bytes() blocked for ever; the thread keeps this test bounded either way.)"""
    fifo = tmp_path / "net.yaml"
    os.mkfifo(fifo)
    outcome: list[BaseException | tuple[str, str]] = []

    def load() -> None:
        try:
            outcome.append(read_text_file(fifo, "config"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the old code's open() so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("reading a FIFO blocked")
    (result,) = outcome
    assert isinstance(result, ConfigError)
    assert str(result) == f"{fifo}: cannot read config file: expected a regular file, got a FIFO (named pipe)"


@pytest.mark.parametrize(("make", "kind"), [("dir", "a directory"), ("dev", "a character device")])
def test_directories_and_devices_are_refused(tmp_path: Path, make: str, kind: str) -> None:
    if make == "dir":
        path = tmp_path / "net.yaml"
        path.mkdir()
    else:
        path = Path("/dev/zero")  # would never end if it were read
    with pytest.raises(FileRefused, match=f"expected a regular file, got {kind}"):
        read_limited(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    big = tmp_path / "net.yaml"
    big.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(ConfigError) as info:
        load_config(big)
    assert str(info.value) == (f"{big}: cannot read config file: expected a file of at most {MAX_FILE_BYTES}"
                               f" bytes, got {MAX_FILE_BYTES + 3} bytes")
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"#" * MAX_FILE_BYTES)
    assert read_limited(exact) == b"#" * MAX_FILE_BYTES


def test_the_default_network_is_well_inside_the_file_limit() -> None:
    default = Path(__file__).resolve().parents[2] / "aggregator" / "default_network.yaml"
    assert default.stat().st_size * 10 < MAX_FILE_BYTES


# --------------------------------------------------------------------------- YAML structure


def test_deep_nesting_is_a_located_error_not_a_recursion_error() -> None:
    deep = "seed: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError) as info:
        compose(deep, "net.yaml")
    # The mapping is level 1, so the refused list is the 32nd "[" (column 7 is the first).
    assert str(info.value) == f"net.yaml:1:{6 + MAX_DEPTH}: expected at most {MAX_DEPTH} nested levels of mappings" \
                              " and lists, got more"
    compose("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "ok.yaml")  # the limit itself passes


def test_a_billion_laughs_stops_at_the_node_budget() -> None:
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    with pytest.raises(ConfigError) as info:
        compose(text, "laughs.yaml")
    (line,) = str(info.value).splitlines()
    assert line.startswith("laughs.yaml:") and f"expected at most {MAX_NODES} YAML nodes in all" in line
    # Aliases within the budget are fine: a shared smsc block, say.
    assert compose("a: &x {k: 1}\nb: *x\n", "ok.yaml") is not None


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        compose("a: &loop [1, *loop]\n", "loop.yaml")
    assert str(info.value) == ("loop.yaml:1:14: expected an alias to a finished node, got an alias inside the node"
                               " it refers to")


def test_very_long_scalars_are_refused_and_huge_integers_never_reach_int() -> None:
    with pytest.raises(ConfigError) as info:
        compose("name: " + "x" * (MAX_SCALAR_CHARS + 1) + "\n", "long.yaml")
    assert str(info.value) == f"long.yaml:1:7: expected a value of at most {MAX_SCALAR_CHARS} characters, got" \
                              f" {MAX_SCALAR_CHARS + 1} characters"
    # 5,000 digits: int() would raise ValueError (Python's 4,300-digit limit) deep in PyYAML.
    lines = errors(net().replace("operators:", "seed: " + "9" * 5000 + "\noperators:"))
    assert lines == [f"net.yaml:1:7: expected a value of at most {MAX_SCALAR_CHARS} characters, got 5000 characters"]


def test_integers_past_64_bits_and_numbers_past_float_are_refused() -> None:
    assert errors(net(account="password: demo, credit: 9223372036854775808")) == [
        "net.yaml:5:47: accounts[0].credit: expected an integer from 0 to 9223372036854775807,"
        " got 9223372036854775808"
    ]
    big = "1" + "0" * 400  # an integer YAML reads fine, float() cannot hold
    assert errors(net(account=f"password: demo, rate: {big}")) == [
        f"net.yaml:5:45: accounts[0].rate: expected a number > 0 and <= 100000, got {big[:57]}..."
    ]


def test_syntax_errors_never_quote_the_file() -> None:
    cases = {
        "a: *supersecret\n": "found undefined alias (text not shown)",
        "a: &twin 1\nb: &twin 2\n": "found duplicate anchor (text not shown); first occurrence",
        "a: !hidden!tag 1\n": "found undefined tag handle (text not shown)",
        "a: \x07bell\n": "special characters are not allowed (character U+0007)",
        "a: b\n\tc: d\n": "found character U+0009 that cannot start any token",
    }
    for text, expected in cases.items():
        with pytest.raises(ConfigError) as info:
            compose(text, "x.yaml")
        message = str(info.value)
        assert expected in message, message
        for secret in ("supersecret", "twin", "hidden", "bell"):
            assert secret not in message


def test_a_file_that_is_not_a_config_is_not_quoted() -> None:
    """/etc/passwd composes to one string: saying "got 'root:x:0:0:...'" would print it."""
    (line,) = errors("root:x:0:0:root:/root:/bin/bash\n")
    assert line == ("net.yaml:1:1: expected a network config: a YAML mapping, got a single YAML value"
                    " (the file's text is not shown)")


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    ("operator", "account", "message"),
    [
        (", window: 1001", "password: demo", "operators[0].window: expected an integer from 1 to 1000, got 1001"),
        (", binds: 65", "password: demo", "operators[0].binds: expected an integer from 1 to 64, got 65"),
        (", send_rate: 1.0e+308", "password: demo",
         "operators[0].send_rate: expected a number > 0 and <= 100000, got 1.0e+308"),
        ("", "password: demo, max_binds: 65", "accounts[0].max_binds: expected an integer from 1 to 64, got 65"),
        ("", "password: demo, burst: 100001", "accounts[0].burst: expected an integer from 1 to 100000, got 100001"),
        ("", "password: demo, max_pending: 10000001",
         "accounts[0].max_pending: expected an integer from 1 to 10000000, got 10000001"),
        (", smsc: {receipt_delay: 31622401}", "password: demo",
         "operators[0].smsc.receipt_delay: expected a number from 0 to 31622400, got 31622401"),
        (", smsc: {window: 5000}", "password: demo",
         "operators[0].smsc.window: expected an integer from 1 to 1000, got 5000"),
        (", smsc: {throughput: {rate: 10, burst: 1000000}}", "password: demo",
         "operators[0].smsc.throughput.burst: expected an integer from 1 to 100000, got 1000000"),
        (", smsc: {faults: {outages: [{start: 0, duration: 1.0e+300, mode: silent}]}}", "password: demo",
         "operators[0].smsc.faults.outages[0].duration: expected a number > 0 and <= 31622400, got 1.0e+300"),
    ],
)
def test_values_past_sane_bounds_are_refused(operator: str, account: str, message: str) -> None:
    (line,) = errors(net(operator, account))
    assert line.split(": ", 1)[1] == message


def test_delivery_durations_are_bounded() -> None:
    assert errors(net() + "delivery: {validity: 1.0e+12, retry_factor: 1000}\n") == [
        "net.yaml:6:22: delivery.validity: expected a number > 0 and <= 31622400, got 1.0e+12",
        "net.yaml:6:45: delivery.retry_factor: expected a number from 1 to 10, got 1000",
    ]


# --------------------------------------------------------------------------- ports


def test_two_operators_on_one_port_are_refused() -> None:
    text = net(", port: 2800").replace("carriers: [SFR]}", "carriers: [SFR], port: 2800}")
    assert errors(text) == [
        "net.yaml:3:49: operators[1].port: port 2800 is already used by operators[0].port (line 2);"
        " give another, or 0 for a free one"
    ]


def test_an_operator_on_the_client_or_control_port_is_refused() -> None:
    assert errors(net(", port: 2775")) == [
        "net.yaml:2:65: operators[0].port: port 2775 is already used by listen.port (the default);"
        " give another, or 0 for a free one"
    ]
    text = "control: {port: 2900}\n" + net(", port: 2900")
    assert errors(text) == [
        "net.yaml:3:65: operators[0].port: port 2900 is already used by control.port (line 1);"
        " give another, or 0 for a free one"
    ]
    # Port 0 (a free one) may repeat, and a moved listen frees 2775.
    parse_config("listen: {port: 3000}\n" + net(", port: 2775").replace("[SFR]}", "[SFR], port: 0}"), "ok.yaml")


# --------------------------------------------------------------------------- passwords


def test_an_account_may_give_a_password_hash_instead_of_a_password() -> None:
    hashed = hash_password("demo", "pbkdf2")
    config = parse_config(net(account=f'password_hash: "{hashed}"'), "net.yaml")
    secret = config.accounts[0].password
    assert isinstance(secret, Secret) and secret.scheme is Scheme.PBKDF2_SHA256
    assert secret.matches("demo") and not secret.matches("demx") and secret.plain is None
    plain = parse_config(net(), "net.yaml").accounts[0].password
    assert plain == Secret.from_plain("demo") and plain.plain == "demo"


def test_exactly_one_of_password_and_password_hash() -> None:
    hashed = hash_password("demo", "pbkdf2")
    assert errors(net(account=f'password: demo, password_hash: "{hashed}"')) == [
        "net.yaml:5:54: accounts[0].password_hash: give either password or password_hash, not both"
    ]
    assert errors(net(account="max_binds: 2")) == [
        "net.yaml:5:5: accounts[0].password: missing required key (give password or password_hash)"
    ]


def test_a_malformed_hash_names_file_line_and_field_without_quoting_it() -> None:
    (line,) = errors(net(account='password_hash: "scrypt$16384$8$1$c2VjcmV0c2VjcmV0$tooshort"'))
    assert line.startswith("net.yaml:5:38: accounts[0].password_hash: expected a password hash: scrypt$N$R$P$SALT$HASH")
    assert line.endswith("got a malformed hash (the hash must be 16 to 64 bytes, got 6)")
    assert "c2VjcmV0c2VjcmV0" not in line and "tooshort" not in line
    (line,) = errors(net(account="password_hash: 12345678"))
    assert line.endswith("got an integer (not shown) (put it in quotes to make it a string)")


def test_a_plain_password_is_never_echoed_in_an_error() -> None:
    (line,) = errors(net(account='password: "far too long"'))
    assert line == ("net.yaml:5:33: accounts[0].password: expected a string of at most 8 ASCII characters"
                    " (no NUL), got a string of 12 characters (not shown)")
