import pytest
from hypothesis import given, settings, strategies as st

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


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """PDUs of any length (some with a command_length below 16 or above the maximum), then
    where the stream is cut into reads."""
    wire = b""
    for _ in range(draw(st.integers(0, 6))):
        length = draw(st.one_of(st.integers(16, 80), st.integers(0, 15), st.integers(81, 200)))
        wire += length.to_bytes(4, "big") + draw(st.binary(min_size=max(0, min(length, 120) - 4),
                                                           max_size=max(0, min(length, 120) - 4)))
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    return wire, cuts


@settings(max_examples=300, deadline=None)
@given(streams())
def test_framing_is_the_same_whatever_the_reads(stream: tuple[bytes, list[int]]) -> None:
    """Frames (bytes, each exactly its command_length) and the one FrameError come out the same
    whether the stream arrives whole or cut anywhere, as bytes or a bytearray."""
    wire, cuts = stream
    whole = Framer(max_pdu=80)
    expected = whole.feed(wire)
    framer = Framer(max_pdu=80)
    got: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)]):
        chunk = wire[start:end]
        got.extend(framer.feed(bytearray(chunk) if start % 2 else chunk))
    def seen(frames: list[object]) -> list[object]:     # an error's header: what had arrived of it
        return [(f.command_length, f.reason) if isinstance(f, FrameError) else f for f in frames]
    assert seen(got) == seen(expected)
    assert all(type(frame) is bytes for frame in got if not isinstance(frame, FrameError))
    assert framer.pending == whole.pending
