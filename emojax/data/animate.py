"""Animate a still face: expression warps driven by landmarks, blinks, speech, head motion,
and a pulse injected into the skin. The building blocks of the teaching set.

All displacements are in units of the inter-ocular distance ``d`` of the face being animated,
so the same knobs look alike on any face size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Control points (iBUG 68 indices) and their displacement (dx, dy) per unit of each motion,
# in inter-ocular distances; +y is down. Mirrored for the face's other side.
_SMILE = {48: (-0.10, -0.16), 54: (0.10, -0.16), 49: (-0.04, -0.08), 53: (0.04, -0.08),
          59: (-0.03, -0.04), 55: (0.03, -0.04), 31: (-0.02, -0.03), 35: (0.02, -0.03),
          2: (-0.02, -0.04), 14: (0.02, -0.04)}
_FROWN_BROWS = {20: (0.04, 0.09), 21: (0.06, 0.12), 22: (-0.06, 0.12), 23: (-0.04, 0.09),
                19: (0.0, 0.05), 24: (0.0, 0.05)}
_JAW_OPEN = {57: (0.0, 0.16), 58: (0.0, 0.15), 56: (0.0, 0.15), 66: (0.0, 0.16), 65: (0.0, 0.14),
             67: (0.0, 0.14), 7: (0.0, 0.14), 8: (0.0, 0.16), 9: (0.0, 0.14)}
_BLINK = {37: (0.0, 1.0), 38: (0.0, 1.0), 43: (0.0, 1.0), 44: (0.0, 1.0)}  # scaled by lid gap

#: how much a planted pulse darkens R, G and B of the skin, relative to green (blood absorbs
#: green most): the teaching set's, and a planted pulse's when no camera signature is given
BLOOD_RGB = (0.45, 1.0, 0.6)


@dataclass
class FaceRig:
    """A face image, its landmarks, and precomputed warp bases for each motion."""

    image: np.ndarray        # (H, W, 3) float32 RGB, 0..255
    landmarks: np.ndarray    # (68, 2)
    skin: np.ndarray         # (H, W) float32 soft skin mask in [0, 1]
    bases: dict              # motion name -> (H, W, 2) displacement field per unit of motion
    grid: tuple              # (xx, yy) float32 pixel coordinates, for cv2.remap

    @property
    def interocular(self) -> float:
        return float(np.linalg.norm(self.landmarks[36:42].mean(0) - self.landmarks[42:48].mean(0)))


def _field(shape: tuple[int, int], pts: np.ndarray, moves: dict[int, tuple[float, float]],
           d: float, sigma: float) -> np.ndarray:
    """Smooth displacement field: Gaussian bumps at the control points, normalised so a point
    under a single bump moves by exactly its displacement."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    num = np.zeros((h, w, 2), np.float32)
    for idx, (dx, dy) in moves.items():
        px, py = pts[idx]
        g = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * (sigma * d) ** 2))
        num[..., 0] += g * dx * d
        num[..., 1] += g * dy * d
    return num


def skin_mask(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """Soft mask of facial skin: the face outline with a forehead, minus eyes, brows and mouth."""
    h, w = shape
    d = float(np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0)))
    brow_up = pts[17:27] - np.array([0.0, 0.55 * d])
    outline = np.vstack([pts[0:17], brow_up[::-1]])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(outline.astype(np.int32)), 255)
    for region in (pts[36:42], pts[42:48], pts[48:60], pts[17:22], pts[22:27]):
        hull = cv2.convexHull(region.astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 0)
        cv2.polylines(mask, [hull], True, 0, thickness=max(2, int(0.12 * d)))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.08 * d)
    return soft


