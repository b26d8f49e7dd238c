"""Delivery receipts: the SMPP 3.4 Appendix B text, and the TLVs that carry the same facts.

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

Appendix B is informative and real SMSCs vary (id in hex or decimal, err as 3 digits or not,
field case), so `parse_receipt` is lenient: it reads fields by name, in any order, and falls
back on the receipted_message_id / message_state TLVs when the text lacks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from smsc.pdu.codec import Pdu, SmppMessageState, Tag, Tlv, _new_tlv, npi_for

ESM_CLASS_RECEIPT = 0x04          # esm_class message type: SMSC delivery receipt (§5.2.12)
ESM_CLASS_INTERMEDIATE = 0x20     # intermediate delivery notification

STAT_TO_STATE: dict[str, SmppMessageState] = {
    "DELIVRD": SmppMessageState.DELIVERED,
    "EXPIRED": SmppMessageState.EXPIRED,
    "DELETED": SmppMessageState.DELETED,
    "UNDELIV": SmppMessageState.UNDELIVERABLE,
    "ACCEPTD": SmppMessageState.ACCEPTED,
    "UNKNOWN": SmppMessageState.UNKNOWN,
    "REJECTD": SmppMessageState.REJECTED,
    "ENROUTE": SmppMessageState.ENROUTE,
}
STATE_TO_STAT = {state: stat for stat, state in STAT_TO_STATE.items()}


def receipt_date(seconds: float) -> str:
    """YYMMDDhhmm (UTC) of a clock reading, as Appendix B writes dates."""
    return _minute(int(seconds // 60))


@lru_cache(maxsize=1024)
def _minute(minute: int) -> str:
    """Cached: every receipt formats two dates, mostly in the same few minutes."""
    return datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%y%m%d%H%M")


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str                      # DELIVRD, UNDELIV, EXPIRED, REJECTD...
    err: str = "000"
    submit_date: str = ""          # YYMMDDhhmm
    done_date: str = ""
    sub: str = "001"
    dlvrd: str = "001"
    text: str = ""                 # first 20 characters of the original message

    @property
    def state(self) -> SmppMessageState:
        return STAT_TO_STATE.get(self.stat, SmppMessageState.UNKNOWN)

    def render(self) -> str:
        return (f"id:{self.message_id} sub:{self.sub} dlvrd:{self.dlvrd} "
                f"submit date:{self.submit_date} done date:{self.done_date} "
                f"stat:{self.stat} err:{self.err} text:{self.text}")

    def tlvs(self) -> tuple[Tlv, ...]:
        # In the order smpp.pdu (and so Jasmin) writes them, so our bytes match theirs.
        return (Tlv.int1(Tag.message_state, self.state),
                Tlv.cstring(Tag.receipted_message_id, self.message_id))

    def deliver_sm_params(self, source_addr: str, source_addr_ton: int, destination_addr: str,
                          dest_addr_ton: int) -> dict[str, int | str | bytes]:
        """Mandatory parameters of the deliver_sm carrying this receipt: it travels from the
        recipient (source) back to the original sender (destination)."""
        return {
            "source_addr_ton": source_addr_ton, "source_addr_npi": npi_for(source_addr_ton),
            "source_addr": source_addr, "dest_addr_ton": dest_addr_ton,
            "dest_addr_npi": npi_for(dest_addr_ton), "destination_addr": destination_addr,
            "esm_class": ESM_CLASS_RECEIPT, "short_message": self.render().encode("latin-1", "replace"),
        }


# --- the receipt deliver_sm from a template (an SMSC's per-message path) --------------------
# Everything of a receipt's deliver_sm body but the addresses, the text and the two TLVs is
# the same for every receipt: esm_class 0x04, then protocol_id, priority_flag, two empty
# C-strings (schedule_delivery_time, validity_period), registered_delivery,
# replace_if_present_flag, data_coding, sm_default_msg_id, all 0 (§4.6.1).
_RECEIPT_MIDDLE = bytes((ESM_CLASS_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0))
_TLV_STATE = int(Tag.message_state).to_bytes(2, "big") + b"\x00\x01"
_TLV_ID = int(Tag.receipted_message_id).to_bytes(2, "big")
_STATE_TAG, _ID_TAG = int(Tag.message_state), int(Tag.receipted_message_id)
ESM_CLASS_UDHI = 0x40             # the short_message starts with a user data header (§5.2.12)
DATA_CODING_UCS2 = 0x08           # UCS-2 (UTF-16BE), §5.2.19
TEXT_HEAD = 20                    # characters of the message Appendix B's text field shows


def text_head(short_message: bytes, esm_class: int = 0, data_coding: int = 0,
              tlvs: tuple[Tlv, ...] = ()) -> str:
    """The first `TEXT_HEAD` characters of a message as a person reads them, for a receipt's
    `text:` field (Appendix B): taken from the message_payload TLV when short_message is
    empty, after the user data header (esm_class UDHI: a concatenated part's reference, a
    port), decoded from UCS-2 when data_coding says so (else octet for character, as the
    harness reads every other coding). Before, a receipt showed the UDH's octets, the NULs of
    UTF-16, or nothing for a message_payload."""
    data = short_message
    if not data:
        for tlv in tlvs:
            if tlv.tag == Tag.message_payload:
                data = tlv.value
                break
    if esm_class & ESM_CLASS_UDHI and data:
        data = data[1 + data[0]:]                   # UDHL, then that many octets of header
    if data_coding == DATA_CODING_UCS2:
        return data[:2 * TEXT_HEAD].decode("utf-16-be", "replace")[:TEXT_HEAD]
    return data[:TEXT_HEAD].decode("latin-1")


_ADDRESS_MAX = 20                  # octets of source_addr / destination_addr without the NUL
_SHORT_MESSAGE_MAX = 254
_MESSAGE_ID_MAX = 64


def receipt_deliver_sm(message_id: str, stat: str, err: str, submit_date: str, done_date: str, dlvrd: str,
                       text: str, state: SmppMessageState, source_addr: str, source_addr_ton: int,
                       destination_addr: str, dest_addr_ton: int,
                       ) -> tuple[Mapping[str, int | str | bytes], tuple[Tlv, ...], bytes] | None:
    """The deliver_sm of the receipt `Receipt(message_id, stat, err, submit_date, done_date,
    dlvrd=dlvrd, text=text)` (whose `state` is `state`) from the recipient `source_addr`
    back to `destination_addr`: its complete parameters (what `make(Command.deliver_sm,
    **receipt.deliver_sm_params(...))` holds), its TLVs (`receipt.tlvs()`, tags as plain
    ints, as a decoder gives them) and its body, the bytes `encode` writes after the
    header; None for a value the template does not cover (the general path then judges).

    Why: a receipt per message through `Receipt`, `deliver_sm_params`, `make` and `encode`
    was a third of an SMSC's work per message with receipts; here it is one f-string and a
    join. tests/unit/test_receipt.py holds it to the general path, byte for byte."""
    if len(source_addr) > _ADDRESS_MAX or len(destination_addr) > _ADDRESS_MAX \
            or len(message_id) > _MESSAGE_ID_MAX:
        return None
    try:
        short_message = (f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submit_date} "
                         f"done date:{done_date} stat:{stat} err:{err} text:{text}").encode("latin-1", "replace")
        if len(short_message) > _SHORT_MESSAGE_MAX:
            return None
        receipted = message_id.encode("latin-1") + b"\x00"
        source_npi, dest_npi = npi_for(source_addr_ton), npi_for(dest_addr_ton)
        body = b"".join((
            b"\x00", bytes((source_addr_ton, source_npi)), source_addr.encode("latin-1"), b"\x00",
            bytes((dest_addr_ton, dest_npi)), destination_addr.encode("latin-1"), b"\x00",
            _RECEIPT_MIDDLE, bytes((len(short_message),)), short_message,
            _TLV_STATE, bytes((state,)), _TLV_ID, len(receipted).to_bytes(2, "big"), receipted,
        ))
    except (UnicodeEncodeError, ValueError, TypeError):
        return None
    fields: dict[str, int | str | bytes] = {
        "service_type": "", "source_addr_ton": source_addr_ton, "source_addr_npi": source_npi,
        "source_addr": source_addr, "dest_addr_ton": dest_addr_ton, "dest_addr_npi": dest_npi,
        "destination_addr": destination_addr, "esm_class": ESM_CLASS_RECEIPT, "protocol_id": 0,
        "priority_flag": 0, "schedule_delivery_time": "", "validity_period": "", "registered_delivery": 0,
        "replace_if_present_flag": 0, "data_coding": 0, "sm_default_msg_id": 0, "short_message": short_message,
    }
    return MappingProxyType(fields), (_new_tlv(_STATE_TAG, bytes((state,))), _new_tlv(_ID_TAG, receipted)), body


_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):", re.IGNORECASE)


def is_receipt(pdu: Pdu) -> bool:
    esm_class = pdu.get("esm_class", 0)
    return isinstance(esm_class, int) and bool(esm_class & (ESM_CLASS_RECEIPT | ESM_CLASS_INTERMEDIATE))


# The Appendix B layout exactly as most SMSCs (and ours) write it: one regex match instead of
# finding every field mark.  Values other than the text hold no ':' and no space, so they hide
# no field mark; a text with a ':' (it might) goes to the general reader, as does anything else.
_STANDARD = re.compile(r"id:([^\s:]*) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) "
                       r"done date:([^\s:]*) stat:([^\s:]*) err:([^\s:]*) text:([^:]*)\Z")


def parse_receipt(pdu: Pdu) -> Receipt | None:
    """Read a receipt deliver_sm (or data_sm); None when it carries no message id at all."""
    raw = pdu.get("short_message", b"")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else ""
    standard = _STANDARD.match(text)
    if standard is not None:
        message_id, sub, dlvrd, submit_date, done_date, stat, err, head = standard.groups()
        tlv_id = pdu.tlv(Tag.receipted_message_id)
        if tlv_id is not None:
            message_id = tlv_id.as_str()
        if message_id and stat:
            return Receipt(message_id=message_id, stat=stat.upper(), err=err, submit_date=submit_date,
                           done_date=done_date, sub=sub, dlvrd=dlvrd, text=head)
    return _parse_any(pdu, text)


def _parse_any(pdu: Pdu, text: str) -> Receipt | None:
    """The general reader: fields in any order and case, some missing, TLVs instead."""
    fields: dict[str, str] = {}
    marks = list(_FIELD.finditer(text))
    for mark, following in zip(marks, marks[1:] + [None]):
        end = following.start() if following is not None else len(text)
        name = mark.group(1).lower()
        value = text[mark.end():end] if name == "text" else text[mark.end():end].strip()
        fields.setdefault(name, value)
    tlv_id = pdu.tlv(Tag.receipted_message_id)
    tlv_state = pdu.tlv(Tag.message_state)
    message_id = tlv_id.as_str() if tlv_id is not None else fields.get("id", "")
    if not message_id:
        return None
    stat = fields.get("stat", "").upper()
    if not stat and tlv_state is not None:
        try:
            stat = STATE_TO_STAT[SmppMessageState(tlv_state.as_int())]
        except ValueError:
            stat = "UNKNOWN"
    return Receipt(message_id=message_id, stat=stat or "UNKNOWN", err=fields.get("err", "000"),
                   submit_date=fields.get("submit date", ""), done_date=fields.get("done date", ""),
                   sub=fields.get("sub", "001"), dlvrd=fields.get("dlvrd", "001"),
                   text=fields.get("text", ""))
