"""When frames were shown: a record keeps each frame's presentation time, and a video whose
frames do not come at one steady rate (variable frame rate: phones, screen recordings, edited
clips; or frames dropped on the way) is put on a uniform grid before anything that needs one
(the pulse, the heart rate, the models) reads it, and says so in its record.

The presentation times are believed over the header: a frame whose time repeats or runs back
(a muxer's glitch) is dropped and counted, and a steady video whose times disagree with the
rate its header states by more than :data:`RATE_TOLERANCE` is given the times' rate.

On the grid, a point within :data:`SNAP` of a step from a frame *is* that frame (its values,
unchanged); a point between two frames takes values interpolated linearly from them, a face
only where both have one, and is marked ``interpolated`` in the record. A point inside a gap
longer than :data:`MAX_BRIDGE` grid steps, or between the two sides of a shot cut, has no
frame it may be drawn from and stays missing. A steady video is left exactly as it was.

A record's voice (read at its final, gridded times when extracted, so normally from the audio
itself) is carried along when a record that has one is put on a grid: a snapped point keeps its
frame's voice; a point between two frames is speech only where both are (observed speech on
both sides: a pause is not bridged), its descriptors then interpolated from theirs, NaN elsewhere.
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
#: a header's rate further than this share from the rate of the presentation times loses to them
RATE_TOLERANCE = 0.01
#: a grid point this close to a frame (share of a grid step) is that frame, not an interpolation
SNAP = 0.05


def in_order(f: Features) -> tuple[Features, dict]:
    """``f`` without the rows whose time is not after every earlier row's (a repeated or a
    backward timestamp), and how many of each kind were dropped. A shot cut on a dropped row
    moves to the next row kept."""
    t = np.asarray(f.times, float)
    if len(t) < 2:
        return f, {"duplicate": 0, "backward": 0}
    before = np.maximum.accumulate(t)[:-1]        # the latest time shown before each row
    keep = np.r_[True, t[1:] > before]
    dropped = {"duplicate": int((t[1:] == before).sum()), "backward": int((t[1:] < before).sum())}
    if keep.all():
        return f, dropped
    rows = {k: getattr(f, k)[keep] for k in Features.ARRAYS + Features.VOICE_ARRAYS if getattr(f, k) is not None}
    new_index = np.cumsum(keep) - 1 + ~keep        # a dropped row's cut lands on the next row kept
    cuts = sorted({int(new_index[c]) for c in f.source.get("cuts", ()) if new_index[c] < keep.sum()})
    return dataclasses.replace(f, **rows, source={**f.source, "cuts": cuts}), dropped


def typical_rate(times: np.ndarray) -> float:
    """Frames per second that the presentation times show: over a steady stretch, frames
    (less one) over its span; with gaps, one over the mean of the short, typical intervals (a
    mean, not a median: a 29.97 fps clip in a millisecond time base alternates 33 and 34 ms)."""
    d = np.diff(np.asarray(times, float))
    short = float(np.percentile(d, 10))
    typical = d[d <= (1 + TOLERANCE) * short]
    return 1.0 / float(typical.mean())


def timing(times: np.ndarray, fps: float) -> dict:
    """How steadily frames came: ``variable`` (an interval more than :data:`TOLERANCE` away from
    the typical one), the rates seen (per second, from the intervals), and the longest gap.
    ``times`` must be increasing (:func:`in_order`)."""
    d = np.diff(np.asarray(times, float))
    if len(d) == 0:
        return {"variable": False, "declared_fps": fps, "frames": len(times)}
    typical = float(np.median(d))
    return {"variable": bool(np.any(np.abs(d - typical) > TOLERANCE * typical)), "declared_fps": fps,
            "frames": len(times), "median_fps": 1.0 / typical, "min_fps": 1.0 / float(d.max()),
            "max_fps": 1.0 / float(d.min()), "longest_gap_s": float(d.max())}


def agrees(declared: float, measured: float) -> bool:
    """Whether a header's rate is the one the presentation times show (within :data:`RATE_TOLERANCE`)."""
    return math.isfinite(declared) and declared > 0 and abs(declared - measured) <= RATE_TOLERANCE * measured


def regular(f: Features) -> Features:
    """``f`` with its rows in time order, at the rate its presentation times show, and on a
    uniform grid when its frames did not come steadily; ``source["timing"]`` says how they came
    and what was done (rows dropped, the rate used and where it came from, the grid)."""
    f, dropped = in_order(f)
    info = timing(f.times, f.fps)
    if any(dropped.values()):
        info["timestamps_dropped"] = dropped
    if len(f) < 2:
        f.source["timing"] = info
        return f
    t = np.asarray(f.times, float)
    measured = (len(t) - 1) / (t[-1] - t[0]) if not info["variable"] else typical_rate(t)
    rate = float(f.fps) if agrees(f.fps, measured) else measured
    if rate != f.fps and not info["variable"]:
        info["fps_from_times"] = rate        # the header's rate was not the frames' own (a variable rate has
                                             # none: the header's is then an average, and the grid says its own)
    if not info["variable"]:
        f.source["timing"] = info
        return dataclasses.replace(f, fps=rate) if rate != f.fps else f
    return _on_grid(f, rate, info)


