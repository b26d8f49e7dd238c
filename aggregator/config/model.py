"""The network config as typed, frozen dataclasses.

Values here have already been checked by the reader (types, ranges,
cross-references), so code past :func:`aggregator.config.load_config` can trust them.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aggregator.passwords import Secret
from smsc.operators.profile import TEMPORARY_ERRORS, NumberRule, SmscBehaviour

__all__ = [
    "AccountConfig",
    "ControlConfig",
    "DeliveryConfig",
    "ListenConfig",
    "NetworkConfig",
    "OperatorConfig",
    "RoutingConfig",
    "TrafficClass",
]


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
    password: Secret  # `password` (0..8 chars, SMPP max 9 with NUL) or `password_hash`; a str is taken as plain
    max_binds: int = 8
    short_codes: tuple[str, ...] = ()  # short codes / long numbers it owns (digits); MOs to them are its own
    traffic: TrafficClass = TrafficClass.TRANSACTIONAL
    rate: float | None = None  # submit_sm a second the account may send (R14); None = no cap
    burst: int = 10  # submits in a row above `rate` before ESME_RTHROTTLED
    max_pending: int = 100000  # accepted but not yet handed to an operator; ESME_RMSGQFUL beyond
    credit: int | None = None  # SMS segments the account may be billed in all (R10); None = no limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "short_codes", tuple(self.short_codes))
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
