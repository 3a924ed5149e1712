"""dlib's 68-point shape predictor, and what we derive from its points.

Points are ``(68, 2)`` float arrays of (x, y) pixels, in the iBUG 300-W order.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import EmojaxError

#: iBUG 300-W index ranges of the face regions (used for region-level explanations too)
REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}

# Where dlib's HOG detector puts its box relative to the 68 points it leads to, measured on
# 240 frames of the GRID and CREMA-D clips: box centre = centroid + (dx, dy) * s and box side
# = SIDE * s, where s is the RMS distance of the points from their centroid (std of the ratios:
# 0.07, 0.07, 0.18). Boxes built this way keep the predictor in the regime it was trained in.
BOX_DX, BOX_DY, BOX_SIDE = 0.027, -0.070, 2.85

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path:
    """Locate dlib's 68-point model without importing ``face_recognition_models``.

    Looks in ``$EMOJAX_SHAPE_PREDICTOR``, the ``face-recognition-models`` package (found with
    ``importlib.util.find_spec``; importing it needs the removed ``pkg_resources``), and
    Debian's ``/usr/share/dlib``.
    """
    candidates = []
    if env := os.environ.get("EMOJAX_SHAPE_PREDICTOR"):
        candidates.append(Path(env))
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "models" / PREDICTOR_FILE)
    candidates.append(Path("/usr/share/dlib") / PREDICTOR_FILE)
    for c in candidates:
        if c.is_file():
            return c
    raise EmojaxError(
        f"dlib's {PREDICTOR_FILE} was not found (looked in: {', '.join(map(str, candidates))}); "
        "run `pip install face-recognition-models` or set EMOJAX_SHAPE_PREDICTOR")


class LandmarkPredictor:
    """dlib's 68-point shape predictor (Kazemi & Sullivan 2014), loaded once."""

    def __init__(self, path: str | os.PathLike | None = None):
        import dlib

        self._dlib = dlib
        self.path = Path(path) if path else predictor_path()
        self._predictor = dlib.shape_predictor(str(self.path))

    def __call__(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 points for the face in ``box`` ``(x0, y0, x1, y1)`` of the grey image ``gray``."""
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = self._predictor(gray, self._dlib.rectangle(x0, y0, x1, y1))
        return np.fromiter((v for p in shape.parts() for v in (p.x, p.y)), np.float64, 136).reshape(68, 2)


def box_from_landmarks(pts: np.ndarray) -> np.ndarray:
    """The ``(x0, y0, x1, y1)`` box dlib's detector would draw around these 68 points."""
    c = pts.mean(axis=0)
    s = np.sqrt(((pts - c) ** 2).sum(axis=1).mean())
    cx, cy, half = c[0] + BOX_DX * s, c[1] + BOX_DY * s, BOX_SIDE * s / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def procrustes_residual(pts: np.ndarray, ref: np.ndarray) -> float:
    """RMS distance between two shapes after removing translation, scale and rotation,
    in units of the reference's RMS radius (0 = same shape; ~0.05 = a strong expression)."""
    a = pts - pts.mean(axis=0)
    b = ref - ref.mean(axis=0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0 or not np.isfinite(na + nb):
        return float("inf")
    m = (a / na).T @ (b / nb)
    # the 2x2 matrix's singular values sum to sqrt(|m|_F^2 + 2 |det m|) (an SVD, in closed form)
    sv_sum = np.sqrt((m * m).sum() + 2.0 * abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]))
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * sv_sum)))


def _eye_frame(pts: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit vector up from the eye line (perpendicular to it), and the inter-ocular distance."""
    along = pts[42:48].mean(axis=0) - pts[36:42].mean(axis=0)
    d = float(np.hypot(*along)) or 1.0
    return np.array([along[1], -along[0]]) / d, d  # image y grows downwards


#: the cheeks and the nose between them, bounded by the jaw, the mouth corners and the
#: lower eyelids (iBUG indices, in polygon order), split down the nose into the cheek on the
#: image's left and the one on its right, and each at the nose's base into an upper and a
#: lower part (a mid-face region like this gave a far cleaner pulse than the face box; its
#: parts let noise that differs between them be told from the pulse, which they share)
CHEEKS = {"cheek_left_upper": (1, 2, 3, 31, 30, 28, 39, 40, 41), "cheek_left_lower": (3, 4, 5, 48, 31),
          "cheek_right_upper": (15, 14, 13, 35, 30, 28, 42, 47, 46), "cheek_right_lower": (13, 12, 11, 54, 35)}

#: the skin patches whose colour is measured on every frame, in ``Features.patches`` order
SKIN_PATCHES = ("forehead_left", "forehead_right", *CHEEKS)


def skin_polygons(pts: np.ndarray) -> list[np.ndarray]:
    """The skin patches (``SKIN_PATCHES`` order) as polygons in float pixel coordinates, from 68 points.

    Forehead: a band 0.1-0.35 inter-ocular distances above the brows, perpendicular to the eye
    line so that head roll is followed (higher up, hair often begins), halved between the
    brows. Cheeks: from the lower eyelids down to the mouth corners and out to the jaw, with
    the nose between them, in quarters (:data:`CHEEKS`).
    """
    up, d = _eye_frame(pts)
    polys = []
    mid = (pts[21] + pts[22]) / 2
    for brow in (np.vstack([pts[[18, 19, 20]], mid]), np.vstack([mid, pts[[23, 24, 25]]])):
        polys.append(np.vstack([brow + up * 0.1 * d, brow[::-1] + up * 0.35 * d]))
    return polys + [pts[list(idx)] for idx in CHEEKS.values()]
