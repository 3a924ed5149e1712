"""One pass over a video's frames producing both modalities: landmarks and ROI colour (one idea,
the pass; a little over 300 lines because the pass owns its rows from the first frame to the
record).

Which frames have the face, and where, is the tracker's business (``tracker.py``: a track
the detector keeps confirming, or the paper's detection on every frame). Here every frame's
answer becomes a row: 68 points, the box, the mean colour of the chosen ROI and of each skin
patch, all following the (smoothed) landmarks of that very frame, so that no reused box puts
its refresh rate into the colour. Rows the tracker withdraws afterwards become missing again.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import cv2
import numpy as np

from ..fileio import file_sha256, shown
from ..errors import VideoError
from ..video import CutsReader, FrameReader, read_audio
from .face import make_detector
from .landmarks import SKIN_PATCHES, LandmarkPredictor, box_from_landmarks, skin_polygons
from .record import ExtractorConfig, Features
from .timing import regular
from .tracker import TRACKING
from .voice import attach, read_voice

_SHIFT = 4  # fixed-point bits for sub-pixel polygon filling


def patch_means(bgr: np.ndarray, polygons: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean R, G, B ``(P, 3)`` inside each polygon (float pixel coordinates; NaN for one off
    the frame) and its area in pixels ``(P,)``: each over its own bounding box only."""
    p = len(polygons)
    means, areas = np.full((p, 3), np.nan), np.zeros(p)
    h, w = bgr.shape[:2]
    for k, poly in enumerate(polygons):
        if not np.isfinite(poly).all():
            continue
        x0, y0 = (int(max(0, np.floor(v))) for v in poly.min(axis=0))
        x1, y1 = int(min(w, np.ceil(poly[:, 0].max()) + 1)), int(min(h, np.ceil(poly[:, 1].max()) + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)], 255,
                     lineType=cv2.LINE_8, shift=_SHIFT)
        areas[k] = cv2.countNonZero(mask)
        if areas[k]:
            b, g, r, _ = cv2.mean(bgr[y0:y1, x0:x1], mask)
            means[k] = (r, g, b)
    return means, areas


