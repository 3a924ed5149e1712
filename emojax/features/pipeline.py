"""One pass over a video's frames producing both modalities: landmarks and ROI colour.

The face is found by a detector on a downscaled grey frame every ``detect_every`` frames (or
as soon as tracking is lost); in between, the box for dlib's shape predictor is rebuilt every
frame from the previous frame's landmarks, so the box follows the face without the jumps a
reused detection box makes when it is refreshed (those jumps put the refresh rate into the
colour trace). The colour ROI follows the (smoothed) landmarks every frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .._io import file_sha256
from ..video import FrameReader
from .face import iou, make_detector, select_face
from .landmarks import LandmarkPredictor, box_from_landmarks, procrustes_residual, skin_polygons
from .record import ExtractorConfig, Features

_SHIFT = 4  # fixed-point bits for sub-pixel polygon filling


@dataclass
class FaceTracker:
    """Detect-then-track state for one video. Build the detector and predictor once per
    process and hand them to a new tracker per video."""

    config: ExtractorConfig
    detector: Callable
    predictor: LandmarkPredictor
    _pts: np.ndarray | None = None
    _ref: np.ndarray | None = None
    _since: int = 0

    last_detection: np.ndarray | None = None  # raw box of the most recent detection

    def _confirm(self, gray: np.ndarray, tracked: np.ndarray) -> bool:
        """Look for the tracked face again in a window around it, at a scale that makes it
        the detector's ``confirm_side``: a small fraction of the cost of a full-frame search."""
        side = tracked[2] - tracked[0]
        h, w = gray.shape
        x0, y0 = int(max(0, tracked[0] - side / 2)), int(max(0, tracked[1] - side / 2))
        x1, y1 = int(min(w, tracked[2] + side / 2)), int(min(h, tracked[3] + side / 2))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return False
        scale = min(1.0, self.detector.confirm_side / side)
        boxes, _ = self.detector.find(gray[y0:y1, x0:x1], scale=scale, min_side=0.6 * side, max_side=1.7 * side)
        if len(boxes) == 0:
            return False
        boxes = boxes + (x0, y0, x0, y0)
        overlaps = [iou(b, tracked) for b in boxes]
        self.last_detection = boxes[int(np.argmax(overlaps))]
        return max(overlaps) > 0.3

    def _detect(self, gray: np.ndarray) -> np.ndarray | None:
        """A fresh box in the predictor's convention, or None when no face is seen."""
        if self._pts is not None and self.config.detect_every > 1:
            tracked = box_from_landmarks(self._pts)
            if self._confirm(gray, tracked):  # the tracked face is still there: keep following it
                return tracked
        boxes, _ = self.detector(gray)
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        boxes = boxes[sides >= self.config.min_face]
        if len(boxes) == 0:
            self.last_detection = None
            return None
        self.last_detection = boxes[select_face(boxes, self.config.policy, near=self.config.near)]
        # Detector boxes (Haar's above all) differ from the box dlib's predictor was trained
        # on: one predictor pass, then the box those points imply.
        return box_from_landmarks(self.predictor(gray, self.last_detection))

    def __call__(self, gray: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Landmarks (68, 2) in ``gray``'s pixels and a confidence, or (None, 0.0)."""
        due = self._pts is None or self._since >= self.config.detect_every - 1
        if due:
            self._since = 0
            box = self._detect(gray)
            if box is None and self._pts is not None and self.config.detect_every > 1:
                box = box_from_landmarks(self._pts)  # the detector missed a face we still track
        else:
            self._since += 1
            box = box_from_landmarks(self._pts)
        if box is None:
            self._pts = self._ref = None
            return None, 0.0
        pts = self.predictor(gray, box)
        if self._ref is None:
            self._ref = pts
        resid = procrustes_residual(pts, self._ref)
        if resid > self.config.max_shape_residual:  # not the shape we were following: lost
            self._pts = self._ref = None
            return None, 0.0
        if due:
            self._ref = pts  # re-anchor the shape check at every detection
        self._pts = pts
        return pts, float(max(0.0, 1.0 - resid / self.config.max_shape_residual))


def _roi_mean(bgr: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Mean R, G, B inside the union of polygons (float pixel coordinates)."""
    allp = np.vstack(polygons)
    h, w = bgr.shape[:2]
    x0, y0 = (int(max(0, np.floor(v))) for v in allp.min(axis=0))
    x1, y1 = int(min(w, np.ceil(allp[:, 0].max()) + 1)), int(min(h, np.ceil(allp[:, 1].max()) + 1))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.full(3, np.nan)
    crop = bgr[y0:y1, x0:x1]
    mask = np.zeros(crop.shape[:2], np.uint8)
    pts = [np.round((p - (x0, y0)) * (1 << _SHIFT)).astype(np.int32) for p in polygons]
    cv2.fillPoly(mask, pts, 255, lineType=cv2.LINE_8, shift=_SHIFT)
    if not mask.any():
        return np.full(3, np.nan)
    b, g, r, _ = cv2.mean(crop, mask)
    return np.array([r, g, b])


def _box_mean(bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.full(3, np.nan)
    b, g, r, _ = cv2.mean(bgr[y0:y1, x0:x1])
    return np.array([r, g, b])


class _Columns:
    """Per-frame outputs in preallocated arrays (NaN = no face), sized from the container's
    frame count and grown by half when it lied: memory stays at the size of the result
    instead of a list of small arrays per frame."""

    def __init__(self, capacity: int):
        self.n = 0
        self.data = self._empty(max(capacity, 16))

    @staticmethod
    def _empty(n: int) -> dict[str, np.ndarray]:
        return {"rgb": np.full((n, 3), np.nan), "landmarks": np.full((n, 68, 2), np.nan, np.float32),
                "box": np.full((n, 4), np.nan), "confidence": np.zeros(n, np.float32),
                "times": np.zeros(n), "face_found": np.zeros(n, bool)}

    def next_row(self) -> int:
        if self.n == len(self.data["times"]):
            more = self._empty(self.n // 2 + 16)
            self.data = {k: np.concatenate([v, more[k]]) for k, v in self.data.items()}
        self.n += 1
        return self.n - 1

    def result(self) -> dict[str, np.ndarray]:
        return {k: v[:self.n] for k, v in self.data.items()}


def _expected_frames(reader: FrameReader) -> int:
    info = reader.info
    if not info.fps or not np.isfinite(info.fps):
        return 1024
    first = reader.start or 0.0
    last = reader.end if reader.end is not None else info.frame_count_claimed / info.fps
    return int(min(max(last - first, 0.0) * reader.fps, 10_000_000)) + 2


class Extractor:
    """Everything expensive to build (detector, predictor), built once; call it per video."""

    def __init__(self, config: ExtractorConfig | None = None, *, predictor: LandmarkPredictor | None = None):
        self.config = config or ExtractorConfig()
        c = self.config
        self.detector = make_detector(c.detector, scale=c.detect_scale)
        self.predictor = predictor or LandmarkPredictor()

    def _colour(self, bgr: np.ndarray, tracker: FaceTracker, sm_box, sm_pts) -> np.ndarray:
        c = self.config
        if c.roi == "frame":
            b, g, r, _ = cv2.mean(bgr)
            return np.array([r, g, b])
        if sm_pts is None:
            return np.full(3, np.nan)
        if c.roi == "skin":
            return _roi_mean(bgr, skin_polygons(sm_pts))
        # "box": the paper's is the detector's own box, when the detector runs on every frame
        use = tracker.last_detection if c.detect_every == 1 else None
        return _box_mean(bgr, use if use is not None else sm_box)

    def __call__(self, path: str | os.PathLike, *, start: float | None = None, end: float | None = None,
                 progress: Callable[[int], None] | None = None) -> Features:
        """Extract a video (or its ``[start, end)`` seconds) into a :class:`Features` record."""
        c = self.config
        reader = FrameReader(path, start=start, end=end, fps=c.fps)
        tracker = FaceTracker(c, self.detector, self.predictor)
        cols = _Columns(_expected_frames(reader))
        sm_box = sm_pts = None
        for frame in reader:
            bgr, x_off = frame.bgr, 0
            if c.region is not None:
                half = bgr.shape[1] // 2
                x_off = 0 if c.region == "left" else half
                bgr = bgr[:, x_off:x_off + half]
            pts, conf = tracker(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
            if pts is None:
                sm_box = sm_pts = None
            else:
                box, a = box_from_landmarks(pts), c.smooth
                sm_box = box if sm_box is None else a * box + (1 - a) * sm_box
                sm_pts = pts if sm_pts is None else a * pts + (1 - a) * sm_pts
            i = cols.next_row()
            d = cols.data
            d["rgb"][i] = self._colour(bgr, tracker, sm_box, sm_pts)
            if pts is not None:
                d["landmarks"][i] = pts + (x_off, 0)
                d["box"][i] = sm_box + (x_off, 0, x_off, 0)
                d["face_found"][i] = True
            d["confidence"][i], d["times"][i] = conf, frame.time
            if progress is not None:
                progress(1)
        source = {"path": os.fspath(path), "sha256": file_sha256(path), "start": start, "end": end,
                  "frames_read": reader.frames_read, "frame_count_claimed": reader.info.frame_count_claimed,
                  "width": reader.info.width, "height": reader.info.height}
        return Features(**cols.result(), fps=float(reader.fps), source=source, config=c.to_dict())


def extract(path: str | os.PathLike, config: ExtractorConfig | None = None, **kwargs) -> Features:
    """Extract one video with a fresh :class:`Extractor` (build one and reuse it for many)."""
    return Extractor(config)(path, **kwargs)
