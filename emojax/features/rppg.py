"""Remote photoplethysmography: from a per-frame mean R, G, B trace to a pulse and a heart rate.

Every function takes arrays and an explicit sampling rate ``fs`` (frames per second) and
returns arrays; ``rgb`` is ``(T, 3)`` in R, G, B order. Frames without a face are NaN rows:
short gaps are interpolated over, long ones stay NaN in the outputs' support.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import signal as sps

#: pass band of the pulse filter, Hz (42-240 bpm)
HR_BAND = (0.7, 4.0)
#: where the heart-rate peak is searched, Hz (42-180 bpm; the usual range of rPPG toolboxes,
#: which keeps the first harmonic of a resting pulse from winning)
HR_SEARCH = (0.7, 3.0)


def fill_gaps(x: np.ndarray, max_gap: int | None = None) -> np.ndarray:
    """Linearly interpolate NaN rows of ``x`` (T,) or (T, C) from their neighbours.

    Leading/trailing NaNs take the nearest valid value. With ``max_gap``, runs longer than
    that many samples are left NaN. All-NaN input comes back unchanged.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if not bad.any() or bad.all():
        return x
    t = np.arange(len(x))
    for c in range(flat.shape[1]):
        flat[bad, c] = np.interp(t[bad], t[~bad], flat[~bad, c])
    if max_gap is not None:
        run_start = None
        for i, b in enumerate(np.append(bad, False)):
            if b and run_start is None:
                run_start = i
            elif not b and run_start is not None:
                if i - run_start > max_gap:
                    flat[run_start:i] = np.nan
                run_start = None
    return flat.reshape(x.shape)


