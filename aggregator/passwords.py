"""Account passwords: given plain in the config, or as a salted hash the config can hold instead.

A config file is copied around (tickets, CI logs, repositories); a hash in it does not give
away the password.  The hash string describes itself, so a config can mix schemes and a
stronger default later does not invalidate older hashes:

    scrypt$<n>$<r>$<p>$<salt>$<hash>              hashlib.scrypt, n = 2**14, r = 8, p = 1
    pbkdf2_sha256$<iterations>$<salt>$<hash>      hashlib.pbkdf2_hmac("sha256"), 100,000 iterations

``<salt>`` (16 random bytes) and ``<hash>`` (32 bytes) are standard base64 without padding.

Cost: one check takes about 50 ms on the 2-core machine this project is built on (scrypt at
those parameters: 47-49 ms and 16 MiB; PBKDF2-SHA256 at 100,000 iterations: 48-52 ms).  That
is invisible to a client, which binds once per connection, and makes guessing from a leaked
config cost 50 ms of a core per try, instead of nanoseconds for a bare SHA-256.  It is below
OWASP's figures (scrypt n = 2**17, PBKDF2 600,000 iterations) on purpose: the check runs in
the server's single reactor thread, where 300 ms per bind attempt would let a few failed binds
a second stall every other client (failed binds are also rate-limited by the server).

Both kinds of :class:`Secret` compare in constant time (``hmac.compare_digest`` on
fixed-length digests), so response times do not tell how much of a guess was right, nor the
length of a plain password.  Pure and stdlib only: no I/O, no clock, no global state.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_PBKDF2_ITERATIONS",
    "DEFAULT_SCRYPT",
    "Scheme",
    "Secret",
    "hash_password",
]


class Scheme(enum.Enum):
    """How a :class:`Secret` holds its password; the value is the hash string's first field."""

    PLAIN = "plain"
    SCRYPT = "scrypt"
    PBKDF2_SHA256 = "pbkdf2_sha256"


DEFAULT_SCRYPT = (2**14, 8, 1)  # (n, r, p): about 50 ms and 16 MiB per check
DEFAULT_PBKDF2_ITERATIONS = 100_000  # about 50 ms per check
SALT_BYTES = 16
HASH_BYTES = 32

# What a hash read from a config may ask for.  Below the floor it is too weak to be worth
# having (a quarter of the default's cost); above the ceiling one bind would cost the reactor
# more than about half a second, or scrypt more than 64 MiB.
_SCRYPT_MIN_WORK, _SCRYPT_MAX_WORK = 2**15, 2**20  # n * r * p
_SCRYPT_MAX_MEMORY = 64 * 1024 * 1024  # 128 * n * r bytes
_PBKDF2_MIN, _PBKDF2_MAX = 25_000, 1_000_000
_SALT_RANGE, _HASH_RANGE = (8, 64), (16, 64)
_B64 = re.compile(r"[A-Za-z0-9+/]+")
_DECIMAL = re.compile(r"[1-9][0-9]{0,9}")

FORMATS = (
    "scrypt$N$R$P$SALT$HASH or pbkdf2_sha256$ITERATIONS$SALT$HASH"
    " (as printed by smsc-harness hash-password)"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, what: str, sizes: tuple[int, int]) -> bytes:
    if not _B64.fullmatch(text):
        raise ValueError(f"the {what} is not base64")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {what} is not base64") from None
    low, high = sizes
    if not low <= len(data) <= high:
        raise ValueError(f"the {what} must be {low} to {high} bytes, got {len(data)}")
    return data


def _number(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{what} must be a positive decimal integer")
    return int(text)


def _encode(password: str) -> bytes:
    """UTF-8, and never an exception: a candidate off the wire may hold anything (the SMPP
    codec reads C-strings as latin-1; a lone surrogate cannot come from there, but a caller
    must not be able to crash a bind with one)."""
    return password.encode("utf-8", "surrogatepass")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=128 * r * (n + p + 2) + 1024 * 1024)


def _pbkdf2(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, dklen=length)


