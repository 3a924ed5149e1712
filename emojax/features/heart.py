"""Heart rate from a pulse signal: a spectrum that respects gaps, a peak that is not the
pulse's own harmonic, a rate followed over time, and a quality that says when there is none.

A real pulse wave has a strong second harmonic (the dicrotic wave), and a face that talks or
moves puts its own rhythm into the colour; the plain spectral peak is then often twice the
rate, or the rhythm of speech. Here a rate is a peak of the spectrum that is a peak in its own
right, scored with the power at its harmonics (:func:`pick_rate`); over time, the rate is the
path through the windows' spectra that is strongest while changing only as fast as a heart
does (:func:`track`).

Quality is a *blind* SNR in the manner of de Haan & Jeanne (2013) (:func:`snr_db`): the power at
the rate found and at its second harmonic over the rest of the pulse band. Theirs is centred on
a reference rate (a contact sensor's); with no reference, this one is centred on the estimator's
own peak, which on noise is where the noise happened to be highest, so it reads higher than
theirs. It is reported, but it does not separate right rates from wrong ones. Whether a rate is
reliable is told by its *margin* (:func:`margin_db`): how much more power its harmonic comb
carries than that of any rival rate the spectrum could show. A rate that does not stand out by
its method's :data:`RELIABLE_MARGIN_DB` is no reliable pulse (:func:`reliable`), and callers say
so instead of a number; the rule and its thresholds were chosen out of sample (benchmarks/rppg.py).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from .rppg import HR_BAND
from .spans import spans

#: where the heart-rate peak is searched, Hz (42-180 bpm, the usual range of rPPG toolboxes)
HR_SEARCH = (0.7, 3.0)
#: a rate is reliable when it stands out from every rival rate by this much (:func:`margin_db`,
#: dB), per pulse method. Chosen out of sample (benchmarks/rppg.py): real faces of four footage
#: sets with a pulse planted as real skin has it (camera signatures that are not PBV's, strength
#: and arrival uneven over the face, sensor noise, H.264). Of the candidate rules (this margin, with
#: or without a noise floor, the blind SNR, agreement of windows), for each method, the one whose
#: held-out reliable rates were at least 97 % right and that called the most cases reliable; each
#: threshold is the loosest at which a method's reliable rates were at least 98 % right and none at
#: a multiple of the truth, on all four sets. The whole choice held out (each set's pair and
#: threshold chosen on the other three): 99.6 % right when reliable, 58 % of pulses reliable.
RELIABLE_MARGIN_DB = {"pbv": 2.68, "pos": 4.42, "chrom": 5.24, "green": 3.84}
#: the spectrum a margin is read from averages periodograms of this many seconds
MARGIN_SEGMENT_S = 12.0
#: a rival closer than this to the rate (bpm) is the rate itself
MARGIN_TOL_BPM = 3.0
#: a rate's peak must reach this share of the highest peak to be a candidate (a fundamental
#: weaker than this beside its harmonic is taken to be absent, not hidden)
MIN_PEAK_SHARE = 0.25
#: weights of the power at a candidate's frequency and at 2 and 3 times it, in its score
HARMONIC_WEIGHTS = (1.0, 0.7, 0.5)
#: seconds tapered at each edge of a run of samples before its spectrum is taken
EDGE_S = 0.3


def _alpha(n: int, fs: float, edge_s: float) -> float:
    """The Tukey taper's tapered share for ``n`` samples with ``edge_s`` seconds at each edge."""
    return min(1.0, 2 * edge_s * fs / max(n, 1))


def _taper(valid: np.ndarray, fs: float, edge_s: float) -> np.ndarray:
    """A Tukey taper over each run of valid samples (a gap or an edge then adds no step)."""
    w = np.zeros(len(valid))
    for a, b in spans(valid):
        w[a:b] = sps.windows.tukey(b - a, alpha=_alpha(b - a, fs, edge_s))
    return w


def _centred(w: np.ndarray):
    """The detrend of these spectra, for scipy's: a segment less its mean under the taper ``w``."""
    return lambda d: d - (d * w).sum(axis=-1, keepdims=True) / max(w.sum(), 1e-12)


def _nfft(n: int, fs: float, resolution_bpm: float) -> int:
    return max(n, int(np.ceil(fs * 60.0 / resolution_bpm)))


