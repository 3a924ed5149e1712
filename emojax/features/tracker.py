"""Which frames have the face, and where its 68 points are: a track the detector must keep
confirming, or the paper's detection on every frame.

dlib's predictor answers on any box, sky included, so it cannot vouch for itself. A track
here lives on evidence from elsewhere: the detector re-finds the face near the tracked box
every ``detect_every`` frames, and on every frame the face's appearance (its grey crop,
normalised) is compared with how it looked at the last confirmation. When it stops looking
like that face, the detector is asked at once; when the detector cannot find it, the track
ends there. When the periodic re-checks keep failing while it still looks the same, the track
ends too. Whenever a track ends after a re-check has failed (on more failures, an appearance
change or a shot cut), the frames since its last confirmation are withdrawn (``Step.retract``):
they were never vouched for.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .face import iou, select_face
from .landmarks import LandmarkPredictor, box_from_landmarks, procrustes_residual

#: per-frame states in ``Features.state``
MISSING, TRACKED, CONFIRMED = 0, 1, 2
#: side of the normalised grey crop the appearance check compares
_LOOK = 24


@dataclass
class Step:
    """The tracker's answer for one frame."""

    points: np.ndarray | None   # (68, 2) in the given frame's pixels, or None
    state: int                  # MISSING, TRACKED or CONFIRMED
    confidence: float           # appearance similarity to the last confirmation (1 when confirmed)
    box: np.ndarray | None = None  # the detector's own box, when this frame was detected (paper mode)
    retract: int = 0            # earlier frames (just before this one) to mark missing after all
    new: bool = False           # a new track starts on this frame (nothing carries over from before)
    cut: bool = False           # a new shot starts on this frame (a cut: the whole picture changed)


