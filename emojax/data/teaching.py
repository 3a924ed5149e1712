"""The teaching set: short face videos whose class is planted in both modalities.

Four classes on two axes: the face carries valence (a smile or a frown), the pulse carries
arousal (heart rate and pulse strength), so telling them apart needs both modalities:

    happy = positive / high arousal     calm = positive / low arousal
    angry = negative / high arousal     sad  = negative / low arousal

Each clip animates a real photograph (scikit-image's ``astronaut`` by default, or faces the
user gives) with head motion, blinks and speech-like mouth movement; ``face_info`` and
``pulse_info`` set how much each modality says about the class (0: nothing, 1: all).
Ground truth (class, planted heart rate) is written beside each clip, and ``manifest.csv``
lists them all for :func:`emojax.data.load_manifest`.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..fileio import atomic_write_bytes, atomic_write_json, check_writable
from ..errors import NoFaceError
from .animate import BLOOD_RGB, cardiac_phase, make_rig, ppg_wave, render_frame

#: class -> (valence sign, arousal sign)
TEACHING_CLASSES = {"happy": (1, 1), "calm": (1, -1), "angry": (-1, 1), "sad": (-1, -1)}
#: heart-rate ranges (bpm) for high and low arousal, and the range when the pulse says nothing
HR_HIGH, HR_LOW, HR_ANY = (92.0, 110.0), (58.0, 72.0), (58.0, 110.0)


@dataclass(frozen=True)
class TeachingConfig:
    """Knobs of the teaching set (saved as ``config.json`` beside the clips)."""

    clips_per_class: int = 16        # clips of each of the four classes
    seconds: float = 8.0             # length of each clip
    fps: float = 30.0                # frame rate
    size: int = 256                  # frames are size x size pixels
    noise: float = 2.0               # sensor noise, grey levels (std)
    face_info: float = 1.0           # 0..1: how much the expression says about valence
    pulse_info: float = 1.0          # 0..1: how much heart rate / pulse strength say about arousal
    pulse_amplitude: float = 2.5     # skin darkening at systole, grey levels (green channel)
    groups: int = 4                  # "actors": appearance variants (mirror, tint, zoom) per face
    seed: int = 0


def _face_landmarks(rgb: np.ndarray, where: str) -> np.ndarray:
    from ..features.face import largest_dlib_face
    from ..features.landmarks import LandmarkPredictor

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    box = largest_dlib_face(gray, upsamples=(1,))
    if box is None:
        raise NoFaceError(f"{where}: no face found; give a frontal face photo or video")
    return LandmarkPredictor()(gray, box)


def face_shape(source: str | os.PathLike | np.ndarray | None = None) -> np.ndarray:
    """The 68 landmarks (x, y pixels) of the face in :func:`load_face` ``(source)``: a face to
    draw explanations on (by default the teaching actors' own face)."""
    return _face_landmarks(load_face(source), "the astronaut" if source is None else str(source)[:80])


def load_face(source: str | os.PathLike | np.ndarray | None = None) -> np.ndarray:
    """An RGB face image: ``None`` = scikit-image's astronaut; a path to an image, or to a
    video (its first frame with a face among the first 150)."""
    if source is None:
        from skimage import data

        return data.astronaut()
    if isinstance(source, np.ndarray):
        return source
    p = Path(source)
    from ..video import VIDEO_EXTENSIONS, FrameReader

    if p.suffix.lower() in VIDEO_EXTENSIONS:
        from ..features.face import largest_dlib_face

        for frame in FrameReader(p):
            if frame.index >= 150:
                break
            if largest_dlib_face(cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY)) is not None:
                return frame.rgb
        raise NoFaceError(f"{p}: no frontal face in its first 150 frames")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise NoFaceError(f"{p}: not an image OpenCV can read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _actor(rgb: np.ndarray, pts: np.ndarray, size: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop a square around the face, resized to ``size``; variants mirror, tint and zoom."""
    c = pts.mean(axis=0)
    side = (pts[:, 0].max() - pts[:, 0].min()) * (2.0 + 0.25 * (variant % 3))
    m = np.array([[size / side, 0, size / 2 - c[0] * size / side],
                  [0, size / side, size / 2 - (c[1] - 0.1 * side) * size / side]])
    img = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    p = pts @ m[:, :2].T + m[:, 2]
    if variant % 2:
        img = img[:, ::-1].copy()
        p = p.copy()
        p[:, 0] = size - 1 - p[:, 0]
        mirror = [*range(16, -1, -1), *range(26, 16, -1), *range(27, 31), *range(35, 30, -1),
                  45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                  *range(54, 47, -1), *range(59, 54, -1), *range(64, 59, -1), *range(67, 64, -1)]
        p = p[mirror]
    tint = np.array([1.0 + 0.04 * ((variant // 2) % 2), 1.0, 1.0 - 0.04 * ((variant // 2) % 2)])
    return np.clip(img * tint, 0, 255).astype(np.uint8), p


def _envelope(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speech-like jaw opening in [0, 1]: syllables at 3-5 Hz in bursts with pauses."""
    rate = rng.uniform(3.0, 5.0)
    syll = 0.5 * (1 - np.cos(2 * np.pi * rate * times + rng.uniform(0, 2 * np.pi)))
    bursts = (np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * times + rng.uniform(0, 2 * np.pi)) > -0.3)
    return syll * cv2.GaussianBlur(bursts.astype(np.float32)[None], (0, 0), 3).ravel() * rng.uniform(0.6, 1.0)


def _blinks(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(times)
    t = rng.uniform(0.5, 3.0)
    while t < times[-1]:
        out = np.maximum(out, np.exp(-((times - t) ** 2) / (2 * 0.05 ** 2)))
        t += rng.uniform(2.0, 6.0)
    return out


def _smooth_walk(n: int, rng: np.random.Generator, scale: float, width: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d    # here: importing scipy.ndimage costs every process ~25 MB

    x = gaussian_filter1d(rng.normal(0, 1, n).astype(np.float32), width, mode="mirror", truncate=4.0)
    return x / (np.abs(x).max() or 1.0) * scale


def actor_rig(source: str | os.PathLike | np.ndarray | None = None, *, size: int = 256, variant: int = 0):
    """The animation rig of one teaching actor: the face of ``source`` (see :func:`load_face`)
    cropped to ``size`` in appearance ``variant`` (mirror, tint, zoom), ready for :func:`render_clip`."""
    from .animate import make_rig

    rgb = load_face(source)
    name = "astronaut" if source is None else (str(source) if not isinstance(source, np.ndarray) else "the image given")
    img, pts = _actor(rgb, _face_landmarks(rgb, name), size, variant)
    return make_rig(img, pts)


def render_clip(rig, label: str, cfg: TeachingConfig, rng: np.random.Generator) -> tuple[list, dict]:
    """Frames (RGB uint8) of one clip and its ground truth."""
    valence, arousal = TEACHING_CLASSES[label]
    n = int(round(cfg.seconds * cfg.fps))
    times = np.arange(n) / cfg.fps
    informative = rng.uniform() < cfg.pulse_info
    hr_range = (HR_HIGH if arousal > 0 else HR_LOW) if informative else HR_ANY
    hr_mean = rng.uniform(*hr_range)
    amp = cfg.pulse_amplitude * (rng.uniform(0.7, 1.3) if not informative else (1.25 if arousal > 0 else 0.8))
    phase, hr = cardiac_phase(times, hr_mean, rng)
    pulse = amp * ppg_wave(phase)
    face_sign = valence if rng.uniform() < cfg.face_info else rng.choice([-1, 1])
    strength = rng.uniform(0.6, 1.0)
    onset = 1 / (1 + np.exp(-(times - rng.uniform(0.3, 1.5)) / 0.25))
    expr = face_sign * strength * onset
    jaw, blink = _envelope(times, rng), _blinks(times, rng)
    sx, sy = _smooth_walk(n, rng, 0.03 * cfg.size, 20), _smooth_walk(n, rng, 0.02 * cfg.size, 20)
    ang, zoom = _smooth_walk(n, rng, 3.0, 20), 1 + _smooth_walk(n, rng, 0.03, 24)
    light = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * times + rng.uniform(0, 6.3))
    frames = []
    for i in range(n):
        f = render_frame(rig, smile=expr[i], brows=max(0.0, -expr[i]), jaw=jaw[i], blink=blink[i],
                         pulse=pulse[i], pulse_rgb=BLOOD_RGB, shift=(sx[i], sy[i]),
                         angle_deg=ang[i], zoom=zoom[i], light=light[i])
        f += rng.normal(0, cfg.noise, f.shape).astype(np.float32)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    truth = {"label": label, "valence": valence, "arousal": arousal, "hr_bpm": float(hr.mean()),
             "pulse_informative": bool(informative), "expression": float(face_sign * strength),
             "pulse_amplitude": float(amp), "fps": cfg.fps, "frames": n}
    return frames, truth


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float) -> None:
    """Write RGB frames as an MPEG-4 (mp4v) ``.mp4``, through a temp file then ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"{tmp}: OpenCV cannot write mp4v video here")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)


_RIGS: list = []  # per worker process: the actors' rigs, sent once by the pool's initializer


def _set_rigs(rigs: list) -> None:
    _RIGS[:] = rigs


def _write_clip(out: Path, cfg: TeachingConfig, index: int, label: str, k: int) -> tuple[str, str, str]:
    """Render and write clip ``index`` (its own random stream, so clips need no order)."""
    group, rig = _RIGS[index % len(_RIGS)]  # every class sees every actor alike
    frames, truth = render_clip(rig, label, cfg, np.random.default_rng([cfg.seed, index]))
    name = f"{label}_{k:03d}"
    write_video(out / f"{name}.mp4", frames, cfg.fps)
    atomic_write_json(out / f"{name}.json", {**truth, "group": group})
    return f"{name}.mp4", label, group


def make_teaching_set(out: str | os.PathLike, config: TeachingConfig | None = None, *,
                      faces: Sequence[str | os.PathLike] | None = None, workers: int | None = None,
                      progress: Callable[[int], None] | None = None) -> Path:
    """Write the teaching set into ``out``: ``<class>_<nnn>.mp4`` + ``.json`` ground truth,
    ``manifest.csv`` (path,label,group) and ``config.json``. Returns the manifest's path.

    ``workers`` processes render clips in parallel (default: all cores; the clips are the
    same whatever the number). ``progress`` is called with 1 after each clip.
    """
    from ..procs import process_pool

    cfg = config or TeachingConfig()
    out = check_writable(out, "teaching set")
    sources = list(faces) if faces else [None]
    rigs = []
    for s_i, src in enumerate(sources):
        rgb = load_face(src)
        pts = _face_landmarks(rgb, "astronaut" if src is None else str(src))
        for v in range(cfg.groups):
            img, p = _actor(rgb, pts, cfg.size, v)
            rigs.append((f"face{s_i}-v{v}", make_rig(img, p)))
    jobs = [(label, k) for label in TEACHING_CLASSES for k in range(cfg.clips_per_class)]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    rows: list = [None] * len(jobs)
    if workers == 1:
        _set_rigs(rigs)
        for i, (label, k) in enumerate(jobs):
            rows[i] = _write_clip(out, cfg, i, label, k)
            if progress is not None:
                progress(1)
    else:  # workers from a fork server: safe whatever threads (OpenCV, JAX) the caller runs
        with process_pool(workers, initializer=_set_rigs, initargs=(rigs,)) as pool:
            futures = {pool.submit(_write_clip, out, cfg, i, label, k): i for i, (label, k) in enumerate(jobs)}
            for fut, i in futures.items():
                rows[i] = fut.result()
                if progress is not None:
                    progress(1)
    atomic_write_json(out / "config.json", asdict(cfg))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "group"])
    w.writerows(rows)
    manifest = out / "manifest.csv"
    atomic_write_bytes(manifest, buf.getvalue().encode())
    return manifest
