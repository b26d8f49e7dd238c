"""`smsc-harness hash-password`: reads the password from stdin when it is not a terminal,
prints a hash the config's password_hash accepts."""

from __future__ import annotations

import subprocess

from aggregator.config import parse_config
from aggregator.passwords import Scheme
from tests.support.serve import command

NETWORK = """\
operators:
  - {id: sfr, name: SFR, carriers: [SFR]}
accounts:
  - {system_id: demo, password_hash: "HASH"}
"""


def test_the_printed_hash_goes_into_the_config_and_matches_the_password() -> None:
    for scheme, expected in (("scrypt", Scheme.SCRYPT), ("pbkdf2", Scheme.PBKDF2_SHA256)):
        result = subprocess.run(command("hash-password", "--scheme", scheme), input="s3cret\n",
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        secret = parse_config(NETWORK.replace("HASH", line), "net.yaml").accounts[0].password
        assert secret.scheme is expected and secret.matches("s3cret") and not secret.matches("s3cre")


def test_a_password_smpp_cannot_carry_is_refused_in_one_line() -> None:
    result = subprocess.run(command("hash-password"), input="much too long\n", capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("smsc-harness: hash-password: expected a password of 1 to 8 ASCII characters (no NUL),"
                             " as SMPP carries it; got 13 characters\n")
