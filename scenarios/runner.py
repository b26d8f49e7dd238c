"""Play a checked :class:`scenarios.model.Scenario` against the whole stack, in memory.

``run_scenario(scenario, db_path, seed)`` builds the harness on a ``task.Clock`` set to the
scenario's clock start, over ``smsc.memory.MemoryNetwork`` (no socket, no wall clock), plays
each step in order and returns a :class:`reports.model.ScenarioReport`.  Everything the
report holds is decided on the virtual clock, so the same scenario and seed give the same
report (and byte-identical ``render_json``) every time.

``run_scenario_live(scenario, db_path, reactor)`` plays the same steps over real TCP on
127.0.0.1 with the reactor as the clock (``advance`` waits real time): for short scenarios,
same verdicts per expectation, timings from the wall clock (``smsc-harness run --live``).
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, TypeVar

from twisted.internet import defer
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from zope.interface import implementer

from aggregator.clientcard import Card
from aggregator.harness import Harness, start_harness, tcp_dial, tcp_listen, tls_dial, tls_listen
from aggregator.server import CAMPAIGN_ID_TAG
from aggregator.store import MessageState, Store
from reports.model import (
    LIST_FIRST,
    RECORDS_FIRST,
    RULE_EXAMPLES,
    SKEW_SENDS,
    ExpectationRecord,
    ExpectationRecords,
    ExpectationResult,
    ListedNumber,
    NumberList,
    OperatorOutcomes,
    RuleEventGroup,
    RuleEventRow,
    ScenarioReport,
    SkewSplit,
    TimelineEntry,
    bin_throughput,
    campaign_splits,
    chart_marks,
    count_outcomes,
    facts_of,
    percentiles,
    refusal_counts,
    window_split,
    with_rule_events,
)
from scenarios.model import (
    Advance,
    Bind,
    BindMode,
    Campaign,
    Comparison,
    Expect,
    Filters,
    Mo,
    Multi,
    OperatorAction,
    OperatorChange,
    PopulationDrawError,
    Release,
    Scenario,
    Step,
    Subject,
    Submit,
)
from scenarios.reach import destination, routes
from smsc.adapter import SmppConnection
from smsc.esme import BIND_COMMANDS
from smsc.events import ConnectionClosed
from smsc.pdu.codec import Command, DestAddress, Pdu, Tlv, npi_for
from smsc.pdu.status import CommandStatus, status_name
from smsc.pdu.views import SubmitMultiResp
from smsc.session import Session, SessionConfig
from smsc.states import Role
from smsc.memory import MemoryNetwork, NotFired, fired_result, next_due, run_until
from smsc.virtualclock import VirtualClock

__all__ = ["run_scenario", "run_scenario_live", "ScenarioRunError"]

THROTTLE_RETRY = 1.0  # simulated seconds before a throttled submit is sent again
STOP_GRACE = 600.0  # simulated seconds the stop may take (unbinds, timeouts)
# The store commits every 5 simulated seconds in a replay (serve: every 5 ms of real time):
# one transaction per few hundred messages instead of per few, and a message's insert and
# its state changes within those seconds become one row write.  Reads flush first, so the
# expectations see everything.
STORE_FLUSH_INTERVAL = 5.0
# ... but writes only one of those flushes in 12 (a minute of simulated traffic per
# transaction): the others only mark what they would have committed, which is all that the
# replay can see of a commit (limits.max_uncommitted counts from that mark). Measured on two
# weekdays of million_month: the store's writes about half as long, the rows the same.
STORE_FLUSHES_PER_WRITE = 12
PROGRESS_SLICE = 60.0  # simulated seconds between progress reports, when asked for
LINKS = ("objects", "bytes")   # what the in-memory links carry between SMPP ends (run_scenario)
LINKS_ENV = "SMSC_HARNESS_LINKS"
LIVE_TIMEOUT = 15.0  # real seconds a live connection, bind or stop may take
AMOUNT_DIGITS = 6  # a ledger amount total is compared rounded to a millionth (float sums)
_LETTER = re.compile(r"[A-Za-z]")
T = TypeVar("T")


class ScenarioRunError(RuntimeError):
    """The replay itself could not proceed (e.g. a bind refused): reported, not a crash."""


def encode_text(text: str) -> bytes:
    return text.encode("latin-1", "replace")


def source_ton(sender: str) -> int:
    """5 (alphanumeric) if it has a letter, 1 for '+' or long numbers, 3 for short codes."""
    if _LETTER.search(sender):
        return 5
    if sender.startswith("+") or len(sender) >= 10:
        return 1
    return 3


@dataclass
class _PendingSubmit:
    """A submit_sm a scenario client has yet to send (or send again after a throttle)."""

    to: str
    text: str
    sender: str
    receipt: bool
    tlvs: tuple[Tlv, ...] = ()             # the campaign id TLV of a campaign step with an id


@dataclass
class _PendingMulti:
    """A submit_multi a scenario client has yet to send (or send again after a throttle)."""

    to: tuple[str, ...]
    text: str
    sender: str
    receipt: bool
    tlvs: tuple[Tlv, ...] = ()


@dataclass
class Client:
    """One scenario client: its SMPP connection, a send queue that respects the window,
    and how many deliver_sm (receipts and MOs) it received."""

    account: str
    clock: IReactorTime
    conn: SmppConnection | None = None
    bound: bool = False
    sends: bool = True                   # a transmitter or transceiver (a receiver only receives)
    queue: deque[_PendingSubmit | _PendingMulti] = field(default_factory=deque)
    deliveries: int = 0                  # deliver_sm received (receipts and MOs); the store has them
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    paused: IDelayedCall | None = None   # after ESME_RTHROTTLED: sends nothing until it fires

    # --- SessionHandler ----------------------------------------------------------------

    def connection_made(self, conn: SmppConnection) -> None:
        self.conn = conn

    def request_received(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu)
        if pdu.command is Command.deliver_sm:
            self.deliveries += 1

    def connection_lost(self, conn: SmppConnection, event: ConnectionClosed) -> None:
        self.bound = False

    # --- sending -----------------------------------------------------------------------

    def enqueue(self, item: _PendingSubmit | _PendingMulti) -> None:
        self.queue.append(item)
        self.pump()

    def pump(self) -> None:
        conn = self.conn
        while (self.queue and self.bound and conn is not None and conn.session.window_available > 0
               and self.paused is None):
            item = self.queue.popleft()
            if isinstance(item, _PendingMulti):
                dests = tuple(DestAddress(ton, npi_for(ton), addr) for addr, ton in map(destination, item.to))
                conn.request_then(
                    self._multi_answered, self._failed, Command.submit_multi, item.tlvs, (item,),
                    source_addr_ton=source_ton(item.sender), source_addr=item.sender, dest_addresses=dests,
                    registered_delivery=1 if item.receipt else 0, short_message=encode_text(item.text))
                continue
            addr, ton = destination(item.to)
            conn.request_then(
                self._answered, self._failed, Command.submit_sm, item.tlvs, (item,),
                source_addr_ton=source_ton(item.sender), source_addr=item.sender,
                dest_addr_ton=ton, dest_addr_npi=npi_for(ton), destination_addr=addr,
                registered_delivery=1 if item.receipt else 0, short_message=encode_text(item.text))

    def _back_off(self, item: _PendingSubmit | _PendingMulti) -> None:
        """ESME_RTHROTTLED: the item first in line again, and nothing sent for THROTTLE_RETRY,
        as a well-behaved client does (its report card: docs/report-card.md)."""
        self.queue.appendleft(item)
        if self.paused is None:
            self.paused = self.clock.callLater(THROTTLE_RETRY, self._resume)

    def _resume(self) -> None:
        self.paused = None
        self.pump()

    def _answered(self, resp: Pdu, item: _PendingSubmit) -> None:
        status = resp.command_status
        if status == CommandStatus.ESME_RTHROTTLED:
            self._back_off(item)
        elif status == CommandStatus.ESME_ROK:
            self.accepted += 1
        else:
            self._refused(status)
        self.pump()

    def _multi_answered(self, resp: Pdu, item: _PendingMulti) -> None:
        """Each destination counts as a submit: accepted, or refused with its own status
        (unsuccess_sme), or with the resp's status when the whole submit_multi was refused
        (or a generic_nack came instead)."""
        status = resp.command_status
        if status == CommandStatus.ESME_RTHROTTLED:
            self._back_off(item)
            return
        unsuccess = SubmitMultiResp.from_pdu(resp).unsuccess_smes if resp.command is Command.submit_multi_resp else ()
        if status != CommandStatus.ESME_ROK and not unsuccess:
            self._refused(status, len(item.to))
        else:
            self.accepted += len(item.to) - len(unsuccess)
            for sme in unsuccess:
                self._refused(sme.error_status_code)
        self.pump()

    def _refused(self, status: int, count: int = 1) -> None:
        name = CommandStatus(status).name if status in CommandStatus._value2member_map_ else str(status)
        self.refused[name] = self.refused.get(name, 0) + count

    def _failed(self, failure: Failure, item: _PendingSubmit | _PendingMulti) -> None:
        count = len(item.to) if isinstance(item, _PendingMulti) else 1
        self.refused["no response"] = self.refused.get("no response", 0) + count
        self.pump()


def _bound(step: Bind) -> str:
    """The timeline's line for a bind (unchanged for an unnamed client: report digests)."""
    named = "" if step.client is None else f" (client {step.client})"
    return f"{step.account} bound as {step.mode.value}{named}"


