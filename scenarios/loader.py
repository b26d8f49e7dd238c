"""Scenario files: YAML text -> a checked :class:`scenarios.model.Scenario`.

This is what ``smsc-harness check SCENARIO.yaml`` calls, and what the runner calls before
it plays anything.  Rules of this module:

1. It is the authority on the format (``scenarios/schema.json`` only helps editors).
2. It never imports ``yaml``: the file is composed by :func:`aggregator.config.compose` and
   read with :class:`aggregator.config.NodeReader`, so every problem is one line
   ``file:line:col: field.path: expected ..., got ...`` (unknown keys get a did-you-mean)
   and all problems of a file are reported at once, in a :class:`ConfigError`.
3. An inline ``network:`` mapping is read by the network config's own reader, on the
   scenario's node tree: its problems name the scenario file, with paths under
   ``network.``.  ``network: default`` is :func:`aggregator.config.load_config`; any other
   string is a network config file, relative to the scenario file.
4. ``include: FILE`` (a YAML list of steps, relative to the including file) is expanded in
   place, recursively; problems inside it name the included file, with the path of the
   include step (``timeline[3].include[0].submit.to``).  A cycle is an error naming the chain.
5. References are checked: accounts (network or ``accounts:``), populations
   (``subscribers:``) and operator ids must exist.
6. Files are input, and ``check`` refuses what ``run`` cannot do.  Every file read (the
   scenario, its includes, a network file) is a regular file of at most
   ``limits.MAX_FILE_BYTES``, and an include or network file must lie in the scenario's
   directory tree: the directory of the top scenario file, for includes of includes too
   (after ``..`` and symlinks are resolved), unless ``allow_outside`` (``--allow-outside``).
   A scenario that ``run`` could not finish is refused with the bound it passes: simulated
   time (``MAX_TIMELINE``), messages (``MAX_MESSAGES``), population sizes
   (``MAX_POPULATION``), rates, steps after expansion (``MAX_STEPS``), include depth
   (``MAX_INCLUDE_DEPTH``), YAML nesting, scalar length and alias expansion
   (:mod:`aggregator.limits`, charged across the scenario and all its includes).

The format, with a full example::

    name: smoke test of the default network
    seed: 7                                  # optional, default: the network's seed (1)
    clock: {start: "2026-12-01T09:00:00", timezone: Europe/Paris}
    network: default                         # or a file, or an inline network config mapping
    accounts:                                # added, or replacing the network's by system_id
      - {system_id: shop, password: shop, short_codes: ["38000"], traffic: marketing, credit: 500}
    subscribers:
      - {name: french_mobiles, prefix: "+336", count: 1000}
      - {name: vip, numbers: ["+33612345678", "+33699990001"]}
    timeline:
      - bind: {account: demo, mode: transceiver}
      - submit: {account: demo, to: "+33612345678", text: "Bonjour", from: "36180", receipt: true}
      - campaign: {account: demo, to: french_mobiles, count: 1000, rate: 50, text: "Promo", from: "MyShop"}
      - mo: {from: "+33612345678", to: "36180", text: "STOP"}
      - advance: 2h
      - operator: {id: sfr, outage: silent}
      - operator: {id: sfr, recover: true}
      - operator: {id: sfr, throughput: {rate: 10, burst: 5}}
      - expect: {name: "all delivered", messages: {state: delivered, account: demo, ">=": 990}}
      - expect: {name: "one STOP reached demo", mos: {account: demo, text: STOP, "==": 1}}
      - expect: {name: "receipts", receipts: {account: demo, stat: DELIVRD, ">=": 990}}
      - include: fragments/common.yaml

``scenarios/FORMAT.md`` documents every key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aggregator.config import (
    ACCOUNT_OPTIONAL,
    ACCOUNT_REQUIRED,
    AccountConfig,
    NetworkConfig,
    NetworkReader,
    load_config,
    parse_config,
)
from aggregator.config.behaviour import E164_NUMBER, E164_NUMBER_WHAT
from aggregator.limits import MAX_BURST, MAX_FILE_BYTES, MAX_RATE, MAX_SECONDS
from aggregator.rules.settings import ACTION_NAMES, RULE_NAMES
from aggregator.server import CAMPAIGN_ID, CAMPAIGN_ID_MAX, MULTI_MAX_DESTS
from aggregator.store import MessageState
from aggregator.yamlreader import (
    TAG_FLOAT,
    TAG_INT,
    TAG_STR,
    TAG_TIMESTAMP,
    ConfigError,
    Fields,
    FileRefused,
    MappingNode,
    Node,
    NodeBudget,
    NodeReader,
    Problem,
    ScalarNode,
    Seen,
    SequenceNode,
    by_value,
    compose,
    decode_utf8,
    index_path,
    join_path,
    read_limited,
    read_text_file,
)
from scenarios.model import (
    SUBJECT_FILTERS,
    Advance,
    Bind,
    BindMode,
    Campaign,
    Comparison,
    Expect,
    Filter,
    Filters,
    LedgerSum,
    Mo,
    Multi,
    OperatorAction,
    OperatorChange,
    Population,
    Release,
    Scenario,
    ScenarioClock,
    Step,
    Subject,
    Submit,
)
from scenarios.reach import probe, router_of, routes
from smsc.operators.profile import OutageMode, Stat, Throughput
from smsc.operators.smsc import mo_text_problem
from smsc.pdu.status import CommandStatus

__all__ = [
    "ACCOUNT_KEYS",
    "CLOCK_KEYS",
    "DEFAULT_CLOCK",
    "POPULATION_KEYS",
    "STEP_KEYS",
    "TOP_KEYS",
    "VERBS",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

T = TypeVar("T")

# The format's keys are declared once, by the Fields tables of _ScenarioReader (key -> how
# its value is read; the dataclasses of scenarios.model give types and defaults); the key
# lists below are derived from them after the class (FORMAT.md and schema.json follow
# them; a test checks the schema).
VERBS = ("bind", "submit", "multi", "campaign", "mo", "advance", "operator", "release", "expect", "include")
ACCOUNT_KEYS = (*ACCOUNT_REQUIRED, *ACCOUNT_OPTIONAL)  # credit included: the network's own keys
DEFAULT_CLOCK = ScenarioClock(datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris")), "Europe/Paris")

_NAME = re.compile(r"[A-Za-z0-9_-]+")
# A drawn population's prefix: an E.164 prefix (behaviour.E164_PREFIX) short enough to leave
# at least one digit to draw in a number of at most 15 (E164_NUMBER).
_PREFIX = re.compile(r"\+[0-9]{1,14}")
_MSISDN_WHAT = f"{E164_NUMBER_WHAT}, in quotes"  # the network's test numbers: one meaning
_ADDRESS = re.compile(r"\+?[0-9]{1,20}")
_SENDER = re.compile(r"\+?[0-9]{1,15}|[A-Za-z0-9 .&'_-]{1,11}")
_DURATION = re.compile(
    r"(?:(?P<d>\d+(?:\.\d+)?)d)?(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?"
)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
DURATION_WHAT = 'a duration: a number of seconds > 0, or a string such as "30s", "5m", "2h", "1d" or "1h30m"'
_RATE_WHAT = f"a positive number of messages a second, at most {MAX_RATE:g}"
# A scenario client's name (`bind: {client: NAME}`): what the report and the problems show.
_CLIENT = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_CLIENT_WHAT = "a client name: 1 to 32 letters, digits, '_', '.' or '-', in quotes if it looks like a number"
_TEXT_WHAT = "a message text of at most 254 characters (one submit_sm's short_message)"

# -- what `run` can do (see rule 6 above; docs/reliability.md lists them with their reasons) --
# Simulated time of the whole timeline, the sum of its advances: a leap year.  A month of a
# million messages (scenarios/million_month.yaml, 31 days) passes; 10,000 days would replay 28
# million keepalives per SMPP link and not end in a working day.
MAX_TIMELINE = MAX_SECONDS
# Messages the timeline sends (submits plus campaign counts).  The replay runs about 2,500
# messages a wall second: ten million is about an hour and a few GB of store; a few million
# over a month still pass.
MAX_MESSAGES = 10_000_000
# Numbers in one population.  Drawing them holds them all in memory (a million is about
# 100 MB, with the campaign's queue); million_month uses 24,000.
MAX_POPULATION = 1_000_000
# Steps once every include is expanded.  The month has about 130; a file included in a loop
# of files could otherwise multiply steps beyond memory.
MAX_STEPS = 100_000
# Includes within includes.  The month uses one level.
MAX_INCLUDE_DEPTH = 8
# Distinct bytes read for one scenario (the file, its includes, its network file): four
# files of the largest size; the month reads 5.5 KB.  Each file is read and composed once.
MAX_SCENARIO_BYTES = 4 * MAX_FILE_BYTES
# A scenario clock starting outside these years would put timestamps out of datetime's range
# once the timeline runs (year 9999 + a year of timeline), or before the POSIX epoch.
START_YEARS = (1970, 9998)

_MODES = by_value(BindMode)
_OUTAGES = by_value(OutageMode)
_SUBJECTS = by_value(Subject)
_COMPARISONS = by_value(Comparison)
_STATES = by_value(MessageState)
_STATS = by_value(Stat)
_LEDGER_SUMS = by_value(LedgerSum)
_RULES = MappingProxyType({name: name for name in RULE_NAMES})
_ACTIONS = MappingProxyType({name: name for name in ACTION_NAMES})
_STATUS_NAMES = MappingProxyType({status.name: int(status) for status in CommandStatus if status})
_STATUS_WHAT = "a command_status name, e.g. ESME_RINVDSTADR or RULE_OPTED_OUT (README, Operator rules)"
# The campaign id vendor TLV's value (aggregator/server.py): printable ASCII, no space.
_CAMPAIGN_ID_WHAT = f"a campaign id: 1 to {CAMPAIGN_ID_MAX} printable ASCII characters, no space"


def parse_duration(text: str) -> float | None:
    """``"1h30m"`` -> 5400.0; None when ``text`` is not a duration > 0 (d, h, m, s, in that order)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        return None
    seconds = sum(float(amount) * _UNIT_SECONDS[unit]
                  for unit, amount in match.groupdict().items() if amount is not None)
    return seconds if seconds > 0 else None


