"""A blocking SMPP client on a plain socket, for tests of servers that run as processes
(`smsc-harness sink`, `serve --bench`, the bench peers): our codec builds and reads the PDUs,
every read is bounded by a socket timeout. No session logic: the test says what to send and
what it expects back."""

from __future__ import annotations

import socket

from smsc.pdu.codec import Command, DecodeFailed, Pdu, Value, decode, encode, make
from smsc.pdu.framing import Framer

TIMEOUT = 10.0


class SmppSocket:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.framer = Framer()
        self.pending: list[Pdu | DecodeFailed] = []
        self.seq = 0
        self.delivered: list[Pdu] = []

    def send(self, command: Command, **params: Value) -> int:
        """Send a request; its sequence_number."""
        self.seq += 1
        self.sock.sendall(encode(make(command, self.seq, **params)))
        return self.seq

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self, pdu: Pdu) -> None:
        """The OK response to a request the server sent (a deliver_sm)."""
        self.sock.sendall(encode(make(Command(pdu.command | 0x80000000), pdu.sequence_number)))

    def read(self) -> Pdu | DecodeFailed:
        """The next PDU; raises TimeoutError (socket.timeout) when none comes in time, EOFError
        when the server closes."""
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.pending.extend(decode(frame) for frame in self.framer.feed(data) if isinstance(frame, bytes))
        return self.pending.pop(0)

    def request(self, command: Command, **params: Value) -> Pdu:
        """Send a request and read until its response. A deliver_sm that comes meanwhile is
        answered and kept in `self.delivered`."""
        seq = self.send(command, **params)
        while True:
            pdu = self.read()
            assert isinstance(pdu, Pdu), pdu
            if pdu.sequence_number == seq and pdu.command & 0x80000000:
                return pdu
            if pdu.command is Command.deliver_sm:
                self.answer(pdu)
                self.delivered.append(pdu)

    def await_delivery(self) -> list[Pdu]:
        """Read until a deliver_sm has come (unless one already has), answering each:
        `self.delivered`. Each read is bounded by the socket's timeout."""
        while not self.delivered:
            pdu = self.read()
            assert isinstance(pdu, Pdu) and pdu.command is Command.deliver_sm, pdu
            self.answer(pdu)
            self.delivered.append(pdu)
        return self.delivered

    def bind(self, system_id: str, password: str, command: Command = Command.bind_transceiver) -> Pdu:
        return self.request(command, system_id=system_id, password=password, interface_version=0x34)

    def close(self) -> None:
        self.sock.close()
