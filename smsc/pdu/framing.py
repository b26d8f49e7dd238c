"""Cut a TCP byte stream into whole SMPP PDUs by command_length (SMPP 3.4 §3.2). Pure.

command_length counts itself and the rest of the header, so a valid frame is at least 16
octets. A length below 16 or above `max_pdu` cannot be resynchronised (the next PDU's start
is unknown), so the framer reports it once as `FrameError` and stops: the session closes that
one connection, as the spec leaves no other safe choice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_LEN = 16
DEFAULT_MAX_PDU = 64 * 1024
_unpack_length = struct.Struct("!I").unpack_from


@dataclass(frozen=True, slots=True)
class FrameError:
    """The stream cannot be framed any more. `header` holds the offending 16 octets if known."""

    command_length: int
    reason: str
    header: bytes


class Framer:
    def __init__(self, max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self.max_pdu = max_pdu               # may change between feeds (an SMSC raises it at bind)
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    @property
    def pending(self) -> int:
        """Octets received but not yet part of a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Add data; return every whole frame now available, then at most one FrameError."""
        frames: list[bytes | FrameError] = []
        if self._broken is not None:
            return frames
        buffer = self._buffer
        if buffer:                          # the rest of a PDU begun in an earlier read
            buffer += data
            if len(buffer) < 4:
                return frames
            length = _unpack_length(buffer, 0)[0]
            if HEADER_LEN <= length <= self.max_pdu and length > len(buffer):
                return frames               # still inside that PDU: no copy until it is whole
            data = bytes(buffer)
            del buffer[:]
        elif type(data) is not bytes:
            data = bytes(data)              # frames are bytes, whatever the transport hands in
        # Frames are cut from `data` itself: one copy each (a slice of bytes), where cutting
        # them from the bytearray took two, and a read holds hundreds under load.
        max_pdu = self.max_pdu
        offset = 0
        size = len(data)
        while size - offset >= 4:
            length = _unpack_length(data, offset)[0]
            if length < HEADER_LEN or length > max_pdu:
                why = "below the 16-octet header" if length < HEADER_LEN else f"above the {max_pdu}-octet maximum"
                self._broken = FrameError(length, f"command_length {length} is {why}",
                                          bytes(data[offset:offset + HEADER_LEN]))
                frames.append(self._broken)
                return frames
            end = offset + length
            if end > size:
                break
            frames.append(data[offset:end])
            offset = end
        if offset < size:
            buffer += data[offset:]
        return frames
