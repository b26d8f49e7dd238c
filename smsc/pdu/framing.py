"""Cut a TCP byte stream into whole SMPP PDUs by command_length (SMPP 3.4 §3.2). Pure.

command_length counts itself and the rest of the header, so a valid frame is at least 16
octets. A length below 16 or above `max_pdu` cannot be resynchronised (the next PDU's start
is unknown), so the framer reports it once as `FrameError` and stops: the session closes that
one connection, as the spec leaves no other safe choice.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER_LEN = 16
DEFAULT_MAX_PDU = 64 * 1024


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
        buffer += data
        offset = 0
        size = len(buffer)
        while size - offset >= 4:
            length = int.from_bytes(buffer[offset:offset + 4], "big")
            if length < HEADER_LEN or length > self.max_pdu:
                why = "below the 16-octet header" if length < HEADER_LEN else f"above the {self.max_pdu}-octet maximum"
                self._broken = FrameError(length, f"command_length {length} is {why}",
                                          bytes(buffer[offset:offset + HEADER_LEN]))
                del buffer[:]
                frames.append(self._broken)
                return frames
            if size - offset < length:
                break
            frames.append(bytes(buffer[offset:offset + length]))
            offset += length
        if offset:
            del buffer[:offset]
        return frames
