"""Keep the GRES-bearing part of a capture.py output directory as golden files.

    python tests/golden/gres/select.py CAPTURE_OUTDIR GOLDEN_DIR

Copies every connection (both directions) that carries a message in KEEP, the job info exchanges that asked
for details (SHOW_DETAIL: ``scontrol show job -d``), the saved state files, the clients' outputs and the jobs'
outputs; the polling the capture did to wait (job state, fed info) is left out. GOLDEN_DIR/index.txt lists
each kept file with its message types.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

from flurm.protocol.constants import MsgType  # noqa: E402
from flurm.protocol.frame import FrameDecoder  # noqa: E402
from flurm.protocol.messages.base import decode_body  # noqa: E402

SHOW_DETAIL = 0x0002
KEEP = {
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_BATCH_JOB_LAUNCH,
    MsgType.REQUEST_LAUNCH_PROLOG,
    MsgType.REQUEST_TERMINATE_JOB,
    MsgType.REQUEST_KILL_JOB,
    MsgType.REQUEST_SUBMIT_BATCH_JOB,
    MsgType.REQUEST_RESOURCE_ALLOCATION,
    MsgType.REQUEST_JOB_STEP_CREATE,
    MsgType.REQUEST_JOB_STEP_INFO,
    MsgType.REQUEST_NODE_INFO,
    MsgType.REQUEST_PARTITION_INFO,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO,
    MsgType.MESSAGE_EPILOG_COMPLETE,
    MsgType.REQUEST_STEP_COMPLETE,
}


def frame_types(path: Path) -> list[tuple[int, object]]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out: list[tuple[int, object]] = []
    while (f := dec.next_frame()) is not None:
        out.append((f.msg_type, decode_body(f.msg_type, f.body, f.version)))
    return out


def wanted(frames: list[tuple[int, object]]) -> bool:
    for msg_type, body in frames:
        if msg_type in KEEP:
            return True
        detail = getattr(body, "show_flags", 0) & SHOW_DETAIL
        if msg_type in (MsgType.REQUEST_JOB_INFO_SINGLE, MsgType.REQUEST_JOB_INFO) and detail:
            return True
    return False


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    index = []
    for c2s in sorted(src.glob("*-c2s.bin")):
        s2c = c2s.with_name(c2s.name.replace("-c2s", "-s2c"))
        frames = frame_types(c2s)
        if not wanted(frames):
            continue
        names = [MsgType(t).name for t, _ in frames]
        answer = [MsgType(t).name for t, _ in frame_types(s2c)] if s2c.exists() else []
        for p in (c2s, s2c):
            if p.exists() and p.stat().st_size:
                shutil.copyfile(p, dst / p.name)
        index.append(f"{c2s.name.removesuffix('-c2s.bin')}: {' '.join(names)} -> {' '.join(answer) or '-'}")
    (dst / "state").mkdir(exist_ok=True)
    for name in ("job_state", "node_state"):
        shutil.copyfile(src / "state" / name, dst / "state" / name)
    for p in [src / "outputs.txt", src / "steps.log", *sorted(src.glob("job*.out"))]:
        shutil.copyfile(p, dst / p.name)
    (dst / "index.txt").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