def describe(info: dict) -> str:
    """What a record's frame timing (``source["timing"]``) made of it, in words; empty when the
    frames came steadily at the rate their header states."""
    out = []
    if info.get("resampled_fps"):
        out.append(f"frames came at a variable rate ({info['min_fps']:.1f}-{info['max_fps']:.1f} fps): the "
                   f"{info['frames_decoded']} frames were put on a uniform grid at {info['resampled_fps']:.2f} fps, "
                   f"{info['interpolated']} of its {info['frames_on_grid']} points interpolated between frames and "
                   f"{info['missing_in_gaps']} left missing")
    if info.get("fps_from_times"):
        out.append(f"the header states {info['declared_fps']:.2f} fps but the frames' presentation times show "
                   f"{info['fps_from_times']:.2f}: the times were believed")
    if info.get("timestamps_dropped"):
        d = info["timestamps_dropped"]
        out.append(f"{d['duplicate'] + d['backward']} frame(s) dropped for their timestamp ({d['duplicate']} repeated, "
                   f"{d['backward']} running back)")
    return "; ".join(out)


def _on_grid(f: Features, rate: float, info: dict) -> Features:
    from scipy.interpolate import interp1d   # only here: it costs a process ~50 MB to import

    t = np.asarray(f.times, float)
    n = int(math.floor((t[-1] - t[0]) * rate + 1e-6)) + 1
    grid = np.minimum(t[0] + np.arange(n) / rate, t[-1])    # the last point may round a hair past the last frame
    hi = np.clip(np.searchsorted(t, grid - 1e-9), 0, len(t) - 1)   # first frame at or after each point
    lo = np.clip(np.where(np.abs(t[hi] - grid) <= 1e-9, hi, hi - 1), 0, len(t) - 1)
    nearest = np.where(np.abs(t[lo] - grid) <= np.abs(t[hi] - grid), lo, hi)
    snapped = np.abs(t[nearest] - grid) <= SNAP / rate        # a frame is on this point: take it as it is
    cut = np.zeros(len(t) + 1, int)
    cut[[c for c in f.source.get("cuts", ()) if 0 < c < len(t)]] = 1
    across = np.cumsum(cut)[hi] != np.cumsum(cut)[lo]      # a cut lies between the two frames
    near = snapped | (((t[hi] - t[lo]) <= MAX_BRIDGE / rate) & ~across)
    lin = {k: interp1d(t, getattr(f, k), axis=0, assume_sorted=True, copy=False)(grid)
           for k in ("rgb", "landmarks", "box", "patches")}
    for k in lin:
        lin[k][snapped] = getattr(f, k)[nearest[snapped]]
    state = np.where(snapped, f.state[nearest], np.where(near, np.minimum(f.state[lo], f.state[hi]), 0)).astype(np.uint8)
    face = state > 0
    for k in ("landmarks", "box", "patches"):
        lin[k][~face] = np.nan
    if f.config.get("roi") != "frame":
        lin["rgb"][~face] = np.nan
    else:
        lin["rgb"][~near] = np.nan
    confidence = np.where(snapped, f.confidence[nearest],
                          np.where(face, np.minimum(f.confidence[lo], f.confidence[hi]), 0.0)).astype(np.float32)
    seen = face | np.isfinite(lin["rgb"]).all(axis=1)
    interpolated = (~snapped & near & seen) | (snapped & f.interpolated[nearest])  # values from the frames around it
    cuts = sorted({int(np.searchsorted(grid, t[c] - SNAP / rate)) for c in f.source.get("cuts", ())})
    source = {**f.source, "cuts": [c for c in cuts if c < n],
              "timing": {**info, "resampled_fps": rate, "frames_decoded": len(t), "frames_on_grid": n,
                         "interpolated": int(interpolated.sum()), "missing_in_gaps": int((~near).sum())}}
    voice = {}
    if f.voice is not None:
        speech = np.where(snapped, f.speech[nearest], near & f.speech[lo] & f.speech[hi])
        v = np.where(np.isfinite(f.voice), f.voice, 0.0)
        w = np.clip((grid - t[lo]) / np.maximum(t[hi] - t[lo], 1e-12), 0.0, 1.0)[:, None]
        both = np.isfinite(f.voice[lo]) & np.isfinite(f.voice[hi])     # a voiced-only descriptor unvoiced on a side
        vals = np.where(both, (1 - w) * v[lo] + w * v[hi], np.nan)
        vals[snapped] = f.voice[nearest[snapped]]
        vals[~speech] = np.nan
        voice = {"voice": vals.astype(np.float32), "speech": speech}
    return dataclasses.replace(f, rgb=lin["rgb"], landmarks=lin["landmarks"].astype(np.float32), box=lin["box"],
                               patches=lin["patches"].astype(np.float32), state=state, confidence=confidence,
                               interpolated=interpolated, times=grid, fps=rate, source=source, **voice)