def _power(p: np.ndarray, fs: float, nfft: int) -> np.ndarray:
    """scipy's one-sided density (per Hz, doubled but at 0 Hz and Nyquist) on the scale these
    spectra have always had (the spectrum chart's): power over the taper's energy."""
    p = p * (fs / 2.0)
    p[..., 0] *= 2.0
    if nfft % 2 == 0:
        p[..., -1] *= 2.0
    return p


def periodogram(rows: np.ndarray, fs: float, *, resolution_bpm: float = 0.5,
                edge_s: float = EDGE_S) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of signals with gaps, one per row of ``rows`` (N, T) (or of one (T,)
    signal): NaN samples count as absent, each run of samples is tapered, and power is
    normalised by the taper's energy. Returns frequencies (Hz) and power (N, F) (or (F,)).
    Each is scipy's periodogram with the row's own taper as its window (zero over the gaps); as
    scipy takes one window for all rows, rows with gaps are centred and tapered here and handed
    to it all at once under a flat window, rescaled to their own taper's energy."""
    x = np.atleast_2d(np.asarray(rows, np.float64))
    n = x.shape[1]
    nfft = _nfft(n, fs, resolution_bpm)
    f = np.fft.rfftfreq(nfft, 1.0 / fs)
    valid = np.isfinite(x)
    if valid.all():                                   # no gap: one taper for every row
        w = sps.windows.tukey(n, alpha=_alpha(n, fs, edge_s))
        p = sps.periodogram(x, fs, window=w, nfft=nfft, detrend=_centred(w), axis=1)[1]
    else:
        w = np.array([_taper(ok, fs, edge_s) for ok in valid])
        y = np.where(valid, x, 0.0)
        mean = (y * w).sum(axis=1, keepdims=True) / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        energy = (w * w).sum(axis=1, keepdims=True)
        p = sps.periodogram((y - mean) * w, fs, window="boxcar", nfft=nfft, detrend=False, axis=1)[1]
        p = p * n / np.maximum(energy, 1e-12)           # a row with no sample has no power
    p = _power(p, fs, nfft)
    return (f, p) if np.ndim(rows) == 2 else (f, p[0])


