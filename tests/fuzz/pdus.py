"""Structure-aware SMPP 3.4 PDUs for the fuzzing campaign: valid ones first, then mutated.

A PDU is built as a `Draft`: its header values and its body as named parts, one per mandatory
parameter of `smsc.pdu.codec.LAYOUTS` (sm_length and short_message apart), then its TLVs. The
mutations work on those parts (a C-string past its limit or without its NUL, an sm_length
that runs past the end, a TLV whose length does, a UDH length byte past the message...), then
on the wire bytes (command_length too small, too large, off by one; flipped bits). Why not
`codec.encode`: it refuses, rightly, to write what the spec forbids, and writing exactly that
is the point here. Reading the layouts from the codec means every command and field the
server knows is covered, and a layout added there is fuzzed without a change here.

Pure: every choice comes from the `random.Random` passed in, so a seed gives the same bytes.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Callable

from smsc.pdu.codec import LAYOUTS, Command, Tag
from smsc.pdu.framing import DEFAULT_MAX_PDU
from smsc.pdu.smpptime import absolute, relative
from smsc.pdu.status import CommandStatus

HEADER = struct.Struct("!IIII")
KNOWN_IDS = frozenset(int(c) for c in Command)
REQUESTS = tuple(c for c in Command if not c.is_response)
RESPONSES = tuple(c for c in Command if c.is_response)
SM_MAX = 254                                   # §4.4.1: sm_length 0..254
STATUSES = tuple(int(s) for s in CommandStatus)
# §4.1.2, §4.4.2: these responses may omit their body when command_status is not 0.
BODY_OPTIONAL_ON_ERROR = frozenset({
    Command.bind_receiver_resp, Command.bind_transmitter_resp, Command.bind_transceiver_resp,
    Command.submit_sm_resp, Command.data_sm_resp, Command.submit_multi_resp, Command.query_sm_resp,
})

# The mutation kinds, by where they act. Names are what the summary counts.
STRUCTURAL = (
    "c_at_limit", "c_past_limit", "c_no_nul", "int_extreme", "sm_length_past_end", "sm_length_short",
    "sm_255", "tlv_unknown", "tlv_len_past_end", "tlv_duplicate", "tlv_wrong_size", "tlv_payload",
    "tlv_payload_and_sm", "tlv_payload_huge", "tlv_stray_octets", "udh_past_end", "udh_empty",
    "ucs2_odd", "dcs_esm_random", "dests_bad", "truncated", "extended", "seq_extreme", "seq_reused",
    "status_nonzero", "empty_body",
)
WIRE = ("cmdlen_small", "cmdlen_large", "cmdlen_plus1", "cmdlen_minus1", "bitflip")
GENERATED = ("valid", "unknown_command", "random_bytes")
ALL_KINDS = GENERATED + STRUCTURAL + WIRE


@dataclass(slots=True)
class Part:
    """One field of a body as it will be written: `kind` "c" (C-octet string, `size` counts
    its NUL), "1"/"4" integers, "sm_length", "sm" (short_message), "list" (submit_multi's
    dest_address / unsuccess_sme lists), "tlv", "raw"."""

    name: str
    kind: str
    raw: bytes
    size: int = 0


@dataclass(slots=True)
class Draft:
    command_id: int
    name: str
    status: int
    seq: int
    parts: list[Part]
    length: int | None = None              # command_length; None: the true length
    kinds: list[str] = field(default_factory=list)

    def index(self, name: str) -> int | None:
        for i, part in enumerate(self.parts):
            if part.name == name:
                return i
        return None

    def int1(self, name: str) -> int | None:
        i = self.index(name)
        return None if i is None or not self.parts[i].raw else self.parts[i].raw[0]

    def set1(self, name: str, value: int) -> None:
        i = self.index(name)
        if i is not None:
            self.parts[i].raw = bytes((value & 0xFF,))

    def wire(self) -> bytes:
        body = b"".join(p.raw for p in self.parts)
        length = 16 + len(body) if self.length is None else self.length
        return HEADER.pack(length & 0xFFFFFFFF, self.command_id, self.status, self.seq & 0xFFFFFFFF) + body


@dataclass(frozen=True, slots=True)
class Generated:
    """One PDU (or blob) to send: what it was built as, how it was mutated, its bytes."""

    command: str                           # command name, "unknown" or "random_bytes"
    kinds: tuple[str, ...]                 # ("valid",) or the mutations applied, in order
    wire: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class Credentials:
    system_id: str
    password: str


# --- field values ---------------------------------------------------------------------------

START = 1_795_982_400.0                        # the campaign's clock start: 2026-11-29T20:00:00Z
DESTINATIONS = (
    ("33612345678", 1), ("+33612345678", 1), ("0612345678", 2), ("0612345678", 0), ("33699990001", 1),
    ("33699990002", 1), ("33699990004", 1), ("33699990005", 1), ("33699990006", 1), ("33699990007", 1),
    ("33699990000", 1), ("33700000000", 1), ("33600000000", 1), ("33100000000", 1), ("36180", 3),
    ("", 1), ("0", 1), ("+", 1), ("00336123456789", 1), ("4915112345678", 1), ("12025550123", 1),
    ("abcdefghij", 5), ("33612345678" + "9" * 9, 1), ("\xff\xfe", 1), ("0033612345678", 0),
)
SOURCES = (("SMSC", 5), ("36180", 3), ("33612345678", 1), ("", 0), ("Brand", 5), ("x" * 20, 5),
           ("+33612345678", 1), ("é", 5))


def _text(rng: random.Random, low: int, high: int) -> str:
    return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randint(low, high)))


def _time(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return ""
    if roll < 0.6:
        return relative(rng.choice((1, 10, 60, 3600, 86400, 86400 * 30, 0)))
    if roll < 0.8:
        return absolute(START + rng.choice((-3600, 10, 3600, 86400 * 3, 86400 * 400)))
    return rng.choice(("000000000000000R", "991231235959999+", "abcdefghijklmnop", "0000000000000001",
                       "26112920000000+", "261129200000004-", "9" * 16, "R"))


def _message_id(rng: random.Random, seen: list[str]) -> str:
    if seen and rng.random() < 0.6:
        return seen[rng.randrange(len(seen))]
    return rng.choice(("", "0", "0000000000000001", "ffffffffffffffff", "x" * 64, "orange0000000001",
                       "-1", "0000000000000000", "%s"))


def _c_value(name: str, size: int, rng: random.Random, creds: Credentials, seen: list[str]) -> str:
    """A plausible value for a C-octet string field, as a real peer would send."""
    if name == "system_id":
        return creds.system_id if rng.random() < 0.7 else rng.choice(("nobody", "", "DEMO", "x" * 15, "demo "))
    if name == "password":
        return creds.password if rng.random() < 0.7 else rng.choice(("wrong", "", "x" * 8, creds.password + "x"))
    if name in ("schedule_delivery_time", "validity_period", "final_date"):
        return _time(rng)
    if name == "message_id":
        return _message_id(rng, seen)
    if name in ("source_addr", "esme_addr"):
        return rng.choice(SOURCES)[0][:size - 1]
    if name == "destination_addr":
        return rng.choice(DESTINATIONS)[0][:size - 1]
    if name == "service_type":
        return rng.choice(("", "", "CMT", "WAP", "USSD", "x" * 5))
    if name == "system_type":
        return rng.choice(("", "SMPP", "VMA", "x" * 12))
    if name == "address_range":
        return rng.choice(("", "^336", "x" * 40))
    return _text(rng, 0, size - 1)


def _i1_value(name: str, rng: random.Random) -> int:
    choices: dict[str, tuple[int, ...]] = {
        "interface_version": (0x34, 0x34, 0x33, 0x50, 0x00),
        "esm_class": (0, 0, 0, 0x03, 0x40, 0x04, 0x08, 0x80),
        "registered_delivery": (0, 1, 1, 2, 3, 0x10, 0x11),
        "data_coding": (0, 0, 1, 3, 4, 8, 0xF0, 0xF6),
        "priority_flag": (0, 1, 2, 3),
        "replace_if_present_flag": (0, 1),
        "message_state": tuple(range(0, 9)),
        "error_code": (0, 1, 27),
    }
    options = choices.get(name)
    if options is not None:
        return rng.choice(options)
    if name.endswith("_ton"):
        return rng.choice((0, 1, 1, 2, 3, 5, 6))
    if name.endswith("_npi"):
        return rng.choice((0, 1, 1, 8, 9))
    return rng.choice((0, 0, 1))


def _short_message(rng: random.Random, data_coding: int, esm_class: int) -> bytes:
    if esm_class & 0x40:                       # UDHI: a concatenation UDH, then the text
        total = rng.randint(1, 4)
        text = _text(rng, 0, 140).encode("ascii")
        return bytes((5, 0, 3, rng.randrange(256), total, rng.randint(1, total))) + text
    if data_coding == 8:
        return _text(rng, 0, 70).encode("utf-16-be")
    if data_coding in (4, 0xF6):
        return rng.randbytes(rng.randint(0, 140))
    roll = rng.random()
    if roll < 0.05:
        return b"y" * SM_MAX
    if roll < 0.1:
        return b""
    return _text(rng, 1, 160).encode("ascii")


def _tlv(tag: int, value: bytes) -> Part:
    return Part(f"tlv_{tag:04x}", "tlv", struct.pack("!HH", tag, len(value)) + value)


def _plausible_tlvs(command: Command, rng: random.Random, seen: list[str]) -> list[Part]:
    """TLVs a real peer sends with this command (§5.3.2), or none."""
    if rng.random() < 0.7:
        return []
    parts: list[Part] = []
    if command in (Command.submit_sm, Command.deliver_sm, Command.submit_multi, Command.data_sm):
        options: list[Callable[[], Part]] = [
            lambda: _tlv(Tag.user_message_reference, rng.randrange(65536).to_bytes(2, "big")),
            lambda: _tlv(Tag.source_port, rng.randrange(65536).to_bytes(2, "big")),
            lambda: _tlv(Tag.destination_port, rng.randrange(65536).to_bytes(2, "big")),
            lambda: _tlv(Tag.sar_msg_ref_num, rng.randrange(65536).to_bytes(2, "big")),
            lambda: _tlv(Tag.sar_total_segments, bytes((rng.randint(1, 5),))),
            lambda: _tlv(Tag.sar_segment_seqnum, bytes((rng.randint(1, 5),))),
            lambda: _tlv(Tag.more_messages_to_send, bytes((rng.randint(0, 1),))),
            lambda: _tlv(Tag.payload_type, bytes((rng.randint(0, 1),))),
            lambda: _tlv(rng.randrange(0x1400, 0x4000), rng.randbytes(rng.randint(0, 8))),
        ]
        if command is Command.data_sm:
            options.append(lambda: _tlv(Tag.message_payload, _text(rng, 0, 300).encode("ascii")))
        if command is Command.deliver_sm:
            options.append(lambda: _tlv(Tag.receipted_message_id,
                                        _message_id(rng, seen).encode("latin-1") + b"\x00"))
            options.append(lambda: _tlv(Tag.message_state, bytes((rng.randint(1, 8),))))
        for _ in range(rng.randint(1, 3)):
            parts.append(rng.choice(options)())
    elif command is Command.bind_transceiver_resp or command is Command.bind_receiver_resp \
            or command is Command.bind_transmitter_resp:
        parts.append(_tlv(Tag.sc_interface_version, b"\x34"))
    else:
        parts.append(_tlv(rng.randrange(0x1400, 0x4000), rng.randbytes(rng.randint(0, 4))))
    return parts


def _dests(rng: random.Random, count: int | None = None) -> bytes:
    n = rng.randint(1, 4) if count is None else count
    out = bytearray((n,))
    for _ in range(n):
        if rng.random() < 0.85:
            address, ton = rng.choice(DESTINATIONS)
            out += bytes((1, ton, 1)) + address[:20].encode("latin-1") + b"\x00"
        else:
            out += b"\x02" + _text(rng, 0, 20).encode("ascii") + b"\x00"
    return bytes(out)


def _unsuccess(rng: random.Random) -> bytes:
    n = rng.randint(0, 3)
    out = bytearray((n,))
    for _ in range(n):
        address, ton = rng.choice(DESTINATIONS)
        out += bytes((ton, 1)) + address[:20].encode("latin-1") + b"\x00" + rng.choice(STATUSES).to_bytes(4, "big")
    return bytes(out)


def build(command: Command, seq: int, rng: random.Random, creds: Credentials, seen: list[str]) -> Draft:
    """A valid PDU of `command`, as a Draft (values a real peer would plausibly send)."""
    parts: list[Part] = []
    data_coding = esm_class = 0
    status = 0
    if command.is_response and rng.random() < 0.3:
        status = rng.choice(STATUSES)
    for name, kind, size in LAYOUTS[command]:
        if kind == "c":
            parts.append(Part(name, "c", _c_value(name, size, rng, creds, seen).encode("latin-1")[:size - 1] + b"\x00",
                              size))
        elif kind == "1":
            value = _i1_value(name, rng)
            if name == "data_coding":
                data_coding = value
            elif name == "esm_class":
                esm_class = value
            parts.append(Part(name, "1", bytes((value,))))
        elif kind == "4":
            parts.append(Part(name, "4", rng.choice((0, 1, 0x45)).to_bytes(4, "big")))
        elif kind == "sm":
            text = _short_message(rng, data_coding, esm_class)
            parts.append(Part("sm_length", "sm_length", bytes((len(text),))))
            parts.append(Part(name, "sm", text, size))
        elif kind == "dests":
            parts.append(Part(name, "list", _dests(rng)))
        else:  # "unsucc"
            parts.append(Part(name, "list", _unsuccess(rng)))
    if command in BODY_OPTIONAL_ON_ERROR and status and rng.random() < 0.5:
        parts = []                             # §4.1.2: an error resp may carry no body, nor TLVs
    else:
        parts.extend(_plausible_tlvs(command, rng, seen))
    return Draft(int(command), command.name, status, seq, parts)


# --- mutations ----------------------------------------------------------------------------

def _c_parts(d: Draft) -> list[int]:
    return [i for i, p in enumerate(d.parts) if p.kind == "c"]


def _has_sm(d: Draft) -> bool:
    return d.index("short_message") is not None


def _m_c_at_limit(d: Draft, rng: random.Random) -> bool:
    candidates = _c_parts(d)
    if not candidates:
        return False
    part = d.parts[rng.choice(candidates)]
    part.raw = b"9" * (part.size - 1) + b"\x00"
    return True


def _m_c_past_limit(d: Draft, rng: random.Random) -> bool:
    candidates = _c_parts(d)
    if not candidates:
        return False
    part = d.parts[rng.choice(candidates)]
    part.raw = b"9" * rng.choice((part.size, part.size + 1, part.size + rng.randint(2, 300))) + b"\x00"
    return True


def _m_c_no_nul(d: Draft, rng: random.Random) -> bool:
    candidates = _c_parts(d)
    if not candidates:
        return False
    i = candidates[-1] if rng.random() < 0.5 else rng.choice(candidates)
    part = d.parts[i]
    part.raw = (part.raw[:-1] or b"x") if rng.random() < 0.5 else b"x" * part.size
    if rng.random() < 0.5:
        del d.parts[i + 1:]                    # the PDU ends inside the string
    return True


def _m_int_extreme(d: Draft, rng: random.Random) -> bool:
    candidates = [i for i, p in enumerate(d.parts) if p.kind in ("1", "4")]
    if not candidates:
        return False
    part = d.parts[rng.choice(candidates)]
    if part.kind == "1":
        part.raw = bytes((rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256))),))
    else:
        part.raw = rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000)).to_bytes(4, "big")
    return True


def _m_sm_length_past_end(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None:
        return False
    actual = len(d.parts[i + 1].raw)
    d.parts[i].raw = bytes((min(255, actual + rng.choice((1, 2, 50, 255))),))
    if rng.random() < 0.5:
        del d.parts[i + 2:]                    # nothing after: it runs past the end for sure
    return True


def _m_sm_length_short(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None or not d.parts[i + 1].raw:
        return False
    d.parts[i].raw = bytes((rng.randrange(len(d.parts[i + 1].raw)),))
    return True


def _m_sm_255(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None:
        return False
    d.parts[i].raw = b"\xff"
    d.parts[i + 1].raw = rng.choice((b"z" * 255, rng.randbytes(255)))
    return True


def _m_tlv_unknown(d: Draft, rng: random.Random) -> bool:
    for _ in range(rng.randint(1, 3)):
        tag = rng.choice((0x0000, 0xFFFF, rng.randrange(0x1400, 0x4000), rng.randrange(0x4000, 0x10000),
                          rng.randrange(0x0001, 0x1400)))
        d.parts.append(_tlv(tag, rng.randbytes(rng.choice((0, 1, 2, 4, 16, 200)))))
    return True


def _m_tlv_len_past_end(d: Draft, rng: random.Random) -> bool:
    tag = rng.choice((Tag.message_payload, Tag.user_message_reference, 0x1500, Tag.receipted_message_id))
    value = rng.randbytes(rng.randint(0, 8))
    d.parts.append(Part("tlv_past_end", "tlv", struct.pack("!HH", tag, len(value) + rng.choice((1, 2, 100, 0xFFFF - len(value))))
                        + value))
    return True


def _m_tlv_duplicate(d: Draft, rng: random.Random) -> bool:
    tlvs = [p for p in d.parts if p.kind == "tlv"]
    if tlvs:
        d.parts.append(Part(tlvs[0].name, "tlv", tlvs[0].raw))
    else:
        tlv = _tlv(rng.choice((Tag.user_message_reference, Tag.sar_msg_ref_num, Tag.source_port)), b"\x00\x01")
        d.parts += [tlv, Part(tlv.name, "tlv", tlv.raw)]
    return True


def _m_tlv_wrong_size(d: Draft, rng: random.Random) -> bool:
    tag, size = rng.choice(((Tag.user_message_reference, 2), (Tag.sar_msg_ref_num, 2), (Tag.sar_total_segments, 1),
                            (Tag.sar_segment_seqnum, 1), (Tag.message_state, 1), (Tag.network_error_code, 3),
                            (Tag.receipted_message_id, 65), (Tag.sc_interface_version, 1), (Tag.source_port, 2),
                            (Tag.more_messages_to_send, 1), (Tag.payload_type, 1)))
    wrong = rng.choice((0, size + 1, size - 1 if size > 1 else 7, 300))
    d.parts.append(_tlv(tag, rng.randbytes(wrong)))
    return True


def _m_tlv_payload(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is not None:
        d.parts[i].raw, d.parts[i + 1].raw = b"\x00", b""
    d.parts.append(_tlv(Tag.message_payload, _text(rng, 0, 1000).encode("ascii")))
    return True


def _m_tlv_payload_and_sm(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None:
        return False
    if not d.parts[i + 1].raw:
        d.parts[i + 1].raw = b"both"
        d.parts[i].raw = b"\x04"
    d.parts.append(_tlv(Tag.message_payload, _text(rng, 1, 400).encode("ascii")))
    return True


def _m_tlv_payload_huge(d: Draft, rng: random.Random) -> bool:
    # Sizes around the 64 KiB frame limit: just below it (a forwarded copy grows past it),
    # right at it, and past it (the frame itself is then refused).
    body = sum(len(p.raw) for p in d.parts)
    room = DEFAULT_MAX_PDU - 16 - body - 4
    size = max(0, min(0xFFFF, rng.choice((room - rng.randint(0, 40), room, room + 1, 10_000, 0xFFFF))))
    d.parts.append(_tlv(Tag.message_payload, b"p" * size))
    return True


def _m_tlv_stray_octets(d: Draft, rng: random.Random) -> bool:
    d.parts.append(Part("stray", "raw", rng.choice((b"\x01", b"\x00\x01", b"\x14\x00\x00", b"\x00", b"\x00\x00\x00"))))
    return True


def _m_udh_past_end(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None or d.index("esm_class") is None:
        return False
    rest = rng.randbytes(rng.randint(0, 6))
    text = bytes((len(rest) + rng.choice((1, 2, 100, 255 - len(rest))),)) + rest
    d.set1("esm_class", (d.int1("esm_class") or 0) | 0x40)
    d.parts[i].raw, d.parts[i + 1].raw = bytes((len(text),)), text
    return True


def _m_udh_empty(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None or d.index("esm_class") is None:
        return False
    d.set1("esm_class", 0x40)
    d.parts[i].raw, d.parts[i + 1].raw = b"\x00", b""
    return True


def _m_ucs2_odd(d: Draft, rng: random.Random) -> bool:
    i = d.index("sm_length")
    if i is None:
        return False
    text = _text(rng, 0, 60).encode("utf-16-be") + b"\x00"
    d.set1("data_coding", 8)
    d.parts[i].raw, d.parts[i + 1].raw = bytes((len(text),)), text
    return True


def _m_dcs_esm_random(d: Draft, rng: random.Random) -> bool:
    if d.index("data_coding") is None and d.index("esm_class") is None:
        return False
    d.set1("data_coding", rng.randrange(256))
    d.set1("esm_class", rng.randrange(256))
    i = d.index("sm_length")
    if i is not None:
        text = rng.randbytes(rng.randint(0, SM_MAX))
        d.parts[i].raw, d.parts[i + 1].raw = bytes((len(text),)), text
    return True


def _m_dests_bad(d: Draft, rng: random.Random) -> bool:
    i = d.index("dest_addresses")
    if i is None:
        return False
    roll = rng.random()
    if roll < 0.3:
        d.parts[i].raw = bytes((rng.choice((0, 255, 10)),)) + _dests(rng, 1)[1:]       # count != entries
    elif roll < 0.6:
        d.parts[i].raw = bytes((1, rng.choice((0, 3, 0xFF)))) + b"33612345678\x00"      # bad dest_flag
    elif roll < 0.8:
        d.parts[i].raw = _dests(rng, 254)                                                 # at the limit
    else:
        d.parts[i].raw = _dests(rng, 255)                                                 # past it
    return True


def _m_truncated(d: Draft, rng: random.Random) -> bool:
    body = b"".join(p.raw for p in d.parts)
    if not body:
        return False
    d.parts = [Part("truncated", "raw", body[:rng.randrange(len(body))])]
    return True


def _m_extended(d: Draft, rng: random.Random) -> bool:
    d.parts.append(Part("extended", "raw", rng.randbytes(rng.randint(1, 64))))
    return True


def _m_status_nonzero(d: Draft, rng: random.Random) -> bool:
    d.status = rng.choice((1, 0x58, 0xFF, 0xFFFFFFFF, rng.randrange(1 << 32)))
    return True


def _m_empty_body(d: Draft, rng: random.Random) -> bool:
    if not d.parts:
        return False
    d.parts = []
    return True


STRUCTURAL_MUTATORS: dict[str, Callable[[Draft, random.Random], bool]] = {
    "c_at_limit": _m_c_at_limit, "c_past_limit": _m_c_past_limit, "c_no_nul": _m_c_no_nul,
    "int_extreme": _m_int_extreme, "sm_length_past_end": _m_sm_length_past_end,
    "sm_length_short": _m_sm_length_short, "sm_255": _m_sm_255, "tlv_unknown": _m_tlv_unknown,
    "tlv_len_past_end": _m_tlv_len_past_end, "tlv_duplicate": _m_tlv_duplicate,
    "tlv_wrong_size": _m_tlv_wrong_size, "tlv_payload": _m_tlv_payload,
    "tlv_payload_and_sm": _m_tlv_payload_and_sm, "tlv_payload_huge": _m_tlv_payload_huge,
    "tlv_stray_octets": _m_tlv_stray_octets, "udh_past_end": _m_udh_past_end, "udh_empty": _m_udh_empty,
    "ucs2_odd": _m_ucs2_odd, "dcs_esm_random": _m_dcs_esm_random, "dests_bad": _m_dests_bad,
    "truncated": _m_truncated, "extended": _m_extended, "status_nonzero": _m_status_nonzero,
    "empty_body": _m_empty_body,
}
# seq_extreme and seq_reused need the connection's numbering: Generator applies them.
assert set(STRUCTURAL_MUTATORS) | {"seq_extreme", "seq_reused"} == set(STRUCTURAL)
# Mutations that only make sense where there is a short_message: tried more often there.
_SM_MUTATIONS = ("sm_length_past_end", "sm_length_short", "sm_255", "udh_past_end", "udh_empty", "ucs2_odd",
                 "tlv_payload_and_sm", "tlv_payload", "tlv_payload_huge", "dcs_esm_random")


def _wire_mutation(wire: bytes, kind: str, rng: random.Random, max_pdu: int) -> bytes:
    length = len(wire)
    if kind == "cmdlen_small":
        new = rng.choice((0, 1, 4, 15))
    elif kind == "cmdlen_large":
        new = rng.choice((max_pdu + 1, max_pdu * 2, 0x7FFFFFFF, 0xFFFFFFFF, 0x47455420))   # "GET "
    elif kind == "cmdlen_plus1":
        new = length + 1
    elif kind == "cmdlen_minus1":
        new = max(16, length - 1)
    else:  # bitflip
        flipped = bytearray(wire)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(flipped))
            flipped[at] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    return struct.pack("!I", new) + wire[4:]


# --- the generator ------------------------------------------------------------------------

class Generator:
    """Builds the PDUs of one connection. `seen` is shared with the campaign: message ids the
    target handed out, so that query_sm, cancel_sm, replace_sm and receipts name real ones."""

    def __init__(self, rng: random.Random, creds: Credentials, seen: list[str],
                 mutation_rate: float = 0.5, max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self.rng = rng
        self.creds = creds
        self.seen = seen
        self.mutation_rate = mutation_rate
        self.max_pdu = max_pdu
        self._seq = 0
        self._used: list[int] = []

    def next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        return self._seq

    def valid(self, command: Command, **fields: str) -> Generated:
        """An unmutated PDU, with some C-string fields forced (a bind with its credentials)."""
        seq = self.next_seq()
        draft = build(command, seq, self.rng, self.creds, self.seen)
        for name, value in fields.items():
            i = draft.index(name)
            if i is not None:
                draft.parts[i].raw = value.encode("latin-1") + b"\x00"
        self._used.append(seq)
        return Generated(command.name, ("valid",), draft.wire(), seq)

    def unknown_command(self) -> Generated:
        rng = self.rng
        while True:
            command_id = rng.choice((rng.randrange(1 << 32), rng.randrange(0x200), 0x80000000 | rng.randrange(0x200),
                                     0x0000000A, 0x0000000C, 0x80000102, 0x8000000B, 0x00000104))
            if command_id not in KNOWN_IDS:
                break
        seq = self.next_seq()
        body = rng.randbytes(rng.choice((0, 0, 1, 8, 40)))
        return Generated("unknown", ("unknown_command",), HEADER.pack(16 + len(body), command_id, 0, seq) + body, seq)

    def random_bytes(self) -> Generated:
        rng = self.rng
        if rng.random() < 0.5:
            blob = rng.randbytes(rng.randint(1, 300))
        else:                                  # a plausible length, then noise
            body = rng.randbytes(rng.randint(0, 200))
            blob = struct.pack("!I", 16 + len(body)) + rng.randbytes(12) + body
        return Generated("random_bytes", ("random_bytes",), blob, 0)

    def mutated(self, command: Command) -> Generated:
        """`command` built valid, then (with `mutation_rate`) one to three mutations."""
        rng = self.rng
        seq = self.next_seq()
        draft = build(command, seq, rng, self.creds, self.seen)
        if rng.random() >= self.mutation_rate:
            self._used.append(seq)
            return Generated(command.name, ("valid",), draft.wire(), seq)
        kinds: list[str] = []
        wire_kind: str | None = None
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            roll = rng.random()
            if roll < 0.12:
                wire_kind = rng.choice(WIRE)
                continue
            if roll < 0.2:
                kind = rng.choice(("seq_extreme", "seq_reused"))
                if kind == "seq_extreme":
                    draft.seq = rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000))
                elif self._used:
                    draft.seq = rng.choice(self._used[-20:])
                kinds.append(kind)
                continue
            if command is Command.submit_multi and roll < 0.35:
                kind = "dests_bad"
            elif _has_sm(draft) and roll < 0.6:
                kind = rng.choice(_SM_MUTATIONS)
            else:
                kind = rng.choice(tuple(STRUCTURAL_MUTATORS))
            if STRUCTURAL_MUTATORS[kind](draft, rng):
                kinds.append(kind)
        wire = draft.wire()
        if wire_kind is not None:
            wire = _wire_mutation(wire, wire_kind, rng, self.max_pdu)
            kinds.append(wire_kind)
        if not kinds:
            kinds.append("valid")
        self._used.append(draft.seq)
        del self._used[:-64]
        return Generated(command.name, tuple(kinds), wire, draft.seq)


def partial(rng: random.Random, wire: bytes) -> bytes:
    """A strict prefix of a PDU: what a client that closes mid-PDU has sent."""
    return wire[:rng.randrange(1, len(wire))] if len(wire) > 1 else b"\x00"
