"""Send one hand-made job request to the controller of $SLURM_CONF, signed with a MUNGE credential of
whoever runs this (tests run it as an unprivileged user), and print how the controller answered.

    crafted.py batch GID         REQUEST_SUBMIT_BATCH_JOB with group_id GID ("-": none)
    crafted.py alloc GID         REQUEST_RESOURCE_ALLOCATION with group_id GID
    crafted.py update JOB FIELD=VALUE ...   REQUEST_UPDATE_JOB setting fields of the job_desc
    crafted.py every TYPE ...    each request type (a number) with an empty body, one connection each:
                                 prints "TYPE REPLY_TYPE RC" or "TYPE closed"
    crafted.py persist VERSION PERSIST_TYPE   REQUEST_PERSIST_INIT naming that protocol version and
                                 connection type: prints the reply's bytes (persistent-connection
                                 framing: a length, then the message) in hex, or "closed"

What real clients never send (sbatch --gid is for root only), the way an attacker would send it.
$CRAFTED_VERSION (e.g. 0x2A00) sends in that protocol version instead of 22.05's.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from dataclasses import fields
from typing import Any

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load
from flurm.protocol.constants import NO_VAL, PROTOCOL_VERSION, MsgType, slurm_strerror
from flurm.protocol.frame import Frame, FrameDecoder, encode_frame
from flurm.protocol.messages import encode_body
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.persist import PersistInitRequest


def job_desc(group_id: int, script: str | None) -> JobDesc:
    return JobDesc(
        name="crafted",
        script=script,
        user_id=os.getuid(),
        group_id=group_id,
        min_cpus=1,
        min_nodes=1,
        time_limit=5,
        priority=0,  # held: it stays as it was submitted
        work_dir="/tmp",
        std_out="/dev/null",
        environment=("PATH=/usr/bin:/bin",),
    )


def typed(name: str, text: str) -> Any:
    kinds = {f.name: f.type for f in fields(JobDesc)}
    return text if "str" in str(kinds[name]) else int(text)


def exchange(host: str, port: int, msg_type: int, data: bytes, auth: MungeAuthenticator) -> Frame | None:
    """Send one request; the reply frame, or None when the controller closed the connection."""
    version = int(os.environ.get("CRAFTED_VERSION", "0"), 0) or PROTOCOL_VERSION
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(encode_frame(msg_type, data, auth.sign(msg_type, data, version=version), version=version))
        dec = FrameDecoder()
        frame = None
        while frame is None:
            chunk = s.recv(65536)
            if not chunk:
                return None
            dec.feed(chunk)
            frame = dec.next_frame()
        return frame


def every(types: list[int], host: str, port: int, auth: MungeAuthenticator) -> int:
    for msg_type in types:
        frame = exchange(host, port, msg_type, b"", auth)
        if frame is None:
            print(f"{msg_type} closed")
        elif frame.msg_type in (MsgType.RESPONSE_SLURM_RC, MsgType.RESPONSE_SLURM_RC_MSG):
            print(f"{msg_type} {frame.msg_type} {struct.unpack('>i', frame.body[:4])[0]}")
        else:
            print(f"{msg_type} {frame.msg_type} -")
    return 0


def persist(version: int, persist_type: int, host: str, port: int, auth: MungeAuthenticator) -> int:
    init = encode_body(PersistInitRequest(version, "crafted", persist_type, 0))
    msg_type = MsgType.REQUEST_PERSIST_INIT
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(encode_frame(msg_type, init, auth.sign(msg_type, init)))
        # read exactly the reply: slurmctld leaves an operator's refused connection open
        got = b""
        while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                print("closed" if not got else f"cut short: {got.hex()}")
                return 0
            got += chunk
    print(got.hex())
    return 0


def main(argv: list[str]) -> int:
    kind = argv[0]
    cfg = load(os.environ["SLURM_CONF"])
    auth = MungeAuthenticator.from_slurm_conf(cfg.auth_info, cfg.raw.get("communicationparameters"))
    host, port = cfg.slurmctld_addresses()[0]
    if kind == "every":
        return every([int(t) for t in argv[1:]], host, port, auth)
    if kind == "persist":
        return persist(int(argv[1], 0), int(argv[2]), host, port, auth)
    if kind == "update":
        changes = dict(a.split("=", 1) for a in argv[2:])
        body = JobDesc(job_id_str=argv[1], **{k: typed(k, v) for k, v in changes.items()})
        msg_type = MsgType.REQUEST_UPDATE_JOB
    else:
        gid = NO_VAL if argv[1] == "-" else int(argv[1])
        interactive = kind == "alloc"
        body = job_desc(gid, None if interactive else "#!/bin/sh\nid\n")
        msg_type = MsgType.REQUEST_RESOURCE_ALLOCATION if interactive else MsgType.REQUEST_SUBMIT_BATCH_JOB
    frame = exchange(host, port, msg_type, encode_body(body), auth)
    if frame is None:
        print("connection closed")
        return 1
    if frame.msg_type in (MsgType.RESPONSE_SLURM_RC, MsgType.RESPONSE_SLURM_RC_MSG):
        (rc,) = struct.unpack(">I", frame.body[:4])
        print(f"refused: {slurm_strerror(rc)}" if rc else "done")
        return 0
    print(f"accepted ({MsgType(frame.msg_type).name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