def spectrum(x: np.ndarray, fs: float, *, segment_s: float = 16.0,
             resolution_bpm: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Welch's average of gap-aware periodograms over ``segment_s`` windows (half overlapping;
    one periodogram for a shorter signal), each weighted by its share of valid samples. Without
    a gap, that is ``scipy.signal.welch``; with gaps, scipy's cannot taper each run of samples
    nor weight a segment by its share of them, so the segments are averaged here."""
    x = np.asarray(x, np.float64)
    n, win = len(x), int(round(segment_s * fs))
    if n <= win:
        return periodogram(x, fs, resolution_bpm=resolution_bpm)
    hop = win // 2
    if np.isfinite(x).all():
        nfft = _nfft(win, fs, resolution_bpm)
        w = sps.windows.tukey(win, alpha=_alpha(win, fs, EDGE_S))
        f, p = sps.welch(x, fs, window=w, nperseg=win, noverlap=win - hop, nfft=nfft, detrend=_centred(w))
        return f, _power(p, fs, nfft)
    starts = np.arange(0, n - win + 1, hop)
    rows = np.lib.stride_tricks.sliding_window_view(x, win)[starts]
    share = np.isfinite(rows).mean(axis=1)
    f, p = periodogram(rows, fs, resolution_bpm=resolution_bpm)
    return f, (share[:, None] * p).sum(axis=0) / max(share.sum(), 1e-12)


def peaks(p: np.ndarray) -> np.ndarray:
    """``(F,)`` True at each local maximum of a spectrum (``scipy.signal.find_peaks``; a flat
    top counts once, at its middle; never the first or last bin)."""
    out = np.zeros(len(p), bool)
    out[sps.find_peaks(p)[0]] = True
    return out


def snr_db(f: np.ndarray, p: np.ndarray, f0: float, *, tol_hz: float = 0.1) -> float:
    """SNR in the manner of de Haan & Jeanne (2013): power within ``tol_hz`` of ``f0`` and of
    ``2 f0`` over the rest of the pulse band, in dB. With ``f0`` a reference rate (a contact
    sensor's, a planted truth) it is theirs; with ``f0`` the rate a spectrum's own peak gives (as
    :func:`heart_rate` does) it is a blind SNR, biased upwards on noise."""
    band = (f >= HR_BAND[0]) & (f <= HR_BAND[1])
    sig = band & ((np.abs(f - f0) <= tol_hz) | (np.abs(f - 2 * f0) <= tol_hz))
    ps, pn = p[sig].sum(), p[band & ~sig].sum()
    return float(10 * np.log10(ps / pn)) if ps > 0 and pn > 0 else float("nan")


def margin_db(x: np.ndarray, fs: float, bpm: float, *, segment_s: float = MARGIN_SEGMENT_S,
              tol_bpm: float = MARGIN_TOL_BPM) -> float:
    """How much a rate ``bpm`` stands out in a pulse ``x`` (NaN where absent), dB: the power of
    its harmonic comb (at 1, 2 and 3 times it, weighted by :data:`HARMONIC_WEIGHTS`) over that of
    the strongest rival, a peak of the spectrum in :data:`HR_SEARCH` more than ``tol_bpm`` away.
    A rival's comb leaves out what lands on the rate itself (half the rate is no rival for its
    second harmonic's sake), but not what lands on the rate's harmonics: a rate at half or twice
    the pulse then has the pulse as a rival of about its own strength. Blind (no reference), from
    the spectrum averaged over ``segment_s`` pieces (:func:`spectrum`). ``+inf`` with no rival at
    all, NaN without a rate or a spectrum."""
    x = np.asarray(x, np.float64)
    if not np.isfinite(bpm) or np.isfinite(x).sum() < 2 * fs:
        return float("nan")
    f, p = spectrum(x, fs, segment_s=segment_s)
    f0, tol = bpm / 60.0, tol_bpm / 60.0

    def comb(g: np.ndarray, skip_own: bool) -> np.ndarray:
        out = np.zeros(len(g))
        for k, w in enumerate(HARMONIC_WEIGHTS, start=1):
            part = w * np.interp(k * g, f, p, right=0.0)
            out += np.where(skip_own & (np.abs(k * g - f0) <= tol), 0.0, part)
        return out

    own = comb(np.array([f0]), False)[0]
    rivals = f[peaks(p) & (f >= HR_SEARCH[0]) & (f <= HR_SEARCH[1]) & (np.abs(f - f0) > tol)]
    rival = comb(rivals, True).max(initial=0.0)
    if own <= 0:
        return float("nan") if rival <= 0 else float("-inf")
    return float(10 * np.log10(own / rival)) if rival > 0 else float("inf")


def reliable(margin: float, method: str) -> bool:
    """The reliability rule: a rate stands out from every rival by its method's
    :data:`RELIABLE_MARGIN_DB` (``margin``: :func:`margin_db`; NaN is not reliable). A method the
    benchmark has no threshold for (``mean``: the raw colour) is never reliable."""
    return bool(method in RELIABLE_MARGIN_DB and margin >= RELIABLE_MARGIN_DB[method])


def window_margins(x: np.ndarray, fs: float, rates: np.ndarray, *, window_s: float, step_s: float) -> np.ndarray:
    """:func:`margin_db` of each window of :func:`heart_rate_series` (same ``window_s`` and
    ``step_s``) at that window's rate ``rates`` (bpm): ``(N,)``, NaN where a window has none."""
    x = np.asarray(x, np.float64)
    win, hop = int(round(window_s * fs)), max(1, int(round(step_s * fs)))
    if len(x) <= win:
        return np.array([margin_db(x, fs, rates[0])]) if len(rates) else np.zeros(0)
    starts = np.arange(0, len(x) - win + 1, hop)
    return np.array([margin_db(x[a:a + win], fs, r) for a, r in zip(starts, rates)])


def rate_scores(f: np.ndarray, p: np.ndarray, band: tuple[float, float] = HR_SEARCH) -> np.ndarray:
    """How much each frequency looks like the heart rate: for a local peak of the spectrum in
    ``band`` reaching :data:`MIN_PEAK_SHARE` of the highest, the power of its harmonic comb (at
    1, 2 and 3 times its frequency, weighted by :data:`HARMONIC_WEIGHTS`); 0 elsewhere. A slow
    pulse whose second or third harmonic is the highest peak is thus still found at its rate."""
    in_band = (f >= band[0]) & (f <= band[1])
    if not in_band.any() or not np.isfinite(p).all() or p[in_band].max() <= 0:
        return np.zeros_like(f)
    ok = in_band & peaks(p) & (p >= MIN_PEAK_SHARE * p[in_band].max())
    comb = sum(w * np.interp(k * f, f, p, right=0.0) for k, w in enumerate(HARMONIC_WEIGHTS, start=1))
    return np.where(ok, comb, 0.0)


def pick_rate(f: np.ndarray, p: np.ndarray, band: tuple[float, float] = HR_SEARCH) -> float:
    """The heart rate (Hz) a spectrum shows (:func:`rate_scores`), NaN when it shows none."""
    s = rate_scores(f, p, band)
    return float(f[np.argmax(s)]) if s.max() > 0 else float("nan")


def heart_rate(x: np.ndarray, fs: float, *, band: tuple[float, float] = HR_SEARCH,
               window_s: float = 10.0) -> tuple[float, float]:
    """Heart rate (bpm) of a pulse signal (NaN where absent) and its quality (SNR, dB).

    Up to two windows long, from the spectrum of the whole; longer, the median of the rate
    followed over time (:func:`heart_rate_series`: a rate that drifts over minutes would smear
    one spectrum) and the median of its windows' quality. Under two seconds of signal, or none
    at all, gives NaNs.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"heart_rate needs a 1-D pulse signal, got shape {x.shape}")
    ok = np.isfinite(x)
    if ok.sum() < 2 * fs or np.ptp(x[ok]) == 0:
        return float("nan"), float("nan")
    if ok.sum() > 2 * window_s * fs:
        series = heart_rate_series(x, fs, window_s=window_s)
        good = np.isfinite(series[:, 1])
        if good.any():
            return float(np.median(series[good, 1])), float(np.nanmedian(series[good, 2]))
    f, p = spectrum(x, fs)
    f0 = pick_rate(f, p, band)
    return (f0 * 60.0, snr_db(f, p, f0)) if np.isfinite(f0) else (float("nan"), float("nan"))


def track(f: np.ndarray, p: np.ndarray, step_s: float, *, max_change_bpm_s: float = 6.0) -> np.ndarray:
    """The strongest path of rates (Hz) through the spectra ``p`` (N windows, F) taken every
    ``step_s`` seconds, where the rate moves by about ``max_change_bpm_s`` per second at most
    (Viterbi over :func:`rate_scores`; NaN for a window with no candidate)."""
    cand = (f >= HR_SEARCH[0]) & (f <= HR_SEARCH[1])
    fc = f[cand]
    scores = np.array([rate_scores(f, row)[cand] for row in p])                  # (N, C)
    norm = scores / np.maximum(scores.max(axis=1, keepdims=True), 1e-300)
    emit = np.log(np.maximum(norm, 1e-3))
    sigma = max_change_bpm_s * step_s / 60.0
    trans = -0.5 * ((fc[:, None] - fc[None, :]) / sigma) ** 2                   # (from, to)
    best, back = emit[0].copy(), np.zeros(emit.shape, int)
    for k in range(1, len(emit)):
        total = best[:, None] + trans
        back[k] = np.argmax(total, axis=0)
        best = total[back[k], np.arange(len(fc))] + emit[k]
    path = np.zeros(len(emit), int)
    path[-1] = int(np.argmax(best))
    for k in range(len(emit) - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    rates = fc[path]
    rates[scores.max(axis=1) <= 0] = np.nan
    return rates


def heart_rate_series(x: np.ndarray, fs: float, *, window_s: float = 10.0, step_s: float = 1.0,
                      tracked: bool = True) -> np.ndarray:
    """Heart rate over time in sliding windows: rows of (centre time s, bpm, SNR dB). Windows
    with under half their samples are NaN (a long gap stays a gap); with ``tracked``, the rate
    is the path of :func:`track`, else each window's own :func:`pick_rate`. A signal shorter
    than one window gives one row over its whole length."""
    x = np.asarray(x, dtype=np.float64)
    win, hop = int(round(window_s * fs)), max(1, int(round(step_s * fs)))
    if len(x) <= win:
        return np.array([[len(x) / (2 * fs), *heart_rate(x, fs)]])
    starts = np.arange(0, len(x) - win + 1, hop)
    rows = np.lib.stride_tricks.sliding_window_view(x, win)[starts]
    usable = np.isfinite(rows).mean(axis=1) >= 0.5
    usable[usable] = np.nanstd(rows[usable], axis=1) > 0     # only where there are samples to spread
    out = np.full((len(starts), 3), np.nan)
    out[:, 0] = (starts + win / 2) / fs
    for a, b in spans(usable):                                 # each stretch of usable windows
        f, p = periodogram(rows[a:b], fs)
        rates = track(f, p, hop / fs) if tracked else np.array([pick_rate(f, row) for row in p])
        out[a:b, 1] = rates * 60.0
        out[a:b, 2] = [snr_db(f, row, r) if np.isfinite(r) else np.nan for row, r in zip(p, rates)]
    return out