@dataclass(frozen=True, slots=True)
class Secret:
    """An account's password as the config gives it: plain, or a parsed salted hash.

    Build one with :meth:`from_plain` or :meth:`parse`; ask :meth:`matches`.  ``repr`` never
    shows the password or the hash.
    """

    scheme: Scheme
    _plain: str | None = field(default=None, repr=False)
    _params: tuple[int, ...] = field(default=(), repr=False)
    _salt: bytes = field(default=b"", repr=False)
    _hash: bytes = field(default=b"", repr=False)

    @classmethod
    def from_plain(cls, password: str) -> Secret:
        return cls(Scheme.PLAIN, _plain=password)

    @classmethod
    def parse(cls, text: str) -> Secret:
        """A hash string as :func:`hash_password` writes it; ValueError says what is wrong
        with it (never quoting it)."""
        fields = text.split("$")
        scheme = fields[0]
        if scheme == Scheme.SCRYPT.value:
            if len(fields) != 6:
                raise ValueError(f"a scrypt hash has 6 fields separated by '$', got {len(fields)}")
            n, r, p = (_number(value, name) for value, name in zip(fields[1:4], ("n", "r", "p")))
            if n < 2 or n & (n - 1):
                raise ValueError("scrypt's n must be a power of 2")
            if not _SCRYPT_MIN_WORK <= n * r * p <= _SCRYPT_MAX_WORK:
                raise ValueError(f"scrypt's n * r * p must be from {_SCRYPT_MIN_WORK} to {_SCRYPT_MAX_WORK},"
                                 f" got {n * r * p}")
            if 128 * n * r > _SCRYPT_MAX_MEMORY:
                raise ValueError(f"scrypt's memory (128 * n * r bytes) must be at most {_SCRYPT_MAX_MEMORY}")
            salt = _unb64(fields[4], "salt", _SALT_RANGE)
            digest = _unb64(fields[5], "hash", _HASH_RANGE)
            return cls(Scheme.SCRYPT, _params=(n, r, p), _salt=salt, _hash=digest)
        if scheme == Scheme.PBKDF2_SHA256.value:
            if len(fields) != 4:
                raise ValueError(f"a pbkdf2_sha256 hash has 4 fields separated by '$', got {len(fields)}")
            iterations = _number(fields[1], "the iteration count")
            if not _PBKDF2_MIN <= iterations <= _PBKDF2_MAX:
                raise ValueError(f"the iteration count must be from {_PBKDF2_MIN} to {_PBKDF2_MAX},"
                                 f" got {iterations}")
            salt = _unb64(fields[2], "salt", _SALT_RANGE)
            digest = _unb64(fields[3], "hash", _HASH_RANGE)
            return cls(Scheme.PBKDF2_SHA256, _params=(iterations,), _salt=salt, _hash=digest)
        raise ValueError("unknown scheme: the hash must start with scrypt$ or pbkdf2_sha256$")

    @property
    def plain(self) -> str | None:
        """The password itself when the config gave it plain (a scenario's client binds with
        it); None for a hash."""
        return self._plain

    def matches(self, candidate: str) -> bool:
        """Whether ``candidate`` is the password, in time that does not depend on how much of
        it is right (nor, for a plain password, on either length)."""
        given = _encode(candidate)
        if self.scheme is Scheme.PLAIN:
            assert self._plain is not None
            expected = hashlib.sha256(_encode(self._plain)).digest()
            return hmac.compare_digest(hashlib.sha256(given).digest(), expected)
        if self.scheme is Scheme.SCRYPT:
            n, r, p = self._params
            derived = _scrypt(given, self._salt, n, r, p, len(self._hash))
        else:
            (iterations,) = self._params
            derived = _pbkdf2(given, self._salt, iterations, len(self._hash))
        return hmac.compare_digest(derived, self._hash)


def hash_password(plain: str, scheme: str = "scrypt", *, salt: bytes | None = None) -> str:
    """The hash string of ``plain`` for a config's ``password_hash`` (see the module doc).

    ``scheme`` is ``"scrypt"`` (default) or ``"pbkdf2"``; ``salt`` is for tests only (default:
    16 bytes from :mod:`secrets`)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    password = _encode(plain)
    if scheme == "scrypt":
        n, r, p = DEFAULT_SCRYPT
        digest = _scrypt(password, salt, n, r, p, HASH_BYTES)
        return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"
    if scheme in ("pbkdf2", Scheme.PBKDF2_SHA256.value):
        digest = _pbkdf2(password, salt, DEFAULT_PBKDF2_ITERATIONS, HASH_BYTES)
        return f"pbkdf2_sha256${DEFAULT_PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown scheme {scheme!r}: expected scrypt or pbkdf2")