def _box_mean(bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.full(3, np.nan)
    b, g, r, _ = cv2.mean(bgr[y0:y1, x0:x1])
    return np.array([r, g, b])


class _Columns:
    """Per-frame outputs in arrays (NaN = no face). Capacity comes from a hint (what the
    container claims, believed up to an hour of 30 fps) but is left uninitialised: a row is
    written only when a frame arrives, so resident memory follows what is read, never a
    header's lie, and a container that tells the truth costs no copy. More frames than the
    capacity grow it by half."""

    #: what a row holds before the frame says otherwise
    BLANK = {"rgb": np.nan, "landmarks": np.nan, "box": np.nan, "confidence": 0.0, "times": 0.0,
             "state": 0, "patches": np.nan}

    def __init__(self, hint: int | None = None):
        self.n = 0
        self.data = self._empty(min(max(hint or 0, 256), 108_000))

    @staticmethod
    def _empty(n: int) -> dict[str, np.ndarray]:
        return {"rgb": np.empty((n, 3)), "landmarks": np.empty((n, 68, 2), np.float32),
                "box": np.empty((n, 4)), "confidence": np.empty(n, np.float32),
                "times": np.empty(n), "state": np.empty(n, np.uint8),
                "patches": np.empty((n, len(SKIN_PATCHES), 3), np.float32)}

    def next_row(self) -> int:
        if self.n == len(self.data["times"]):
            more = self._empty(max(self.n // 2, 1))
            self.data = {k: np.concatenate([v[:self.n], more[k]]) for k, v in self.data.items()}
        i = self.n
        for k, v in self.data.items():
            v[i] = self.BLANK[k]
        self.n += 1
        return i

    def drop_first(self, n: int) -> None:
        """Forget the first ``n`` rows (a live stream keeps only its last seconds)."""
        n = min(n, self.n)
        for v in self.data.values():
            v[:self.n - n] = v[n:self.n]
        self.n -= n

    def withdraw(self, rows: slice, keep_rgb: bool) -> None:
        """Mark rows as having no face after all."""
        d = self.data
        for k in ("landmarks", "box", "patches") + (() if keep_rgb else ("rgb",)):
            d[k][rows] = np.nan
        d["state"][rows], d["confidence"][rows] = 0, 0.0

    def result(self) -> dict[str, np.ndarray]:
        if self.n == len(self.data["times"]):
            return self.data
        return {k: v[:self.n].copy() for k, v in self.data.items()}  # not views that keep the rest alive


class Extractor:
    """Everything expensive to build (detector, predictor), built once; call it per video."""

    def __init__(self, config: ExtractorConfig | None = None, *, predictor: LandmarkPredictor | None = None):
        self.config = config or ExtractorConfig()
        c = self.config
        self.detector = make_detector(c.detector, scale=c.detect_scale)
        self.predictor = predictor or LandmarkPredictor()

    def _row(self, d: dict, i: int, bgr: np.ndarray, step, sm_box, sm_pts, x_off: int) -> None:
        c = self.config
        if c.roi == "frame":
            b, g, r, _ = cv2.mean(bgr)
            d["rgb"][i] = (r, g, b)
        if step.points is None:
            return
        means, areas = patch_means(bgr, skin_polygons(sm_pts))
        d["patches"][i] = means
        if c.roi == "skin" and areas.sum() > 0:  # the skin's mean: the patches' means weighted by their areas
            seen = areas > 0
            d["rgb"][i] = areas[seen] @ means[seen] / areas[seen].sum()
        if c.roi == "box":
            d["rgb"][i] = _box_mean(bgr, step.box if step.box is not None else sm_box)
        d["landmarks"][i] = step.points + (x_off, 0)
        d["box"][i] = (step.box if step.box is not None else sm_box) + (x_off, 0, x_off, 0)
        d["state"][i], d["confidence"][i] = step.state, step.confidence

    def __call__(self, path: str | os.PathLike, *, start: float | None = None, end: float | None = None,
                 progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                 sha256: str | None = None, audio: str | os.PathLike | None = None) -> Features:
        """Extract a video (or its ``[start, end)`` seconds) into a :class:`Features` record,
        with its voice (:mod:`.voice`: the file's own audio track, or ``audio``, a file of its own
        whose time 0 is ``start``). ``sha256``: the file's content hash when the caller has it
        already (not computed again).

        A video that is not whole (fewer frames than its container claims, or data the decoder
        reports as damaged) raises :class:`VideoError` naming the file, both counts and FFmpeg's
        complaint, unless ``accept_partial``: then what was read is kept and the record says it
        is partial (``Features.partial``, ``source["integrity"]``).
        """
        reader = FrameReader(path, start=start, end=end, fps=self.config.fps, stream=self.config.stream)
        feats = self.frames(reader, reader.fps, progress=progress, expected=reader.expected_frames())
        feats = _sourced(feats, reader, path, accept_partial, sha256)
        return read_voice(feats, path, audio, start=start, video_stream=self.config.stream)

    def stream(self, *, expected: int | None = None) -> "Stream":
        """A push-style extraction: :meth:`Stream.push` each frame as it comes (from a camera,
        from a pass shared by several cuts), then :meth:`Stream.result`."""
        return Stream(self, expected)

    def frames(self, frames: Iterable, fps: float, *, progress: Callable[[int], None] | None = None,
               expected: int | None = None) -> Features:
        """Extract frames already decoded (objects with ``bgr`` and ``time``, as
        :class:`emojax.video.Frame`), e.g. frames made or changed in memory. ``expected``: how
        many there will be, if known (only sizes the first allocation). Frames whose times are
        not steady come back on a uniform grid (:func:`emojax.features.timing.regular`)."""
        stream = self.stream(expected=expected)
        for frame in frames:
            stream.push(frame)
            if progress is not None:
                progress(1)
        return stream.result(fps)


def _sourced(feats: Features, reader: FrameReader, path, accept_partial: bool, sha256: str | None) -> Features:
    """``feats`` with where it came from (which video stream, turned how: ``stream``,
    ``stream_chosen``, ``streams``, ``rotation``; the displayed ``width`` and ``height``) and how
    whole the read was, in its source; refused (naming the file) when the read was not whole
    unless ``accept_partial``."""
    integrity = reader.integrity
    if integrity.partial and not accept_partial:
        raise VideoError(f"{shown(reader.path)}: not whole ({integrity.describe()}); nothing was kept. "
                         "Pass --accept-partial (accept_partial=True) to keep what was read, marked partial")
    feats.source.update(path=os.fspath(path), sha256=sha256 or file_sha256(path), start=reader.start, end=reader.end,
                        frames_read=reader.frames_read, frame_count_claimed=reader.info.frame_count_claimed,
                        width=reader.info.width, height=reader.info.height, integrity=integrity.to_dict(),
                        **reader.info.to_source())
    return feats


class Stream:
    """One extraction fed a frame at a time: each :meth:`push` runs the tracker, the landmark
    predictor and the colour ROI on that frame (what :meth:`Extractor.frames` does for a whole
    sequence, which is a loop over this)."""

    def __init__(self, extractor: Extractor, expected: int | None = None):
        self.extractor = extractor
        c = self.config = extractor.config
        self.tracker = TRACKING[c.tracking](c, extractor.detector, extractor.predictor)
        self.cols, self.cuts = _Columns(expected), []
        self.sm_box = self.sm_pts = None
        self.x_off = 0

    def push(self, frame) -> int:
        """Process one frame (``bgr``, ``time``); the index of its row. Its row may still be
        withdrawn by a later frame (a track the detector did not confirm)."""
        c, cols = self.config, self.cols
        bgr, x_off = frame.bgr, 0
        if c.region is not None:
            half = bgr.shape[1] // 2
            x_off = 0 if c.region == "left" else half
            bgr = bgr[:, x_off:x_off + half]
        step = self.tracker(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        i = cols.next_row()
        if step.cut:
            self.cuts.append(i)
        if step.retract:
            cols.withdraw(slice(max(i - step.retract, 0), i), keep_rgb=c.roi == "frame")  # rows forgotten stay so
        if step.points is None or step.new:
            self.sm_box = self.sm_pts = None
        if step.points is not None:
            box, a = box_from_landmarks(step.points), c.smooth
            self.sm_box = box if self.sm_box is None else a * box + (1 - a) * self.sm_box
            self.sm_pts = step.points if self.sm_pts is None else a * step.points + (1 - a) * self.sm_pts
        cols.data["times"][i] = frame.time
        self.x_off = x_off          # where the region searched begins in the frame
        self.extractor._row(cols.data, i, bgr, step, self.sm_box, self.sm_pts, x_off)
        return i

    def forget(self, n: int) -> None:
        """Drop the first ``n`` rows; later rows keep their order (indices shift down by ``n``)."""
        self.cols.drop_first(n)
        self.cuts = [c - n for c in self.cuts if c >= n]

    @property
    def times(self) -> np.ndarray:
        """(n,) the stream time of each row kept, in seconds (a copy)."""
        return self.cols.data["times"][:self.cols.n].copy()

    def face(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Row ``i``'s 68 landmarks and face box in frame pixels (copies), or None when it has no face."""
        d = self.cols.data
        return (d["landmarks"][i].copy(), d["box"][i].copy()) if d["state"][i] > 0 else None

    def skin_polygons(self) -> list[np.ndarray] | None:
        """The skin patches the last frame's colour was read under (the smoothed landmarks'), in
        frame pixels in :data:`~emojax.features.landmarks.SKIN_PATCHES` order; None without a face."""
        if self.sm_pts is None:
            return None
        return [p + (self.x_off, 0) for p in skin_polygons(self.sm_pts)]

    def record(self, fps: float, *, start: int = 0) -> Features:
        """The rows from ``start`` on as they came (not put on a grid), copied: a record that
        shares nothing with the stream, its cuts counted from ``start``."""
        rows = {k: v[start:self.cols.n].copy() for k, v in self.cols.data.items()}
        cuts = [c - start for c in self.cuts if c >= start]
        return Features(**rows, fps=float(fps), source={"cuts": cuts}, config=self.config.to_dict())

    def result(self, fps: float) -> Features:
        """The record of every frame pushed (frames at a variable rate put on a uniform grid)."""
        feats = Features(**self.cols.result(), fps=float(fps), source={"cuts": self.cuts}, config=self.config.to_dict())
        return regular(feats)    # says how the frames came; a variable rate is put on a uniform grid


def extract_cuts(path: str | os.PathLike, cuts: list[tuple[Extractor, float | None, float | None]], *,
                 progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                 sha256: str | None = None, audio: list[str | None] | None = None) -> list[Features | Exception]:
    """Several cuts ``(extractor, start, end)`` of one video in one decoding pass
    (:class:`emojax.video.CutsReader`): for each, what ``extractor(path, start=, end=, audio=)``
    gives, or the exception it raises (a cut's failure does not stop the others). ``audio``:
    each cut's own audio file (None: its interval of the video's track, read once for all)."""
    rates = {(ex.config.fps, ex.config.stream) for ex, _, _ in cuts}
    if len(rates) > 1:
        raise ValueError("cuts read in one pass share one frame rate and one video stream setting")
    fps, stream = rates.pop()
    reader = CutsReader(path, [(a, b) for _, a, b in cuts], fps=fps, stream=stream)
    streams = [ex.stream(expected=r.expected_frames()) for (ex, _, _), r in zip(cuts, reader.readers)]
    failed: dict[int, Exception] = {}
    for frame, takers in reader:
        for k in takers:
            if k in failed:
                continue
            try:
                streams[k].push(frame)
            except Exception as e:      # a strange frame fails its own cut only
                failed[k] = e
            if progress is not None:
                progress(1)
    sha256 = sha256 or file_sha256(path)
    audio = audio or [None] * len(cuts)
    out: list[Features | Exception] = []
    for k, (stream, r) in enumerate(zip(streams, reader.readers)):
        try:
            if k in failed:
                raise failed[k]
            if k in reader.errors:
                raise reader.errors[k]
            out.append(_sourced(stream.result(r.fps), r, path, accept_partial, sha256))
        except Exception as e:
            out.append(e)
    _voices(path, out, [(a, b) for _, a, b in cuts], audio, cuts[0][0].config.stream)
    return out


def _voices(path, records: list, cuts: list[tuple[float | None, float | None]], audio: list, stream: int | None) -> None:
    """Each record's voice: from its own audio file, or its interval of ``path``'s track, which
    is decoded once over the span of every cut that needs it."""
    shared = [k for k, f in enumerate(records) if isinstance(f, Features) and not audio[k] and len(f)]
    track = None
    if shared:
        a = min(float(records[k].times[0]) for k in shared)
        b = max(float(records[k].times[-1]) + 1.0 / records[k].fps for k in shared)
        try:
            track = read_audio(path, start=a, end=b, video_stream=stream)
        except VideoError:
            track = None          # each cut reads (and says) it alone
    for k, f in enumerate(records):
        if not isinstance(f, Features):
            continue
        if audio[k] or track is None or k not in shared:
            read_voice(f, path, audio[k], start=cuts[k][0], video_stream=stream)
        else:
            attach(f, track.cut(float(f.times[0]), float(f.times[-1]) + 1.0 / f.fps))


def extract(path: str | os.PathLike, config: ExtractorConfig | None = None, **kwargs) -> Features:
    """Extract one video with a fresh :class:`Extractor` (build one and reuse it for many)."""
    return Extractor(config)(path, **kwargs)
