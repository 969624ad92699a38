"""The sans-IO frame decoder with a server's limits, fed bytes in small pieces; the protocol-version gate."""

from __future__ import annotations

import pytest

from flurm.protocol import versions
from flurm.protocol.constants import (
    SLURM_20_11_PROTOCOL_VERSION,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import (
    FRAME_PREFIX_SIZE,
    MAX_HEADER_SIZE,
    Forward,
    Frame,
    FrameDecoder,
    FrameTooLarge,
    decode_frame,
    encode_frame,
    encode_frame_head,
)
from flurm.protocol.limits import SMALL_REQUEST, BodyLimits
from flurm.protocol.versions import VersionError
from flurm.protocol.wire import DecodeError

CRED = b"MUNGE:credential:"
LIMITS = BodyLimits().for_type


def feed_bytewise(dec: FrameDecoder, data: bytes) -> tuple[list[Frame], int]:
    """Feed ``data`` one byte at a time; the frames that came out and how many bytes were fed."""
    frames: list[Frame] = []
    for i in range(len(data)):
        dec.feed(data[i : i + 1])
        while (frame := dec.next_frame()) is not None:
            frames.append(frame)
    return frames, len(data)


def feed_as_asked(dec: FrameDecoder, data: bytes, taken: list[int] | None = None) -> Frame:
    """Feed what :meth:`FrameDecoder.needed` asks for, as a reader that reads exactly that does; the frame
    (or the error, raised). ``taken`` gets how many bytes of ``data`` were fed."""
    fed = 0
    while (frame := dec.next_frame()) is None:
        n = dec.needed()
        assert n > 0
        # in pieces of at most 3 bytes, to cross every boundary
        for start in range(fed, fed + n, 3):
            dec.feed(data[start : min(start + 3, fed + n)])
        fed += n
        if taken is not None:
            taken[:] = [fed]
    return frame


def test_a_frame_fed_byte_by_byte_decodes_with_and_without_limits() -> None:
    frame = encode_frame(MsgType.REQUEST_PING, b"body", CRED)
    for dec in (FrameDecoder(), FrameDecoder(body_limit=LIMITS)):
        frames, _ = feed_bytewise(dec, frame + frame)
        assert [(f.msg_type, f.body) for f in frames] == [(MsgType.REQUEST_PING, b"body")] * 2
        assert dec.needed() == 4 and dec.at_frame_start


def test_with_limits_the_decoder_asks_for_the_length_then_the_header_prefix_then_the_rest() -> None:
    frame = encode_frame(MsgType.REQUEST_PING, b"xyz", CRED)
    dec = FrameDecoder(body_limit=LIMITS)
    asked = []
    taken = 0
    while (decoded := dec.next_frame()) is None:
        asked.append(dec.needed())
        dec.feed(frame[taken : taken + asked[-1]])
        taken += asked[-1]
    assert asked == [4, FRAME_PREFIX_SIZE, len(frame) - 4 - FRAME_PREFIX_SIZE]
    assert decoded.body == b"xyz"
    # without limits, the frame is asked for whole after its length
    dec = FrameDecoder()
    dec.feed(frame[:4])
    assert dec.next_frame() is None and dec.needed() == len(frame) - 4


def test_a_body_over_its_type_s_limit_is_refused_after_the_header_prefix_fed_in_pieces() -> None:
    head = encode_frame_head(MsgType.REQUEST_PING, SMALL_REQUEST + 1, CRED)
    taken: list[int] = []
    with pytest.raises(FrameTooLarge, match="body of") as exc:
        feed_as_asked(FrameDecoder(body_limit=LIMITS), head + b"\0" * (SMALL_REQUEST + 1), taken)
    assert taken == [4 + FRAME_PREFIX_SIZE]
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH
    assert exc.value.msg_type == MsgType.REQUEST_PING

    dec = FrameDecoder(body_limit=LIMITS)
    fed = 0
    with pytest.raises(FrameTooLarge):
        for i in range(len(head)):
            dec.feed(head[i : i + 1])
            fed += 1
            dec.next_frame()
    assert fed == 4 + FRAME_PREFIX_SIZE  # refused as soon as type and body length were known


def test_a_body_at_its_type_s_limit_is_read() -> None:
    body = b"\0" * SMALL_REQUEST
    frame = feed_as_asked(FrameDecoder(body_limit=LIMITS), encode_frame(MsgType.REQUEST_PING, body, CRED))
    assert frame.body == body


def test_a_header_over_the_cap_is_refused_before_it_is_fed() -> None:
    forward = Forward("n" * (MAX_HEADER_SIZE + 10), 10, 1, 1)
    data = encode_frame(MsgType.REQUEST_PING, b"", CRED, forward=forward)
    dec = FrameDecoder(body_limit=LIMITS)
    with pytest.raises(FrameTooLarge, match="header of"):
        feed_bytewise(dec, data)
    taken: list[int] = []
    with pytest.raises(FrameTooLarge):
        feed_as_asked(FrameDecoder(body_limit=LIMITS), data, taken)
    assert taken == [4 + FRAME_PREFIX_SIZE]  # none of the header's nodelist was asked for
    # a header under the cap passes
    small = encode_frame(MsgType.REQUEST_PING, b"", CRED, forward=Forward("n[1-4]", 10, 1, 4))
    frame = feed_as_asked(FrameDecoder(body_limit=LIMITS), small)
    assert frame.header.forward.nodelist == "n[1-4]"


def test_a_body_length_that_does_not_fit_the_frame_is_refused_at_the_prefix() -> None:
    frame = bytearray(encode_frame(MsgType.REQUEST_PING, b"abcd", CRED))
    frame[4 + 6 : 4 + 10] = (1000).to_bytes(4, "big")  # body_length says 1000, the frame holds 4
    with pytest.raises(DecodeError, match="does not fit") as exc:
        feed_as_asked(FrameDecoder(body_limit=LIMITS), bytes(frame))
    assert exc.value.rc == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET


@pytest.mark.parametrize("length", [0, 5, 256 * 1024 * 1024 + 1])
def test_an_insane_length_is_refused_after_the_length_prefix(length: int) -> None:
    dec = FrameDecoder(body_limit=LIMITS)
    with pytest.raises(DecodeError, match="insane") as exc:
        feed_bytewise(dec, length.to_bytes(4, "big"))
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH


def test_a_version_slurmctld_refuses_is_refused_at_the_prefix() -> None:
    frame = bytearray(encode_frame(MsgType.REQUEST_PING, b"", CRED))
    frame[4:6] = (0x2700).to_bytes(2, "big")
    dec = FrameDecoder(body_limit=LIMITS)
    with pytest.raises(VersionError) as exc:
        feed_bytewise(dec, bytes(frame))
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
    with pytest.raises(VersionError):
        feed_bytewise(FrameDecoder(), bytes(frame))


# -- the version gate ---------------------------------------------------------------------------------


def test_the_versions_flurm_accepts() -> None:
    # the served releases (22.05, 24.11, 26.05) and the older headers slurmctld 22.05 accepted
    assert versions.RPC_PEERS.versions == {0x2D00, 0x2A00, 0x2600, 0x2500, 0x2400}
    assert versions.SERVED == (0x2D00, 0x2A00, 0x2600)
    # the releases in between have layouts of their own that flurm does not know
    for bad in (0x2300, 0x2401, 0x2700, 0x2800, 0x2900, 0x2B00, 0x2C00, 0x2E00, 0):
        assert not versions.RPC_PEERS.accepts(bad)
        with pytest.raises(VersionError):
            versions.check_header(bad)
    assert versions.STATE_FILES.versions == {0x2D00, 0x2A00, 0x2600}  # the served releases' job_state
    assert versions.SPOKEN == SLURM_22_05_PROTOCOL_VERSION


@pytest.mark.parametrize(
    "version",
    [0x2D00, 0x2A00, SLURM_22_05_PROTOCOL_VERSION, SLURM_21_08_PROTOCOL_VERSION, SLURM_20_11_PROTOCOL_VERSION],  # noqa: E501
)
def test_each_accepted_version_round_trips_with_its_own_header_layout(version: int) -> None:
    data = encode_frame(MsgType.REQUEST_PING, b"abc", CRED, version=version)
    extra = 2 if versions.header_has_msg_index(version) else 0
    assert len(data) == len(encode_frame(MsgType.REQUEST_PING, b"abc", CRED)) + extra
    frame = feed_as_asked(FrameDecoder(body_limit=LIMITS), data)
    assert (frame.version, frame.body) == (version, b"abc")
    assert decode_frame(data[4:]).version == version


def test_a_codec_layout_is_known_from_its_minimum_to_the_spoken_version() -> None:
    versions.check_layout(SLURM_21_08_PROTOCOL_VERSION, SLURM_20_11_PROTOCOL_VERSION, "x")
    with pytest.raises(VersionError, match="x: protocol version 0x2400"):
        versions.check_layout(SLURM_20_11_PROTOCOL_VERSION, SLURM_21_08_PROTOCOL_VERSION, "x")
    with pytest.raises(VersionError):
        versions.check_layout(0x2700, SLURM_20_11_PROTOCOL_VERSION, "x")


@pytest.mark.parametrize("version", [0x2D00, 0x2A00])
def test_a_reply_without_auth_section_round_trips_from_24_11(version: int) -> None:
    data = encode_frame(MsgType.RESPONSE_SLURM_RC, b"\0\0\0\0", None, version=version)
    assert len(data) == len(encode_frame(MsgType.RESPONSE_SLURM_RC, b"\0\0\0\0", CRED, version=version)) - (
        4 + 4 + len(CRED) + 1
    )
    frame = feed_as_asked(FrameDecoder(body_limit=LIMITS), data)
    assert frame.credential is None and frame.auth_plugin == 0
    assert frame.header.flags & 0x40 and frame.body == b"\0\0\0\0"


def test_no_auth_section_does_not_exist_in_22_05() -> None:
    with pytest.raises(ValueError):
        encode_frame(MsgType.RESPONSE_SLURM_RC, b"", None)
    # the 0x40 flag means nothing to 22.05: the auth section is still read (and here missing)
    data = bytearray(encode_frame(MsgType.REQUEST_PING, b"", CRED))
    data[6:8] = (0x40).to_bytes(2, "big")
    assert decode_frame(bytes(data[4:])).credential == CRED
