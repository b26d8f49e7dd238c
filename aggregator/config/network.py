"""The network config format: the YAML document read into a :class:`NetworkConfig`.

Checks each section and the cross-references between them (operator ids,
carriers, short codes, routing); operators' ``smsc:`` blocks are read by
:mod:`aggregator.config.behaviour`.  :func:`load_config` is the entry point.
"""

import os
import re
from pathlib import Path
from collections.abc import Callable, Mapping
from functools import partial
from importlib import resources
from types import MappingProxyType

from aggregator.config.rules import RulesReader
from aggregator.config.behaviour import E164_PREFIX, E164_PREFIX_WHAT, _BehaviourReader
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
from aggregator.limits import (
    MAX_ACCOUNT_BINDS,
    MAX_BURST,
    MAX_OPERATOR_BINDS,
    MAX_PENDING,
    MAX_RETRY_FACTOR,
    MAX_WINDOW,
)
from aggregator.passwords import FORMATS as _HASH_FORMATS
from aggregator.passwords import Secret
from aggregator.tls import TlsProblem, check_key, check_names, read_certificates, read_pem
from aggregator.yamlreader import (
    NULL,
    TAG_INT,
    TAG_STR,
    ConfigError,
    Fields,
    MappingNode,
    Node,
    NodeReader,
    Problem,
    ScalarNode,
    Seen,
    _describe_string,
    _number_text,
    _position,
    _quote,
    by_value,
    compose,
    did_you_mean,
    index_path,
    join_path,
    read_text_file,
)
from smsc.operators.profile import Throughput

__all__ = [
    "ACCOUNT_OPTIONAL",
    "ACCOUNT_REQUIRED",
    "BENCH_NETWORK_RESOURCE",
    "DEFAULT_NETWORK_RESOURCE",
    "NetworkReader",
    "load_bench_config",
    "load_config",
    "parse_config",
]


DEFAULT_NETWORK_RESOURCE = "default_network.yaml"
# `serve --bench` and `sink` (issue 13): the French network with caps, faults and failures off.
BENCH_NETWORK_RESOURCE = "bench_network.yaml"

# SMPP 3.4 C-Octet strings: system_id is at most 16 octets and password at most
# 9, both including the terminating NUL.
_SYSTEM_ID_MAX = 15
PASSWORD_MAX = 8
_OPERATOR_ID = re.compile(r"[a-z0-9_-]+")
_REGION = re.compile(r"[A-Z]{2}")
SMPP_TEXT = re.compile(r"[\x01-\x7f]*")

# A `tls:` block: two PEM files read together (listen.tls also takes the TLS port).
_TLS_REQUIRED = ("certificate", "key")
_LISTEN_TLS_OPTIONAL = ("port",)
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_PORT_ORDER = MappingProxyType({"listen": 0, "control": 1})
_OPERATOR_MOVED: Mapping[str, str] = MappingProxyType({"receipt_delay": "smsc.receipt_delay"})
_SHORT_CODE = re.compile(r"[0-9]{1,15}")
_TRAFFIC: Mapping[str, TrafficClass] = by_value(TrafficClass)