def _where(source: str, node: Node) -> str:
    mark = node.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


@dataclass(frozen=True, slots=True)
class _File:
    """One file being read: its reader, where its includes are relative to, and the include
    chain that led to it (resolved paths, for cycles; display names, for the message)."""

    reader: NodeReader
    base: Path
    chain: tuple[tuple[Path, str], ...]


@dataclass(slots=True)
class _Names:
    """What steps may refer to; None = unknown because its section had a problem (no check)."""

    accounts: dict[str, str] | None = None
    populations: dict[str, Population] | None = None
    operators: dict[str, str] | None = None


class _ScenarioReader:
    """Walks a scenario document and the files it includes, collecting problems.

    It also keeps the tallies of rule 6 (steps, simulated time, messages, bytes and YAML
    nodes read), in timeline order, so the step that passes a bound is the one named."""

    def __init__(self, source: str, *, allow_outside: bool = False, budget: NodeBudget | None = None,
                 bytes_read: int = 0) -> None:
        self.source = source
        self.readers: list[NodeReader] = []
        self.extra: list[Problem] = []  # problems from other readers (network, included files)
        self.names = _Names()
        # The scenario's directory tree: where the top file is, symlinks resolved.
        self.root = _resolved(os.path.dirname(source) or os.curdir)
        self.allow_outside = allow_outside
        self.budget = NodeBudget() if budget is None else budget
        self.bytes_read = bytes_read
        self.composed: dict[Path, tuple[Node | None, int]] = {}  # included file -> (root, nodes expanded)
        self.refused: set[Path] = set()  # included files whose problems are already reported
        self.steps_read = 0
        self.elapsed = 0.0
        self.messages = 0
        self.stopped = False  # a bound of rule 6 was passed: read no further steps
        self.hashed: set[str] = set()  # accounts with a password_hash: a scenario cannot bind them
        self.prefixes: dict[str, tuple[_File, Node, str]] = {}  # drawn population -> its prefix (file, node, path)
        # The clients bound so far, in timeline order: name -> its bind (sending steps name one)
        self.clients: dict[str, Bind] = {}

    def problems(self) -> list[Problem]:
        return [*self.extra, *(problem for reader in self.readers for problem in reader.problems)]

    def new_file(self, source: str, chain: tuple[tuple[Path, str], ...]) -> _File:
        reader = NodeReader(source)
        self.readers.append(reader)
        return _File(reader, Path(source).parent, chain)

    # -- document ----------------------------------------------------------

    def top_fields(self, file: _File) -> Fields[Scenario]:
        reader = file.reader
        return Fields(Scenario, {
            "name": partial(reader.string, min_length=1),
            "timeline": None,  # read last: its steps refer to everything else
            "seed": partial(reader.integer, minimum=0),  # absent: the network's seed
            "clock": partial(self.clock, file),  # absent: DEFAULT_CLOCK
            "network": None,  # absent: the default network
            "accounts": None,  # merged into the network
            "subscribers": partial(self.populations, file),
        }, rename={"subscribers": "populations"}, required=("name", "timeline"))

    def document(self, root: Node | None) -> Scenario | None:
        file = self.new_file(self.source, ((_resolved(self.source), self.source),))
        reader = file.reader
        read = reader.read_fields(root, "", self.top_fields(file))
        if read is None:
            return None
        top, values = read
        network = self.network(file, top["network"]) if "network" in top else self.default_network()
        accounts = reader.optional(top, "accounts", "", partial(self.accounts, file, network), ())
        if network is not None and accounts is not None:
            network = self.merge(file, network, accounts, top.get("accounts"))
        if network is not None and accounts is not None:
            self.names.accounts = {account.system_id: account.system_id for account in network.accounts}
            self.hashed = {account.system_id for account in network.accounts if account.password.plain is None}
        if network is not None:
            self.names.operators = {op.id: op.id for op in network.operators}
        populations = values.get("populations", ())
        if populations is not None:
            self.names.populations = {population.name: population for population in populations}
        timeline = reader.required(top, "timeline", "", partial(self.steps, file))
        if network is None or accounts is None or timeline is None or values.get("seed", 0) is None:
            return None
        seed = values.get("seed", network.seed)
        if populations:
            self.probe_populations(network, populations, seed)
        return reader.build(
            self.top_fields(file),
            {"clock": DEFAULT_CLOCK, **values},
            seed=seed,
            network=replace(network, seed=seed),
            timeline=tuple(timeline),
            accounts=tuple(accounts),
            source=self.source,
        )

    def clock_fields(self, file: _File) -> Fields[ScenarioClock]:
        return Fields(ScenarioClock, {
            "start": None,  # a local time in timezone
            "timezone": partial(self.timezone, file),
        }, required=("start",))

    def clock(self, file: _File, node: Node, path: str) -> ScenarioClock | None:
        reader = file.reader
        spec = self.clock_fields(file)
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        tz_name = values.get("timezone", spec.default("timezone"))
        start_node = fields.get("start")
        if tz_name is None or start_node is None:
            return None
        what = 'a local date and time such as "2026-12-01T09:00:00"'
        start_path = join_path(path, "start")
        if not isinstance(start_node, ScalarNode) or start_node.tag not in (TAG_STR, TAG_TIMESTAMP):
            reader.expected(start_node, start_path, what)
            return None
        try:
            start = datetime.fromisoformat(start_node.value)
        except ValueError:
            reader.expected(start_node, start_path, what)
            return None
        low, high = START_YEARS
        if not low <= start.year <= high:
            reader.expected(start_node, start_path, f"{what}, in the years {low} to {high}")
            return None
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(tz_name))
        return ScenarioClock(start, tz_name)

    def timezone(self, file: _File, node: Node, path: str) -> str | None:
        what = "an IANA time zone name such as Europe/Paris"
        name = file.reader.string(node, path, min_length=1, what=what)
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            file.reader.expected(node, path, what)
            return None
        return name

    # -- network and accounts ----------------------------------------------

    def default_network(self) -> NetworkConfig | None:
        try:
            return load_config()
        except ConfigError as exc:  # the shipped file is broken: say so, with its own positions
            self.extra.extend(exc.problems)
            return None

    def network(self, file: _File, node: Node) -> NetworkConfig | None:
        reader = file.reader
        if isinstance(node, ScalarNode) and node.tag == TAG_STR:
            if node.value == "default":
                return self.default_network()
            path = file.base / node.value
            if not os.path.lexists(path):
                reader.expected(node, "network", "default, a network config file or an inline mapping",
                                " (no such file)")
                return None
            text = self.read_file(file, node, "network", path, str(path), "network config")
            if text is None:
                return None
            try:
                return parse_config(text, str(path))
            except ConfigError as exc:
                self.extra.extend(exc.problems)
                return None
        if not isinstance(node, MappingNode):
            reader.expected(node, "network", "default, a network config file or an inline network config mapping")
            return None
        network_reader = NetworkReader(file.reader.source)
        config = network_reader.document(node)
        self.extra.extend(_under("network", network_reader.reader.problems))
        return None if network_reader.reader.problems else config

    def accounts(
        self, file: _File, network: NetworkConfig | None, node: Node, path: str
    ) -> tuple[AccountConfig, ...] | None:
        """Read by the network's own account reader (``credit`` included), in this file."""
        nodes = file.reader.sequence(node, path)
        if nodes is None:
            return None
        network_reader = NetworkReader(file.reader.source)  # its own, so short codes are unique among these
        seen: dict[str, Seen] = {}
        read = [network_reader.account(item, index_path(path, i), seen) for i, item in enumerate(nodes)]
        self.extra.extend(network_reader.reader.problems)
        if network_reader.reader.problems or any(account is None for account in read):
            return None
        return tuple(account for account in read if account is not None)

    def merge(
        self, file: _File, network: NetworkConfig, extra: tuple[AccountConfig, ...], node: Node | None
    ) -> NetworkConfig | None:
        """The network's accounts, each replaced by the scenario's one of the same system_id,
        then the scenario's new ones; a short code may still belong to one account only."""
        ours = {account.system_id: account for account in extra}
        kept = [account for account in network.accounts if account.system_id not in ours]
        owners = {code: account.system_id for account in kept for code in account.short_codes}
        items = list(node.value) if node is not None and isinstance(node.value, list) else []
        ok = True
        for i, account in enumerate(extra):
            for code in account.short_codes:
                if code in owners:
                    where = items[i] if i < len(items) else node
                    file.reader.problem(
                                where,
                                join_path(index_path("accounts", i), "short_codes"),
                                f'short code "{code}" already belongs to network account "{owners[code]}"',
                    )
                    ok = False
        if not ok:
            return None
        merged: list[AccountConfig] = [ours.pop(account.system_id, account) for account in network.accounts]
        merged.extend(account for account in extra if account.system_id in ours)
        return replace(network, accounts=tuple(merged))

    # -- populations -------------------------------------------------------

    def populations(self, file: _File, node: Node, path: str) -> tuple[Population, ...] | None:
        nodes = file.reader.sequence(node, path)
        if nodes is None:
            return None
        seen: set[str] = set()
        read = [self.population(file, seen, item, index_path(path, i)) for i, item in enumerate(nodes)]
        if any(population is None for population in read):
            return None
        return tuple(population for population in read if population is not None)

    def probe_populations(self, network: NetworkConfig, populations: Iterable[Population], seed: int) -> None:
        """A drawn population whose prefix the network does not route is a problem at its
        ``prefix`` (scenarios/reach.py: one route for a prefix of mobile numbers)."""
        try:
            routable = routes(router_of(network))
        except ValueError:  # pragma: no cover - the network's reader refuses such a routing section
            return
        for population in populations:
            where = self.prefixes.get(population.name)
            if population.numbers or where is None:
                continue
            why = probe(population, seed, routable)
            if why is not None:
                file, node, path = where
                file.reader.expected(node, path, "a prefix of numbers the network routes", f" ({why})")

    def population_fields(self, file: _File, seen: set[str]) -> Fields[Population]:
        return Fields(Population, {
            "name": partial(self.population_name, file, seen=seen),
            "prefix": None,  # prefix and count (and length) draw the numbers...
            "count": None,
            "length": None,
            "numbers": None,  # ... or numbers lists them
        }, required=("name",))

    def population_name(self, file: _File, node: Node, path: str, seen: set[str]) -> str | None:
        what = "a population name made of letters, digits, '_' and '-'"
        name = file.reader.string(node, path, pattern=_NAME, what=what)
        if name is None:
            return None
        if name in seen:
            file.reader.problem(node, path, f'duplicate population name "{name}"')
            return None
        seen.add(name)
        return name

    def population(self, file: _File, seen: set[str], node: Node, path: str) -> Population | None:
        reader = file.reader
        spec = self.population_fields(file, seen)
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        name = values["name"]
        if "numbers" in fields:
            extra = [key for key in ("prefix", "count", "length") if key in fields]
            if extra:
                reader.problem(fields[extra[0]], join_path(path, extra[0]),
                               "give either numbers or prefix and count, not both")
                return None
            numbers = reader.required(fields, "numbers", path, partial(self.number_list, file))
            return reader.build(spec, values, numbers=numbers, source=_where(reader.source, node))
        missing = [key for key in ("prefix", "count") if key not in fields]
        if missing:
            reader.problem(node, join_path(path, missing[0]),
                           "missing required key (give numbers, or prefix and count)")
            return None
        prefix_what = "an E.164 prefix: '+' followed by 1 to 14 digits, in quotes"
        prefix = reader.required(fields, "prefix", path, partial(reader.string, pattern=_PREFIX, what=prefix_what))
        count = reader.required(fields, "count", path, partial(reader.integer, minimum=1, maximum=MAX_POPULATION))
        length = reader.optional(fields, "length", path, partial(reader.integer, minimum=2, maximum=15),
                                 spec.default("length"))
        if name is None or prefix is None or count is None or length is None:
            return None
        free = length - (len(prefix) - 1)
        if free < 1:
            reader.expected(fields["prefix"], join_path(path, "prefix"),
                            f"a prefix shorter than length ({length} digits)")
            return None
        if count > 10**free:
            reader.expected(
                fields["count"], join_path(path, "count"), f"an integer from 1 to {10**free} (numbers under this prefix)"
            )
            return None
        self.prefixes[name] = (file, fields["prefix"], join_path(path, "prefix"))
        return reader.build(spec, values, prefix=prefix, count=count, length=length, source=_where(reader.source, node))

    def number_list(self, file: _File, node: Node, path: str) -> tuple[str, ...] | None:
        numbers = file.reader.items(node, path, partial(file.reader.string, pattern=E164_NUMBER, what=_MSISDN_WHAT))
        if numbers is None:
            return None
        if not numbers:
            file.reader.expected(node, path, "a list of at least one number")
            return None
        if len(set(numbers)) != len(numbers):
            file.reader.expected(node, path, "distinct numbers")
            return None
        return tuple(numbers)

    # -- timeline ----------------------------------------------------------

    def steps(self, file: _File, node: Node, path: str) -> list[Step] | None:
        nodes = file.reader.sequence(node, path)
        if nodes is None:
            return None
        out: list[Step] = []
        ok = True
        for i, item in enumerate(nodes):
            if self.stopped:
                return None
            read = self.step(file, item, index_path(path, i))
            if read is None:
                ok = False
            else:
                out.extend(read)
        return out if ok else None

    def step(self, file: _File, node: Node, path: str) -> list[Step] | None:
        reader = file.reader
        if not isinstance(node, MappingNode):
            reader.expected(node, path, "a step: a mapping with one of " + ", ".join(VERBS))
            return None
        before = len(reader.problems)
        fields = reader.mapping(node, path, optional=VERBS)
        if fields is None:
            return None
        if len(fields) != 1:
            if len(fields) > 1:
                reader.problem(node, path, f"expected exactly one verb, got {len(fields)}: {', '.join(fields)}")
            elif len(reader.problems) == before:
                reader.expected(node, path, "a step: a mapping with one of " + ", ".join(VERBS))
            return None
        ((verb, value),) = fields.items()
        if len(reader.problems) != before:
            return None
        vpath = join_path(path, verb)
        source = _where(reader.source, node)
        if verb == "include":
            return self.include(file, value, vpath)
        self.steps_read += 1
        if self.steps_read > MAX_STEPS:
            reader.problem(node, path, f"expected at most {MAX_STEPS} steps once includes are expanded, got more")
            self.stopped = True
            return None
        if verb == "advance":
            seconds = self.duration(file, value, vpath)
            if seconds is None:
                return None
            self.elapsed += seconds
            if self.elapsed > MAX_TIMELINE:
                reader.expected(value, vpath, f"a duration that keeps the timeline within {MAX_TIMELINE / 86400:g} days"
                                              f" of simulated time (it would reach {self.elapsed / 86400:g} days)")
                self.stopped = True
                return None
            return [Advance(seconds, source)]
        spec = self.step_fields(file)[verb]
        read = reader.read_fields(value, vpath, spec)
        if read is None:
            return None
        read_step: _StepReader = getattr(self, "step_" + verb)
        step = read_step(file, spec, *read, value, vpath, source)
        return None if step is None else [step]

    def step_fields(self, file: _File) -> Mapping[str, Fields[Any]]:
        """The keys of each verb that takes a mapping (advance takes a duration, include a file)."""
        reader = file.reader
        account = partial(self.account_ref, file)
        text = partial(reader.string, max_length=254, what=_TEXT_WHAT)
        sender = partial(self.sender, file)
        destination = partial(reader.string, pattern=_ADDRESS,
                              what="a destination number (digits, optionally after '+'), in quotes")
        campaign_id = partial(reader.string, pattern=CAMPAIGN_ID, what=_CAMPAIGN_ID_WHAT)
        client = partial(reader.string, pattern=_CLIENT, what=_CLIENT_WHAT)
        return {
            "bind": Fields(Bind, {"account": account, "mode": partial(reader.choice, choices=_MODES),
                                  "client": client}),
            "submit": Fields(Submit, {
                "account": account,
                "client": client,  # absent: the account's first client that can send
                "to": destination,
                "text": text,
                "from": sender,  # the source_addr; absent: the aggregator's default
                "receipt": reader.boolean,
            }, rename={"from": "sender"}),
            "multi": Fields(Multi, {
                "account": account,
                "client": client,
                "to": partial(self.destinations, file),  # 1 to 254 numbers: one submit_multi
                "text": text,
                "from": sender,
                "receipt": reader.boolean,
                "id": campaign_id,
            }, rename={"from": "sender"}),
            "campaign": Fields(Campaign, {
                "account": account,
                "client": client,
                "to": None,  # a population; count is at most its size
                "text": text,
                "count": None,  # absent: the whole population
                "rate": partial(self.rate, file),  # absent: all at once
                "from": sender,
                "receipt": reader.boolean,
                "id": campaign_id,
            }, rename={"from": "sender"}, required=("account", "to", "text")),
            "mo": Fields(Mo, {
                "from": partial(reader.string, pattern=E164_NUMBER, what=_MSISDN_WHAT),
                "to": partial(reader.string, pattern=_ADDRESS, what="a short code (digits), in quotes"),
                "text": reader.string,  # and an MO text an SMS can carry
            }, rename={"from": "sender"}),
            "release": Fields(Release, {
                "account": account,
                "campaign": partial(reader.string, pattern=CAMPAIGN_ID, what=_CAMPAIGN_ID_WHAT),  # absent: no id
            }),
            "operator": Fields(OperatorChange, {
                "id": partial(self.operator_ref, file),
                "outage": None,  # exactly one of outage, recover, throughput
                "recover": None,
                "throughput": None,
            }, rename={"id": "operator"}),
            "expect": Fields(Expect, {
                "name": partial(reader.string, min_length=1),
                **{subject.value: None for subject in Subject},  # exactly one: what is counted
            }),
        }

    def step_bind(self, file: _File, spec: Fields[Bind], fields: Mapping[str, Node], values: dict[str, Any], node: Node,
                  path: str, source: str) -> Step | None:
        reader = file.reader
        account = values["account"]
        if account is not None and account in self.hashed:
            reader.problem(fields["account"], join_path(path, "account"),
                           f"account {account!r} has a password_hash: the scenario's client binds with the plain"
                           " password, so give that account a password in the scenario's accounts")
            return None
        bind = reader.build(spec, values, source=source)
        if bind is None:
            return None
        first = self.clients.get(bind.name)
        if first is not None:
            where = join_path(path, "client") if "client" in fields else path
            reader.problem(fields.get("client", node), where,
                           f"client {bind.name!r} is already bound (at {first.source}); a second client of an "
                           "account needs its own name: client: NAME")
            return None
        self.clients[bind.name] = bind
        return bind

    def sending_client(self, file: _File, fields: Mapping[str, Node], values: Mapping[str, Any], node: Node,
                       path: str) -> bool:
        """A submit, multi or campaign is sent by a client bound before it: the one it names
        (of its account, not a receiver), else the account's first client that can send. (A
        step of an account with no bind before it at all stops the replay, naming the step.)"""
        reader = file.reader
        account, name = values.get("account"), values.get("client")
        if account is None:
            return True                      # already a problem of its own
        if name is not None:
            bind = self.clients.get(name)
            cpath = join_path(path, "client")
            if bind is None:
                known = ", ".join(repr(n) for n, b in self.clients.items() if b.account == account) or "none"
                reader.problem(fields["client"], cpath, f"no bind step before this one names client {name!r}"
                                                        f" (clients of {account} so far: {known})")
                return False
            if bind.account != account:
                reader.problem(fields["client"], cpath, f"client {name!r} is bound by account {bind.account!r},"
                                                        f" not {account!r} (at {bind.source})")
                return False
            if bind.mode is BindMode.RECEIVER:
                reader.problem(fields["client"], cpath, f"client {name!r} is bound as a receiver (at {bind.source}):"
                                                        " it cannot send; name a transmitter or transceiver")
                return False
            return True
        receivers = [b for b in self.clients.values() if b.account == account]
        if receivers and all(b.mode is BindMode.RECEIVER for b in receivers):
            reader.problem(node, path, f"account {account!r} has no client that can send here: its binds so far are"
                                       f" receivers only (at {receivers[0].source}); bind it as transmitter or"
                                       " transceiver first")
            return False
        return True

    def step_submit(self, file: _File, spec: Fields[Submit], fields: Mapping[str, Node], values: dict[str, Any],
                    node: Node, path: str, source: str) -> Step | None:
        if not self.sending_client(file, fields, values, node, path):
            return None
        if not self.count_messages(file, node, path, 1):
            return None
        return file.reader.build(spec, values, source=source)

    def step_multi(self, file: _File, spec: Fields[Multi], fields: Mapping[str, Node], values: dict[str, Any],
                   node: Node, path: str, source: str) -> Step | None:
        if not self.sending_client(file, fields, values, node, path):
            return None
        to = values.get("to")
        if to is not None and not self.count_messages(file, node, path, len(to)):
            return None
        return file.reader.build(spec, values, source=source)

    def destinations(self, file: _File, node: Node, path: str) -> tuple[str, ...] | None:
        """A submit_multi's destinations: 1 to MULTI_MAX_DESTS numbers (SMPP 3.4 §4.5.1)."""
        reader = file.reader
        numbers = reader.items(node, path, partial(reader.string, pattern=_ADDRESS,
                                                   what="a destination number (digits, optionally after '+'),"
                                                        " in quotes"))
        if numbers is None:
            return None
        if not 1 <= len(numbers) <= MULTI_MAX_DESTS:
            reader.problem(node, path, f"expected a list of 1 to {MULTI_MAX_DESTS} destination numbers"
                                       f" (one submit_multi), got {len(numbers)}")
            return None
        return tuple(numbers)

    def count_messages(self, file: _File, node: Node, path: str, count: int) -> bool:
        """Adds ``count`` to the messages the timeline sends; False (a problem) past MAX_MESSAGES."""
        self.messages += count
        if self.messages <= MAX_MESSAGES:
            return True
        file.reader.problem(node, path, f"expected a timeline of at most {MAX_MESSAGES} messages in all,"
                                        f" got {self.messages} by this step")
        self.stopped = True
        return False

    def step_campaign(self, file: _File, spec: Fields[Campaign], fields: Mapping[str, Node], values: dict[str, Any],
                      node: Node, path: str, source: str) -> Step | None:
        reader = file.reader
        if not self.sending_client(file, fields, values, node, path):
            return None
        population = reader.required(fields, "to", path, partial(self.population_ref, file))
        count: int | None = None
        if population is not None:
            size = population.size
            count = reader.optional(fields, "count", path, partial(reader.integer, minimum=1, maximum=size), size)
        elif "count" in fields:
            reader.optional(fields, "count", path, partial(reader.integer, minimum=1), 0)
        if count is not None and not self.count_messages(file, node, path, count):
            return None
        if population is None:
            return None
        return reader.build(spec, values, population=population.name, count=count, source=source)

    def step_release(self, file: _File, spec: Fields[Release], fields: Mapping[str, Node], values: dict[str, Any],
                     node: Node, path: str, source: str) -> Step | None:
        return file.reader.build(spec, values, source=source)

    def step_mo(self, file: _File, spec: Fields[Mo], fields: Mapping[str, Node], values: dict[str, Any], node: Node,
                path: str, source: str) -> Step | None:
        reader = file.reader
        mo = reader.build(spec, values, source=source)
        if mo is None:
            return None
        problem = mo_text_problem(mo.text)              # what the operator could never send
        if problem is not None:
            reader.problem(fields["text"], join_path(path, "text"),
                           f"expected an MO text an SMS can carry, got {problem}")
            return None
        return mo

    def step_operator(self, file: _File, spec: Fields[OperatorChange], fields: Mapping[str, Node],
                      values: dict[str, Any], node: Node, path: str, source: str) -> Step | None:
        reader = file.reader
        given = [key for key in ("outage", "recover", "throughput") if key in fields]
        if len(given) != 1:
            where = fields[given[1]] if len(given) > 1 else node
            got = "none" if not given else ", ".join(given)
            reader.problem(where, path, f"expected exactly one of outage, recover, throughput, got {got}")
            return None
        action = OperatorAction(given[0])
        if action is OperatorAction.OUTAGE:
            outage = reader.required(fields, "outage", path, partial(reader.choice, choices=_OUTAGES))
            if outage is None:
                return None
            values["outage"] = outage
        elif action is OperatorAction.RECOVER:
            recover = reader.required(fields, "recover", path, reader.boolean)
            if recover is None:
                return None
            if not recover:
                reader.expected(fields["recover"], join_path(path, "recover"), "true (recover: true ends the outage)")
                return None
        else:
            throughput = reader.required(fields, "throughput", path, partial(self.throughput, file))
            if throughput is None:
                return None
            values["throughput"] = throughput
        return reader.build(spec, values, action=action, source=source)

    def step_expect(self, file: _File, spec: Fields[Expect], fields: Mapping[str, Node], values: dict[str, Any],
                    node: Node, path: str, source: str) -> Step | None:
        reader = file.reader
        chosen = _exactly_one(reader, fields, _SUBJECTS, node, path, "subject")
        if chosen is None:
            return None
        subject = _SUBJECTS[chosen]
        counted = reader.required(fields, subject.value, path, partial(self.counted, file, subject))
        if counted is None:
            return None
        filters, comparison, value, total = counted
        totals = {} if total is None else {"sum": total}
        return reader.build(spec, values, subject=subject, comparison=comparison, value=value, filters=filters,
                            source=source, **totals)

    def counted(
        self, file: _File, subject: Subject, node: Node, path: str
    ) -> tuple[Filters, Comparison, float, LedgerSum | None] | None:
        """``{account: demo, state: delivered, ">=": 990}``: the subject's filters and one
        comparison; a ``ledger`` may take ``sum: segments|amount`` (a total, not a count)."""
        reader = file.reader
        allowed = SUBJECT_FILTERS[subject]
        totals = ("sum",) if subject is Subject.LEDGER else ()
        fields = reader.mapping(node, path, optional=(*(key.value for key in allowed), *totals, *_COMPARISONS))
        if fields is None:
            return None
        readers: Mapping[Filter, Callable[[Node, str], object]] = {
            Filter.ACCOUNT: partial(self.account_ref, file),
            Filter.STATE: partial(reader.choice, choices=_STATES),
            Filter.STAT: partial(reader.choice, choices=_STATS),
            Filter.OPERATOR: partial(self.operator_ref, file),
            Filter.TEXT: reader.string,
            Filter.RULE: partial(reader.choice, choices=_RULES),
            Filter.ACTION: partial(reader.choice, choices=_ACTIONS),
            Filter.NUMBER: partial(reader.string, pattern=E164_NUMBER, what=_MSISDN_WHAT),
            Filter.CAMPAIGN: partial(reader.string, pattern=CAMPAIGN_ID, what=_CAMPAIGN_ID_WHAT),
            Filter.STATUS: partial(reader.choice, choices=_STATUS_NAMES, what=_STATUS_WHAT),
        }
        values = {key: reader.required(fields, key.value, path, readers[key]) for key in allowed if key.value in fields}
        total = reader.optional(fields, "sum", path, partial(reader.choice, choices=_LEDGER_SUMS), None)
        comparison = _exactly_one(reader, fields, _COMPARISONS, node, path, "comparison")
        if comparison is None:
            return None
        if total is LedgerSum.AMOUNT:
            expected: float | None = reader.required(fields, comparison, path, partial(reader.number, minimum=0))
        else:
            expected = reader.required(fields, comparison, path, partial(reader.integer, minimum=0))
        if expected is None or any(value is None for value in values.values()) or ("sum" in fields and total is None):
            return None
        kwargs = {key.value: value for key, value in values.items()}
        # Each value is what its filter's reader above returned: the reader table ties types to
        # keys at run time, which mypy cannot follow through a dict.
        return Filters(**kwargs), _COMPARISONS[comparison], expected, total  # type: ignore[arg-type]

    def include(self, file: _File, node: Node, path: str) -> list[Step] | None:
        reader = file.reader
        name = reader.string(node, path, min_length=1, what="a path to a YAML list of steps, relative to this file")
        if name is None:
            return None
        target = file.base / name
        display = os.path.normpath(os.path.join(os.path.dirname(file.reader.source), name))
        resolved = _resolved(str(target))
        if any(seen == resolved for seen, _ in file.chain):
            chain = " -> ".join([*(shown for _, shown in file.chain), display])
            reader.problem(node, path, f"include cycle: {chain}")
            return None
        if len(file.chain) > MAX_INCLUDE_DEPTH:
            reader.problem(node, path, f"expected includes nested at most {MAX_INCLUDE_DEPTH} deep, got deeper:"
                                       f" {' -> '.join([*(shown for _, shown in file.chain), display])}")
            self.stopped = True
            return None
        if resolved in self.refused:  # its problems are already reported, once
            return None
        if resolved not in self.composed:
            text = self.read_file(file, node, path, target, display, "included")
            if text is None:
                self.refused.add(resolved)
                return None
            own = self.budget.child()
            try:
                composed = compose(text, display, own, root_kind=SequenceNode, root_what="a list of steps")
            except ConfigError as exc:
                self.extra.extend(exc.problems)
                self.refused.add(resolved)
                self.stopped = self.stopped or own.exhausted
                return None
            self.composed[resolved] = (composed, own.used)
        root, size = self.composed[resolved]
        child = self.new_file(display, (*file.chain, (resolved, display)))
        if root is None:
            child.reader.problem(None, path, "expected a list of steps, got an empty document")
            child.reader.problems[-1] = replace(child.reader.problems[-1], line=1, column=1)
            return None
        if not self.budget.charge(size):
            reader.problem(node, path, f"expected at most {self.budget.described} YAML nodes in all, counting"
                                       " each alias and each included file in full, got more")
            self.stopped = True
            return None
        return self.steps(child, root, path)

    def read_file(self, file: _File, node: Node, path: str, target: Path, display: str, what: str) -> str | None:
        """The text of a file the scenario names (an include, a network file), or None with a
        problem at ``node``: outside the scenario's directory tree, not a regular file, too
        large, past the scenario's byte budget, or not UTF-8.  Never its content."""
        reader = file.reader
        resolved = _resolved(str(target))
        if not self.allow_outside and not resolved.is_relative_to(self.root):
            reader.problem(node, path, f"expected a file inside {self.root} (the scenario's directory;"
                                       f" --allow-outside lifts this), got {display}")
            return None
        try:
            data = read_limited(target)
        except FileRefused as exc:
            reader.problem(node, path, f"cannot read {what} file {display}: {exc}")
            return None
        self.bytes_read += len(data)
        if self.bytes_read > MAX_SCENARIO_BYTES:
            reader.problem(node, path, f"expected at most {MAX_SCENARIO_BYTES} bytes of YAML in all (the scenario,"
                                       " its includes and its network file), got more")
            self.stopped = True
            return None
        try:
            return decode_utf8(data, display)
        except ConfigError as exc:
            self.extra.extend(exc.problems)
            return None

    # -- small values ------------------------------------------------------

    def rate(self, file: _File, node: Node, path: str) -> float | None:
        """Messages a second: > 0 and at most MAX_RATE (1e308 would be "all at once" by
        accident, and 1e-308 a campaign spread past any timeline)."""
        return file.reader.number(node, path, above=0, maximum=MAX_RATE, what=_RATE_WHAT)

    def duration(self, file: _File, node: Node, path: str) -> float | None:
        if isinstance(node, ScalarNode) and node.tag in (TAG_INT, TAG_FLOAT):
            before = len(file.reader.problems)
            value = file.reader.number(node, path, above=0)
            if value is None:
                file.reader.problems[before:] = []
                file.reader.expected(node, path, DURATION_WHAT)
            return value
        if isinstance(node, ScalarNode) and node.tag == TAG_STR:
            seconds = parse_duration(node.value)
            if seconds is not None:
                return seconds
        file.reader.expected(node, path, DURATION_WHAT)
        return None

    def sender(self, file: _File, node: Node, path: str) -> str | None:
        what = "a sender: a short code or number (digits, in quotes) or 1 to 11 letters and digits"
        return file.reader.string(node, path, pattern=_SENDER, what=what)

    def throughput(self, file: _File, node: Node, path: str) -> Throughput | None:
        reader = file.reader
        fields = reader.mapping(node, path, required=("rate", "burst"))
        if fields is None:
            return None
        rate = reader.required(fields, "rate", path, partial(self.rate, file))
        burst = reader.required(fields, "burst", path, partial(reader.integer, minimum=1, maximum=MAX_BURST))
        if rate is None or burst is None:
            return None
        return Throughput(rate, burst)

    def account_ref(self, file: _File, node: Node, path: str) -> str | None:
        return self._ref(file, node, path, self.names.accounts, "an account of the network or of accounts")

    def operator_ref(self, file: _File, node: Node, path: str) -> str | None:
        return self._ref(file, node, path, self.names.operators, "an operator id of the network")

    def population_ref(self, file: _File, node: Node, path: str) -> Population | None:
        return self._ref(file, node, path, self.names.populations, "a population of subscribers")

    @staticmethod
    def _ref(file: _File, node: Node, path: str, known: Mapping[str, T] | None, what: str) -> T | None:
        if known is None:  # that section had problems of its own: only check the type
            file.reader.string(node, path, min_length=1)
            return None
        choices = ", ".join(known) if known else "none defined"
        return file.reader.choice(node, path, known, f"{what} ({choices})")


