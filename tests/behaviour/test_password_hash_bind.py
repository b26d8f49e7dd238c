"""An account whose config gives only a password_hash binds with its password, and only with it."""

from __future__ import annotations

from pathlib import Path

from aggregator.passwords import hash_password
from smsc.pdu.status import CommandStatus
from tests.support.memstack import MemStack

NETWORK = """
operators:
  - {id: sfr, name: SFR, carriers: [SFR]}
accounts:
  - {system_id: hashed, password_hash: "HASH"}
  - {system_id: plain, password: plain}
routing:
  mvno_hosts: {}
"""


def test_a_hashed_account_binds_with_its_password_and_only_with_it(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "h.db", NETWORK.replace("HASH", hash_password("s3cret", "pbkdf2")))
    wrong = stack.connect()
    refused = stack.wait(wrong.bind("hashed", "s3cre"), "the refused bind")
    assert refused.command_status == CommandStatus.ESME_RINVPASWD  # type: ignore[attr-defined]
    stack.close(wrong)
    client = stack.client(system_id="hashed", password="s3cret")
    plain = stack.client(system_id="plain", password="plain")
    stack.close(client)
    stack.close(plain)
    stack.stop()
