"""Interoperability: smpplib, an independently written SMPP client from PyPI, against our stack.

smpplib is a blocking client, so it runs in a worker thread while the reactor serves."""

from __future__ import annotations

import pytest_twisted
import smpplib.consts
from twisted.internet import threads

from aggregator.harness import Harness
from aggregator.store import MessageState
from tests.support.smpplib_client import smpplib_session

TIMEOUT = 20.0


@pytest_twisted.ensureDeferred
async def test_smpplib_binds_submits_and_gets_the_receipt(harness: Harness) -> None:
    from twisted.internet import reactor
    seen = await threads.deferToThread(smpplib_session, harness.port).addTimeout(TIMEOUT, reactor)
    message_id = seen["message_id"]
    receipt = seen["receipt"]
    assert isinstance(message_id, str) and message_id
    assert receipt.receipted_message_id.decode() == message_id  # type: ignore[attr-defined]
    assert receipt.message_state == smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED  # type: ignore[attr-defined]
    text = receipt.short_message.decode()  # type: ignore[attr-defined]
    assert text.startswith(f"id:{message_id} ") and "stat:DELIVRD" in text
    record = harness.store.message(message_id)
    assert record is not None and record.state is MessageState.DELIVERED
