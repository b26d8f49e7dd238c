"""aggregator.credit: segments a message costs (R10); the credit itself is tests/unit/test_rule_credit.py."""

from __future__ import annotations

import pytest

from aggregator.credit import segments, segments_of_octets

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
