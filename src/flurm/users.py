"""User and group lookups, cached: what slurmctld resolves through NSS for records and credentials."""

from __future__ import annotations

import functools
import grp
import os
import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserInfo:
    uid: int
    gid: int
    name: str
    gecos: str
    home: str
    shell: str
    gids: tuple[int, ...]


@functools.lru_cache(maxsize=4096)
def user_info(uid: int) -> UserInfo | None:
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return None
    try:
        gids = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except OSError:
        gids = (pw.pw_gid,)
    return UserInfo(uid, pw.pw_gid, pw.pw_name, pw.pw_gecos, pw.pw_dir, pw.pw_shell, gids)


def user_name(uid: int) -> str:
    info = user_info(uid)
    return info.name if info is not None else str(uid)


@functools.lru_cache(maxsize=1024)
def uid_of(name: str) -> int | None:
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


@functools.lru_cache(maxsize=1024)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
