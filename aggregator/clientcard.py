"""The report card of the client under test: what the server saw each bind do that real
operators punish, or that loses messages (issue 14; docs/report-card.md lists every finding).

Rules of this module:

1. Sans-IO. `ClientCards` is fed plain facts by one-line hooks in aggregator/server.py (a
   bind, a submit, a flow-control answer, a deliver_sm answered, late or never, an
   enquire_link of ours unanswered, the end of a connection) with the time (`now`, seconds on
   the link clock: the clock the session's own timeouts run on, real time under `serve
   --speed`, the virtual clock in a replay). It never reads a clock, a socket or the store.
2. One name per bind: `bind_id` ("ACCOUNT#N", aggregator/server.py `_bind`).
3. Cheap on the hot path: per submit, a few comparisons and attribute increments, and one
   lookup in a bounded recent set (duplicates). Anything else (a finding's sentence, its
   advice) is built when a card is asked for (`cards`, `GET /clients`, the stop, a report).
4. Bounded memory: counts and first times, never lists of PDUs. Cards of ended binds are kept
   for the last `ENDED_KEPT` binds; duplicate detection remembers the last `DUPLICATE_MEMORY`
   submits per account; re-bind storms the last ends of `REBIND_KEYS` (account, host) pairs.
5. Thresholds are those the server already has where it has one (the response timeout of
   its sessions, `limits.deliver_window`, its own pause when a client says it is busy), the
   documented constants below otherwise.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Hashable, Iterable

from aggregator.clock import iso
from smsc.pdu.codec import Ton
from smsc.pdu.views import SubmitMulti, SubmitSm

# A deliver_sm answered later than this (link-clock seconds) is answered late; one not
# answered within the session's response_timeout (30 s) is not answered at all.
LATE_DELIVER_SM_RESP = 5.0
# After an ESME_RTHROTTLED or ESME_RMSGQFUL answer, a bind is expected to pause this long
# before it sends again: what the server itself does when a client answers it busy
# (aggregator.server.CLIENT_BUSY_PAUSE). Two windows' worth of requests are not counted
# against it: a window may be on its way when the answer leaves, and a client that reads the
# answers of one read in order may send a window more on the ESME_ROK answers that came with
# it, before it reads the ESME_RTHROTTLED.
THROTTLE_BACKOFF = 1.0
# More than REBIND_ENDED binds of one account from one host, each of them shorter than
# REBIND_WINDOW, ended within REBIND_WINDOW seconds before a new bind: that bind is part of a
# re-bind storm. (Long binds that all end at once, a network blip, and bind again are not one.)
REBIND_ENDED = 3
REBIND_WINDOW = 60.0
REBIND_KEYS = 10_000
# registered_delivery never set: said once a bind has sent this many submits without it.
NO_RECEIPT_AFTER = 100
# A submit with the same source, destination and text as one of the account's last
# DUPLICATE_MEMORY submits, within DUPLICATE_WINDOW seconds of it, is a duplicate.
DUPLICATE_WINDOW = 60.0
DUPLICATE_MEMORY = 1000
ENDED_KEPT = 1000                # cards of ended binds kept (the oldest go first)

_ALPHANUMERIC = int(Ton.ALPHANUMERIC)
_INTERNATIONAL = int(Ton.INTERNATIONAL)
_UNKNOWN = int(Ton.UNKNOWN)
_NATIONAL = int(Ton.NATIONAL)
_ISDN = 1                        # NPI ISDN/E.164 (§5.2.6)


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of misbehaviour of one bind: its `code` (docs/report-card.md), a short
    `title`, what was `seen` (a sentence), how often (`count`), when first (`first_at`, link
    clock seconds) and what a well-behaved client does instead (`advice`)."""

    code: str
    title: str
    seen: str
    count: int
    first_at: float
    advice: str


