"""What a simulated operator SMSC is: data, not subclasses.

Issue 3 models the plain network (accept, answer, receipt after a delay). Throughput caps,
outcome distributions, subscriber books and faults (issue 4) are added here as fields, so an
operator's behaviour stays one value that config and scenarios build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OperatorProfile:
    id: str                       # "orange"
    name: str                     # "Orange France"
    system_id: str = "aggregator" # credentials the SMSC accepts
    password: str = "secret"
    receipt_delay: float = 1.0    # seconds from submit_sm_resp to the receipt
    message_id_prefix: str = ""   # makes ids of different operators tell apart in logs
