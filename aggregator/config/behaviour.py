"""The operator behaviour format: each operator's ``smsc:`` block and ``test_numbers``.

Kept apart from the network reader because it is most of the format (delays,
outcomes, number books, replies, faults) and maps onto :mod:`smsc.operators.profile`,
not onto the network dataclasses.
"""

import enum
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
    TAG_FLOAT,
    TAG_INT,
    TAG_NULL,
    TAG_STR,
    MappingNode,
    Node,
    NodeReader,
    ScalarNode,
    Seen,
    SequenceNode,
    _number_text,
    _position,
    _quote,
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

# E.164 numbers have at most 15 digits; a ported entry may be any prefix of one.
_E164_PREFIX = re.compile(r"\+[0-9]{1,15}")
_E164_PREFIX_WHAT = "an E.164 number or prefix: '+' followed by 1 to 15 digits"

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

    def seconds(self, node: Node, path: str) -> float | None:
        """A duration in seconds > 0, at most ``limits.MAX_SECONDS`` (366 days)."""
        return self.r.number(node, path, above=0, maximum=MAX_SECONDS)

    def seconds0(self, node: Node, path: str) -> float | None:
        """A duration in seconds >= 0, at most ``limits.MAX_SECONDS`` (366 days)."""
        return self.r.number(node, path, minimum=0, maximum=MAX_SECONDS)

    def rate(self, node: Node, path: str) -> float | None:
        """Messages a second > 0, at most ``limits.MAX_RATE``."""
        return self.r.number(node, path, above=0, maximum=MAX_RATE)

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
        if isinstance(node, ScalarNode) and node.tag != TAG_STR and node.tag != TAG_NULL:
            self.r.expected(node, path, what, " (unquoted, YAML reads 034 as a number)")
            return None
        return self.r.string(node, path, pattern=_ERR_CODE, what=what)

    def err_codes(self, node: Node, path: str) -> tuple[str, ...] | None:
        codes = self.r.items(node, path, self.err_code)
        return None if codes is None else tuple(codes)

    def delay(self, node: Node, path: str) -> Delay | None:
        """A delay distribution; a bare number is ``{fixed: N}``."""
        r = self.r
        if isinstance(node, ScalarNode) and node.tag in (TAG_INT, TAG_FLOAT):
            seconds = self.seconds0(node, path)
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
            seconds = self.seconds0(value, at)
            return None if seconds is None else Fixed(seconds)
        if kind == "uniform":
            return self._uniform(value, at)
        if kind == "exponential":
            params = r.mapping(value, at, required=("mean",))
            if params is None:
                return None
            mean = r.required(params, "mean", at, self.seconds0)
            return None if mean is None else Exponential(mean)
        params = r.mapping(value, at, required=("median", "p99"))
        if params is None:
            return None
        median = r.required(params, "median", at, self.seconds)
        p99 = r.required(params, "p99", at, self.seconds)
        if median is None or p99 is None:
            return None
        if p99 < median:
            r.expected(params["p99"], join_path(at, "p99"), f"a number >= the median ({_number_text(median)})")
            return None
        return LogNormal(median, p99)

    def _uniform(self, node: Node, path: str) -> Uniform | None:
        what = f"a list [LOW, HIGH] of two numbers from 0 to {MAX_SECONDS} with LOW <= HIGH"
        r = self.r
        if not isinstance(node, SequenceNode) or len(node.value) != 2:
            r.expected(node, path, what)
            return None
        low = self.seconds0(node.value[0], index_path(path, 0))
        high = self.seconds0(node.value[1], index_path(path, 1))
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
        rate = r.required(fields, "rate", path, self.rate)
        burst = r.required(fields, "burst", path, partial(r.integer, minimum=1, maximum=MAX_BURST))
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
        validity = opt("validity", path, self.seconds, d.validity)
        country_code = opt(
            "country_code",
            path,
            partial(r.string, pattern=_COUNTRY_CODE, what='a country calling code in quotes, e.g. "33"'),
            d.country_code,
        )
        throughput = opt("throughput", path, self.throughput, d.throughput or _NULL)
        per_bind = opt("per_bind", path, self.throughput, d.per_bind or _NULL)
        max_binds = opt("max_binds", path, partial(r.integer, minimum=1, maximum=MAX_OPERATOR_BINDS), d.max_binds)
        window = opt("window", path, partial(r.integer, minimum=1, maximum=MAX_WINDOW), d.window)
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
        weight = r.required(fields, "weight", path, partial(r.number, above=0, maximum=MAX_WEIGHT))
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
        seen: dict[str, Seen] = {}
        read = self.r.items(node, path, partial(self.range_rule, seen=seen))
        return None if read is None else tuple(read)

    def range_rule(self, node: Node, path: str, seen: dict[str, Seen]) -> RangeRule | None:
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
                seen[prefix] = Seen(join_path(path, "prefix"), _position(fields["prefix"])[0])
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
        back_after = r.optional(fields, "back_after", path, self.nullable(self.seconds0), _NULL)
        delay = r.optional(fields, "delay", path, self.seconds0, _NULL)
        submit_status = r.optional(fields, "submit_status", path, self.status, _NULL)
        receipt = r.optional(fields, "receipt", path, r.boolean, d.receipt)
        reply = r.optional(fields, "reply", path, self.reply, _NULL)
        throttle_every = r.optional(
            fields, "throttle_every", path, partial(r.integer, minimum=0, maximum=MAX_THROTTLE_EVERY), d.throttle_every
        )
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
        start = r.required(fields, "start", path, self.seconds0)
        duration = r.required(fields, "duration", path, self.seconds)
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
