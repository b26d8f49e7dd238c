"""The GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet, unpacked: one septet per octet, as
an SMSC puts it in a PDU's ``short_message`` under data_coding 0 when its "SMSC default
alphabet" is GSM (many real ones; Latin-1 or ASCII on others, SMPP 3.4 §5.2.19 leaves it to
the SMSC).

Only decoding: the harness reads MO texts (R1's STOP, R11's CONTACT); what it sends itself is
Latin-1 or UCS-2. Rules:

1. :func:`decode_gsm` never raises: a septet escape (0x1B) followed by a code the extension
   table does not have reads as that code's basic character (§6.2.1.1: "the receiving entity
   shall display the character from the default alphabet"); an escape at the very end is a
   space (as the §6.2.1.1 note on a lone escape suggests); octets above 0x7F (not septets)
   read as their Latin-1 character.
2. :func:`looks_gsm` tells unpacked GSM from ASCII/Latin-1 in a data_coding 0 text without
   being told: GSM uses octets below 0x20 for letters ("é" is 0x05, "@" 0x00), which no
   Latin-1 text has besides line breaks, and never uses octets above 0x7F, which Latin-1
   accents are. Printable ASCII alone reads the same either way for letters and digits.
"""

from __future__ import annotations

__all__ = ["decode_gsm", "looks_gsm"]

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128
_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
              0x40: "|", 0x65: "€"}
_ESCAPE = 0x1B
_LINE_BREAKS = frozenset(b"\n\r")


def looks_gsm(octets: bytes) -> bool:
    """True when data_coding 0 ``octets`` are unpacked GSM 03.38 rather than ASCII/Latin-1:
    some octet below 0x20 that is not a line break, and none above 0x7F (rule 2)."""
    return (any(o < 0x20 and o not in _LINE_BREAKS for o in octets)
            and all(o < 0x80 for o in octets))


def decode_gsm(octets: bytes) -> str:
    """Unpacked GSM 03.38 septets as text (rule 1)."""
    out = []
    escaped = False
    for octet in octets:
        if escaped:
            escaped = False
            out.append(_EXTENSION.get(octet) or (_BASIC[octet] if octet < 0x80 else chr(octet)))
        elif octet == _ESCAPE:
            escaped = True
        else:
            out.append(_BASIC[octet] if octet < 0x80 else chr(octet))
    if escaped:
        out.append(" ")
    return "".join(out)
