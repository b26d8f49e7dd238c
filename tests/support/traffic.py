"""Client traffic for tests of a `serve` process: one transceiver bind that submits to the
numbers it is given, asking for receipts, and answers every deliver_sm (blocking, each read
bounded by the socket's timeout)."""

from __future__ import annotations

from smsc.pdu.codec import Command
from tests.support.smpp_socket import SmppSocket


class Traffic:
    """A bound client: `submit` each number, `close` to unbind."""

    def __init__(self, port: int, system_id: str = "demo", password: str = "demo") -> None:
        self.client = SmppSocket("127.0.0.1", port)
        answer = self.client.bind(system_id, password)
        assert answer.command_status == 0, answer

    def submit(self, *numbers: str, text: bytes = b"Your code is 4242") -> list[str]:
        """Submit one message to each E.164 number (digits, TON 1); their message ids."""
        ids = []
        for number in numbers:
            answer = self.client.request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5,
                                         destination_addr=number.lstrip("+"), dest_addr_ton=1, dest_addr_npi=1,
                                         registered_delivery=1, short_message=text)
            assert answer.command_status == 0, answer
            ids.append(str(answer["message_id"]))
        return ids

    def close(self) -> None:
        try:
            self.client.request(Command.unbind)
        finally:
            self.client.close()
