"""Extract many videos into the feature store: which videos need reading (each file hashed once,
what is stored already skipped, copies read once), how they are grouped into decoding passes,
and which engine reads the passes (a local process pool, or a Ray cluster: :mod:`.cluster`);
resumable. What a worker does with a pass is :mod:`.worker`; the report, :mod:`.outcomes`."""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterable

from ..errors import ConfigError, EmojaxError
from ..features.record import ExtractorConfig
from ..features.store import FeatureStore
from ..fileio import check_writable
from ..procs import process_pool
from .items import VideoItem
from .outcomes import Outcome, Summary
from .worker import PRELOAD, extract_group, extract_item, locate, setup_worker, stored

#: cuts of one video (IEMOCAP's utterances of a dialog) are read in one decoding pass per span
#: of about this many seconds: fine enough to share a dialog among workers and to resume, long
#: enough that the seek to each span's first keyframe costs little
PASS_SECONDS = 60.0


#: at most this many cuts share a pass (each holds its rows until the pass ends)
PASS_CUTS = 64


def pass_groups(todo: list[tuple[int, VideoItem]], span: float | None = None,
                max_cuts: int = PASS_CUTS) -> list[list[int]]:
    """``todo`` (index, item) as groups of indices to read in one pass each: the cuts of one
    file, by start, in spans of about ``span`` seconds (default :data:`PASS_SECONDS`; 0: each
    cut alone) and at most ``max_cuts`` cuts; a whole video, or a cut longer than the span,
    alone (so what a pass holds at once stays small)."""
    span = PASS_SECONDS if span is None else span
    groups, by_file = [], {}
    for i, item in todo:
        start = item.start or 0.0
        if item.end is None or item.end - start > span:
            groups.append([i])
        else:
            by_file.setdefault(os.path.realpath(item.path), []).append((start, i))
    for cuts in by_file.values():
        cuts.sort()
        first = None
        for start, i in cuts:
            if first is None or start - first >= span or len(groups[-1]) >= max_cuts:
                groups.append([])
                first = start
            groups[-1].append(i)
    return groups


#: where a batch's videos can be read (the CLI's ``--engine``)
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ExtractionEngine:
    """Where a batch's videos are read: ``"local"``, a process pool on this machine (the
    default), or ``"ray"``, the actors of a Ray cluster (:mod:`emojax.data.cluster`).
    ``address`` (ray only): ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` joins a
    running cluster; None starts Ray on this machine for the batch and stops it after."""

    kind: str = "local"
    address: str | None = None

    def __post_init__(self):
        if self.kind not in ENGINES:
            raise ConfigError(f"unknown engine {self.kind!r}; choose one of {list(ENGINES)}")
        if self.address is not None and self.kind != "ray":
            raise ConfigError("an address names a Ray cluster: it goes with the ray engine (--engine ray)")


@dataclass
class _Plan:
    """What a batch has to read: each item to read, by index, with its (stem, content hash);
    the items of the same content and cut as an earlier one (read once, for both)."""

    where: dict[int, tuple[str, str]] = dataclasses.field(default_factory=dict)
    followers: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    unhashed: list[int] = dataclasses.field(default_factory=list)   # could not be hashed: read to say why


def _plan(items: list[VideoItem], store: FeatureStore, config: ExtractorConfig, accept_partial: bool,
          record: Callable[[int, Outcome], None]) -> _Plan:
    """Every file hashed once, here: what is stored already (under any name) is recorded and
    needs no worker, and items of the same content and cut (links, copies, a listed file twice)
    are read once."""
    plan, leaders, index = _Plan(), {}, store.index()     # the folder listed once, not once per item
    for i, it in enumerate(items):
        try:
            stem, sha = locate(it, store, config, index)
            if (o := stored(it, store, stem, accept_partial, config)) is not None:
                record(i, o)
                continue
        except (EmojaxError, OSError):
            plan.unhashed.append(i)     # extract_item reports it, naming the file
            continue
        key = stem.name.rsplit("__", 1)[-1]       # (content, cut, settings), whatever the name
        if key in leaders:
            plan.followers[leaders[key]].append(i)
        else:
            leaders[key] = i
            plan.where[i] = (str(stem), sha)
            plan.followers[i] = []
    return plan


