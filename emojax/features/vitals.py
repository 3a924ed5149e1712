"""A feature record's pulse, heart rate, quality and beats, as a report (JSON) and as a table
(one row per frame, for CSV): what the CLI's ``heart-rate`` and ``extract --export csv`` write
and what the dashboard shows.

The pulse follows the record's segments (frames with a face, short gaps bridged and marked,
long gaps and shot cuts ending a segment); a rate with too little quality is reported as no
reliable pulse rather than as a number; beats (neurokit2's PPG peak detector, placed between
frames), inter-beat intervals and HRV (RMSSD, SDNN) only where the pulse is reliable and long enough.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from ..fileio import atomic_write_bytes
from . import heart, rppg, timing
from .record import Features
from .rppg import DEFAULT_METHOD
from .spans import spans

#: seconds of pulse needed before a rate is called reliable: the shortest length at which the
#: reliability rule calls pure noise reliable at most 10 % of the time (benchmarks/rppg.py: 5 s 18 %,
#: 8 s 11 %, 10 s 8 %; the rule itself was calibrated on clips of 12 s and more)
MIN_RELIABLE_S = 10.0
#: seconds of reliable pulse needed before beats and HRV are computed
MIN_HRV_S = 10.0
#: window and step of the heart rate over time, seconds
SERIES_WINDOW_S, SERIES_STEP_S = 10.0, 1.0


def pulse_of(f: Features, method: str = DEFAULT_METHOD) -> np.ndarray:
    """``(T,)`` pulse of a record: its skin patches for the methods that combine them (when
    the record has them), else its ROI colour; over its segments (shot cuts end one); NaN where
    there is none. Positive = more blood (the skin darker)."""
    use_patches, valid, breaks = _support(f, method)
    return rppg.pulse(f.patches if use_patches else f.rgb, f.fps, method, valid=valid, breaks=breaks)


def _support(f: Features, method: str) -> tuple[bool, np.ndarray, list]:
    """Whether ``method`` reads the skin patches, the frames with colour, and where segments
    must break. The whole frame's colour (a skin close-up) is there on every frame and has no
    face to change at a cut: a jump in it is a glitch of the camera, not a new shot."""
    use_patches = method in rppg.PATCH_METHODS and f.patches.shape[1] > 0 and bool(np.isfinite(f.patches).any())
    if f.config.get("roi") == "frame" and not use_patches:
        return False, np.isfinite(f.rgb).all(axis=1), []
    return use_patches, f.face_found, list(f.source.get("cuts", ()))


@dataclass
class Vitals:
    """A record's pulse and what it says."""

    pulse: np.ndarray          # (T,) pulse (NaN outside segments)
    bridged: np.ndarray        # (T,) bool: frames without a face inside a segment (interpolated over)
    patches_filled: np.ndarray  # (T,) int: skin patches the pulse reads on this frame although they were
                                # not seen on it (a gap of at most 0.5 s, interpolated; patch methods only)
    series: np.ndarray         # (N, 3) centre time s, bpm, blind SNR dB over sliding windows
    bpm: float                 # the whole record's rate (NaN: none)
    quality: float             # its blind SNR, dB
    seconds: float             # seconds of pulse
    method: str
    colourless: bool = False   # a grayscale video: no colour, so no pulse to read
    margin: float = float("nan")  # dB by which the rate stands out from every rival (heart.margin_db)
    window_margin: np.ndarray | None = None  # (N,) each window's margin at its own rate (NaN: none)

    def __post_init__(self):
        if self.window_margin is None:
            self.window_margin = np.full(len(self.series), np.nan)

    @property
    def reliable(self) -> bool:
        """Over at least :data:`MIN_RELIABLE_S` of pulse, the rate stands out from every rival
        rate by its method's :data:`heart.RELIABLE_MARGIN_DB` (:func:`heart.reliable`: a rule
        chosen out of sample, benchmarks/rppg.py)."""
        return bool(np.isfinite(self.bpm) and self.seconds >= MIN_RELIABLE_S and heart.reliable(self.margin, self.method))

    @property
    def window_reliable(self) -> np.ndarray:
        """``(N,)`` each window of :attr:`series` judged alone by the same rule."""
        return np.array([np.isfinite(b) and heart.reliable(m, self.method)
                         for b, m in zip(self.series[:, 1], self.window_margin)], bool)

    def why_not(self) -> str | None:
        """Why there is no reliable pulse (None when there is one)."""
        if self.reliable:
            return None
        if self.colourless:
            return "no pulse: the video has no colour (grayscale), and the pulse is read from the skin's colour"
        if self.method == "mean":
            return "no rate: method 'mean' is the skin's raw mean colour (for the per-frame table), not a pulse"
        if self.seconds < 2.0:
            return "no reliable pulse: too few seconds with a face"
        if self.seconds < MIN_RELIABLE_S:
            return f"no reliable pulse: only {self.seconds:.1f} s with a face (at least {MIN_RELIABLE_S:.0f} s needed)"
        if not np.isfinite(self.bpm) or np.isnan(self.margin):
            return "no reliable pulse: no rate stands out"
        return (f"no reliable pulse: the best rate ({self.bpm:.0f} bpm) stands out from the strongest other by "
                f"{self.margin:.2f} dB, under the {heart.RELIABLE_MARGIN_DB[self.method]:.2f} dB {self.method.upper()} needs")


