"""R3 `skew`: a bulk send whose destinations do not follow the market's split between a
country's operators (../shared/RULES.md R3; seed 001, art. 4: "if the client sends a
disproportionate volume to one operator in one country", the platform "may suspend the
sends and/or re-price that destination").

Rules of this module:

1. **The send.** Per account, a bulk send is its campaign id when the client gives one
   (``Submit.campaign``, the vendor TLV 0x1400): every submit with that id, however long it
   lasts. A submit without campaign id belongs to the account's **window send**: its
   traffic without campaign id of the last ``window`` seconds (default 1 h), a submit at
   ``t`` counting while ``now - window < t``. Only accepted submits count (``accepted``):
   one refused by any rule, or by the credit, is no destination of the send.
2. **The split.** Destinations are counted per (country, operator) after routing:
   ``Submit.country`` (region code) and ``Submit.operator_id`` (ported numbers and MVNO
   hosts included). Each country is judged apart against its own ``reference``; a country
   without a reference (``""``, unknown to phonenumbers, or absent from the table) is not
   counted at all.
3. **The statistic**, once the send has ``min_sample`` destinations in that country (the
   minimum included): the largest excess, in share points, of one operator's observed share
   over its reference share (an operator absent from the reference has share 0). It is the
   contract's own concern, "a disproportionate volume to one operator", in one number that
   reads as it is ("Free Mobile got 72 points more than its share") and does not grow with
   the sample as a chi-square would: 100 destinations all to one operator and a million
   are the same skew. The send is skewed when the excess is **beyond** ``threshold``
   (default 0.25): an excess equal to it passes (compared to 1e-9, so that 0.43 - 0.18 is
   0.25 and not 0.25000000000000006).
4. **One alert per send and country**, with the facts a report draws its chart from (see
   ``split_facts``). A campaign send is judged until it is skewed, then stays so (its
   action holds for the rest of the campaign). A window send is an **episode**: judged at
   every submit, re-armed (a new alert possible) when its split comes back under the
   threshold with ``min_sample`` destinations, or when the country's window empties.
5. **Actions** (``action``), recorded after the ``alert`` event: ``alert`` nothing more;
   ``suspend``: event ``suspend``, the send's further submits refused ``RULE_SKEW_SUSPENDED``
   (``check``) and its messages not yet sent held by the delivery engine (``held``) until
   ``release`` (event ``release``, CLI ``smsc-harness release``, control API
   ``POST /skew/release``); a release lifts the suspension, not the judgement: the send is
   not suspended again for the same skew (a window send may be, in a later episode);
   ``reprice``: event ``reprice``, and every accepted message of the send to the skewed
   operator of that country, the one that tipped it included, gets a ledger line of kind
   ``reprice``, ``surcharge`` x segments (for a window send, while the episode lasts).
6. **A restart** rebuilds from the rule's events in the store: suspensions (a ``suspend``
   without a later ``release``), so messages resumed meanwhile stay held; and each campaign
   already alerted, with its skewed operator (no second alert; ``reprice`` goes on). Counts
   are not rebuilt: a campaign's split starts again from its next submit, a window from
   empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IReactorTime

from aggregator.rules.base import LedgerLine, Refusal, Rule, RuleLog, Submit
from aggregator.rules.settings import RulesConfig, SkewAction, SkewSettings
from smsc.pdu.status import CommandStatus

__all__ = ["SkewRule", "largest_excess", "split_facts"]

# Shares are floats: an excess equal to the threshold on paper must not pass it by rounding.
_EPSILON = 1e-9
_DIGITS = 6  # shares and excesses in the facts, rounded for the reports

SendKey = tuple[str, str | None]  # (account, campaign id or None for the window send)


@dataclass(slots=True)
class _Split:
    """One send's accepted destinations in one country, per operator."""

    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0


@dataclass(slots=True)
class _Send:
    splits: dict[str, _Split] = field(default_factory=dict)  # country -> split
    # country -> the operator of the current skew (a campaign's for good, a window's episode)
    skewed: dict[str, str] = field(default_factory=dict)
    recent: deque[tuple[float, str, str]] = field(default_factory=deque)  # window send: (at, country, op)


def largest_excess(counts: Mapping[str, int], total: int, reference: Mapping[str, float]) -> tuple[str, float]:
    """The operator whose observed share most exceeds its reference share, and by how much
    (share points, 0..1; negative when every operator is under its share). Ties go to the
    first in the reference's order, then in the counts' order: deterministic."""
    best_operator, best = "", -2.0
    for operator, share in reference.items():
        excess = counts.get(operator, 0) / total - share
        if excess > best:
            best_operator, best = operator, excess
    for operator, count in counts.items():
        if operator not in reference and count / total > best:
            best_operator, best = operator, count / total
    return best_operator, best


def split_facts(country: str, counts: Mapping[str, int], total: int, reference: Mapping[str, float],
                settings: SkewSettings) -> dict[str, Any]:
    """What a skew event carries (the report's chart of observed vs reference): per operator,
    the reference's first then any other seen, its observed count and share and its
    reference share (0 when it has none)."""
    operators = list(reference) + [op for op in counts if op not in reference]
    operator, excess = largest_excess(counts, total, reference)
    return {
        "country": country,
        "operator": operator,
        "excess": round(excess, _DIGITS),
        "threshold": settings.threshold,
        "min_sample": settings.min_sample,
        "sample": total,
        "counts": {op: counts.get(op, 0) for op in operators},
        "observed": {op: round(counts.get(op, 0) / total, _DIGITS) for op in operators},
        "reference": {op: reference.get(op, 0.0) for op in operators},
    }


