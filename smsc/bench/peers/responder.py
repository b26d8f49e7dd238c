"""The minimal raw SMPP responder of issue 13: the ceiling of plain Python I/O.

It frames PDUs by command_length and answers from the header alone: bind_* ok (system_id
"responder"), submit_sm ok with a message_id from a counter, enquire_link, unbind (then
closes), generic_nack ESME_RINVCMDID for any other request; responses it is sent (a
deliver_sm_resp, say) are read and dropped. No receipts, no decoding of bodies, no checks:
it is the yardstick that `smsc-harness bench` figures are compared with, not a server to use.

    python -m smsc.bench.peers.responder [--host 127.0.0.1] [--port 0]

First stdout line: `responder: SMPP on HOST:PORT`. SIGTERM and SIGINT stop it, exit 0.
asyncio and the standard library only: it runs without the project's dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct

HEADER = struct.Struct(">IIII")           # command_length, command_id, command_status, sequence_number
BINDS = {0x00000001, 0x00000002, 0x00000009}
SUBMIT_SM, UNBIND, ENQUIRE_LINK, GENERIC_NACK = 0x00000004, 0x00000006, 0x00000015, 0x80000000
ESME_RINVCMDID = 0x00000003


class Responder(asyncio.Protocol):
    counter = 0                            # message ids, shared by every connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        at, end, close = 0, len(buffer), False
        while end - at >= 16:
            length, command, _, seq = HEADER.unpack_from(buffer, at)
            if length < 16:                # not SMPP: nothing sensible to answer
                self.transport.close()
                return
            if end - at < length:
                break
            at += length
            if command == SUBMIT_SM:
                Responder.counter += 1
                body = b"%x\x00" % Responder.counter
                out.append(HEADER.pack(16 + len(body), 0x80000004, 0, seq) + body)
            elif command in BINDS:
                out.append(HEADER.pack(26, command | 0x80000000, 0, seq) + b"responder\x00")
            elif command == ENQUIRE_LINK or command == UNBIND:
                out.append(HEADER.pack(16, command | 0x80000000, 0, seq))
                close = close or command == UNBIND
            elif not command & 0x80000000:
                out.append(HEADER.pack(16, GENERIC_NACK, ESME_RINVCMDID, seq))
        self.buffer = buffer[at:]
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"responder: SMPP on {bound_host}:{bound_port}", flush=True)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m smsc.bench.peers.responder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
