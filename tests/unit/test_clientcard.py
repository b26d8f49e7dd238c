"""aggregator/clientcard.py: each finding from the facts the server's hooks give it (the
findings a client earns over time on the whole stack: tests/behaviour/test_client_card.py)."""

from __future__ import annotations

import pytest

from aggregator import clientcard
from aggregator.clientcard import (
    DUPLICATE_MEMORY, DUPLICATE_WINDOW, ENDED_KEPT, LATE_DELIVER_SM_RESP, NO_RECEIPT_AFTER, REBIND_ENDED,
    REBIND_WINDOW, THROTTLE_BACKOFF, Card, ClientCards, address_problem, card_json, summary_line,
)
from aggregator.server import CLIENT_BUSY_PAUSE
from smsc.pdu.codec import DestAddress
from smsc.pdu.views import SubmitMulti, SubmitSm

T0 = 1_000_000.0


def sm(destination: str = "33612345678", text: bytes = b"hi", source: str = "SHOP", source_ton: int = 5,
       dest_ton: int = 1, dest_npi: int = 1, receipt: int = 1) -> SubmitSm:
    return SubmitSm(source_addr_ton=source_ton, source_addr=source, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
                    destination_addr=destination, registered_delivery=receipt, short_message=text)


def bound(cards: ClientCards, key: object = "k", n: int = 1, host: str = "10.0.0.1", at: float = T0) -> None:
    cards.bound(key, f"demo#{n}", "demo", f"{host}:4000", host, at)


def found(cards: ClientCards, bind: str = "demo#1") -> dict[str, int]:
    card = next(c for c in cards.cards() if c.bind == bind)
    return {f.code: f.count for f in card.findings}


def test_the_backoff_asked_is_the_servers_own_pause() -> None:
    assert THROTTLE_BACKOFF == CLIENT_BUSY_PAUSE


def test_a_clean_bind_has_no_finding_and_every_code_has_title_and_advice() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    for i in range(3):
        cards.submit("k", 1, sm(text=b"%d" % i), T0 + i)
    cards.deliver_answered("k", T0, T0 + LATE_DELIVER_SM_RESP)         # at the threshold: not late
    cards.ended("k", T0 + 10, unbound=True, by_us=False, own_unanswered=0, deliveries_unanswered=0)
    (card,) = cards.cards()
    assert card.findings == () and card.unbound_at == T0 + 10
    assert all(title and advice for title, advice in clientcard.CODES.values())


def test_late_and_unanswered_deliver_sm() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    cards.deliver_answered("k", T0, T0 + 6.0)
    cards.deliver_answered("k", T0 + 10, T0 + 19.5)
    cards.deliver_timed_out("k", T0 + 40)
    assert found(cards) == {"late_deliver_sm_resp": 2, "no_deliver_sm_resp": 1}
    (card,) = cards.cards()
    late = card.findings[0]
    assert late.first_at == T0 + 6.0 and "slowest in 9.5 s" in late.seen


def test_rebind_storm_counts_binds_that_ended_within_the_window_from_one_host() -> None:
    cards = ClientCards(10, 30.0)
    at = T0
    for n in range(1, REBIND_ENDED + 2):                  # REBIND_ENDED + 1 short binds, each dropped
        bound(cards, key=n, n=n, at=at)
        cards.ended(n, at + 1, unbound=True, by_us=False, own_unanswered=0, deliveries_unanswered=0)
        at += 2
    bound(cards, key="storm", n=99, at=at)                 # the next one is in a storm
    bound(cards, key="other", n=100, host="10.0.0.2", at=at)   # another host is not
    assert found(cards, "demo#99") == {"rebind_storm": 1}
    assert found(cards, "demo#100") == {}
    assert found(cards, f"demo#{REBIND_ENDED}") == {}     # the earlier ones had too few ends before them
    bound(cards, key="later", n=101, at=at + REBIND_WINDOW + 10)   # a minute later: calm again
    assert found(cards, "demo#101") == {}


def test_long_binds_that_end_together_and_bind_again_are_no_storm() -> None:
    cards = ClientCards(10, 30.0)
    for n in range(1, 9):                                 # 8 binds of an hour, dropped together
        bound(cards, key=n, n=n)
    for n in range(1, 9):
        cards.ended(n, T0 + 3600, unbound=False, by_us=False, own_unanswered=0, deliveries_unanswered=0)
    for n in range(9, 17):                                # and bound again, once each
        bound(cards, key=n, n=n, at=T0 + 3601)
    assert all(found(cards, f"demo#{n}") == {} for n in range(9, 17))


