"""Every body of a newer release's real traffic (the golden captures of 24.11 and 26.05) decodes, and every
cut of it fails cleanly: a DecodeError, never another exception, never a body read past its end. What an
attacker can send in these releases' layouts is read as carefully as 22.05's."""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages import body_class, decode_body
from flurm.protocol.versions import VersionError
from flurm.protocol.wire import WireError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": 0x2A00, "26.05": 0x2D00}


def frames(release: str) -> list[tuple[str, Frame]]:
    out = []
    for path in sorted((GOLDEN / release).rglob("*.bin")):
        dec = FrameDecoder()
        try:
            dec.feed(path.read_bytes())
            while (frame := dec.next_frame()) is not None:
                out.append((f"{path.relative_to(GOLDEN)}#{len(out)}", frame))
        except WireError:
            continue  # a capture of a body alone, or of a persistent connection: not frames
    return out


def cuts(n: int) -> list[int]:
    """Every cut of a short body; of a long one, 300 spread over it and the last 64 bytes."""
    if n <= 600:
        return list(range(n))
    step = max(1, n // 300)
    return sorted({*range(0, n, step), *range(max(0, n - 64), n)})


@pytest.mark.parametrize("release", RELEASES)
def test_every_captured_body_decodes_and_every_cut_fails_cleanly(release: str) -> None:
    version = RELEASES[release]
    checked = 0
    for name, frame in frames(release):
        assert frame.version == version, name
        cls = body_class(frame.msg_type)
        if cls is None or version not in getattr(cls, "NEWER_LAYOUTS", ()):
            continue
        decode_body(frame.msg_type, frame.body, version)  # the whole body: must decode
        for cut in cuts(len(frame.body)):
            try:
                decode_body(frame.msg_type, frame.body[:cut], version)
            except VersionError:
                raise
            except WireError:
                continue
            # else the cut fell where the body may end (optional trailing fields): decode_body read
            # exactly that many bytes, as it checks every body's end
        checked += 1
    assert checked >= 100, f"only {checked} captured bodies of {release} were checked"