def _fired(d: defer.Deferred[T]) -> T:
    try:
        return fired_result(d)
    except NotFired:
        raise ScenarioRunError("did not finish") from None


def _settle(clock: Clock, d: defer.Deferred[T], what: str, grace: float = 0.0) -> T:
    """Run what is due until ``d`` fires; with ``grace``, let the clock move up to that far."""
    limit = clock.seconds() + grace
    for _ in range(100_000):
        if d.called:
            return _fired(d)
        due = next_due(clock)
        if due is None or due > limit:
            if due is None or clock.seconds() >= limit:
                break
            run_until(clock, limit)
            continue
        run_until(clock, max(due, clock.seconds()))
    if d.called:
        return _fired(d)
    raise ScenarioRunError(f"{what} did not finish on the clock")


class _Run:
    def __init__(self, scenario: Scenario, db_path: Path, seed: int,
                 progress: Callable[[int], None] | None = None, links: str = "objects") -> None:
        self.scenario = scenario
        self.seed = seed
        self.progress = progress
        self.start = scenario.clock.start_seconds
        self.virtual = VirtualClock(self.start)        # only the in-memory run moves time itself
        self.clock: IReactorTime = self.virtual
        self.net = MemoryNetwork(self.virtual, objects=links == "objects")
        # scratch: the replay's database is read for the report, then thrown away (cli.replay).
        self.store = Store(db_path, schedule=self.clock.callLater, flush_interval=STORE_FLUSH_INTERVAL,
                           scratch=True, flushes_per_write=STORE_FLUSHES_PER_WRITE)
        config = replace(scenario.network, seed=seed)
        self.harness: Harness = _fired(defer.ensureDeferred(start_harness(
            config, self.clock, self.store, self.net.listen, self.net.dial, port=0, link_clock=self.clock)))
        _settle(self.virtual, self.harness.connectors_bound(), "the operator binds", grace=60.0)
        self.clients: dict[str, Client] = {}
        self._populations: dict[str, tuple[str, ...]] = {}
        self.events: list[TimelineEntry] = []
        self.expectations: list[ExpectationResult] = []
        self.changes: list[tuple[float, str, str, str]] = []   # operator changes: (at, operator, kind, label)

    @property
    def now(self) -> float:
        return self.clock.seconds() - self.start

    def note(self, index: int, kind: str, summary: str) -> None:
        self.events.append(TimelineEntry(at=self.now, step=index, kind=kind, summary=summary))

    # --- steps ---------------------------------------------------------------------------

    def play(self, index: int, step: Step) -> None:
        match step:
            case Bind():
                self.bind(index, step)
            case Submit():
                self.submit(index, step)
            case Multi():
                self.multi(index, step)
            case Campaign():
                self.campaign(index, step)
            case Mo():
                self.mo(index, step)
            case Advance():
                self.advance(index, step)
            case OperatorChange():
                self.operator(index, step)
            case Release():
                self.release(index, step)
            case Expect():
                self.expect(index, step)

    def bind(self, index: int, step: Bind) -> None:
        if step.name in self.clients and self.clients[step.name].bound:
            self.note(index, "bind", f"{step.name} already bound")
            return
        client = Client(step.account, self.clock, sends=step.mode is not BindMode.RECEIVER)
        conn = SmppConnection(Session(Role.ESME, SessionConfig(), self.clock.seconds()), self.clock, client)
        _settle(self.virtual, connectProtocol(self.net.dial("127.0.0.1", self.harness.port), conn),
                "the client connection")
        account = next(a for a in self.scenario.network.accounts if a.system_id == step.account)
        resp = _settle(self.virtual, conn.request(BIND_COMMANDS[step.mode.value], system_id=account.system_id,
                                                password=account.password.plain or "", interface_version=0x34), "the bind")
        assert isinstance(resp, Pdu)
        if resp.command_status != CommandStatus.ESME_ROK:
            raise ScenarioRunError(f"{step.source}: bind of {step.account} refused (status {resp.command_status})")
        client.bound = True
        self.clients[step.name] = client
        self.note(index, "bind", _bound(step))

    def _client(self, step: Submit | Multi | Campaign) -> Client:
        """The client that sends `step`: the one it names, else its account's first client that
        can send (the loader has checked that there is one)."""
        if step.client is not None:
            client = self.clients.get(step.client)
        else:
            client = next((c for c in self.clients.values() if c.account == step.account and c.sends), None)
        if client is None:
            raise ScenarioRunError(f"{step.source}: account {step.account} sends before any bind step")
        return client

    def submit(self, index: int, step: Submit) -> None:
        client = self._client(step)
        client.enqueue(_PendingSubmit(step.to, step.text, step.sender or "SMSC", step.receipt))
        self.note(index, "submit", f"{step.account} -> {step.to}: {step.text!r}")

    def multi(self, index: int, step: Multi) -> None:
        client = self._client(step)
        tlvs = () if step.id is None else (Tlv(CAMPAIGN_ID_TAG, step.id.encode("ascii")),)
        client.enqueue(_PendingMulti(step.to, step.text, step.sender or "SMSC", step.receipt, tlvs))
        self.note(index, "multi", f"{step.account} -> {len(step.to)} destinations: {step.text!r}")

    def campaign(self, index: int, step: Campaign) -> None:
        client = self._client(step)
        numbers = self._drawn(step.population)[: step.count]
        sender = step.sender or "SMSC"
        tlvs = () if step.id is None else (Tlv(CAMPAIGN_ID_TAG, step.id.encode("ascii")),)
        items = [_PendingSubmit(number, step.text, sender, step.receipt, tlvs) for number in numbers]
        if step.rate is None:
            client.queue.extend(items)
        elif items:
            # One pending timer at a time, not one per message: the queue stays small.
            client.queue.append(items[0])
            self._pace(client, items, 1, self.clock.seconds(), step.rate)
        client.pump()
        pace = "at once" if step.rate is None else f"at {step.rate:g}/s"
        self.note(index, "campaign", f"{step.account}: {len(numbers)} messages to {step.population} {pace}")

    def _drawn(self, name: str) -> tuple[str, ...]:
        """A population's numbers, drawn once per run (a month of campaigns reuses them); a
        drawn one keeps only numbers the aggregator's router routes (its cache then serves the
        campaign's submits)."""
        numbers = self._populations.get(name)
        if numbers is None:
            population = self.scenario.population(name)
            try:
                numbers = population.draw(self.seed, routes(self.harness.server.router))
            except PopulationDrawError as error:
                raise ScenarioRunError(f"{population.source}: population {name}: {error}") from None
            self._populations[name] = numbers
        return numbers

    def _pace(self, client: Client, items: list[_PendingSubmit], i: int, start: float, rate: float) -> None:
        """Send ``items[i]`` at ``start + i / rate``, then schedule the next one."""
        if i >= len(items):
            return

        def send() -> None:
            client.enqueue(items[i])
            self._pace(client, items, i + 1, start, rate)
        self.clock.callLater(max(0.0, start + i / rate - self.clock.seconds()), send)

    def mo(self, index: int, step: Mo) -> None:
        route = self.harness.inject_mo(step.sender, step.to, step.text)
        self.note(index, "mo", f"{step.sender} -> {step.to} via {route.operator_id}: {step.text!r}")

    def advance(self, index: int, step: Advance) -> None:
        end = self.virtual.seconds() + step.seconds
        if self.progress is None:
            run_until(self.virtual, end)
        else:                                   # in slices, to report progress as time moves
            while self.virtual.seconds() < end:
                run_until(self.virtual, min(end, self.virtual.seconds() + PROGRESS_SLICE))
                self.progress(self.sent())
        self.note(index, "advance", f"advanced {step.seconds:g}s")

    def sent(self) -> int:
        """submit_sm answered so far (accepted or refused), all clients together."""
        return sum(c.accepted + sum(c.refused.values()) for c in self.clients.values())

    def operator(self, index: int, step: OperatorChange) -> None:
        smsc = self.harness.operators[step.operator]
        if step.action is OperatorAction.OUTAGE:
            assert step.outage is not None
            smsc.start_outage(step.outage)
            what = f"outage {step.outage.value}"
        elif step.action is OperatorAction.RECOVER:
            smsc.end_outage()
            what = "recovered"
        else:
            assert step.throughput is not None
            smsc.set_throughput(step.throughput.rate, step.throughput.burst)
            what = f"throughput {step.throughput.rate:g}/s burst {step.throughput.burst}"
        self.changes.append((self.now, step.operator, step.action.value, f"{step.operator}: {what}"))
        self.note(index, "operator", f"{step.operator}: {what}")

    def release(self, index: int, step: Release) -> None:
        send = step.campaign if step.campaign is not None else "traffic without campaign id"
        released = self.harness.release(step.account, step.campaign)
        what = "was not suspended" if released is None else f"released, {released} held message(s) sent on"
        self.note(index, "release", f"{step.account} {send}: {what}")

    def expect(self, index: int, step: Expect) -> None:
        if step.sum is None:
            actual: float = self.count(step.subject, step.filters)
        else:
            actual = self.store.sum_ledger(step.sum.value, step.filters.account)
        passed = step.comparison.holds(round(actual, AMOUNT_DIGITS), step.value)
        shown, wanted = _number(actual), _number(step.value)
        self.expectations.append(ExpectationResult(
            name=step.name, step=index, source=step.source, expected=f"{step.comparison.value} {wanted}",
            actual=shown, passed=passed, records=None if passed else self.records(step, actual)))
        self.note(index, "expect", f"{'PASS' if passed else 'FAIL'} {step.name}: "
                                   f"{shown} {step.comparison.value} {wanted}")

    # --- counting ------------------------------------------------------------------------

    def count(self, subject: Subject, f: Filters) -> int:
        store = self.store
        text = None if f.text is None else encode_text(f.text)
        if subject is Subject.MESSAGES:
            return store.count_messages(f.state, f.account, f.operator, text)
        if subject is Subject.RECEIPTS:
            stat = None if f.stat is None else f.stat.value
            return store.count_receipts(stat, f.account, f.operator)
        if subject is Subject.MOS:
            return store.count_mos(f.account, f.operator, text)
        if subject is Subject.DELIVERIES:
            return store.count_deliveries_done(f.account)
        if subject is Subject.EVENTS:
            return store.count_events(f.state, f.account, f.operator)
        if subject is Subject.LEDGER:
            return store.count_ledger(f.account)
        if subject is Subject.RULES:
            return store.count_rule_events(f.rule, f.action, f.account, f.number, f.campaign)
        if subject is Subject.REFUSALS:
            return store.count_refusals(f.account, f.status, f.rule)
        raise AssertionError(subject)  # pragma: no cover

    def records(self, step: Expect, actual: float) -> ExpectationRecords:
        """The first RECORDS_FIRST rows behind a failing expectation (FORMAT.md, Reports).

        Too few (below what ``>=``, ``>`` or ``==`` wanted): the rows that match every filter
        but the deciding one (``_DECIDING``), with what they are instead ("not counted"); for
        messages with no ``state`` (nor operator or text) asked, the account's refused submits
        ("refused"). Too many, ``!=`` met, a ledger ``sum``, or nothing missed to show: the
        rows it counted ("counted")."""
        subject, filters = step.subject.value, _record_filters(step)
        too_few = step.sum is None and actual < step.value and step.comparison in _TOO_FEW
        if too_few:
            deciding = _DECIDING.get(step.subject)
            if deciding is not None and deciding in filters:
                found = self._records("not counted", subject, filters, deciding)
                if found.total:
                    return found
            if step.subject is Subject.MESSAGES and not filters.keys() - {"account"}:
                found = self._records("refused", Subject.REFUSALS.value, filters, None)
                if found.total:
                    return found
        return self._records("counted", subject, filters, None)

    def _records(self, kind: str, subject: str, filters: dict[str, object], unlike: str | None) -> ExpectationRecords:
        total, rows = self.store.records(subject, filters, RECORDS_FIRST, unlike)
        start = self.start
        first = []
        for row in rows:
            fields: list[tuple[str, str | int | float | None]] = []
            for key, value in row.items():
                if key == "at":
                    continue
                if key.endswith("_at"):          # clock seconds -> simulated seconds since the start
                    value = None if value is None else value - start
                elif key == "status" and isinstance(value, int):
                    value = status_name(value)
                fields.append((key, value))
            first.append(ExpectationRecord(row["at"] - start, tuple(fields)))
        return ExpectationRecords(kind, subject, total, tuple(first))

    # --- the end -------------------------------------------------------------------------

    def report(self) -> ScenarioReport:
        rows = self.store.message_timings()          # (operator_id, state, created_at, done_at)
        duration = self.now
        by_op: dict[str, list[str]] = {}
        for operator_id, state, _, _ in rows:
            by_op.setdefault(operator_id, []).append(state)
        order = [op.id for op in self.scenario.network.operators]
        per_operator = tuple(OperatorOutcomes(op, count_outcomes(by_op[op]))
                             for op in [*order, *sorted(set(by_op) - set(order))] if op in by_op)
        latency = percentiles(done - created for _, _, created, done in rows if done is not None)
        delivered = MessageState.DELIVERED.value
        throughput = bin_throughput(
            (created - self.start for _, _, created, _ in rows),
            (done - self.start for _, state, _, done in rows if state == delivered and done is not None),
            duration)
        groups = self.rule_groups()
        events = self.timeline(groups)
        return ScenarioReport(
            name=self.scenario.name, source=self.scenario.source, seed=self.seed,
            start=self.scenario.clock.start.isoformat(), sim_duration=duration, messages=len(rows),
            outcomes=count_outcomes(state for _, state, _, _ in rows), per_operator=per_operator,
            latency=latency, throughput=throughput, events=events,
            expectations=tuple(self.expectations), refusals=refusal_counts(self.store.refusal_counts()),
            rule_groups=groups, optouts=self.number_list("optouts"), purges=self.number_list("purges"),
            skew=self.skew_splits(), clients=self.client_cards(),
            marks=chart_marks(self.operator_changes(duration),
                              [e for e in events if e.kind == "rule"]))

    def operator_changes(self, duration: float) -> list[tuple[float, str, str, str]]:
        """The operator changes of the run in time order: the scenario's ``operator`` steps and
        the outages the network's operators have configured (``smsc.faults.outages``, placed
        from the harness's start, which is the scenario's), those that began before the end."""
        configured: list[tuple[float, str, str, str]] = []
        for op in self.scenario.network.operators:
            for outage in op.behaviour.faults.outages:
                if outage.start <= duration:
                    configured.append((outage.start, op.id, "outage",
                                       f"{op.id}: outage {outage.mode.value} (configured)"))
                if outage.start + outage.duration <= duration:
                    configured.append((outage.start + outage.duration, op.id, "recover",
                                       f"{op.id}: recovered (configured)"))
        # stable: at one instant, the steps' changes come after the configured ones (a step runs later)
        return sorted([*configured, *self.changes], key=lambda c: c[0])

    def client_cards(self) -> tuple[Card, ...]:
        """The report card of each client bind as the run ends, times from its start."""
        return tuple(card.shifted(self.start) for card in self.harness.server.cards.cards())

    def rule_groups(self) -> tuple[RuleEventGroup, ...]:
        """The rule events of the run, per (rule, action, account): counted, the first few in detail."""
        return tuple(
            RuleEventGroup(rule, action, account, n, first - self.start, last - self.start, tuple(
                RuleEventRow(e.at - self.start, e.rule, e.action, e.account, e.number, e.campaign, e.message_id,
                             facts_of(e.facts)) for e in examples))
            for rule, action, account, n, first, last, examples in self.store.rule_event_groups(RULE_EXAMPLES))

    def timeline(self, groups: tuple[RuleEventGroup, ...]) -> tuple[TimelineEntry, ...]:
        """The steps, with the rule events shown in detail (``groups``' examples) among them."""
        return with_rule_events(self.events, [row for g in groups for row in g.examples])

    def number_list(self, table: str) -> NumberList:
        """The opt-out (R1) or purge (R2) list at the end of the run: counts, the first entries."""
        counts, first = self.store.list_summary(table, LIST_FIRST)
        return NumberList(tuple(counts), tuple(ListedNumber(account, number, at - self.start, why)
                                               for account, number, at, why in first))

    def skew_splits(self) -> tuple[SkewSplit, ...]:
        """Each bulk send R3 checked, observed vs reference: campaign sends from the messages sent
        (accounts with R3 on), then windowed sends from their skew events' facts."""
        rules = self.harness.server.rules

        def checked(account: str) -> bool:
            return rules.settings_of(account).enabled("skew")

        def verdict(account: str, campaign: str, total: int) -> str:
            taken = [action for action in ("alert", "suspend", "reprice")
                     if self.store.count_rule_events("skew", action, account, None, campaign)]
            if taken:
                return ", ".join(taken)
            return "below sample" if total < rules.settings_of(account).skew.min_sample else "ok"

        rows = [row for row in self.store.campaign_split() if checked(row[0])]
        splits = list(campaign_splits(rows, lambda account: rules.settings_of(account).skew.reference, verdict))
        events = self.store.first_rule_events("skew", ("alert", "suspend", "reprice"), 3 * SKEW_SENDS)
        actions = {(e.account, e.at, e.action) for e in events}
        for event in events:
            if len(splits) >= SKEW_SENDS:
                break
            if event.action == "alert":          # the alert carries the split; its action follows it
                taken = ", ".join(["alert"] + [action for action in ("suspend", "reprice")
                                               if (event.account, event.at, action) in actions])
                split = window_split(event.account, taken, event.at - self.start, event.facts)
                if split is not None:
                    splits.append(split)
        return tuple(splits[:SKEW_SENDS])

    def stop(self) -> None:
        for client in self.clients.values():
            if client.bound and client.conn is not None:
                try:
                    _settle(self.virtual, client.conn.unbind(), "a client's unbind", grace=60.0)
                except Exception:  # noqa: BLE001 - a client that cannot unbind is closed below
                    client.conn.close()
        _settle(self.virtual, defer.ensureDeferred(self.harness.stop()), "harness.stop()",
                grace=STOP_GRACE)
        for call in self.virtual.getDelayedCalls():   # leftover client timers: nothing more will run
            if call.active():
                call.cancel()


