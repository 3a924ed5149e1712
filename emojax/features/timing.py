"""When frames were shown: a record keeps each frame's presentation time, and a video whose
frames do not come at one steady rate (variable frame rate: phones, screen recordings, edited
clips; or frames dropped on the way) is put on a uniform grid before anything that needs one
(the pulse, the heart rate, the models) reads it, and says so in its record.

Grid points between two frames are interpolated linearly from them (a face on the point only
where both have one); a grid point inside a gap longer than :data:`MAX_BRIDGE` grid steps has
no frame near it and stays missing. A steady video is left exactly as it was.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .record import Features

#: an interval further than this share from the typical one makes the timing variable
TOLERANCE = 0.25
#: grid points between frames more than this many grid steps apart are left missing
MAX_BRIDGE = 2.5


def timing(times: np.ndarray, fps: float) -> dict:
    """How steadily frames came: ``variable`` (an interval more than :data:`TOLERANCE` away from
    the typical one), the rates seen (per second, from the intervals), and the longest gap."""
    d = np.diff(np.asarray(times, float))
    if len(d) == 0 or not np.all(d > 0):
        return {"variable": False, "declared_fps": fps, "frames": len(times)}
    typical = float(np.median(d))
    return {"variable": bool(np.any(np.abs(d - typical) > TOLERANCE * typical)), "declared_fps": fps,
            "frames": len(times), "median_fps": 1.0 / typical, "min_fps": 1.0 / float(d.max()),
            "max_fps": 1.0 / float(d.min()), "longest_gap_s": float(d.max())}


def grid_rate(times: np.ndarray, fps: float) -> float:
    """The rate of the grid: the declared one when the shortest typical intervals agree with
    it, else that of the shortest typical interval (so no stretch of the video loses frames)."""
    short = float(np.percentile(np.diff(times), 10))
    if math.isfinite(fps) and fps > 0 and abs(1.0 / fps - short) <= TOLERANCE * short:
        return float(fps)
    return 1.0 / short


def regular(f: Features) -> Features:
    """``f`` itself when its frames came steadily, else ``f`` on a uniform grid at
    :func:`grid_rate`; either way ``source["timing"]`` says how they came and what was done."""
    info = timing(f.times, f.fps)
    if not info["variable"]:
        f.source["timing"] = info
        return f
    from scipy.interpolate import interp1d   # only here: it costs a process ~50 MB to import
    t = np.asarray(f.times, float)
    rate = grid_rate(t, f.fps)
    n = int(math.floor((t[-1] - t[0]) * rate + 1e-6)) + 1
    grid = np.minimum(t[0] + np.arange(n) / rate, t[-1])    # the last point may round a hair past the last frame
    hi = np.clip(np.searchsorted(t, grid - 1e-9), 0, len(t) - 1)   # first frame at or after each point
    lo = np.clip(np.where(np.abs(t[hi] - grid) <= 1e-9, hi, hi - 1), 0, len(t) - 1)
    near = (t[hi] - t[lo]) <= MAX_BRIDGE / rate
    lin = {k: interp1d(t, getattr(f, k), axis=0, assume_sorted=True, copy=False)(grid)
           for k in ("rgb", "landmarks", "box", "patches")}
    state = np.where(near, np.minimum(f.state[lo], f.state[hi]), 0).astype(np.uint8)
    face = state > 0
    for k in ("landmarks", "box", "patches"):
        lin[k][~face] = np.nan
    if f.config.get("roi") != "frame":
        lin["rgb"][~face] = np.nan
    else:
        lin["rgb"][~near] = np.nan
    confidence = np.where(face, np.minimum(f.confidence[lo], f.confidence[hi]), 0.0).astype(np.float32)
    cuts = sorted({int(np.searchsorted(grid, t[c] - 1e-9)) for c in f.source.get("cuts", ())})
    source = {**f.source, "cuts": cuts,
              "timing": {**info, "resampled_fps": rate, "frames_decoded": len(t), "frames_on_grid": n,
                         "missing_in_gaps": int((~near).sum())}}
    return dataclasses.replace(f, rgb=lin["rgb"], landmarks=lin["landmarks"].astype(np.float32), box=lin["box"],
                               patches=lin["patches"].astype(np.float32), state=state, confidence=confidence,
                               times=grid, fps=rate, source=source)