class SkewRule(Rule):
    """R3 (module docstring). ``held`` is what the delivery engine asks before each send."""

    name = "skew"

    def __init__(self, clock: IReactorTime, log: RuleLog) -> None:
        super().__init__(clock, log)
        self._sends: dict[SendKey, _Send] = {}
        self._suspended: set[SendKey] = set()
        self._rebuild()

    def _rebuild(self) -> None:
        """Rule 6: what the store's events say is still in force."""
        for event in self.log.rule_events(self.name):
            key = (event.account, event.campaign)
            if event.action == "suspend":
                self._suspended.add(key)
            elif event.action == "release":
                self._suspended.discard(key)
            elif event.action == "alert" and event.campaign is not None:
                country, operator = event.facts.get("country"), event.facts.get("operator")
                if isinstance(country, str) and isinstance(operator, str):
                    self._sends.setdefault(key, _Send()).skewed[country] = operator

    # --- the pipeline's hooks ------------------------------------------------------------

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        if not self._suspended or (submit.account, submit.campaign) not in self._suspended:
            return None
        send = _send_name(submit.campaign)
        return Refusal(self.name, CommandStatus.RULE_SKEW_SUSPENDED,
                       f"{send} of {submit.account} is suspended for traffic skew until released")

    def accepted(self, submit: Submit, message_id: str, settings: RulesConfig) -> list[LedgerLine]:
        skew = settings.skew
        country = submit.country
        reference = skew.reference.get(country)
        if reference is None:
            return []
        key = (submit.account, submit.campaign)
        send = self._sends.get(key)
        if send is None:
            send = self._sends[key] = _Send()
        windowed = submit.campaign is None
        if windowed:
            self._slide(send, submit.at, skew.window)
            send.recent.append((submit.at, country, submit.operator_id))
        split = send.splits.get(country)
        if split is None:
            split = send.splits[country] = _Split()
        split.counts[submit.operator_id] = split.counts.get(submit.operator_id, 0) + 1
        split.total += 1
        if (windowed or country not in send.skewed) and split.total >= skew.min_sample:
            operator, excess = largest_excess(split.counts, split.total, reference)
            if excess > skew.threshold + _EPSILON:
                if country not in send.skewed:
                    send.skewed[country] = operator
                    self._act(key, submit, message_id, split, reference, skew)
            elif windowed:
                send.skewed.pop(country, None)                 # the episode is over: re-armed
        if skew.action is SkewAction.REPRICE and send.skewed.get(country) == submit.operator_id:
            return [LedgerLine(submit.account, message_id, submit.segments,
                               round(skew.surcharge * submit.segments, _DIGITS), submit.at, "reprice")]
        return []

    def held(self, account: str, campaign: str | None) -> bool:
        return bool(self._suspended) and (account, campaign) in self._suspended

    # --- release -------------------------------------------------------------------------

    def suspended(self) -> list[SendKey]:
        """The sends suspended now, sorted (window sends, campaign None, first)."""
        return sorted(self._suspended, key=lambda k: (k[0], k[1] is not None, k[1] or ""))

    def release(self, account: str, campaign: str | None) -> bool:
        """Lift a send's suspension (event ``release``): True, or False when it was not
        suspended (nothing recorded). The caller re-queues its held messages."""
        key = (account, campaign)
        if key not in self._suspended:
            return False
        self._suspended.discard(key)
        self.event("release", account, campaign=campaign, send=_kind(campaign))
        return True

    # --- inside ------------------------------------------------------------------------

    def _slide(self, send: _Send, now: float, window: float) -> None:
        """Rule 1: forget the window send's submits at or before ``now - window``; rule 4:
        a country whose window empties is re-armed."""
        recent, oldest = send.recent, now - window
        while recent and recent[0][0] <= oldest:
            _, country, operator = recent.popleft()
            split = send.splits[country]
            left = split.counts[operator] - 1
            if left:
                split.counts[operator] = left
            else:
                del split.counts[operator]
            split.total -= 1
            if not split.total:
                del send.splits[country]
                send.skewed.pop(country, None)

    def _act(self, key: SendKey, submit: Submit, message_id: str, split: _Split, reference: Mapping[str, float],
             skew: SkewSettings) -> None:
        """Rule 5: the alert, then the action's own event."""
        facts = split_facts(submit.country, split.counts, split.total, reference, skew)
        facts["send"] = _kind(submit.campaign)
        if submit.campaign is None:
            facts["window"] = skew.window
        account, number, campaign, at = submit.account, submit.msisdn, submit.campaign, submit.at
        self.event("alert", account, number=number, campaign=campaign, message_id=message_id, at=at, **facts)
        short = {name: facts[name] for name in ("send", "country", "operator", "excess")}
        if skew.action is SkewAction.SUSPEND:
            self._suspended.add(key)
            self.event("suspend", account, number=number, campaign=campaign, message_id=message_id, at=at, **short)
        elif skew.action is SkewAction.REPRICE:
            self.event("reprice", account, number=number, campaign=campaign, message_id=message_id, at=at,
                       surcharge=skew.surcharge, **short)


def _kind(campaign: str | None) -> str:
    return "window" if campaign is None else "campaign"


def _send_name(campaign: str | None) -> str:
    return "the traffic without campaign id" if campaign is None else f"campaign {campaign!r}"
