"""Live extraction: a camera's frames pushed one at a time, the last seconds kept.

:class:`LiveFeatures` is the streaming entry point. Each frame goes through the extractor's own
tracker, landmark predictor and colour ROI (:meth:`emojax.features.Extractor.stream`, the code
that reads files), and comes back with what the tracker made of it (drawn on the frame by
:mod:`emojax.features.drawing`). The rows of the last ``keep_s`` seconds are kept in a buffer
that is trimmed as frames arrive, so memory does not grow with the length of the stream;
:meth:`LiveFeatures.window` gives any recent span as an ordinary :class:`Features` record (on a
uniform grid when frames came unevenly or were dropped), ready for the heart rate and the
emotion models. Safe to push from one thread and read from another.

The microphone beside the camera: :meth:`LiveFeatures.push_audio` takes audio frames as they
come (PyAV ``AudioFrame``s of any rate, layout and sample format), turns them into mono 16 kHz
samples with FFmpeg's resampler as the file reader does (:mod:`emojax.video.audio`), and keeps
the last seconds of them on the stream's clock. A window then carries the voice of its own
samples, read by the code that reads a file's (:func:`.voice.attach`: openSMILE's eGeMAPS
descriptors over the window's audio, averaged over each frame's interval, with the speech
mask), so a live window and a file give the same voice for the same samples. Audio that comes
with a gap (a packet lost) starts a new part rather than being glued on: no sample is made up,
and the gap is no speech. No audio at all (no microphone, or it was not allowed): the window's
voice is absent, and says so.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import av
import numpy as np

from ..video import AUDIO_RATE, AudioTrack
from .pipeline import Extractor
from .record import Features
from .timing import regular
from .voice import align, attach, descriptors, short_of, verdict

#: an audio frame further than this from where the last one ended (seconds of the stream) starts
#: a new part (a packet lost, the microphone switched): a quarter of a WebRTC audio packet
AUDIO_GAP_S = 0.005
#: what a window's voice says when no audio came with the frames
NO_AUDIO = "no audio came with the frames (no microphone, or it was not allowed)"
#: the name a live window's audio goes by in its record (``source["voice"]``)
LIVE_AUDIO = "live audio"


@dataclass
class LiveStep:
    """What the tracker made of one frame: its time, and (when a face is on it) the 68
    landmarks, the face box and the skin patches whose colour is the pulse."""

    time: float
    landmarks: np.ndarray | None = None     # (68, 2) pixels
    box: np.ndarray | None = None           # (x0, y0, x1, y1)
    skin: list | None = None                # polygons (float pixels), SKIN_PATCHES order

    @property
    def face(self) -> bool:
        return self.landmarks is not None


@dataclass(frozen=True)
class RegularWindow:
    """A recent span of the stream on a uniform grid, and where the frames processed had a face."""

    features: Features          # the rows on a uniform grid at the stream's rate (:func:`~.timing.regular`)
    face_seen: np.ndarray       # (T,) bool: the frame processed nearest each grid point had a face (where
                                # frames were dropped the values are missing, but no face was lost)


class LiveFeatures:
    """Frames in, one at a time; the last ``keep_s`` seconds of rows kept."""

    def __init__(self, extractor: Extractor, *, keep_s: float = 30.0):
        self.extractor = extractor
        self.keep_s = float(keep_s)
        self._stream = extractor.stream(expected=int(self.keep_s * 30) + 64)
        self._lock = threading.Lock()
        self._clock: deque = deque(maxlen=90)     # wall-clock seconds at which frames were done
        self.processed = 0                        # frames processed
        self.skipped = 0                          # frames the caller dropped (see :meth:`skip`)
        self._audio: list[_AudioPart] = []        # the audio kept, in parts without a gap, oldest first
        self.audio_frames = 0                     # audio frames taken

    def push(self, frame) -> LiveStep:
        """Process one frame (an object with ``bgr`` and ``time`` in seconds, as
        :class:`emojax.video.Frame`); what the tracker made of it."""
        with self._lock:
            s = self._stream
            i = s.push(frame)
            step = LiveStep(float(frame.time))
            face = s.face(i)
            if face is not None:
                step.landmarks, step.box = face
                step.skin = s.skin_polygons()      # the smoothed points the colour was read under
            times = s.times
            if times[-1] - times[0] > 2 * self.keep_s:      # trimmed now and then, not per frame
                s.forget(int(np.searchsorted(times, times[-1] - self.keep_s)))
            self.processed += 1
            self._clock.append(time.monotonic())
        return step

    def push_audio(self, frame: av.AudioFrame, time: float | None = None) -> bool:
        """Take one audio frame (any rate, layout and sample format), its first sample at
        ``time`` seconds of the stream's clock (None: the frame's own time, or, when it has none,
        right after the last frame). False when nothing tells where it lies (not kept)."""
        t = frame.time if time is None else time
        with self._lock:
            part = self._audio[-1] if self._audio else None
            if part is None or not part.takes(frame, t):
                if t is None:
                    return False
                if part is not None:
                    part.finish()
                part = _AudioPart(float(t), frame)
                self._audio.append(part)
            part.add(frame)
            self.audio_frames += 1
            self._trim_audio()
        return True

    def _trim_audio(self) -> None:
        """Keep about ``keep_s`` seconds of audio (trimmed now and then, not per frame)."""
        last = self._audio[-1]
        end = last.first + last.n / AUDIO_RATE
        while len(self._audio) > 1 and self._audio[0].first + self._audio[0].n / AUDIO_RATE < end - self.keep_s:
            self._audio.pop(0)
        for part in self._audio:
            if part.first < end - 2 * self.keep_s:
                part.forget(end - self.keep_s)

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio kept (every part)."""
        with self._lock:
            return sum(p.n for p in self._audio) / AUDIO_RATE

    def audio(self, start: float, end: float) -> list[AudioTrack]:
        """The audio kept of ``[start, end)`` seconds of the stream, one track per part without a
        gap that reaches into it (mono, :data:`~emojax.video.AUDIO_RATE`), oldest first."""
        with self._lock:
            parts = [p.track() for p in self._audio
                     if p.first < end and p.first + p.n / AUDIO_RATE > start]
        return [t.cut(start, end) for t in parts]

    def skip(self, n: int = 1) -> None:
        """Count frames that arrived while the last was still being processed and were dropped."""
        with self._lock:
            self.skipped += n

    @property
    def processing_fps(self) -> float:
        """Frames processed per second of wall-clock time, over the last ~90 frames (how fast this
        machine keeps up; the stream's own rate is :attr:`rate`)."""
        with self._lock:
            c = list(self._clock)
        return (len(c) - 1) / (c[-1] - c[0]) if len(c) > 1 and c[-1] > c[0] else 0.0

    @property
    def rate(self) -> float:
        """The frame rate of the rows kept (frames per second of stream time; 0 before two)."""
        with self._lock:
            times = self._stream.times
        return _rate(times) or 0.0

    def window(self, seconds: float | None = None, *, grid: bool = True, voice: bool = True) -> Features | None:
        """The last ``seconds`` (None: everything kept) as a :class:`Features` record: rows on a
        uniform grid at the rate the frames came (a dropped frame is a gap, and a gap too long
        to bridge stays missing); ``grid=False``: the rows of the frames processed, as they
        came. With ``voice``, the voice of the audio kept over the window's span, read at its
        final times as a file's is (absent, and said, when no audio came). None before any
        frame."""
        with self._lock:
            s = self._stream
            t = s.times
            if len(t) == 0:
                return None
            a = 0 if seconds is None else int(np.searchsorted(t, t[-1] - seconds, side="left"))
            f = s.record(_rate(t[a:]) or 30.0, start=a)
        f.source["live"] = True
        f = regular(f) if grid else f
        return self._with_voice(f) if voice else f

    def _with_voice(self, f: Features) -> Features:
        """``f`` with the voice of the audio kept over its span (:func:`.voice.attach`, the file's
        code; several parts: :func:`_voice_of_parts`)."""
        a, b = float(f.times[0]), float(f.times[-1]) + 1.0 / f.fps
        tracks = [t for t in self.audio(a, b) if len(t.samples)]
        if len(tracks) == 1:
            return attach(f, tracks[0])
        if not tracks:
            f = attach(f, AudioTrack(LIVE_AUDIO, np.zeros(0, np.float32), status="absent"))
            f.source["voice"]["reason"] = NO_AUDIO if not self.audio_frames else \
                f"no audio in the window's {b - a:.2f} s (the last came before it)"
            return f
        try:
            f.voice, f.speech, f.source["voice"] = _voice_of_parts(tracks, f.times, f.fps)
        except Exception as e:     # openSMILE failed: no voice, said; the face and pulse stand
            f = attach(f, AudioTrack(LIVE_AUDIO, np.zeros(0, np.float32), status="absent"))
            f.source["voice"]["reason"] = f"its voice could not be read ({type(e).__name__}: {e})"
        return f

    def regular_window(self, seconds: float | None = None) -> RegularWindow | None:
        """The last ``seconds`` on a uniform grid (as :meth:`window`), with where the frame
        processed nearest each grid point had a face: a frame dropped is a gap in the values,
        not a face lost. None before two frames."""
        raw = self.window(seconds, grid=False, voice=False)
        if raw is None or len(raw) < 2:
            return None
        found = raw.face_found
        w = regular(raw)
        near = np.clip(np.searchsorted(raw.times, w.times), 1, len(raw) - 1)
        near -= (w.times - raw.times[near - 1]) < (raw.times[near] - w.times)   # the nearer of the two
        return RegularWindow(w, found[near])


