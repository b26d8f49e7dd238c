"""R2 `purge`, the "two-failure purge" (../shared/RULES.md R2; seed 000, Part II art. 1).

The contract: erase a recipient "when more than 2 sending failures for the reason *unknown
subscriber* happen in less than a month", and delete a number "without delay once its line is
known to be terminated". The product owner calls it the two-failure purge, so the default
threshold is 2 (`threshold: 3` is the contract's literal "more than 2").

What counts, per (account, number), E.164:

- an *unknown-subscriber failure*: a final receipt (or query_sm answer) `UNDELIV` err `001`, or
  the operator refusing the submit_sm with its own unknown-subscriber status (`stat` REJECTD
  and `error_code` equal to that operator's `smsc.unknown_status`, given at construction);
- a *terminated line*: `UNDELIV` err `005`, which purges at once;
- a delivery (`DELIVRD`), which starts the count again only with `reset_on_delivery: true`.

The window is rolling and strict: two failures count together when they are **less than**
`window` seconds apart ("en moins d'un mois"), so with the default 30 days a failure
29 d 23 h 59 m after the first one purges and one exactly 30 d after it does not (the first
has left the window; the new one starts a count of 1). The same message reported twice (a
receipt and a query_sm answer, an operator repeating itself) counts once.

Reaching `threshold` purges the number for that account: it goes on the store's purge list
(``RuleLog.add_purge``) with an event `purge` naming the failures behind it (message ids,
times, operator, stat and err), and ``check`` refuses that account's later submits to it with
`RULE_PURGED`, before they reach the operator. Another account's failures to the same
number never count: the contract's database is the client's own.

Memory: the purge list is kept whole (it is the invalid-numbers list), but the failures of a
number are forgotten once the last of them is older than the longest window in use, so a month
of traffic to numbers that fail once keeps only the numbers of the last 30 days.

A restart rebuilds both from the store: the purge list from ``RuleLog.purges()``, the counts
from ``RuleLog.unknown_failures(since, ...)`` (final outcomes of stored messages still inside
the window), replayed through the same code as live outcomes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from aggregator.clock import iso
from aggregator.rules.base import Outcome, Refusal, Rule, RuleLog, Submit
from aggregator.rules.settings import DAY, PurgeSettings, RulesConfig
from smsc.pdu.status import CommandStatus

UNKNOWN_ERR = "001"  # receipt err: unknown subscriber (docs/operator-model.md, Receipt error codes)
TERMINATED_ERR = "005"  # receipt err: subscriber terminated (line closed)


@dataclass(frozen=True, slots=True)
class Failure:
    """One unknown-subscriber (or terminated-line) failure, as a purge event names it."""

    message_id: str
    at: float
    operator_id: str
    stat: str
    err: str

    def facts(self) -> dict[str, object]:
        return {"message_id": self.message_id, "at": self.at, "time": iso(self.at), "operator": self.operator_id,
                "stat": self.stat, "err": self.err}


def _duration(seconds: float) -> str:
    """30 d, 12 h, 90 s: a window as people write it."""
    if seconds % DAY == 0:
        return f"{seconds / DAY:g} d"
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds:g} s"


class PurgeRule(Rule):
    """Counts unknown-subscriber failures per (account, number) and purges the numbers that
    reach the threshold within the window (module docstring)."""

    name = "purge"

    def __init__(self, clock: IReactorTime, log: RuleLog, unknown_statuses: Mapping[str, int],
                 accounts: Mapping[str, RulesConfig] | None = None, network: RulesConfig | None = None) -> None:
        """``unknown_statuses``: operator id -> the submit_sm status it gives an unknown
        subscriber. ``accounts`` (each account's settings) and ``network`` (the settings of an
        account not in it) tell the rebuild which window and reset apply to whom."""
        super().__init__(clock, log)
        self.unknown_statuses = dict(unknown_statuses)  # operator id -> its unknown-subscriber submit status
        self._accounts = dict(accounts or {})
        self._network = network or RulesConfig()
        in_use = [s.purge for s in (self._network, *self._accounts.values()) if s.purge.enabled]
        # Failures older than the longest window can no longer count for anyone: forgotten.
        self.horizon = max((s.window for s in in_use), default=PurgeSettings().window)
        # (account, number) -> (since, reason): the purge list.
        self._purged: dict[tuple[str, str], tuple[float, str]] = {}
        # (account, number) -> its failures still (maybe) inside the window, oldest first.
        self._failures: dict[tuple[str, str], list[Failure]] = {}
        # (at, key) of every failure counted, in time order: what the sweep forgets.
        self._sweep_queue: deque[tuple[float, tuple[str, str]]] = deque()
        self._restore(deliveries=any(s.reset_on_delivery for s in in_use))

    # --- what the pipeline calls ------------------------------------------------------

    def check(self, submit: Submit, settings: RulesConfig) -> Refusal | None:
        purged = self._purged.get((submit.account, submit.msisdn))
        if purged is None:
            return None
        since, reason = purged
        return Refusal(self.name, CommandStatus.RULE_PURGED, f"{submit.msisdn} purged on {iso(since)}: {reason}")

    def outcome(self, outcome: Outcome, settings: RulesConfig) -> None:
        self._sweep(outcome.at)
        self._observe(outcome, settings.purge, outcome.at)

    # --- what tests and reports may read ---------------------------------------------

    def is_purged(self, account: str, number: str) -> bool:
        return (account, number) in self._purged

    def counting(self) -> dict[tuple[str, str], tuple[Failure, ...]]:
        """(account, number) -> the failures kept for it (numbers not purged yet)."""
        return {key: tuple(failures) for key, failures in self._failures.items()}

    # --- the count --------------------------------------------------------------------

    def kind(self, outcome: Outcome) -> str | None:
        """"unknown", "terminated", "delivered" or None (nothing R2 counts)."""
        if outcome.stat == "UNDELIV":
            if outcome.err == UNKNOWN_ERR:
                return "unknown"
            if outcome.err == TERMINATED_ERR:
                return "terminated"
            return None
        if outcome.stat == "REJECTD":
            # The operator's unknown-subscriber status at submit. A REJECTD receipt carries
            # error_code int(err) instead: it would only match if an operator gave its filter
            # rejections the low byte of its unknown_status as err, which no model here does.
            status = self.unknown_statuses.get(outcome.operator_id)
            return "unknown" if status is not None and outcome.error_code == status else None
        if outcome.stat == "DELIVRD":
            return "delivered"
        return None

    def _observe(self, outcome: Outcome, settings: PurgeSettings, at: float) -> None:
        """Count one final outcome; purge (at ``at``) when it completes a count."""
        key = (outcome.account, outcome.msisdn)
        if key in self._purged:
            return
        kind = self.kind(outcome)
        if kind is None:
            return
        if kind == "delivered":
            if settings.reset_on_delivery:
                self._failures.pop(key, None)
            return
        failure = Failure(outcome.message_id, outcome.at, outcome.operator_id, outcome.stat, outcome.err)
        if kind == "terminated":
            self._purge(outcome, [failure], at, settings,
                        f"line terminated ({failure.stat} err {failure.err}, message {failure.message_id})")
            return
        failures = self._failures.get(key, [])
        if any(f.message_id == failure.message_id for f in failures):
            return                                              # the same failure reported again
        # Strict: a failure exactly `window` seconds old has left the window.
        failures = [f for f in failures if failure.at - f.at < settings.window]
        failures.append(failure)
        self._failures[key] = failures
        self._sweep_queue.append((failure.at, key))
        if len(failures) >= settings.threshold:
            self._purge(outcome, failures, at, settings,
                        f"{len(failures)} unknown-subscriber failures within {_duration(settings.window)}"
                        f" (messages {', '.join(f.message_id for f in failures)})")

    def _purge(self, outcome: Outcome, failures: list[Failure], at: float, settings: PurgeSettings,
               reason: str) -> None:
        key = (outcome.account, outcome.msisdn)
        self._failures.pop(key, None)
        self._purged[key] = (at, reason)
        self.log.add_purge(outcome.account, outcome.msisdn, at, reason)
        self.event("purge", outcome.account, number=outcome.msisdn, campaign=outcome.campaign,
                   message_id=outcome.message_id, at=at,
                   cause="terminated" if failures[-1].err == TERMINATED_ERR else "unknown",
                   failures=[f.facts() for f in failures], threshold=settings.threshold, window=settings.window,
                   reason=reason)

    def _sweep(self, now: float) -> None:
        """Forget the numbers whose every failure is at least ``horizon`` old (bounded memory)."""
        queue = self._sweep_queue
        while queue and now - queue[0][0] >= self.horizon:
            _, key = queue.popleft()
            failures = self._failures.get(key)
            if failures is not None and now - failures[-1].at >= self.horizon:
                del self._failures[key]

    # --- restart ----------------------------------------------------------------------

    def _restore(self, deliveries: bool) -> None:
        """Rebuild the purge list and the counts still inside the window from the store."""
        for account, number, since, reason in self.log.purges():
            self._purged[(account, number)] = (since, reason)
        now = self.clock.seconds()
        for outcome in self.log.unknown_failures(now - self.horizon, self.unknown_statuses, deliveries):
            settings = self._accounts.get(outcome.account, self._network)
            if settings.purge.enabled:
                # A count the current settings complete (a lower threshold than last run's)
                # purges now; the failures themselves keep their own times.
                self._observe(outcome, settings.purge, max(now, outcome.at))
        self._sweep(now)
