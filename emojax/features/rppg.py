"""Remote photoplethysmography: from per-frame mean R, G, B to a pulse signal.

Every function takes arrays and an explicit sampling rate ``fs`` (frames per second) and
returns arrays; ``rgb`` is ``(T, 3)`` in R, G, B order (``(T, P, 3)`` for several skin patches
where a method combines them). Frames without a face are NaN rows. Every pulse is signed
the same way: up is more blood (darker skin). A pulse is computed over
*segments*: stretches of frames with a face, a gap of at most ``max_gap_s`` bridged (and marked
as bridged), a longer gap or a shot cut ending the segment. Outside segments the pulse is NaN:
seconds that were never seen are never drawn through. A skin patch follows the same rule inside
a segment: a gap of at most ``max_gap_s`` is filled (and counted, :func:`filled_patches`), a
patch away for longer is left out of that segment. Heart rates live in ``heart.py``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .spans import spans

#: pass band of the pulse filter, Hz (42-240 bpm)
HR_BAND = (0.7, 4.0)
#: a face-less gap up to this long (seconds) is bridged inside a segment; a longer one ends it
MAX_GAP_S = 0.5
#: a segment shorter than this (seconds) gives no pulse
MIN_SEGMENT_S = 1.0
#: the blood volume pulse's relative strength in normalised R, G, B (de Haan & van Leest 2014,
#: Physiol. Meas. 35(9), for skin under white light)
PBV = (0.33, 0.77, 0.53)


def fill_gaps(x: np.ndarray, max_gap: int | None = None) -> np.ndarray:
    """Linearly interpolate the NaNs of each column of ``x`` (T,) or (T, ...) from that
    column's neighbours.

    Leading/trailing NaNs take the nearest valid value. With ``max_gap``, runs longer than
    that many samples are left NaN. A column with no valid value comes back unchanged.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    flat = x.reshape(len(x), -1)
    t = np.arange(len(x))
    for c in range(flat.shape[1]):
        bad = ~np.isfinite(flat[:, c])
        if not bad.any() or bad.all():
            continue
        flat[bad, c] = np.interp(t[bad], t[~bad], flat[~bad, c])
        for a, b in spans(bad) if max_gap is not None else ():
            if b - a > max_gap:             # a run of NaNs longer than max_gap stays one
                flat[a:b, c] = np.nan
    return flat.reshape(x.shape)