@dataclass(frozen=True, slots=True)
class Card:
    """A bind's report card as it stands: who, from where, when bound and unbound (None while
    bound; link clock seconds), and its findings in the order of `CODES`."""

    bind: str
    account: str
    peer: str
    bound_at: float
    unbound_at: float | None
    findings: tuple[Finding, ...]

    def shifted(self, origin: float) -> Card:
        """The same card with its times counted from `origin` (a replay's start)."""
        return Card(self.bind, self.account, self.peer, self.bound_at - origin,
                    None if self.unbound_at is None else self.unbound_at - origin,
                    tuple(Finding(f.code, f.title, f.seen, f.count, f.first_at - origin, f.advice)
                          for f in self.findings))


# code -> (title, advice); the order is the order of findings on a card.
CODES: dict[str, tuple[str, str]] = {
    "late_deliver_sm_resp": (
        "deliver_sm answered late",
        "Answer each deliver_sm at once, before any slow work of your own (queue the receipt or MO, "
        "answer, then process it): an SMSC stops sending to a bind whose answers lag, and its window fills."),
    "no_deliver_sm_resp": (
        "deliver_sm not answered",
        "Answer every deliver_sm with a deliver_sm_resp: ESME_ROK, or ESME_RTHROTTLED / ESME_RX_T_APPN to have "
        "it sent again later. An unanswered receipt is sent again, and operators unbind clients that leave "
        "them unanswered."),
    "ignored_throttling": (
        "sent on after ESME_RTHROTTLED",
        "On ESME_RTHROTTLED or ESME_RMSGQFUL, stop sending on the bind for a while (a second or more, longer "
        "if it comes again), then send again what was refused; keep under the account's agreed rate."),
    "window_overflow": (
        "more requests outstanding than the window",
        "Keep at most the window's number of requests without a response on each bind (the window agreed "
        "with the SMSC), and wait for a response before sending more."),
    "no_enquire_link_resp": (
        "enquire_link not answered",
        "Answer enquire_link with enquire_link_resp at once, whatever else the client is doing: an SMSC "
        "closes a link whose keepalives go unanswered, and what was in flight with it."),
    "rebind_storm": (
        "re-bind storm",
        "After a bind ends, bind again after a pause that grows with each failure (1 s, 2 s, 4 s... up to "
        "a minute), and find out why binds end: operators block accounts and addresses that re-bind in a loop."),
    "unbind_without_waiting": (
        "unbind without waiting",
        "Before unbind, stop sending, wait for the response to every request sent and answer every "
        "deliver_sm received; then send unbind and wait for unbind_resp before closing."),
    "closed_without_unbind": (
        "connection closed without unbind",
        "End a session with unbind, wait for unbind_resp, then close: a dropped connection leaves both "
        "sides unsure of what the other received."),
    "wrong_ton_npi": (
        "TON/NPI wrong for the address",
        "Send international numbers as digits with their country code, TON 1 NPI 1 (33612345678); national "
        "ones with TON 2 (0612345678); short codes with TON 3; alphanumeric senders with TON 5 NPI 0."),
    "no_registered_delivery": (
        "no delivery receipt asked",
        "Set registered_delivery to 1 and match each receipt to its message_id: without receipts a client "
        "cannot tell a delivered message from a lost one."),
    "duplicate_submit": (
        "duplicate submits",
        "Send a message once. After a timeout or a lost connection, find out what became of it (its "
        "receipt, query_sm) before sending it again."),
}


