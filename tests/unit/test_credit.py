"""aggregator.credit: segments a message costs (R10) and the per-account credit book."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import AccountConfig
from aggregator.credit import CreditBook, segments, segments_of_octets
from aggregator.store import MessageRecord, MessageState, Store

# -- segments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "octets, expected",
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_default_alphabet_160_then_153(octets: int, expected: int) -> None:
    assert segments(0, b"a" * octets) == expected


@pytest.mark.parametrize("data_coding", [0x00, 0x01, 0x03, 0x10, 0x11, 0xC0, 0xD0, 0xF0, 0xF1])
def test_other_seven_bit_codings(data_coding: int) -> None:
    assert segments(data_coding, b"a" * 160) == 1
    assert segments(data_coding, b"a" * 161) == 2


@pytest.mark.parametrize(
    "octets, expected",
    [(0, 1), (140, 1), (141, 2), (268, 2), (269, 3), (402, 3), (403, 4)],
)
def test_ucs2_140_then_134(octets: int, expected: int) -> None:
    assert segments(8, b"\x00a" * (octets // 2) + b"\x00" * (octets % 2)) == expected


def test_ucs2_seventy_characters_is_one_segment_seventy_one_is_two() -> None:
    seventy = "é" * 70
    assert segments(8, seventy.encode("utf-16-be")) == 1  # 140 octets
    assert segments(8, (seventy + "é").encode("utf-16-be")) == 2  # 142 octets
    assert segments(8, b"\x00" * 141) == 2


@pytest.mark.parametrize("data_coding", [0x02, 0x04, 0x08, 0x18, 0x14, 0xE0, 0xF4, 0xF5, 0xF6])
def test_eight_bit_and_ucs2_codings_count_140_octets(data_coding: int) -> None:
    assert segments(data_coding, b"\x01" * 140) == 1
    assert segments(data_coding, b"\x01" * 141) == 2
    assert segments(data_coding, b"\x01" * 160) == 2


def test_message_payload_counts_instead_of_short_message() -> None:
    assert segments(0, b"", message_payload_len=161) == 2
    assert segments(0, b"", message_payload_len=1000) == 7  # ceil(1000 / 153)
    assert segments(8, b"", message_payload_len=141) == 2
    assert segments(0, b"a" * 300, message_payload_len=10) == 1  # the payload wins
    assert segments(0, b"a" * 300) == 2


def test_segments_of_octets() -> None:
    assert segments_of_octets(0, 1530) == 10
    assert segments_of_octets(8, 1340) == 10


# -- the credit book ----------------------------------------------------------------------


def record(i: int, account: str, text: bytes, data_coding: int = 0, state: MessageState = MessageState.ACCEPTED,
           tlvs: bytes = b"") -> MessageRecord:
    return MessageRecord(
        id=f"{i:016x}", account=account, source_addr="SHOP", source_addr_ton=5,
        destination_addr=f"+336{i:08d}", operator_id="orange", operator_message_id=None, state=state,
        registered_delivery=1, data_coding=data_coding, esm_class=0, short_message=text,
        created_at=1_796_000_000.0 + i, tlvs=tlvs)


def test_book_limits_only_accounts_with_credit() -> None:
    store = Store(":memory:")
    book = CreditBook([AccountConfig("free", "x"), AccountConfig("paid", "x", credit=3)], store)
    assert book.remaining == {"paid": 3}
    assert all(book.take("free", 100) for _ in range(10))
    assert book.take("paid", 2)
    assert not book.take("paid", 2)  # 1 left: refused, not billed
    assert book.remaining["paid"] == 1
    assert book.take("paid", 1)
    assert not book.take("paid", 1)
    assert book.remaining["paid"] == 0
    assert book.refused == {"paid": 2}
    store.close()


def test_book_starts_from_what_the_ledger_already_billed(tmp_path: Path) -> None:
    path = tmp_path / "harness.db"
    store = Store(path)
    for i, (account, cost) in enumerate([("paid", 1), ("paid", 2), ("paid", 2), ("paid", 3), ("other", 7)]):
        store.add_message(record(i, account, b"a"))
        store.bill(account, f"{i:016x}", cost, 1_796_000_000.0 + i)
    store.close()

    reopened = Store(path)
    assert reopened.billed_segments("paid") == 8 and reopened.billed_segments("nobody") == 0
    assert reopened.count_ledger("paid") == 4 and reopened.count_ledger() == 5
    book = CreditBook([AccountConfig("paid", "x", credit=10), AccountConfig("other", "x", credit=5)], reopened)
    assert book.remaining == {"paid": 10 - 8, "other": 0}  # never below 0
    assert not book.take("other", 1)
    reopened.close()
