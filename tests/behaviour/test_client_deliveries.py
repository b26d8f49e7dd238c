"""Issue 10, point 1: exactly one final receipt per message for a client that acknowledges them.

On the in-memory network and the virtual clock (exact times, no sockets): a deliver_sm whose
resp times out on one bind goes to another healthy receiver/transceiver bind of the account
at once, and a deliver_sm_resp that comes after the timeout still settles it, so it is not
sent again.
"""

from __future__ import annotations

from pathlib import Path

from smsc.pdu.receipt import is_receipt, parse_receipt
from tests.support.memstack import Client, MemStack

TIMEOUT = 30.0                               # the client-facing sessions' response_timeout


def receipt_ids(client: Client) -> list[str]:
    ids = []
    for _, pdu in client.delivered:
        if is_receipt(pdu):
            receipt = parse_receipt(pdu)
            assert receipt is not None
            ids.append(receipt.message_id)
    return ids


def test_a_late_deliver_sm_resp_settles_the_receipt_and_it_is_not_sent_again(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    slow = stack.client(answer_after=TIMEOUT + 7)          # answers every deliver_sm 37 s late
    first = stack.wait(slow.submit("+33612345678"))         # delivered at once: receipt right away
    stack.run(TIMEOUT + 10)
    assert receipt_ids(slow) == [first["message_id"]]
    second = stack.wait(slow.submit("+33612345678"))        # a new receipt flushes the queue
    stack.run(2 * TIMEOUT)
    assert receipt_ids(slow) == [first["message_id"], second["message_id"]]
    assert [done is not None for _, done in stack.store.deliveries()] == [True, True]
    stack.stop()


def test_a_receipt_that_times_out_on_a_hung_bind_goes_to_the_other_bind_once(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "s.db")
    hung = stack.client(mode="receiver", answer_after=None)     # first in the round robin
    healthy = stack.client(mode="transceiver")
    sent_at = stack.clock.seconds()
    resps = [stack.wait(healthy.submit("+33612345678", b"m%d" % i)) for i in range(4)]
    ids = [str(r["message_id"]) for r in resps]
    stack.run(1.0)
    on_hung = receipt_ids(hung)
    assert on_hung and set(on_hung) <= set(ids)               # some went to the hung bind first
    stack.run(TIMEOUT)                                         # their resps time out: moved at once
    assert sorted(receipt_ids(healthy)) == sorted(ids)         # each acknowledged once, on the healthy bind
    moved_at = [at for at, pdu in healthy.delivered
                if parse_receipt(pdu) and parse_receipt(pdu).message_id in on_hung]  # type: ignore[union-attr]
    assert moved_at and all(at - sent_at <= TIMEOUT + 1.0 for at in moved_at)
    before = len(hung.delivered)
    third = stack.wait(healthy.submit("+33612345678", b"later"))
    stack.run(5.0)
    assert len(hung.delivered) == before                       # nothing more to a bind that never answers
    assert receipt_ids(healthy).count(str(third["message_id"])) == 1
    assert all(done is not None for _, done in stack.store.deliveries())
    stack.stop()
