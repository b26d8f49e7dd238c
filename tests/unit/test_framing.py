import pytest

from smsc.pdu.codec import Command, decode, encode, make
from smsc.pdu.framing import FrameError, Framer


def _wire() -> bytes:
    return encode(make(Command.enquire_link, 1)) + encode(make(Command.submit_sm, 2, destination_addr="33612345678",
                                                                short_message=b"hello")) + encode(make(Command.unbind, 3))


@pytest.mark.parametrize("chunk", [1, 2, 7, 16, 4096])
def test_framing_ignores_chunk_boundaries(chunk: int) -> None:
    wire = _wire() + b"\x00\x00"                 # + the start of a fourth PDU
    framer = Framer(max_pdu=4096)
    frames = [f for i in range(0, len(wire), chunk) for f in framer.feed(wire[i:i + chunk])]
    decoded = [decode(f) for f in frames]        # type: ignore[arg-type]
    assert [p.command for p in decoded] == [Command.enquire_link, Command.submit_sm, Command.unbind]  # type: ignore[union-attr]
    assert framer.pending == 2


def test_command_length_below_header_is_a_frame_error_and_framing_stops() -> None:
    framer = Framer()
    out = framer.feed(encode(make(Command.enquire_link, 1)) + (8).to_bytes(4, "big") + b"\x00" * 12)
    assert len(out) == 2 and isinstance(out[1], FrameError)
    assert "below" in out[1].reason
    assert framer.feed(encode(make(Command.enquire_link, 2))) == []


def test_command_length_above_maximum_is_a_frame_error() -> None:
    framer = Framer(max_pdu=1024)
    (error,) = framer.feed((1025).to_bytes(4, "big") + b"\x00" * 12)
    assert isinstance(error, FrameError) and error.command_length == 1025
