"""A small pool of extraction processes shared by many callers (the dashboard's visitors): each
video is read whole in one worker, by that worker's extractor for its setting (built once per
process, :mod:`.shared`), and comes back as the same :class:`~.record.Features` the in-process
:class:`~.pipeline.Extractor` gives.

At most one video per worker is in the workers' hands; later ones wait in line, in the order
they came, and each knows its place (:attr:`Task.place`). Each worker says how many frames it has
read (a queue drained by a thread of this process), so a caller can draw its own progress
(:meth:`Task.wait` calls its callbacks on the caller's thread, as a Streamlit page needs). An
error reading a video comes back as raised in the worker (the same :class:`~emojax.errors.EmojaxError`
with the same message naming the file). A worker that dies (out of memory, a crash in a native
library) breaks the process pool under it: the videos being read then fail with
:class:`WorkerDiedError` naming each, a new pool is started, and the videos waiting in line are
read by it.

Workers start from a fork server that has loaded dlib's model (:mod:`.preload`) and imported
openSMILE, never forked from the caller (a server running JAX threads), and each exits when the
process that made the pool ends (:func:`emojax.procs.process_pool`).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from ..errors import EmojaxError
from ..fileio import shown
from ..procs import pool_context, process_pool
from .record import ExtractorConfig, Features
from .shared import shared_extractor

#: imported by the pool's fork server, so that every worker starts with dlib's model loaded and
#: openSMILE imported (about a second of each worker's start, on a quiet 2-core machine)
PRELOAD = ("emojax.features.preload", "opensmile")
#: the environment variable that sets how many workers a pool has (default: one per core)
WORKERS_ENV = "EMOJAX_EXTRACTION_WORKERS"
#: seconds between a worker's reports of frames read
REPORT_EVERY = 0.1


class WorkerDiedError(EmojaxError):
    """The process reading a video died before it finished (nothing was kept)."""


def default_workers() -> int:
    """How many workers a pool has when not told: ``$EMOJAX_EXTRACTION_WORKERS``, else one per core."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise EmojaxError(f"{WORKERS_ENV}={value!r}: expected a whole number of worker processes, 1 or more")
        return n
    return os.cpu_count() or 1


# --- in a worker -------------------------------------------------------------------------------

_reports = None     # this worker's queue to the pool's owner


def _start(reports) -> None:
    """Set up a worker: where to report, and one OpenCV thread (one process per core scales;
    OpenCV's own threads barely do)."""
    global _reports
    import cv2

    cv2.setNumThreads(1)
    _reports = reports


def _read(task: int, path: str, config: ExtractorConfig, accept_partial: bool) -> tuple[Features, int]:
    """Read one video with this worker's extractor for ``config``: its record and how many
    frames were read, reporting the count as it goes."""
    _reports.put((task, "start", os.getpid()))
    done, last = [0], [time.monotonic()]

    def tick(n: int) -> None:
        done[0] += n
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY:
            last[0] = now
            _reports.put((task, "frames", done[0]))

    feats = shared_extractor(config)(path, progress=tick, accept_partial=accept_partial)
    return feats, done[0]


def _warm(config: ExtractorConfig, hold: float) -> int:
    """Build this worker's extractor for ``config`` and the voice's openSMILE, then stay busy
    ``hold`` seconds (so that the other warm-ups go to the other workers); this worker's pid."""
    from .voice import smile

    shared_extractor(config)
    smile()
    time.sleep(hold)
    return os.getpid()


# --- in the pool's owner -------------------------------------------------------------------------

class Task:
    """One video handed to a pool: where it stands (:attr:`place` in line, :attr:`frames` read,
    :attr:`pid` of its worker) and, when done, its record (:meth:`result`, :meth:`wait`)."""

    def __init__(self, number: int, path: str | os.PathLike, config: ExtractorConfig, accept_partial: bool,
                 leave: Callable[["Task"], None] | None = None):
        self.number, self.path, self.config, self.accept_partial = number, os.fspath(path), config, accept_partial
        self.place = None       # 1, 2, ...: its place among those waiting; 0: in a worker's hands; None: not yet known
        self.frames = 0         # frames read so far
        self.pid = None         # the worker reading it, once it has started
        self.future: Future = Future()
        self._leave = leave

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> Features:
        """The record (raising what reading it raised)."""
        return self.future.result(timeout)

    def wait(self, progress: Callable[[int], None] | None = None, waiting: Callable[[int], None] | None = None,
             *, every: float = 0.2) -> Features:
        """The record, calling on this thread, every ``every`` seconds until it is done,
        ``waiting(place)`` while it waits in line and ``progress(n)`` with the ``n`` frames read
        since the last call (at the end, the calls' sum is the frames read)."""
        told = 0
        try:
            while True:
                finished = bool(wait([self.future], timeout=every).done)
                if waiting is not None and self.place:
                    waiting(self.place)
                if progress is not None and self.frames > told:
                    progress(self.frames - told)
                    told = self.frames
                if finished:
                    return self.future.result()
        except BaseException:           # the caller gave up (a page run stopped): leave the line
            self.withdraw()
            raise

    def withdraw(self) -> None:
        """Take this video out of line if it is still waiting (one being read is read to its end)."""
        if self._leave is not None and not self.done():
            self._leave(self)