def address_problem(addr: str, ton: int, npi: int, sender: bool) -> str | None:
    """What is wrong with an address's TON/NPI (SMPP 3.4 §5.2.5, §5.2.6), or None:
    an international number (a '+' or '00' prefix) sent with TON unknown or national; TON 1
    with a '+', a national '0' prefix or other than digits; TON 1 without NPI 1 (E.164);
    an alphanumeric sender without TON 5, or TON 5 for an address of digits only."""
    if ton == _INTERNATIONAL:
        if not addr.isdigit() or addr[0] == "0":
            return f"{addr!r} with TON 1 (international) is not digits with a country code"
        if npi != _ISDN:
            return f"{addr!r} with TON 1 has NPI {npi}, not 1 (E.164)"
        return None
    if not addr:
        return None
    if sender:
        digits = addr.lstrip("+").isdigit()
        if ton == _ALPHANUMERIC:
            return f"sender {addr!r} with TON 5 (alphanumeric) is a number" if digits else None
        if not digits:
            return f"alphanumeric sender {addr!r} with TON {ton}, not 5"
    if (ton == _UNKNOWN or ton == _NATIONAL) and (addr[0] == "+" or addr.startswith("00")):
        return f"international number {addr!r} with TON {ton} ({'unknown' if ton == _UNKNOWN else 'national'}), not 1"
    return None


class BindCard:
    """What one bind did, as counts and first times (the mutable side of a `Card`)."""

    __slots__ = ("bind", "account", "peer", "host", "bound_at", "unbound_at", "counts", "first", "example",
                 "backoff_until", "after_throttle", "submits", "receipts_asked", "max_outstanding",
                 "slowest_resp", "rebind_ended", "unanswered_requests", "unanswered_deliveries", "last_keys",
                 "source", "source_ton", "source_npi", "source_problem", "first_submit_at")

    def __init__(self, bind: str, account: str, peer: str, host: str, now: float) -> None:
        self.bind = bind
        self.account = account
        self.peer = peer
        self.host = host
        self.bound_at = now
        self.unbound_at: float | None = None
        self.counts: dict[str, int] = {}
        self.first: dict[str, float] = {}
        self.example: dict[str, str] = {}
        self.backoff_until = 0.0                 # after a flow-control answer: THROTTLE_BACKOFF later
        self.after_throttle = 0                  # requests received within the backoff
        self.submits = 0
        self.first_submit_at = now
        self.receipts_asked = 0
        self.max_outstanding = 0
        self.slowest_resp = 0.0
        self.rebind_ended = 0
        self.unanswered_requests = 0
        self.unanswered_deliveries = 0
        # the duplicate keys of the last submit (one per destination): forgotten when it is
        # answered with flow control, since sending it again is then what the client must do
        self.last_keys: tuple[tuple[str, str, bytes], ...] = ()
        # the last sender and what is wrong with its TON/NPI (None: nothing)
        self.source: str | None = None
        self.source_ton = -1
        self.source_npi = -1
        self.source_problem: str | None = None

    def note(self, code: str, now: float, n: int = 1, example: str | None = None) -> None:
        counts = self.counts
        seen = counts.get(code)
        if seen is None:
            counts[code] = n
            self.first[code] = now
            if example is not None:
                self.example[code] = example
        else:
            counts[code] = seen + n

    def card(self, window: int, response_timeout: float) -> Card:
        findings = []
        for code, (title, advice) in CODES.items():
            count = self.counts.get(code)
            if count is None and code == "no_registered_delivery" and self.submits >= NO_RECEIPT_AFTER \
                    and not self.receipts_asked:
                count = self.submits
            if count is None:
                continue
            first = self.first.get(code, self.first_submit_at)     # no_registered_delivery: the first submit
            findings.append(Finding(code, title, self._seen(code, count, window, response_timeout), count, first,
                                    advice))
        return Card(self.bind, self.account, self.peer, self.bound_at, self.unbound_at, tuple(findings))

    def _seen(self, code: str, n: int, window: int, response_timeout: float) -> str:
        example = self.example.get(code, "")
        if code == "late_deliver_sm_resp":
            return (f"{n} deliver_sm answered more than {LATE_DELIVER_SM_RESP:g} s after they were sent "
                    f"(the slowest in {self.slowest_resp:.1f} s)")
        if code == "no_deliver_sm_resp":
            return (f"{n} deliver_sm not answered within {response_timeout:g} s: sent again, to another bind "
                    f"or later")
        if code == "ignored_throttling":
            return (f"{n} requests sent less than {THROTTLE_BACKOFF:g} s after an ESME_RTHROTTLED or "
                    f"ESME_RMSGQFUL answer, beyond the {2 * window} (two windows) that may have been on their way")
        if code == "window_overflow":
            return (f"{n} requests sent with {window} or more already waiting for their response (at most "
                    f"{self.max_outstanding} at once; the window here is {window})")
        if code == "no_enquire_link_resp":
            return f"{n} enquire_link from the server not answered within {response_timeout:g} s"
        if code == "rebind_storm":
            return (f"bound after {self.rebind_ended} binds of {self.account} from {self.host}, each shorter "
                    f"than {REBIND_WINDOW:g} s, had ended within {REBIND_WINDOW:g} s")
        if code == "unbind_without_waiting":
            parts = []
            if self.unanswered_requests:
                parts.append(f"{self.unanswered_requests} of its own requests not yet answered")
            if self.unanswered_deliveries:
                parts.append(f"{self.unanswered_deliveries} of the server's deliver_sm not answered")
            return f"unbound with {' and '.join(parts)}"
        if code == "closed_without_unbind":
            extra = (f", with {self.unanswered_deliveries} of the server's deliver_sm not answered"
                     if self.unanswered_deliveries else "")
            return f"the connection was closed while bound, without unbind{extra}"
        if code == "wrong_ton_npi":
            return f"{n} addresses with a TON/NPI that does not fit them; the first: {example}"
        if code == "no_registered_delivery":
            return f"{n} submits, none asking for a delivery receipt (registered_delivery 0)"
        if code == "duplicate_submit":
            return (f"{n} submits with the same source, destination and text as one sent less than "
                    f"{DUPLICATE_WINDOW:g} s before; the first: {example}")
        raise AssertionError(code)  # pragma: no cover