def vitals(f: Features, method: str = DEFAULT_METHOD) -> Vitals:
    """The pulse, heart rate over time and overall, and quality of a record."""
    if f.grayscale:
        return Vitals(np.full(len(f), np.nan), np.zeros(len(f), bool), np.zeros(len(f), int), np.zeros((0, 3)),
                      np.nan, np.nan, 0.0, method, colourless=True)
    sig = pulse_of(f, method)
    use_patches, valid, breaks = _support(f, method)
    bridged = rppg.bridged(valid, f.fps, breaks=breaks)
    filled = (rppg.filled_patches(f.patches, f.fps, valid=valid, breaks=breaks) if use_patches
              else np.zeros(len(f), int))
    n = int(np.isfinite(sig).reshape(len(sig), -1).all(axis=1).sum())    # frames (mean's signal has 3 channels)
    bpm, snr = heart.heart_rate(sig, f.fps) if method != "mean" else (np.nan, np.nan)
    series = (heart.heart_rate_series(sig, f.fps, window_s=min(SERIES_WINDOW_S, len(f) / f.fps), step_s=SERIES_STEP_S)
              if method != "mean" else np.zeros((0, 3)))
    margin, windows = np.nan, None
    if method != "mean":
        margin = heart.margin_db(sig, f.fps, bpm)
        windows = heart.window_margins(sig, f.fps, series[:, 1], window_s=min(SERIES_WINDOW_S, len(f) / f.fps),
                                       step_s=SERIES_STEP_S)
    return Vitals(sig, bridged, filled, series, bpm, snr, n / f.fps, method, margin=margin, window_margin=windows)


def beats(pulse: np.ndarray, fs: float, *, up: int = 4, breaks=()) -> np.ndarray:
    """Systolic peaks, as fractional sample positions into ``pulse`` (sub-frame: frame rates
    are coarse for timing, ~33 ms at 30 fps against intervals that differ by tens of ms):
    neurokit2's PPG peak detector in each stretch of pulse (:func:`stretches`) upsampled ``up``
    times, each peak then placed at the vertex of the parabola through it and its neighbours."""
    import neurokit2 as nk

    out = []
    for a, b in stretches(pulse, breaks):
        if b - a < 3 * fs:
            continue
        fine = sps.resample_poly(pulse[a:b], up, 1)
        peaks = np.asarray(nk.ppg_findpeaks(fine, sampling_rate=int(round(fs * up)))["PPG_Peaks"], int)
        peaks = peaks[(peaks > 0) & (peaks < len(fine) - 1)]
        y0, y1, y2 = fine[peaks - 1], fine[peaks], fine[peaks + 1]
        curve = y0 - 2 * y1 + y2
        shift = np.where(curve < 0, 0.5 * (y0 - y2) / np.where(curve < 0, curve, -1.0), 0.0)
        out.extend(a + (peaks + np.clip(shift, -0.5, 0.5)) / up)
    return np.unique(np.clip(out, 0, len(pulse) - 1))


