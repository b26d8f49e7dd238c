"""`smsc-harness hash-password`: a salted hash for an account's `password_hash`, so the config
file does not hold the password (aggregator/passwords.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from aggregator.config.network import PASSWORD_MAX, SMPP_TEXT
from aggregator.passwords import hash_password
from cli.args import fail


def read_password(stdin: TextIO = sys.stdin) -> str:
    """The password to hash: asked twice on a terminal (getpass, not echoed), else the first
    line of stdin (for scripts: ``echo secret | smsc-harness hash-password``)."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            fail("hash-password: the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def hash_password_command(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    password = read_password(stdin)
    if not password or len(password) > PASSWORD_MAX or not SMPP_TEXT.fullmatch(password):
        fail(f"hash-password: expected a password of 1 to {PASSWORD_MAX} ASCII characters (no NUL),"
             f" as SMPP carries it; got {len(password)} characters")
    print(hash_password(password, args.scheme))
    return 0
