"""YAML read with positions, so a bad file is reported as ``file:line:column: field: ...``.

``yaml.safe_load`` throws the positions away, so files are composed into a node
tree whose every node keeps its ``start_mark`` and read with :class:`NodeReader`,
which records a :class:`Problem` for everything wrong instead of stopping at the
first.  Nothing here knows the network format: the scenario loader reuses it.
This is the only module that imports ``yaml`` (the node classes are re-exported).
"""

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "ConfigError",
    "MappingNode",
    "Node",
    "NodeReader",
    "Problem",
    "ScalarNode",
    "Seen",
    "SequenceNode",
    "compose",
    "describe",
    "did_you_mean",
    "entry_path",
    "index_path",
    "join_path",
    "read_text_file",
]

T = TypeVar("T")
D = TypeVar("D")

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"


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


@dataclass(slots=True)
class Seen:
    """First occurrence of a value that must be unique: where, for the message."""

    path: str
    line: int | None


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
