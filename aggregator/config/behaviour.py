"""The operator behaviour format: each operator's ``smsc:`` block and ``test_numbers``.

Kept apart from the network reader because it is most of the format (delays,
outcomes, number books, replies, faults) and maps onto :mod:`smsc.operators.profile`,
not onto the network dataclasses.
"""

import re
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TypeVar

from aggregator.limits import (
    MAX_BURST,
    MAX_OPERATOR_BINDS,
    MAX_RATE,
    MAX_SECONDS,
    MAX_THROTTLE_EVERY,
    MAX_WEIGHT,
    MAX_WINDOW,
)
from aggregator.yamlreader import (
    NULL,
    TAG_FLOAT,
    TAG_INT,
    TAG_NULL,
    TAG_STR,
    Fields,
    MappingNode,
    Node,
    NodeReader,
    Null,
    ScalarNode,
    Seen,
    SequenceNode,
    _number_text,
    _position,
    _quote,
    by_value,
    entry_path,
    index_path,
    join_path,
)
from smsc.operators.profile import (
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

T = TypeVar("T")

# E.164 (ITU-T E.164 §6): a number is a country code of 1 to 3 digits and the national
# number, at most 15 digits in all, so a whole number has at least 2 (a country code alone
# is no subscriber).  A prefix (ported entries, subscriber ranges) may be any prefix of one,
# the country code's first digit included.  The scenario loader takes these too (MO senders,
# listed populations), so a number means the same in a network and in a scenario.
E164_NUMBER = re.compile(r"\+[0-9]{2,15}")
E164_NUMBER_WHAT = "an E.164 number: '+' followed by 2 to 15 digits"
E164_PREFIX = re.compile(r"\+[0-9]{1,15}")
E164_PREFIX_WHAT = "an E.164 number or prefix: '+' followed by 1 to 15 digits"

_DELAY_KINDS = ("fixed", "uniform", "exponential", "lognormal")
_DELAY_WHAT = (
    "a delay: a number of seconds >= 0, or one of {fixed: S}, {uniform: [LOW, HIGH]},"
    " {exponential: {mean: M}}, {lognormal: {median: M, p99: P}}"
)
_RANGE_SHARES = ("unknown", "absent", "terminated", "barred")
_ERR_CODE = re.compile(r"[0-9]{3}")
_ERR_WHAT = 'a 3-digit receipt error code in quotes, e.g. "034"'
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
# Error statuses an operator may answer with (never ESME_ROK), by their SMPP 3.4 names.
_STATUSES: Mapping[str, CommandStatus] = MappingProxyType(
    {status.name: status for status in CommandStatus if status is not CommandStatus.ESME_ROK}
)
_STATUS_WHAT = "an SMPP 3.4 command_status name, e.g. ESME_RTHROTTLED"
_STATES: Mapping[str, SubscriberState] = by_value(SubscriberState)
_STATS: Mapping[str, Stat] = by_value(Stat)
_UNKNOWN_SIGNALS: Mapping[str, UnknownSignal] = by_value(UnknownSignal)
_OUTAGE_MODES: Mapping[str, OutageMode] = by_value(OutageMode)


def _adding_up(total: float) -> str:
    return f" (they add up to {_number_text(round(total, 6))})"


class _BehaviourReader:
    """Reads an operator's ``smsc:`` block and number books; problems land in ``self.reader``."""

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader

    # -- small values ----------------------------------------------------

    def seconds(self, node: Node, path: str) -> float | None:
        """A duration in seconds > 0, at most ``limits.MAX_SECONDS`` (366 days)."""
        return self.reader.number(node, path, above=0, maximum=MAX_SECONDS)

    def seconds0(self, node: Node, path: str) -> float | None:
        """A duration in seconds >= 0, at most ``limits.MAX_SECONDS`` (366 days)."""
        return self.reader.number(node, path, minimum=0, maximum=MAX_SECONDS)

    def rate(self, node: Node, path: str) -> float | None:
        """Messages a second > 0, at most ``limits.MAX_RATE``."""
        return self.reader.number(node, path, above=0, maximum=MAX_RATE)

    def percent(self, node: Node, path: str) -> float | None:
        return self.reader.number(node, path, minimum=0, maximum=100)

    def nullable(self, read: Callable[[Node, str], T]) -> Callable[[Node, str], T | Null]:
        """``read``, or ``NULL`` when the value is YAML null (``send_rate: null``)."""
        return self.reader.nullable(read)

    def status(self, node: Node, path: str) -> CommandStatus | None:
        return self.reader.choice(node, path, _STATUSES, _STATUS_WHAT)

    def err_code(self, node: Node, path: str) -> str | None:
        what = _ERR_WHAT
        if isinstance(node, ScalarNode) and node.tag != TAG_STR and node.tag != TAG_NULL:
            self.reader.expected(node, path, what, " (unquoted, YAML reads 034 as a number)")
            return None
        return self.reader.string(node, path, pattern=_ERR_CODE, what=what)

    def err_codes(self, node: Node, path: str) -> tuple[str, ...] | None:
        codes = self.reader.items(node, path, self.err_code)
        return None if codes is None else tuple(codes)

    def delay(self, node: Node, path: str) -> Delay | None:
        """A delay distribution; a bare number is ``{fixed: N}``."""
        reader = self.reader
        if isinstance(node, ScalarNode) and node.tag in (TAG_INT, TAG_FLOAT):
            seconds = self.seconds0(node, path)
            return None if seconds is None else Fixed(seconds)
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            pairs = node.value if isinstance(node, MappingNode) else []
            keys = [key.value for key, _ in pairs if isinstance(key, ScalarNode)]
            hint = f" (with keys {', '.join(keys)})" if len(keys) > 1 else ""
            reader.expected(node, path, _DELAY_WHAT, hint)
            return None
        fields = reader.mapping(node, path, optional=_DELAY_KINDS)
        if fields is None or not fields:
            return None
        kind, value = next(iter(fields.items()))
        at = join_path(path, kind)
        if kind == "fixed":
            seconds = self.seconds0(value, at)
            return None if seconds is None else Fixed(seconds)
        if kind == "uniform":
            return self._uniform(value, at)
        if kind == "exponential":
            return reader.record(value, at, Fields(Exponential, {"mean": self.seconds0}))
        lognormal = Fields(LogNormal, {"median": self.seconds, "p99": self.seconds})
        read = reader.read_fields(value, at, lognormal)
        if read is None:
            return None
        params, values = read
        median, p99 = values["median"], values["p99"]
        if median is None or p99 is None:
            return None
        if p99 < median:
            reader.expected(params["p99"], join_path(at, "p99"), f"a number >= the median ({_number_text(median)})")
            return None
        return reader.build(lognormal, values)

    def _uniform(self, node: Node, path: str) -> Uniform | None:
        what = f"a list [LOW, HIGH] of two numbers from 0 to {MAX_SECONDS} with LOW <= HIGH"
        reader = self.reader
        if not isinstance(node, SequenceNode) or len(node.value) != 2:
            reader.expected(node, path, what)
            return None
        low = self.seconds0(node.value[0], index_path(path, 0))
        high = self.seconds0(node.value[1], index_path(path, 1))
        if low is None or high is None:
            return None
        if high < low:
            reader.expected(node, path, what, f" (LOW {_number_text(low)} > HIGH {_number_text(high)})")
            return None
        return Uniform(low, high)

    def throughput(self, node: Node, path: str) -> Throughput | Null | None:
        reader = self.reader
        if reader.is_null(node):
            return NULL
        return reader.record(node, path, Fields(Throughput, {
            "rate": self.rate,
            "burst": partial(reader.integer, minimum=1, maximum=MAX_BURST),
        }))

    # -- the smsc block --------------------------------------------------

    def smsc(self, node: Node, path: str) -> SmscBehaviour | None:
        """An operator's ``smsc:`` block; the defaults are SmscBehaviour's."""
        reader = self.reader
        return reader.record(node, path, Fields(SmscBehaviour, {
            "receipt_delay": self.delay,
            "validity": self.seconds,
            "country_code": partial(reader.string, pattern=_COUNTRY_CODE,
                                    what='a country calling code in quotes, e.g. "33"'),
            "throughput": self.throughput,  # null: no cap
            "per_bind": self.throughput,
            "max_binds": partial(reader.integer, minimum=1, maximum=MAX_OPERATOR_BINDS),
            "window": partial(reader.integer, minimum=1, maximum=MAX_WINDOW),
            "throttled_status": self.status,
            "queue_full_status": self.status,
            "unknown_status": self.status,
            "unknown_subscriber": partial(reader.choice, choices=_UNKNOWN_SIGNALS),
            "outcomes": self.outcomes,
            "submit_errors": self.submit_errors,
            "subscribers": self.ranges,
            "numbers": self.numbers,
            "replies": self.replies,
            "faults": self.faults,
        }))

    def outcomes(self, node: Node, path: str) -> tuple[Outcome, ...] | None:
        read = self.reader.items(node, path, self.outcome)
        if read is None:
            return None
        if not read:
            self.reader.expected(node, path, "a list of at least one outcome")
            return None
        return tuple(read)

    def outcome(self, node: Node, path: str) -> Outcome | None:
        reader = self.reader
        return reader.record(node, path, Fields(Outcome, {
            "stat": partial(reader.choice, choices=_STATS),
            "err": self.err_code,
            "weight": partial(reader.number, above=0, maximum=MAX_WEIGHT),
        }, required=("stat", "weight")))  # a weight in every outcome: shares are weights over their sum

    def submit_errors(self, node: Node, path: str) -> tuple[SubmitError, ...] | None:
        return self._shares(node, path, self.submit_error, lambda error: error.weight,
                            "shares (weight, percent of submits)")

    def _shares(self, node: Node, path: str, read_one: Callable[[Node, str], T | None],
                share_of: Callable[[T], float], what: str) -> tuple[T, ...] | None:
        """A list of items that each take a percent share: the shares add up to at most 100."""
        read = self.reader.items(node, path, read_one)
        if read is None:
            return None
        total = sum(share_of(item) for item in read)
        if total > 100:
            self.reader.expected(node, path, f"{what} adding up to at most 100", _adding_up(total))
            return None
        return tuple(read)

    def submit_error(self, node: Node, path: str) -> SubmitError | None:
        return self.reader.record(node, path, Fields(SubmitError, {"status": self.status, "weight": self.percent}))

    def ranges(self, node: Node, path: str) -> tuple[RangeRule, ...] | None:
        seen: dict[str, Seen] = {}
        read = self.reader.items(node, path, partial(self.range_rule, seen=seen))
        return None if read is None else tuple(read)

    def range_rule(self, node: Node, path: str, seen: dict[str, Seen]) -> RangeRule | None:
        reader = self.reader
        spec = Fields(RangeRule, {
            "prefix": partial(self.range_prefix, seen=seen),
            "state": partial(reader.choice, choices=_STATES),  # the whole range, or shares:
            **{share: self.percent for share in _RANGE_SHARES},
            "absent_back_after": self.nullable(self.delay),  # null: an absent number never comes back
        })
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        if any(value is None for value in values.values()):
            return None
        given = [key for key in _RANGE_SHARES if key in fields]
        if values.get("state") is not None and given:
            reader.problem(
                fields[given[0]],
                join_path(path, given[0]),
                "give either a state for the whole range or shares, not both",
            )
            return None
        total = sum(values.get(key, 0.0) for key in _RANGE_SHARES)
        if total > 100:
            what = "shares of unknown, absent, terminated and barred adding up to at most 100"
            reader.expected(node, path, what, _adding_up(total))
            return None
        return reader.build(spec, values)

    def range_prefix(self, node: Node, path: str, seen: dict[str, Seen]) -> str | None:
        """A subscriber range's prefix, given once per operator."""
        prefix = self.reader.string(node, path, pattern=E164_PREFIX, what=E164_PREFIX_WHAT)
        if prefix is None:
            return None
        first = seen.get(prefix)
        if first is not None:
            self.reader.problem(node, path,
                                f"duplicate prefix {_quote(prefix)}, already given at {first.path} (line {first.line})")
            return None
        seen[prefix] = Seen(path, _position(node)[0])
        return prefix

    def numbers(self, node: Node, path: str) -> tuple[NumberRule, ...] | None:
        """``"+33699990001": unknown`` or ``"+33699990002": {state: absent, back_after: 300}``."""
        entries = self.reader.entries(node, path)
        if entries is None:
            return None
        rules: list[NumberRule] = []
        ok = True
        for msisdn, key_node, value_node in entries:
            entry = entry_path(path, msisdn)
            if not isinstance(key_node, ScalarNode) or not E164_NUMBER.fullmatch(msisdn):
                self.reader.expected(key_node, entry, E164_NUMBER_WHAT)
                ok = False
                continue
            rule = self.number_rule(value_node, entry, msisdn)
            if rule is None:
                ok = False
                continue
            rules.append(rule)
        return tuple(rules) if ok else None

    def number_rule(self, node: Node, path: str, msisdn: str) -> NumberRule | None:
        reader = self.reader
        if isinstance(node, ScalarNode):
            what = "a subscriber state (one of " + ", ".join(_STATES) + ") or a mapping"
            state = reader.choice(node, path, _STATES, what)
            return None if state is None else NumberRule(msisdn, state)
        spec = Fields(NumberRule, {
            "state": partial(reader.choice, choices=_STATES),
            "back_after": self.nullable(self.seconds0),  # state absent only
            "delay": self.seconds0,
            "submit_status": self.status,
            "receipt": reader.boolean,
            "reply": self.reply,
            "throttle_every": partial(reader.integer, minimum=0, maximum=MAX_THROTTLE_EVERY),
        })
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        if any(value is None for value in values.values()):
            return None
        if values.get("throttle_every") == 1:
            reader.expected(fields["throttle_every"], join_path(path, "throttle_every"), "0 (never) or an integer >= 2")
            return None
        if "back_after" in fields and values.get("state", spec.default("state")) is not SubscriberState.ABSENT:
            reader.problem(fields["back_after"], join_path(path, "back_after"), "only applies to state absent")
            return None
        return reader.build(spec, values, msisdn=msisdn)

    def replies(self, node: Node, path: str) -> tuple[Reply, ...] | None:
        return self._shares(node, path, self.reply, lambda reply: reply.share,
                            "reply shares (percent of delivered messages)")

    def reply(self, node: Node, path: str) -> Reply | None:
        reader = self.reader
        spec = Fields(Reply, {
            "keyword": None,  # exactly one of keyword and text: the MO's text
            "text": None,
            "share": self.percent,
            "delay": self.delay,
            "alphanumeric_sender_only": reader.boolean,
        })
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        given = [key for key in ("keyword", "text") if key in fields]
        if len(given) != 1:
            where = fields[given[1]] if len(given) == 2 else node
            reader.problem(where, path, "give exactly one of keyword or text")
            text: str | None = None
        else:
            text = reader.required(fields, given[0], path, partial(reader.string, min_length=1, max_length=160))
        return reader.build(spec, values, text=text)

    def faults(self, node: Node, path: str) -> Faults | None:
        return self.reader.record(node, path, Fields(Faults, {
            "outages": self.outages,
            "slow_responses": self.slow_responses,
            "receipt_loss": self.percent,
        }))

    def outages(self, node: Node, path: str) -> tuple[Outage, ...] | None:
        read = self.reader.items(node, path, self.outage)
        return None if read is None else tuple(read)

    def outage(self, node: Node, path: str) -> Outage | None:
        reader = self.reader
        return reader.record(node, path, Fields(Outage, {
            "start": self.seconds0,
            "duration": self.seconds,
            "mode": partial(reader.choice, choices=_OUTAGE_MODES),
        }))

    def slow_responses(self, node: Node, path: str) -> SlowResponses | None:
        return self.reader.record(node, path, Fields(SlowResponses, {"share": self.percent, "delay": self.delay}))
