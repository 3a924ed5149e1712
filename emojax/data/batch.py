"""Extract many videos into the feature store: in parallel, resumable, with a summary."""

from __future__ import annotations

import dataclasses
import os
import sys
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..fileio import check_writable, file_sha256
from ..errors import ConfigError, EmojaxError
from ..features.record import ExtractorConfig
from ..features.store import FeatureStore
from ..procs import process_pool
from .items import VideoItem

_EXTRACTORS: dict = {}  # per process: config -> Extractor (detector and predictor built once)
#: loaded by the pool's fork server, so that its workers start with dlib's model
PRELOAD = "emojax.features.preload"


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core scales; OpenCV's own threads barely do


def _extractor(config: ExtractorConfig):
    from ..features.pipeline import Extractor

    if config not in _EXTRACTORS:
        warm = sys.modules.get(PRELOAD)  # imported by the pool's fork server before it forked this worker
        predictor = warm.PREDICTOR if warm else (
            next(iter(_EXTRACTORS.values())).predictor if _EXTRACTORS else None)
        _EXTRACTORS[config] = Extractor(config, predictor=predictor)
    return _EXTRACTORS[config]


def item_config(item: VideoItem, config: ExtractorConfig) -> ExtractorConfig:
    """The config for one item: its frame region (IEMOCAP's speaker half) overrides the default."""
    return dataclasses.replace(config, region=item.region) if item.region else config


@dataclass
class Outcome:
    """What happened to one item."""

    item: VideoItem
    status: str            # "done", "cached" or "failed"
    stem: str | None = None
    error: str | None = None
    frames: int = 0
    no_face: int = 0
    partial: str | None = None  # what is missing from a video kept although it was not whole
    retries: int = 0            # times it was handed out again because the worker reading it died


def _outcome(item: VideoItem, status: str, stem, feats) -> Outcome:
    integ = feats.source.get("integrity", {})
    partial = f"{integ.get('status')}, read {integ.get('frames_read')} frames" if feats.partial else None
    return Outcome(item, status, str(stem), frames=len(feats), no_face=int((~feats.face_found).sum()),
                   partial=partial)


def _stored(item: VideoItem, store: FeatureStore, stem, accept_partial: bool) -> Outcome | None:
    """The outcome of a record already stored (None when there is none). A partial record
    counts only when partial records are accepted: otherwise the video is read again, and fails."""
    if not store.has(stem):
        return None
    feats = store.load(stem)
    return _outcome(item, "cached", stem, feats) if accept_partial or not feats.partial else None


def _locate(item: VideoItem, store: FeatureStore, config: ExtractorConfig,
            index: dict[str, Path] | None = None) -> tuple[Path, str]:
    """Where the item's record is or goes (a record of the same content under another name
    counts), and the file's content hash."""
    stem = store.locate(item.path, item_config(item, config), item.start, item.end, name=item.id.replace("/", "_"),
                        index=index)
    return stem, file_sha256(item.path)


def extract_item(item: VideoItem, store_root: str, config: ExtractorConfig,
                 progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                 where: tuple[str, str] | None = None) -> Outcome:
    """Extract one item into the store unless it is there already. Never raises for a bad
    video: the error is returned in the outcome, naming the file. A video that is not whole
    fails unless ``accept_partial`` (then it is stored, marked partial). ``where``: its
    (stem, content hash) when the caller has them (the file is then not hashed again)."""
    store = FeatureStore(store_root)
    try:
        stem, sha = (Path(where[0]), where[1]) if where else _locate(item, store, config)
        if (done := _stored(item, store, stem, accept_partial)) is not None:
            return done
        feats = read_item(item, config, progress=progress, accept_partial=accept_partial, sha256=sha)
        store.put(stem, feats)
        return _outcome(item, "done", stem, feats)
    except Exception as e:
        return failure(item, e)


def read_item(item: VideoItem, config: ExtractorConfig, *, progress: Callable[[int], None] | None = None,
              accept_partial: bool = False, sha256: str | None = None):
    """One item's :class:`Features`, read by this process's extractor for its config (built
    once per process), not stored. Raises for a bad video, naming the file."""
    feats = _extractor(item_config(item, config))(item.path, start=item.start, end=item.end, progress=progress,
                                                  accept_partial=accept_partial, sha256=sha256)
    feats.source["id"] = item.id
    return feats