def look(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The face's appearance: the grey crop of ``box``, resized to 24x24, zero mean and unit
    norm (so lighting gain and offset do not matter). None when the box is off the frame."""
    h, w = gray.shape
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(w, np.ceil(box[2]))), int(min(h, np.ceil(box[3])))
    if x1 - x0 < 8 or y1 - y0 < 8 or not np.isfinite(box).all():
        return None
    step = max(1, min(x1 - x0, y1 - y0) // (4 * _LOOK))    # subsample a big face first: same look, less work
    v = cv2.resize(gray[y0:y1:step, x0:x1:step], (_LOOK, _LOOK), interpolation=cv2.INTER_AREA)
    v = v.astype(np.float32).ravel()
    v -= v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalised cross-correlation of two looks (1 = same; 0 when either is missing)."""
    return float(a @ b) if a is not None and b is not None else 0.0


def thumbnail(gray: np.ndarray) -> np.ndarray:
    """The whole frame as 32x24 grey levels (subsampled first: ~0.03 ms at 720x480)."""
    step = max(1, gray.shape[1] // 160)
    return cv2.resize(gray[::step, ::step], (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)


class CutDetector:
    """Shot cuts: the mean absolute change of the frame's thumbnail jumps far above its recent
    level (measured on real talking heads: under 1 grey level between frames of one shot, 10-25
    at a cut between two speakers against the same background)."""

    def __init__(self, level: float = 8.0, ratio: float = 4.0, memory: int = 25):
        self.level, self.ratio = level, ratio
        self._prev: np.ndarray | None = None
        self._recent: deque = deque(maxlen=memory)

    def __call__(self, gray: np.ndarray) -> bool:
        thumb = thumbnail(gray)
        prev, self._prev = self._prev, thumb
        if prev is None or prev.shape != thumb.shape:
            return False
        d = float(np.abs(thumb - prev).mean())
        usual = statistics.median(self._recent) if self._recent else 0.0
        self._recent.append(d)
        return d > max(self.level, self.ratio * usual)


def _window(gray: np.ndarray, box: np.ndarray, margin: float) -> tuple[int, int, int, int] | None:
    side = box[2] - box[0]
    h, w = gray.shape
    x0, y0 = int(max(0, box[0] - margin * side)), int(max(0, box[1] - margin * side))
    x1, y1 = int(min(w, box[2] + margin * side)), int(min(h, box[3] + margin * side))
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def find_near(detector, gray: np.ndarray, box: np.ndarray, *, scale: float | None = None,
              margin: float = 0.5, equalize: bool = True) -> np.ndarray | None:
    """The detector's box that best overlaps ``box`` (IoU > 0.3), searched only in a window of
    ``margin`` face sides around it and for faces of about its size; at ``scale`` (default:
    the one that makes the face the detector's ``confirm_side``; sides 0.75-1.5 times the
    box's: Haar's boxes measured 0.89-1.26 times dlib's on real clips), after equalising the
    window's histogram (a dark or flat face is then found as well as a well-lit one). None
    when not found."""
    win = _window(gray, box, margin)
    if win is None:
        return None
    x0, y0, x1, y1 = win
    side = box[2] - box[0]
    crop = cv2.equalizeHist(gray[y0:y1, x0:x1]) if equalize else gray[y0:y1, x0:x1]
    # a face the cascade misses at one scale it usually finds at another (measured: 8 % misses
    # at one scale, none at two, on a rotating face)
    for s in (scale,) if scale else (detector.confirm_side / side, 1.5 * detector.confirm_side / side):
        boxes, _ = detector.find(crop, scale=min(1.0, s), min_side=0.75 * side, max_side=1.5 * side)
        if len(boxes):
            boxes = boxes + (x0, y0, x0, y0)
            overlaps = [iou(b, box) for b in boxes]
            k = int(np.argmax(overlaps))
            if overlaps[k] > 0.3:
                return boxes[k]
    return None


def search(detector, gray: np.ndarray, config) -> np.ndarray | None:
    """The face the policy chooses among the detector's finds in the whole frame (at least
    ``min_face`` pixels a side; ``config``: the :class:`ExtractorConfig`), or None."""
    boxes, _ = detector(gray)
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    boxes = boxes[sides >= config.min_face]
    return boxes[select_face(boxes, config.policy, near=config.near)] if len(boxes) else None


class FaceTracker:
    """Tracking mode ``track``: detect, then follow the face with the predictor while the
    detector keeps confirming it. Build the detector and predictor once per process; a new
    tracker per video (``config``: the :class:`ExtractorConfig`)."""

    def __init__(self, config, detector: Callable, predictor: LandmarkPredictor):
        self.config, self.detector, self.predictor = config, detector, predictor
        self._pts: np.ndarray | None = None    # last frame's points
        self._ref: np.ndarray | None = None    # points at the last confirmation
        self._look: np.ndarray | None = None   # appearance at the last confirmation
        self._since_check = 0                  # frames since the detector last looked
        self._since_confirmed = 0              # frames since the last confirmation
        self._misses = 0                       # re-checks failed in a row
        self._fresh = False                    # found by one detection only: re-checked on the next frame
        self._cuts = CutDetector()

    def _detect(self, gray: np.ndarray) -> Step:
        """Search the whole frame; start a track on the chosen face."""
        det = search(self.detector, cv2.equalizeHist(gray), self.config)  # equalised as the re-checks: dark faces too
        if det is None:
            return Step(None, MISSING, 0.0)
        # Detector boxes (Haar's above all) differ from the box dlib's predictor was trained
        # on: one predictor pass, then the box those points imply.
        pts = self.predictor(gray, box_from_landmarks(self.predictor(gray, det)))
        step = self._confirmed(gray, pts)
        self._fresh, step.new = True, True
        return step

    def _confirmed(self, gray: np.ndarray, pts: np.ndarray) -> Step:
        self._pts = self._ref = pts
        self._look = look(gray, box_from_landmarks(pts))
        self._since_check = self._since_confirmed = self._misses = 0
        self._fresh = False
        return Step(pts, CONFIRMED, 1.0)

    def _lose(self, gray: np.ndarray, retract: int) -> Step:
        """End the track; a face elsewhere in this very frame (a cut to another shot) starts a new one."""
        self._pts = self._ref = self._look = None
        self._fresh = False
        step = self._detect(gray)
        step.retract = retract
        return step

    def _unvouched(self) -> int:
        """How many frames just before this one to withdraw as the track ends: all since its
        only detection if it was never re-found (a false alarm, that detection included); all
        since its last confirmation once a re-check has failed; else none."""
        if self._fresh:
            return self._since_confirmed
        return self._since_confirmed - 1 if self._misses else 0

    def __call__(self, gray: np.ndarray) -> Step:
        """Landmarks and state for the next frame (grey, in the frame's pixels)."""
        cut = self._cuts(gray)
        if self._pts is not None:
            self._since_check += 1
            self._since_confirmed += 1
        if cut:                            # a new shot: whoever is there is found afresh
            step = self._lose(gray, self._unvouched())
            step.cut = True
            return step
        if self._pts is None:
            return self._detect(gray)
        c = self.config
        pts = self.predictor(gray, box_from_landmarks(self._pts))
        box = box_from_landmarks(pts)
        sim = similarity(look(gray, box), self._look)
        changed = sim < c.min_similarity or procrustes_residual(pts, self._ref) > c.max_shape_residual
        if changed or self._fresh or self._since_check >= c.detect_every:
            self._since_check = 0
            if find_near(self.detector, gray, box, margin=0.25) is not None:
                return self._confirmed(gray, pts)
            if self._fresh or changed:       # a false alarm, or it looks different and cannot be seen: gone
                return self._lose(gray, self._unvouched())
            self._misses += 1
            if self._misses >= c.max_misses:  # still looks alike, but never vouched for again
                return self._lose(gray, self._unvouched())
        self._pts = pts
        return Step(pts, TRACKED, max(0.0, sim))


class DetectEveryFrame:
    """Tracking mode ``detect``, the paper's way: the detector (Haar or HOG) on every frame
    (searched near the last box first, then the whole frame), landmarks from the predictor in
    the detector's own box, nothing carried over from frame to frame but where to look."""

    def __init__(self, config, detector: Callable, predictor: LandmarkPredictor):
        self.config, self.detector, self.predictor = config, detector, predictor
        self._box: np.ndarray | None = None

    def __call__(self, gray: np.ndarray) -> Step:
        c = self.config
        det = None
        if self._box is not None:
            det = find_near(self.detector, gray, self._box, scale=c.detect_scale, margin=0.5, equalize=False)
        if det is None:
            det = search(self.detector, gray, c)
        self._box = det
        if det is None:
            return Step(None, MISSING, 0.0)
        return Step(self.predictor(gray, det), CONFIRMED, 1.0, box=det, new=True)


#: the tracking modes, by the name ``ExtractorConfig.tracking`` gives: how faces are followed
#: from frame to frame
TRACKING = {"track": FaceTracker, "detect": DetectEveryFrame}
