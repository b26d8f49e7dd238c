"""Interoperability: smpplib, an independently written SMPP client from PyPI, against our stack.

smpplib is a blocking client, so it runs in a worker thread while the reactor serves."""

from __future__ import annotations

import smpplib.client
import smpplib.consts
import pytest_twisted
from twisted.internet import threads

from aggregator.harness import Harness
from aggregator.store import MessageState

TIMEOUT = 20.0


def smpplib_session(port: int) -> dict[str, object]:
    seen: dict[str, object] = {}
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: seen.setdefault("message_id", pdu.message_id.decode()))

    def received(pdu: object) -> int:            # smpplib answers with the status this returns
        seen.setdefault("receipt", pdu)
        return smpplib.consts.SMPP_ESME_ROK
    client.set_message_received_handler(received)
    client.connect()
    try:
        seen["bind"] = client.bind_transceiver(system_id="demo", password="demo")
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="SMPPLIB",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="33612345678", short_message=b"interop test", registered_delivery=True)
        for _ in range(20):                                  # resp, then the receipt (bounded)
            client.read_once()
            if "receipt" in seen:
                break
        client.unbind()
    finally:
        client.disconnect()
    return seen


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
