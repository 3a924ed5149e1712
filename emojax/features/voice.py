"""The voice a video carries: eGeMAPS v02 low-level descriptors (openSMILE), named for a reader.

The 25 descriptors come every 10 ms from the file's audio track (mono, 16 kHz). Each feature
record holds them at its own frames - each frame's interval averaged - with a mask of its own,
``Features.speech``: True where the frame holds voiced speech, False in silence, where the file
has no audio track, or past the end of a track shorter than the video.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..errors import VideoError
from ..fileio import atomic_write_bytes, shown
from ..video import AudioTrack, audio_only, check_media_file, frame_times, read_audio
from .modalities import shortfall
from .record import Features
from .spans import spans

#: the eGeMAPS v02 low-level descriptors, in openSMILE's order (``Smile.feature_names``)
DESCRIPTORS = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz",
    "F1frequency_sma3nz", "F1bandwidth_sma3nz", "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)

#: the voice's groups for permutation importance, each a set of descriptors a person can name
GROUPS = {
    "prosody": ("F0semitoneFrom27.5Hz_sma3nz", "Loudness_sma3"),
    "voice quality": ("jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
                      "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz"),
    "formants": tuple(f"F{i}{k}" for i in (1, 2, 3) for k in
                      ("frequency_sma3nz", "bandwidth_sma3nz", "amplitudeLogRelF0_sma3nz")),
    "spectral balance": ("alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
                         "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3"),
}

#: what a record's voice can be: read and heard somewhere, read but silent or short, no audio
#: track at all, or not read yet (a record stored before emojax read voice)
STATUSES = ("present", "partial", "absent", "unread")

#: the descriptors openSMILE defines only on voiced 10 ms frames (0 elsewhere): averaged over those only
VOICED_ONLY = tuple(d for d in DESCRIPTORS if d.endswith("_sma3nz"))
#: a frame's interval is speech when its mean loudness (``Loudness_sma3``, openSMILE's
#: psychoacoustic loudness of samples in [-1, 1]) reaches this. Chosen on CREMA-D, not on the GRID
#: clip it is checked on: the loudest 10 ms frame of the six CREMA-D clips' lead-in silence (their
#: first 0.3 s, before anyone speaks) is 0.114; the floor is that rounded up to 0.15 (README, "Voice").
SPEECH_FLOOR = 0.15
#: an audio-only file's frames: a regular grid of this many per second (each averaging its 10 ms
#: descriptor frames, as a video frame does)
AUDIO_ONLY_FPS = 30.0
#: a track that misses more than this many seconds of the video (and more than a frame and a half)
#: covers less than the video: voice "partial"
SHORT_BY = 0.1

#: the reason ``source["voice"]`` gives when the file has no audio track at all
NO_TRACK = "no audio track"

_F0 = DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")
_LOUD = DESCRIPTORS.index("Loudness_sma3")
_NZ = np.array([d in VOICED_ONLY for d in DESCRIPTORS])


_SMILE_BUILT = threading.Lock()


def smile():
    """This process's openSMILE extractor of the eGeMAPS v02 low-level descriptors (built once,
    even when threads ask for it at once: the dashboard builds it as a page opens)."""
    with _SMILE_BUILT:
        return _smile()


@cache
def _smile():
    import opensmile

    s = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                        feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    if tuple(s.feature_names) != DESCRIPTORS:
        raise RuntimeError(f"opensmile {opensmile.__version__} names other descriptors than emojax reads: "
                           f"{s.feature_names}")
    return s


def descriptors(track: AudioTrack) -> tuple[np.ndarray, np.ndarray]:
    """The track's descriptor frames: ``times (N,)``, each frame's centre on the video's timeline,
    and ``values (N, 25)`` in :data:`DESCRIPTORS` order (openSMILE's; the voiced-only ones 0 when
    unvoiced). A track shorter than one analysis window gives none."""
    if len(track.samples) < track.rate // 10:
        return np.zeros(0), np.zeros((0, len(DESCRIPTORS)), np.float32)
    df = smile().process_signal(track.samples, track.rate)
    a = df.index.get_level_values(0).total_seconds().to_numpy()
    b = df.index.get_level_values(1).total_seconds().to_numpy()
    return track.start + (a + b) / 2, df.to_numpy(np.float32)


def align(times: np.ndarray, values: np.ndarray, frame_times: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Descriptor frames ``(times (N,), values (N, 25))`` averaged over each frame's interval
    ``[t_i, t_i + 1/fps)``: ``voice (T, 25)`` and ``speech (T,)``.

    The voiced-only descriptors average the interval's voiced descriptor frames (F0 > 0) only, and
    stay NaN in an interval with none (unvoiced speech: a consonant, a whisper, creak). ``speech``:
    the interval's mean loudness reaches :data:`SPEECH_FLOOR`; an interval with no descriptor
    frame (past the end of the track, or no track) is not speech. Where speech is False every
    descriptor is NaN."""
    frame_times = np.asarray(frame_times, float)
    lo = np.searchsorted(times, frame_times - 1e-9)
    hi = np.searchsorted(times, frame_times + 1.0 / fps - 1e-9)
    n = (hi - lo).astype(float)
    voiced = values[:, _F0] > 0 if len(values) else np.zeros(0, bool)

    def sums(x):
        c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0, dtype=float)])
        return c[hi] - c[lo]

    with np.errstate(invalid="ignore", divide="ignore"):
        every = sums(values) / n[:, None]
        nv = sums(voiced.astype(float))
        only_voiced = sums(values * voiced[:, None]) / nv[:, None]
    voice = np.where(_NZ, only_voiced, every)
    speech = (n > 0) & (every[:, _LOUD] >= SPEECH_FLOOR)
    voice[~speech] = np.nan
    return voice.astype(np.float32), speech