def _number(value: float) -> str:
    """An expectation's number as the file would write it: 5, 0.35 (amounts to AMOUNT_DIGITS)."""
    value = round(value, AMOUNT_DIGITS)
    return str(int(value)) if value == int(value) else f"{value:.{AMOUNT_DIGITS}f}".rstrip("0")


# A failing expectation's filter that decides what it counts, per subject: the rows that match
# every other filter and differ on this one are those it missed (ExpectationRecords "not counted").
_DECIDING: dict[Subject, str] = {
    Subject.MESSAGES: "state", Subject.RECEIPTS: "stat", Subject.EVENTS: "state", Subject.DELIVERIES: "acknowledged",
    Subject.RULES: "action", Subject.REFUSALS: "status",
}
_TOO_FEW = (Comparison.GE, Comparison.GT, Comparison.EQ)


def _record_filters(step: Expect) -> dict[str, object]:
    """An expectation's filters as ``Store.records`` takes them (the values its count_* query
    compares with), by filter name; the deliveries' count has its condition as one."""
    f = step.filters
    values: dict[str, object] = {
        "state": None if f.state is None else f.state.value, "stat": None if f.stat is None else f.stat.value,
        "account": f.account, "operator": f.operator, "text": None if f.text is None else encode_text(f.text),
        "rule": f.rule, "action": f.action, "number": f.number, "campaign": f.campaign, "status": f.status,
    }
    if step.subject is Subject.DELIVERIES:
        values["acknowledged"] = 1
    return {name: value for name, value in values.items() if value is not None}