class ExtractionPool:
    """``workers`` processes (default :func:`default_workers`) reading videos for any thread of
    this process; see the module's docstring. :meth:`close` it (or use it in ``with``)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        self._reports = pool_context(PRELOAD).Queue()
        self._events: queue.Queue = queue.Queue()
        self._line: deque[Task] = deque()
        self._running: dict[int, Task] = {}
        self._numbers = itertools.count(1)
        self._executor = self._new_executor()
        self.restarts = 0          # how many times a worker died and the pool was started again
        self._closed = False
        self._threads = [threading.Thread(target=self._listen, name="emojax-pool-reports", daemon=True),
                         threading.Thread(target=self._keep, name="emojax-pool-keeper", daemon=True)]
        for t in self._threads:
            t.start()

    def _new_executor(self):
        return process_pool(self.workers, preload=PRELOAD, initializer=_start, initargs=(self._reports,))

    def submit(self, path: str | os.PathLike, config: ExtractorConfig | None = None, *,
               accept_partial: bool = False) -> Task:
        """Put a video in line; its :class:`Task` at once."""
        if self._closed:
            raise EmojaxError("the extraction pool is closed: no video can be read by it any more")
        task = Task(next(self._numbers), path, config or ExtractorConfig(), accept_partial,
                    leave=lambda t: self._events.put(("withdraw", t, None, None)))
        self._events.put(("submit", task, None, None))
        return task

    def extract(self, path: str | os.PathLike, config: ExtractorConfig | None = None, *,
                progress: Callable[[int], None] | None = None, accept_partial: bool = False) -> Features:
        """Read a video in the pool and wait for it (``progress`` as :meth:`Extractor.__call__`'s,
        called on this thread)."""
        return self.submit(path, config, accept_partial=accept_partial).wait(progress)

    def warm(self, config: ExtractorConfig | None = None, *, hold: float = 0.3) -> set[int]:
        """Start every worker and build its extractor for ``config`` now, so that the first video
        does not wait for them; the pids of the workers warmed."""
        futures = [self._executor.submit(_warm, config or ExtractorConfig(), hold) for _ in range(self.workers)]
        return {f.result() for f in futures}

    # the keeper: the one thread that hands tasks to workers and settles them

    def _keep(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            kind, task, executor, future = event
            if kind == "submit":
                self._line.append(task)
            elif kind == "withdraw":
                if task in self._line:
                    self._line.remove(task)
                    task.future.cancel()
            else:
                self._settle(task, executor, future)
            self._hand_out()

    def _hand_out(self) -> None:
        while self._line and len(self._running) < self.workers:
            task = self._line.popleft()
            task.place = 0
            self._running[task.number] = task
            self._send(task)
        for i, task in enumerate(self._line):
            task.place = i + 1

    def _send(self, task: Task) -> None:
        for _ in range(2):
            executor = self._executor
            try:
                future = executor.submit(_read, task.number, task.path, task.config, task.accept_partial)
            except BrokenProcessPool:               # broken before this task reached it: a new pool
                self._replace(executor)
                continue
            future.add_done_callback(lambda f, t=task, e=executor: self._events.put(("done", t, e, f)))
            return
        self._running.pop(task.number, None)
        task.future.set_exception(WorkerDiedError(f"{shown(task.path)}: the extraction workers could not be "
                                                  "started again; nothing was read. Restart the server"))

    def _settle(self, task: Task, executor, future: Future) -> None:
        self._running.pop(task.number, None)
        try:
            feats, frames = future.result()
        except BrokenProcessPool:
            self._replace(executor)
            task.future.set_exception(WorkerDiedError(
                f"{shown(task.path)}: the process reading it died before it finished (out of memory, or a crash "
                "in a native library, while reading this video or another one read at the same time); nothing "
                "was kept. Try again"))
        except BaseException as e:                  # what reading it raised, as the extractor raised it
            task.future.set_exception(e)
        else:
            task.frames = frames
            task.future.set_result(feats)

    def _replace(self, executor) -> None:
        if executor is self._executor and not self._closed:
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            self.restarts += 1

    # the listener: workers' reports to the tasks they read

    def _listen(self) -> None:
        while True:
            try:
                message = self._reports.get()
            except (EOFError, OSError):
                return
            if message is None:
                return
            number, kind, value = message
            task = self._running.get(number)
            if task is None:
                continue
            if kind == "start":
                task.pid = value
            elif value > task.frames:
                task.frames = value

    def close(self) -> None:
        """Stop the workers; videos still in line fail saying so."""
        if self._closed:
            return
        self._closed = True
        self._events.put(None)
        self._threads[1].join()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for task in list(self._line) + list(self._running.values()):
            if not task.future.done():
                task.future.set_exception(EmojaxError(f"{shown(task.path)}: not read: the extraction pool was closed"))
        self._reports.put(None)
        self._threads[0].join(timeout=5)
        self._reports.close()

    def __enter__(self) -> "ExtractionPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