def voice_of(track: AudioTrack, frame_times: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """A track's voice at a record's frames: ``voice (T, 25)``, ``speech (T,)`` and what
    ``source["voice"]`` says: the status (:data:`STATUSES`), the track (codec, its own rate and
    channels, where it lies on the timeline), the seconds of the frames' span it covers and the
    seconds of speech, and why when not "present"."""
    frame_times = np.asarray(frame_times, float)
    t = len(frame_times)
    info = {**track.to_source()}
    if not track.found or not len(track.samples):
        why = NO_TRACK if not track.found else (track.describe() or "its audio track gave no sample")
        info.update(status="absent", reason=why, covered_s=0.0, speech_s=0.0)
        return np.full((t, len(DESCRIPTORS)), np.nan, np.float32), np.zeros(t, bool), info
    times, values = descriptors(track)
    voice, speech = align(times, values, frame_times, fps)
    a, b = (float(frame_times[0]), float(frame_times[-1]) + 1.0 / fps) if t else (0.0, 0.0)
    covered = track.covered(a, b)
    info.update(covered_s=round(covered, 3), video_s=round(b - a, 3), speech_s=round(float(speech.sum()) / fps, 3))
    reasons = []
    if short_of(a, b, covered, fps):
        reasons.append(f"the audio track covers {covered:.2f} s of the {b - a:.2f} s of frames "
                       f"(it lies from {track.start:.2f} s to {track.end:.2f} s)")
    if track.status != "complete":
        reasons.append(track.describe())
    info.update(verdict(reasons, speech, fps))
    return voice, speech, info


def short_of(a: float, b: float, covered: float, fps: float) -> bool:
    """Audio covering ``covered`` seconds of frames spanning ``a`` to ``b`` leaves more of them
    unheard than :data:`SHORT_BY` (and a frame and a half)."""
    return b - a - covered > max(SHORT_BY, 1.5 / fps)


def verdict(reasons: list[str], speech: np.ndarray, fps: float) -> dict:
    """A voice's ``status`` (and ``reason``): "partial" for ``reasons`` already found or too
    little speech (:func:`~.modalities.shortfall`), else "present"."""
    if (short := shortfall(speech, fps)) is not None:
        reasons = [*reasons, f"speech {short}"]
    return {"status": "partial", "reason": "; ".join(reasons)} if reasons else {"status": "present"}


def attach(feats, track: AudioTrack):
    """``feats`` (a :class:`~.record.Features`) with the voice of ``track`` at its frames (in
    place; returned). Only audio is read: no video frame is decoded."""
    try:
        feats.voice, feats.speech, feats.source["voice"] = voice_of(track, feats.times, feats.fps)
    except Exception as e:    # openSMILE or the track failed: no voice, said; the face and pulse stand
        t = len(feats.times)
        feats.voice, feats.speech = np.full((t, len(DESCRIPTORS)), np.nan, np.float32), np.zeros(t, bool)
        feats.source["voice"] = {**track.to_source(), "status": "absent", "covered_s": 0.0, "speech_s": 0.0,
                                 "reason": f"its voice could not be read ({type(e).__name__}: {e})"}
    return feats


def read_voice(feats, video: str | os.PathLike, audio: str | os.PathLike | None = None, *, start: float | None = None,
               video_stream: int | None = None):
    """``feats`` with its voice read over the record's span only: from ``audio`` when the item
    has a file of its own (its time 0 is second ``start`` of the video, as an IEMOCAP utterance's
    wav), else from ``video``'s own track."""
    offset = (start or 0.0) if audio else None
    audio = audio or video
    t = np.asarray(feats.times, float)
    start = float(t[0]) if len(t) else feats.source.get("start")
    end = float(t[-1]) + 1.0 / feats.fps if len(t) else feats.source.get("end")
    try:
        track = read_audio(audio, start=start, end=end, offset=offset, video_stream=video_stream)
    except Exception as e:          # the audio cannot be opened or read: no voice, said; the rest of the record stands
        feats = attach(feats, AudioTrack(os.fspath(audio), np.zeros(0, np.float32), status="absent"))
        feats.source["voice"]["reason"] = str(e) if isinstance(e, VideoError) else \
            f"{audio}: its audio could not be read ({type(e).__name__}: {e})"
        return feats
    return attach(feats, track)


def hz(semitones: np.ndarray) -> np.ndarray:
    """eGeMAPS F0 (semitones above 27.5 Hz) in Hz."""
    return 27.5 * 2.0 ** (np.asarray(semitones, float) / 12.0)


def prosody(voice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, from a record's ``voice (T, 25)``: loudness and F0 in Hz (NaN where not
    measured: outside speech, and for F0 on frames with no voiced 10 ms frame)."""
    voice = np.asarray(voice, float)
    return voice[:, _LOUD], hz(voice[:, _F0])


def said(info: dict | None) -> str:
    """A record's voice in the words the CLI, the extraction summary and the dashboard use:
    ``"voice absent: no audio track"``, ``"voice partial: <why>"``, ``"voice present"``
    (``info``: ``source["voice"]``, or a :func:`summary`; None or empty: a record stored before
    emojax read voice)."""
    info = info or {}
    status = info.get("status", "unread")
    reason = info.get("reason") or ("not read: the record was stored before emojax read voice"
                                    if status == "unread" else None)
    return f"voice {status}" + (f": {reason}" if reason else "")


def summary(voice: np.ndarray, speech: np.ndarray, fps: float, source: dict) -> dict:
    """The voice of one record in a few numbers a person reads (the CLI's and the dashboard's):
    speech share, F0 mean and range (5th-95th percentile) in Hz over voiced speech frames, mean
    loudness, jitter, shimmer (dB) and HNR (dB) over speech frames, speaking rate (voiced onsets -
    starts of runs of frames holding voiced speech - per second of the frames' span), seconds
    read, status. A number that nothing measured is None: with no audio read (voice absent) the
    speech share and the speaking rate too, and the speaking rate where openSMILE found no
    voiced frame in the speech (its onsets are then unmeasured, not none)."""
    info = source.get("voice", {})
    t = len(speech)
    col = {d: voice[:, i] for i, d in enumerate(DESCRIPTORS)}

    def mean(name):
        x = col[name][speech]
        x = x[np.isfinite(x)]
        return round(float(x.mean()), 4) if len(x) else None

    f0 = hz(col["F0semitoneFrom27.5Hz_sma3nz"][speech])
    f0 = f0[np.isfinite(f0)]
    voiced = speech & np.isfinite(col["F0semitoneFrom27.5Hz_sma3nz"])
    seconds = t / fps if fps > 0 else 0.0
    heard = info.get("status") not in ("absent", "unread", None)
    return {"status": info.get("status", "unread"), "reason": info.get("reason"),
            "speech_share": round(float(speech.mean()), 4) if t and heard else None,
            "speech_s": info.get("speech_s"), "seconds_read": info.get("covered_s"),
            "f0_mean_hz": round(float(f0.mean()), 2) if len(f0) else None,
            "f0_range_hz": [round(float(v), 2) for v in np.percentile(f0, [5, 95])] if len(f0) else None,
            "loudness": mean("Loudness_sma3"), "jitter": mean("jitterLocal_sma3nz"),
            "shimmer_db": mean("shimmerLocaldB_sma3nz"), "hnr_db": mean("HNRdBACF_sma3nz"),
            "speaking_rate": round(len(spans(voiced)) / seconds, 3) if seconds and voiced.any() else None,
            "codec": info.get("codec"), "frames": t, "fps": fps}


def table(times: np.ndarray, voice: np.ndarray, speech: np.ndarray):
    """The per-frame table: time, speech, the 25 descriptors (a pandas DataFrame)."""
    import pandas as pd

    return pd.DataFrame({"time": np.asarray(times, float), "speech": np.asarray(speech, bool),
                         **{d: voice[:, i] for i, d in enumerate(DESCRIPTORS)}})


def write_table(path: str | os.PathLike, times: np.ndarray, voice: np.ndarray, speech: np.ndarray) -> None:
    """:func:`table` as CSV at ``path``, written atomically."""
    atomic_write_bytes(path, table(times, voice, speech).to_csv(index=False).encode())


@dataclass
class VoiceRecord:
    """The voice of a whole file, frame by frame, without its faces: the CLI's ``emojax voice``."""

    times: np.ndarray     # (T,) seconds on the video's timeline (an audio-only file: a regular grid)
    fps: float
    voice: np.ndarray     # (T, 25) DESCRIPTORS, NaN where not speech
    speech: np.ndarray    # (T,) bool
    source: dict          # {"path", "frames": "video" | "grid", "voice": what voice_of says}

    def summary(self) -> dict:
        return {**summary(self.voice, self.speech, self.fps, self.source), "frames_from": self.source["frames"]}


def file_voice(path: str | os.PathLike, *, stream: int | None = None, start: float | None = None,
               end: float | None = None) -> VoiceRecord:
    """The voice of ``path`` at its video frames (their times from the container's packets: no
    frame is decoded), or, for an audio-only file (:data:`~emojax.video.AUDIO_EXTENSIONS`, or a
    container with no moving picture: :func:`~emojax.video.audio_only`), at
    :data:`AUDIO_ONLY_FPS` frames per second over the track; ``start``, ``end``: only those
    seconds (None: from the top, to the end). Raises :class:`~emojax.errors.VideoError` for a
    file that is no video or audio we read."""
    p = check_media_file(path)
    if audio_only(p):
        track = read_audio(p, start=start, end=end)
        fps, kind = AUDIO_ONLY_FPS, "grid"
        times = track.start + np.arange(int(np.ceil(track.seconds * fps - 1e-9))) / fps
    else:
        t, fps = frame_times(p, stream=stream)
        times, kind = np.asarray(t, float), "video"
        if start is not None or end is not None:
            times = times[(times >= (start or 0.0)) & (times < (np.inf if end is None else end))]
        track = read_audio(p, start=start, end=end, video_stream=stream)
    voice, speech, info = voice_of(track, times, fps)
    return VoiceRecord(times, float(fps), voice, speech, {"path": os.fspath(path), "frames": kind, "voice": info})


def audio_features(path: str | os.PathLike, *, start: float | None = None, end: float | None = None) -> Features:
    """An audio-only file (:func:`~emojax.video.audio_only`) as a feature record, for the models
    that read the voice: its voice on :data:`AUDIO_ONLY_FPS` frames per second (:func:`file_voice`,
    ``start``/``end`` as there). No face and no colour were seen: those arrays are NaN and every
    frame's face state is missing, so the pulse and the landmarks are masked (absent), never
    zeros read as data. ``source["audio_only"]`` is True.

    Raises:
        VideoError: the file is no video or audio we read, or it holds a moving picture (a video:
            its faces are read by the extractor).
    """
    rec = file_voice(path, start=start, end=end)
    if rec.source["frames"] != "grid":
        raise VideoError(f"{shown(path)}: holds a video stream; it is read as a video (its faces and its voice), "
                         "not as audio only")
    t = len(rec.times)
    return Features(rgb=np.full((t, 3), np.nan), landmarks=np.full((t, 68, 2), np.nan), box=np.full((t, 4), np.nan),
                    state=np.zeros(t, np.uint8), confidence=np.zeros(t), times=rec.times, fps=rec.fps,
                    voice=rec.voice, speech=rec.speech, source={**rec.source, "audio_only": True})
