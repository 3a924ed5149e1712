"""The teaching set: short face videos, with a voice, whose class is planted in each modality.

Four classes on two axes: the face carries valence (a smile or a frown), the pulse carries
arousal (heart rate and pulse strength), so telling them apart needs both modalities:

    happy = positive / high arousal     calm = positive / low arousal
    angry = negative / high arousal     sad  = negative / low arousal

The voice (:mod:`emojax.data.speech`) carries all four at once, as acted speech does: each
class has a prosody (:data:`VOICE_PROFILES`) around its actor's own voice.

Each clip animates a real photograph (scikit-image's ``astronaut`` by default, or faces the
user gives) with head motion, blinks and speech-like mouth movement; ``face_info``,
``pulse_info`` and ``voice_info`` set how much each modality says about the class (0: nothing,
1: all). Ground truth (class, planted heart rate, planted voice) is written beside each clip,
and ``manifest.csv`` lists them all for :func:`emojax.data.load_manifest`.

:func:`class_voices` speaks chosen classes side by side, as the set's voices are spoken, with
what openSMILE reads from them (the Teaching page's "Hear the emotion").
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

from ..fileio import atomic_write_bytes, atomic_write_json, check_writable
from ..errors import NoFaceError
from .animate import BLOOD_RGB, cardiac_phase, make_rig, ppg_wave, render_frame
from .speech import Prosody, Voice, synthesise

#: class -> (valence sign, arousal sign)
TEACHING_CLASSES = {"happy": (1, 1), "calm": (1, -1), "angry": (-1, 1), "sad": (-1, -1)}
#: heart-rate ranges (bpm) for high and low arousal, and the range when the pulse says nothing
HR_HIGH, HR_LOW, HR_ANY = (92.0, 110.0), (58.0, 72.0), (58.0, 110.0)


class VoiceProfile(NamedTuple):
    """How a class moves an actor's voice at ``voice_info`` 1 (at ``v`` < 1: ``v`` times the
    shifts, the factors to the power ``v``; at 0 every class speaks alike)."""

    f0_st: float        # F0, semitones up
    accent: float       # pitch accents' height, times
    level_db: float     # loudness, dB up
    rate: float         # articulation rate, times
    breathiness: float  # breathiness, up (lower harmonics-to-noise ratio; down: a tenser voice)
    jitter: float       # jitter, times


#: happy higher and wider F0; angry loudest and tense; sad slower and lower; calm breathy and soft
#: (the directions acted emotional speech shows, e.g. Banse & Scherer 1996, JPSP 70:614)
VOICE_PROFILES = {"happy": VoiceProfile(3.0, 1.7, 2.0, 1.08, 0.0, 1.0),
                  "calm": VoiceProfile(-1.0, 0.8, -4.0, 0.95, 0.35, 1.5),
                  "angry": VoiceProfile(1.5, 1.2, 6.0, 1.10, -0.25, 1.0),
                  "sad": VoiceProfile(-3.0, 0.5, -2.0, 0.70, 0.10, 1.3)}


#: the default voice_info (the demo's): README, "The teaching set", says how it was chosen
VOICE_INFO = 0.5


@dataclass(frozen=True)
class TeachingConfig:
    """Knobs of the teaching set (saved as ``config.json`` beside the clips)."""

    clips_per_class: int = 16        # clips of each of the four classes
    seconds: float = 8.0             # length of each clip
    fps: float = 30.0                # frame rate
    size: int = 256                  # frames are size x size pixels
    noise: float = 2.0               # sensor noise, grey levels (std)
    face_info: float = 1.0           # 0..1: how much the expression says about valence
    pulse_info: float = 1.0          # 0..1: how much heart rate / pulse strength say about arousal
    voice_info: float = VOICE_INFO   # 0..1: how far each class's voice moves from its actor's neutral voice
    pulse_amplitude: float = 2.5     # skin darkening at systole, grey levels (green channel)
    groups: int = 4                  # "actors": appearance variants (mirror, tint, zoom) per face
    seed: int = 0

    def __post_init__(self):
        bad = [f"{k}={getattr(self, k)!r}" for k in ("face_info", "pulse_info", "voice_info")
               if not 0.0 <= getattr(self, k) <= 1.0]
        if bad:
            raise ValueError(f"TeachingConfig: {', '.join(bad)}: each must lie in 0..1")


def _face_landmarks(rgb: np.ndarray, where: str) -> np.ndarray:
    from ..features.face import largest_dlib_face
    from ..features.shared import shared_predictor    # loaded once per process (~1-2 s each time otherwise)

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    box = largest_dlib_face(gray, upsamples=(1,))
    if box is None:
        raise NoFaceError(f"{where}: no face found; give a frontal face photo or video")
    return shared_predictor()(gray, box)


def face_shape(source: str | os.PathLike | np.ndarray | None = None) -> np.ndarray:
    """The 68 landmarks (x, y pixels) of the face in :func:`load_face` ``(source)``: a face to
    draw explanations on (by default the teaching actors' own face)."""
    return _face_landmarks(load_face(source), "the astronaut" if source is None else str(source)[:80])


def load_face(source: str | os.PathLike | np.ndarray | None = None) -> np.ndarray:
    """An RGB face image: ``None`` = scikit-image's astronaut; a path to an image, or to a
    video (its first frame with a face among the first 150)."""
    if source is None:
        from skimage import data

        return data.astronaut()
    if isinstance(source, np.ndarray):
        return source
    p = Path(source)
    from ..video import VIDEO_EXTENSIONS, FrameReader

    if p.suffix.lower() in VIDEO_EXTENSIONS:
        from ..features.face import largest_dlib_face

        for frame in FrameReader(p):
            if frame.index >= 150:
                break
            if largest_dlib_face(cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY)) is not None:
                return frame.rgb
        raise NoFaceError(f"{p}: no frontal face in its first 150 frames")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise NoFaceError(f"{p}: not an image OpenCV can read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _actor(rgb: np.ndarray, pts: np.ndarray, size: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop a square around the face, resized to ``size``; variants mirror, tint and zoom."""
    c = pts.mean(axis=0)
    side = (pts[:, 0].max() - pts[:, 0].min()) * (2.0 + 0.25 * (variant % 3))
    m = np.array([[size / side, 0, size / 2 - c[0] * size / side],
                  [0, size / side, size / 2 - (c[1] - 0.1 * side) * size / side]])
    img = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    p = pts @ m[:, :2].T + m[:, 2]
    if variant % 2:
        img = img[:, ::-1].copy()
        p = p.copy()
        p[:, 0] = size - 1 - p[:, 0]
        mirror = [*range(16, -1, -1), *range(26, 16, -1), *range(27, 31), *range(35, 30, -1),
                  45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                  *range(54, 47, -1), *range(59, 54, -1), *range(64, 59, -1), *range(67, 64, -1)]
        p = p[mirror]
    tint = np.array([1.0 + 0.04 * ((variant // 2) % 2), 1.0, 1.0 - 0.04 * ((variant // 2) % 2)])
    return np.clip(img * tint, 0, 255).astype(np.uint8), p


def _envelope(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speech-like jaw opening in [0, 1]: syllables at 3-5 Hz in bursts with pauses."""
    rate = rng.uniform(3.0, 5.0)
    syll = 0.5 * (1 - np.cos(2 * np.pi * rate * times + rng.uniform(0, 2 * np.pi)))
    bursts = (np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * times + rng.uniform(0, 2 * np.pi)) > -0.3)
    return syll * cv2.GaussianBlur(bursts.astype(np.float32)[None], (0, 0), 3).ravel() * rng.uniform(0.6, 1.0)


def _blinks(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(times)
    t = rng.uniform(0.5, 3.0)
    while t < times[-1]:
        out = np.maximum(out, np.exp(-((times - t) ** 2) / (2 * 0.05 ** 2)))
        t += rng.uniform(2.0, 6.0)
    return out


def _smooth_walk(n: int, rng: np.random.Generator, scale: float, width: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d    # here: importing scipy.ndimage costs every process ~25 MB

    x = gaussian_filter1d(rng.normal(0, 1, n).astype(np.float32), width, mode="mirror", truncate=4.0)
    return x / (np.abs(x).max() or 1.0) * scale


def actor_rig(source: str | os.PathLike | np.ndarray | None = None, *, size: int = 256, variant: int = 0):
    """The animation rig of one teaching actor: the face of ``source`` (see :func:`load_face`)
    cropped to ``size`` in appearance ``variant`` (mirror, tint, zoom), ready for :func:`render_clip`."""
    from .animate import make_rig

    rgb = load_face(source)
    name = "astronaut" if source is None else (str(source) if not isinstance(source, np.ndarray) else "the image given")
    img, pts = _actor(rgb, _face_landmarks(rgb, name), size, variant)
    return make_rig(img, pts)


def render_clip(rig, label: str, cfg: TeachingConfig, rng: np.random.Generator) -> tuple[list, dict]:
    """Frames (RGB uint8) of one clip and its ground truth."""
    valence, arousal = TEACHING_CLASSES[label]
    n = int(round(cfg.seconds * cfg.fps))
    times = np.arange(n) / cfg.fps
    informative = rng.uniform() < cfg.pulse_info
    hr_range = (HR_HIGH if arousal > 0 else HR_LOW) if informative else HR_ANY
    hr_mean = rng.uniform(*hr_range)
    amp = cfg.pulse_amplitude * (rng.uniform(0.7, 1.3) if not informative else (1.25 if arousal > 0 else 0.8))
    phase, hr = cardiac_phase(times, hr_mean, rng)
    pulse = amp * ppg_wave(phase)
    face_sign = valence if rng.uniform() < cfg.face_info else rng.choice([-1, 1])
    strength = rng.uniform(0.6, 1.0)
    onset = 1 / (1 + np.exp(-(times - rng.uniform(0.3, 1.5)) / 0.25))
    expr = face_sign * strength * onset
    jaw, blink = _envelope(times, rng), _blinks(times, rng)
    sx, sy = _smooth_walk(n, rng, 0.03 * cfg.size, 20), _smooth_walk(n, rng, 0.02 * cfg.size, 20)
    ang, zoom = _smooth_walk(n, rng, 3.0, 20), 1 + _smooth_walk(n, rng, 0.03, 24)
    light = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * times + rng.uniform(0, 6.3))
    frames = []
    for i in range(n):
        f = render_frame(rig, smile=expr[i], brows=max(0.0, -expr[i]), jaw=jaw[i], blink=blink[i],
                         pulse=pulse[i], pulse_rgb=BLOOD_RGB, shift=(sx[i], sy[i]),
                         angle_deg=ang[i], zoom=zoom[i], light=light[i])
        f += rng.normal(0, cfg.noise, f.shape).astype(np.float32)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    truth = {"label": label, "valence": valence, "arousal": arousal, "hr_bpm": float(hr.mean()),
             "pulse_informative": bool(informative), "expression": float(face_sign * strength),
             "pulse_amplitude": float(amp), "fps": cfg.fps, "frames": n}
    return frames, truth


def actor_voice(rng: np.random.Generator) -> Prosody:
    """An actor's own neutral voice: F0 109-250 Hz (formants higher with it), its own level,
    rate, accents, breathiness, jitter and shimmer."""
    f0 = 165.0 * 2 ** rng.uniform(-0.6, 0.6)
    return Prosody(f0_hz=f0, accent_st=rng.uniform(1.5, 3.0), declination_st=rng.uniform(1.0, 3.0),
                   level_db=rng.uniform(-2.0, 2.0), rate_syl_s=rng.uniform(3.8, 5.0),
                   breathiness=rng.uniform(0.25, 0.5), jitter=rng.uniform(0.004, 0.008),
                   shimmer=rng.uniform(0.03, 0.06), formant_scale=1.0 + 0.15 * (f0 - 109.0) / 141.0)


def clip_voice(actor: Prosody, label: str, voice_info: float, rng: np.random.Generator) -> Prosody:
    """The actor's voice in one clip of class ``label``: moved by ``voice_info`` times the class's
    :data:`VOICE_PROFILES`, then varied from clip to clip (F0 +-0.7 semitone, level +-1 dB,
    rate +-7 %, breathiness +-0.05, accents x0.8-1.25: standard deviations or ranges) at any
    ``voice_info``, so that no clip is its class's exact prototype."""
    if not 0.0 <= voice_info <= 1.0:
        raise ValueError(f"voice_info must lie in 0..1, not {voice_info!r}")
    c, v = VOICE_PROFILES[label], voice_info
    return replace(
        actor, f0_hz=float(np.clip(actor.f0_hz * 2 ** ((v * c.f0_st + rng.normal(0, 0.7)) / 12), 60, 500)),
        accent_st=actor.accent_st * c.accent ** v * rng.uniform(0.8, 1.25),
        level_db=actor.level_db + v * c.level_db + rng.normal(0, 1.0),
        rate_syl_s=actor.rate_syl_s * c.rate ** v * float(np.exp(rng.normal(0, 0.07))),
        breathiness=float(np.clip(actor.breathiness + v * c.breathiness + rng.normal(0, 0.05), 0, 1)),
        jitter=actor.jitter * c.jitter ** v)


def speak_clip(actor: Prosody, label: str, cfg: TeachingConfig, rng: np.random.Generator) -> Voice:
    """The voice of one clip (as long as its video: ``round(seconds * fps)`` frames)."""
    n = int(round(cfg.seconds * cfg.fps))
    return synthesise(n / cfg.fps, clip_voice(actor, label, cfg.voice_info, rng), rng)


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float,
                audio: np.ndarray | None = None, audio_rate: int = 16000) -> None:
    """Write RGB frames as an MPEG-4 (mp4v) ``.mp4``, through a temp file then ``os.replace``;
    with ``audio`` (mono float samples in [-1, 1] at ``audio_rate``) beside them as an AAC track.

    The video is encoded by OpenCV, as it always was, and its packets are copied unchanged into
    the file that gets the audio (PyAV), so a clip's pictures do not depend on its sound."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"{tmp}: OpenCV cannot write mp4v video here")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if audio is not None:
        both = path.with_name(f".{path.stem}.av.tmp{path.suffix}")
        try:
            _mux_audio(tmp, both, np.asarray(audio, np.float32), audio_rate)
        finally:
            tmp.unlink(missing_ok=True)
        tmp = both
    os.replace(tmp, path)


#: the audio track's sample rate: video's usual 48 kHz, whose AAC frames (1024 samples, 21 ms) are
#: shorter than a video frame, so the last one's padding leaves the track within a frame of the video
AUDIO_RATE = 48000


def _mux_audio(video: Path, out_path: Path, audio: np.ndarray, rate: int) -> None:
    """``video``'s packets, copied, and ``audio`` (at ``rate``, resampled to :data:`AUDIO_RATE`)
    encoded as AAC (mono, 96 kbit/s), interleaved by time into ``out_path`` (an mp4: its edit
    list hides the encoder's priming samples)."""
    from fractions import Fraction
    from math import gcd

    import av
    from scipy.signal import resample_poly

    if rate != AUDIO_RATE:
        g = gcd(int(rate), AUDIO_RATE)
        audio = resample_poly(audio, AUDIO_RATE // g, int(rate) // g).astype(np.float32)
    audio = np.ascontiguousarray(np.clip(audio, -1.0, 1.0), np.float32)
    rate = AUDIO_RATE

    with av.open(str(video)) as inp, av.open(str(out_path), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("aac", rate=rate, layout="mono")
        aout.bit_rate = 96000
        aout.options = {"aac_coder": "fast"}   # 3.5x less CPU than FFmpeg's default coder; still 96 kbit/s
        packets = []
        for i in range(0, len(audio), 1024):
            fr = av.AudioFrame.from_ndarray(audio[None, i:i + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = rate, i, Fraction(1, rate)
            packets += aout.encode(fr)
        packets += aout.encode(None)
        for pkt in inp.demux(vin):
            if pkt.dts is not None:
                pkt.stream = vout
                packets.append(pkt)
        packets.sort(key=lambda p: float(p.dts * p.time_base))
        for pkt in packets:
            out.mux(pkt)


_RIGS: list = []  # per worker process: the actors' rigs, sent once by the pool's initializer


def _set_rigs(rigs: list) -> None:
    _RIGS[:] = rigs


#: the random streams of a clip's voice ``[seed, clip, _VOICE]`` and of an actor's own voice
#: ``[seed, actor, _ACTOR, 1]``, apart from a clip's pictures ``[seed, clip]`` (trailing zeros
#: would not tell them apart): the pictures stay the same whatever the voice
_VOICE, _ACTOR = 1, 2


def teaching_voice(cfg: TeachingConfig, index: int, label: str, actors: int) -> Voice:
    """The voice of clip ``index`` (of class ``label``) of a teaching set with ``actors`` actors,
    as :func:`make_teaching_set` writes it: its actor is ``index % actors``. Needs no picture."""
    actor = index % actors
    return speak_clip(actor_voice(np.random.default_rng([cfg.seed, actor, _ACTOR, 1])), label, cfg,
                      np.random.default_rng([cfg.seed, index, _VOICE]))


#: the random stream of :func:`class_voices` ``[seed, actor, _HEAR]``: apart from every clip's and actor's
_HEAR = 3


def _track(label: str, voice: Voice):
    from ..video import AudioTrack

    return AudioTrack(f"{label} (synthesised)", voice.audio, rate=voice.fs)


@dataclass
class ClassVoice:
    """One class's voice as the teaching set synthesises it, what was planted in it, and what
    openSMILE reads from it at a record's frames (what a model reads)."""

    label: str
    voice: Voice              # the samples (``voice.audio`` at ``voice.fs``) and what was planted: the F0
                              # contour ``voice.f0`` at ``voice.f0_times``, ``voice.prosody``, ``voice.truth()``
    times: np.ndarray         # (T,) the frames' times (s), ``fps`` a second from 0
    fps: float
    descriptors: np.ndarray   # (T, 25) eGeMAPS descriptors averaged over each frame, as a feature record holds
                              # them (``features.voice.align``; NaN outside speech)
    speech: np.ndarray        # (T,) bool: the frame holds speech

    @property
    def track(self):
        """The samples as an :class:`~emojax.video.AudioTrack` (for ``wav_bytes``)."""
        return _track(self.label, self.voice)

    @property
    def loudness(self) -> np.ndarray:
        """(T,) openSMILE's loudness per frame (NaN outside speech)."""
        from ..features.voice import prosody

        return prosody(self.descriptors)[0]

    @property
    def f0_hz(self) -> np.ndarray:
        """(T,) openSMILE's F0 per frame, Hz (NaN outside speech and on frames with no voiced 10 ms)."""
        from ..features.voice import prosody

        return prosody(self.descriptors)[1]

    def summary(self) -> dict:
        """The numbers the Signals page shows of a record's voice (``features.voice.summary``)."""
        from ..features.voice import summary

        return summary(self.descriptors, self.speech, self.fps, {"voice": {"status": "present"}})


def class_voices(labels: Sequence[str], voice_info: float, *, actor: int = 0, seconds: float = 4.0,
                 seed: int = 0, fps: float = 30.0) -> list[ClassVoice]:
    """One utterance of each class in ``labels``, by teaching actor ``actor`` (its own voice, as
    in a teaching set of ``seed``), at ``voice_info``: synthesised as :func:`speak_clip` does, then
    read by openSMILE (:mod:`emojax.features.voice`) at ``fps`` frames a second. Raises
    ``ValueError`` for a class not in :data:`TEACHING_CLASSES` or ``voice_info`` outside 0..1.

    Every class draws the same clip-to-clip variation (one random stream for all), so the
    utterances differ by the classes' :data:`VOICE_PROFILES` alone: at ``voice_info`` 0 they are
    the same samples. (In a teaching set each clip also varies around its class.)"""
    from ..features.voice import align, descriptors

    unknown = [c for c in labels if c not in VOICE_PROFILES]
    if unknown:
        raise ValueError(f"class_voices: unknown classes {unknown}; the teaching classes are {list(VOICE_PROFILES)}")
    cfg = TeachingConfig(seconds=seconds, fps=fps, voice_info=voice_info, seed=seed)
    own = actor_voice(np.random.default_rng([seed, actor, _ACTOR, 1]))
    times = np.arange(int(round(seconds * fps))) / fps
    out = []
    for label in labels:
        voice = speak_clip(own, label, cfg, np.random.default_rng([seed, actor, _HEAR]))
        out.append(ClassVoice(label, voice, times, float(fps), *align(*descriptors(_track(label, voice)), times, fps)))
    return out


def _write_clip(out: Path, cfg: TeachingConfig, index: int, label: str, k: int) -> tuple[str, str, str]:
    """Render and write clip ``index`` (its own random streams, so clips need no order)."""
    group, rig = _RIGS[index % len(_RIGS)]    # every class sees every actor alike
    frames, truth = render_clip(rig, label, cfg, np.random.default_rng([cfg.seed, index]))
    voice = teaching_voice(cfg, index, label, len(_RIGS))
    name = f"{label}_{k:03d}"
    write_video(out / f"{name}.mp4", frames, cfg.fps, voice.audio, voice.fs)
    atomic_write_json(out / f"{name}.json", {**truth, "group": group,
                                             "voice": {**voice.truth(), "voice_info": cfg.voice_info}})
    return f"{name}.mp4", label, group


def make_teaching_set(out: str | os.PathLike, config: TeachingConfig | None = None, *,
                      faces: Sequence[str | os.PathLike] | None = None, workers: int | None = None,
                      progress: Callable[[int], None] | None = None) -> Path:
    """Write the teaching set into ``out``: ``<class>_<nnn>.mp4`` + ``.json`` ground truth,
    ``manifest.csv`` (path,label,group) and ``config.json``. Returns the manifest's path.

    ``workers`` processes render clips in parallel (default: all cores; the clips are the
    same whatever the number). ``progress`` is called with 1 after each clip.
    """
    from ..procs import process_pool

    cfg = config or TeachingConfig()
    out = check_writable(out, "teaching set")
    sources = list(faces) if faces else [None]
    rigs = []
    for s_i, src in enumerate(sources):
        rgb = load_face(src)
        pts = _face_landmarks(rgb, "astronaut" if src is None else str(src))
        for v in range(cfg.groups):
            img, p = _actor(rgb, pts, cfg.size, v)
            rigs.append((f"face{s_i}-v{v}", make_rig(img, p)))
    jobs = [(label, k) for label in TEACHING_CLASSES for k in range(cfg.clips_per_class)]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    rows: list = [None] * len(jobs)
    if workers == 1:
        _set_rigs(rigs)
        for i, (label, k) in enumerate(jobs):
            rows[i] = _write_clip(out, cfg, i, label, k)
            if progress is not None:
                progress(1)
    else:  # workers from a fork server: safe whatever threads (OpenCV, JAX) the caller runs
        with process_pool(workers, initializer=_set_rigs, initargs=(rigs,)) as pool:
            futures = {pool.submit(_write_clip, out, cfg, i, label, k): i for i, (label, k) in enumerate(jobs)}
            for fut, i in futures.items():
                rows[i] = fut.result()
                if progress is not None:
                    progress(1)
    atomic_write_json(out / "config.json", asdict(cfg))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "group"])
    w.writerows(rows)
    manifest = out / "manifest.csv"
    atomic_write_bytes(manifest, buf.getvalue().encode())
    return manifest
