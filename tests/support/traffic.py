"""Client traffic for tests of a `serve` process: one transceiver bind that submits to the
numbers it is given, asking for receipts. A reader thread answers every deliver_sm and
enquire_link at once, as a well-behaved client does, while the test looks elsewhere (a
browser); every wait is bounded."""

from __future__ import annotations

import queue
import socket
import threading

from smsc.pdu.codec import Command, DecodeFailed, Pdu
from tests.support.smpp_socket import TIMEOUT, SmppSocket

_ANSWERED = (Command.deliver_sm, Command.enquire_link)


class Traffic:
    """A bound client: `submit` each number, `close` to unbind."""

    def __init__(self, port: int, system_id: str = "demo", password: str = "demo") -> None:
        self.client = SmppSocket("127.0.0.1", port)
        answer = self.client.bind(system_id, password)
        assert answer.command_status == 0, answer
        self.client.sock.settimeout(None)           # the reader waits; the test's waits are bounded below
        self.delivered: list[Pdu] = []
        self._responses: queue.Queue[Pdu | DecodeFailed | None] = queue.Queue()
        self._lock = threading.Lock()               # one writer at a time on the socket
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                pdu = self.client.read()
                if isinstance(pdu, Pdu) and pdu.command in _ANSWERED:
                    with self._lock:
                        self.client.answer(pdu)
                    if pdu.command is Command.deliver_sm:
                        self.delivered.append(pdu)
                else:
                    self._responses.put(pdu)
        except (EOFError, OSError):
            self._responses.put(None)

    def _request(self, command: Command, **params: object) -> Pdu:
        with self._lock:
            seq = self.client.send(command, **params)  # type: ignore[arg-type]
        while True:
            pdu = self._responses.get(timeout=TIMEOUT)
            assert isinstance(pdu, Pdu), f"no answer to {command.name}: {pdu}"
            if pdu.sequence_number == seq:
                return pdu

    def submit(self, *numbers: str, text: bytes = b"Your code is 4242", refused_ok: bool = False) -> list[str]:
        """Submit one message to each E.164 number (digits, TON 1); their message ids ("" for
        one refused, when `refused_ok`; otherwise a refusal fails the test)."""
        ids = []
        for number in numbers:
            answer = self._request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5,
                                   destination_addr=number.lstrip("+"), dest_addr_ton=1, dest_addr_npi=1,
                                   registered_delivery=1, short_message=text)
            assert answer.command_status == 0 or refused_ok, answer
            ids.append(str(answer["message_id"]) if answer.command_status == 0 else "")
        return ids

    def close(self) -> None:
        try:
            self._request(Command.unbind)
        finally:
            try:
                self.client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.client.close()
            self._reader.join(TIMEOUT)