def make_rig(image: np.ndarray, landmarks: np.ndarray) -> FaceRig:
    """Precompute the warp bases of ``image`` (RGB uint8 or float) with its 68 landmarks."""
    img = image.astype(np.float32)
    pts = np.asarray(landmarks, np.float64)
    shape = img.shape[:2]
    d = float(np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0)))
    lid_gap = float(np.mean([pts[41, 1] - pts[37, 1], pts[40, 1] - pts[38, 1],
                             pts[47, 1] - pts[43, 1], pts[46, 1] - pts[44, 1]])) / d
    blink = {k: (0.0, v[1] * max(lid_gap, 0.05)) for k, v in _BLINK.items()}
    bases = {"smile": _field(shape, pts, _SMILE, d, 0.22),
             "brows": _field(shape, pts, _FROWN_BROWS, d, 0.18),
             "jaw": _field(shape, pts, _JAW_OPEN, d, 0.30),
             "blink": _field(shape, pts, blink, d, 0.08)}
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return FaceRig(img, pts, skin_mask(shape, pts), bases, (xx, yy))


def ppg_wave(phase: np.ndarray) -> np.ndarray:
    """A pulse wave of unit height from the cardiac phase (cycles): a systolic upstroke and
    peak followed by a smaller dicrotic wave, the familiar shape of a finger PPG."""
    p = np.mod(phase, 1.0)
    w = np.exp(-((p - 0.18) ** 2) / (2 * 0.075 ** 2)) + 0.38 * np.exp(-((p - 0.48) ** 2) / (2 * 0.09 ** 2))
    w += np.exp(-((p - 1.18) ** 2) / (2 * 0.075 ** 2))  # the next beat's upstroke, for continuity
    return w / w.max() if w.max() > 0 else w


def cardiac_phase(times: np.ndarray, hr_bpm: float, rng: np.random.Generator, *,
                  rsa_bpm: float = 2.0, walk_bpm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative cardiac phase (cycles) and instantaneous heart rate (bpm) at ``times``.

    Heart-rate variability: respiratory sinus arrhythmia (a breathing-rate sine of ``rsa_bpm``)
    plus a slow random walk of about ``walk_bpm``, around a mean of exactly ``hr_bpm``.
    """
    dt = np.diff(times, prepend=times[0])
    breath = rng.uniform(0.2, 0.3)
    walk = np.cumsum(rng.normal(0, 1, len(times)))
    walk = walk - walk.mean()
    walk = walk / (np.abs(walk).max() or 1.0) * walk_bpm
    hr = hr_bpm + rsa_bpm * np.sin(2 * np.pi * breath * times + rng.uniform(0, 2 * np.pi)) + walk
    hr += hr_bpm - hr.mean()
    phase = np.cumsum(hr / 60.0 * dt) + rng.uniform(0, 1)
    return phase, hr


def render_frame(rig: FaceRig, *, smile: float, brows: float, jaw: float, blink: float,
                 pulse: float, pulse_rgb: tuple[float, float, float], shift: tuple[float, float],
                 angle_deg: float, zoom: float, light: float) -> np.ndarray:
    """One RGB uint8 frame: pulse into the skin, expression warp, then head pose and lighting.

    ``smile`` > 0 smiles, < 0 turns the mouth corners down; ``brows`` lowers and knits the
    brows; ``jaw`` opens the mouth; ``blink`` in [0, 1] closes the eyelids; ``pulse`` is the
    skin's darkening in grey levels (blood absorbs, green most: ``pulse_rgb`` weights).
    """
    smile, brows, jaw, blink, pulse = (float(v) for v in (smile, brows, jaw, blink, pulse))
    img = rig.image - pulse * rig.skin[..., None] * np.asarray(pulse_rgb, np.float32)
    disp = (rig.bases["smile"] * smile + rig.bases["brows"] * brows
            + rig.bases["jaw"] * jaw + rig.bases["blink"] * blink)
    h, w = img.shape[:2]
    xx, yy = rig.grid
    warped = cv2.remap(img, xx - disp[..., 0], yy - disp[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, zoom)
    m[:, 2] += shift
    out = cv2.warpAffine(warped, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out * float(light), 0, 255)
