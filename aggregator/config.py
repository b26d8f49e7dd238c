"""Network configuration: a YAML file turned into typed, frozen dataclasses.

The configuration is checked once, here, at the edge of the program: everything
past :func:`load_config` can trust the values it is handed (types, ranges,
cross-references between operators, accounts and routing).  The product
requirement is that *a bad config file stops start-up with a message naming the
file, line and field*, so the file is not read with ``yaml.safe_load`` (which
throws the positions away) but composed into a node tree whose every node keeps
its ``start_mark``; values are then read out of the nodes by :class:`NodeReader`,
which records a :class:`Problem` with ``file:line:column`` and a dotted field
path (``operators[1].receipt_delay``) for everything that is wrong.

This is the only module that imports ``yaml``.  :func:`compose` and
:class:`NodeReader` are written generically so that other YAML formats (e.g.
test scenarios) can reuse them without importing ``yaml`` themselves.
"""

import difflib
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

__all__ = [
    "AccountConfig",
    "ConfigError",
    "ListenConfig",
    "NetworkConfig",
    "NodeReader",
    "OperatorConfig",
    "Problem",
    "RoutingConfig",
    "compose",
    "load_config",
    "parse_config",
]

T = TypeVar("T")

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
    ``path`` is the dotted field path (``operators[1].receipt_delay``), empty
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
class AccountConfig:
    """A client (ESME) allowed to bind to the aggregator."""

    system_id: str  # 1..15 chars (SMPP c-octet string max 16 with NUL)
    password: str  # 0..8 chars (SMPP max 9 with NUL)
    max_binds: int = 8


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
    receipt_delay: float = 1.0  # seconds between submit_sm_resp and the DELIVRD receipt
    window: int = 10  # max outstanding requests on the aggregator's bind

    def __post_init__(self) -> None:
        # A list passed by a caller would make the "frozen" object mutable.
        object.__setattr__(self, "carriers", tuple(self.carriers))


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "operators", tuple(self.operators))
        object.__setattr__(self, "accounts", tuple(self.accounts))


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
    ) -> dict[str, Node] | None:
        """A mapping whose keys must come from ``required`` + ``optional``.

        Unknown keys get a did-you-mean hint; missing required keys are
        reported at the mapping's own position.  Returns key -> value node for
        the known keys.
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
    ) -> float | None:
        """A finite number, integer or float; booleans are refused."""
        what = "a number" + _describe_range(minimum, maximum)
        if not isinstance(node, ScalarNode) or node.tag not in (_TAG_INT, _TAG_FLOAT):
            self.expected(node, path, what)
            return None
        if node.tag == _TAG_INT:
            value = float(self._scalars.construct_yaml_int(node))
        else:
            value = float(self._scalars.construct_yaml_float(node))
        out_of_range = (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        if not math.isfinite(value) or out_of_range:
            self.expected(node, path, what)
            return None
        return value

    # -- fields of a mapping -------------------------------------------

    def optional(
        self,
        fields: Mapping[str, Node],
        key: str,
        path: str,
        read: Callable[[Node, str], T | None],
        default: T,
    ) -> T | None:
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
_OPERATOR_REQUIRED = ("id", "name", "carriers")
_OPERATOR_OPTIONAL = ("host", "port", "system_id", "password", "receipt_delay", "window")
_ACCOUNT_REQUIRED = ("system_id", "password")
_ACCOUNT_OPTIONAL = ("max_binds",)
_ROUTING_KEYS = ("default_region", "mvno_hosts", "ported")


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
        top = r.mapping(root, "", required=("operators", "accounts"), optional=("listen", "routing"))
        if top is None:
            return None
        listen = r.optional(top, "listen", "", self.listen, ListenConfig())
        operators = r.required(top, "operators", "", self.operators)
        accounts = r.required(top, "accounts", "", self.accounts)
        routing = r.optional(top, "routing", "", self.routing, RoutingConfig())
        if listen is None or operators is None or accounts is None or routing is None:
            return None
        return NetworkConfig(listen, operators, accounts, routing, r.source)

    def listen(self, node: Node, path: str) -> ListenConfig | None:
        r = self.r
        fields = r.mapping(node, path, optional=_LISTEN_KEYS)
        if fields is None:
            return None
        defaults = ListenConfig()
        host = r.optional(fields, "host", path, self._host, defaults.host)
        port = r.optional(fields, "port", path, self._port, defaults.port)
        if host is None or port is None:
            return None
        return ListenConfig(host=host, port=port)

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
        fields = r.mapping(node, path, required=_OPERATOR_REQUIRED, optional=_OPERATOR_OPTIONAL)
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
        receipt_delay = r.optional(fields, "receipt_delay", path, partial(r.number, minimum=0), d.receipt_delay)
        window = r.optional(fields, "window", path, partial(r.integer, minimum=1), d.window)
        if (
            op_id is None
            or name is None
            or carriers is None
            or host is None
            or port is None
            or system_id is None
            or password is None
            or receipt_delay is None
            or window is None
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
            receipt_delay=receipt_delay,
            window=window,
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
        first = self.carriers.get(name)
        if first is not None:
            owner, seen = first
            self.r.problem(
                node,
                path,
                f"carrier {_quote(name)} is already served by operator {_quote(owner)}"
                f" ({seen.path}, line {seen.line})",
            )
            return None
        if op_id is not None:
            self.carriers[name] = (op_id, _Seen(path, _position(node)[0]))
        return name

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
        default_max_binds = AccountConfig(system_id="default", password="").max_binds
        max_binds = r.optional(fields, "max_binds", path, partial(r.integer, minimum=1), default_max_binds)
        if system_id is None or password is None or max_binds is None:
            return None
        return AccountConfig(system_id=system_id, password=password, max_binds=max_binds)

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
                self.r.expected(key_node, entry, "an E.164 number or prefix: '+' followed by 1 to 15 digits")
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
    source = os.fspath(path)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([Problem(source, None, None, "", f"cannot read config file: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError([Problem(source, line, column, "", "file is not valid UTF-8 text")]) from None
    return parse_config(text, source)
