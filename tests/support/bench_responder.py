"""A minimal SMPP responder for the bench's tests, with the misbehaviour they need as data.

Twisted, no session: it frames PDUs, decodes them with the project's codec, and answers
bind_transceiver, submit_sm, enquire_link and unbind. `Behaviour` says which submits are
answered with an error, which are never answered, how late answers come, and which
receipts (deliver_sm) are sent, how, and whether before the submit_sm_resp. Its clock is
injected: a `task.Clock` over `smsc.memory` links in tests/unit, the reactor over TCP in
tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory, Protocol

from smsc.pdu.codec import Command, Pdu, decode, encode, make, response_to
from smsc.pdu.framing import Framer
from smsc.pdu.receipt import ESM_CLASS_RECEIPT, Receipt
from smsc.pdu.status import CommandStatus


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the responder does; submits are numbered from 1 in arrival order, over all binds."""

    refuse_bind: bool = False
    error_every: int = 0                    # every n-th submit answered with `error`
    error: CommandStatus = CommandStatus.ESME_RTHROTTLED
    silent_every: int = 0                   # every n-th submit never answered
    delay: float = 0.0                      # seconds before each submit_sm_resp
    receipts: bool = False                  # a receipt for each ok submit asking for one
    receipt_delay: float = 0.0
    no_receipt_every: int = 0               # every n-th submit's receipt never sent
    receipt_tlv: bool = True                # receipted_message_id TLV; else the Appendix B text only
    receipt_first: bool = False             # the receipt goes out before the submit_sm_resp


@dataclass
class Seen:
    """What the responder received, for the tests' checks."""

    binds: int = 0
    submits: int = 0
    deliver_sm_resps: int = 0
    unbinds: int = 0
    sequence_numbers: list[int] = field(default_factory=list)


class Responder(Protocol):
    def __init__(self, factory: ResponderFactory) -> None:
        self._factory = factory
        self._framer = Framer(max_pdu=65536)
        self._seq = 0

    def dataReceived(self, data: bytes) -> None:
        for frame in self._framer.feed(data):
            if not isinstance(frame, bytes):
                return                              # a framing error: the tests send none
            pdu = decode(frame)
            if isinstance(pdu, Pdu):
                self._handle(pdu)

    def _write(self, pdu: Pdu) -> None:
        if self.transport is not None and self.connected:
            self.transport.write(encode(pdu))

    def _later(self, seconds: float, pdu: Pdu) -> None:
        if seconds > 0:
            self._factory.clock.callLater(seconds, self._write, pdu)
        else:
            self._write(pdu)

    def _handle(self, pdu: Pdu) -> None:
        behaviour, seen = self._factory.behaviour, self._factory.seen
        if pdu.command == Command.bind_transceiver:
            seen.binds += 1
            status = CommandStatus.ESME_RBINDFAIL if behaviour.refuse_bind else CommandStatus.ESME_ROK
            self._write(response_to(pdu, status, system_id="responder"))
        elif pdu.command == Command.submit_sm:
            seen.submits += 1
            seen.sequence_numbers.append(pdu.sequence_number)
            n = seen.submits
            if behaviour.silent_every and n % behaviour.silent_every == 0:
                return
            if behaviour.error_every and n % behaviour.error_every == 0:
                self._later(behaviour.delay, response_to(pdu, behaviour.error))
                return
            message_id = f"m{n}"
            resp = response_to(pdu, message_id=message_id)
            receipt = None
            if (behaviour.receipts and pdu["registered_delivery"]
                    and not (behaviour.no_receipt_every and n % behaviour.no_receipt_every == 0)):
                receipt = self._receipt(message_id)
            if receipt is not None and behaviour.receipt_first:
                self._write(receipt)
                self._later(behaviour.delay, resp)
                return
            self._later(behaviour.delay, resp)
            if receipt is not None:
                self._later(behaviour.delay + behaviour.receipt_delay, receipt)
        elif pdu.command == Command.deliver_sm_resp:
            seen.deliver_sm_resps += 1
        elif pdu.command == Command.enquire_link:
            self._write(response_to(pdu))
        elif pdu.command == Command.unbind:
            seen.unbinds += 1
            self._write(response_to(pdu))
            if self.transport is not None:
                self.transport.loseConnection()

    def _receipt(self, message_id: str) -> Pdu:
        self._seq += 1
        receipt = Receipt(message_id=message_id, stat="DELIVRD", submit_date="2612010000",
                          done_date="2612010000", text="smsc-harness bench")
        params = receipt.deliver_sm_params("33612345678", 1, "33600000000", 1)
        tlvs = receipt.tlvs() if self._factory.behaviour.receipt_tlv else ()
        if not self._factory.behaviour.receipt_tlv:
            params["esm_class"] = ESM_CLASS_RECEIPT
        return make(Command.deliver_sm, self._seq, tlvs=tlvs, **params)


class ResponderFactory(Factory):
    def __init__(self, clock: IReactorTime, behaviour: Behaviour = Behaviour()) -> None:
        self.clock = clock
        self.behaviour = behaviour
        self.seen = Seen()

    def buildProtocol(self, addr: IAddress | None) -> Responder:
        return Responder(self)
