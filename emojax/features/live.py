"""Live extraction: a camera's frames pushed one at a time, the last seconds kept.

:class:`LiveFeatures` is the streaming entry point. Each frame goes through the extractor's own
tracker, landmark predictor and colour ROI (:meth:`emojax.features.Extractor.stream`, the code
that reads files), and comes back with what the tracker made of it (drawn on the frame by
:mod:`emojax.features.drawing`). The rows of the last ``keep_s`` seconds are kept in a buffer
that is trimmed as frames arrive, so memory does not grow with the length of the stream;
:meth:`LiveFeatures.window` gives any recent span as an ordinary :class:`Features` record (on a
uniform grid when frames came unevenly or were dropped), ready for the heart rate and the
emotion models. Safe to push from one thread and read from another.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class RegularWindow:
    """A recent span of the stream on a uniform grid, and where the frames processed had a face."""

    features: Features          # the rows on a uniform grid at the stream's rate (:func:`~.timing.regular`)
    face_seen: np.ndarray       # (T,) bool: the frame processed nearest each grid point had a face (where
                                # frames were dropped the values are missing, but no face was lost)


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
        :class:`emojax.video.Frame`); what the tracker made of it."""
        with self._lock:
            s = self._stream
            i = s.push(frame)
            step = LiveStep(float(frame.time))
            face = s.face(i)
            if face is not None:
                step.landmarks, step.box = face
                step.skin = s.skin_polygons()      # the smoothed points the colour was read under
            times = s.times
            if times[-1] - times[0] > 2 * self.keep_s:      # trimmed now and then, not per frame
                s.forget(int(np.searchsorted(times, times[-1] - self.keep_s)))
            self.processed += 1
            self._clock.append(time.monotonic())
        return step

    def skip(self, n: int = 1) -> None:
        """Count frames that arrived while the last was still being processed and were dropped."""
        with self._lock:
            self.skipped += n

    @property
    def processing_fps(self) -> float:
        """Frames processed per second of wall-clock time, over the last ~90 frames (how fast this
        machine keeps up; the stream's own rate is :attr:`rate`)."""
        with self._lock:
            c = list(self._clock)
        return (len(c) - 1) / (c[-1] - c[0]) if len(c) > 1 and c[-1] > c[0] else 0.0

    @property
    def rate(self) -> float:
        """The frame rate of the rows kept (frames per second of stream time; 0 before two)."""
        with self._lock:
            times = self._stream.times
        return _rate(times) or 0.0

    def window(self, seconds: float | None = None, *, grid: bool = True) -> Features | None:
        """The last ``seconds`` (None: everything kept) as a :class:`Features` record: rows on a
        uniform grid at the rate the frames came (a dropped frame is a gap, and a gap too long
        to bridge stays missing); ``grid=False``: the rows of the frames processed, as they
        came. None before any frame."""
        with self._lock:
            s = self._stream
            t = s.times
            if len(t) == 0:
                return None
            a = 0 if seconds is None else int(np.searchsorted(t, t[-1] - seconds, side="left"))
            f = s.record(_rate(t[a:]) or 30.0, start=a)
        f.source["live"] = True
        return regular(f) if grid else f

    def regular_window(self, seconds: float | None = None) -> RegularWindow | None:
        """The last ``seconds`` on a uniform grid (as :meth:`window`), with where the frame
        processed nearest each grid point had a face: a frame dropped is a gap in the values,
        not a face lost. None before two frames."""
        raw = self.window(seconds, grid=False)
        if raw is None or len(raw) < 2:
            return None
        found = raw.face_found
        w = regular(raw)
        near = np.clip(np.searchsorted(raw.times, w.times), 1, len(raw) - 1)
        near -= (w.times - raw.times[near - 1]) < (raw.times[near] - w.times)   # the nearer of the two
        return RegularWindow(w, found[near])


def _rate(times: np.ndarray) -> float | None:
    """Frames per second of stream time: one over the median interval (None before two frames)."""
    d = np.diff(times)
    d = d[d > 0]
    return 1.0 / float(np.median(d)) if len(d) else None
