"""SMS segments (RULES R10): how many SMS a message costs.

An account's ``credit`` (network config, ``accounts[].credit``) is a number of SMS *segments*.
A message costs the segments it takes on the air interface, counted from its octets:

* GSM 7-bit default alphabet (data_coding 0, 1 IA5, 3 Latin-1, the GSM 03.38 groups
  with the default alphabet: 0x10-0x3F with alphabet bits 00, 0xC0-0xDF, 0xF0-0xF3 and
  0xF8-0xFB): one segment up to 160 octets, else ``ceil(n / 153)`` (a concatenation header
  takes 7 septets of each part);
* everything else, UCS-2 (data_coding 8) and 8-bit data (2, 4, 0xF4...) included: one
  segment up to 140 octets, else ``ceil(n / 134)`` (a 6-octet header in each part).

The octets counted are those of ``short_message``, or of the ``message_payload`` TLV when the
client sent one instead.  An empty message still costs one segment: everything accepted is
billed (R10).

Prices, the prepaid credit, its validity and the ledger lines are the credit rule's
(aggregator/rules/credit.py, R10); this module only counts segments, for it, the server and
the operators.
"""

from __future__ import annotations

__all__ = ["segments", "segments_of_octets"]


def _is_gsm7(data_coding: int) -> bool:
    if data_coding in (0, 1, 3):  # SMSC default alphabet, IA5 (ASCII), Latin-1: sent as GSM 7-bit
        return True
    if 0x10 <= data_coding <= 0x3F:  # GSM 03.38 general data coding: bits 3-2 = alphabet
        return data_coding & 0x0C == 0
    if 0xC0 <= data_coding <= 0xDF:  # message waiting indication, default alphabet
        return True
    if data_coding >= 0xF0:  # data coding / message class: bit 2 = 8-bit data
        return data_coding & 0x04 == 0
    return False


# data_coding (one octet) -> (octets in a single SMS, octets per part of a concatenated one)
_LIMITS: tuple[tuple[int, int], ...] = tuple((160, 153) if _is_gsm7(dc) else (140, 134) for dc in range(256))


def segments_of_octets(data_coding: int, octets: int) -> int:
    """SMS segments that ``octets`` octets of text in ``data_coding`` take (at least 1)."""
    single, part = _LIMITS[data_coding & 0xFF]
    if octets <= single:
        return 1
    return -(-octets // part)


def segments(data_coding: int, short_message: bytes, message_payload_len: int = 0) -> int:
    """SMS segments a submit_sm costs: from its message_payload TLV's length when it has one
    (``message_payload_len`` > 0), else from ``short_message``."""
    return segments_of_octets(data_coding, message_payload_len or len(short_message))
