"""The subscriber book of a simulated operator: what the network knows of each number.

Rules of this module:

1. A number's state outlives one message. Exact rules win: the network's `test_numbers`
   first, then the operator's own `numbers`, then the longest matching `subscribers` prefix,
   else the number is active.
2. A range's shares (percent unknown / absent / terminated / barred) are applied ONCE per
   number, from a stable hash of (seed, operator id, number), not from the message random
   stream: the same number keeps its state across messages, and that state does not depend
   on which numbers were sent to before (traffic order) nor on the Python process
   (`hash()` is salted per process; sha256 is not).
3. Pure: no clock, no I/O. `SubscriberBook.lookup` is a function of its arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from smsc.operators.profile import (
    Delay, Fixed, NumberRule, RangeRule, SubscriberState,
)
from smsc.pdu.codec import Ton

_LOOKUP_CACHE = 65536      # numbers whose subscriber a book remembers


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One number as the network sees it, for one submit."""

    msisdn: str                          # E.164, "+33612345678"
    state: SubscriberState
    rule: NumberRule | None = None       # an exact rule (test number or `numbers:`), if any
    test_number: bool = False            # the rule comes from the network's test_numbers
    back_after: Delay | None = None      # absent: when it is back, per message; None = never


def lenient_e164(destination_addr: str, dest_addr_ton: int, country_code: str = "33") -> str:
    """destination_addr as E.164. TON 1 (or a leading '+' / '00') is international; a leading
    national '0' with TON 0 or 2 is read in `country_code` (the simulated SMSC is a French
    network: "0612345678" is "+33612345678"). Anything else is kept with a '+' in front so
    that lookups stay well defined; it simply matches no rule. It never raises, unlike the
    aggregator's `routing.valid_e164`, which checks numbers with phonenumbers before routing:
    a simulated SMSC looks up whatever reaches it, as a real one would."""
    addr = destination_addr.strip()
    if addr.startswith("+"):
        return "+" + addr[1:]
    if dest_addr_ton == Ton.INTERNATIONAL:
        return "+" + addr
    if addr.startswith("00"):
        return "+" + addr[2:]
    if addr.startswith("0") and dest_addr_ton in (Ton.UNKNOWN, Ton.NATIONAL):
        return "+" + country_code + addr[1:]
    return "+" + addr


def stable_share(seed: int, operator_id: str, msisdn: str) -> float:
    """A number in [0, 100) fixed by (seed, operator, number): the number's place in a range's
    shares. Independent of traffic order and of the Python process."""
    digest = hashlib.sha256(f"{seed}:{operator_id}:{msisdn}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 * 100.0


class SubscriberBook:
    def __init__(self, operator_id: str, seed: int, ranges: tuple[RangeRule, ...] = (),
                 numbers: tuple[NumberRule, ...] = (), test_numbers: tuple[NumberRule, ...] = ()) -> None:
        self.operator_id = operator_id
        self.seed = seed
        self._test_numbers = {rule.msisdn: rule for rule in test_numbers}
        self._numbers = {rule.msisdn: rule for rule in numbers}
        # Longest prefix first; the sort is stable, so equal lengths keep the file order.
        self._ranges = sorted(ranges, key=lambda rule: len(rule.prefix), reverse=True)
        # A number's subscriber never changes (the rules are fixed, its share is a hash), and
        # campaigns send to the same numbers again and again: remember the latest ones.
        # (mypy refuses any assignment to a method, this per-instance cache idiom included)
        self.lookup = lru_cache(maxsize=_LOOKUP_CACHE)(self.lookup)  # type: ignore[method-assign]

    def lookup(self, msisdn: str) -> Subscriber:
        """The subscriber behind an E.164 number (see `lenient_e164`)."""
        rule = self._test_numbers.get(msisdn)
        if rule is not None:
            return _from_rule(rule, test_number=True)
        rule = self._numbers.get(msisdn)
        if rule is not None:
            return _from_rule(rule, test_number=False)
        for range_rule in self._ranges:
            if msisdn.startswith(range_rule.prefix):
                state = range_rule.state or self._state_by_share(range_rule, msisdn)
                back = range_rule.absent_back_after if state is SubscriberState.ABSENT else None
                return Subscriber(msisdn, state, back_after=back)
        return Subscriber(msisdn, SubscriberState.ACTIVE)

    def _state_by_share(self, rule: RangeRule, msisdn: str) -> SubscriberState:
        point = stable_share(self.seed, self.operator_id, msisdn)
        edge = 0.0
        for share, state in ((rule.unknown, SubscriberState.UNKNOWN), (rule.absent, SubscriberState.ABSENT),
                             (rule.terminated, SubscriberState.TERMINATED),
                             (rule.barred, SubscriberState.BARRED)):
            edge += share
            if point < edge:
                return state
        return SubscriberState.ACTIVE


def _from_rule(rule: NumberRule, test_number: bool) -> Subscriber:
    back = Fixed(rule.back_after) if rule.state is SubscriberState.ABSENT and rule.back_after is not None else None
    return Subscriber(rule.msisdn, rule.state, rule, test_number, back)