def extract_items(items: Iterable[VideoItem], store_root: str | os.PathLike, config: ExtractorConfig | None = None,
                  *, workers: int | None = None, on_done: Callable[[Outcome], None] | None = None,
                  on_frames: Callable[[int], None] | None = None, accept_partial: bool = False,
                  engine: ExtractionEngine | None = None) -> Summary:
    """Extract every item into the store at ``store_root``.

    Args:
        workers: processes (default: all cores); 1 runs in this process. With the ray engine,
            at most this many actors (default: one per CPU of the cluster).
        engine: where the videos are read (default: a process pool on this machine).
        accept_partial: keep videos that are not whole (truncated, damaged), marked partial;
            by default they fail, naming the file and what is missing.
        on_done: called after each item (the CLI advances its progress bar with it).
        on_frames: called with 1 per decoded frame, when items run in this process.
    """
    items, config, engine = list(items), config or ExtractorConfig(), engine or ExtractionEngine()
    root = os.fspath(store_root)
    done: dict[int, Outcome] = {}

    def record(i: int, outcome: Outcome) -> None:
        done[i] = outcome
        if on_done is not None:
            on_done(outcome)

    check_writable(root, "feature store")    # a read-only or full store: said now, not after every video
    store = FeatureStore(root)
    plan = _plan(items, store, config, accept_partial, record)

    def finish(i: int, outcome: Outcome) -> None:
        record(i, outcome)
        for j in plan.followers.get(i, ()):          # the same content and cut: what the first one got
            record(j, dataclasses.replace(outcome, item=items[j], status="cached" if outcome.stem else "failed"))

    for i in plan.unhashed:                          # could not be hashed: the error, named
        finish(i, extract_item(items[i], root, config, accept_partial=accept_partial))
    # passes small enough that every worker gets several (a few cuts of one long file would
    # otherwise be one pass on one core)
    n = workers or os.cpu_count() or 1
    share = PASS_CUTS if n == 1 else max(1, math.ceil(len(plan.where) / (2 * n)))
    groups = pass_groups([(i, items[i]) for i in sorted(plan.where)], max_cuts=min(PASS_CUTS, share))
    if engine.kind == "ray" and groups:
        from .cluster import extract_on_ray

        extract_on_ray([[(i, items[i], plan.where[i]) for i in g] for g in groups], config, store, finish,
                       accept_partial=accept_partial, address=engine.address, workers=workers)
    else:
        _on_pool(groups, items, plan.where, root, config, finish, workers=n, on_frames=on_frames,
                 accept_partial=accept_partial)
    return Summary([done[i] for i in range(len(items))])


def _on_pool(groups: list[list[int]], items: list[VideoItem], where: dict[int, tuple[str, str]], root: str,
             config: ExtractorConfig, finish: Callable[[int, Outcome], None], *, workers: int,
             on_frames: Callable[[int], None] | None, accept_partial: bool) -> None:
    """Read ``groups`` (passes of indices into ``items``) on a process pool of ``workers``
    (in this process when 1, or when there is one pass), calling ``finish`` per item."""
    if workers == 1 or len(groups) <= 1:
        for g in groups:
            for i, outcome in zip(g, extract_group([items[i] for i in g], root, config, on_frames, accept_partial,
                                                   [where[i] for i in g])):
                finish(i, outcome)
        return
    with process_pool(min(workers, len(groups)), preload=[PRELOAD], initializer=setup_worker) as pool:
        futures = {pool.submit(extract_group, [items[i] for i in g], root, config, None, accept_partial,
                               [where[i] for i in g]): g for g in groups}
        for fut in as_completed(futures):
            g = futures[fut]
            try:
                outcomes = fut.result()
            except BrokenProcessPool:
                outcomes = [Outcome(items[i], "failed", error=f"{items[i].path}: the worker process died "
                                    "(out of memory, or a crash in a native library); run again to resume")
                            for i in g]
            for i, outcome in zip(g, outcomes):
                finish(i, outcome)