def test_unbind_without_waiting_and_closed_without_unbind() -> None:
    cards = ClientCards(10, 30.0)
    for n in range(1, 6):
        bound(cards, key=n, n=n)
    cards.ended(1, T0 + 1, unbound=True, by_us=False, own_unanswered=3, deliveries_unanswered=0)
    cards.ended(2, T0 + 1, unbound=True, by_us=False, own_unanswered=0, deliveries_unanswered=2)
    cards.ended(3, T0 + 1, unbound=False, by_us=False, own_unanswered=0, deliveries_unanswered=1)
    cards.ended(4, T0 + 1, unbound=False, by_us=True, own_unanswered=5, deliveries_unanswered=5)   # our close
    cards.ended(5, T0 + 1, unbound=True, by_us=False, own_unanswered=0, deliveries_unanswered=0)
    assert found(cards, "demo#1") == {"unbind_without_waiting": 1}
    assert found(cards, "demo#2") == {"unbind_without_waiting": 1}
    assert found(cards, "demo#3") == {"closed_without_unbind": 1}
    assert found(cards, "demo#4") == {} and found(cards, "demo#5") == {}
    seen = {c.bind: c.findings[0].seen for c in cards.cards() if c.findings}
    assert seen["demo#1"] == "unbound with 3 of its own requests not yet answered"
    assert seen["demo#2"] == "unbound with 2 of the server's deliver_sm not answered"
    assert "1 of the server's deliver_sm not answered" in seen["demo#3"]


@pytest.mark.parametrize("addr, ton, npi, sender, wrong", [
    ("33612345678", 1, 1, False, False),
    ("0612345678", 2, 0, False, False),
    ("36180", 3, 0, False, False),
    ("MyShop", 5, 0, True, False),
    ("+33612345678", 0, 0, False, True),          # international with TON unknown
    ("0033612345678", 2, 0, False, True),         # international with TON national
    ("+33612345678", 1, 1, False, True),          # TON 1 wants digits only
    ("0612345678", 1, 1, False, True),            # a national number with TON 1
    ("33612345678", 1, 0, False, True),           # TON 1 without NPI 1
    ("MyShop", 0, 0, True, True),                 # alphanumeric sender without TON 5
    ("33612345678", 5, 0, True, True),            # a number sent as alphanumeric
    ("", 0, 0, True, False),                      # no sender: the SMSC's default
])
def test_address_problem(addr: str, ton: int, npi: int, sender: bool, wrong: bool) -> None:
    assert (address_problem(addr, ton, npi, sender) is not None) is wrong


def test_wrong_ton_npi_counts_submits_and_keeps_the_first_example() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    cards.submit("k", 1, sm(source="MyShop", source_ton=1, text=b"a"), T0)
    cards.submit("k", 1, sm(destination="+33612345678", dest_ton=0, dest_npi=0, text=b"b"), T0 + 1)
    cards.submit("k", 1, sm(text=b"c"), T0 + 2)
    (card,) = cards.cards()
    (finding,) = card.findings
    assert (finding.code, finding.count, finding.first_at) == ("wrong_ton_npi", 2, T0)
    assert "'MyShop'" in finding.seen


def test_no_registered_delivery_only_after_enough_submits_and_never_set() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards, key=1, n=1)
    bound(cards, key=2, n=2)
    for i in range(NO_RECEIPT_AFTER - 1):
        cards.submit(1, 1, sm(text=b"%d" % i, receipt=0), T0 + i)
        cards.submit(2, 1, sm(text=b"x%d" % i, receipt=0), T0 + i)
    assert found(cards, "demo#1") == {}
    cards.submit(1, 1, sm(text=b"last", receipt=0), T0 + 200)
    cards.submit(2, 1, sm(text=b"xlast", receipt=1), T0 + 200)        # asked once: enough
    assert found(cards, "demo#1") == {"no_registered_delivery": NO_RECEIPT_AFTER}
    assert next(c for c in cards.cards() if c.bind == "demo#1").findings[0].first_at == T0   # its first submit
    assert found(cards, "demo#2") == {}