class _AudioPart:
    """Audio frames that came without a gap, as mono samples at :data:`~emojax.video.AUDIO_RATE`
    (one FFmpeg resampler for the part, as a file's whole track has one), the first kept at
    ``first`` seconds of the stream."""

    def __init__(self, start: float, frame: av.AudioFrame):
        self.start = self.first = start          # the part's first sample in, and the first kept
        self.kind = (frame.sample_rate, frame.layout.name, frame.format.name)
        self.channels = len(frame.layout.channels)
        self.received = 0                        # input samples taken (per channel)
        self.chunks: list[np.ndarray] = []
        self.n = 0                               # output samples kept
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)

    def takes(self, frame: av.AudioFrame, t: float | None) -> bool:
        """``frame`` goes on this part: same rate, layout and format, and starting where the last
        ended (or with no time of its own)."""
        if self._resampler is None or (frame.sample_rate, frame.layout.name, frame.format.name) != self.kind:
            return False
        return t is None or abs(t - (self.start + self.received / self.kind[0])) <= AUDIO_GAP_S

    def add(self, frame: av.AudioFrame) -> None:
        self._keep(self._resampler.resample(frame))
        self.received += frame.samples

    def finish(self) -> None:
        """The part ends: the resampler's last samples flushed (as the file reader does at a track's end)."""
        if self._resampler is not None:
            self._keep(self._resampler.resample(None))
            self._resampler = None

    def _keep(self, frames) -> None:
        for o in frames:
            x = o.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            self.chunks.append(x)
            self.n += len(x)

    def forget(self, before: float) -> None:
        """Drop the samples before ``before`` seconds of the stream."""
        x = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        k = int(np.clip(np.floor((before - self.first) * AUDIO_RATE), 0, len(x)))
        self.chunks, self.n = [x[k:]], len(x) - k
        self.first += k / AUDIO_RATE

    def track(self) -> AudioTrack:
        """The samples kept, as a track on the stream's clock (copied)."""
        x = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        self.chunks = [x]                        # joined once, not at every read
        rate, _, fmt = self.kind
        return AudioTrack(LIVE_AUDIO, x.copy(), start=self.first, codec=f"raw {fmt}", source_rate=rate,
                          channels=self.channels)


