"""Network configuration: a YAML file turned into typed, frozen dataclasses.

The configuration is checked once, here, at the edge of the program: everything
past :func:`load_config` can trust the values it is handed (types, ranges,
cross-references between operators, accounts and routing).  The product
requirement is that *a bad config file stops start-up with a message naming the
file, line and field*, so the file is not read with ``yaml.safe_load`` (which
throws the positions away) but composed into a node tree whose every node keeps
its ``start_mark``; values are then read out of the nodes by :class:`NodeReader`,
which records a :class:`Problem` with ``file:line:column`` and a dotted field
path (``operators[1].smsc.receipt_delay``) for everything that is wrong.

This is the only module that imports ``yaml``.  :func:`compose` and
:class:`NodeReader` are written generically so that other YAML formats (e.g.
test scenarios) can reuse them without importing ``yaml`` themselves.
"""

import difflib
import enum
import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from smsc.operators.profile import (
    TEMPORARY_ERRORS,
    Delay,
    Exponential,
    Faults,
    Fixed,
    LogNormal,
    NumberRule,
    Outage,
    OutageMode,
    Outcome,
    RangeRule,
    Reply,
    SlowResponses,
    SmscBehaviour,
    Stat,
    SubmitError,
    SubscriberState,
    Throughput,
    Uniform,
    UnknownSignal,
)
from smsc.pdu.status import CommandStatus

__all__ = [
    "AccountConfig",
    "ConfigError",
    "ControlConfig",
    "DeliveryConfig",
    "ListenConfig",
    "NetworkConfig",
    "NodeReader",
    "OperatorConfig",
    "Problem",
    "RoutingConfig",
    "TrafficClass",
    "compose",
    "load_config",
    "parse_config",
]

T = TypeVar("T")
D = TypeVar("D")
A = TypeVar("A", "ListenConfig", "ControlConfig")

DEFAULT_NETWORK_RESOURCE = "default_network.yaml"

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"

