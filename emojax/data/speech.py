"""A synthetic voice: source-filter speech whose prosody is planted, and therefore known.

Nothing but numpy and scipy (no TTS engine): the textbook model of voiced speech (Fant's
source-filter theory, as in Klatt's 1980 synthesiser, JASA 67:971):

- **source**: glottal flow as a train of Rosenberg pulses (Rosenberg 1971, JASA 49:583: a
  raised-cosine opening, a quarter-cosine closing, then closed), one per glottal cycle, the
  cycles following a planted F0 contour (phrase declination plus per-syllable pitch accents);
  each cycle's length and height are perturbed at random (jitter, shimmer). Aspiration noise,
  modulated by the glottal opening, is added for breathiness (it lowers the harmonics-to-noise
  ratio); a breathy voice also opens its glottis longer (a larger open quotient), a tense one
  shorter;
- **filter**: four formant resonators in cascade (second-order sections, ``scipy.signal.sosfilt``
  every 10 ms with its state carried over), F1-F3 moving from vowel to vowel per syllable, then
  lip radiation (a first difference);
- **timing**: syllables (a silent or fricative consonant, then a voiced vowel) at a planted
  articulation rate, in phrases of 3-8 syllables separated by pauses;
- **level**: the RMS over the vowels is set to :data:`REF_RMS` times the planted level in dB.

Everything is drawn from one ``numpy`` generator: the same seed gives the same samples. What was
planted comes back in :class:`Voice` (the F0 contour every 10 ms, the voicing onsets, the
harmonics-to-noise ratio of the two parts as mixed) for tests to recover with openSMILE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: sample rate of the synthesised voice (Hz): eGeMAPS' own rate
FS = 16000
#: RMS over the vowels at a level of 0 dB (-28 dBFS: room for +12 dB before a peak reaches full scale)
REF_RMS = 0.04
#: F1, F2, F3 (Hz) of an adult male's vowels (Peterson & Barney 1952, rounded); ``formant_scale``
#: moves them for a shorter or longer vocal tract
VOWELS = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010), "o": (570, 840, 2410),
          "u": (300, 870, 2240), "ae": (660, 1720, 2410)}
_BANDWIDTHS = (80.0, 100.0, 150.0, 250.0)   # F1-F4 bandwidths (Hz)
_F4 = 3500.0                                # a fixed fourth formant (Hz), scaled like the others
_FRAME = 0.01                               # the contour's and the filter's step (s)
#: harmonics-to-noise ratio over the vowels (dB) of a pressed (breathiness 0) and a breathy (1) voice;
#: linear in between
HNR_RANGE_DB = (30.0, 3.0)


@dataclass(frozen=True)
class Prosody:
    """How a voice speaks in one clip: the knobs the synthesiser plants."""

    f0_hz: float = 160.0          # F0 at the middle of a phrase, accents aside (Hz)
    accent_st: float = 2.0        # height of a pitch accent (semitones; accented syllables vary around it)
    declination_st: float = 2.0   # F0's fall from a phrase's start to its end (semitones)
    level_db: float = 0.0         # loudness: RMS over the vowels, dB relative to REF_RMS
    rate_syl_s: float = 4.5       # articulation rate: syllables per second within a phrase
    breathiness: float = 0.3      # 0..1: aspiration noise (HNR_RANGE_DB) and open quotient (0: pressed, 1: breathy)
    jitter: float = 0.006         # cycle-to-cycle perturbation of the period (relative standard deviation)
    shimmer: float = 0.05         # cycle-to-cycle perturbation of the amplitude (relative standard deviation)
    formant_scale: float = 1.0    # formants times this (1.15: a typical adult female's shorter tract)

    @property
    def hnr_db(self) -> float:
        """The harmonics-to-noise ratio planted over the vowels (dB), from ``breathiness``."""
        return HNR_RANGE_DB[0] + (HNR_RANGE_DB[1] - HNR_RANGE_DB[0]) * self.breathiness

    def __post_init__(self):
        bad = [f"{k}={v!r}" for k, v in (("f0_hz", self.f0_hz), ("rate_syl_s", self.rate_syl_s),
                                          ("formant_scale", self.formant_scale)) if not v > 0]
        bad += [f"{k}={v!r}" for k, v in (("breathiness", self.breathiness), ("jitter", self.jitter),
                                          ("shimmer", self.shimmer)) if not 0 <= v <= 1]
        if not 50 <= self.f0_hz <= 600:
            bad.append(f"f0_hz={self.f0_hz!r} (a voice lies between 50 and 600 Hz)")
        if bad:
            raise ValueError(f"Prosody: out of range: {', '.join(bad)}")


@dataclass
class Voice:
    """A synthesised voice and what was planted in it."""

    audio: np.ndarray       # (n,) float32 in [-1, 1] at ``fs``
    fs: int
    f0: np.ndarray          # (frames,) planted F0 (Hz) at 0, 10, 20 ... ms; NaN outside the vowels
    onsets_s: np.ndarray    # (syllables,) when each vowel's voicing starts (s)
    hnr_db: float           # harmonic (glottal pulse) to aspiration-noise energy over the vowels, as mixed
    prosody: Prosody

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.fs

    @property
    def f0_times(self) -> np.ndarray:
        """(frames,) the times (s) of :attr:`f0`: 0, 10, 20 ... ms."""
        return np.arange(len(self.f0)) * _FRAME

    def truth(self) -> dict:
        """What was planted, as JSON: the knobs and what they gave (F0 in Hz and in semitones
        above 27.5 Hz as eGeMAPS reports it; range = 10th to 90th percentile over the vowels;
        None where a clip too short for a syllable has no vowel)."""
        st = 12 * np.log2(self.f0[np.isfinite(self.f0)] / 27.5)
        p, voiced = self.prosody, st.size > 0
        return {"f0_hz": float(27.5 * 2 ** (st.mean() / 12)) if voiced else None,
                "f0_st": float(st.mean()) if voiced else None,
                "f0_range_st": float(np.percentile(st, 90) - np.percentile(st, 10)) if voiced else None,
                "level_db": p.level_db, "rate_syl_s": p.rate_syl_s,
                "onsets_per_s": len(self.onsets_s) / self.seconds,
                "hnr_db": self.hnr_db if np.isfinite(self.hnr_db) else None,
                "breathiness": p.breathiness, "jitter": p.jitter, "shimmer": p.shimmer,
                "speech_s": float(np.isfinite(self.f0).sum() * _FRAME), "syllables": len(self.onsets_s)}


@dataclass
class _Syllable:
    start: float      # the consonant's start (s)
    voice: float      # the vowel's start (s)
    end: float        # the vowel's end (s)
    phrase: tuple     # (start of the phrase's first vowel, end of its last) - filled after planning
    accent: float     # this syllable's pitch accent (semitones)
    gain: float       # this vowel's relative amplitude
    vowel: tuple      # (F1, F2, F3) before scaling
    fricative: bool   # the consonant is a hiss (else a silent closure)


def _plan(seconds: float, p: Prosody, rng: np.random.Generator) -> list[_Syllable]:
    """Syllables in phrases: each slot ~1/rate long, a consonant (28-40 % of it, at least 35 ms)
    then the vowel; phrases of 3-8 syllables, pauses of 0.2-0.5 s (longer when speech is slower)."""
    out, t, names = [], rng.uniform(0.1, 0.3), list(VOWELS)
    while True:
        phrase = []
        for k in range(int(rng.integers(3, 9))):
            slot = rng.uniform(0.8, 1.2) / p.rate_syl_s
            if t + slot > seconds - 0.05:
                break
            cons = max(0.035, rng.uniform(0.28, 0.40) * slot)
            accented = k == 0 or rng.uniform() < 0.4
            accent = p.accent_st * rng.uniform(0.6, 1.2) if accented else rng.uniform(-0.3, 0.3)
            phrase.append(_Syllable(t, t + cons, t + slot, (), accent, 10 ** ((2.0 if accented else 0.0) / 20),
                                    VOWELS[names[rng.integers(len(names))]], bool(rng.uniform() < 0.5)))
            t += slot
        for s in phrase:
            s.phrase = (phrase[0].voice, phrase[-1].end)
        if phrase:
            phrase[-1].gain *= 10 ** (-3 / 20)          # phrase-final syllables fade
        out += phrase
        if len(phrase) < 3 or t + slot > seconds - 0.05:
            return out
        t += rng.uniform(0.2, 0.5) * 4.5 / p.rate_syl_s


def _contour(times: np.ndarray, syl: list[_Syllable], p: Prosody, rng: np.random.Generator) -> np.ndarray:
    """F0 (Hz) at ``times``: declination over each phrase, a raised-cosine accent per syllable over
    its vowel (peaking at its middle), and a slow wander of about 0.3 semitones."""
    st = np.zeros_like(times)
    for s in syl:
        a, b = s.phrase
        inside = (times >= s.start) & (times < s.end)
        st[inside] += p.declination_st * (0.5 - np.clip((times[inside] - a) / max(b - a, 1e-3), 0, 1))
        mid, half = 0.5 * (s.voice + s.end), 0.6 * (s.end - s.voice)
        near = np.abs(times - mid) < half
        st[near] += s.accent * 0.5 * (1 + np.cos(np.pi * (times[near] - mid) / half))
    wander = np.convolve(rng.normal(0, 1, len(times)), np.hanning(31), "same")
    st += 0.3 * wander / (np.abs(wander).max() or 1.0)
    return p.f0_hz * 2 ** (st / 12)


def _envelope(t: np.ndarray, syl: list[_Syllable]) -> np.ndarray:
    """Each vowel's amplitude: a 25 ms raised-cosine attack, a 40 ms release, its own gain."""
    env = np.zeros_like(t)
    for s in syl:
        i0, i1 = np.searchsorted(t, [s.voice, s.end])
        x = t[i0:i1]
        up = np.clip((x - s.voice) / 0.025, 0, 1)
        down = np.clip((s.end - x) / 0.040, 0, 1)
        env[i0:i1] = s.gain * 0.5 * (1 - np.cos(np.pi * np.minimum(up, down)))
    return env


