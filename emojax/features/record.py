"""The per-video feature record, its configuration, and how it is stored (``.npz`` + ``.json``)."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_write_json, atomic_write_npz
from ..errors import FeatureStoreError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExtractorConfig:
    """How faces, landmarks and colour are read from a video. Saved with every record."""

    detector: str = "haar"          # face detector: "haar" (the paper's) or "hog" (dlib)
    detect_every: int = 10          # run the detector every k frames (1 = every frame, the paper)
    detect_scale: float = 0.5       # detector input is the grey frame resized by this factor
    min_face: int = 40              # smallest face side, pixels of the original frame
    policy: str = "largest"         # several faces: "largest", "left", "right", "nearest"
    near: tuple[float, float, float, float] | None = None  # box for policy "nearest"
    region: str | None = None       # only look in this part of the frame: None, "left", "right"
    roi: str = "skin"               # colour ROI: "box" (the paper: face box), "skin" (forehead+cheeks)
                                    # or "frame" (the whole frame, face or not: skin-patch videos)
    smooth: float = 0.5             # EMA weight of the newest frame for the box and the skin ROI
    max_shape_residual: float = 0.25  # Procrustes residual beyond which tracking counts as lost
    fps: float | None = None        # resample to about this frame rate (None: keep the source's)

    def __post_init__(self):
        from .face import DETECTORS, FACE_POLICIES

        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {sorted(DETECTORS)}")
        if self.policy not in FACE_POLICIES:
            raise ValueError(f"unknown face policy {self.policy!r}; choose one of {list(FACE_POLICIES)}")
        if self.policy == "nearest" and self.near is None:
            raise ValueError("face policy 'nearest' needs `near` = (x0, y0, x1, y1)")
        if self.roi not in ROIS:
            raise ValueError(f"unknown ROI {self.roi!r}; choose one of {list(ROIS)}")
        if self.region not in (None, "left", "right"):
            raise ValueError(f"unknown region {self.region!r}; choose None, 'left' or 'right'")
        if self.detect_every < 1 or not 0 < self.detect_scale <= 1 or not 0 < self.smooth <= 1:
            raise ValueError("detect_every must be >= 1, detect_scale and smooth in (0, 1]")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["near"] = list(self.near) if self.near is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExtractorConfig":
        d = dict(d)
        if d.get("near") is not None:
            d["near"] = tuple(d["near"])
        return cls(**d)


ROIS = ("box", "skin", "frame")

#: the paper's extractor: Haar on every full-resolution frame, mean colour of its box
PAPER_EXTRACTOR = ExtractorConfig(detector="haar", detect_every=1, detect_scale=1.0, min_face=30,
                                  roi="box", smooth=1.0)


@dataclass
class Features:
    """Both modalities of one video (or one cut of a video), frame by frame.

    Frames without a face have NaN in ``rgb``, ``landmarks`` and ``box`` and False in
    ``face_found``; ``confidence`` is 0 there.
    """

    rgb: np.ndarray          # (T, 3) mean R, G, B of the colour ROI
    landmarks: np.ndarray    # (T, 68, 2) (x, y) pixels of the original frame
    box: np.ndarray          # (T, 4) face box (x0, y0, x1, y1), pixels of the original frame
    face_found: np.ndarray   # (T,) bool
    confidence: np.ndarray   # (T,) 1 = shape as expected, 0 = no face
    times: np.ndarray        # (T,) seconds from the start of the file
    fps: float
    source: dict = field(default_factory=dict)   # path, sha256, start, end, size, ...
    config: dict = field(default_factory=dict)   # ExtractorConfig.to_dict()

    ARRAYS = ("rgb", "landmarks", "box", "face_found", "confidence", "times")

    def __len__(self) -> int:
        return len(self.times)

    @property
    def face_ratio(self) -> float:
        return float(self.face_found.mean()) if len(self) else 0.0

    def save(self, stem: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``<stem>.npz`` then ``<stem>.json`` (each atomically; the JSON, written last,
        marks the record complete)."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        atomic_write_npz(npz, **{k: getattr(self, k) for k in self.ARRAYS})
        atomic_write_json(meta, {"format": FORMAT_VERSION, "fps": self.fps, "frames": len(self),
                                 "face_ratio": self.face_ratio, "source": self.source,
                                 "config": self.config})
        return npz, meta

    @classmethod
    def load(cls, stem: str | os.PathLike) -> "Features":
        """Read a record written by :meth:`save` (no pickle: ``allow_pickle=False``)."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        try:
            info = json.loads(meta.read_text())
            with np.load(npz, allow_pickle=False) as z:
                arrays = {k: z[k] for k in cls.ARRAYS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise FeatureStoreError(f"{stem}: unreadable feature record ({e}); delete it and extract again") from e
        if info.get("format") != FORMAT_VERSION:
            raise FeatureStoreError(f"{meta}: format {info.get('format')} is not {FORMAT_VERSION}; extract again")
        t = len(arrays["times"])
        shapes = {"rgb": (t, 3), "landmarks": (t, 68, 2), "box": (t, 4), "face_found": (t,), "confidence": (t,)}
        for k, shp in shapes.items():
            if arrays[k].shape != shp:
                raise FeatureStoreError(f"{npz}: {k} has shape {arrays[k].shape}, expected {shp}")
        return cls(**arrays, fps=float(info["fps"]), source=info["source"], config=info["config"])
