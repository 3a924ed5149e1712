"""From feature records to model arrays: ``X_rppg (N, T, C)``, ``X_face (N, T, 136)``,
``X_voice (N, T, 26)`` and ``mask (N, T, M)``: each modality's own validity per frame
(``features.modalities.MODALITIES``: the pulse, the landmarks, voiced speech), a modality with
too little of it marked absent in the whole video. A record without a voice read (None: no
audio track read, or none in the file) has the voice absent, never zeros taken for silence.

Two presets:
- ``paper`` (Kumar & Li 2023): the raw per-frame mean R, G, B and raw landmark coordinates,
  zero-padded to the longest sequence.
- ``improved``: the pulse signal of the chosen rPPG method (normalised) with heart-rate and
  quality channels; landmarks aligned to a mean shape by Procrustes (translation, scale,
  rotation removed), relative to the speaker's mean shape, with velocities; resampled to a
  fixed length. Frames without a face are masked, never filled with random values.

The voice is the eGeMAPS descriptors as read (``features.voice.DESCRIPTORS``) and whether the
frame was voiced (:data:`VOICE_NAMES`) in both presets, valid on every speech frame:
standardising them is the model's own ``InputNorm`` (training statistics, applied unchanged in
prediction). With ``speaker_relative`` (improved), the pitch (F0 in semitones) is taken relative
to the speaker's mean F0 over their speech frames in the set, as the landmarks are relative to
the speaker's mean shape: a speaker's natural pitch is not an emotion, a rise from it may be.
Resampled to the improved length, a voiced frame is never blended with an unvoiced one (whose
voiced-only descriptors read 0): between the two, those descriptors and ``voiced`` are the
nearer frame's, so ``voiced`` stays 0 or 1 and no F0 lies between a measured one and 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy.interpolate import interp1d

from ..errors import ConfigError
from ..features import heart, modalities, rppg, vitals, voice as voice_features
from ..features.modalities import MODALITIES
from ..features.modalities import check as modalities_check
from ..features.record import Features
from ..presets import DEFAULT_PRESET, check_preset

#: hop of the sliding heart-rate estimate behind the improved heart-rate / quality channels
#: (interpolated to every frame in between, never across a window without a rate)
HR_STEP_S = 0.25


@dataclass(frozen=True)
class InputConfig:
    """How feature records become model inputs (saved with every run)."""

    preset: str = DEFAULT_PRESET  # one of emojax.presets.PRESET_NAMES
    length: int | None = 150     # improved: frames after resampling; paper: None = longest in the set
    rppg_method: str = rppg.DEFAULT_METHOD  # improved: pulse method (see rppg.RPPG_METHODS)
    hr_window_s: float = 4.0     # improved: window of the heart-rate / quality channels
    speaker_relative: bool = False  # improved: subtract each speaker's mean aligned shape, computed over
                                    # that speaker's videos in the set being prepared (speakers given to
                                    # to_arrays; every video must name its speaker)

    def __post_init__(self):
        check_preset(self.preset, "input preset")
        if self.rppg_method not in rppg.RPPG_METHODS:
            raise ConfigError(f"unknown rPPG method {self.rppg_method!r}; choose one of {sorted(rppg.RPPG_METHODS)}")
        if self.length is not None and self.length < 2:
            raise ConfigError(f"length must be at least 2 frames, got {self.length}")


def align_shapes(landmarks: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Procrustes-align every frame's 68 points to ``reference`` (default: the frames' own
    mean shape, itself centred and of unit RMS radius). NaN frames stay NaN. ``(T, 68, 2)``."""
    lm = np.asarray(landmarks, np.float64)
    ok = np.isfinite(lm).all(axis=(1, 2))
    out = np.full_like(lm, np.nan)
    if not ok.any():
        return out
    centred = lm[ok] - lm[ok].mean(axis=1, keepdims=True)
    norms = np.sqrt((centred ** 2).sum(axis=(1, 2)) / lm.shape[1])
    unit = centred / np.where(norms > 0, norms, 1.0)[:, None, None]
    if reference is None:
        reference = unit.mean(axis=0)
    ref = reference - reference.mean(axis=0)
    ref = ref / (np.sqrt((ref ** 2).sum() / len(ref)) or 1.0)
    # optimal rotation per frame: SVD of the 2x2 cross-covariance (Kabsch, no reflection)
    u, _, vt = np.linalg.svd(np.einsum("tki,kj->tij", unit, ref))
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, 1] *= d[:, None]
    out[ok] = np.einsum("tki,tij->tkj", unit, u @ vt)
    return out