def _glottal(n: int, f0_at, p: Prosody, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Glottal flow (Rosenberg pulses, one per jittered cycle, shimmered) and the open-glottis
    share of each sample (for the aspiration noise), ``(n,)`` each."""
    starts, t, end = [], rng.uniform(0, 0.005), n / FS + 0.02
    while t < end:                             # ~one iteration per cycle: 1600 for 8 s at 200 Hz
        starts.append(t)
        t += (1.0 + p.jitter * rng.standard_normal()) / f0_at(t)
    starts = np.asarray(starts)
    ts = np.arange(n) / FS
    k = np.searchsorted(starts, ts, side="right") - 1
    frac = (ts - starts[k]) / (starts[k + 1] - starts[k])
    oq = 0.45 + 0.35 * p.breathiness            # open quotient: tense 0.45 .. breathy 0.8
    rise, fall = 0.7 * oq, 0.3 * oq
    flow = np.where(frac < rise, 0.5 * (1 - np.cos(np.pi * frac / rise)),
                    np.where(frac < oq, np.cos(0.5 * np.pi * (frac - rise) / fall), 0.0))
    height = 1.0 + p.shimmer * rng.standard_normal(len(starts))
    return flow * height[k], (frac < oq).astype(float)


def _formant_sos(f: np.ndarray) -> np.ndarray:
    """Second-order resonators at frequencies ``f`` (4,) with unit gain at 0 Hz: ``(4, 6)`` sos."""
    r = np.exp(-np.pi * np.asarray(_BANDWIDTHS) / FS)
    c = 2 * r * np.cos(2 * np.pi * f / FS)
    return np.stack([1 - c + r * r, np.zeros(4), np.zeros(4), np.ones(4), -c, r * r], axis=1)


def _vocal_tract(x: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Filter ``x`` (channels, n) through the resonators, their formants ``formants`` (frames, 4)
    changing every 10 ms frame (state carried across frames)."""
    from scipy.signal import sosfilt

    step = int(round(_FRAME * FS))
    zi = np.zeros((4, x.shape[0], 2))
    out = np.empty_like(x)
    for j in range(len(formants)):
        seg = slice(j * step, (j + 1) * step)
        out[:, seg], zi = sosfilt(_formant_sos(formants[j]), x[:, seg], axis=-1, zi=zi)
    return out


def _formant_track(t: np.ndarray, syl: list[_Syllable], scale: float) -> np.ndarray:
    """F1-F4 (frames, 4): each vowel's target at its middle, linear in between."""
    mids = np.array([0.5 * (s.voice + s.end) for s in syl]) if syl else np.zeros(1)
    targets = np.array([[*s.vowel, _F4] for s in syl], float) if syl else np.array([[*VOWELS["a"], _F4]], float)
    return scale * np.stack([np.interp(t, mids, targets[:, i]) for i in range(4)], axis=1)


def synthesise(seconds: float, prosody: Prosody, rng: np.random.Generator) -> Voice:
    """``seconds`` of a voice speaking with ``prosody`` (everything random drawn from ``rng``)."""
    p = prosody
    if not seconds > 0:
        raise ValueError(f"synthesise: seconds must be > 0, not {seconds!r}")
    n, step = int(round(seconds * FS)), int(round(_FRAME * FS))
    frames = -(-n // step)
    t_frame = np.arange(frames) * _FRAME
    syl = _plan(seconds, p, rng)
    fine = np.arange(0, seconds + 0.05, 0.001)
    f0_fine = _contour(fine, syl, p, rng)
    flow, open_ = _glottal(n, lambda t: f0_fine[min(int(t * 1000), len(f0_fine) - 1)], p, rng)
    ts = np.arange(n) / FS
    env = _envelope(ts, syl)
    padded = np.zeros((2, frames * step))
    padded[0, :n] = np.diff(flow * env, prepend=0.0)                    # lip radiation
    padded[1, :n] = rng.standard_normal(n) * (0.25 + open_) * env       # aspiration, louder while open
    harm, asp = _vocal_tract(padded, _formant_track(t_frame + 0.5 * _FRAME, syl, p.formant_scale))[:, :n]
    speech, hnr = _mix(harm, asp, env > 0.5 * env.max() if env.any() else env > 0, p)
    speech += _fricatives(ts, syl, rng) * REF_RMS * 10 ** ((p.level_db - 14) / 20)
    speech += rng.standard_normal(n) * 10 ** (-66 / 20)                 # a quiet room's noise floor
    f0 = np.interp(t_frame, fine, f0_fine)
    in_vowel = np.zeros(frames, bool)
    for s in syl:
        in_vowel |= (t_frame >= s.voice) & (t_frame < s.end)
    f0[~in_vowel] = np.nan
    return Voice(np.clip(speech, -1.0, 1.0).astype(np.float32), FS, f0,
                 np.array([s.voice for s in syl]), hnr, p)


def _mix(harm: np.ndarray, asp: np.ndarray, voiced: np.ndarray, p: Prosody) -> tuple[np.ndarray, float]:
    """Harmonic part plus aspiration at ``p.hnr_db`` over the vowels, the sum at ``p.level_db``;
    and the harmonics-to-noise ratio as mixed (NaN when there is no vowel)."""
    if not voiced.any():
        return harm + asp, float("nan")
    e_h = float((harm[voiced] ** 2).sum())
    asp = asp * np.sqrt(e_h / max(float((asp[voiced] ** 2).sum()), 1e-30) / 10 ** (p.hnr_db / 10))
    hnr = 10 * np.log10(e_h / float((asp[voiced] ** 2).sum()))
    speech = harm + asp
    return speech * (REF_RMS * 10 ** (p.level_db / 20) / np.sqrt(np.mean(speech[voiced] ** 2))), float(hnr)


def _fricatives(t: np.ndarray, syl: list[_Syllable], rng: np.random.Generator) -> np.ndarray:
    """Hissing consonants (noise band-passed 2.5-6 kHz, unit RMS in their body) where planned."""
    from scipy.signal import butter, sosfilt

    out = np.zeros_like(t)
    sos = butter(2, (2500, 6000), btype="bandpass", fs=FS, output="sos")
    for s in syl:
        if not s.fricative:
            continue
        i0, i1 = np.searchsorted(t, [s.start + 0.005, s.voice - 0.005])
        if i1 - i0 < 32:
            continue
        hiss = sosfilt(sos, rng.standard_normal(i1 - i0))
        out[i0:i1] = hiss / (hiss.std() or 1.0) * np.hanning(i1 - i0)
    return out
