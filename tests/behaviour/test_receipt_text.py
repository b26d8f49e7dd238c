"""A receipt's `text:` shows the first 20 characters of the message as a person reads them
(issue 14): after the user data header, decoded from UCS-2, from message_payload when
short_message is empty. Before, it showed the UDH's octets, the NULs of UTF-16, or nothing.
Both receipts are checked: the operator SMSC's to the aggregator (stored) and the
aggregator's to the client."""

from __future__ import annotations

import pytest

from smsc.pdu.codec import Tag, Tlv
from smsc.pdu.receipt import text_head
from tests.support.memstack import Client, MemStack

UDH = bytes([0x05, 0x00, 0x03, 0x2A, 0x02, 0x01])      # concatenated SM, ref 42, part 1 of 2


@pytest.mark.parametrize(("short_message", "esm_class", "data_coding", "tlvs", "shown"), [
    (b"Bonjour, votre code est 1234", 0, 0, (), "Bonjour, votre code "),
    ("Привет, ваш код 1234 готов".encode("utf-16-be"), 0, 8, (), "Привет, ваш код 1234"),
    (UDH + b"Part one of a long text", 0x40, 0, (), "Part one of a long t"),
    (UDH + "Ça coûte 5 € seulement".encode("utf-16-be"), 0x40, 8, (), "Ça coûte 5 € seuleme"),
    (b"", 0, 0, (Tlv(Tag.message_payload, b"From the payload, longer than 20"),), "From the payload, lo"),
    (b"", 0, 8, (Tlv(Tag.message_payload, "日本語のテキスト".encode("utf-16-be")),), "日本語のテキスト"),
    (UDH[:3], 0x40, 0, (), ""),                           # a header longer than the message: nothing left
    (b"\xd8\x00", 0, 8, (), "\ufffd"),                    # a lone surrogate: replaced, never an error
])
def test_text_head(short_message: bytes, esm_class: int, data_coding: int, tlvs: tuple[Tlv, ...],
                   shown: str) -> None:
    assert text_head(short_message, esm_class, data_coding, tlvs) == shown


def test_the_client_and_the_store_see_the_text_as_read(stack: MemStack, client: Client) -> None:
    text = "Ça coûte 5 € seulement ce mois-ci"
    resp = stack.wait(client.submit("33612345678", UDH + text.encode("utf-16-be"), esm_class=0x40,
                                    data_coding=8), "the submit")
    stack.run(10)
    (receipt,) = client.receipts()
    assert receipt.message_id == resp["message_id"]
    # Appendix B's text is octets (latin-1 here): ç and û fit, € is replaced by '?'
    assert receipt.text == "Ça coûte 5 ? seuleme"
    stack.harness.store.flush()
    (stored,) = stack.harness.store.receipts(resp["message_id"])     # the operator's, as received
    assert stored.text.endswith("text:Ça coûte 5 ? seuleme")