def stretches(pulse: np.ndarray, breaks=()) -> list[tuple[int, int]]:
    """``(start, stop)`` of each unbroken stretch of pulse: finite samples, split at every index
    in ``breaks`` (shot cuts: two segments of pulse can touch across one)."""
    out = []
    for a, b in spans(np.isfinite(pulse)):
        edges = [a, *sorted(c for c in breaks if a < c < b), b]
        out += list(zip(edges[:-1], edges[1:]))
    return out


def hrv(pulse: np.ndarray, times: np.ndarray, fs: float, *, breaks=()) -> dict:
    """Beat times (at sub-frame precision: :func:`beats`, times interpolated between the
    frames'), inter-beat intervals (ms) and the time-domain HRV: RMSSD from successive
    differences and SDNN, both over intervals within one stretch of pulse only (no interval
    across a gap or a cut, no difference between intervals on either side of one)."""
    idx = beats(pulse, fs, breaks=breaks)
    t = np.interp(idx, np.arange(len(times)), times)
    starts = np.array([a for a, _ in stretches(pulse, breaks)])
    stretch = np.searchsorted(starts, idx, side="right")
    same = stretch[1:] == stretch[:-1]
    ibi = np.where(same, np.diff(t) * 1000.0, np.nan)      # NaN: an interval across a gap or a cut
    diffs = np.diff(ibi)
    diffs, kept = diffs[np.isfinite(diffs)], ibi[np.isfinite(ibi)]
    out = {"beats": [round(float(x), 4) for x in t], "ibi_ms": [round(float(x), 1) for x in kept],
           "rmssd_ms": None, "sdnn_ms": None}
    if len(diffs) >= 4:
        out["rmssd_ms"] = round(float(np.sqrt(np.mean(diffs ** 2))), 2)
        out["sdnn_ms"] = round(float(np.std(kept, ddof=1)), 2)
    return out


def _num(x: float, nd: int = 3) -> float | None:
    return round(float(x), nd) if np.isfinite(x) else None


def report(f: Features, method: str = DEFAULT_METHOD, *, with_hrv: bool = True, v: Vitals | None = None) -> dict:
    """JSON-ready: ``bpm`` (None when there is no reliable pulse, with ``error`` saying why),
    ``quality`` (blind SNR dB), ``margin`` (dB by which the rate stands out from any rival: what
    ``reliable`` rests on), ``series`` (per second: ``t``, ``bpm``, ``quality``, ``margin``,
    ``reliable``: each window by the same rule), frame counts, and beats and HRV where the pulse
    allows. ``v``: the record's :func:`vitals` if already computed."""
    v = v or vitals(f, method)
    out = {"method": method, "fps": float(f.fps), "bpm": _num(v.bpm) if v.reliable else None,
           "bpm_unreliable": None if v.reliable else _num(v.bpm), "quality": _num(v.quality),
           "reliable": v.reliable, "seconds_with_pulse": round(v.seconds, 2),
           "frames": len(f), **f.counts(), "interpolated_rows": int(f.interpolated.sum()),
           "bridged_frames": int(v.bridged.sum()), "frames_with_patches_filled": int((v.patches_filled > 0).sum()),
           "margin": _num(v.margin),
           "series": [{"t": _num(t), "bpm": _num(b), "quality": _num(q), "margin": _num(m), "reliable": bool(ok)}
                      for (t, b, q), m, ok in zip(v.series, v.window_margin, v.window_reliable)]}
    if not v.reliable:
        out["error"] = v.why_not()
    if timing.describe(f.source.get("timing", {})):    # a variable rate put on a grid, a rate or frames corrected
        out["timing"] = f.source["timing"]
    if with_hrv and v.reliable and v.seconds >= MIN_HRV_S:
        out["hrv"] = hrv(v.pulse, f.times, f.fps, breaks=_support(f, method)[2])
    return out


