"""An account whose config gives only a password_hash binds with its password, over real TCP."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted

from aggregator.passwords import hash_password
from smsc.esme import connect_esme
from smsc.pdu.status import CommandStatus
from tests.support.stack import TIMEOUT, bound_client, close, reactor, start_stack

NETWORK = """
operators:
  - {id: sfr, name: SFR, carriers: [SFR]}
accounts:
  - {system_id: hashed, password_hash: "HASH"}
  - {system_id: plain, password: plain}
routing:
  mvno_hosts: {}
"""


@pytest_twisted.ensureDeferred
async def test_a_hashed_account_binds_with_its_password_and_only_with_it(tmp_path: Path) -> None:
    harness, _ = await start_stack(tmp_path / "h.db", NETWORK.replace("HASH", hash_password("s3cret", "pbkdf2")))
    try:
        wrong = await connect_esme(reactor(), "127.0.0.1", harness.port)
        refused = await wrong.bind("hashed", "s3cre").addTimeout(TIMEOUT, reactor())
        assert refused.command_status == CommandStatus.ESME_RINVPASWD
        await close(wrong)
        client = await bound_client(harness, system_id="hashed", password="s3cret")
        plain = await bound_client(harness, system_id="plain", password="plain")
        await close(client)
        await close(plain)
    finally:
        await harness.stop()