def _resample(x: np.ndarray, length: int) -> np.ndarray:
    """Linear resampling of ``(T, ...)`` along time to ``length`` rows (NaNs propagate)."""
    t = len(x)
    if t == length:
        return x.copy()
    if t == 1:
        return np.repeat(x, length, axis=0)
    return interp1d(np.arange(t), x, axis=0, assume_sorted=True)(np.linspace(0, t - 1, length))


def _rppg_channels(f: Features, cfg: InputConfig) -> np.ndarray:
    """Improved rPPG input ``(T, 3)``: z-scored pulse, heart rate (bpm / 100) and quality
    (SNR / 10) of the window around each frame (0 where the pulse is too short to tell a rate).
    Every channel is NaN (so masked) outside the record's pulse segments: a long stretch
    without a face, or a segment too short for a pulse, is never filled in. A bridged short gap
    has a pulse but no face, and is masked too."""
    t = len(f)
    out = np.full((t, 3), np.nan)
    if t < 8:
        return out
    sig = vitals.pulse_of(f, cfg.rppg_method)
    if sig.ndim != 1 or not np.isfinite(sig).any():
        return out
    sd = np.nanstd(sig)
    out[:, 0] = (sig - np.nanmean(sig)) / (sd if sd > 0 else 1.0)
    out[:, 1:] = 0.0
    series = heart.heart_rate_series(sig, f.fps, window_s=min(cfg.hr_window_s, t / f.fps), step_s=HR_STEP_S)
    out[:, 1] = between_windows(series[:, 0] * f.fps, series[:, 1], t) / 100.0
    out[:, 2] = between_windows(series[:, 0] * f.fps, series[:, 2], t) / 10.0
    out[~np.isfinite(sig)] = np.nan
    if f.config.get("roi") != "frame":
        out[~f.face_found] = np.nan
    return out


def between_windows(centres: np.ndarray, values: np.ndarray, t: int) -> np.ndarray:
    """``(t,)`` a per-window value at every frame: linear between the centres (in frames) of
    two neighbouring windows that both have one, else the nearest window's; 0 (no rate) where
    that window has none. Nothing is drawn across a window without a value."""
    x, c, v = np.arange(t, dtype=float), np.asarray(centres, float), np.asarray(values, float)
    if len(c) == 1:
        return np.full(t, v[0] if np.isfinite(v[0]) else 0.0)
    hi = np.clip(np.searchsorted(c, x), 1, len(c) - 1)
    lo = hi - 1
    w = np.clip((x - c[lo]) / np.maximum(c[hi] - c[lo], 1e-9), 0.0, 1.0)
    nearest = np.where(w <= 0.5, lo, hi)
    out = np.where(np.isfinite(v[lo]) & np.isfinite(v[hi]), (1 - w) * v[lo] + w * v[hi], v[nearest])
    return np.nan_to_num(out, nan=0.0)


def _face_channels(f: Features, cfg: InputConfig, speaker_mean: np.ndarray | None) -> np.ndarray:
    if cfg.preset == "paper":
        return f.landmarks.reshape(len(f), -1).astype(np.float64)
    aligned = align_shapes(f.landmarks)
    if speaker_mean is not None:
        aligned = aligned - speaker_mean
    flat = aligned.reshape(len(f), -1)
    vel = np.vstack([np.zeros((1, flat.shape[1])), np.diff(flat, axis=0)]) * f.fps / 30.0
    return np.hstack([flat, np.nan_to_num(vel)])


#: the voice's channels: the eGeMAPS descriptors and ``voiced`` (1 where the voiced-only
#: descriptors were observed on the frame, 0 where the frame holds speech but openSMILE found no
#: voiced 10 ms frame in it: those descriptors then read 0, openSMILE's own value for unvoiced)
VOICE_NAMES = (*voice_features.DESCRIPTORS, "voiced")
VOICE_CHANNELS = len(VOICE_NAMES)
F0 = voice_features.DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")
_VOICED_ONLY = np.array([d in voice_features.VOICED_ONLY for d in voice_features.DESCRIPTORS])
#: the voice channels of the voiced-only descriptors (0 on an unvoiced speech frame)
VOICED_ONLY_CHANNELS = tuple(np.flatnonzero(_VOICED_ONLY).tolist())