def bandpass(x: np.ndarray, fs: float, *, low: float = HR_BAND[0], high: float = HR_BAND[1],
             order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (scipy.signal.sosfiltfilt).

    The upper edge is clipped below Nyquist; signals too short for the filter's padding are
    only detrended.
    """
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
    """The paper's input: the raw mean R, G, B trace, unchanged, ``(T, 3)``."""
    return np.asarray(rgb, dtype=np.float64)


def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Green channel relative to its mean, band-passed (Verkruysse et al. 2008), ``(T,)``."""
    return bandpass(_normalised(fill_gaps(rgb))[:, 1] - 1.0, fs)


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

    return bandpass(_overlap_add(c, fs, window_s, project), fs)


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


#: pulse extraction methods by name; each is ``f(rgb (T, 3), fs) -> signal``
RPPG_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "mean": mean_rgb, "green": green, "chrom": chrom, "pos": pos,
}


def pulse(rgb: np.ndarray, fs: float, method: str = "pos", **kwargs) -> np.ndarray:
    """Pulse signal from a mean-RGB trace with the named method (see ``RPPG_METHODS``)."""
    if method not in RPPG_METHODS:
        raise ValueError(f"unknown rPPG method {method!r}; choose one of {sorted(RPPG_METHODS)}")
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must have shape (T, 3), got {rgb.shape}")
    if not fs or fs <= 0:
        raise ValueError(f"fs must be a positive frame rate, got {fs}")
    return RPPG_METHODS[method](rgb, fs, **kwargs)


def spectrum(x: np.ndarray, fs: float, *, segment_s: float = 16.0,
             resolution_bpm: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of a pulse signal (1-D, or one per row): Welch's average of Hann-windowed
    ``segment_s`` segments (one periodogram when the signal is shorter), zero-padded to
    ``resolution_bpm``.

    Returns frequencies in Hz and power (one row per signal for 2-D input).
    """
    x = np.asarray(x, dtype=np.float64)
    nperseg = min(x.shape[-1], int(round(segment_s * fs)))
    nfft = max(nperseg, int(np.ceil(fs * 60.0 / resolution_bpm)))
    return sps.welch(x - x.mean(axis=-1, keepdims=True), fs=fs, window="hann", nperseg=nperseg, nfft=nfft)


def _heart_rates(rows: np.ndarray, fs: float, band: tuple[float, float], tol_hz: float) -> np.ndarray:
    """:func:`heart_rate` of every row of ``rows`` (N, T) at once: (N, 2) of bpm and SNR dB."""
    out = np.full((len(rows), 2), np.nan)
    usable = (rows.shape[1] >= 2 * fs) & np.isfinite(rows).all(axis=1) & np.any(rows != rows[:, :1], axis=1)
    if not usable.any():
        return out
    f, p = spectrum(rows[usable], fs)
    search = (f >= band[0]) & (f <= min(band[1], fs / 2))
    pulse_band = (f >= HR_BAND[0]) & (f <= min(HR_BAND[1], fs / 2))
    if not search.any():
        return out
    f0 = f[search][np.argmax(p[:, search], axis=1)][:, None]                   # (n, 1)
    sig = pulse_band & ((np.abs(f - f0) <= tol_hz) | (np.abs(f - 2 * f0) <= tol_hz))
    ps, pn = (p * sig).sum(axis=1), (p * (pulse_band & ~sig)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where((pn > 0) & (ps > 0), 10 * np.log10(ps / pn), np.nan)
    out[usable] = np.c_[f0[:, 0] * 60.0, snr]
    return out


def heart_rate(x: np.ndarray, fs: float, *, band: tuple[float, float] = HR_SEARCH,
               tol_hz: float = 0.1) -> tuple[float, float]:
    """Heart rate (bpm) at the spectral peak of a pulse signal, and its SNR in dB.

    SNR follows de Haan & Jeanne (2013): power within ``tol_hz`` of the peak and of its first
    harmonic over the rest of the pulse band. Signals with NaNs or under two seconds give NaNs.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"heart_rate needs a 1-D pulse signal, got shape {x.shape}")
    bpm, snr = _heart_rates(x[None], fs, band, tol_hz)[0]
    return float(bpm), float(snr)


def heart_rate_series(x: np.ndarray, fs: float, *, window_s: float = 10.0,
                      step_s: float = 1.0) -> np.ndarray:
    """Heart rate over time in sliding windows: rows of (centre time s, bpm, SNR dB), all
    windows' spectra computed at once.

    A signal shorter than one window gives one row over its whole length.
    """
    x = np.asarray(x, dtype=np.float64)
    win, hop = int(round(window_s * fs)), max(1, int(round(step_s * fs)))
    if len(x) <= win:
        return np.array([[len(x) / (2 * fs), *heart_rate(x, fs)]])
    starts = np.arange(0, len(x) - win + 1, hop)
    rows = np.lib.stride_tricks.sliding_window_view(x, win)[starts]
    return np.c_[(starts + win / 2) / fs, _heart_rates(rows, fs, HR_SEARCH, 0.1)]


def heart_rate_report(rgb: np.ndarray, fs: float, method: str = "pos") -> dict:
    """JSON-ready heart rate of a mean-RGB trace: ``bpm``, ``quality`` (SNR dB) and ``series``
    (one entry per second: ``t``, ``bpm``, ``quality``); ``bpm`` is None, with an ``error``,
    when no colour was measured (no face in any frame)."""

    def num(x: float) -> float | None:
        return round(float(x), 3) if np.isfinite(x) else None

    rgb = np.asarray(rgb, dtype=np.float64)
    report = {"method": method, "fps": float(fs), "bpm": None, "quality": None, "series": []}
    if not np.isfinite(rgb).any():
        return {**report, "error": "no colour measured: no face found in any frame"}
    sig = pulse(rgb, fs, method)
    bpm, snr = heart_rate(sig, fs)
    report.update(bpm=num(bpm), quality=num(snr),
                  series=[{"t": num(t), "bpm": num(b), "quality": num(q)} for t, b, q in heart_rate_series(sig, fs)])
    if report["bpm"] is None:
        report["error"] = "too short or too many frames without a face for a heart rate"
    return report
