"""aggregator.message_checks: what a submit must satisfy to be forwarded, and the status that
names each fault (issue 10, point 2)."""

from __future__ import annotations

import pytest

from aggregator.message_checks import FORWARD_OVERHEAD, check_message
from smsc.pdu.status import CommandStatus as S

LINK = 65536


@pytest.mark.parametrize("coding, esm, sm, payload, status", [
    (0, 0, b"x" * 255, None, S.ESME_RINVMSGLEN),                       # sm_length past 254
    (0, 0, b"hello", b"world", S.ESME_ROPTPARNOTALLWD),                 # both carry text
    (8, 0, b"\x00A\x00", None, S.ESME_RINVMSGLEN),                      # UCS-2, odd octets
    (8, 0, b"", b"\x00A\x00", S.ESME_RINVMSGLEN),                       # ... in message_payload too
    (8, 0x40, b"\x05\x00\x03\x01\x02\x01\x00A\x00", None, S.ESME_RINVMSGLEN),   # odd after the UDH
    (0, 0x40, b"\x09\x00\x03\x01", None, S.ESME_RINVESMCLASS),          # UDH longer than the text
    (0, 0x40, b"", None, S.ESME_RINVESMCLASS),                          # UDHI with no text at all
    (0, 0x40, b"", b"\xff", S.ESME_RINVESMCLASS),                       # ... or a UDH past the payload
])
def test_each_fault_is_refused_with_the_status_that_names_it(coding: int, esm: int, sm: bytes,
                                                             payload: bytes | None, status: S) -> None:
    tlvs = 0 if payload is None else 4 + len(payload)
    refusal = check_message(coding, esm, sm, payload, tlvs, LINK)
    assert refusal is not None and refusal.status is status and refusal.reason


@pytest.mark.parametrize("coding, esm, sm, payload", [
    (0, 0, b"x" * 254, None),
    (0, 0, b"", b"x" * 1000),
    (8, 0, b"\x00A\x00B", None),
    (8, 0x40, b"\x05\x00\x03\x01\x02\x01\x00A", None),                  # UDH of 6, then one UCS-2 char
    (0, 0x40, b"\x05\x00\x03\x01\x02\x01", None),                       # a UDH and no text: fine
    (0, 0, b"", None),                                                   # empty messages exist
])
def test_good_messages_pass(coding: int, esm: int, sm: bytes, payload: bytes | None) -> None:
    assert check_message(coding, esm, sm, payload, 0 if payload is None else 4 + len(payload), LINK) is None


def test_a_forwarded_copy_above_the_link_maximum_is_refused_at_the_octet() -> None:
    fits = LINK - FORWARD_OVERHEAD - 4
    assert check_message(0, 0, b"", b"x" * fits, 4 + fits, LINK) is None
    refusal = check_message(0, 0, b"", b"x" * (fits + 1), 4 + fits + 1, LINK)
    assert refusal is not None and refusal.status is S.ESME_RINVMSGLEN and "link maximum 65536" in refusal.reason
