"""Live extraction: a camera's frames pushed one at a time, the last seconds kept.

:class:`LiveFeatures` is the streaming entry point. Each frame goes through the extractor's own
tracker, landmark predictor and colour ROI (:meth:`emojax.features.Extractor.stream`, the code
that reads files), and comes back with what to draw on it. The rows of the last ``keep_s``
seconds are kept in a buffer that is trimmed as frames arrive, so memory does not grow with
the length of the stream; :meth:`LiveFeatures.window` gives any recent span as an ordinary
:class:`Features` record (on a uniform grid when frames came unevenly or were dropped), ready
for the heart rate and the emotion models. Safe to push from one thread and read from another.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from .landmarks import skin_polygons
from .pipeline import Extractor
from .record import Features
from .timing import regular


@dataclass
class LiveStep:
    """What the tracker made of one frame: its time, and (when a face is on it) the 68
    landmarks, the face box and the skin patches whose colour is the pulse."""

    time: float
    landmarks: np.ndarray | None = None     # (68, 2) pixels
    box: np.ndarray | None = None           # (x0, y0, x1, y1)
    skin: list | None = None                # polygons (float pixels), SKIN_PATCHES order

    @property
    def face(self) -> bool:
        return self.landmarks is not None


class LiveFeatures:
    """Frames in, one at a time; the last ``keep_s`` seconds of rows kept."""

    def __init__(self, extractor: Extractor, *, keep_s: float = 30.0):
        self.extractor = extractor
        self.keep_s = float(keep_s)
        self._stream = extractor.stream(expected=int(self.keep_s * 30) + 64)
        self._lock = threading.Lock()
        self._clock: deque = deque(maxlen=90)     # wall-clock seconds at which frames were done
        self.processed = 0                        # frames processed
        self.skipped = 0                          # frames the caller dropped (see :meth:`skip`)

    def push(self, frame) -> LiveStep:
        """Process one frame (an object with ``bgr`` and ``time`` in seconds, as
        :class:`emojax.video.Frame`); what to draw on it."""
        with self._lock:
            s = self._stream
            i = s.push(frame)
            d = s.cols.data
            step = LiveStep(float(frame.time))
            if d["state"][i] > 0:
                step.landmarks, step.box = d["landmarks"][i].copy(), d["box"][i].copy()
                if s.sm_pts is not None:        # the smoothed points the colour was read under
                    step.skin = [p + (s.x_off, 0) for p in skin_polygons(s.sm_pts)]
            times = d["times"]
            if times[s.cols.n - 1] - times[0] > 2 * self.keep_s:      # trimmed now and then, not per frame
                s.forget(int(np.searchsorted(times[:s.cols.n], times[s.cols.n - 1] - self.keep_s)))
            self.processed += 1
            self._clock.append(time.monotonic())
        return step

    def skip(self, n: int = 1) -> None:
        """Count frames that arrived while the last was still being processed and were dropped."""
        with self._lock:
            self.skipped += n

    @property
    def fps(self) -> float:
        """Frames processed per second of wall-clock time, over the last ~90 frames."""
        with self._lock:
            c = list(self._clock)
        return (len(c) - 1) / (c[-1] - c[0]) if len(c) > 1 and c[-1] > c[0] else 0.0

    @property
    def rate(self) -> float:
        """The frame rate of the rows kept (frames per second of stream time; 0 before two)."""
        with self._lock:
            times = self._stream.cols.data["times"][:self._stream.cols.n].copy()
        return _rate(times) or 0.0

    def window(self, seconds: float | None = None, *, grid: bool = True) -> Features | None:
        """The last ``seconds`` (None: everything kept) as a :class:`Features` record: rows on a
        uniform grid at the rate the frames came (a dropped frame is a gap, and a gap too long
        to bridge stays missing); ``grid=False``: the rows of the frames processed, as they
        came. None before any frame."""
        with self._lock:
            s = self._stream
            n = s.cols.n
            if n == 0:
                return None
            t = s.cols.data["times"][:n]
            a = 0 if seconds is None else int(np.searchsorted(t, t[-1] - seconds, side="left"))
            rows = {k: v[a:n].copy() for k, v in s.cols.data.items()}
            cuts = [c - a for c in s.cuts if c >= a]
        f = Features(**rows, fps=_rate(rows["times"]) or 30.0, source={"cuts": cuts, "live": True}, config=self.extractor.config.to_dict())
        return regular(f) if grid else f


def _rate(times: np.ndarray) -> float | None:
    """Frames per second of stream time: one over the median interval (None before two frames)."""
    d = np.diff(times)
    d = d[d > 0]
    return 1.0 / float(np.median(d)) if len(d) else None


def draw(bgr: np.ndarray, step: LiveStep) -> np.ndarray:
    """``bgr`` (changed in place, and returned) with the face box, the skin patches and the 68
    landmarks drawn; a red border when no face is tracked."""
    if not step.face:
        h, w = bgr.shape[:2]
        cv2.rectangle(bgr, (1, 1), (w - 2, h - 2), (40, 40, 220), 3)
        return bgr
    x0, y0, x1, y1 = (int(round(v)) for v in step.box)
    cv2.rectangle(bgr, (x0, y0), (x1, y1), (80, 200, 80), 2)
    for poly in step.skin or []:
        if np.isfinite(poly).all():
            cv2.polylines(bgr, [np.round(poly).astype(np.int32)], True, (60, 170, 255), 1, cv2.LINE_AA)
    for x, y in np.round(step.landmarks).astype(np.int32):
        cv2.circle(bgr, (int(x), int(y)), 2, (255, 0, 255), -1, cv2.LINE_AA)   # magenta: rare in faces and rooms
    return bgr
