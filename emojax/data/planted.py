"""A known pulse planted into the skin of a real face video: ground truth for rPPG on footage
that has none (any clip of your own camera, a corpus clip), so that a heart-rate method can be
checked where it will be used rather than on synthetic colour traces.

The wave is a finger-PPG shape (systolic peak, dicrotic wave: a strong second harmonic) with
heart-rate variability (:func:`emojax.data.animate.cardiac_phase`); it darkens the facial skin
(found by dlib on every frame, independently of emojax's tracker) most in green, as blood does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .animate import cardiac_phase, ppg_wave, skin_mask

#: relative darkening of R, G, B by blood volume (green most), as in the teaching set
BLOOD_RGB = (0.45, 1.0, 0.6)


def chained(paths: Sequence) -> tuple[list[np.ndarray], float]:
    """The frames (BGR) of several videos one after the other, and the last one's frame rate:
    a longer real clip made of short ones (a cut at each join)."""
    from ..video import FrameReader

    frames, fps = [], float("nan")
    for p in paths:
        reader = FrameReader(p)
        frames += [f.bgr for f in reader]
        fps = reader.fps
    return frames, fps


def face_points(frames: Sequence[np.ndarray], predictor=None) -> np.ndarray:
    """dlib's 68 points on every frame (its HOG detector on the whole frame, then the
    predictor in its box; NaN where it finds no face): ``(T, 68, 2)``."""
    import dlib

    from ..features.landmarks import LandmarkPredictor

    det, pred = dlib.get_frontal_face_detector(), predictor or LandmarkPredictor()
    out = np.full((len(frames), 68, 2), np.nan)
    for i, bgr in enumerate(frames):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        rects = det(gray, 0) or det(gray, 1)
        if rects:
            r = max(rects, key=lambda r: r.area())
            out[i] = pred(gray, np.array([r.left(), r.top(), r.right(), r.bottom()], float))
    return out


@dataclass
class PlantedPulse:
    """What was planted: the mean rate, the rate over time and the wave itself."""

    bpm: float             # mean heart rate over the clip
    rate: np.ndarray       # (T,) instantaneous heart rate, bpm
    wave: np.ndarray       # (T,) the pulse wave, 0 (diastole) .. 1 (systolic peak)
    amplitude: float       # the green channel's amplitude (half its peak-to-peak swing), relative to the skin's brightness


def plant_pulse(frames: Sequence[np.ndarray], fps: float, bpm: float, amplitude: float, *,
                points: np.ndarray, seed: int = 0, rgb: tuple[float, float, float] = BLOOD_RGB,
                masks: list | None = None) -> tuple[list[np.ndarray], PlantedPulse]:
    """``frames`` (BGR uint8) with a pulse of mean ``bpm`` planted into the skin.

    Args:
        amplitude: amplitude of the pulse in the skin's green channel (half its peak-to-peak
            swing, as for any oscillation) as a share of the skin's brightness: 0.01 = 1 %, a
            swing of 2 %; red and blue swing by ``rgb``'s ratios to green.
        points: ``(T, 68, 2)`` landmarks per frame (:func:`face_points`); frames without them
            are left as they are.
        masks: the skin masks of a previous call on the same frames and points (reused: they
            are the costly part).

    Returns the new frames and what was planted. A camera sees the pulse before it
    quantises, with its sensor noise as dither; here the frames are already 8-bit, so the
    darkened values are dithered (uniform noise of one grey level before rounding) rather than
    rounded, which would erase any change smaller than half a grey level.
    """
    times = np.arange(len(frames)) / fps
    rng = np.random.default_rng(seed)
    phase, rate = cardiac_phase(times, bpm, rng)
    wave = ppg_wave(phase)
    gain = 2.0 * amplitude * np.asarray(rgb[::-1], np.float32) / rgb[1]  # BGR order; the wave spans 0..1
    out = []
    for i, bgr in enumerate(frames):
        m = masks[i] if masks is not None else skin_masks(frames[i:i + 1], points[i:i + 1])[0]
        if m is None:
            out.append(bgr)
            continue
        ys, xs = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if len(ys) == 0:
            out.append(bgr)
            continue
        box = np.s_[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]        # only where the skin is
        f = bgr[box].astype(np.float32) * (1.0 - wave[i] * m[box][..., None] * gain)
        f += rng.uniform(-0.5, 0.5, f.shape).astype(np.float32)
        new = bgr.copy()
        new[box] = np.clip(np.round(f), 0, 255).astype(np.uint8)
        out.append(new)
    return out, PlantedPulse(float(rate.mean()), rate, wave, amplitude)


def skin_masks(frames: Sequence[np.ndarray], points: np.ndarray) -> list:
    """Soft masks of each frame's facial skin (None where there are no points)."""
    return [skin_mask(f.shape[:2], p) if np.isfinite(p).all() else None for f, p in zip(frames, points)]