def _voice_of_parts(tracks: list[AudioTrack], times: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """The voice of a window whose audio came in parts with gaps between them: each part's
    descriptors as a file's (:func:`.voice.descriptors`), averaged over each frame's interval
    together (:func:`.voice.align`); a gap holds no descriptor frame, so no speech; the window
    is "partial" when the parts cover less of it than a whole track would have to."""
    d = [descriptors(t) for t in tracks]
    voice, speech = align(np.concatenate([x[0] for x in d]), np.concatenate([x[1] for x in d]), times, fps)
    a, b = float(times[0]), float(times[-1]) + 1.0 / fps
    covered = sum(t.covered(a, b) for t in tracks)
    info = {**tracks[-1].to_source(), "track_start": round(tracks[0].start, 4), "parts": len(tracks),
            "covered_s": round(covered, 3), "video_s": round(b - a, 3),
            "speech_s": round(float(speech.sum()) / fps, 3)}
    reasons = [f"the audio covers {covered:.2f} s of the {b - a:.2f} s of frames, in {len(tracks)} parts with "
               "gaps between them"] if short_of(a, b, covered, fps) else []
    info.update(verdict(reasons, speech, fps))
    return voice, speech, info


def _rate(times: np.ndarray) -> float | None:
    """Frames per second of stream time: one over the median interval (None before two frames)."""
    d = np.diff(times)
    d = d[d > 0]
    return 1.0 / float(np.median(d)) if len(d) else None
