"""Extraction on a Ray cluster (``--engine ray``): the same per-video extraction as the local pool
(:mod:`.worker`).

One actor per CPU holds its own extractor per config (the face detector and dlib's model are
loaded once per actor). Videos are handed to actors as they free up. The actors only read the
videos (every node must see them at the same path) and return the features; this process, the
driver, writes each record into the feature store as it arrives, so the store need not be
shared, and a run that stops resumes from what was stored.

An actor that dies mid-video (killed, out of memory, a crash in a native library) is restarted
by Ray, which runs the call once more (``max_task_retries``); a video that kills its worker
twice fails, named in the summary, and the run goes on. Handing the video out again ourselves
raced with the restart: on Ray 2.60 under load, the new call could reach the dead process and
fail too, counted as a second death (seen in ``tests/test_cluster.py``).

The queue is ours, not ``ray.util.ActorPool``: tried on Ray 2.60 (one actor,
``max_restarts=-1, max_task_retries=1``, calls that kill their worker once or always), its
``get_next_unordered`` raises a pass that died twice as an ``ActorUnavailableError`` that does
not say which pass it was, so its videos could be named only by elimination at the end of the
batch; and a restarted actor's first call, the sign that Ray ran it again, is a false sign when
the call before it on that actor died twice, which only a queue that knows each call's actor can
tell apart.

Ray is an optional dependency (``pip install emojax[ray]``), imported only here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import deque
from typing import Callable, Iterator

from ..errors import ConfigError
from ..features.record import ExtractorConfig
from ..features.store import FeatureStore
from .items import VideoItem
from .outcomes import Outcome
from .worker import failure, read_items, setup_worker, store_result

#: how many more times a video is handed out after its worker died reading it
RETRIES = 1


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'emojax[ray]' (or pip install ray)") from None
    return ray


def connect(address: str | None = None) -> bool:
    """Join a Ray cluster unless this process has already: ``address`` ``"auto"`` (the cluster
    this machine belongs to, started with ``ray start``), ``"HOST:PORT"`` or ``"ray://HOST:PORT"``
    (Ray Client); None starts a Ray instance on this machine. True when this call connected
    (the caller then disconnects with :func:`disconnect`)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        _reachable(address)             # Ray itself waits minutes for an address nobody answers
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage report leaves the machine
    kwargs = {"address": address, "log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        kwargs["include_dashboard"] = False
    try:
        ray.init(**kwargs)
    except ConnectionError as e:
        raise ConfigError(f"could not reach the Ray cluster at {address!r}: {e}") from None
    return True


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse, in one line, an address where nothing answers (or that is not HOST:PORT)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"could not reach the Ray cluster at {address!r}: {e.strerror or e}") from None


def disconnect() -> None:
    _ray().shutdown()


class Reader:
    """What runs in each Ray actor: reads one group of cuts (or one video) at a time with this
    process's extractors."""

    def __init__(self):
        setup_worker()              # as a local pool's worker: one OpenCV thread per actor
        self._fresh = True          # no call served yet by this start of the actor

    def read(self, items: list[VideoItem], config: ExtractorConfig, accept_partial: bool,
             sha256: str) -> tuple[bool, list]:
        """Whether this is the first call served after Ray restarted the actor (the call then
        ran again because its worker died, unless the call before died for good); per item:
        its features, or the error naming the file (a string)."""
        import ray

        restarted = self._fresh and ray.get_runtime_context().was_current_actor_reconstructed
        self._fresh = False
        return restarted, [failure(it, r).error if isinstance(r, Exception) else r for it, r in
                           zip(items, read_items(items, config, accept_partial=accept_partial, sha256=sha256))]


def extract_on_ray(groups: list[list[tuple[int, VideoItem, tuple[str, str]]]], config: ExtractorConfig,
                   store: FeatureStore, finish: Callable[[int, Outcome], None], *, accept_partial: bool = False,
                   address: str | None = None, workers: int | None = None) -> None:
    """Extract ``groups`` (each one pass: (index, item, (stem, content hash)) of cuts of one
    video, or one whole video; see :func:`emojax.data.batch.pass_groups`) on the cluster at
    ``address``, storing each record and calling ``finish(index, outcome)`` as it arrives.

    ``workers``: at most this many actors (default: one per CPU of the cluster).
    """
    ray = _ray()
    started = connect(address)
    actors = []
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = max(1, min(workers or cpus, cpus, len(groups)))
        remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=RETRIES)(Reader)
        actors = [remote.remote() for _ in range(n)]
        for g, tries, results in _hand_out(ray, actors, groups, config, accept_partial):
            for (i, item, where), r in zip(g, results):
                outcome = (Outcome(item, "failed", error=r) if isinstance(r, str)
                           else store_result(store, item, where, r))
                finish(i, dataclasses.replace(outcome, retries=tries))
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            disconnect()


def _hand_out(ray, actors: list, groups: list[list[tuple[int, VideoItem, tuple[str, str]]]],
              config: ExtractorConfig, accept_partial: bool) -> Iterator[tuple[list, int, list]]:
    """Each group handed to the next idle actor; ``(group, times it ran again, per item:
    features or an error)`` as each is read. A group whose worker died more than
    :data:`RETRIES` times fails."""
    queue, idle, running = deque(groups), list(range(len(actors))), {}
    died: set[int] = set()          # actors whose last call died for good: their next restart is not a rerun
    while queue or running:
        while queue and idle:
            g, k = queue.popleft(), idle.pop()
            running[actors[k].read.remote([it for _, it, _ in g], config, accept_partial, g[0][2][1])] = (g, k)
        (ref,), _ = ray.wait(list(running), num_returns=1)
        g, k = running.pop(ref)
        idle.append(k)              # a dead actor is restarted by Ray; calls wait for it
        try:
            restarted, results = ray.get(ref)
        except ray.exceptions.RayError as e:      # its worker died each time it ran
            died.add(k)
            yield g, RETRIES, [f"{item.path}: the Ray worker reading it died {RETRIES + 1} times ("
                               f"{type(e).__name__}: out of memory, or a crash in a native library); "
                               "run again to resume" for _, item, _ in g]
            continue
        yield g, int(restarted and k not in died), results
        died.discard(k)