class ClientCards:
    """The cards of every bind of a server's life: bound ones, and the last `ENDED_KEPT` ended.

    `window`: the requests a bind may have outstanding (the server's `limits.deliver_window`:
    a link's window is the same both ways, as an operator link's `window`); `response_timeout`:
    the server sessions' (what "not answered" means)."""

    def __init__(self, window: int, response_timeout: float) -> None:
        self.window = window
        self.response_timeout = response_timeout
        self._bound: dict[Hashable, BindCard] = {}
        self._ended: deque[BindCard] = deque(maxlen=ENDED_KEPT)
        self._ends: dict[tuple[str, str], deque[float]] = {}      # (account, host) -> last ends
        self._recent: dict[str, _Recent] = {}                    # account -> its last submits

    # --- hooks (aggregator/server.py) -------------------------------------------------------

    def bound(self, key: Hashable, bind: str, account: str, peer: str, host: str, now: float) -> None:
        card = BindCard(bind, account, peer, host, now)
        self._bound[key] = card
        ends = self._ends.get((account, host))
        if ends is not None:
            recent = sum(1 for at in ends if now - at <= REBIND_WINDOW)
            if recent > REBIND_ENDED:
                card.rebind_ended = recent
                card.note("rebind_storm", now)

    def submit(self, key: Hashable, outstanding: int, sm: SubmitSm, now: float) -> None:
        """A submit_sm received; `outstanding`: the bind's requests waiting for our answer, this
        one included."""
        card = self._bound.get(key)
        if card is None:
            return
        self._request(card, outstanding, now)
        if not card.submits:
            card.first_submit_at = now
        card.submits += 1
        if sm.registered_delivery & 0x03:
            card.receipts_asked += 1
        source, destination = sm.source_addr, sm.destination_addr
        if source != card.source or sm.source_addr_ton != card.source_ton or sm.source_addr_npi != card.source_npi:
            card.source, card.source_ton, card.source_npi = source, sm.source_addr_ton, sm.source_addr_npi
            card.source_problem = address_problem(source, card.source_ton, card.source_npi, True)
        problem = card.source_problem           # a bind mostly sends from one sender: judged once
        if problem is None:
            ton, npi = sm.dest_addr_ton, sm.dest_addr_npi
            if not (ton == _INTERNATIONAL and npi == _ISDN and destination.isdigit() and destination[0] != "0"):
                problem = address_problem(destination, ton, npi, False)     # the common case needs no call
        if problem is not None:
            card.note("wrong_ton_npi", now, example=problem)
        card.last_keys = (self._duplicate(card, source, destination, sm.short_message, now),)

    def submit_multi(self, key: Hashable, outstanding: int, sm: SubmitMulti, now: float) -> None:
        """A submit_multi received: one request, a submit per SME destination."""
        card = self._bound.get(key)
        if card is None:
            return
        self._request(card, outstanding, now)
        source = sm.source_addr
        problem = address_problem(source, sm.source_addr_ton, sm.source_addr_npi, True)
        keys = []
        if not card.submits:
            card.first_submit_at = now
        for dest in sm.dest_addresses:
            if dest.dl_name is not None:
                continue
            card.submits += 1
            if sm.registered_delivery & 0x03:
                card.receipts_asked += 1
            if problem is None:
                problem = address_problem(dest.destination_addr, dest.dest_addr_ton, dest.dest_addr_npi, False)
            keys.append(self._duplicate(card, source, dest.destination_addr, sm.short_message, now))
        card.last_keys = tuple(keys)
        if problem is not None:
            card.note("wrong_ton_npi", now, example=problem)

    def _request(self, card: BindCard, outstanding: int, now: float) -> None:
        window = self.window
        if outstanding > window:
            card.note("window_overflow", now)
            if outstanding > card.max_outstanding:
                card.max_outstanding = outstanding
        if now < card.backoff_until:
            card.after_throttle += 1
            if card.after_throttle > 2 * window:
                card.note("ignored_throttling", now)

    def _duplicate(self, card: BindCard, source: str, destination: str, text: bytes, now: float
                   ) -> tuple[str, str, bytes]:
        """Remember this submit's key in its account's recent set; a duplicate if it was there
        (sent within DUPLICATE_WINDOW). Returns the key."""
        recent = self._recent.get(card.account)
        if recent is None:
            recent = self._recent[card.account] = _Recent()
        key = (source, destination, text)
        times = recent.times
        before = times.get(key)
        times[key] = now
        if before is None:
            order = recent.order
            order.append(key)
            if len(order) > DUPLICATE_MEMORY:
                times.pop(order.popleft(), None)
        elif now - before <= DUPLICATE_WINDOW:
            counts = card.counts
            seen = counts.get("duplicate_submit")
            if seen is None:                     # the example's text only once (a load tool repeats one message)
                card.note("duplicate_submit", now, example=f"{source} -> {destination}, {len(text)} octets")
            else:
                counts["duplicate_submit"] = seen + 1
        return key

    def throttled(self, key: Hashable, now: float) -> None:
        """We answered a request of the bind with ESME_RTHROTTLED or ESME_RMSGQFUL."""
        card = self._bound.get(key)
        if card is None:
            return
        if now >= card.backoff_until:
            card.backoff_until = now + THROTTLE_BACKOFF
            card.after_throttle = 0
        recent = self._recent.get(card.account)
        if recent is not None:
            for sent in card.last_keys:
                recent.times.pop(sent, None)

    def deliver_answered(self, key: Hashable, sent_at: float, now: float) -> None:
        """The bind answered one of our deliver_sm, sent at `sent_at`."""
        took = now - sent_at
        if took > LATE_DELIVER_SM_RESP:
            card = self._bound.get(key)
            if card is not None:
                card.note("late_deliver_sm_resp", now)
                if took > card.slowest_resp:
                    card.slowest_resp = took

    def deliver_timed_out(self, key: Hashable, now: float) -> None:
        """One of our deliver_sm got no answer within the response timeout."""
        card = self._bound.get(key)
        if card is not None:
            card.note("no_deliver_sm_resp", now)

    def enquire_link_timed_out(self, key: Hashable, now: float) -> None:
        """An enquire_link the server sent the bind got no answer within the response timeout."""
        card = self._bound.get(key)
        if card is not None:
            card.note("no_enquire_link_resp", now)

    def ended(self, key: Hashable, now: float, unbound: bool, by_us: bool, own_unanswered: int,
              deliveries_unanswered: int) -> None:
        """The bind's connection is gone. `unbound`: after an unbind (the client's); `by_us`:
        we closed it (shutdown, inactivity, a broken stream); `own_unanswered`: its requests we
        had not answered; `deliveries_unanswered`: our deliver_sm it had not answered."""
        card = self._bound.pop(key, None)
        if card is None:
            return
        card.unbound_at = now
        if unbound:
            if own_unanswered or deliveries_unanswered:
                card.unanswered_requests = own_unanswered
                card.unanswered_deliveries = deliveries_unanswered
                card.note("unbind_without_waiting", now)
        elif not by_us:
            card.unanswered_deliveries = deliveries_unanswered
            card.note("closed_without_unbind", now)
        self._ended.append(card)
        if now - card.bound_at >= REBIND_WINDOW:
            return                                  # a long bind: its end says nothing of a storm
        ends = self._ends.pop((card.account, card.host), None)
        if ends is None:
            if len(self._ends) >= REBIND_KEYS:
                del self._ends[next(iter(self._ends))]
            ends = deque(maxlen=REBIND_ENDED + 1)
        ends.append(now)
        self._ends[(card.account, card.host)] = ends          # most recently used last

    # --- reading ------------------------------------------------------------------------

    def cards(self) -> list[Card]:
        """Every bind's card, in the order they bound (ended and bound ones together)."""
        every = sorted([*self._ended, *self._bound.values()], key=lambda c: (c.bound_at, _number(c.bind)))
        return [c.card(self.window, self.response_timeout) for c in every]