def failure(item: VideoItem, e: Exception) -> Outcome:
    """The outcome of an item whose extraction raised ``e``."""
    if isinstance(e, (EmojaxError, OSError)):   # messages that already name the file
        return Outcome(item, "failed", error=str(e))
    # anything else (an OpenCV or dlib error on a strange frame): reported, and the batch goes on
    return Outcome(item, "failed", error=f"{item.path}: {type(e).__name__}: {e}")


@dataclass
class Summary:
    """Totals of a batch extraction."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def partial(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.partial]

    def text(self) -> str:
        frames = sum(o.frames for o in self.outcomes)
        no_face = sum(o.no_face for o in self.outcomes)
        lines = [f"done {self.count('done')}, already stored {self.count('cached')}, failed {self.count('failed')}, "
                 f"kept partial {len(self.partial)}; "
                 f"{frames} frames, {no_face} without a face ({100 * no_face / max(frames, 1):.1f} %)"]
        lines += [f"  failed: {o.item.id}: {o.error}" for o in self.failed]
        lines += [f"  partial: {o.item.id}: {o.partial}" for o in self.partial]
        lines += [f"  read again after its worker died: {o.item.id} ({o.retries}x)" for o in self.outcomes if o.retries]
        faceless = [o for o in self.outcomes if o.frames and o.no_face == o.frames]
        lines += [f"  no face in any frame: {o.item.id}" for o in faceless]
        return "\n".join(lines)


ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Engine:
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


def extract_items(items: Iterable[VideoItem], store_root: str | os.PathLike, config: ExtractorConfig | None = None,
                  *, workers: int | None = None, on_done: Callable[[Outcome], None] | None = None,
                  on_frames: Callable[[int], None] | None = None, accept_partial: bool = False,
                  engine: Engine | None = None) -> Summary:
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
    items = list(items)
    config = config or ExtractorConfig()
    engine = engine or Engine()
    root = os.fspath(store_root)
    done: dict[int, Outcome] = {}

    def record(i: int, outcome: Outcome) -> None:
        done[i] = outcome
        if on_done is not None:
            on_done(outcome)

    check_writable(root, "feature store")    # a read-only or full store: said now, not after every video
    # every file hashed once, here: what is stored already (under any name) needs no worker, and
    # items of the same content and cut (links, copies, a listed file twice) are read once
    store = FeatureStore(root)
    index = store.index()                       # the folder listed once, not once per item
    followers: dict[int, list[int]] = {}
    leaders: dict[str, int] = {}
    where: dict[int, tuple[str, str]] = {}
    for i, it in enumerate(items):
        try:
            stem, sha = _locate(it, store, config, index)
            if (o := _stored(it, store, stem, accept_partial)) is not None:
                record(i, o)
                continue
        except (EmojaxError, OSError):
            continue                    # extract_item reports it, naming the file
        where[i] = (str(stem), sha)
        key = stem.name.rsplit("__", 1)[-1]       # (content, cut, settings), whatever the name
        if key in leaders:
            followers[leaders[key]].append(i)
        else:
            leaders[key] = i
            followers[i] = []
    following = {j for f in followers.values() for j in f}
    todo = [i for i in range(len(items)) if i not in done and i not in following]

    def finish(i: int, outcome: Outcome) -> None:
        record(i, outcome)
        for j in followers.get(i, ()):          # the same content and cut: what the first one got
            record(j, dataclasses.replace(outcome, item=items[j], status="cached" if outcome.stem else "failed"))

    if engine.kind == "ray" and todo:
        from .cluster import extract_on_ray

        for i in [i for i in todo if i not in where]:      # could not be hashed: the error, named
            finish(i, extract_item(items[i], root, config, accept_partial=accept_partial))
        extract_on_ray([(i, items[i], where[i]) for i in todo if i in where], config, store, finish,
                       accept_partial=accept_partial, address=engine.address, workers=workers)
        return Summary([done[i] for i in range(len(items))])
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            finish(i, extract_item(items[i], root, config, progress=on_frames, accept_partial=accept_partial,
                                   where=where.get(i)))
    else:
        with process_pool(min(workers, len(todo)), preload=[PRELOAD], initializer=_init_worker) as pool:
            futures = {pool.submit(extract_item, items[i], root, config, None, accept_partial, where.get(i)): i
                       for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    outcome = Outcome(items[i], "failed", error=f"{items[i].path}: the worker process died "
                                      "(out of memory, or a crash in a native library); run again to resume")
                finish(i, outcome)
    return Summary([done[i] for i in range(len(items))])
