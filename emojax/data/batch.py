"""Extract many videos into the feature store: in parallel, resumable, with a summary."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections import Counter
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..fileio import check_writable, disk_problem, file_sha256, one_line, shown
from ..errors import ConfigError, EmojaxError
from ..features.record import ExtractorConfig
from ..features.store import FeatureStore
from ..procs import process_pool
from ..video import stream_note
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
    stream_note: str = ""       # which video stream was read when its file has others (else empty)
    rotation: int = 0           # degrees clockwise its frames were turned upright (its display matrix)


def _outcome(item: VideoItem, status: str, stem, feats) -> Outcome:
    integ = feats.source.get("integrity", {})
    partial = f"{integ.get('status')}, read {integ.get('frames_read')} frames" if feats.partial else None
    return Outcome(item, status, str(stem), frames=len(feats), no_face=int((~feats.face_found).sum()),
                   partial=partial, stream_note=stream_note(feats.source), rotation=int(feats.source.get("rotation", 0)))


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
    if isinstance(e, EmojaxError):              # messages that already name the file
        return Outcome(item, "failed", error=str(e))
    if isinstance(e, OSError):                  # a file that cannot be opened, in the words the others use
        return Outcome(item, "failed", error=f"{shown(e.filename or item.path)}: {disk_problem(e)}")
    # anything else (an OpenCV or dlib error on a strange frame): reported, and the batch goes on
    return Outcome(item, "failed", error=f"{item.path}: {type(e).__name__}: {e}")


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


def read_items(items: list[VideoItem], config: ExtractorConfig, *, progress: Callable[[int], None] | None = None,
               accept_partial: bool = False, sha256: str | None = None) -> list:
    """Cuts of one video, read in one pass by this process's extractors: each item's
    :class:`Features`, or the exception that stopped it (naming the file)."""
    from ..features.pipeline import extract_cuts

    if len(items) == 1:
        try:
            return [read_item(items[0], config, progress=progress, accept_partial=accept_partial, sha256=sha256)]
        except Exception as e:
            return [e]
    try:
        got = extract_cuts(items[0].path, [(_extractor(item_config(it, config)), it.start, it.end) for it in items],
                           progress=progress, accept_partial=accept_partial, sha256=sha256)
    except Exception as e:          # the file itself cannot be read: every cut fails the same way
        return [e] * len(items)
    for it, f in zip(items, got):
        if not isinstance(f, Exception):
            f.source["id"] = it.id
    return got


def extract_group(items: list[VideoItem], store_root: str, config: ExtractorConfig,
                  progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                  wheres: list[tuple[str, str]] | None = None) -> list[Outcome]:
    """Cuts of one video (from :func:`pass_groups`) extracted in one pass and stored; their
    outcomes. ``wheres``: each one's (stem, content hash)."""
    if len(items) == 1:
        return [extract_item(items[0], store_root, config, progress, accept_partial, wheres[0] if wheres else None)]
    store = FeatureStore(store_root)
    wheres = wheres or [_locate(it, store, config) for it in items]
    return [store_result(store, it, w, r) for it, w, r in
            zip(items, wheres, read_items(items, config, progress=progress, accept_partial=accept_partial,
                                          sha256=wheres[0][1]))]


def store_result(store: FeatureStore, item: VideoItem, where: tuple[str, str], result) -> Outcome:
    """Store what reading ``item`` gave (features, or the exception that stopped it); its outcome."""
    if isinstance(result, Exception):
        return failure(item, result)
    try:
        store.put(Path(where[0]), result)
        return _outcome(item, "done", where[0], result)
    except Exception as e:
        return failure(item, e)


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
        lines += [f"  video streams: {o.item.id}: {o.stream_note}" for o in self.outcomes if o.stream_note]
        turned = Counter(o.rotation for o in self.outcomes if o.rotation)
        if turned:
            lines.append(f"  turned upright as their display matrix says: {sum(turned.values())} video(s) ("
                         + ", ".join(f"{n} by {r}°" for r, n in sorted(turned.items())) + ")")
        faceless = [o for o in self.outcomes if o.frames and o.no_face == o.frames]
        lines += [f"  no face in any frame: {o.item.id}" + ("; its file has other video streams (see above)"
                                                             if o.stream_note else "") for o in faceless]
        return "\n".join(one_line(line) for line in lines)      # a name with a newline stays on its line


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

    for i in [i for i in todo if i not in where]:      # could not be hashed: the error, named
        finish(i, extract_item(items[i], root, config, accept_partial=accept_partial))
    # passes small enough that every worker gets several (a few cuts of one long file would
    # otherwise be one pass on one core)
    n = workers or os.cpu_count() or 1
    share = PASS_CUTS if n == 1 else max(1, math.ceil(len(where) / (2 * n)))
    groups = pass_groups([(i, items[i]) for i in todo if i in where], max_cuts=min(PASS_CUTS, share))
    if engine.kind == "ray" and groups:
        from .cluster import extract_on_ray

        extract_on_ray([[(i, items[i], where[i]) for i in g] for g in groups], config, store, finish,
                       accept_partial=accept_partial, address=engine.address, workers=workers)
        return Summary([done[i] for i in range(len(items))])
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(groups) <= 1:
        for g in groups:
            for i, outcome in zip(g, extract_group([items[i] for i in g], root, config, on_frames, accept_partial,
                                                   [where[i] for i in g])):
                finish(i, outcome)
    else:
        with process_pool(min(workers, len(groups)), preload=[PRELOAD], initializer=_init_worker) as pool:
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
    return Summary([done[i] for i in range(len(items))])