def run_scenario(scenario: Scenario, db_path: Path, seed: int | None = None,
                 progress: Callable[[int], None] | None = None, links: str | None = None) -> ScenarioReport:
    """Play ``scenario`` in memory on a virtual clock, with the store at ``db_path`` (a new
    file); ``seed`` overrides the scenario's.  ``progress``, if given, is called with the
    number of submits answered so far every minute of simulated time (out of
    ``scenario.planned_messages()``).  Returns its report; the harness is stopped.

    ``links``: ``"objects"`` (the default) hands PDUs between our own SMPP ends as objects,
    ``"bytes"`` encodes, frames and decodes every one as over TCP (``smsc.memory``, rule 6);
    both give the same report.  None: the ``SMSC_HARNESS_LINKS`` environment variable, else
    objects."""
    if links is None:
        links = os.environ.get(LINKS_ENV) or "objects"
    if links not in LINKS:
        raise ValueError(f"links must be one of {', '.join(LINKS)}, got {links!r}")
    run = _Run(scenario, Path(db_path), scenario.seed if seed is None else seed, progress, links)
    try:
        for index, step in enumerate(scenario.timeline):
            run.play(index, step)
        report = run.report()
    finally:
        try:
            run.stop()
        except ScenarioRunError:
            pass
    return report


