"""Session.send_encoded (a request sent from its bytes, the aggregator's deliver_sm to a client)
gives the very bytes, pending request and errors that send_request gives."""

from __future__ import annotations

import pytest

from smsc.pdu.codec import Command, Pdu, Tag, Tlv, encode, make
from smsc.pdu.receipt import Receipt
from smsc.session import Session, Unsendable
from smsc.states import LocalProtocolError
from tests.unit.test_session import bound_pair


def _requests() -> list:
    receipt = Receipt("0123456789abcdef", 1, 1, "2611291948", "2611291948", "DELIVRD", "000", "hello")
    params = receipt.deliver_sm_params("33612345678", 1, "33600000000", 1)
    return [
        make(Command.deliver_sm, 0, 0, receipt.tlvs(), **params),
        make(Command.deliver_sm, 0, 0, (), source_addr="33611111111", destination_addr="12345",
             short_message=b"\x00\xffMO"),
        make(Command.deliver_sm, 0, 0, (Tlv(Tag.message_payload, b"x" * 300),), source_addr="1"),
    ]


def _send_encoded(session: Session, request: Pdu, now: float) -> Pdu:
    """As the aggregator sends a deliver_sm it keeps encoded: the body after the header."""
    return session.send_encoded(request.command, now, request.params, request.tlvs, encode(request)[16:])


@pytest.mark.parametrize("index", range(3))
def test_send_encoded_gives_what_send_request_gives(index: int) -> None:
    request = _requests()[index]
    general, fast = bound_pair()[1], bound_pair()[1]
    for n in range(3):              # the sequence numbers go on the same way
        a = general.send_request(request.command, 5.0 + n, request.tlvs, **request.params)
        b = _send_encoded(fast, request, 5.0 + n)
        assert a == b and a.sequence_number == b.sequence_number
    assert fast.data_to_send() == general.data_to_send()
    assert fast.outstanding == general.outstanding == 3
    assert list(fast._pending.items()) == list(general._pending.items())
    assert fast.state is general.state and fast.window_available == general.window_available


def test_send_encoded_refuses_as_send_request() -> None:
    request = _requests()[0]
    smsc = bound_pair(window=1)[1]
    _send_encoded(smsc, request, 0.0)
    with pytest.raises(LocalProtocolError):             # window full
        _send_encoded(smsc, request, 0.0)
    small = bound_pair(max_pdu=64)[1]
    with pytest.raises(Unsendable):
        _send_encoded(small, request, 0.0)
    assert small.outstanding == 0 and small.data_to_send() == b""


def test_send_encoded_on_a_link_of_objects_keeps_the_pdu() -> None:
    request = _requests()[1]
    general, fast = bound_pair()[1], bound_pair()[1]
    general.keep_pdus()
    fast.keep_pdus()
    general.send_request(request.command, 1.0, request.tlvs, **request.params)
    _send_encoded(fast, request, 1.0)
    assert fast.pdus_to_send() == general.pdus_to_send()
