"""What a worker does with the videos handed to it, the same in a local pool's process, a Ray
actor or this process: find where each record goes, read a pass of cuts of one video (or one
whole video) with this process's extractors, store what was read, and say what happened
(:class:`~.outcomes.Outcome`), never raising for a bad video."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from ..errors import EmojaxError
from ..features.record import ExtractorConfig
from ..features.shared import shared_extractor
from ..features.store import FeatureStore
from ..features.voice import read_voice
from ..fileio import disk_problem, file_sha256, shown
from ..video import stream_note
from .items import VideoItem
from .outcomes import Outcome

#: imported by a pool's fork server, so that the workers it forks start with dlib's model loaded
PRELOAD = "emojax.features.preload"


def setup_worker() -> None:
    """Set up a process that reads videos for a batch: one OpenCV thread (one process per core
    scales; OpenCV's own threads barely do)."""
    import cv2

    cv2.setNumThreads(1)


def item_config(item: VideoItem, config: ExtractorConfig) -> ExtractorConfig:
    """The config for one item: its frame region (IEMOCAP's speaker half) overrides the default."""
    return dataclasses.replace(config, region=item.region) if item.region else config


def outcome_of(item: VideoItem, status: str, stem, feats, voice_completed: bool = False) -> Outcome:
    """The outcome of an item whose record ``feats`` is (``"done"``) or was (``"cached"``) at ``stem``
    (``voice_completed``: its voice was read into it now, from the audio only)."""
    integ = feats.source.get("integrity", {})
    partial = f"{integ.get('status')}, read {integ.get('frames_read')} frames" if feats.partial else None
    return Outcome(item, status, str(stem), frames=len(feats), no_face=int((~feats.face_found).sum()),
                   partial=partial, stream_note=stream_note(feats.source), rotation=int(feats.source.get("rotation", 0)),
                   voice=feats.voice_status, voice_note=feats.source.get("voice", {}).get("reason") or "",
                   voice_completed=voice_completed)


def failure(item: VideoItem, e: Exception) -> Outcome:
    """The outcome of an item whose extraction raised ``e``."""
    if isinstance(e, EmojaxError):              # messages that already name the file
        return Outcome(item, "failed", error=str(e))
    if isinstance(e, OSError):                  # a file that cannot be opened, in the words the others use
        return Outcome(item, "failed", error=f"{shown(e.filename or item.path)}: {disk_problem(e)}")
    # anything else (an OpenCV or dlib error on a strange frame): reported, and the batch goes on
    return Outcome(item, "failed", error=f"{item.path}: {type(e).__name__}: {e}")


def stored(item: VideoItem, store: FeatureStore, stem, accept_partial: bool,
           config: ExtractorConfig | None = None) -> Outcome | None:
    """The outcome of a record already stored (None when there is none). A partial record
    counts only when partial records are accepted: otherwise the video is read again, and fails.
    A record stored before emojax read voice is completed: its voice is read from the audio
    alone (no video frame decoded) and the record stored again."""
    if not store.has(stem):
        return None
    feats = store.load(stem)
    if not (accept_partial or not feats.partial):
        return None
    if feats.voice is not None:
        return outcome_of(item, "cached", stem, feats)
    complete_voice(item, feats, config)
    store.put(Path(stem), feats)
    return outcome_of(item, "cached", stem, feats, voice_completed=True)


def complete_voice(item: VideoItem, feats, config: ExtractorConfig | None = None):
    """A stored record without a voice block given its voice (in place): the item's own audio
    file, or its interval of the video's track; only audio is read."""
    stream = config.stream if config is not None else feats.config.get("stream")
    return read_voice(feats, item.path, item.audio, start=item.start, video_stream=stream)


def locate(item: VideoItem, store: FeatureStore, config: ExtractorConfig,
           index: dict[str, Path] | None = None) -> tuple[Path, str]:
    """Where the item's record is or goes (a record of the same content under another name
    counts), and the file's content hash. ``index``: the store's :meth:`~FeatureStore.index`."""
    stem = store.locate(item.path, item_config(item, config), item.start, item.end, name=item.id.replace("/", "_"),
                        index=index)
    return stem, file_sha256(item.path)


def read_item(item: VideoItem, config: ExtractorConfig, *, progress: Callable[[int], None] | None = None,
              accept_partial: bool = False, sha256: str | None = None):
    """One item's :class:`Features`, read by this process's extractor for its config (built
    once per process), not stored. Raises for a bad video, naming the file."""
    feats = shared_extractor(item_config(item, config))(item.path, start=item.start, end=item.end, progress=progress,
                                                        accept_partial=accept_partial, sha256=sha256, audio=item.audio)
    feats.source["id"] = item.id
    return feats


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
        got = extract_cuts(items[0].path, [(shared_extractor(item_config(it, config)), it.start, it.end)
                                           for it in items],
                           progress=progress, accept_partial=accept_partial, sha256=sha256,
                           audio=[it.audio for it in items])
    except Exception as e:          # the file itself cannot be read: every cut fails the same way
        return [e] * len(items)
    for it, f in zip(items, got):
        if not isinstance(f, Exception):
            f.source["id"] = it.id
    return got


def store_result(store: FeatureStore, item: VideoItem, where: tuple[str, str], result) -> Outcome:
    """Store what reading ``item`` gave (features, or the exception that stopped it); its outcome."""
    if isinstance(result, Exception):
        return failure(item, result)
    try:
        store.put(Path(where[0]), result)
        return outcome_of(item, "done", where[0], result)
    except Exception as e:
        return failure(item, e)


def extract_item(item: VideoItem, store_root: str, config: ExtractorConfig,
                 progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                 where: tuple[str, str] | None = None) -> Outcome:
    """Extract one item into the store unless it is there already. Never raises for a bad
    video: the error is returned in the outcome, naming the file. A video that is not whole
    fails unless ``accept_partial`` (then it is stored, marked partial). ``where``: its
    (stem, content hash) when the caller has them (the file is then not hashed again)."""
    store = FeatureStore(store_root)
    try:
        stem, sha = (Path(where[0]), where[1]) if where else locate(item, store, config)
        if (done := stored(item, store, stem, accept_partial, config)) is not None:
            return done
        feats = read_item(item, config, progress=progress, accept_partial=accept_partial, sha256=sha)
        store.put(stem, feats)
        return outcome_of(item, "done", stem, feats)
    except Exception as e:
        return failure(item, e)


def extract_group(items: list[VideoItem], store_root: str, config: ExtractorConfig,
                  progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                  wheres: list[tuple[str, str]] | None = None) -> list[Outcome]:
    """Cuts of one video (a pass of :func:`emojax.data.batch.pass_groups`) extracted in one
    pass and stored; their outcomes. ``wheres``: each one's (stem, content hash)."""
    if len(items) == 1:
        return [extract_item(items[0], store_root, config, progress, accept_partial, wheres[0] if wheres else None)]
    store = FeatureStore(store_root)
    wheres = wheres or [locate(it, store, config) for it in items]
    return [store_result(store, it, w, r) for it, w, r in
            zip(items, wheres, read_items(items, config, progress=progress, accept_partial=accept_partial,
                                          sha256=wheres[0][1]))]