def _resample_voice(v: np.ndarray, length: int) -> np.ndarray:
    """The voice channels ``(T, 26)`` (:func:`_voice_channels`) resampled to ``length`` rows as
    :func:`_resample` does, but never blending a voiced frame with an unvoiced one: at a point
    between a voiced and an unvoiced speech frame, the voiced-only descriptors and ``voiced`` are
    the nearer frame's (``voiced`` stays 0 or 1, and a voiced-only value is one measured on
    voiced frames, or 0 with ``voiced`` 0). Between two voiced (or two unvoiced) speech frames
    every channel is linear; next to a frame without speech (NaN) the point is not speech."""
    out = _resample(v, length)
    t = len(v)
    if t == length or t == 1:
        return out
    x = np.linspace(0, t - 1, length)
    lo = np.clip(np.floor(x).astype(int), 0, t - 2)
    hi = lo + 1
    nearest = np.where(x - lo <= 0.5, lo, hi)
    voiced = v[:, VOICE_NAMES.index("voiced")]
    mixed = np.isfinite(voiced[lo]) & np.isfinite(voiced[hi]) & (voiced[lo] != voiced[hi])
    cols = [*VOICED_ONLY_CHANNELS, VOICE_NAMES.index("voiced")]
    out[np.ix_(mixed, cols)] = v[np.ix_(nearest[mixed], cols)]
    return out


def speaker_means(records: Sequence[Features], speakers: Sequence[str | None]) -> dict:
    """Mean aligned shape ``(68, 2)`` of each speaker (group), over all their frames with a face;
    ``None`` for a speaker with no such frame."""
    out: dict = {}
    for f, g in zip(records, speakers, strict=True):
        a = align_shapes(f.landmarks)
        out.setdefault(g, []).append(a[np.isfinite(a).all(axis=(1, 2))])
    return {g: np.concatenate(v).mean(axis=0) if sum(map(len, v)) else None for g, v in out.items()}


def speaker_pitch(records: Sequence[Features], speakers: Sequence[str | None]) -> dict:
    """Mean F0 (semitones) of each speaker over their speech frames; None for a speaker never heard."""
    out: dict = {}
    for f, g in zip(records, speakers, strict=True):
        if f.voice is not None:
            out.setdefault(g, []).append(f.voice[f.speech & np.isfinite(f.voice[:, F0]), F0])
        else:
            out.setdefault(g, [])
    return {g: float(np.concatenate(v).mean()) if sum(map(len, v)) else None for g, v in out.items()}


def _voice_channels(f: Features, pitch: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 26)`` voice channels (:data:`VOICE_NAMES`; NaN where no speech) and the voice's
    validity ``(T,)``: the frames holding speech. A speech frame whose voiced-only descriptors are
    NaN (no voiced 10 ms frame in it: a consonant, a whisper, a breathy or creaky clip, on which
    they can be NaN on every frame) is still speech: those descriptors read 0 (openSMILE's value
    for an unvoiced frame; with ``pitch``, the F0 relative to the speaker then reads 0 too) and
    ``voiced`` 0, so the model can tell. Masking such frames would make quiet and breathy
    clips "voice absent", a bias by class."""
    if f.voice is None:
        return np.full((len(f), VOICE_CHANNELS), np.nan), np.zeros(len(f), bool)
    d = np.asarray(f.voice, np.float64).copy()
    speech = np.asarray(f.speech, bool)
    voiced = speech & np.isfinite(d[:, _VOICED_ONLY]).all(axis=1)
    if pitch is not None:
        d[:, F0] -= pitch
    d[np.ix_(speech & ~voiced, _VOICED_ONLY)] = 0.0
    v = np.hstack([d, voiced[:, None].astype(np.float64)])
    v[~speech] = np.nan
    valid = speech & np.isfinite(v).all(axis=1)
    return v, valid


def channels(f: Features, cfg: InputConfig, speaker_mean: np.ndarray | None = None, pitch: float | None = None
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One record's channels ``{modality: (T, C)}`` and each modality's validity ``{modality:
    (T,) bool}`` at the record's own frames, before any resampling: the pulse (paper: the face
    box's colour) where it was measured and the record has colour, the landmarks where a face
    was found, the voice where the frame holds speech (``pitch``: the speaker's mean F0, taken
    off the F0 column)."""
    r = f.rgb.astype(np.float64) if cfg.preset == "paper" else _rppg_channels(f, cfg)
    x = _face_channels(f, cfg, speaker_mean)
    v, heard = _voice_channels(f, pitch)
    face = f.face_found & np.isfinite(x).all(axis=1)
    pulse = np.isfinite(r).all(axis=1) & (f.face_found if cfg.preset == "paper" else True)
    if f.grayscale:
        pulse = np.zeros(len(f), bool)
    return {"rppg": r, "face": x, "voice": v}, {"rppg": pulse, "face": face, "voice": heard}


