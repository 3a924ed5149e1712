"""Face detection: the paper's Haar cascade or dlib's HOG detector, and which face to keep.

Boxes are ``(x0, y0, x1, y1)`` float arrays in pixels of the frame given to the detector.
Detectors are built once (loading a cascade or a HOG model per frame is what makes naive
pipelines slow) and are callables ``detector(gray) -> (boxes (n, 4), scores (n,))``, with a
``find(gray, scale=, min_side=, max_side=)`` for a search limited to a size range.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..errors import EmojaxError

FACE_POLICIES = ("largest", "left", "right", "nearest")


@dataclass
class HaarDetector:
    """OpenCV's frontal-face Haar cascade (Viola & Jones 2001), as the paper uses it.

    Args:
        scale: the grey frame is resized by this factor before detection (1.0 = the paper).
        min_size: smallest face, in pixels of the *original* frame.
        scale_factor, min_neighbors: ``detectMultiScale`` parameters (OpenCV defaults).
    """

    scale: float = 1.0
    min_size: int = 30
    scale_factor: float = 1.1
    min_neighbors: int = 3
    cascade_name: str = "haarcascade_frontalface_default.xml"
    #: side (pixels) a tracked face is resized to when it is re-checked: twice the cascade's
    #: 24-pixel window finds it reliably at a fraction of the cost of a larger search
    confirm_side: float = 48.0

    def __post_init__(self):
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise EmojaxError("this OpenCV build has no Haar cascades; install opencv-python-headless<5")
        path = cv2.data.haarcascades + self.cascade_name
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise EmojaxError(f"{path}: the Haar cascade could not be loaded")

    def __call__(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.find(gray, scale=self.scale, min_side=self.min_size)

    def find(self, gray: np.ndarray, *, scale: float, min_side: float,
             max_side: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Faces with sides in [min_side, max_side] (original pixels), searched at ``scale``.

        Returns boxes and neighbour counts (how many overlapping windows voted for each).
        """
        img = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        m = max(1, int(round(min_side * scale)))
        big = (int(max_side * scale),) * 2 if max_side else ()
        rects, votes = self._cascade.detectMultiScale2(
            img, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(m, m),
            maxSize=big or None)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        r = np.asarray(rects, float) / scale
        boxes = np.column_stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]])
        return boxes, np.asarray(votes, float).reshape(-1)


@dataclass
class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (the box convention its predictor expects).

    Args:
        scale: resize factor before detection.
        upsample: dlib's pyramid upsampling count (0 is fastest; 1 finds faces half the size).
    """

    scale: float = 1.0
    upsample: int = 0
    confirm_side: float = 90.0  # the HOG window is 80 pixels

    def __post_init__(self):
        import dlib

        self._detector = dlib.get_frontal_face_detector()

    def __call__(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.find(gray, scale=self.scale, min_side=0.0)

    def find(self, gray: np.ndarray, *, scale: float, min_side: float,
             max_side: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Faces with sides in [min_side, max_side] (original pixels), searched at ``scale``
        (the HOG window is 80 pixels: ``scale`` should bring the faces sought above that)."""
        img = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects, scores, _ = self._detector.run(img, self.upsample, 0.0)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], float) / scale
        side = boxes[:, 2] - boxes[:, 0]
        keep = (side >= min_side) & (side <= (max_side or np.inf))
        return boxes[keep], np.asarray(scores, float)[keep]


_HOG = threading.local()


def dlib_hog():
    """dlib's frontal face detector, built once per thread (building one takes seconds; one
    object detects on one image at a time)."""
    if not hasattr(_HOG, "detector"):
        import dlib

        _HOG.detector = dlib.get_frontal_face_detector()
    return _HOG.detector


def largest_dlib_face(gray: np.ndarray, upsamples: Sequence[int] = (0,)) -> np.ndarray | None:
    """The biggest face dlib's HOG detector finds in the whole image, as ``(x0, y0, x1, y1)``:
    tried with each pyramid upsampling of ``upsamples`` in turn until one finds a face (0 is
    fastest; 1 finds faces half the size). None when none does."""
    det = dlib_hog()
    for up in upsamples:
        rects = det(gray, up)
        if rects:
            r = max(rects, key=lambda r: r.area())
            return np.array([r.left(), r.top(), r.right(), r.bottom()], float)
    return None


DETECTORS: dict[str, Callable[..., Callable]] = {"haar": HaarDetector, "hog": HogDetector}


def make_detector(name: str, **kwargs) -> Callable:
    """Build a detector by name (``haar`` or ``hog``); unknown names raise ``ValueError``."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose one of {sorted(DETECTORS)}")
    return DETECTORS[name](**kwargs)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def select_face(boxes: np.ndarray, policy: str = "largest", *, near: Sequence[float] | None = None) -> int:
    """Index of the face to keep among ``boxes`` (n >= 1) under ``policy``.

    ``largest``: biggest area; ``left``/``right``: smallest/largest centre x (IEMOCAP puts
    both actors in one frame); ``nearest``: centre closest to the centre of ``near``.
    """
    if policy not in FACE_POLICIES:
        raise ValueError(f"unknown face policy {policy!r}; choose one of {list(FACE_POLICIES)}")
    boxes = np.asarray(boxes, float)
    if len(boxes) == 0:
        raise ValueError("select_face needs at least one box")
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    if policy == "largest":
        return int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    if policy == "left":
        return int(np.argmin(cx))
    if policy == "right":
        return int(np.argmax(cx))
    if near is None:
        raise ValueError("policy 'nearest' needs a box to be near to")
    nx, ny = (near[0] + near[2]) / 2, (near[1] + near[3]) / 2
    return int(np.argmin((cx - nx) ** 2 + (cy - ny) ** 2))