def bandpass(x: np.ndarray, fs: float, *, low: float = HR_BAND[0], high: float = HR_BAND[1],
             order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (scipy.signal.sosfiltfilt).

    The upper edge is clipped below Nyquist; signals too short for the filter's padding are
    only detrended.
    """
    from scipy import signal as sps     # here: it takes seconds to import, and every command reads RPPG_METHODS

    x = np.asarray(x, dtype=np.float64)
    high = min(high, 0.45 * fs)
    sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    padlen = 3 * (2 * len(sos) + 1)
    if len(x) <= padlen:
        return sps.detrend(x, axis=0)
    return sps.sosfiltfilt(sos, sps.detrend(x, axis=0), axis=0)


def _normalised(rgb: np.ndarray) -> np.ndarray:
    mean = np.nanmean(rgb, axis=0, keepdims=True)
    mean[mean == 0] = 1.0
    return rgb / mean


def mean_rgb(rgb: np.ndarray, fs: float) -> np.ndarray:
    """The paper's input: the raw mean R, G, B trace, unchanged, ``(T, 3)`` (NaN rows kept);
    of several skin patches ``(T, P, 3)``, their mean."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb if rgb.ndim == 2 else np.nanmean(rgb, axis=1)


def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Green channel relative to its mean, band-passed (Verkruysse et al. 2008), ``(T,)``."""
    return -bandpass(_normalised(fill_gaps(rgb))[:, 1] - 1.0, fs)  # blood darkens green


def chrom(rgb: np.ndarray, fs: float, *, window_s: float = 1.6) -> np.ndarray:
    """CHROM (de Haan & Jeanne 2013, IEEE TBME 60(10)): chrominance signals
    X = 3R - 2G, Y = 1.5R + G - 1.5B of the normalised trace, band-passed, combined as
    X - (std X / std Y) Y in Hann-windowed overlapping segments and overlap-added. ``(T,)``."""
    c = fill_gaps(rgb)

    def project(seg: np.ndarray) -> np.ndarray:
        n = _normalised(seg)
        x = 3 * n[:, 0] - 2 * n[:, 1]
        y = 1.5 * n[:, 0] + n[:, 1] - 1.5 * n[:, 2]
        xf, yf = bandpass(x, fs), bandpass(y, fs)
        sy = yf.std()
        return xf - (xf.std() / sy if sy > 0 else 0.0) * yf

    return _overlap_add(c, fs, window_s, project)


def pos(rgb: np.ndarray, fs: float, *, window_s: float = 1.6) -> np.ndarray:
    """POS, plane-orthogonal-to-skin (Wang, den Brinker, Stuijk & de Haan 2017, IEEE TBME
    64(7)): in each window the normalised trace is projected on [[0, 1, -1], [-2, 1, 1]] and
    the two projections are tuned by their std ratio; windows are overlap-added, then
    band-passed. ``(T,)``."""
    c = fill_gaps(rgb)
    proj = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])

    def project(seg: np.ndarray) -> np.ndarray:
        s = _normalised(seg) @ proj.T
        s2 = s[:, 1].std()
        h = s[:, 0] + (s[:, 0].std() / s2 if s2 > 0 else 0.0) * s[:, 1]
        return h - h.mean()

    return -bandpass(_overlap_add(c, fs, window_s, project), fs)  # signed: more blood, higher


def _overlap_add(c: np.ndarray, fs: float, window_s: float,
                 project: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    n = len(c)
    out = np.zeros(n)
    if not np.isfinite(c).all():
        return np.full(n, np.nan)
    win = max(int(round(window_s * fs)), 8)
    if n <= win:
        return project(c)
    hop = win // 2
    taper = np.hanning(win)
    starts = list(range(0, n - win + 1, hop))
    if starts[-1] != n - win:
        starts.append(n - win)
    weight = np.zeros(n)
    for s in starts:
        out[s:s + win] += taper * project(c[s:s + win])
        weight[s:s + win] += taper
    return out / np.where(weight > 0, weight, 1.0)


def pbv(rgb: np.ndarray, fs: float, *, window_s: float = 4.0, loading: float = 0.1) -> np.ndarray:
    """PBV (de Haan & van Leest 2014, Physiol. Meas. 35(9)), over one or several skin patches:
    in each window, the combination of the normalised, band-passed colour channels of every
    patch with unit gain for the blood volume pulse's signature (:data:`PBV` in each patch)
    and the least power otherwise, ``w = Q^-1 s / (s' Q^-1 s)`` (``Q`` their covariance with
    ``loading`` x its mean diagonal added). Noise that differs between patches or between
    colours (motion, shading, compression) is cancelled; the pulse, the same in all, is kept.
    ``rgb``: ``(T, 3)`` or ``(T, P, 3)``; returns ``(T,)``."""
    x = np.asarray(rgb, np.float64)
    x = x.reshape(len(x), -1)
    x = x[:, np.isfinite(x).all(axis=0)]                   # a patch never seen (off the frame) is left out
    if x.shape[1] == 0:
        return np.full(len(rgb), np.nan)
    c = bandpass(_normalised(x) - 1.0, fs)
    s = np.tile(PBV, c.shape[1] // 3)

    def project(seg: np.ndarray) -> np.ndarray:
        q = seg.T @ seg / len(seg)
        q += loading * np.trace(q) / len(q) * np.eye(len(q))
        qs = np.linalg.solve(q, s)
        y = seg @ (qs / (s @ qs))
        return y.mean() - y  # the signature is of brightness; blood darkens

    return _overlap_add(c, fs, window_s, project)


#: pulse extraction methods by name, in the order they are offered; each is
#: ``f(rgb (T, 3), fs) -> signal``. ``mean`` is the raw colour, no pulse (for the per-frame table).
#: A method added here is offered by the CLI and the pages; it needs a threshold in
#: ``heart.RELIABLE_MARGIN_DB`` before any rate of it is called reliable.
RPPG_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "pbv": pbv, "pos": pos, "chrom": chrom, "green": green, "mean": mean_rgb,
}
#: the methods whose signal is a pulse, with a rate (every one but the raw colour)
PULSE_METHODS = tuple(m for m in RPPG_METHODS if m != "mean")
#: methods that combine several skin patches ``(T, P, 3)``
PATCH_METHODS = ("pbv",)
#: each method in a few words with its source, for help texts and select boxes (one per method)
METHOD_NOTES = {
    "pbv": "PBV over six skin patches (de Haan & van Leest 2014)",
    "pos": "POS (Wang et al. 2017)",
    "chrom": "CHROM (de Haan & Jeanne 2013)",
    "green": "the green channel",
    "mean": "mean (the skin's raw mean colour, no rate: for the per-frame table)",
}
#: the method the CLI, the dashboard and the improved preset use: multi-patch PBV, which read the
#: most planted pulses right (83 % within 5 bpm, against 41-58 % for the others) and, with the
#: margin rule, called the most reliable at >= 97 % right, with every footage set held out in turn
#: (benchmarks/rppg.py), although the planted colour signatures are not its own
DEFAULT_METHOD = "pbv"


def methods_said(methods: Sequence[str] = tuple(RPPG_METHODS)) -> str:
    """``methods`` in words, the default marked: "PBV over six skin patches (...; the default),
    POS (...), ..., or the green channel"."""
    words = [METHOD_NOTES[m][:-1] + "; the default)" if m == DEFAULT_METHOD and METHOD_NOTES[m].endswith(")")
             else METHOD_NOTES[m] + (" (the default)" if m == DEFAULT_METHOD else "") for m in methods]
    return ", ".join(words[:-1]) + ", or " + words[-1] if len(words) > 1 else words[0]


def segments(valid: np.ndarray, fs: float, *, max_gap_s: float = MAX_GAP_S,
             breaks: Sequence[int] = ()) -> list[tuple[int, int]]:
    """``(start, stop)`` of the stretches a pulse is computed over: frames in ``valid``, gaps
    of at most ``max_gap_s`` seconds bridged, a new stretch at every index in ``breaks`` (shot
    cuts: the picture changed, so the colour before and after are not one signal)."""
    valid = np.asarray(valid, bool)
    cut = np.zeros(len(valid) + 1, bool)
    cut[[b for b in breaks if 0 < b < len(valid)]] = True
    max_gap = int(np.floor(max_gap_s * fs))
    out, start, last = [], None, None
    for i in map(int, np.flatnonzero(valid)):
        if start is not None and (i - last - 1 > max_gap or cut[last + 1:i + 1].any()):
            out.append((start, last + 1))
            start = None
        if start is None:
            start = i
        last = i
    if start is not None:
        out.append((start, last + 1))
    return out


def bridged(valid: np.ndarray, fs: float, *, max_gap_s: float = MAX_GAP_S, breaks: Sequence[int] = ()) -> np.ndarray:
    """``(T,)`` True on frames without a face that lie inside a segment (a bridged gap)."""
    out = np.zeros(len(valid), bool)
    for a, b in segments(valid, fs, max_gap_s=max_gap_s, breaks=breaks):
        out[a:b] = ~np.asarray(valid[a:b], bool)
    return out


def pulse(rgb: np.ndarray, fs: float, method: str = DEFAULT_METHOD, *, valid: np.ndarray | None = None,
          breaks: Sequence[int] = (), max_gap_s: float = MAX_GAP_S, **kwargs) -> np.ndarray:
    """Pulse signal from a mean-RGB trace ``(T, 3)`` (or skin patches ``(T, P, 3)``, combined by
    the methods in ``PATCH_METHODS`` and averaged for the others) with the named method,
    computed on each segment on its own (:func:`segments`; ``valid`` defaults to the frames
    with colour); NaN outside segments. ``mean`` returns the raw trace (:func:`mean_rgb`), NaN
    rows included."""
    if method not in RPPG_METHODS:
        raise ValueError(f"unknown rPPG method {method!r}; choose one of {sorted(RPPG_METHODS)}")
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim not in (2, 3) or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (T, 3) or (T, P, 3), got {rgb.shape}")
    if not fs or fs <= 0:
        raise ValueError(f"fs must be a positive frame rate, got {fs}")
    if method == "mean":                  # the raw colour, everywhere: no segments
        return RPPG_METHODS[method](rgb, fs)
    if rgb.ndim == 3 and method not in PATCH_METHODS:
        rgb = np.nanmean(rgb, axis=1)
    seen = np.isfinite(rgb.reshape(len(rgb), -1)).any(axis=1)
    valid = seen if valid is None else np.asarray(valid, bool) & seen
    out = np.full(len(rgb), np.nan)
    for a, b in pulse_segments(valid, fs, max_gap_s=max_gap_s, breaks=breaks):
        seg = np.where(valid[a:b].reshape(-1, *([1] * (rgb.ndim - 1))), rgb[a:b], np.nan)
        # gaps up to a bridged one are filled; a patch away for longer keeps its NaNs, and a
        # patch-combining method leaves out a patch not seen throughout (:func:`usable_patches`)
        out[a:b] = RPPG_METHODS[method](fill_gaps(seg, int(np.floor(max_gap_s * fs))), fs, **kwargs)
    return out


def pulse_segments(valid: np.ndarray, fs: float, *, max_gap_s: float = MAX_GAP_S,
                   breaks: Sequence[int] = ()) -> list[tuple[int, int]]:
    """The :func:`segments` long enough to give a pulse (:data:`MIN_SEGMENT_S`, 8 frames at least)."""
    return [(a, b) for a, b in segments(valid, fs, max_gap_s=max_gap_s, breaks=breaks)
            if b - a >= max(MIN_SEGMENT_S * fs, 8)]


def usable_patches(seg: np.ndarray, fs: float, *, max_gap_s: float = MAX_GAP_S) -> np.ndarray:
    """``(P,)`` True for the skin patches of one segment ``(T, P, 3)`` whose every gap (frames
    where the patch is not seen: off the frame, too small) lasts at most ``max_gap_s``, as a
    face's gap must to be bridged; a patch that is away longer is left out of the segment
    rather than drawn through its absence."""
    absent = ~np.isfinite(seg).all(axis=2)                       # (T, P)
    out = np.zeros(seg.shape[1], bool)
    for k in range(seg.shape[1]):
        longest = max((b - a for a, b in spans(absent[:, k])), default=0)
        out[k] = not absent[:, k].all() and longest <= np.floor(max_gap_s * fs)
    return out


def filled_patches(patches: np.ndarray, fs: float, *, valid: np.ndarray, max_gap_s: float = MAX_GAP_S,
                   breaks: Sequence[int] = ()) -> np.ndarray:
    """``(T,)`` how many skin patches a patch-combining pulse (:data:`PATCH_METHODS`) reads as
    interpolated on each frame with a face: the patches it uses in that segment
    (:func:`usable_patches`) that were not seen on that frame."""
    x = np.asarray(patches, np.float64)
    out = np.zeros(len(x), int)
    valid = np.asarray(valid, bool) & np.isfinite(x.reshape(len(x), -1)).any(axis=1)
    for a, b in pulse_segments(valid, fs, max_gap_s=max_gap_s, breaks=breaks):
        seg = x[a:b]
        used = usable_patches(np.where(valid[a:b, None, None], seg, np.nan), fs, max_gap_s=max_gap_s)
        out[a:b] = np.where(valid[a:b], (~np.isfinite(seg[:, used]).all(axis=2)).sum(axis=1), 0)
    return out