def presence(f: Features, cfg: InputConfig | None = None) -> dict[str, str | None]:
    """For each modality (:data:`MODALITIES`), None when ``f`` gives enough of it to be used
    under ``cfg``, else why not (one rule for prediction and training:
    :func:`emojax.features.modalities.shortfall` on the video's own frames, and at least one
    frame of it left in the model inputs once they are cut or resampled to ``cfg``'s length)."""
    cfg = cfg or InputConfig()
    _, valid = channels(f, cfg)
    out = {m: modalities.shortfall(valid[m], f.fps) for m in MODALITIES}
    if f.grayscale:
        out["rppg"] = "the video has no colour (grayscale), so no pulse"
    out["voice"] = _voice_shortfall(f, out["voice"])
    if any(w is None for w in out.values()):
        plain = replace(cfg, speaker_relative=False)   # a speaker's mean shape moves no frame in or out
        left = to_arrays([f], plain)["mask"][0].any(axis=0)
        for i, m in enumerate(MODALITIES):
            if out[m] is None and not left[i]:
                out[m] = (f"none of its valid frames is within the {plain.length} frames the models read"
                          if cfg.preset == "paper" else "none of its valid frames survives resampling to "
                          f"{plain.length} frames (too few, too far apart)")
    return out


def _voice_shortfall(f: Features, short: str | None) -> str | None:
    """Why ``f``'s voice cannot be used, in the record's own words (``source["voice"]``): not
    read; absent, with its reason (no audio track, an audio that could not be read); read, but
    speech on too few frames (``short``: :func:`modalities.shortfall` of its speech frames, a
    silent or too short voice), with whatever else its reason says (a short or damaged track).
    None when it can be used."""
    info = f.source.get("voice") or {}
    reason = info.get("reason") or ""
    if f.voice_status == "unread":
        return "the voice was not read (a record stored before emojax read voice: extract again)"
    if f.voice_status == "absent":
        return "the file has no audio track" if reason == voice_features.NO_TRACK else (reason or "absent")
    if short is None:
        return None
    said = f"speech {short}"
    return reason if said in reason else "; ".join(filter(None, (said, reason)))


def to_arrays(records: Sequence[Features], cfg: InputConfig | None = None, *,
              speakers: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
    """Stack records into ``rppg (N, T, Cr)``, ``face (N, T, F)``, ``voice (N, T, 26)`` and
    ``mask (N, T, M)``: for
    each frame and modality (:data:`MODALITIES`), whether it was really observed. A modality a
    video has too little of (:func:`presence`) is absent: its mask is False on every frame.
    Values where the mask is False are zeros in the arrays.

    Each record is transformed on its own, except with ``cfg.speaker_relative``: then
    ``speakers`` must name every record's speaker, and each speaker's mean aligned shape is
    computed over that speaker's records given here.
    """
    cfg = cfg or InputConfig()
    if not records:
        raise ConfigError("to_arrays needs at least one feature record")
    speakers = list(speakers) if speakers is not None else [None] * len(records)
    means: dict = {}
    pitch: dict = {}
    if cfg.preset == "improved" and cfg.speaker_relative:
        if any(g is None for g in speakers):
            raise ConfigError("speaker-relative landmarks need the speaker of every video: give speakers "
                             "(in prediction: several videos of one person with --same-speaker)")
        means = speaker_means(records, speakers)
        pitch = speaker_pitch(records, speakers)
    length = cfg.length if cfg.preset == "improved" else (cfg.length or max(len(f) for f in records))
    out: dict[str, list] = {k: [] for k in (*MODALITIES, "mask")}
    for f, g in zip(records, speakers, strict=True):
        values, valid = channels(f, cfg, means.get(g), pitch.get(g))
        m = np.stack([valid[k] if modalities.shortfall(valid[k], f.fps) is None else np.zeros(len(f), bool)
                      for k in MODALITIES], axis=1)
        if cfg.preset == "improved":
            values = {k: (_resample_voice if k == "voice" else _resample)(v, length) for k, v in values.items()}
            m = _resample(m.astype(float), length) > 0.5
        else:
            values, m = {k: v[:length] for k, v in values.items()}, m[:length]
        pad = length - len(m)
        m = np.pad(m, ((0, pad), (0, 0)))
        for i, k in enumerate(MODALITIES):
            v = np.pad(values[k], ((0, pad), (0, 0)))
            m[:, i] &= np.isfinite(v).all(axis=1)
            out[k].append(np.where(m[:, i:i + 1], v, 0.0))
        out["mask"].append(m)
    return {**{k: np.stack(out[k]).astype(np.float32) for k in MODALITIES}, "mask": np.stack(out["mask"])}


def restrict(arrays: dict, modalities: Sequence[str]) -> dict:
    """``to_arrays``' output for a run of ``modalities`` only: every other modality has 0
    channels and is never observed (its mask column False), so no model reads it."""
    keep = modalities_check(modalities)
    out = dict(arrays)
    mask = np.asarray(arrays["mask"]).copy()
    for i, m in enumerate(MODALITIES):
        if m not in keep:
            out[m] = np.asarray(arrays[m])[..., :0]
            mask[..., i] = False
    out["mask"] = mask
    return out
