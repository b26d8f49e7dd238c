"""Routing: an SMPP destination address -> E.164 number + operator id.

Pure functions and a small object with no I/O, so routing decisions can be
tested without sockets and logged with their reason.  This is the only module
that imports ``phonenumbers``: the carrier data (which network a number range
was allocated to) comes from there, and keeping it behind this module means a
change of numbering library touches one file.

The decision order is: ported table (longest prefix) -> carrier served
natively by an operator -> carrier hosted on an operator (MVNO) -> refused.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import carrier as pn_carrier

from aggregator.config import OperatorConfig, RoutingConfig
from smsc.pdu.codec import Ton

__all__ = ["Route", "Router", "RoutingError", "valid_e164"]

RoutingErrorKind = Literal["invalid_number", "no_operator"]
RouteReason = Literal["ported", "carrier", "mvno_host"]

# Cache sizes: a load test sends to a bounded set of numbers; these keep the
# hot set in memory without growing without limit on random traffic.
_E164_CACHE = 65536
_CARRIER_CACHE = 65536


@dataclass(frozen=True, slots=True)
class Route:
    """Where one message goes, and why (for the routing log line)."""

    msisdn: str  # E.164 with leading '+', e.g. "+33612345678"
    operator_id: str
    carrier: str  # carrier name phonenumbers gave ("" if decided by the ported table)
    reason: RouteReason  # "ported" | "carrier" | "mvno_host"


class RoutingError(Exception):
    """A destination that cannot be routed.

    ``kind`` lets the SMPP layer pick the command_status: "invalid_number"
    (not a phone number, ESME_RINVDSTADR) or "no_operator" (a valid number no
    configured operator serves).  ``carrier`` is the carrier phonenumbers gave
    for a "no_operator" number ("" if none), so the log can say which carrier
    is missing from the config.
    """

    def __init__(self, kind: RoutingErrorKind, address: str, message: str, carrier: str = "") -> None:
        super().__init__(message)
        self.kind: RoutingErrorKind = kind
        self.address = address
        self.carrier = carrier


def _invalid(address: str, why: str) -> RoutingError:
    return RoutingError("invalid_number", address, f"invalid destination {address!r}: {why}")


def valid_e164(address: str, ton: int, default_region: str) -> str:
    """SMPP destination_addr + dest_addr_ton -> E.164 '+<digits>'.

    TON 1 (international): '33612345678' or '+33...' ('0033...' tolerated,
    as some clients send the international prefix).  TON 2 (national), or
    TON 0 (unknown) with a leading '0': read in ``default_region``, which also
    handles that region's international prefix ('0033...' in France).  TON 0
    without a leading '0' is read as international, which is what clients
    sending TON 0 almost always mean.  A leading '+' is always international.
    Raises RoutingError('invalid_number') for anything that is not a valid
    phone number (letters, short codes, unallocated ranges, other TONs).

    The simulated operators read numbers with their own, lenient
    `smsc.operators.subscribers.lenient_e164` on purpose: the aggregator refuses
    what it cannot route, while an SMSC answers whatever reaches it.
    """
    text = address.strip()
    digits = text[1:] if text.startswith("+") else text
    if not digits.isascii() or not digits.isdigit():
        raise _invalid(address, "not a phone number")
    if text.startswith("+"):
        region: str | None = None
    elif ton == Ton.INTERNATIONAL or (ton == Ton.UNKNOWN and not text.startswith("0")):
        # "00" is the most common international prefix; strip it if present.
        text = "+" + (digits[2:] if digits.startswith("00") else digits)
        region = None
    elif ton in (Ton.NATIONAL, Ton.UNKNOWN):
        region = default_region
    else:
        raise _invalid(address, f"type of number {ton} is not routable")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise _invalid(address, str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid(address, "not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _carrier_name(msisdn: str) -> str:
    """English carrier name of a mobile number's range, '' when unknown or not mobile."""
    return pn_carrier.name_for_number(phonenumbers.parse(msisdn, None), "en")


def _region_of(msisdn: str) -> str:
    return phonenumbers.region_code_for_number(phonenumbers.parse(msisdn, None)) or ""


class Router:
    """Routes destination addresses to operators; one per loaded network config.

    Both normalisation and the carrier lookup cost tens of microseconds in
    phonenumbers and are called per message, so each Router keeps its own
    LRU caches (per instance: no global state, and a new config gets fresh
    caches).  The decision itself is a few dict lookups.
    """

    def __init__(self, operators: Sequence[OperatorConfig], routing: RoutingConfig) -> None:
        if routing.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default_region {routing.default_region!r} is not a region phonenumbers knows")
        known = {op.id for op in operators}
        self._by_carrier: dict[str, str] = {}
        for op in operators:
            for name in op.carriers:
                self._by_carrier.setdefault(name, op.id)
        self._mvno_hosts: Mapping[str, str] = dict(routing.mvno_hosts)
        self._ported: dict[str, str] = dict(routing.ported)
        for table, ids in (("mvno_hosts", routing.mvno_hosts.values()), ("ported", routing.ported.values())):
            unknown = sorted(set(ids) - known)
            if unknown:
                raise ValueError(f"routing.{table} names unknown operator(s): {', '.join(unknown)}")
        # Longest first, so the first hit is the longest matching prefix.
        self._ported_lengths: tuple[int, ...] = tuple(sorted({len(p) for p in self._ported}, reverse=True))
        region = routing.default_region
        self._e164: Callable[[str, int], str] = lru_cache(maxsize=_E164_CACHE)(
            lambda address, ton: valid_e164(address, ton, region)
        )
        self._carrier: Callable[[str], str] = lru_cache(maxsize=_CARRIER_CACHE)(_carrier_name)
        self._country: Callable[[str], str] = lru_cache(maxsize=_CARRIER_CACHE)(_region_of)

    def country(self, msisdn: str) -> str:
        """The region code ("FR") of an E.164 number this router gave; "" when phonenumbers
        cannot tell (the rules that compare countries, R3, then leave the number out)."""
        return self._country(msisdn)

    def subscriber(self, number: str) -> str | None:
        """A number as a person or an operator writes it ("0612345678", "+33612345678",
        "33612345678") as the one E.164 form the rules key subscribers on; None when it is
        not a valid phone number (a short code, letters)."""
        try:
            return self._e164(number, Ton.UNKNOWN)
        except RoutingError:
            return None

    def route(self, address: str, ton: int = Ton.INTERNATIONAL) -> Route:
        """Normalise, then: longest ported prefix; else native carrier; else MVNO host.

        Raises RoutingError('invalid_number') or RoutingError('no_operator').
        """
        msisdn = self._e164(address, ton)
        for length in self._ported_lengths:
            operator_id = self._ported.get(msisdn[:length])
            if operator_id is not None:
                return Route(msisdn, operator_id, "", "ported")
        name = self._carrier(msisdn)
        operator_id = self._by_carrier.get(name)
        if operator_id is not None:
            return Route(msisdn, operator_id, name, "carrier")
        operator_id = self._mvno_hosts.get(name)
        if operator_id is not None:
            return Route(msisdn, operator_id, name, "mvno_host")
        what = f"carrier {name!r}" if name else "no known mobile carrier"
        raise RoutingError("no_operator", address, f"no operator serves {msisdn} ({what})", name)