class _Recent:
    """An account's last DUPLICATE_MEMORY distinct submits: (source, destination, text) -> when
    last sent, and the order they were first sent in (the oldest forgotten first)."""

    __slots__ = ("times", "order")

    def __init__(self) -> None:
        self.times: dict[tuple[str, str, bytes], float] = {}
        self.order: deque[tuple[str, str, bytes]] = deque()


def _number(bind: str) -> int:
    """N of "ACCOUNT#N": binds of one instant in the order they were made."""
    tail = bind.rpartition("#")[2]
    return int(tail) if tail.isdigit() else 0


def card_json(card: Card) -> dict[str, object]:
    """A card as `GET /clients` and the file written at serve's stop give it (docs/control-api.md),
    its times in ISO 8601 UTC (`aggregator.clock.iso`)."""
    return {"bind": card.bind, "account": card.account, "peer": card.peer, "bound_at": iso(card.bound_at),
            "unbound_at": None if card.unbound_at is None else iso(card.unbound_at),
            "findings": [{"code": f.code, "title": f.title, "seen": f.seen, "count": f.count,
                          "first_at": iso(f.first_at), "advice": f.advice} for f in card.findings]}


def clients_json(cards: Iterable[Card]) -> dict[str, object]:
    """Every bind's card: the body of `GET /clients` and of the file `serve` writes at its stop."""
    return {"clients": [card_json(card) for card in cards]}


def summary_line(card: Card) -> str:
    """One line for the log: the bind and its findings with their counts."""
    found = ", ".join(f"{f.code} {f.count}" for f in card.findings)
    return f"{card.bind} from {card.peer}: {found}"