# Reads a step's mapping: (file, its Fields, key -> node, field -> value read, the step's
# node, path, "file:line:col") -> the step, or None with a problem.
_StepReader = Callable[[_File, Fields[Any], Mapping[str, Node], dict[str, Any], Node, str, str], "Step | None"]

def _resolved(source: str) -> Path:
    try:
        return Path(source).resolve()
    except OSError:  # pragma: no cover - resolve() only fails on odd file systems
        return Path(os.path.abspath(source))


def _under(prefix: str, problems: Iterable[Problem]) -> list[Problem]:
    """Problems of a nested document, with their paths put under ``prefix``."""
    out = []
    for problem in problems:
        path = prefix if problem.path in ("", "(top level)") else f"{prefix}.{problem.path}"
        out.append(replace(problem, path=path))
    return out


# The format's key lists, from the declarations (a reader of no file gives them).
_SPECIMEN = _ScenarioReader("scenario.yaml")
_SPECIMEN_FILE = _File(NodeReader("scenario.yaml"), Path(), ())
_TOP = _SPECIMEN.top_fields(_SPECIMEN_FILE)
TOP_REQUIRED = _TOP.required_keys()
TOP_OPTIONAL = _TOP.optional_keys()
TOP_KEYS = (*TOP_REQUIRED, *TOP_OPTIONAL)
CLOCK_KEYS = tuple(_SPECIMEN.clock_fields(_SPECIMEN_FILE).keys)
POPULATION_KEYS = tuple(_SPECIMEN.population_fields(_SPECIMEN_FILE, set()).keys)
STEP_KEYS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType({  # verb -> (required, optional)
    verb: (spec.required_keys(), spec.optional_keys()) for verb, spec in _SPECIMEN.step_fields(_SPECIMEN_FILE).items()
})



# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def parse_scenario(text: str, source: str, *, allow_outside: bool = False) -> Scenario:
    """Check and convert a scenario given as YAML text.

    ``source`` names the file in messages, and ``include`` paths and a network file are
    relative to its directory, and must stay inside it unless ``allow_outside``.  Raises
    :class:`ConfigError` with every problem found.
    """
    budget = NodeBudget()
    root = compose(text, source, budget, root_kind=MappingNode, root_what="a scenario: a YAML mapping")
    reader = _ScenarioReader(source, allow_outside=allow_outside, budget=budget,
                             bytes_read=len(text.encode("utf-8", "surrogatepass")))
    scenario = reader.document(root)
    problems = reader.problems()
    if problems:
        raise ConfigError(problems)
    if scenario is None:  # pragma: no cover - a None always comes with a problem
        raise ConfigError([Problem(source, None, None, "", "invalid scenario")])
    return scenario


def load_scenario(path: str | os.PathLike[str], *, allow_outside: bool = False) -> Scenario:
    """Load and check a scenario file (see :func:`parse_scenario`): a regular file of at most
    ``limits.MAX_FILE_BYTES``, whose includes and network file stay in its directory tree
    unless ``allow_outside``."""
    source, text = read_text_file(path, "scenario")
    return parse_scenario(text, source, allow_outside=allow_outside)


def _exactly_one(reader: NodeReader, fields: Mapping[str, Node], keys: Iterable[str], node: Node, path: str,
                 what: str) -> str | None:
    """The one key of `keys` present in `fields`; a problem (at the second one, or the mapping)
    when there are none or several."""
    names = list(keys)
    given = [key for key in names if key in fields]
    if len(given) == 1:
        return given[0]
    where = fields[given[1]] if len(given) > 1 else node
    got = "none" if not given else ", ".join(given)
    reader.problem(where, path, f"expected exactly one {what} among {', '.join(names)}, got {got}")
    return None