def test_duplicates_within_the_window_across_binds_of_the_account_not_after_flow_control() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards, key=1, n=1)
    bound(cards, key=2, n=2)
    cards.submit(1, 1, sm(text=b"same"), T0)
    cards.submit(2, 1, sm(text=b"same"), T0 + DUPLICATE_WINDOW)         # within the window, another bind
    cards.submit(1, 1, sm(text=b"same"), T0 + 3 * DUPLICATE_WINDOW)     # long after: a new message
    cards.submit(1, 1, sm(text=b"other"), T0 + 3 * DUPLICATE_WINDOW)
    cards.throttled(1, T0 + 3 * DUPLICATE_WINDOW)                        # ...answered ESME_RTHROTTLED
    cards.submit(1, 1, sm(text=b"other"), T0 + 3 * DUPLICATE_WINDOW + 1)   # so sent again: right
    assert found(cards, "demo#1") == {}
    assert found(cards, "demo#2") == {"duplicate_submit": 1}


def test_duplicate_memory_is_bounded() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    for i in range(DUPLICATE_MEMORY + 1):
        cards.submit("k", 1, sm(destination=f"336{i:08d}"), T0)
    assert max(len(r.times) for r in cards._recent.values()) == DUPLICATE_MEMORY
    cards.submit("k", 1, sm(destination=f"336{0:08d}"), T0)              # the oldest was forgotten
    assert found(cards) == {}


def test_window_overflow_and_throttling_ignored() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    cards.submit("k", 10, sm(text=b"a"), T0)              # 10 waiting, this one included: the window
    cards.submit("k", 11, sm(text=b"b"), T0)
    cards.submit("k", 14, sm(text=b"c"), T0)
    cards.throttled("k", T0 + 1)
    for i in range(22):                                   # 22 more within the pause: 2 beyond two windows
        cards.submit("k", 1, sm(text=b"t%d" % i), T0 + 1 + THROTTLE_BACKOFF / 2)
    cards.submit("k", 1, sm(text=b"later"), T0 + 1 + THROTTLE_BACKOFF)   # after the pause
    assert found(cards) == {"window_overflow": 2, "ignored_throttling": 2}
    (card,) = cards.cards()
    assert "at most 14 at once" in card.findings[1].seen


def test_submit_multi_counts_each_destination() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    multi = SubmitMulti(source_addr_ton=5, source_addr="SHOP", registered_delivery=0, short_message=b"m",
                        dest_addresses=tuple(DestAddress(1, 1, f"336{i:08d}") for i in range(NO_RECEIPT_AFTER))
                        + (DestAddress(1, 1, "33600000001"), DestAddress(0, 0, "+33699999999")))
    cards.submit_multi("k", 1, multi, T0)
    assert found(cards) == {"no_registered_delivery": NO_RECEIPT_AFTER + 2, "duplicate_submit": 1,
                            "wrong_ton_npi": 1}


def test_ended_cards_are_bounded_and_unknown_binds_ignored() -> None:
    cards = ClientCards(10, 30.0)
    cards.submit("nobody", 1, sm(), T0)                   # not bound (yet): nothing to say
    cards.throttled("nobody", T0)
    cards.ended("nobody", T0, unbound=False, by_us=False, own_unanswered=0, deliveries_unanswered=0)
    for n in range(ENDED_KEPT + 5):
        cards.bound(n, f"demo#{n + 1}", "demo", f"10.1.{n // 250}.{n % 250}:1", f"10.1.{n // 250}.{n % 250}", T0 + n)
        cards.ended(n, T0 + n, unbound=True, by_us=False, own_unanswered=0, deliveries_unanswered=0)
    every = cards.cards()
    assert len(every) == ENDED_KEPT and every[0].bind == "demo#6"


def test_json_and_log_line() -> None:
    cards = ClientCards(10, 30.0)
    bound(cards)
    cards.deliver_timed_out("k", T0 + 1.5)
    (card,) = cards.cards()
    body = card_json(card)
    assert body["bind"] == "demo#1" and body["unbound_at"] is None and body["peer"] == "10.0.0.1:4000"
    assert body["bound_at"] == "1970-01-12T13:46:40.000Z"
    (finding,) = body["findings"]                                   # type: ignore[misc]
    assert set(finding) == {"code", "title", "seen", "count", "first_at", "advice"}
    assert finding["first_at"] == "1970-01-12T13:46:41.500Z" and finding["count"] == 1
    assert summary_line(card) == "demo#1 from 10.0.0.1:4000: no_deliver_sm_resp 1"
    assert isinstance(card.shifted(T0), Card) and card.shifted(T0).findings[0].first_at == 1.5
