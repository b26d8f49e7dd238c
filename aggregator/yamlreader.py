"""YAML read with positions, so a bad file is reported as ``file:line:column: field: ...``.

``yaml.safe_load`` throws the positions away, so files are composed into a node
tree whose every node keeps its ``start_mark`` and read with :class:`NodeReader`,
which records a :class:`Problem` for everything wrong instead of stopping at the
first.  Nothing here knows a file format: the network config (aggregator/config/)
and the scenario loader (scenarios/loader.py) both build on it, so it sits beside
config/, not in it, with the bounds it enforces (aggregator/limits.py).  This is the
only module that imports ``yaml`` (the node classes and the core schema's tags are
re-exported).
"""

import ast
import dataclasses
import difflib
import enum
import json
import math
import os
import re
import stat
import string
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_INT, MAX_NODES, MAX_SCALAR_CHARS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance     # typeshed's "any dataclass", for dataclasses.fields()

__all__ = [
    "ConfigError",
    "Fields",
    "MappingNode",
    "NULL",
    "Null",
    "Read",
    "Node",
    "NodeReader",
    "Problem",
    "ScalarNode",
    "Seen",
    "SequenceNode",
    "TAG_BOOL",
    "TAG_FLOAT",
    "TAG_INT",
    "TAG_NULL",
    "TAG_STR",
    "TAG_TIMESTAMP",
    "by_value",
    "compose",
    "describe",
    "did_you_mean",
    "entry_path",
    "index_path",
    "join_path",
    "FileRefused",
    "NodeBudget",
    "decode_utf8",
    "read_limited",
    "read_text_file",
]

T = TypeVar("T")
D = TypeVar("D")
K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E", bound=enum.Enum)
R = TypeVar("R", bound="DataclassInstance")       # a record: a dataclass that Fields builds

# The tags of YAML's core schema that the readers test nodes against (a quoted "1" is a str).
TAG_STR = "tag:yaml.org,2002:str"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_TIMESTAMP = "tag:yaml.org,2002:timestamp"


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
        ordered = tuple(sorted(problems, key=lambda problem: (problem.line or 0, problem.column or 0)))
        if not ordered:
            raise ValueError("ConfigError needs at least one problem")
        super().__init__("\n".join(str(problem) for problem in ordered))
        self.problems: tuple[Problem, ...] = ordered

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


# --------------------------------------------------------------------------
# Generic YAML node reading (reusable for other YAML formats)
# --------------------------------------------------------------------------


class Null(enum.Enum):
    """A field explicitly set to null (``send_rate: null``), told apart from a problem (None)."""

    NULL = "null"


NULL = Null.NULL

# Reads the value at ``node`` (whose field path is the second argument): the value, or None
# after recording a problem.
Read = Callable[[Node, str], Any]


@dataclass(frozen=True)
class Fields(Generic[R]):
    """The one declaration of a YAML mapping read into the dataclass ``cls``.

    ``keys`` lists every key the mapping takes, in the order they are read, each with the
    function that reads its value; ``None`` means the caller reads that key itself (it depends
    on another key, or on state).  Messages list the required keys first, then the others,
    each in this order.  A key sets the field of the same name unless ``rename``
    says otherwise.  A key is required when its field has no default, unless ``required``
    names the required keys itself.  An absent key leaves the field's default: defaults live
    in the dataclass only.  A value read as :data:`NULL` sets the field to None.
    """

    cls: type[R]
    keys: Mapping[str, Read | None]
    rename: Mapping[str, str] = dataclasses.field(default_factory=dict)
    required: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = {declared.name for declared in dataclasses.fields(self.cls)}
        wrong = [key for key, read in self.keys.items() if read is not None and self.field(key) not in names]
        if wrong:  # a mistake in the declaration, not in a file
            raise TypeError(f"{self.cls.__name__} has no field for key(s) {', '.join(wrong)}")

    def field(self, key: str) -> str:
        """The dataclass field that ``key`` sets."""
        return self.rename.get(key, key)

    def required_keys(self) -> tuple[str, ...]:
        if self.required is not None:
            return self.required
        bare = {declared.name for declared in dataclasses.fields(self.cls)
                if declared.default is dataclasses.MISSING and declared.default_factory is dataclasses.MISSING}
        return tuple(key for key, read in self.keys.items() if read is not None and self.field(key) in bare)

    def optional_keys(self) -> tuple[str, ...]:
        required = self.required_keys()
        return tuple(key for key in self.keys if key not in required)

    def default(self, key: str) -> Any:
        """The dataclass default of the field ``key`` sets (what an absent key means)."""
        (declared,) = (declared for declared in dataclasses.fields(self.cls) if declared.name == self.field(key))
        return declared.default if declared.default_factory is dataclasses.MISSING else declared.default_factory()


