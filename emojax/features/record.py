"""The per-video feature record, its configuration, and how it is stored (``.npz`` + ``.json``)."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_json, atomic_write_npz
from ..errors import ConfigError, FeatureStoreError

FORMAT_VERSION = 3


@dataclass(frozen=True)
class ExtractorConfig:
    """How faces, landmarks and colour are read from a video. Saved with every record."""

    detector: str = "haar"          # face detector: "haar" (the paper's) or "hog" (dlib)
    tracking: str = "track"         # "track": detect, then follow the landmarks while the detector keeps
                                    # confirming the face; "detect": the detector on every frame (the paper)
    detect_every: int = 10          # track: the detector re-checks the tracked face every k frames
    max_misses: int = 2             # track: re-checks failed in a row that end a track (its unconfirmed
                                    # frames are withdrawn)
    min_similarity: float = 0.6     # track: below this similarity of the face's grey crop to its look at
                                    # the last confirmation, the detector is asked at once
    detect_scale: float = 0.5       # the whole-frame search runs on the grey frame resized by this factor
    min_face: int = 40              # smallest face side, pixels of the original frame
    policy: str = "largest"         # several faces: "largest", "left", "right", "nearest"
    near: tuple[float, float, float, float] | None = None  # box for policy "nearest"
    region: str | None = None       # only look in this part of the frame: None, "left", "right"
    roi: str = "skin"               # colour ROI: "box" (the face box; in "detect" mode the detector's own),
                                    # "skin" (forehead + cheeks) or "frame" (the whole frame: skin-patch videos)
    smooth: float = 0.5             # track: EMA weight of the newest frame for the box and the skin ROI
    max_shape_residual: float = 0.25  # track: Procrustes residual from the confirmed shape that calls the detector
    fps: float | None = None        # resample to about this frame rate (None: keep the source's)
    stream: int | None = None       # which video stream of a file, by its number among them from 0 (None: the
                                    # container's default)

    def __post_init__(self):
        from .face import DETECTORS, FACE_POLICIES
        from .tracker import TRACKING

        if self.detector not in DETECTORS:
            raise ConfigError(f"unknown detector {self.detector!r}; choose one of {sorted(DETECTORS)}")
        if self.policy not in FACE_POLICIES:
            raise ConfigError(f"unknown face policy {self.policy!r}; choose one of {list(FACE_POLICIES)}")
        if self.policy == "nearest" and self.near is None:
            raise ConfigError("face policy 'nearest' needs `near` = (x0, y0, x1, y1)")
        if self.roi not in ROIS:
            raise ConfigError(f"unknown ROI {self.roi!r}; choose one of {list(ROIS)}")
        if self.region not in (None, "left", "right"):
            raise ConfigError(f"unknown region {self.region!r}; choose None, 'left' or 'right'")
        if self.tracking not in TRACKING:
            raise ConfigError(f"unknown tracking {self.tracking!r}; choose one of {list(TRACKING)}")
        if self.detect_every < 1 or self.max_misses < 1 or not 0 < self.detect_scale <= 1 or not 0 < self.smooth <= 1:
            raise ConfigError("detect_every and max_misses must be >= 1, detect_scale and smooth in (0, 1]")
        if not -1.0 <= self.min_similarity < 1.0:
            raise ConfigError(f"min_similarity must be in [-1, 1), got {self.min_similarity}")

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

#: the paper's extractor: the Haar cascade (OpenCV's defaults) on every full-resolution frame,
#: the mean colour of its own box, dlib's landmarks in that box; nothing smoothed
PAPER_EXTRACTOR = ExtractorConfig(detector="haar", tracking="detect", detect_scale=1.0, min_face=30,
                                  roi="box", smooth=1.0)


@dataclass
class Features:
    """Both modalities of one video (or one cut of a video), frame by frame.

    Frames without a face have NaN in ``rgb`` (unless the ROI is the whole frame), ``patches``,
    ``landmarks`` and ``box``, state ``MISSING`` (0) and confidence 0. A frame with a face is
    ``CONFIRMED`` (2: the detector found it there) or ``TRACKED`` (1: followed from a confirmed
    frame, and still looking like it).
    """

    rgb: np.ndarray          # (T, 3) mean R, G, B of the colour ROI
    landmarks: np.ndarray    # (T, 68, 2) (x, y) pixels of the original frame
    box: np.ndarray          # (T, 4) face box (x0, y0, x1, y1), pixels of the original frame
    state: np.ndarray        # (T,) uint8: 0 missing, 1 tracked, 2 confirmed by the detector
    confidence: np.ndarray   # (T,) similarity of the face to its look when last confirmed (0 = no face)
    times: np.ndarray        # (T,) seconds from the start of the video (presentation times)
    fps: float
    patches: np.ndarray | None = None  # (T, P, 3) mean R, G, B of each skin patch (SKIN_PATCHES)
    interpolated: np.ndarray | None = None  # (T,) bool: the row is no frame that was seen but a point of a
                                            # uniform grid between two (a variable frame rate), its values
                                            # interpolated from theirs
    voice: np.ndarray | None = None   # (T, 25) eGeMAPS descriptors (features.voice.DESCRIPTORS), each frame's
                                      # interval averaged; NaN where ``speech`` is False. None: not read yet
    speech: np.ndarray | None = None  # (T,) bool: the frame holds voiced speech (the voice's own mask)
    source: dict = field(default_factory=dict)   # path, sha256, start, end, size, integrity, ...
    config: dict = field(default_factory=dict)   # ExtractorConfig.to_dict()

    ARRAYS = ("rgb", "landmarks", "box", "state", "confidence", "times", "patches", "interpolated")
    #: the voice block: absent from records stored before emojax read voice (then ``voice`` and
    #: ``speech`` are None, and ``source["voice"]["status"]`` is "unread")
    VOICE_ARRAYS = ("voice", "speech")

    def __post_init__(self):
        if self.patches is None:
            self.patches = np.full((len(self.times), 0, 3), np.nan)
        if self.interpolated is None:
            self.interpolated = np.zeros(len(self.times), bool)
        if (self.voice is None) != (self.speech is None):
            raise ValueError("a record's voice and speech mask are given together or not at all")

    @property
    def voice_status(self) -> str:
        """``features.voice.STATUSES``: "present", "partial" (read, but speech on too few frames or
        the track shorter than the video), "absent" (no audio track) or "unread"."""
        if self.voice is None:
            return "unread"
        return self.source.get("voice", {}).get("status", "present")

    def __len__(self) -> int:
        return len(self.times)

    @property
    def face_found(self) -> np.ndarray:
        """(T,) bool: a face on this frame (tracked or confirmed)."""
        return self.state > 0

    @property
    def face_ratio(self) -> float:
        return float(self.face_found.mean()) if len(self) else 0.0

    @property
    def grayscale(self) -> bool:
        """True when the colour ROI never has any colour (R = G = B on every frame, to half a
        grey level): a grayscale video, which holds no pulse."""
        rows = self.rgb[np.isfinite(self.rgb).all(axis=1)]
        return bool(len(rows)) and float((rows.max(axis=1) - rows.min(axis=1)).max()) < 0.5

    @property
    def partial(self) -> bool:
        """True when the video was not read whole (kept on purpose: ``accept_partial``)."""
        return self.source.get("integrity", {}).get("status", "complete") != "complete"

    def counts(self) -> dict[str, int]:
        """Frames confirmed by the detector, tracked in between, and missing."""
        return {"confirmed": int((self.state == 2).sum()), "tracked": int((self.state == 1).sum()),
                "missing": int((self.state == 0).sum())}

    def save(self, stem: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``<stem>.npz`` then ``<stem>.json`` (each atomically; the JSON, written last,
        marks the record complete)."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        names = self.ARRAYS + (self.VOICE_ARRAYS if self.voice is not None else ())
        atomic_write_npz(npz, **{k: getattr(self, k) for k in names})
        atomic_write_json(meta, {"format": FORMAT_VERSION, "fps": self.fps, "frames": len(self),
                                 "face_ratio": self.face_ratio, "frames_by_state": self.counts(),
                                 "interpolated_rows": int(self.interpolated.sum()),
                                 "partial": self.partial, "source": self.source, "config": self.config})
        return npz, meta

    @classmethod
    def load(cls, stem: str | os.PathLike) -> "Features":
        """Read a record written by :meth:`save` (no pickle: ``allow_pickle=False``)."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        try:
            info = json.loads(meta.read_text())
            if info.get("format") != FORMAT_VERSION:
                raise FeatureStoreError(f"{meta}: format {info.get('format')} is not {FORMAT_VERSION}; extract again")
            with np.load(npz, allow_pickle=False) as z:
                arrays = {k: z[k] for k in cls.ARRAYS}
                arrays.update({k: z[k] for k in cls.VOICE_ARRAYS if k in z.files})
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise FeatureStoreError(f"{stem}: unreadable feature record ({e}); delete it and extract again") from e
        t = len(arrays["times"])
        p = arrays["patches"].shape
        shapes = {"rgb": (t, 3), "landmarks": (t, 68, 2), "box": (t, 4), "state": (t,), "confidence": (t,),
                  "patches": (t, p[1] if len(p) == 3 else -1, 3), "interpolated": (t,), "voice": (t, 25),
                  "speech": (t,)}
        if ("voice" in arrays) != ("speech" in arrays):
            raise FeatureStoreError(f"{npz}: holds one of voice and speech without the other; extract again")
        for k, shp in shapes.items():
            if k in arrays and arrays[k].shape != shp:
                raise FeatureStoreError(f"{npz}: {k} has shape {arrays[k].shape}, expected {shp}")
        return cls(**arrays, fps=float(info["fps"]), source=info["source"], config=info["config"])