COLUMNS = ("time", "r", "g", "b", "pulse", "bpm", "quality", "face_found", "state", "interpolated", "bridged",
           "patches_filled", "beat")


def table(f: Features, method: str = DEFAULT_METHOD, *, v: Vitals | None = None) -> dict[str, np.ndarray]:
    """One row per frame (:data:`COLUMNS`): time, raw R, G, B, pulse, heart rate and quality of
    the window around the frame (empty where that window has no rate, or the frame no pulse),
    the face's state, and what on the row was not seen: ``interpolated`` (a grid point between
    two frames of a variable-rate video, every value interpolated), ``bridged`` (no face; the
    pulse drawn through a gap of at most 0.5 s), ``patches_filled`` (skin patches the pulse
    reads here although they were not seen); and the detected beats (on the nearest row)."""
    v = v or vitals(f, method)
    t, has = f.times, np.isfinite(v.pulse)
    rate, qual = np.full(len(f), np.nan), np.full(len(f), np.nan)
    if len(v.series):                        # the window centred nearest to each frame
        c, x = v.series[:, 0], t - t[0]
        k = np.clip(np.searchsorted(c, x), 1, max(len(c) - 1, 1)) if len(c) > 1 else np.zeros(len(t), int)
        if len(c) > 1:
            k = np.where(np.abs(x - c[k - 1]) <= np.abs(x - c[k]), k - 1, k)
        rate, qual = np.where(has, v.series[k, 1], np.nan), np.where(has, v.series[k, 2], np.nan)
    beat = np.zeros(len(f), bool)
    if v.reliable and v.seconds >= MIN_HRV_S:
        beat[np.round(beats(v.pulse, f.fps, breaks=_support(f, method)[2])).astype(int)] = True
    return {"time": t, "r": f.rgb[:, 0], "g": f.rgb[:, 1], "b": f.rgb[:, 2], "pulse": v.pulse, "bpm": rate,
            "quality": qual, "face_found": f.face_found, "state": f.state, "interpolated": f.interpolated,
            "bridged": v.bridged, "patches_filled": v.patches_filled, "beat": beat}


def csv_text(columns: dict[str, np.ndarray]) -> str:
    """A :func:`table` as CSV text (empty cells where a value is missing; flags as 0/1; numbers
    to 6 significant digits). A column of several channels a frame (the ``mean`` method's pulse is
    the skin's R, G, B) becomes one column per channel: ``pulse_r``, ``pulse_g``, ``pulse_b``."""
    import pandas as pd

    out = {}
    for c in COLUMNS:
        a = np.asarray(columns[c])
        if a.ndim == 2:
            names = "rgb" if a.shape[1] == 3 else [str(j + 1) for j in range(a.shape[1])]
            out.update({f"{c}_{k}": a[:, j] for j, k in enumerate(names)})
        else:
            out[c] = a
    frame = pd.DataFrame(out)
    for c in frame.columns:
        if frame[c].dtype == bool:
            frame[c] = frame[c].astype(np.uint8)
    return frame.replace([np.inf, -np.inf], np.nan).to_csv(index=False, na_rep="", float_format="%.6g",
                                                            lineterminator="\r\n")


def write_csv(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    """Write a :func:`table` as CSV (:func:`csv_text`), atomically."""
    atomic_write_bytes(path, csv_text(columns).encode())


def write_table(path: str | os.PathLike, f: Features, method: str = DEFAULT_METHOD, *, v: Vitals | None = None) -> None:
    """Write a record's per-frame table (:func:`table`, pulse by ``method``) as CSV at ``path``."""
    write_csv(path, table(f, method, v=v))