def by_value(kind: type[E]) -> Mapping[str, E]:
    """A str-valued enum's members by value: the names a YAML key may take
    (:meth:`NodeReader.choice`)."""
    return MappingProxyType({member.value: member for member in kind})


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
    if node.tag == TAG_STR:
        return _quote(node.value)
    if node.tag == TAG_NULL:
        return "nothing" if node.value == "" else f"null ({node.value})"
    if node.tag == TAG_BOOL:
        return f"a boolean ({node.value})"
    text = str(node.value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_kind(node: Node) -> str:
    """What kind of value the user wrote, without the value: for credentials, and for the
    top of a file that may not be a config at all."""
    if isinstance(node, ScalarNode):
        kinds = {TAG_INT: "an integer", TAG_FLOAT: "a number", TAG_BOOL: "a boolean", TAG_NULL: "nothing"}
        if node.tag in kinds:
            return kinds[node.tag] + ("" if node.tag == TAG_NULL else " (not shown)")
        return f"a string of {len(node.value)} characters (not shown)"
    return describe(node)


# Comparisons written as in other languages or in maths: close in meaning, far in spelling
# (difflib would offer '>=' for '=').
_COMPARISON_SPELLINGS = {"=": "==", "===": "==", "=>": ">=", "=<": "<=", "<>": "!=", "≠": "!=",
                         "≥": ">=", "≤": "<="}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' did you mean 'xxx'?' when a choice is close to ``word``, else ''."""
    choices = list(choices)
    meant = _COMPARISON_SPELLINGS.get(word)
    if meant in choices:
        return f"; did you mean '{meant}'?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _position(node: Node | None) -> tuple[int | None, int | None]:
    if node is None or node.start_mark is None:
        return None, None
    return node.start_mark.line + 1, node.start_mark.column + 1


class NodeBudget:
    """How many YAML nodes may still be read, aliases and inclusions counted in full.

    One budget can span several documents (a scenario, its includes and its network file),
    so a file included 10,000 times costs 10,000 times its size.  See ``limits.MAX_NODES``.
    """

    def __init__(self, limit: int = MAX_NODES) -> None:
        self.limit = limit
        self.used = 0
        self.exhausted = False  # a charge was refused
        self.described = limit  # the limit messages name (a child's is its parent's)

    def child(self) -> "NodeBudget":
        """A budget for one more document: what is left of this one (charge this one with
        its ``used`` afterwards)."""
        budget = NodeBudget(self.limit - self.used)
        budget.described = self.described
        return budget

    def charge(self, nodes: int) -> bool:
        """Spend ``nodes``; False (and nothing spent) when that would pass the limit."""
        if self.used + nodes > self.limit:
            self.exhausted = True
            return False
        self.used += nodes
        return True


class _LimitExceeded(yaml.MarkedYAMLError):
    """A structural limit of :class:`_BoundedLoader`, raised where the file passes it."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, composing with bounds: nesting depth, scalar length, and the number of
    nodes the tree stands for once every alias is expanded.

    PyYAML composes recursively (a file of 5,000 ``[`` is a ``RecursionError``) and an alias
    is the same node object again, so ``a: &a [x, x]  b: &b [*a, *a] ...`` is a small tree that
    any reader walking it sees as exponential ("billion laughs").  An alias to a node that is
    still being composed (``&t [*t]``) would make the tree a cycle: refused too.
    """

    def __init__(self, text: str, budget: NodeBudget) -> None:
        super().__init__(text)
        self._budget = budget
        self._depth = 0
        self._open: set[str] = set()
        self._size: dict[str, int] = {}  # anchor -> nodes its tree stands for
        self.nodes = 0  # nodes of this document, expanded

    def _charge(self, nodes: int, mark: yaml.Mark | None) -> None:
        if not self._budget.charge(nodes):
            raise _LimitExceeded(
                None, None,
                f"expected at most {self._budget.described} YAML nodes in all, counting each alias"
                " (and each included file) in full, got more", mark)
        self.nodes += nodes

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchor = event.anchor
            if anchor in self._open:
                self.get_event()
                raise _LimitExceeded(None, None, "expected an alias to a finished node,"
                                     " got an alias inside the node it refers to", event.start_mark)
            node = super().compose_node(parent, index)  # raises on an undefined alias
            self._charge(self._size.get(anchor, 1), event.start_mark)
            return node
        event = self.peek_event()
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            assert isinstance(event.start_mark, yaml.Mark)     # the pure-Python composer's marks
            raise _LimitExceeded(None, None, f"expected a value of at most {MAX_SCALAR_CHARS} characters,"
                                 f" got {len(event.value)} characters", event.start_mark)
        if self._depth >= MAX_DEPTH and not isinstance(event, yaml.ScalarEvent):
            raise _LimitExceeded(None, None, f"expected at most {MAX_DEPTH} nested levels of"
                                 " mappings and lists, got more", event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        before = self.nodes
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._charge(1, event.start_mark)
        if anchor is not None:
            self._open.discard(anchor)
            self._size[anchor] = self.nodes - before
        return node


# A quoted fragment in a PyYAML message: %r of what the file holds (an alias or tag name, a
# character), or a token name such as '<block end>'.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _without_text(message: str) -> str:
    """A PyYAML problem or context without the file's text: token names ('<block end>') and a
    single punctuation character stay; another single character becomes its code point;
    anything longer (an alias, anchor or tag name) is left out.  A file refused as YAML may be
    anything (a key, /etc/shadow): its errors never quote it."""

    def replace(match: re.Match[str]) -> str:
        quoted = match.group(0)
        try:
            value = ast.literal_eval(quoted)
        except (ValueError, SyntaxError):
            return "(text not shown)"
        if not isinstance(value, str):
            return "(text not shown)"
        if value.startswith("<") and value.endswith(">") and value[1:-1].replace(" ", "").isalpha():
            return quoted  # a token name: '<block end>'
        if re.fullmatch(r"'[^\w\s]'", value):
            return quoted  # a punctuation token name: "','"
        if len(value) == 1:
            if value in string.punctuation or value == " ":
                return quoted
            return f"U+{ord(value):04X}"
        return "(text not shown)"

    return _QUOTED.sub(replace, message)


def compose(text: str, source: str, budget: NodeBudget | None = None, *,
            root_kind: type[Node] | None = None, root_what: str = "") -> Node | None:
    """Parse YAML text into a node tree (safe loader), keeping every position.

    A syntax error, or a file past the limits of :mod:`aggregator.limits` (nesting,
    scalar length, alias expansion charged to ``budget``), becomes a :class:`ConfigError`
    naming ``source:line:column``; no message quotes the file's text.  With ``root_kind``, a
    document whose top is a single scalar is refused as not being ``root_what`` (a lone
    scalar is what a non-YAML file, or a file that is not a config, composes to).
    Returns None for an empty document.
    """
    if budget is None:
        budget = NodeBudget()
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, budget)  # the reader checks every character here
        root: Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        limit = isinstance(exc, _LimitExceeded)
        mark = exc.problem_mark or exc.context_mark
        problem = _without_text(exc.problem or exc.context or "invalid YAML")
        message = problem if limit else f"YAML syntax error: {problem}"
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
            message += (
                f" ({_without_text(exc.context)} at line {exc.context_mark.line + 1},"
                f" column {exc.context_mark.column + 1})"
            )
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise ConfigError([Problem(source, line, column, "", message)]) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"YAML syntax error: {exc.reason} (character U+{character:04X})"
        raise ConfigError([Problem(source, line, column, "", message)]) from None
    except yaml.YAMLError:  # pragma: no cover - defensive, no known case
        raise ConfigError([Problem(source, None, None, "", "YAML error")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root_kind is not None and isinstance(root, ScalarNode) and not isinstance(root, root_kind):
        raise ConfigError([Problem(source, 1, 1, "", f"expected {root_what}, got a single"
                                   " YAML value (the file's text is not shown)")])
    return root


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

    def expected(self, node: Node, path: str, what: str, hint: str = "", *, secret: bool = False) -> None:
        """A problem "expected <what>, got <what the file holds>"; with ``secret``, the value
        itself is not shown (a password)."""
        got = describe_kind(node) if secret else describe(node)
        self.problem(node, path, f"expected {what}, got {got}{hint}")

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

    def table(self, node: Node, path: str, read_key: Callable[[str, Node, str], K | None],
              read_value: Callable[[Node, str], V | None]) -> dict[K, V] | None:
        """A free-form mapping read entry by entry: each key by ``read_key(text, key node,
        entry path)``, each value by ``read_value(value node, entry path)``, both read (so
        every problem is reported); None if any of them is wrong."""
        entries = self.entries(node, path)
        if entries is None:
            return None
        out: dict[K, V] = {}
        ok = True
        for text, key_node, value_node in entries:
            entry = entry_path(path, text)
            key = read_key(text, key_node, entry)
            value = read_value(value_node, entry)
            if key is None or value is None:
                ok = False
                continue
            out[key] = value
        return out if ok else None

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
        if any(value is None for value in values):
            return None
        return [value for value in values if value is not None]

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
        secret: bool = False,
    ) -> str | None:
        """A string (YAML str scalar: numbers, booleans and null are refused).

        ``what`` overrides the generated description of what is expected; with ``secret``
        (a password), problems do not show the value.
        """
        if what is None:
            what = _describe_string(min_length, max_length)
        if not isinstance(node, ScalarNode) or node.tag != TAG_STR:
            hint = " (put it in quotes to make it a string)" if isinstance(node, ScalarNode) else ""
            self.expected(node, path, what, hint, secret=secret)
            return None
        value: str = node.value
        too_long = max_length is not None and len(value) > max_length
        if len(value) < min_length or too_long:
            self.expected(node, path, what, "" if secret else f" ({len(value)} characters)", secret=secret)
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.expected(node, path, what, secret=secret)
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
        if not isinstance(node, ScalarNode) or node.tag != TAG_INT:
            self.expected(node, path, what)
            return None
        value = int(self._scalars.construct_yaml_int(node))
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.expected(node, path, what)
            return None
        if not -MAX_INT - 1 <= value <= MAX_INT:  # SQLite's INTEGER, and floats, end there
            low = -MAX_INT - 1 if minimum is None else minimum
            self.expected(node, path, "an integer" + _describe_range(low, MAX_INT))
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
        what: str | None = None,
    ) -> float | None:
        """A finite number, integer or float; booleans are refused.

        ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive one; ``what``
        overrides the generated description."""
        if what is None:
            what = "a number" + _describe_range(minimum, maximum)
            if above is not None:
                what = f"a number > {_number_text(above)}"
                if maximum is not None:
                    what += f" and <= {_number_text(maximum)}"
        if not isinstance(node, ScalarNode) or node.tag not in (TAG_INT, TAG_FLOAT):
            self.expected(node, path, what)
            return None
        try:
            if node.tag == TAG_INT:
                value = float(self._scalars.construct_yaml_int(node))
            else:
                value = float(self._scalars.construct_yaml_float(node))
        except OverflowError:  # an integer past 1.8e308
            value = math.inf
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
        if not isinstance(node, ScalarNode) or node.tag != TAG_BOOL:
            self.expected(node, path, "true or false")
            return None
        return bool(self._scalars.construct_yaml_bool(node))

    def choice(self, node: Node, path: str, choices: Mapping[str, T], what: str | None = None) -> T | None:
        """One of the names in ``choices`` (a string), with a did-you-mean hint."""
        names = list(choices)
        if what is None:
            what = "one of " + ", ".join(names)
        if not isinstance(node, ScalarNode) or node.tag != TAG_STR:
            self.expected(node, path, what)
            return None
        found = choices.get(node.value)
        if found is None:
            self.expected(node, path, what, did_you_mean(node.value, names))
        return found

    @staticmethod
    def is_null(node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == TAG_NULL

    # -- dataclasses declared by Fields ----------------------------------

    def read_fields(
        self, node: Node | None, path: str, spec: Fields[Any], *, moved: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Node], dict[str, Any]] | None:
        """The mapping at ``node`` checked against ``spec``'s keys (see :meth:`mapping`), then
        each key it gives read with its function: (key -> value node, field -> value).  A value
        is None where there was a problem, and so is a missing required key's (the mapping
        reported it).  Keys the caller reads are left to it."""
        required = spec.required_keys()
        nodes = self.mapping(node, path, required=required, optional=spec.optional_keys(), moved=moved)
        if nodes is None:
            return None
        values: dict[str, Any] = {}
        for key, read in spec.keys.items():
            if read is None:
                continue
            if key in nodes:
                values[spec.field(key)] = read(nodes[key], join_path(path, key))
            elif key in required:
                values[spec.field(key)] = None
        return nodes, values

    @staticmethod
    def build(spec: Fields[R], values: Mapping[str, Any], **more: Any) -> R | None:
        """``spec.cls`` from ``values`` and ``more`` (:data:`NULL` -> None); None when any of
        them is None (a problem already recorded)."""
        given = {**values, **more}
        if any(value is None for value in given.values()):
            return None
        return spec.cls(**{name: None if value is NULL else value for name, value in given.items()})

    def record(self, node: Node | None, path: str, spec: Fields[R], *, moved: Mapping[str, str] | None = None
               ) -> R | None:
        """The dataclass a mapping declares (:class:`Fields`), or None with its problems recorded."""
        read = self.read_fields(node, path, spec, moved=moved)
        return None if read is None else self.build(spec, read[1])

    def nullable(self, read: Callable[[Node, str], T]) -> Callable[[Node, str], T | Null]:
        """``read``, or :data:`NULL` when the value is YAML null (``send_rate: null``)."""

        def inner(node: Node, path: str) -> T | Null:
            return NULL if self.is_null(node) else read(node, path)

        return inner

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


@dataclass(slots=True)
class Seen:
    """First occurrence of a value that must be unique: where, for the message."""

    path: str
    line: int | None


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class FileRefused(Exception):
    """A file that is not read: what is wrong with it, without its content (``str()``)."""


def _refuse_unless_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise FileRefused(f"expected a regular file, got {kind}")


def read_limited(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or :class:`FileRefused`.

    Opening a FIFO for reading blocks until a writer comes, and a device may never end
    (``/dev/zero``), so the kind is checked with ``stat`` before opening, then again on the
    open descriptor (opened with ``O_NONBLOCK``, so even a FIFO swapped in meanwhile cannot
    block), and at most ``limit + 1`` bytes are read (a file may grow after the check).
    """
    try:
        _refuse_unless_regular(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        _refuse_unless_regular(info.st_mode)
        if info.st_size > limit:
            raise FileRefused(f"expected a file of at most {limit} bytes, got {info.st_size} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise FileRefused(f"expected a file of at most {limit} bytes, got more")
    return b"".join(chunks)


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as text, or a ConfigError naming the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError([Problem(source, line, column, "", "file is not valid UTF-8 text")]) from None


def read_text_file(path: str | os.PathLike[str], what: str) -> tuple[str, str]:
    """(source name, UTF-8 text) of a YAML file, or a ConfigError naming the file (and, for
    bad UTF-8, the line and column). `what` names the kind of file in the message.

    Only a regular file of at most ``limits.MAX_FILE_BYTES`` is read (see :func:`read_limited`)."""
    source = os.fspath(path)
    try:
        data = read_limited(source)
    except FileRefused as exc:
        raise ConfigError([Problem(source, None, None, "", f"cannot read {what} file: {exc}")]) from None
    return source, decode_utf8(data, source)