class NetworkReader:
    """Walks one network config document; all problems land in ``self.reader``."""

    def __init__(self, source: str) -> None:
        self.reader = NodeReader(source)
        self.operator_ids: dict[str, Seen] = {}
        self.operator_ids_complete = True
        self.carriers: dict[str, tuple[str, Seen]] = {}
        self.short_codes: dict[str, tuple[str, Seen]] = {}
        self.behaviour = _BehaviourReader(self.reader)
        self.rules = RulesReader(self.reader)
        self._tls_port_node: Node | None = None  # where listen.tls.port was given (or its block)
        # Every fixed port the file asks for, in file order: (path, node or None if a default, port).
        self.ports: list[tuple[str, Node | None, int]] = []

    # -- helpers ---------------------------------------------------------

    def _host(self, node: Node, path: str) -> str | None:
        return self.reader.string(node, path, min_length=1)

    def _port(self, node: Node, path: str) -> int | None:
        return self.reader.integer(node, path, minimum=0, maximum=65535)

    def _note_port(self, fields: Mapping[str, Node], path: str, port: int) -> None:
        if port:
            self.ports.append((join_path(path, "port"), fields.get("port"), port))

    def check_ports(self) -> None:
        """Each non-zero port once, among listen, control and the operators' SMSCs, whatever the
        host: two listeners on one port cannot both start (and an operator on the client port
        would take the clients' binds)."""
        first: dict[int, tuple[str, Node | None]] = {}
        # In the order of the format (a default is noted once its section is known absent):
        # listen, control, then the operators; the first one keeps the port.
        for path, node, port in sorted(self.ports, key=lambda noted: _PORT_ORDER.get(noted[0].split(".")[0], 2)):
            if port not in first:
                first[port] = (path, node)
                continue
            other, other_node = first[port]
            where = f"{other} (line {_position(other_node)[0]})" if other_node is not None else f"{other} (the default)"
            self.reader.problem(node, path,
                                f"port {port} is already used by {where}; give another, or 0 for a free one")

    def _smpp_string(self, node: Node, path: str, *, min_length: int, max_length: int,
                     secret: bool = False) -> str | None:
        what = _describe_string(min_length, max_length, "ASCII characters (no NUL)")
        return self.reader.string(
            node, path, min_length=min_length, max_length=max_length, pattern=SMPP_TEXT, what=what, secret=secret
        )

    def _system_id(self, node: Node, path: str) -> str | None:
        return self._smpp_string(node, path, min_length=1, max_length=_SYSTEM_ID_MAX)

    def _password(self, node: Node, path: str) -> str | None:
        return self._smpp_string(node, path, min_length=0, max_length=PASSWORD_MAX, secret=True)

    # -- sections --------------------------------------------------------

    # Each section is declared once, by a Fields table below (key -> how its value is read,
    # in reading order); types and defaults are the dataclasses' in aggregator.config.model.

    def document(self, root: Node | None) -> NetworkConfig | None:
        reader = self.reader
        behaviour = self.behaviour
        spec = Fields(NetworkConfig, {
            "listen": self.listen,
            "control": self.control,
            "seed": partial(reader.integer, minimum=0),
            "delivery": self.delivery,
            "operators": self.operators,
            "accounts": self.accounts,
            "routing": self.routing,  # after operators: it names them
            "test_numbers": behaviour.numbers,
            "limits": self.limits,
            "rules": self.rules.network,
        }, required=("operators", "accounts"))
        read = reader.read_fields(root, "", spec)
        if read is None:
            return None
        top, values = read
        # NetworkConfig takes these two first, positionally, so they have no default there.
        values.setdefault("listen", ListenConfig())
        values.setdefault("routing", RoutingConfig())
        if "listen" not in top:
            self._note_port({}, "listen", ListenConfig().port)
        if "control" not in top:
            self._note_port({}, "control", ControlConfig().port)
        listen, control = values["listen"], values.get("control", ControlConfig())
        if listen is not None and control is not None:
            self._tls_port_free(listen, control)
        self.check_ports()
        return reader.build(spec, values, source=reader.source)

    def limits(self, node: Node, path: str) -> LimitsConfig | None:
        reader = self.reader
        count = partial(reader.integer, minimum=1, maximum=1_000_000)
        seconds = partial(reader.number, above=0, maximum=3600)
        return reader.record(node, path, Fields(LimitsConfig, {
            "max_connections": count,
            "max_connections_per_address": count,
            "bind_timeout": seconds,
            "frame_timeout": seconds,
            "unread_timeout": seconds,
            "max_unanswered": count,
            "deliver_window": partial(reader.integer, minimum=1, maximum=MAX_WINDOW),
            "failed_binds_per_address": self._bind_rate,
            "failed_binds_per_system_id": self._bind_rate,
            "max_uncommitted": count,
        }))

    def _bind_rate(self, node: Node, path: str) -> Throughput | None:
        """A throughput that cannot be switched off (null)."""
        if self.reader.is_null(node):
            self.reader.expected(node, path, "{rate: R, burst: B}")
            return None
        value = self.behaviour.throughput(node, path)
        return None if value is NULL else value

    def control(self, node: Node, path: str) -> ControlConfig | None:
        spec = Fields(ControlConfig, {
            "host": self._host,
            "port": self._port,
            "token": self._token,  # absent: serve generates one
        })
        read = self.reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        config = self.reader.build(spec, values)
        if config is not None:
            self._note_port(fields, path, config.port)
        return config

    def _token(self, node: Node, path: str) -> str | None:
        """The control API's bearer token (docs/control-api.md). An error never shows its value:
        it is a secret, and a config error may end up in a CI log."""
        what = (f"a token of {CONTROL_TOKEN_MIN} to {CONTROL_TOKEN_MAX} characters of A-Z a-z 0-9 - . _ ~ + / "
                "(then '=' padding)")
        if not isinstance(node, ScalarNode) or node.tag != TAG_STR:
            self.reader.problem(node, path, f"expected {what}, got something that is not a string (put it in quotes)")
            return None
        value: str = node.value
        if not _TOKEN.fullmatch(value):
            self.reader.problem(node, path, f"expected {what}, got characters outside that alphabet")
            return None
        if not CONTROL_TOKEN_MIN <= len(value) <= CONTROL_TOKEN_MAX:
            self.reader.problem(node, path, f"expected {what}, got {len(value)} characters")
            return None
        return value

    def delivery(self, node: Node, path: str) -> DeliveryConfig | None:
        reader = self.reader
        seconds = self.behaviour.seconds
        spec = Fields(DeliveryConfig, {
            "validity": seconds,
            "retry_initial": seconds,
            "retry_max": seconds,  # >= retry_initial
            "retry_factor": partial(reader.number, minimum=1, maximum=MAX_RETRY_FACTOR),
        })
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        config = reader.build(spec, values)
        if config is None:
            return None
        if config.retry_max < config.retry_initial:
            where = fields.get("retry_max") or fields.get("retry_initial") or node
            reader.expected(where, join_path(path, "retry_max"),
                       f"a number >= retry_initial ({_number_text(config.retry_initial)})")
            return None
        return config

    def listen(self, node: Node, path: str) -> ListenConfig | None:
        """`{host, port}`, and `tls: {port, certificate, key}` for a TLS port beside the plain one."""
        reader = self.reader
        spec = Fields(ListenConfig, {
            "host": self._host,
            "port": self._port,
            "tls": None,  # {certificate, key, port}: sets tls and tls_port
        })
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        port = values.get("port", spec.default("port"))
        if port is not None:
            self._note_port(fields, path, port)
        if "tls" in fields:
            tls_path = join_path(path, "tls")
            tls_fields = reader.mapping(fields["tls"], tls_path, required=_TLS_REQUIRED, optional=_LISTEN_TLS_OPTIONAL)
            if tls_fields is None:
                return None
            tls_port = reader.optional(tls_fields, "port", tls_path, self._port, spec.default("tls_port"))
            self._tls_port_node = tls_fields.get("port") or fields["tls"]
            files = self.tls_files(tls_fields, tls_path, dialled_host=None)
            if tls_port is None or files is None:
                return None
            values.update(tls=files, tls_port=tls_port)
        return reader.build(spec, values)

    def _tls_port_free(self, listen: ListenConfig, control: ControlConfig) -> None:
        """The TLS port cannot be the plain port, nor the control API's on the same host (0 is
        a new free port each time, so it never clashes)."""
        node = self._tls_port_node
        if listen.tls is None or listen.tls_port == 0 or node is None:
            return
        clash = None
        if listen.tls_port == listen.port:
            clash = "listen.port"
        elif listen.tls_port == control.port and listen.host == control.host:
            clash = "control.port"
        if clash is not None:
            self.reader.expected(node, "listen.tls.port", f"a port other than {clash} ({listen.tls_port})")

    def tls_files(self, fields: Mapping[str, Node], path: str, *, dialled_host: str | None) -> TlsConfig | None:
        """`certificate` and `key`: PEM files, relative to this config file's directory, read
        and checked now (aggregator.tls). With `dialled_host`, the certificate must name that
        host, which the aggregator checks at every handshake when it dials."""
        reader = self.reader
        cert_node, key_node = fields.get("certificate"), fields.get("key")
        if cert_node is None or key_node is None:      # reported by mapping()
            return None
        cert_field, key_field = join_path(path, "certificate"), join_path(path, "key")
        what = "a path to a PEM file"
        cert_file = self._file_path(cert_node, cert_field, what)
        key_file = self._file_path(key_node, key_field, what)
        if cert_file is None or key_file is None:
            return None
        try:
            cert_pem = read_pem(cert_file, "certificate")
            certificates = read_certificates(cert_pem, cert_file)
        except TlsProblem as problem:
            reader.problem(cert_node, cert_field, str(problem))
            return None
        try:
            key_pem = read_pem(key_file, "key")
            check_key(key_pem, key_file, certificates[0], cert_file)
        except TlsProblem as problem:
            reader.problem(key_node, key_field, str(problem))
            return None
        if dialled_host is not None:
            try:
                check_names(certificates[0], dialled_host, cert_file)
            except TlsProblem as problem:
                reader.problem(cert_node, cert_field, str(problem))
                return None
        return TlsConfig(certificate=cert_file, key=key_file, certificate_pem=cert_pem, key_pem=key_pem)

    def _file_path(self, node: Node, path: str, what: str) -> str | None:
        """A file name, relative to the directory of the file being read (as `include` is)."""
        name = self.reader.string(node, path, min_length=1, what=what)
        if name is None:
            return None
        return os.fspath(Path(self.reader.source).parent / name)

    def operators(self, node: Node, path: str) -> tuple[OperatorConfig, ...] | None:
        nodes = self.reader.sequence(node, path)
        if nodes is None:
            self.operator_ids_complete = False
            return None
        if not nodes:
            self.reader.expected(node, path, "a list of at least one operator")
            return None
        read = [self.operator(item, index_path(path, i)) for i, item in enumerate(nodes)]
        if any(op is None for op in read):
            return None
        return tuple(op for op in read if op is not None)

    def operator(self, node: Node, path: str) -> OperatorConfig | None:
        reader = self.reader
        behaviour = self.behaviour
        spec = Fields(OperatorConfig, {
            "id": None,  # registered first: carriers are claimed for it
            "name": partial(reader.string, min_length=1),
            "carriers": None,
            "host": self._host,
            "port": self._port,
            "system_id": self._system_id,
            "password": self._password,
            "window": partial(reader.integer, minimum=1, maximum=MAX_WINDOW),
            "binds": partial(reader.integer, minimum=1, maximum=MAX_OPERATOR_BINDS),
            "send_rate": behaviour.nullable(behaviour.rate),  # null: no cap
            "temporary_errors": behaviour.err_codes,
            "smsc": behaviour.smsc,
            "tls": None,  # {certificate, key}, checked against host
        }, rename={"smsc": "behaviour"}, required=("id", "name", "carriers"))
        read = reader.read_fields(node, path, spec, moved=_OPERATOR_MOVED)
        if read is None:
            self.operator_ids_complete = False
            return None
        fields, values = read
        op_id = reader.required(fields, "id", path, self.operator_id)
        if op_id is None:
            self.operator_ids_complete = False
        carriers = reader.required(fields, "carriers", path, partial(self.carrier_list, op_id=op_id))
        host = values.get("host", spec.default("host"))
        if "tls" in fields:
            tls_path = join_path(path, "tls")
            tls_fields = reader.mapping(fields["tls"], tls_path, required=_TLS_REQUIRED)
            tls_config = None
            if tls_fields is not None and host is not None:
                tls_config = self.tls_files(tls_fields, tls_path, dialled_host=host)
            values["tls"] = tls_config
        config = reader.build(spec, values, id=op_id, carriers=carriers)
        if config is not None:
            self._note_port(fields, path, config.port)
        return config

    def operator_id(self, node: Node, path: str) -> str | None:
        op_id = self.reader.string(
            node,
            path,
            pattern=_OPERATOR_ID,
            what="an operator id made of a-z, 0-9, '_' and '-'",
        )
        if op_id is None:
            return None
        first = self.operator_ids.get(op_id)
        if first is not None:
            self.reader.problem(
                node, path, f"duplicate operator id {_quote(op_id)}, already used by {first.path} (line {first.line})"
            )
            return None
        self.operator_ids[op_id] = Seen(path, _position(node)[0])
        return op_id

    def carrier_list(self, node: Node, path: str, *, op_id: str | None) -> tuple[str, ...] | None:
        names = self.reader.items(node, path, partial(self.carrier, op_id=op_id))
        return None if names is None else tuple(names)

    def carrier(self, node: Node, path: str, *, op_id: str | None) -> str | None:
        """A carrier name; each may be served natively by one operator only."""
        name = self.reader.string(node, path, min_length=1)
        if name is None:
            return None
        if not self._claim(self.carriers, name, op_id, node, path, "carrier", "is already served by operator"):
            return None
        return name

    def _claim(self, table: dict[str, tuple[str, Seen]], key: str, owner: str | None, node: Node, path: str,
               what: str, taken: str) -> bool:
        """Give `key` to `owner` unless an earlier entry has it (then a problem names where)."""
        first = table.get(key)
        if first is not None:
            other, seen = first
            self.reader.problem(node, path,
                                f"{what} {_quote(key)} {taken} {_quote(other)} ({seen.path}, line {seen.line})")
            return False
        if owner is not None:
            table[key] = (owner, Seen(path, _position(node)[0]))
        return True

    def accounts(self, node: Node, path: str) -> tuple[AccountConfig, ...] | None:
        nodes = self.reader.sequence(node, path)
        if nodes is None:
            return None
        seen: dict[str, Seen] = {}
        read = [self.account(item, index_path(path, i), seen) for i, item in enumerate(nodes)]
        if any(acc is None for acc in read):
            return None
        return tuple(acc for acc in read if acc is not None)

    def account_fields(self, seen: dict[str, Seen]) -> Fields[AccountConfig]:
        """An account's keys (network ``accounts:`` and a scenario's own)."""
        reader = self.reader
        behaviour = self.behaviour
        return Fields(AccountConfig, {
            "system_id": partial(self.account_system_id, seen=seen),
            "password": None,  # exactly one of password and password_hash
            "password_hash": None,
            "max_binds": partial(reader.integer, minimum=1, maximum=MAX_ACCOUNT_BINDS),
            "short_codes": None,  # claimed for system_id
            "traffic": partial(reader.choice, choices=_TRAFFIC),
            "rate": behaviour.nullable(behaviour.rate),  # null: no cap
            "burst": partial(reader.integer, minimum=1, maximum=MAX_BURST),
            "max_pending": partial(reader.integer, minimum=1, maximum=MAX_PENDING),
            "credit": behaviour.nullable(partial(reader.integer, minimum=0)),  # null: no limit
            "rules": self.rules.account,
            "identity": self.rules.identity,
        }, required=("system_id",))

    def account(self, node: Node, path: str, seen: dict[str, Seen]) -> AccountConfig | None:
        reader = self.reader
        spec = self.account_fields(seen)
        read = reader.read_fields(node, path, spec)
        if read is None:
            return None
        fields, values = read
        system_id = values["system_id"]
        password = self.secret(node, fields, path)
        if "short_codes" in fields:
            values["short_codes"] = reader.required(fields, "short_codes", path,
                                               partial(self.short_code_list, owner=system_id))
        return reader.build(spec, values, password=password)

    def account_system_id(self, node: Node, path: str, seen: dict[str, Seen]) -> str | None:
        """An account's system_id, unique among the accounts read with ``seen``."""
        system_id = self._system_id(node, path)
        if system_id is None:
            return None
        first = seen.get(system_id)
        if first is not None:
            self.reader.problem(node, path, f"duplicate account system_id {_quote(system_id)},"
                                       f" already used by {first.path} (line {first.line})")
            return None
        seen[system_id] = Seen(path, _position(node)[0])
        return system_id

    def secret(self, node: Node, fields: Mapping[str, Node], path: str) -> Secret | None:
        """Exactly one of ``password`` (plain) and ``password_hash`` (see aggregator.passwords)."""
        reader = self.reader
        given = [key for key in ("password", "password_hash") if key in fields]
        if not given:
            reader.problem(node, join_path(path, "password"), "missing required key (give password or password_hash)")
            return None
        if len(given) > 1:
            reader.problem(fields["password_hash"], join_path(path, "password_hash"),
                      "give either password or password_hash, not both")
            return None
        if given[0] == "password":
            plain = reader.required(fields, "password", path, self._password)
            return None if plain is None else Secret.from_plain(plain)
        return reader.required(fields, "password_hash", path, self.password_hash)

    def password_hash(self, node: Node, path: str) -> Secret | None:
        what = "a password hash: " + _HASH_FORMATS
        text = self.reader.string(node, path, min_length=1, what=what, secret=True)
        if text is None:
            return None
        try:
            return Secret.parse(text)
        except ValueError as exc:
            # The value is not quoted back: it is (a hash of) a credential.
            self.reader.problem(node, path, f"expected {what}, got a malformed hash ({exc})")
            return None

    def short_code_list(self, node: Node, path: str, *, owner: str | None) -> tuple[str, ...] | None:
        codes = self.reader.items(node, path, partial(self.short_code, owner=owner))
        return None if codes is None else tuple(codes)

    def short_code(self, node: Node, path: str, *, owner: str | None) -> str | None:
        """A short code or long number (digits); MOs to it belong to one account only."""
        what = "a short code or long number: 1 to 15 digits, in quotes"
        if isinstance(node, ScalarNode) and node.tag == TAG_INT:
            self.reader.expected(node, path, what, " (put it in quotes to make it a string)")
            return None
        code = self.reader.string(node, path, pattern=_SHORT_CODE, what=what)
        if code is None:
            return None
        if not self._claim(self.short_codes, code, owner, node, path, "short code", "already belongs to account"):
            return None
        return code

    def routing(self, node: Node, path: str) -> RoutingConfig | None:
        reader = self.reader
        return reader.record(node, path, Fields(RoutingConfig, {
            "default_region": partial(reader.string, pattern=_REGION,
                                      what='a two-letter region code in capitals, e.g. "FR"'),
            "mvno_hosts": self.mvno_hosts,
            "ported": self.ported,
        }))

    def mvno_hosts(self, node: Node, path: str) -> dict[str, str] | None:
        return self._to_operator(node, path, self._hosted_carrier)

    def _hosted_carrier(self, carrier: str, key_node: Node, entry: str) -> str | None:
        """A carrier an MVNO host serves: a name, and not one an operator serves natively."""
        name = self.reader.string(key_node, entry, min_length=1, what="a carrier name (a non-empty string)")
        if name is not None and name in self.carriers:
            owner, seen = self.carriers[name]
            self.reader.problem(
                key_node,
                entry,
                f"carrier {_quote(name)} is served natively by operator {_quote(owner)}"
                f" ({seen.path}, line {seen.line}); remove it from mvno_hosts",
            )
            return None
        return name

    def ported(self, node: Node, path: str) -> dict[str, str] | None:
        return self._to_operator(node, path, self._ported_prefix)

    def _ported_prefix(self, prefix: str, key_node: Node, entry: str) -> str | None:
        # The key is taken as written: unquoted, +33612345678 is an int to YAML.
        if not isinstance(key_node, ScalarNode) or not E164_PREFIX.fullmatch(prefix):
            self.reader.expected(key_node, entry, E164_PREFIX_WHAT)
            return None
        return prefix

    def _to_operator(self, node: Node, path: str,
                     read_key: Callable[[str, Node, str], str | None]) -> dict[str, str] | None:
        """A mapping of keys (each checked by ``read_key``) to operator ids; None, with every
        bad key and operator reported, if any of them is wrong."""
        return self.reader.table(node, path, read_key, self.operator_ref)

    def operator_ref(self, node: Node, path: str) -> str | None:
        """An operator id that must name one of the configured operators."""
        ids = list(self.operator_ids)
        what = "an operator id"
        if self.operator_ids_complete and ids:
            what += f" (one of {', '.join(ids)})"
        op_id = self.reader.string(node, path, min_length=1, what=what)
        if op_id is None:
            return None
        # If some operator could not be read, its id may be the one meant:
        # saying "unknown operator" then would only be noise.
        if self.operator_ids_complete and ids and op_id not in self.operator_ids:
            self.reader.expected(node, path, what, did_you_mean(op_id, ids))
            return None
        return op_id


