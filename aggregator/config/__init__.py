"""Network configuration: a YAML file turned into typed, frozen dataclasses.

The config is checked once, at the edge of the program, and a bad file stops
start-up with every problem as ``file:line:column: field.path: expected ..., got ...``.

- :mod:`~aggregator.yamlreader`: YAML with positions (:func:`compose`,
  :class:`NodeReader`, :class:`ConfigError`); generic, reused by the scenario loader.
- :mod:`~aggregator.config.model`: the config dataclasses (:class:`NetworkConfig` ...).
- :mod:`~aggregator.config.network`: the network format; :func:`load_config`, :func:`parse_config`.
- :mod:`~aggregator.config.behaviour`: each operator's ``smsc:`` block.

Each section is declared once: a :class:`~aggregator.yamlreader.Fields` table in its
reader lists the keys (in reading order) and how each value is read; the
dataclass in ``model`` (or :mod:`smsc.operators.profile`) gives types and defaults, and
:meth:`NodeReader.record <aggregator.yamlreader.NodeReader.record>` checks, reads and
builds it.
"""

from aggregator.config.model import (
    CONTROL_TOKEN_MAX,
    CONTROL_TOKEN_MIN,
    AccountConfig,
    ControlConfig,
    DeliveryConfig,
    LimitsConfig,
    ListenConfig,
    NetworkConfig,
    OperatorConfig,
    RoutingConfig,
    TlsConfig,
    TrafficClass,
)
from aggregator.config.network import (
    ACCOUNT_OPTIONAL,
    ACCOUNT_REQUIRED,
    NetworkReader,
    load_bench_config,
    load_config,
    parse_config,
)
from aggregator.yamlreader import (
    ConfigError,
    MappingNode,
    Node,
    NodeReader,
    Problem,
    ScalarNode,
    Seen,
    SequenceNode,
    compose,
    index_path,
    join_path,
    read_text_file,
)

__all__ = [
    "ACCOUNT_OPTIONAL",
    "ACCOUNT_REQUIRED",
    "CONTROL_TOKEN_MAX",
    "CONTROL_TOKEN_MIN",
    "AccountConfig",
    "ConfigError",
    "ControlConfig",
    "DeliveryConfig",
    "LimitsConfig",
    "ListenConfig",
    "MappingNode",
    "NetworkConfig",
    "NetworkReader",
    "Node",
    "NodeReader",
    "OperatorConfig",
    "Problem",
    "RoutingConfig",
    "ScalarNode",
    "Seen",
    "TlsConfig",
    "SequenceNode",
    "TrafficClass",
    "compose",
    "index_path",
    "join_path",
    "load_bench_config",
    "load_config",
    "parse_config",
    "read_text_file",
]
