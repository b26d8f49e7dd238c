"""The network config as typed, frozen dataclasses.

Values here have already been checked by the reader (types, ranges,
cross-references), so code past :func:`aggregator.config.load_config` can trust them.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from types import MappingProxyType

from aggregator.passwords import Secret
from aggregator.rules.settings import Identity, RulesConfig
from smsc.operators.profile import TEMPORARY_ERRORS, NumberRule, SmscBehaviour, Throughput

__all__ = [
    "CONTROL_TOKEN_MAX",
    "CONTROL_TOKEN_MIN",
    "AccountConfig",
    "ControlConfig",
    "DeliveryConfig",
    "LimitsConfig",
    "ListenConfig",
    "NetworkConfig",
    "OperatorConfig",
    "RoutingConfig",
    "TlsConfig",
    "TrafficClass",
]


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    """Read-only copy keeping insertion order (a dict passed in stays the caller's)."""
    return MappingProxyType(dict(value))


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """A PEM certificate (the server's first, then its chain) and its private key, as read
    and checked when the config was loaded (aggregator.tls): nothing re-reads the files, so
    what was checked is what is served. The PEM bytes stay out of repr (a key)."""

    certificate: str  # the file's path, as resolved from the config file's directory
    key: str
    certificate_pem: bytes = field(default=b"", repr=False)
    key_pem: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """Where the aggregator's own SMPP server listens for client binds: a plain port, and a
    TLS port beside it when `tls` is set (the same server behind both)."""

    host: str = "127.0.0.1"
    port: int = 2775  # 0 = pick a free port
    tls: TlsConfig | None = None  # listen.tls: certificate and key of the TLS port
    tls_port: int = 2777  # listen.tls.port; 0 = pick a free port; used only with `tls`


# A configured control token: the bearer-token alphabet (RFC 6750 §2.1), and at least 16
# characters (about 96 bits: beyond guessing over HTTP). The generated one,
# secrets.token_urlsafe(32), has 43 (256 bits).
CONTROL_TOKEN_MIN = 16
CONTROL_TOKEN_MAX = 1024


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """Where the HTTP control API listens (scenarios, MO injection, runtime faults), and the
    bearer token it requires (docs/control-api.md)."""

    host: str = "127.0.0.1"
    port: int = 2776  # 0 = pick a free port
    # None: `serve` generates one at start-up and writes it to <db>.control.json (mode 0600)
    token: str | None = field(default=None, repr=False)


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
    password: Secret  # `password` (0..8 chars, SMPP max 9 with NUL) or `password_hash`; a str is taken as plain
    max_binds: int = 8
    short_codes: tuple[str, ...] = ()  # short codes / long numbers it owns (digits); MOs to them are its own
    traffic: TrafficClass = TrafficClass.TRANSACTIONAL
    rate: float | None = None  # submit_sm a second the account may send (R14); None = no cap
    burst: int = 10  # submits in a row above `rate` before ESME_RTHROTTLED
    max_pending: int = 100000  # accepted but not yet handed to an operator; ESME_RMSGQFUL beyond
    credit: int | None = None  # SMS segments the account may be billed in all (R10); None = no limit
    # its own rule settings over the network's `rules:` (rule -> key -> value), aggregator/rules
    rules: Mapping[str, Mapping[str, object]] = field(default_factory=_empty_mapping, hash=False)
    identity: Identity | None = None  # company, postal address, contact: R11's CONTACT reply

    def __post_init__(self) -> None:
        object.__setattr__(self, "short_codes", tuple(self.short_codes))
        object.__setattr__(self, "rules", MappingProxyType({k: MappingProxyType(dict(v)) for k, v in self.rules.items()}))
        if isinstance(self.password, str):  # AccountConfig("demo", "demo"), as tests and tools write it
            object.__setattr__(self, "password", Secret.from_plain(self.password))


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
    window: int = 10  # max outstanding requests on each bind of the link, both ways (our submit_sm, its deliver_sm)
    binds: int = 1  # binds the aggregator keeps open to this operator (connector pool)
    send_rate: float | None = None  # submit_sm a second the aggregator sends, whole pool; None = no cap
    temporary_errors: tuple[str, ...] = TEMPORARY_ERRORS  # receipt err codes the aggregator retries
    behaviour: SmscBehaviour = SmscBehaviour()  # what the simulated SMSC does (the `smsc:` block)
    tls: TlsConfig | None = None  # the SMSC listens with TLS, the aggregator dials it with TLS

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
class LimitsConfig:
    """What protects the client-facing SMPP server from a client that misbehaves, on purpose or
    not (docs/reliability.md gives each default and why)."""

    max_connections: int = 1000  # client connections at once (also kept below the fd limit)
    max_connections_per_address: int = 100  # from one source address
    bind_timeout: float = 10.0  # seconds a connection may stay unbound
    frame_timeout: float = 10.0  # seconds a PDU that has begun to arrive may take to be whole
    unread_timeout: float = 30.0  # seconds a client may leave what we send unread before it is cut off
    max_unanswered: int = 5000  # a bind's requests waiting for our answer; ESME_RTHROTTLED beyond
    deliver_window: int = 10  # deliver_sm (receipts, MOs) we keep outstanding on each receiving bind
    failed_binds_per_address: Throughput = Throughput(rate=1.0, burst=10)  # then ESME_RBINDFAIL
    failed_binds_per_system_id: Throughput = Throughput(rate=1.0, burst=20)
    max_uncommitted: int = 20000  # accepted messages waiting for their commit; ESME_RMSGQFUL beyond


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
    limits: LimitsConfig = LimitsConfig()
    rules: RulesConfig = RulesConfig()  # the operator rules' settings, every rule on by default

    def without_rules(self, names: Iterable[str]) -> "NetworkConfig":
        """This network with the rules ``names`` switched off everywhere, as ``enabled: false``
        in its ``rules:`` and in every account's own ``rules:`` would (``run --rule-off``)."""
        network, accounts = self.rules, self.accounts
        for name in names:
            network = replace(network, **{name: replace(getattr(network, name), enabled=False)})
            accounts = tuple(
                replace(a, rules={**a.rules, name: {**a.rules[name], "enabled": False}}) if name in a.rules else a
                for a in accounts)
        return replace(self, rules=network, accounts=accounts)

    def __post_init__(self) -> None:
        object.__setattr__(self, "operators", tuple(self.operators))
        object.__setattr__(self, "accounts", tuple(self.accounts))
        object.__setattr__(self, "test_numbers", tuple(self.test_numbers))
