"""What a submitted message must satisfy before the aggregator accepts it. Pure.

Everything the operator leg needs is checked at submit, with the status that names the fault,
so that a message that could never be forwarded is refused to its client instead of failing
later on the operator link, where it would take a window slot, or make the link drop as
unframable, for every other account's traffic (issue 10):

| fault                                                    | status                 |
|----------------------------------------------------------|------------------------|
| short_message longer than 254 octets (SMPP 3.4 §4.4.1)   | ESME_RINVMSGLEN        |
| short_message and message_payload both carry text (§5.3.2.32: sm_length must then be 0) | ESME_ROPTPARNOTALLWD |
| UCS-2 (data_coding 0x08) text with an odd octet count    | ESME_RINVMSGLEN        |
| esm_class UDHI (0x40) with a UDH longer than the text    | ESME_RINVESMCLASS      |
| a forwarded copy above the operator link's PDU maximum   | ESME_RINVMSGLEN        |

The forwarded copy is the submit_sm the aggregator's pool writes: its own addresses and
validity, the client's text and the client's optional parameters as they came. Its size is
bounded from above by `FORWARD_OVERHEAD` plus the text and the TLVs, so the check never has
to encode anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsc.pdu.codec import SHORT_MESSAGE_MAX
from smsc.pdu.status import CommandStatus

UCS2 = 0x08
UDHI = 0x40
# The header and every mandatory field of the forwarded submit_sm at their largest: 16 header,
# service_type 1, TONs/NPIs 4, source_addr 21, destination_addr 21, esm_class/protocol_id/
# priority_flag 3, schedule_delivery_time 1, validity_period 17, registered_delivery,
# replace_if_present_flag, data_coding, sm_default_msg_id 4, sm_length 1.
FORWARD_OVERHEAD = 16 + 1 + 4 + 21 + 21 + 3 + 1 + 17 + 4 + 1


@dataclass(frozen=True, slots=True)
class Refusal:
    status: CommandStatus
    reason: str


def check_message(data_coding: int, esm_class: int, short_message: bytes, payload: bytes | None,
                  tlv_octets: int, link_max: int) -> Refusal | None:
    """None if the message can be forwarded as it is; otherwise why not, with its status.
    `payload` is the message_payload TLV's value (None when absent), `tlv_octets` the size of
    all the client's TLVs on the wire, `link_max` the operator link's largest PDU."""
    if len(short_message) > SHORT_MESSAGE_MAX:
        return Refusal(CommandStatus.ESME_RINVMSGLEN,
                       f"short_message of {len(short_message)} octets (at most {SHORT_MESSAGE_MAX}; "
                       "longer text goes in message_payload)")
    if payload is not None and short_message:
        return Refusal(CommandStatus.ESME_ROPTPARNOTALLWD,
                       "message_payload with a non-empty short_message (sm_length must be 0)")
    text = short_message if payload is None else payload
    body = text
    if esm_class & UDHI:
        if not text or text[0] + 1 > len(text):
            header = "no UDH" if not text else f"a UDH of {text[0] + 1} octets in {len(text)}"
            return Refusal(CommandStatus.ESME_RINVESMCLASS, f"esm_class sets UDHI but the text has {header}")
        body = text[text[0] + 1:]
    if data_coding == UCS2 and len(body) % 2:
        return Refusal(CommandStatus.ESME_RINVMSGLEN, f"UCS-2 text of {len(body)} octets (an odd count)")
    forwarded = FORWARD_OVERHEAD + len(short_message) + tlv_octets
    if forwarded > link_max:
        return Refusal(CommandStatus.ESME_RINVMSGLEN,
                       f"its submit_sm to the operator would be {forwarded} octets (link maximum {link_max})")
    return None