# SMPP 3.4 C-Octet strings: system_id is at most 16 octets and password at most
# 9, both including the terminating NUL.
_SYSTEM_ID_MAX = 15
_PASSWORD_MAX = 8
_OPERATOR_ID = re.compile(r"[a-z0-9_-]+")
_REGION = re.compile(r"[A-Z]{2}")
# E.164 numbers have at most 15 digits; a ported entry may be any prefix of one.
_E164_PREFIX = re.compile(r"\+[0-9]{1,15}")
_SMPP_TEXT = re.compile(r"[\x01-\x7f]*")


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file, with where it is.

    ``line`` and ``column`` are 1-based, as editors show them; they are None
    only when there is no position to give (e.g. the file cannot be read).
    ``path`` is the dotted field path (``operators[1].smsc.window``), empty
    when the problem is not about a field (a YAML syntax error).
    """

    source: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that must not be used.

    str(err) is one line per problem:
    '<file>:<line>:<column>: <field.path>: <what was expected>, got <what>'.
    The structured problems are in ``problems``, sorted by position so the
    first line is the first problem in the file.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        ordered = tuple(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
        if not ordered:
            raise ValueError("ConfigError needs at least one problem")
        super().__init__("\n".join(str(p) for p in ordered))
        self.problems: tuple[Problem, ...] = ordered

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------
# Config objects
# --------------------------------------------------------------------------


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    """Read-only copy keeping insertion order (a dict passed in stays the caller's)."""
    return MappingProxyType(dict(value))


def _empty_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """Where the aggregator's own SMPP server listens for client binds."""

    host: str = "127.0.0.1"
    port: int = 2775  # 0 = pick a free port


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """Where the HTTP control API listens (scenarios, MO injection, runtime faults)."""

    host: str = "127.0.0.1"
    port: int = 2776  # 0 = pick a free port


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How long the aggregator keeps trying a message (RULES R9) and how it backs off."""

    validity: float = 86400.0  # seconds a message stays deliverable unless the client asks less (R9)
    retry_initial: float = 5.0  # first wait before retrying a temporary failure
    retry_max: float = 600.0  # longest wait between two attempts
    retry_factor: float = 2.0  # each wait is the previous one times this (>= 1)


class TrafficClass(enum.Enum):
    """What an account sends: marketing is subject to send windows, STOP mentions and
    opt-outs (RULES R1, R4, R6); transactional (alerts, codes) is not."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """A client (ESME) allowed to bind to the aggregator."""

    system_id: str  # 1..15 chars (SMPP c-octet string max 16 with NUL)
    password: str  # 0..8 chars (SMPP max 9 with NUL)
    max_binds: int = 8
    short_codes: tuple[str, ...] = ()  # short codes / long numbers it owns (digits); MOs to them are its own
    traffic: TrafficClass = TrafficClass.TRANSACTIONAL
    rate: float | None = None  # submit_sm a second the account may send (R14); None = no cap
    burst: int = 10  # submits in a row above `rate` before ESME_RTHROTTLED
    max_pending: int = 100000  # accepted but not yet handed to an operator; ESME_RMSGQFUL beyond
    credit: int | None = None  # SMS segments the account may be billed in all (R10); None = no limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "short_codes", tuple(self.short_codes))


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    """A mobile network the aggregator delivers to, played by a simulated SMSC."""

    id: str  # short identifier, [a-z0-9_-]+, unique
    name: str  # display name, e.g. "Orange France"
    carriers: tuple[str, ...]  # phonenumbers carrier names (English) served natively
    host: str = "127.0.0.1"  # where its simulated SMSC listens
    port: int = 0  # 0 = free port
    system_id: str = "aggregator"  # credentials the aggregator binds with
    password: str = "secret"
    window: int = 10  # max outstanding requests on each of the aggregator's binds
    binds: int = 1  # binds the aggregator keeps open to this operator (connector pool)
    send_rate: float | None = None  # submit_sm a second the aggregator sends, whole pool; None = no cap
    temporary_errors: tuple[str, ...] = TEMPORARY_ERRORS  # receipt err codes the aggregator retries
    behaviour: SmscBehaviour = SmscBehaviour()  # what the simulated SMSC does (the `smsc:` block)

    def __post_init__(self) -> None:
        # A list passed by a caller would make the "frozen" object mutable.
        object.__setattr__(self, "carriers", tuple(self.carriers))
        object.__setattr__(self, "temporary_errors", tuple(self.temporary_errors))


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """How a destination number is mapped to an operator (see aggregator.routing).

    The mappings are read-only and keep the file's order.  They are left out
    of the hash (a mapping proxy is unhashable) but still compared by ``==``.
    """

    default_region: str = "FR"
    mvno_hosts: Mapping[str, str] = field(default_factory=_empty_mapping, hash=False)
    ported: Mapping[str, str] = field(default_factory=_empty_mapping, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mvno_hosts", _frozen_mapping(self.mvno_hosts))
        object.__setattr__(self, "ported", _frozen_mapping(self.ported))


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The whole simulated network: aggregator listener, operators, clients, routing."""

    listen: ListenConfig
    operators: tuple[OperatorConfig, ...]
    accounts: tuple[AccountConfig, ...]
    routing: RoutingConfig
    source: str  # file the config came from (for messages)
    seed: int = 1  # seeds every operator's random.Random (with the operator id): same seed, same run
    delivery: DeliveryConfig = DeliveryConfig()
    control: ControlConfig = ControlConfig()
    test_numbers: tuple[NumberRule, ...] = ()  # magic numbers, on whichever operator gets them

    def __post_init__(self) -> None:
        object.__setattr__(self, "operators", tuple(self.operators))
        object.__setattr__(self, "accounts", tuple(self.accounts))
        object.__setattr__(self, "test_numbers", tuple(self.test_numbers))


# --------------------------------------------------------------------------
# Generic YAML node reading (reusable for other YAML formats)
# --------------------------------------------------------------------------


def join_path(path: str, key: str) -> str:
    """``operators[0]`` + ``id`` -> ``operators[0].id``; the root path is empty."""
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def entry_path(path: str, key: str) -> str:
    """Path of a free-form mapping entry, quoted because keys may hold spaces."""
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _quote(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return json.dumps(text, ensure_ascii=False)


def describe(node: Node) -> str:
    """What the user wrote, for the 'got ...' half of a message."""
    if isinstance(node, MappingNode):
        return "a mapping" if node.value else "an empty mapping"
    if isinstance(node, SequenceNode):
        return "a list" if node.value else "an empty list"
    if not isinstance(node, ScalarNode):  # pragma: no cover - no other node kinds
        return "an unknown YAML node"
    if node.tag == _TAG_STR:
        return _quote(node.value)
    if node.tag == _TAG_NULL:
        return "nothing" if node.value == "" else f"null ({node.value})"
    if node.tag == _TAG_BOOL:
        return f"a boolean ({node.value})"
    return str(node.value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' did you mean 'xxx'?' when a choice is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _position(node: Node | None) -> tuple[int | None, int | None]:
    if node is None or node.start_mark is None:
        return None, None
    return node.start_mark.line + 1, node.start_mark.column + 1


def compose(text: str, source: str) -> Node | None:
    """Parse YAML text into a node tree (safe loader), keeping every position.

    A syntax error becomes a :class:`ConfigError` naming ``source:line:column``.
    Returns None for an empty document.
    """
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
            message += (
                f" ({exc.context} at line {exc.context_mark.line + 1},"
                f" column {exc.context_mark.column + 1})"
            )
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise ConfigError([Problem(source, line, column, "", message)]) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        message = f"YAML syntax error: {exc.reason} (character {exc.character!r})"
        raise ConfigError([Problem(source, line, column, "", message)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - defensive, no known case
        raise ConfigError([Problem(source, None, None, "", f"YAML error: {exc}")]) from None


class NodeReader:
    """Reads typed values out of a composed YAML node tree, collecting problems.

    Every ``read`` method takes the node and its dotted path, returns the value,
    or records a :class:`Problem` and returns None.  Callers keep going after a
    None so one run reports as many problems as practical, then call
    :meth:`raise_if_problems`.  A None never appears without a recorded
    problem, so once that call passes every value read is valid.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        # Only used to turn int/float scalars into numbers the YAML 1.1 way
        # (0x1F, 1_000, ...); no Python objects are ever constructed.
        self._scalars = SafeConstructor()

    # -- recording -----------------------------------------------------

    def problem(self, node: Node | None, path: str, message: str) -> None:
        line, column = _position(node)
        self.problems.append(Problem(self.source, line, column, path, message))

    def expected(self, node: Node, path: str, what: str, hint: str = "") -> None:
        self.problem(node, path, f"expected {what}, got {describe(node)}{hint}")

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    # -- containers ----------------------------------------------------

    def mapping(
        self,
        node: Node | None,
        path: str,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
        moved: Mapping[str, str] | None = None,
    ) -> dict[str, Node] | None:
        """A mapping whose keys must come from ``required`` + ``optional``.

        Unknown keys get a did-you-mean hint; missing required keys are
        reported at the mapping's own position.  ``moved`` maps keys of an
        older format to where they live now, for a precise message.  Returns
        key -> value node for the known keys.
        """
        allowed = [*required, *optional]
        if not isinstance(node, MappingNode):
            if node is None:  # only the root of an empty document
                self.problems.append(
                    Problem(self.source, 1, 1, path or "(top level)", "expected a mapping, got an empty document")
                )
            else:
                keys = ", ".join(allowed)
                self.expected(node, path or "(top level)", f"a mapping with keys {keys}")
            return None
        fields: dict[str, Node] = {}
        for key, key_node, value_node in self._keyed(node, path, entry=False):
            if moved is not None and key in moved:
                self.problem(key_node, join_path(path, key), f"this key has moved: write it as {moved[key]}")
                continue
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                if not hint:
                    hint = f"; expected one of: {', '.join(allowed)}"
                self.problem(key_node, join_path(path, key), f"unknown key{hint}")
                continue
            fields[key] = value_node
        for key in required:
            if key not in fields:
                self.problem(node, join_path(path, key), "missing required key")
        return fields

    def entries(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """A free-form mapping: (key text, key node, value node) in file order.

        The key text is the scalar exactly as written, so a key such as
        ``+33612345678`` (which YAML would resolve to an integer) is kept as
        the user typed it.
        """
        if not isinstance(node, MappingNode):
            self.expected(node, path, "a mapping")
            return None
        return list(self._keyed(node, path, entry=True))

    def _keyed(self, node: MappingNode, path: str, *, entry: bool) -> Iterable[tuple[str, Node, Node]]:
        """Scalar keys of a mapping, without duplicates (YAML itself allows them)."""
        seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.expected(key_node, path or "(top level)", "a plain key")
                continue
            key = key_node.value
            child = entry_path(path, key) if entry else join_path(path, key)
            if key in seen:
                first_line, _ = _position(seen[key])
                self.problem(key_node, child, f"duplicate key, first given at line {first_line}")
                continue
            seen[key] = key_node
            yield key, key_node, value_node

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, path, "a list")
            return None
        return list(node.value)

    def items(self, node: Node, path: str, read: Callable[[Node, str], T | None]) -> list[T] | None:
        """A list whose items are each read with ``read`` (path ``path[i]``)."""
        nodes = self.sequence(node, path)
        if nodes is None:
            return None
        values = [read(item, index_path(path, i)) for i, item in enumerate(nodes)]
        if any(v is None for v in values):
            return None
        return [v for v in values if v is not None]

    # -- scalars -------------------------------------------------------

    def string(
        self,
        node: Node,
        path: str,
        *,
        min_length: int = 0,
        max_length: int | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str | None = None,
    ) -> str | None:
        """A string (YAML str scalar: numbers, booleans and null are refused).

        ``what`` overrides the generated description of what is expected.
        """
        if what is None:
            what = _describe_string(min_length, max_length)
        if not isinstance(node, ScalarNode) or node.tag != _TAG_STR:
            hint = " (put it in quotes to make it a string)" if isinstance(node, ScalarNode) else ""
            self.expected(node, path, what, hint)
            return None
        value: str = node.value
        too_long = max_length is not None and len(value) > max_length
        if len(value) < min_length or too_long:
            self.expected(node, path, what, f" ({len(value)} characters)")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.expected(node, path, what)
            return None
        return value

    def integer(
        self,
        node: Node,
        path: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """An integer; booleans and floats (even 10.0) are refused."""
        what = "an integer" + _describe_range(minimum, maximum)
        if not isinstance(node, ScalarNode) or node.tag != _TAG_INT:
            self.expected(node, path, what)
            return None
        value = int(self._scalars.construct_yaml_int(node))
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.expected(node, path, what)
            return None
        return value

    def number(
        self,
        node: Node,
        path: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float | None:
        """A finite number, integer or float; booleans are refused.

        ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive one."""
        what = "a number" + _describe_range(minimum, maximum)
        if above is not None:
            what = f"a number > {_number_text(above)}"
        if not isinstance(node, ScalarNode) or node.tag not in (_TAG_INT, _TAG_FLOAT):
            self.expected(node, path, what)
            return None
        if node.tag == _TAG_INT:
            value = float(self._scalars.construct_yaml_int(node))
        else:
            value = float(self._scalars.construct_yaml_float(node))
        out_of_range = (
            (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
            or (above is not None and value <= above)
        )
        if not math.isfinite(value) or out_of_range:
            self.expected(node, path, what)
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        """A YAML boolean (true/false; YAML 1.1 also reads yes/no/on/off)."""
        if not isinstance(node, ScalarNode) or node.tag != _TAG_BOOL:
            self.expected(node, path, "true or false")
            return None
        return bool(self._scalars.construct_yaml_bool(node))

    def choice(self, node: Node, path: str, choices: Mapping[str, T], what: str | None = None) -> T | None:
        """One of the names in ``choices`` (a string), with a did-you-mean hint."""
        names = list(choices)
        if what is None:
            what = "one of " + ", ".join(names)
        if not isinstance(node, ScalarNode) or node.tag != _TAG_STR:
            self.expected(node, path, what)
            return None
        found = choices.get(node.value)
        if found is None:
            self.expected(node, path, what, did_you_mean(node.value, names))
        return found

    @staticmethod
    def is_null(node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _TAG_NULL

    # -- fields of a mapping -------------------------------------------

    def optional(
        self,
        fields: Mapping[str, Node],
        key: str,
        path: str,
        read: Callable[[Node, str], T],
        default: D,
    ) -> T | D:
        """``fields[key]`` read with ``read``, or ``default`` when the key is absent."""
        node = fields.get(key)
        if node is None:
            return default
        return read(node, join_path(path, key))

    def required(
        self,
        fields: Mapping[str, Node],
        key: str,
        path: str,
        read: Callable[[Node, str], T | None],
    ) -> T | None:
        """``fields[key]`` read with ``read``; None if absent (already reported by mapping())."""
        node = fields.get(key)
        if node is None:
            return None
        return read(node, join_path(path, key))


def _describe_string(min_length: int, max_length: int | None, unit: str = "characters") -> str:
    if max_length is not None:
        if min_length == 0:
            return f"a string of at most {max_length} {unit}"
        return f"a string of {min_length} to {max_length} {unit}"
    if min_length == 1:
        return "a non-empty string"
    if min_length > 1:
        return f"a string of at least {min_length} {unit}"
    return "a string"


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _describe_range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {_number_text(minimum)} to {_number_text(maximum)}"
    if minimum is not None:
        return f" >= {_number_text(minimum)}"
    if maximum is not None:
        return f" <= {_number_text(maximum)}"
    return ""


# --------------------------------------------------------------------------
# The network config format
# --------------------------------------------------------------------------

_LISTEN_KEYS = ("host", "port")
_TOP_REQUIRED = ("operators", "accounts")
_TOP_OPTIONAL = ("listen", "control", "seed", "delivery", "routing", "test_numbers")
_DELIVERY_KEYS = ("validity", "retry_initial", "retry_max", "retry_factor")
_OPERATOR_REQUIRED = ("id", "name", "carriers")
_OPERATOR_OPTIONAL = (
    "host",
    "port",
    "system_id",
    "password",
    "window",
    "binds",
    "send_rate",
    "temporary_errors",
    "smsc",
)
_OPERATOR_MOVED: Mapping[str, str] = MappingProxyType({"receipt_delay": "smsc.receipt_delay"})
_ACCOUNT_REQUIRED = ("system_id", "password")
_ACCOUNT_OPTIONAL = ("max_binds", "short_codes", "traffic", "rate", "burst", "max_pending", "credit")
_ROUTING_KEYS = ("default_region", "mvno_hosts", "ported")
_SHORT_CODE = re.compile(r"[0-9]{1,15}")
_TRAFFIC: Mapping[str, TrafficClass] = MappingProxyType({t.value: t for t in TrafficClass})
_E164_PREFIX_WHAT = "an E.164 number or prefix: '+' followed by 1 to 15 digits"


@dataclass(slots=True)
class _Seen:
    """First occurrence of a value that must be unique: where, for the message."""

    path: str
    line: int | None


class _NetworkReader:
    """Walks one network config document; all problems land in ``self.r``."""

    def __init__(self, source: str) -> None:
        self.r = NodeReader(source)
        self.operator_ids: dict[str, _Seen] = {}
        self.operator_ids_complete = True
        self.carriers: dict[str, tuple[str, _Seen]] = {}
        self.short_codes: dict[str, tuple[str, _Seen]] = {}
        self.behaviour = _BehaviourReader(self.r)

    # -- helpers ---------------------------------------------------------

    def _host(self, node: Node, path: str) -> str | None:
        return self.r.string(node, path, min_length=1)

    def _port(self, node: Node, path: str) -> int | None:
        return self.r.integer(node, path, minimum=0, maximum=65535)

    def _smpp_string(self, node: Node, path: str, *, min_length: int, max_length: int) -> str | None:
        what = _describe_string(min_length, max_length, "ASCII characters (no NUL)")
        return self.r.string(
            node, path, min_length=min_length, max_length=max_length, pattern=_SMPP_TEXT, what=what
        )

    def _system_id(self, node: Node, path: str) -> str | None:
        return self._smpp_string(node, path, min_length=1, max_length=_SYSTEM_ID_MAX)

    def _password(self, node: Node, path: str) -> str | None:
        return self._smpp_string(node, path, min_length=0, max_length=_PASSWORD_MAX)

    # -- sections --------------------------------------------------------

    def document(self, root: Node | None) -> NetworkConfig | None:
        r = self.r
        top = r.mapping(root, "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
        if top is None:
            return None
        d = NetworkConfig(ListenConfig(), (), (), RoutingConfig(), r.source)
        listen = r.optional(top, "listen", "", self.listen, d.listen)
        control = r.optional(top, "control", "", self.control, d.control)
        seed = r.optional(top, "seed", "", partial(r.integer, minimum=0), d.seed)
        delivery = r.optional(top, "delivery", "", self.delivery, d.delivery)
        operators = r.required(top, "operators", "", self.operators)
        accounts = r.required(top, "accounts", "", self.accounts)
        routing = r.optional(top, "routing", "", self.routing, d.routing)
        test_numbers = r.optional(top, "test_numbers", "", self.behaviour.numbers, d.test_numbers)
        if (
            listen is None
            or control is None
            or seed is None
            or delivery is None
            or operators is None
            or accounts is None
            or routing is None
            or test_numbers is None
        ):
            return None
        return NetworkConfig(
            listen,
            operators,
            accounts,
            routing,
            r.source,
            seed=seed,
            delivery=delivery,
            control=control,
            test_numbers=test_numbers,
        )

    def control(self, node: Node, path: str) -> ControlConfig | None:
        return self._address(node, path, ControlConfig)

    def _address(self, node: Node, path: str, kind: type[A]) -> A | None:
        """A `{host, port}` mapping (listen, control), defaults from `kind`."""
        r = self.r
        fields = r.mapping(node, path, optional=_LISTEN_KEYS)
        if fields is None:
            return None
        defaults = kind()
        host = r.optional(fields, "host", path, self._host, defaults.host)
        port = r.optional(fields, "port", path, self._port, defaults.port)
        if host is None or port is None:
            return None
        return kind(host=host, port=port)

    def delivery(self, node: Node, path: str) -> DeliveryConfig | None:
        r = self.r
        fields = r.mapping(node, path, optional=_DELIVERY_KEYS)
        if fields is None:
            return None
        d = DeliveryConfig()
        positive = self.behaviour.positive
        validity = r.optional(fields, "validity", path, positive, d.validity)
        initial = r.optional(fields, "retry_initial", path, positive, d.retry_initial)
        longest = r.optional(fields, "retry_max", path, positive, d.retry_max)
        factor = r.optional(fields, "retry_factor", path, partial(r.number, minimum=1), d.retry_factor)
        if validity is None or initial is None or longest is None or factor is None:
            return None
        if longest < initial:
            where = fields.get("retry_max") or fields.get("retry_initial") or node
            r.expected(where, join_path(path, "retry_max"), f"a number >= retry_initial ({_number_text(initial)})")
            return None
        return DeliveryConfig(validity=validity, retry_initial=initial, retry_max=longest, retry_factor=factor)

    def listen(self, node: Node, path: str) -> ListenConfig | None:
        return self._address(node, path, ListenConfig)

    def operators(self, node: Node, path: str) -> tuple[OperatorConfig, ...] | None:
        nodes = self.r.sequence(node, path)
        if nodes is None:
            self.operator_ids_complete = False
            return None
        if not nodes:
            self.r.expected(node, path, "a list of at least one operator")
            return None
        read = [self.operator(item, index_path(path, i)) for i, item in enumerate(nodes)]
        if any(op is None for op in read):
            return None
        return tuple(op for op in read if op is not None)

    def operator(self, node: Node, path: str) -> OperatorConfig | None:
        r = self.r
        fields = r.mapping(
            node, path, required=_OPERATOR_REQUIRED, optional=_OPERATOR_OPTIONAL, moved=_OPERATOR_MOVED
        )
        if fields is None:
            self.operator_ids_complete = False
            return None
        d = OperatorConfig(id="", name="", carriers=())  # defaults, from the one place they live
        op_id = r.required(fields, "id", path, self.operator_id)
        if op_id is None:
            self.operator_ids_complete = False
        name = r.required(fields, "name", path, partial(r.string, min_length=1))
        carriers = r.required(fields, "carriers", path, partial(self.carrier_list, op_id=op_id))
        host = r.optional(fields, "host", path, self._host, d.host)
        port = r.optional(fields, "port", path, self._port, d.port)
        system_id = r.optional(fields, "system_id", path, self._system_id, d.system_id)
        password = r.optional(fields, "password", path, self._password, d.password)
        window = r.optional(fields, "window", path, partial(r.integer, minimum=1), d.window)
        binds = r.optional(fields, "binds", path, partial(r.integer, minimum=1), d.binds)
        b = self.behaviour
        send_rate = r.optional(fields, "send_rate", path, b.nullable(b.positive), d.send_rate or _NULL)
        temporary = r.optional(fields, "temporary_errors", path, b.err_codes, d.temporary_errors)
        behaviour = r.optional(fields, "smsc", path, b.smsc, d.behaviour)
        if (
            op_id is None
            or name is None
            or carriers is None
            or host is None
            or port is None
            or system_id is None
            or password is None
            or window is None
            or binds is None
            or send_rate is None
            or temporary is None
            or behaviour is None
        ):
            return None
        return OperatorConfig(
            id=op_id,
            name=name,
            carriers=carriers,
            host=host,
            port=port,
            system_id=system_id,
            password=password,
            window=window,
            binds=binds,
            send_rate=None if send_rate is _NULL else send_rate,
            temporary_errors=temporary,
            behaviour=behaviour,
        )

    def operator_id(self, node: Node, path: str) -> str | None:
        op_id = self.r.string(
            node,
            path,
            pattern=_OPERATOR_ID,
            what="an operator id made of a-z, 0-9, '_' and '-'",
        )
        if op_id is None:
            return None
        first = self.operator_ids.get(op_id)
        if first is not None:
            self.r.problem(
                node, path, f"duplicate operator id {_quote(op_id)}, already used by {first.path} (line {first.line})"
            )
            return None
        self.operator_ids[op_id] = _Seen(path, _position(node)[0])
        return op_id

    def carrier_list(self, node: Node, path: str, *, op_id: str | None) -> tuple[str, ...] | None:
        names = self.r.items(node, path, partial(self.carrier, op_id=op_id))
        return None if names is None else tuple(names)

    def carrier(self, node: Node, path: str, *, op_id: str | None) -> str | None:
        """A carrier name; each may be served natively by one operator only."""
        name = self.r.string(node, path, min_length=1)
        if name is None:
            return None
        if not self._claim(self.carriers, name, op_id, node, path, "carrier", "is already served by operator"):
            return None
        return name

    def _claim(self, table: dict[str, tuple[str, _Seen]], key: str, owner: str | None, node: Node, path: str,
               what: str, taken: str) -> bool:
        """Give `key` to `owner` unless an earlier entry has it (then a problem names where)."""
        first = table.get(key)
        if first is not None:
            other, seen = first
            self.r.problem(node, path, f"{what} {_quote(key)} {taken} {_quote(other)} ({seen.path}, line {seen.line})")
            return False
        if owner is not None:
            table[key] = (owner, _Seen(path, _position(node)[0]))
        return True

    def accounts(self, node: Node, path: str) -> tuple[AccountConfig, ...] | None:
        nodes = self.r.sequence(node, path)
        if nodes is None:
            return None
        seen: dict[str, _Seen] = {}
        read = [self.account(item, index_path(path, i), seen) for i, item in enumerate(nodes)]
        if any(acc is None for acc in read):
            return None
        return tuple(acc for acc in read if acc is not None)

    def account(self, node: Node, path: str, seen: dict[str, _Seen]) -> AccountConfig | None:
        r = self.r
        fields = r.mapping(node, path, required=_ACCOUNT_REQUIRED, optional=_ACCOUNT_OPTIONAL)
        if fields is None:
            return None
        system_id = r.required(fields, "system_id", path, self._system_id)
        if system_id is not None:
            first = seen.get(system_id)
            id_path = join_path(path, "system_id")
            if first is not None:
                r.problem(
                    fields["system_id"],
                    id_path,
                    f"duplicate account system_id {_quote(system_id)},"
                    f" already used by {first.path} (line {first.line})",
                )
                system_id = None
            else:
                seen[system_id] = _Seen(id_path, _position(fields["system_id"])[0])
        password = r.required(fields, "password", path, self._password)
        d = AccountConfig(system_id="default", password="")
        b = self.behaviour
        max_binds = r.optional(fields, "max_binds", path, partial(r.integer, minimum=1), d.max_binds)
        short_codes = r.optional(
            fields, "short_codes", path, partial(self.short_code_list, owner=system_id), d.short_codes
        )
        traffic = r.optional(fields, "traffic", path, partial(r.choice, choices=_TRAFFIC), d.traffic)
        rate = r.optional(fields, "rate", path, b.nullable(b.positive), d.rate or _NULL)
        burst = r.optional(fields, "burst", path, partial(r.integer, minimum=1), d.burst)
        max_pending = r.optional(fields, "max_pending", path, partial(r.integer, minimum=1), d.max_pending)
        credit = r.optional(fields, "credit", path, b.nullable(partial(r.integer, minimum=0)), _NULL)
        if (
            system_id is None
            or password is None
            or max_binds is None
            or short_codes is None
            or traffic is None
            or rate is None
            or burst is None
            or max_pending is None
            or credit is None
        ):
            return None
        return AccountConfig(
            system_id=system_id,
            password=password,
            max_binds=max_binds,
            short_codes=short_codes,
            traffic=traffic,
            rate=None if rate is _NULL else rate,
            burst=burst,
            max_pending=max_pending,
            credit=None if credit is _NULL else credit,
        )

    def short_code_list(self, node: Node, path: str, *, owner: str | None) -> tuple[str, ...] | None:
        codes = self.r.items(node, path, partial(self.short_code, owner=owner))
        return None if codes is None else tuple(codes)

    def short_code(self, node: Node, path: str, *, owner: str | None) -> str | None:
        """A short code or long number (digits); MOs to it belong to one account only."""
        what = "a short code or long number: 1 to 15 digits, in quotes"
        if isinstance(node, ScalarNode) and node.tag == _TAG_INT:
            self.r.expected(node, path, what, " (put it in quotes to make it a string)")
            return None
        code = self.r.string(node, path, pattern=_SHORT_CODE, what=what)
        if code is None:
            return None
        if not self._claim(self.short_codes, code, owner, node, path, "short code", "already belongs to account"):
            return None
        return code

    def routing(self, node: Node, path: str) -> RoutingConfig | None:
        r = self.r
        fields = r.mapping(node, path, optional=_ROUTING_KEYS)
        if fields is None:
            return None
        d = RoutingConfig()
        region = r.optional(
            fields,
            "default_region",
            path,
            partial(r.string, pattern=_REGION, what='a two-letter region code in capitals, e.g. "FR"'),
            d.default_region,
        )
        none: dict[str, str] = {}
        mvno_hosts = r.optional(fields, "mvno_hosts", path, self.mvno_hosts, none)
        ported = r.optional(fields, "ported", path, self.ported, none)
        if region is None or mvno_hosts is None or ported is None:
            return None
        return RoutingConfig(default_region=region, mvno_hosts=mvno_hosts, ported=ported)

    def mvno_hosts(self, node: Node, path: str) -> dict[str, str] | None:
        entries = self.r.entries(node, path)
        if entries is None:
            return None
        result: dict[str, str] = {}
        ok = True
        for carrier, key_node, value_node in entries:
            entry = entry_path(path, carrier)
            name = self.r.string(key_node, entry, min_length=1, what="a carrier name (a non-empty string)")
            op_id = self.operator_ref(value_node, entry)
            if name is not None and name in self.carriers:
                owner, seen = self.carriers[name]
                self.r.problem(
                    key_node,
                    entry,
                    f"carrier {_quote(name)} is served natively by operator {_quote(owner)}"
                    f" ({seen.path}, line {seen.line}); remove it from mvno_hosts",
                )
                name = None
            if name is None or op_id is None:
                ok = False
                continue
            result[name] = op_id
        return result if ok else None

    def ported(self, node: Node, path: str) -> dict[str, str] | None:
        entries = self.r.entries(node, path)
        if entries is None:
            return None
        result: dict[str, str] = {}
        ok = True
        for prefix, key_node, value_node in entries:
            entry = entry_path(path, prefix)
            # The key is taken as written: unquoted, +33612345678 is an int to YAML.
            if not isinstance(key_node, ScalarNode) or not _E164_PREFIX.fullmatch(prefix):
                self.r.expected(key_node, entry, _E164_PREFIX_WHAT)
                ok = False
                prefix_ok = False
            else:
                prefix_ok = True
            op_id = self.operator_ref(value_node, entry)
            if not prefix_ok or op_id is None:
                ok = False
                continue
            result[prefix] = op_id
        return result if ok else None

    def operator_ref(self, node: Node, path: str) -> str | None:
        """An operator id that must name one of the configured operators."""
        ids = list(self.operator_ids)
        what = "an operator id"
        if self.operator_ids_complete and ids:
            what += f" (one of {', '.join(ids)})"
        op_id = self.r.string(node, path, min_length=1, what=what)
        if op_id is None:
            return None
        # If some operator could not be read, its id may be the one meant:
        # saying "unknown operator" then would only be noise.
        if self.operator_ids_complete and ids and op_id not in self.operator_ids:
            self.r.expected(node, path, what, did_you_mean(op_id, ids))
            return None
        return op_id


# --------------------------------------------------------------------------
# The operator SMSC behaviour format (``operators[i].smsc`` and ``test_numbers``)
# --------------------------------------------------------------------------

_SMSC_KEYS = (
    "receipt_delay",
    "validity",
    "country_code",
    "throughput",
    "per_bind",
    "max_binds",
    "window",
    "throttled_status",
    "queue_full_status",
    "unknown_status",
    "unknown_subscriber",
    "outcomes",
    "submit_errors",
    "subscribers",
    "numbers",
    "replies",
    "faults",
)
_DELAY_KINDS = ("fixed", "uniform", "exponential", "lognormal")
_DELAY_WHAT = (
    "a delay: a number of seconds >= 0, or one of {fixed: S}, {uniform: [LOW, HIGH]},"
    " {exponential: {mean: M}}, {lognormal: {median: M, p99: P}}"
)
_NUMBER_KEYS = ("state", "back_after", "delay", "submit_status", "receipt", "reply", "throttle_every")
_REPLY_KEYS = ("keyword", "text", "share", "delay", "alphanumeric_sender_only")
_RANGE_SHARES = ("unknown", "absent", "terminated", "barred")
_FAULT_KEYS = ("outages", "slow_responses", "receipt_loss")
_ERR_CODE = re.compile(r"[0-9]{3}")
_ERR_WHAT = 'a 3-digit receipt error code in quotes, e.g. "034"'
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
_MSISDN = re.compile(r"\+[0-9]{1,15}")
_MSISDN_WHAT = "an E.164 number: '+' followed by 1 to 15 digits"
# Error statuses an operator may answer with (never ESME_ROK), by their SMPP 3.4 names.
_STATUSES: Mapping[str, CommandStatus] = MappingProxyType(
    {status.name: status for status in CommandStatus if status is not CommandStatus.ESME_ROK}
)
_STATUS_WHAT = "an SMPP 3.4 command_status name, e.g. ESME_RTHROTTLED"
_STATES: Mapping[str, SubscriberState] = MappingProxyType({s.value: s for s in SubscriberState})
_STATS: Mapping[str, Stat] = MappingProxyType({s.value: s for s in Stat})
_UNKNOWN_SIGNALS: Mapping[str, UnknownSignal] = MappingProxyType({u.value: u for u in UnknownSignal})
_OUTAGE_MODES: Mapping[str, OutageMode] = MappingProxyType({m.value: m for m in OutageMode})


def _adding_up(total: float) -> str:
    return f" (they add up to {_number_text(round(total, 6))})"


class _Null(enum.Enum):
    """A field explicitly set to null (``send_rate: null``), told apart from a problem (None)."""

    NULL = "null"


_NULL = _Null.NULL


class _BehaviourReader:
    """Reads an operator's ``smsc:`` block and number books; problems land in ``self.r``."""

    def __init__(self, r: NodeReader) -> None:
        self.r = r

    # -- small values ----------------------------------------------------

    def positive(self, node: Node, path: str) -> float | None:
        """A finite number > 0."""
        return self.r.number(node, path, above=0)

    def percent(self, node: Node, path: str) -> float | None:
        return self.r.number(node, path, minimum=0, maximum=100)

    def nullable(self, read: Callable[[Node, str], T]) -> Callable[[Node, str], T | _Null]:
        """``read``, or ``_NULL`` when the value is YAML null (``send_rate: null``)."""

        def inner(node: Node, path: str) -> T | _Null:
            return _NULL if self.r.is_null(node) else read(node, path)

        return inner

    def status(self, node: Node, path: str) -> CommandStatus | None:
        return self.r.choice(node, path, _STATUSES, _STATUS_WHAT)

    def err_code(self, node: Node, path: str) -> str | None:
        what = _ERR_WHAT
        if isinstance(node, ScalarNode) and node.tag != _TAG_STR and node.tag != _TAG_NULL:
            self.r.expected(node, path, what, " (unquoted, YAML reads 034 as a number)")
            return None
        return self.r.string(node, path, pattern=_ERR_CODE, what=what)

    def err_codes(self, node: Node, path: str) -> tuple[str, ...] | None:
        codes = self.r.items(node, path, self.err_code)
        return None if codes is None else tuple(codes)

    def delay(self, node: Node, path: str) -> Delay | None:
        """A delay distribution; a bare number is ``{fixed: N}``."""
        r = self.r
        if isinstance(node, ScalarNode) and node.tag in (_TAG_INT, _TAG_FLOAT):
            seconds = r.number(node, path, minimum=0)
            return None if seconds is None else Fixed(seconds)
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            pairs = node.value if isinstance(node, MappingNode) else []
            keys = [k.value for k, _ in pairs if isinstance(k, ScalarNode)]
            hint = f" (with keys {', '.join(keys)})" if len(keys) > 1 else ""
            r.expected(node, path, _DELAY_WHAT, hint)
            return None
        fields = r.mapping(node, path, optional=_DELAY_KINDS)
        if fields is None or not fields:
            return None
        kind, value = next(iter(fields.items()))
        at = join_path(path, kind)
        if kind == "fixed":
            seconds = r.number(value, at, minimum=0)
            return None if seconds is None else Fixed(seconds)
        if kind == "uniform":
            return self._uniform(value, at)
        if kind == "exponential":
            params = r.mapping(value, at, required=("mean",))
            if params is None:
                return None
            mean = r.required(params, "mean", at, partial(r.number, minimum=0))
            return None if mean is None else Exponential(mean)
        params = r.mapping(value, at, required=("median", "p99"))
        if params is None:
            return None
        median = r.required(params, "median", at, self.positive)
        p99 = r.required(params, "p99", at, self.positive)
        if median is None or p99 is None:
            return None
        if p99 < median:
            r.expected(params["p99"], join_path(at, "p99"), f"a number >= the median ({_number_text(median)})")
            return None
        return LogNormal(median, p99)

    def _uniform(self, node: Node, path: str) -> Uniform | None:
        what = "a list [LOW, HIGH] of two numbers >= 0 with LOW <= HIGH"
        r = self.r
        if not isinstance(node, SequenceNode) or len(node.value) != 2:
            r.expected(node, path, what)
            return None
        low = r.number(node.value[0], index_path(path, 0), minimum=0)
        high = r.number(node.value[1], index_path(path, 1), minimum=0)
        if low is None or high is None:
            return None
        if high < low:
            r.expected(node, path, what, f" (LOW {_number_text(low)} > HIGH {_number_text(high)})")
            return None
        return Uniform(low, high)

    def throughput(self, node: Node, path: str) -> Throughput | _Null | None:
        r = self.r
        if r.is_null(node):
            return _NULL
        fields = r.mapping(node, path, required=("rate", "burst"))
        if fields is None:
            return None
        rate = r.required(fields, "rate", path, self.positive)
        burst = r.required(fields, "burst", path, partial(r.integer, minimum=1))
        if rate is None or burst is None:
            return None
        return Throughput(rate, burst)

    # -- the smsc block --------------------------------------------------

    def smsc(self, node: Node, path: str) -> SmscBehaviour | None:
        r = self.r
        fields = r.mapping(node, path, optional=_SMSC_KEYS)
        if fields is None:
            return None
        d = SmscBehaviour()
        opt = partial(r.optional, fields)
        receipt_delay = opt("receipt_delay", path, self.delay, d.receipt_delay)
        validity = opt("validity", path, self.positive, d.validity)
        country_code = opt(
            "country_code",
            path,
            partial(r.string, pattern=_COUNTRY_CODE, what='a country calling code in quotes, e.g. "33"'),
            d.country_code,
        )
        throughput = opt("throughput", path, self.throughput, d.throughput or _NULL)
        per_bind = opt("per_bind", path, self.throughput, d.per_bind or _NULL)
        max_binds = opt("max_binds", path, partial(r.integer, minimum=1), d.max_binds)
        window = opt("window", path, partial(r.integer, minimum=1), d.window)
        throttled = opt("throttled_status", path, self.status, d.throttled_status)
        queue_full = opt("queue_full_status", path, self.status, d.queue_full_status)
        unknown_status = opt("unknown_status", path, self.status, d.unknown_status)
        unknown_signal = opt(
            "unknown_subscriber", path, partial(r.choice, choices=_UNKNOWN_SIGNALS), d.unknown_subscriber
        )
        outcomes = opt("outcomes", path, self.outcomes, d.outcomes)
        submit_errors = opt("submit_errors", path, self.submit_errors, d.submit_errors)
        subscribers = opt("subscribers", path, self.ranges, d.subscribers)
        numbers = opt("numbers", path, self.numbers, d.numbers)
        replies = opt("replies", path, self.replies, d.replies)
        faults = opt("faults", path, self.faults, d.faults)
        if (
            receipt_delay is None
            or validity is None
            or country_code is None
            or throughput is None
            or per_bind is None
            or max_binds is None
            or window is None
            or throttled is None
            or queue_full is None
            or unknown_status is None
            or unknown_signal is None
            or outcomes is None
            or submit_errors is None
            or subscribers is None
            or numbers is None
            or replies is None
            or faults is None
        ):
            return None
        return SmscBehaviour(
            receipt_delay=receipt_delay,
            validity=validity,
            country_code=country_code,
            throughput=None if throughput is _NULL else throughput,
            per_bind=None if per_bind is _NULL else per_bind,
            max_binds=max_binds,
            window=window,
            throttled_status=throttled,
            queue_full_status=queue_full,
            unknown_status=unknown_status,
            unknown_subscriber=unknown_signal,
            outcomes=outcomes,
            submit_errors=submit_errors,
            subscribers=subscribers,
            numbers=numbers,
            replies=replies,
            faults=faults,
        )

    def outcomes(self, node: Node, path: str) -> tuple[Outcome, ...] | None:
        read = self.r.items(node, path, self.outcome)
        if read is None:
            return None
        if not read:
            self.r.expected(node, path, "a list of at least one outcome")
            return None
        return tuple(read)

    def outcome(self, node: Node, path: str) -> Outcome | None:
        r = self.r
        fields = r.mapping(node, path, required=("stat", "weight"), optional=("err",))
        if fields is None:
            return None
        stat = r.required(fields, "stat", path, partial(r.choice, choices=_STATS))
        err = r.optional(fields, "err", path, self.err_code, "000")
        weight = r.required(fields, "weight", path, self.positive)
        if stat is None or err is None or weight is None:
            return None
        return Outcome(stat, err, weight)

    def submit_errors(self, node: Node, path: str) -> tuple[SubmitError, ...] | None:
        return self._shares(node, path, self.submit_error, lambda e: e.weight,
                            "shares (weight, percent of submits)")

    def _shares(self, node: Node, path: str, read_one: Callable[[Node, str], T | None],
                share_of: Callable[[T], float], what: str) -> tuple[T, ...] | None:
        """A list of items that each take a percent share: the shares add up to at most 100."""
        read = self.r.items(node, path, read_one)
        if read is None:
            return None
        total = sum(share_of(item) for item in read)
        if total > 100:
            self.r.expected(node, path, f"{what} adding up to at most 100", _adding_up(total))
            return None
        return tuple(read)

    def submit_error(self, node: Node, path: str) -> SubmitError | None:
        r = self.r
        fields = r.mapping(node, path, required=("status", "weight"))
        if fields is None:
            return None
        status = r.required(fields, "status", path, self.status)
        weight = r.required(fields, "weight", path, self.percent)
        if status is None or weight is None:
            return None
        return SubmitError(status, weight)

    def ranges(self, node: Node, path: str) -> tuple[RangeRule, ...] | None:
        seen: dict[str, _Seen] = {}
        read = self.r.items(node, path, partial(self.range_rule, seen=seen))
        return None if read is None else tuple(read)

    def range_rule(self, node: Node, path: str, seen: dict[str, _Seen]) -> RangeRule | None:
        r = self.r
        optional = ("state", *_RANGE_SHARES, "absent_back_after")
        fields = r.mapping(node, path, required=("prefix",), optional=optional)
        if fields is None:
            return None
        prefix = r.required(
            fields, "prefix", path, partial(r.string, pattern=_E164_PREFIX, what=_E164_PREFIX_WHAT)
        )
        if prefix is not None:
            first = seen.get(prefix)
            if first is not None:
                r.problem(
                    fields["prefix"],
                    join_path(path, "prefix"),
                    f"duplicate prefix {_quote(prefix)}, already given at {first.path} (line {first.line})",
                )
                prefix = None
            else:
                seen[prefix] = _Seen(join_path(path, "prefix"), _position(fields["prefix"])[0])
        d = RangeRule(prefix="")
        state = r.optional(fields, "state", path, partial(r.choice, choices=_STATES), _NULL)
        shares = {key: r.optional(fields, key, path, self.percent, 0.0) for key in _RANGE_SHARES}
        back_after = r.optional(
            fields, "absent_back_after", path, self.nullable(self.delay), d.absent_back_after or _NULL
        )
        if prefix is None or state is None or back_after is None or any(v is None for v in shares.values()):
            return None
        given = [key for key in _RANGE_SHARES if key in fields]
        if state is not _NULL and given:
            r.problem(
                fields[given[0]],
                join_path(path, given[0]),
                "give either a state for the whole range or shares, not both",
            )
            return None
        values = {key: float(v or 0.0) for key, v in shares.items()}
        total = sum(values.values())
        if total > 100:
            what = "shares of unknown, absent, terminated and barred adding up to at most 100"
            r.expected(node, path, what, _adding_up(total))
            return None
        return RangeRule(
            prefix=prefix,
            state=None if state is _NULL else state,
            unknown=values["unknown"],
            absent=values["absent"],
            terminated=values["terminated"],
            barred=values["barred"],
            absent_back_after=None if back_after is _NULL else back_after,
        )

    def numbers(self, node: Node, path: str) -> tuple[NumberRule, ...] | None:
        """``"+33699990001": unknown`` or ``"+33699990002": {state: absent, back_after: 300}``."""
        entries = self.r.entries(node, path)
        if entries is None:
            return None
        rules: list[NumberRule] = []
        ok = True
        for msisdn, key_node, value_node in entries:
            entry = entry_path(path, msisdn)
            if not isinstance(key_node, ScalarNode) or not _MSISDN.fullmatch(msisdn):
                self.r.expected(key_node, entry, _MSISDN_WHAT)
                ok = False
                continue
            rule = self.number_rule(value_node, entry, msisdn)
            if rule is None:
                ok = False
                continue
            rules.append(rule)
        return tuple(rules) if ok else None

    def number_rule(self, node: Node, path: str, msisdn: str) -> NumberRule | None:
        r = self.r
        if isinstance(node, ScalarNode):
            what = "a subscriber state (one of " + ", ".join(_STATES) + ") or a mapping"
            state = r.choice(node, path, _STATES, what)
            return None if state is None else NumberRule(msisdn, state)
        fields = r.mapping(node, path, optional=_NUMBER_KEYS)
        if fields is None:
            return None
        d = NumberRule(msisdn)
        state = r.optional(fields, "state", path, partial(r.choice, choices=_STATES), d.state)
        back_after = r.optional(fields, "back_after", path, self.nullable(partial(r.number, minimum=0)), _NULL)
        delay = r.optional(fields, "delay", path, partial(r.number, minimum=0), _NULL)
        submit_status = r.optional(fields, "submit_status", path, self.status, _NULL)
        receipt = r.optional(fields, "receipt", path, r.boolean, d.receipt)
        reply = r.optional(fields, "reply", path, self.reply, _NULL)
        throttle_every = r.optional(fields, "throttle_every", path, partial(r.integer, minimum=0), d.throttle_every)
        if (
            state is None
            or back_after is None
            or delay is None
            or submit_status is None
            or receipt is None
            or reply is None
            or throttle_every is None
        ):
            return None
        if throttle_every == 1:
            r.expected(fields["throttle_every"], join_path(path, "throttle_every"), "0 (never) or an integer >= 2")
            return None
        if "back_after" in fields and state is not SubscriberState.ABSENT:
            r.problem(fields["back_after"], join_path(path, "back_after"), "only applies to state absent")
            return None
        return NumberRule(
            msisdn=msisdn,
            state=state,
            back_after=None if back_after is _NULL else back_after,
            delay=None if delay is _NULL else delay,
            submit_status=None if submit_status is _NULL else submit_status,
            receipt=receipt,
            reply=None if reply is _NULL else reply,
            throttle_every=throttle_every,
        )

    def replies(self, node: Node, path: str) -> tuple[Reply, ...] | None:
        return self._shares(node, path, self.reply, lambda reply: reply.share,
                            "reply shares (percent of delivered messages)")

    def reply(self, node: Node, path: str) -> Reply | None:
        r = self.r
        fields = r.mapping(node, path, optional=_REPLY_KEYS)
        if fields is None:
            return None
        d = Reply(text="")
        given = [key for key in ("keyword", "text") if key in fields]
        if len(given) != 1:
            where = fields[given[1]] if len(given) == 2 else node
            r.problem(where, path, "give exactly one of keyword or text")
            text: str | None = None
        else:
            text = r.required(fields, given[0], path, partial(r.string, min_length=1, max_length=160))
        share = r.optional(fields, "share", path, self.percent, d.share)
        delay = r.optional(fields, "delay", path, self.delay, d.delay)
        alpha = r.optional(fields, "alphanumeric_sender_only", path, r.boolean, d.alphanumeric_sender_only)
        if text is None or share is None or delay is None or alpha is None:
            return None
        return Reply(text=text, share=share, delay=delay, alphanumeric_sender_only=alpha)

    def faults(self, node: Node, path: str) -> Faults | None:
        r = self.r
        fields = r.mapping(node, path, optional=_FAULT_KEYS)
        if fields is None:
            return None
        d = Faults()
        outages = r.optional(fields, "outages", path, partial(r.items, read=self.outage), list(d.outages))
        slow = r.optional(fields, "slow_responses", path, self.slow_responses, d.slow_responses)
        loss = r.optional(fields, "receipt_loss", path, self.percent, d.receipt_loss)
        if outages is None or slow is None or loss is None:
            return None
        return Faults(outages=tuple(outages), slow_responses=slow, receipt_loss=loss)

    def outage(self, node: Node, path: str) -> Outage | None:
        r = self.r
        fields = r.mapping(node, path, required=("start", "duration", "mode"))
        if fields is None:
            return None
        start = r.required(fields, "start", path, partial(r.number, minimum=0))
        duration = r.required(fields, "duration", path, self.positive)
        mode = r.required(fields, "mode", path, partial(r.choice, choices=_OUTAGE_MODES))
        if start is None or duration is None or mode is None:
            return None
        return Outage(start, duration, mode)

    def slow_responses(self, node: Node, path: str) -> SlowResponses | None:
        r = self.r
        fields = r.mapping(node, path, optional=("share", "delay"))
        if fields is None:
            return None
        d = SlowResponses()
        share = r.optional(fields, "share", path, self.percent, d.share)
        delay = r.optional(fields, "delay", path, self.delay, d.delay)
        if share is None or delay is None:
            return None
        return SlowResponses(share, delay)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def parse_config(text: str, source: str) -> NetworkConfig:
    """Check and convert a network config given as YAML text.

    ``source`` names the file in messages.  Raises :class:`ConfigError` with
    every problem found (at least the first one, always precisely located).
    """
    root = compose(text, source)
    reader = _NetworkReader(source)
    config = reader.document(root)
    reader.r.raise_if_problems()
    if config is None:  # pragma: no cover - a None always comes with a problem
        raise ConfigError([Problem(source, None, None, "", "invalid configuration")])
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> NetworkConfig:
    """Load a network config file; None loads the shipped default network.

    The default is read through importlib.resources so it works from an
    installed wheel as well as from a source checkout.
    """
    if path is None:
        resource = resources.files("aggregator").joinpath(DEFAULT_NETWORK_RESOURCE)
        source = str(resource)
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Problem(source, None, None, "", f"cannot read config file: {exc}")]) from None
        return parse_config(text, source)
    source, text = read_text_file(path, "config")
    return parse_config(text, source)


def read_text_file(path: str | os.PathLike[str], what: str) -> tuple[str, str]:
    """(source name, UTF-8 text) of a YAML file, or a ConfigError naming the file (and, for
    bad UTF-8, the line and column). `what` names the kind of file in the message."""
    source = os.fspath(path)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([Problem(source, None, None, "", f"cannot read {what} file: {reason}")]) from None
    try:
        return source, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError([Problem(source, line, column, "", "file is not valid UTF-8 text")]) from None