# An account's keys, as the scenario loader (and schema.json) also take them.
_ACCOUNT = NetworkReader("").account_fields({})
ACCOUNT_REQUIRED = _ACCOUNT.required_keys()  # and exactly one of password, password_hash
ACCOUNT_OPTIONAL = _ACCOUNT.optional_keys()


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def parse_config(text: str, source: str) -> NetworkConfig:
    """Check and convert a network config given as YAML text.

    ``source`` names the file in messages.  Raises :class:`ConfigError` with
    every problem found (at least the first one, always precisely located).
    """
    root = compose(text, source, root_kind=MappingNode, root_what="a network config: a YAML mapping")
    reader = NetworkReader(source)
    config = reader.document(root)
    reader.reader.raise_if_problems()
    if config is None:  # pragma: no cover - a None always comes with a problem
        raise ConfigError([Problem(source, None, None, "", "invalid configuration")])
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> NetworkConfig:
    """Load a network config file; None loads the shipped default network.

    The default is read through importlib.resources so it works from an
    installed wheel as well as from a source checkout.
    """
    if path is None:
        return _load_shipped(DEFAULT_NETWORK_RESOURCE)
    source, text = read_text_file(path, "config")
    return parse_config(text, source)


def load_bench_config() -> NetworkConfig:
    """The shipped bench network (`serve --bench`, `sink`): caps off, every message delivered,
    receipts at once, the demo account unthrottled."""
    return _load_shipped(BENCH_NETWORK_RESOURCE)


def _load_shipped(name: str) -> NetworkConfig:
    resource = resources.files("aggregator").joinpath(name)
    source = str(resource)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(source, None, None, "", f"cannot read config file: {exc}")]) from None
    return parse_config(text, source)