@implementer(IReactorTime)
class _TrackedCalls:
    """The reactor's ``seconds``/``callLater`` for the live run's own timers (campaign pacing,
    throttle retries), remembered so the stop can cancel what is still pending."""

    def __init__(self, reactor: IReactorTime) -> None:
        self.reactor = reactor
        self.calls: list[IDelayedCall] = []

    def seconds(self) -> float:
        return self.reactor.seconds()

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> IDelayedCall:
        self.calls = [c for c in self.calls if c.active()]
        call = self.reactor.callLater(delay, callable, *args, **kw)
        self.calls.append(call)
        return call

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return list(self.calls)

    def cancel_all(self) -> None:
        for call in self.calls:
            if call.active():
                call.cancel()
        self.calls = []


class _LiveRun(_Run):
    """The same steps over real TCP on 127.0.0.1, with the reactor as the clock: ``advance``
    waits real time.  Only ``bind``, ``advance`` and the start and stop differ from ``_Run``."""

    def __init__(self, scenario: Scenario, db_path: Path, seed: int, reactor: IReactorTime) -> None:
        self.scenario = scenario
        self.seed = seed
        self.progress = None
        self.reactor = reactor
        self.calls = _TrackedCalls(reactor)
        self.clock = self.calls
        self.start = reactor.seconds()
        self.store = Store(db_path, schedule=reactor.callLater)
        self.clients = {}
        self._populations = {}
        self.events = []
        self.expectations = []
        self.changes = []

    async def begin(self) -> None:
        config = replace(self.scenario.network, seed=self.seed)
        reactor = self.reactor
        tcp = IReactorTCP(reactor)
        self.harness = await start_harness(config, reactor, self.store, tcp_listen(tcp), tcp_dial(tcp), port=0,
                                           tls_port=0, listen_tls=tls_listen(tcp), dial_tls=tls_dial(tcp))
        try:
            await self.harness.connectors_bound().addTimeout(LIVE_TIMEOUT, reactor)
        except defer.TimeoutError:
            raise ScenarioRunError("the operator binds did not come up") from None
        self.start = reactor.seconds()

    async def play_live(self, index: int, step: Step) -> None:
        if isinstance(step, Bind):
            await self.bind_live(index, step)
        elif isinstance(step, Advance):
            await deferLater(self.reactor, step.seconds, lambda: None)
            self.note(index, "advance", f"advanced {step.seconds:g}s")
        else:
            self.play(index, step)

    async def bind_live(self, index: int, step: Bind) -> None:
        if step.name in self.clients and self.clients[step.name].bound:
            self.note(index, "bind", f"{step.name} already bound")
            return
        reactor = self.reactor
        client = Client(step.account, self.calls, sends=step.mode is not BindMode.RECEIVER)
        conn = SmppConnection(Session(Role.ESME, SessionConfig(), reactor.seconds()), reactor, client)
        try:
            await connectProtocol(tcp_dial(IReactorTCP(reactor))("127.0.0.1", self.harness.port),
                                  conn).addTimeout(LIVE_TIMEOUT, reactor)
        except (defer.TimeoutError, OSError) as error:
            raise ScenarioRunError(f"{step.source}: the client connection failed: {error}") from None
        account = next(a for a in self.scenario.network.accounts if a.system_id == step.account)
        try:
            resp = await conn.request(BIND_COMMANDS[step.mode.value], system_id=account.system_id,
                                      password=account.password.plain or "", interface_version=0x34,
                                      ).addTimeout(LIVE_TIMEOUT, reactor)
        except defer.TimeoutError:
            conn.close()
            raise ScenarioRunError(f"{step.source}: no answer to the bind of {step.account}") from None
        if resp.command_status != CommandStatus.ESME_ROK:
            conn.close()
            raise ScenarioRunError(f"{step.source}: bind of {step.account} refused (status {resp.command_status})")
        client.bound = True
        self.clients[step.name] = client
        self.note(index, "bind", _bound(step))

    async def stop_live(self) -> None:
        reactor = self.reactor
        self.calls.cancel_all()
        for client in self.clients.values():
            client.queue.clear()
            if client.bound and client.conn is not None:
                try:
                    await client.conn.unbind().addTimeout(LIVE_TIMEOUT, reactor)
                except Exception:  # noqa: BLE001 - a client that cannot unbind is closed
                    pass
                client.conn.close()
        harness = getattr(self, "harness", None)
        if harness is not None:
            await defer.ensureDeferred(harness.stop()).addTimeout(LIVE_TIMEOUT, reactor)
        else:
            self.store.close()


async def run_scenario_live(scenario: Scenario, db_path: Path, reactor: IReactorTime,
                            seed: int | None = None) -> ScenarioReport:
    """Play ``scenario`` over real TCP on 127.0.0.1 in real time (``advance`` waits), with the
    store at ``db_path`` (a new file).  Meant for short scenarios: it gives the same verdicts
    as :func:`run_scenario`, not the same report (timings follow the wall clock)."""
    run = _LiveRun(scenario, Path(db_path), scenario.seed if seed is None else seed, reactor)
    try:
        await run.begin()
        for index, step in enumerate(scenario.timeline):
            await run.play_live(index, step)
        report = run.report()
    finally:
        try:
            await run.stop_live()
        except Exception:  # noqa: BLE001 - the report (or the error above) matters more
            pass
    return report
