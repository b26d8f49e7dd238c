"""R11 `contact` (../shared/RULES.md; seed 000, Part II art. 1: "raison sociale, adresse
postale, mail ou numéro de téléphone"): an MO "CONTACT" to an account's short code is
answered, by SMS from that short code, with who the account is.

Rules of this module:

1. An MO *is* a CONTACT by the same test as R1's STOP, with the settings' ``keywords``
   (aggregator/rules/keywords.py: "contact", "Contact ?", "CONTACT au 36180"; never "contact
   me tomorrow", nor "STOP CONTACT").
2. The reply is the account's ``identity``: ``COMPANY - ADDRESS - CONTACT`` (company name,
   postal address, email or phone), event ``reply`` with the text (facts ``sent: true``); the
   server sends it from the short code, unbilled.
3. It stays within 3 SMS segments, as every automatic reply: 459 characters when the text
   fits Latin-1 (sent as GSM 7-bit, 153 a part), 201 UTF-16 units when it needs UCS-2 (67 a
   part). A longer identity (each field may have 160 characters) loses the end of its
   *address*, marked "...": the company and the way to reach it are what the contract asks
   for above all. If even those do not fit (UCS-2), the address is left out and the text cut
   at the limit. The event says ``truncated: true``.
4. An account without ``identity`` gets no reply: event ``reply`` with ``sent: false`` and
   the reason, so a report shows the CONTACT that went unanswered.
5. A sender answered less than ``interval`` seconds ago (default 1 h) gets no second reply
   (event ``reply``, ``sent: false``, the reason): a handset that answers every MT with
   CONTACT would otherwise make an endless exchange with the replies. This memory is not kept
   across a restart (at worst one more reply).
6. A sender that is not a phone number (not E.164) cannot be answered: event ``reply``,
   ``sent: false``.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from aggregator.config.rules import MAX_TEXT
from aggregator.rules.base import Mo, Reply, Rule, RuleLog
from aggregator.rules.keywords import keyword_in
from aggregator.rules.settings import Identity, RulesConfig

__all__ = ["ContactRule", "contact_text"]

# 3 UCS-2 segments of 67 UTF-16 units (the 134 octets a concatenated part carries).
UCS2_MAX = 3 * 67
_SEPARATOR = " - "
_CUT = "..."
# Past this many remembered answers, those older than the interval are forgotten.
_PRUNE_AT = 4096


def _units(text: str) -> tuple[int, int]:
    """(length of ``text`` in its reply alphabet's units, the 3-segment limit in those units)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return len(text.encode("utf-16-be")) // 2, UCS2_MAX
    return len(text), MAX_TEXT


def _cut(text: str, units: int) -> str:
    """The longest start of ``text`` of at most ``units`` UTF-16 units, a surrogate pair whole."""
    out = text[:units]
    while len(out.encode("utf-16-be")) // 2 > units:
        out = out[:-1]
    return out


def contact_text(identity: Identity) -> tuple[str, bool]:
    """The reply to CONTACT for ``identity``, within 3 segments, and whether it was shortened."""
    full = _SEPARATOR.join((identity.company, identity.address, identity.contact))
    length, limit = _units(full)
    if length <= limit:
        return full, False
    fixed, _ = _units(identity.company + 2 * _SEPARATOR + identity.contact + _CUT)
    room = limit - fixed
    if room > 0:
        address = _cut(identity.address, room).rstrip() + _CUT
        return _SEPARATOR.join((identity.company, address, identity.contact)), True
    return _cut(_SEPARATOR.join((identity.company, identity.contact)), limit), True


class ContactRule(Rule):
    name = "contact"

    def __init__(self, clock: IReactorTime, log: RuleLog) -> None:
        super().__init__(clock, log)
        self._answered: dict[tuple[str, str], float] = {}   # (account, sender) -> last reply (rule 5)

    def mo(self, mo: Mo, settings: RulesConfig, identity: Identity | None) -> Reply | None:
        contact = settings.contact
        keyword = keyword_in(mo.text, contact.keywords)
        if keyword is None:
            return None
        key = (mo.account, mo.sender)
        last = self._answered.get(key)
        if identity is None:
            self._unanswered(mo, "the account has no identity (company, address, contact) to send")
            return None
        if not mo.sender.startswith("+"):
            self._unanswered(mo, "the sender is not a phone number")
            return None
        if last is not None and mo.at - last < contact.interval:
            self._unanswered(mo, f"answered {mo.at - last:g} s ago, less than the interval ({contact.interval:g} s)")
            return None
        text, truncated = contact_text(identity)
        self._remember(key, mo.at, contact.interval)
        self.event("reply", mo.account, number=mo.sender, at=mo.at, sent=True, short_code=mo.short_code,
                   text=text, truncated=truncated)
        return Reply(self.name, mo.account, mo.short_code, mo.sender, text)

    def _unanswered(self, mo: Mo, why: str) -> None:
        """A CONTACT that gets no reply: the event says why (rules 4 to 6)."""
        self.event("reply", mo.account, number=mo.sender, at=mo.at, sent=False, short_code=mo.short_code,
                   reason=why)

    def _remember(self, key: tuple[str, str], at: float, interval: float) -> None:
        self._answered[key] = at
        if len(self._answered) > _PRUNE_AT:
            self._answered = {k: t for k, t in self._answered.items() if at - t < interval}
