"""Processes: which process is which, and pools of workers that end with their parent.

A pid alone names whatever process holds that number now (after a crash or a reboot, a
stranger), so a process is recorded by its pid *and* its creation time, and is signalled only
when both still match and its command line is the one expected.

Worker pools start from a fork server (workers inherit what it preloaded, e.g. dlib's model,
without the hazards of forking a caller that has threads). Each worker watches the process
that made the pool and exits as soon as that process is gone, however it ended (a SIGKILL
runs no clean-up of ours), so no worker outlives a killed ``emojax`` holding its memory.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

import psutil

#: seconds between a worker's checks that the process which made its pool is alive
WATCH_EVERY = 0.5


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


def _watch(parent: dict) -> None:
    while True:
        time.sleep(WATCH_EVERY)
        if find(parent) is None:
            os._exit(70)        # the pool's owner is gone: nobody will read what we make


def _start_worker(parent: dict, initializer: Callable | None, initargs: tuple) -> None:
    threading.Thread(target=_watch, args=(parent,), name="emojax-watch-parent", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def pool_context(preload: Sequence[str] = ()):
    """A fork server whose workers inherit the modules ``preload`` names (imported once, in
    the server); ``spawn`` where there is no fork server (each worker then imports them)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    return ctx


_MAIN_SWAP = threading.Lock()


class _NoMainPool(ProcessPoolExecutor):
    """A process pool whose workers never run this process's ``__main__``.

    A worker started by a fork server or by spawn first runs the file ``sys.modules["__main__"]``
    names (as ``__mp_main__``). While a Streamlit page runs, ``__main__`` is that page's script
    (Streamlit installs it so): a worker would run the page, whose warm-up starts a pool of its
    own, whose workers run the page again, and so on (seen: a tree of fork servers). Workers are
    started on demand by :meth:`submit` (never by the executor's own thread, with a fork server
    or spawn and no ``max_tasks_per_child``), so while it starts one, ``__main__`` is a module naming no file; it is put back
    unless something else (a page's next run) has replaced it meanwhile."""

    def submit(self, fn, /, *args, **kwargs):
        with _MAIN_SWAP:
            main = sys.modules.get("__main__")
            blank = types.ModuleType("__main__")
            sys.modules["__main__"] = blank
            try:
                return super().submit(fn, *args, **kwargs)
            finally:
                if sys.modules.get("__main__") is blank:
                    sys.modules["__main__"] = main


def process_pool(workers: int, *, preload: Sequence[str] = (), initializer: Callable | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (see :func:`pool_context`) that each exit within
    :data:`WATCH_EVERY` seconds of this process ending, then run ``initializer(*initargs)``;
    none runs this process's ``__main__`` (see :class:`_NoMainPool`), so what a worker is given
    is named by module (no function defined in ``__main__``)."""
    return _NoMainPool(max_workers=workers, mp_context=pool_context(preload), initializer=_start_worker,
                       initargs=(identity(), initializer, tuple(initargs)))
