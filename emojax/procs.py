"""Which process is which: a pid alone names whatever process holds that number now (after a
crash or a reboot, a stranger), so a process is recorded by its pid *and* its creation time,
and is signalled only when both still match and its command line is the one expected."""

from __future__ import annotations

import os
from typing import Sequence

import psutil


def identity(pid: int | None = None) -> dict:
    """``{"pid", "created"}`` of a process (this one by default): together they name it for
    good, since a later process given the same pid has a later creation time."""
    p = psutil.Process(pid or os.getpid())
    return {"pid": p.pid, "created": p.create_time()}


def find(ident: dict | None, *, words: Sequence[str] = (), argv: Sequence[str] | None = None) -> psutil.Process | None:
    """The live process ``ident`` (from :func:`identity`) names, or None when it is gone, when
    its pid now belongs to another process, or when its command line is not ``argv`` or lacks
    any of ``words`` (each a part of some argument)."""
    try:
        pid, created = int((ident or {})["pid"]), float(ident["created"])
    except (KeyError, TypeError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        p = psutil.Process(pid)
        if abs(p.create_time() - created) > 0.05 or p.status() == psutil.STATUS_ZOMBIE:
            return None
        line = p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if argv is not None and list(line) != list(argv):
        return None
    if not all(any(word in arg for arg in line) for word in words):
        return None
    return p


def ended(p: psutil.Process) -> bool:
    """Whether a process found by :func:`find` has ended (a zombie not yet reaped has)."""
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
