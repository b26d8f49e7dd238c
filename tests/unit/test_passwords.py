"""aggregator.passwords: salted hashes that describe themselves, and constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from aggregator import passwords
from aggregator.passwords import Scheme, Secret, hash_password

SALT = bytes(range(16))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2"])
def test_a_hash_matches_its_password_and_nothing_else(scheme: str) -> None:
    text = hash_password("s3cret", scheme)
    secret = Secret.parse(text)
    assert secret.matches("s3cret")
    assert not secret.matches("s3cre")
    assert not secret.matches("S3cret")
    assert not secret.matches("")
    assert secret.plain is None  # a hash does not give the password back


def test_the_hash_strings_say_their_scheme_and_parameters() -> None:
    scrypt = hash_password("pw", "scrypt", salt=SALT)
    expected = hashlib.scrypt(b"pw", salt=SALT, n=16384, r=8, p=1, dklen=32)
    assert scrypt == f"scrypt$16384$8$1${b64(SALT)}${b64(expected)}"
    pbkdf2 = hash_password("pw", "pbkdf2", salt=SALT)
    expected = hashlib.pbkdf2_hmac("sha256", b"pw", SALT, 100_000)
    assert pbkdf2 == f"pbkdf2_sha256$100000${b64(SALT)}${b64(expected)}"
    assert Secret.parse(scrypt).scheme is Scheme.SCRYPT
    assert Secret.parse(pbkdf2).scheme is Scheme.PBKDF2_SHA256


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same"), hash_password("same")
    assert first != second
    assert Secret.parse(first).matches("same") and Secret.parse(second).matches("same")


def test_a_plain_secret_matches_only_its_password_whatever_the_lengths() -> None:
    secret = Secret.from_plain("demo")
    assert secret.matches("demo") and secret.plain == "demo"
    for wrong in ("", "dem", "demo ", "DEMO", "demodemodemo", "\udcff"):
        assert not secret.matches(wrong)
    assert Secret.from_plain("").matches("") and not Secret.from_plain("").matches("x")


def test_both_kinds_compare_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(passwords.hmac, "compare_digest", spy)
    assert Secret.from_plain("demo").matches("demx") is False
    assert Secret.parse(hash_password("demo", "pbkdf2", salt=SALT)).matches("demo") is True
    # The plain check compares two SHA-256 digests: same length, whatever the password's.
    assert [(len(a), len(b)) for a, b in calls] == [(32, 32), (32, 32)]


def test_repr_never_shows_the_password_or_the_hash() -> None:
    text = hash_password("hunter2", "pbkdf2", salt=SALT)
    for secret in (Secret.from_plain("hunter2"), Secret.parse(text)):
        shown = repr(secret)
        assert "hunter2" not in shown and b64(SALT) not in shown and text.split("$")[-1] not in shown


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "unknown scheme"),
        ("md5$abc", "unknown scheme"),
        ("scrypt$16384$8$1$c2FsdHNhbHQ", "6 fields"),
        ("scrypt$16000$8$1$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "power of 2"),
        ("scrypt$1024$1$1$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "n * r * p must be from"),
        ("scrypt$1048576$8$1$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "n * r * p must be from"),
        ("scrypt$0x10$8$1$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "n must be a positive decimal integer"),
        ("scrypt$16384$8$1$not*base64$" + b64(bytes(32)), "salt is not base64"),
        ("scrypt$16384$8$1$c2FsdA$" + b64(bytes(32)), "salt must be 8 to 64 bytes"),
        ("scrypt$16384$8$1$c2FsdHNhbHRzYWx0$" + b64(bytes(8)), "hash must be 16 to 64 bytes"),
        ("pbkdf2_sha256$100000$c2FsdHNhbHRzYWx0", "4 fields"),
        ("pbkdf2_sha256$1000$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "iteration count must be from"),
        ("pbkdf2_sha256$99999999999$c2FsdHNhbHRzYWx0$" + b64(bytes(32)), "positive decimal integer"),
    ],
)
def test_malformed_or_unreasonable_hashes_are_refused_without_quoting_them(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        Secret.parse(text)
    assert reason in str(info.value)
    if text:
        assert text not in str(info.value)


def test_one_check_costs_what_the_module_says_not_more() -> None:
    """The parameters, not a timing (timed assertions are flaky on a shared machine): the
    defaults sit inside the accepted range, and the range's ceiling is what the doc states."""
    n, r, p = passwords.DEFAULT_SCRYPT
    assert 128 * n * r == 16 * 1024 * 1024  # 16 MiB
    assert passwords._SCRYPT_MIN_WORK <= n * r * p <= passwords._SCRYPT_MAX_WORK
    assert passwords._PBKDF2_MIN <= passwords.DEFAULT_PBKDF2_ITERATIONS <= passwords._PBKDF2_MAX


def test_unknown_scheme_for_hashing() -> None:
    with pytest.raises(ValueError, match="expected scrypt or pbkdf2"):
        hash_password("x", "bcrypt")
