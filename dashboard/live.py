"""One visitor's live stream: the frames streamlit-webrtc hands over, processed by the library's
streaming extractor (:class:`emojax.features.live.LiveFeatures`) and drawn on
(:mod:`emojax.features.drawing`); the microphone's audio beside them; the rolling pulse,
heart rate, voice and emotion the Live page shows; and the recording the visitor may ask for.

No Streamlit here: :meth:`LiveSession.process` runs on streamlit-webrtc's video processing thread
(never the WebRTC thread: it takes the frames that queued up while the last was being processed,
keeps the newest and counts the rest as dropped), :meth:`LiveSession.process_audio` on its audio
thread (every audio frame is kept: they are cheap), the voice and the emotion on the session's
own thread (:meth:`LiveSession.follow`: loaded and compiled before START, never making the page
wait), and the page's timed fragment shows what they hold from the script thread. Everything is
per visitor and freed by :meth:`LiveSession.close`.

The browser's audio and video come on clocks of their own (each RTP stream starts its timestamps
anywhere), so the audio is placed on the video's clock once, at its first frame, by the moment
it arrived against the moment the newest video frame was taken for processing: the two agree
to within the network's jitter plus that frame's wait in the queue (at most one frame's
processing while the server keeps up: tens of milliseconds, about one frame's interval of
voice averaging; not measured against a reference).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from emojax.explain.importance import FUSED
from emojax.features import Extractor, vitals, voice
from emojax.features.drawing import caption, draw
from emojax.features.live import LiveFeatures
from emojax.video import Frame

#: seconds of pulse shown, and heart rate read from
PULSE_S = 10.0
#: the longest recording, in seconds (then it stops by itself)
MAX_RECORD_S = 120.0
#: seconds of voice shown (loudness, F0, speech share), and how often they are read again
VOICE_S = 10.0
VOICE_EVERY_S = 2.0
#: the recording's audio: AAC at this rate, mono
RECORD_AUDIO_RATE = 48000
#: seconds between two emotion windows, and the windows kept
EMOTION_EVERY_S = 2.0
HISTORY = 60
#: how a window's modality shares are computed (emojax.explain.importance.explain_video's settings):
#: the fused models, one permutation of each modality against 16 of the run's tested videos
SHARES = dict(models=FUSED, groupings=("modality",), gradients=False, n_repeats=1,
              background=16)


class Recorder:
    """Frames as they arrive, encoded at once (H.264 in MP4, their own times kept) into ``path``,
    and with ``audio`` the microphone's beside them (AAC, on the same clock, from the first video
    frame on): nothing but the file is held in memory, and nothing is written unless recording.
    The video and audio threads both write: one lock keeps the file whole."""

    def __init__(self, path: Path, *, audio: bool = False):
        self.path = Path(path)
        self._out = av.open(str(self.path), "w", format="mp4")
        self._lock = threading.Lock()
        self._audio = audio
        self._stream = self._astream = self._resampler = None
        self._t0: float | None = None
        self._last = -1
        self._next_audio: int | None = None      # the next audio sample's pts (1 / RECORD_AUDIO_RATE)
        self.frames = 0
        self.audio_samples = 0
        self._closed = False

    def write(self, frame: av.VideoFrame, t: float) -> bool:
        """Add one frame; False once the recording is full."""
        with self._lock:
            return self._closed or self._write(frame, t)

    def write_audio(self, frame: av.AudioFrame, t: float) -> None:
        """Add one audio frame whose first sample is at ``t`` seconds of the video's clock (before
        the first video frame, or past the longest recording: not kept)."""
        with self._lock:
            if self._closed or self._astream is None or t < self._t0 or t - self._t0 > MAX_RECORD_S:
                return
            pts = int(round((t - self._t0) * RECORD_AUDIO_RATE))
            if self._next_audio is None or abs(pts - self._next_audio) > 0.1 * RECORD_AUDIO_RATE:
                self._next_audio = pts              # the first, or after a gap: where it lies
            for o in self._resampler.resample(frame):
                o.pts, o.time_base = self._next_audio, Fraction(1, RECORD_AUDIO_RATE)
                self._next_audio += o.samples
                self.audio_samples += o.samples
                for p in self._astream.encode(o):
                    self._out.mux(p)

    def _write(self, frame: av.VideoFrame, t: float) -> bool:
        if self._t0 is None:
            self._t0 = t
            s = self._stream = self._out.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = frame.width - frame.width % 2, frame.height - frame.height % 2, "yuv420p"
            s.codec_context.time_base = Fraction(1, 1000)
            s.options = {"preset": "veryfast", "tune": "zerolatency"}
            if self._audio:       # added with the video, before anything is written
                self._astream = self._out.add_stream("aac", rate=RECORD_AUDIO_RATE, layout="mono")
                self._resampler = av.AudioResampler(format="fltp", layout="mono", rate=RECORD_AUDIO_RATE)
        pts = int(round((t - self._t0) * 1000))
        if pts <= self._last:
            return True
        if t - self._t0 > MAX_RECORD_S:
            return False
        img = frame.reformat(width=self._stream.width, height=self._stream.height, format="yuv420p")
        if img is frame:        # nothing to convert: PyAV hands back the frame itself, whose time is not ours to change
            img = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
        img.pts, img.time_base = pts, Fraction(1, 1000)
        for p in self._stream.encode(img):
            self._out.mux(p)
        self._last = pts
        self.frames += 1
        return True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stream is not None:
                for p in self._stream.encode():
                    self._out.mux(p)
            if self._astream is not None:
                for p in self._astream.encode():
                    self._out.mux(p)
            self._out.close()


@dataclass
class Snapshot:
    """What the page shows, read once a second."""

    processed: int
    skipped: int
    processing_fps: float       # frames the server processed per second (not the stream's rate)
    face: bool
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pulse: np.ndarray = field(default_factory=lambda: np.zeros(0))
    face_found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    heart: dict | None = None
    latency_ms: float | None = None


class LiveSession:
    """One visitor's stream."""

    def __init__(self, extractor: Extractor, *, keep_s: float = 30.0):
        self.live = LiveFeatures(extractor, keep_s=keep_s)
        self._lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._face = False
        self._busy_s: deque = deque(maxlen=60)   # seconds each processed frame took here
        self.history: list[dict] = []           # emotion windows: {"t", "proba": {model: {class: p}}, "shares"}
        self.closed = False
        self._video_clock: tuple[float, float] | None = None   # (monotonic seconds, video time) of the newest frame
        self._audio_shift: float | None = None  # audio clock -> video clock (set at the first audio frame)
        self._voice: dict | None = None
        self._voice_at = -float("inf")
        self._run: tuple = (None, None, None)   # (key, models, data) of the run followed: see follow()
        self._emotion_at = -float("inf")
        self.emotion_error: Exception | None = None   # why the run loaded gives no emotion (shown on the page)
        self.loaded: str | None = None          # the run whose models are loaded and compiled (or failed)
        self._worker = threading.Thread(target=self._work, args=(weakref.ref(self),), name="emojax-live", daemon=True)
        self._worker.start()
        # openSMILE takes seconds to import and build: built as the page opens, while the visitor reads
        # it, not beside the stream's first frames (on two cores those seconds would be theirs)
        threading.Thread(target=voice.smile, name="emojax-opensmile", daemon=True).start()

    # --- streamlit-webrtc's processing thread -------------------------------------------------
    def process(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """The frames queued since the last call: the newest is processed and returned drawn on;
        the others are dropped (counted), so the stream never falls behind."""
        if self.closed or not frames:
            return frames[-1:]
        start = time.perf_counter()
        times = [_seconds(f) for f in frames]
        self._video_clock = (time.monotonic(), times[-1])
        with self._lock:
            rec = self._recorder
        if rec is not None:
            for f, t in zip(frames, times):
                if not rec.write(f, t):
                    self.stop_recording()
                    break
        self.live.skip(len(frames) - 1)
        f = frames[-1]
        bgr = f.to_ndarray(format="bgr24")
        step = self.live.push(Frame(self.live.processed, times[-1], bgr))
        self._face = step.face
        out = caption(draw(bgr, step), f"{self.live.processing_fps:.0f} fps" + ("  REC" if rec is not None else ""))
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        self._busy_s.append(time.perf_counter() - start)
        return [new]

    async def process_queued(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """:meth:`process` in the form streamlit-webrtc's ``queued_video_frames_callback`` takes."""
        return self.process(frames)

    def process_audio(self, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        """The audio frames queued since the last call, each kept (and recorded when recording);
        silence goes back in their place, so the visitor does not hear themselves."""
        if self.closed or not frames:
            return [_silent(f) for f in frames]
        if self._audio_shift is None:
            if self._video_clock is None or frames[0].time is None:
                return [_silent(f) for f in frames]           # no video yet to place it against
            arrived, video_t = self._video_clock
            self._audio_shift = video_t + (time.monotonic() - arrived) - float(frames[0].time)
        with self._lock:
            rec = self._recorder
        for f in frames:
            t = None if f.time is None else float(f.time) + self._audio_shift
            if self.live.push_audio(f, t) and rec is not None and t is not None:
                rec.write_audio(f, t)
        return [_silent(f) for f in frames]

    async def process_audio_queued(self, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        """:meth:`process_audio` in the form streamlit-webrtc's ``queued_audio_frames_callback`` takes."""
        return self.process_audio(frames)

    @property
    def has_audio(self) -> bool:
        """Audio has come with the frames (the microphone is on)."""
        return self._audio_shift is not None

    def ended(self) -> None:
        """The stream ended (the visitor pressed stop, left, or the connection dropped)."""
        self.close()

    # --- the page's script thread ------------------------------------------------------------
    def snapshot(self, method: str = vitals.DEFAULT_METHOD) -> Snapshot:
        """The last ``PULSE_S`` seconds: the pulse trace, the heart rate and its quality."""
        live = self.live
        snap = Snapshot(processed=live.processed, skipped=live.skipped, processing_fps=live.processing_fps,
                        face=self._face, latency_ms=1000 * float(np.mean(self._busy_s)) if self._busy_s else None)
        window = live.regular_window(PULSE_S)
        if window is None:
            return snap
        # shaded "no face" where the nearest frame processed had none, not where frames were dropped
        # (there the pulse is missing, a gap in its line)
        w = window.features
        snap.times, snap.face_found = w.times - w.times[0], window.face_seen
        snap.pulse = vitals.pulse_of(w, method)
        snap.heart = vitals.report(w, method, with_hrv=False)
        return snap

    def voice(self) -> dict | None:
        """The voice as last read (:meth:`read_voice`), every :data:`VOICE_EVERY_S` seconds on the
        session's own thread. None before a frame."""
        return self._voice

    def read_voice(self) -> dict | None:
        """The voice of the last :data:`VOICE_S` seconds, read now (openSMILE over the window's
        audio, the code that reads a file's): :func:`emojax.features.voice.summary`, with
        ``said``, its status in words. None before a frame."""
        w = self.live.window(VOICE_S)
        if w is not None:
            self._voice = {**voice.summary(w.voice, w.speech, w.fps, w.source), "said": voice.said(w.source["voice"])}
            self._voice_at = time.monotonic()
        return self._voice if w is not None else None

    # --- the session's own thread: the voice and the emotion, never on the page's thread --------
    def follow(self, key: str | None, models: Callable | None = None, data: Callable | None = None) -> None:
        """Give the emotion of a run beside the stream: ``models()`` returns the run's models,
        ``data()`` the data its explanations are computed against (None: no modality shares).
        ``models()`` is called on the session's own thread at once, before any frame, and what a
        window runs is compiled then (the first emotion needs nothing else): the visitor reads the
        page and presses START meanwhile, so the first window waits for little but its own frames.
        ``data()`` and the explanation's compile follow on another thread once the first emotion is
        shown (the shares follow once they are ready), so as never to slow the first frames. Another ``key`` (another run) starts a new emotion
        history, with :attr:`loaded` set to it once its models are ready (or failed: then
        :attr:`emotion_error`); None follows no run. Only the session's thread changes the
        history and the error, so a window of the run followed before never lands in the new
        one's history."""
        self._run = (key, models, data)

    @staticmethod
    def _work(ref: weakref.ref) -> None:
        """The session's thread: loads the run followed, then reads the voice and the emotion when
        due. It holds the session only weakly between steps, and ends with it (closed, or dropped
        with the visitor's page state). An unexpected error is logged and kept for the page
        (:attr:`emotion_error`), and the thread goes on: the pulse and the voice never stop with it."""
        loaded = trained = None
        asked = False                                # the data asked for (see below)
        explaining: dict = {}                        # run key -> its data once loaded and compiled (or None)
        while (self := ref()) is not None and not self.closed:
            key, models, data = self._run
            try:
                if key != loaded:
                    loaded, trained, asked = key, None, False
                    self.history, self.emotion_error = [], None
                    if models is not None:
                        try:
                            trained = models()
                            trained.compile()
                        except Exception as e:        # shown on the page; the thread goes on with the voice
                            self.emotion_error, trained = e, None
                    self.loaded = key
                # the data and the explanation's compile, once the first emotion is shown: preparing the
                # run's data is seconds of Python holding the interpreter, which, beside the stream's first
                # frames, would starve the thread that reads them (measured: 16 s for the first frame)
                if trained is not None and data is not None and not asked and self.history:
                    asked = True
                    threading.Thread(target=_explaining, args=(explaining, key, data), daemon=True,
                                     name="emojax-live-data").start()
                now = time.monotonic()
                if self.live.processed and now - self._voice_at >= VOICE_EVERY_S:
                    self.read_voice()
                if (trained is not None and self.emotion_error is None and self.live.processed
                        and now - self._emotion_at >= EMOTION_EVERY_S):
                    self._emotion_at = now
                    self.emotion(trained, explaining.get(key))
            except Exception as e:                    # kept for the page, never a silent end of the thread
                logging.getLogger(__name__).exception("the Live page's session thread")
                self.emotion_error, self._voice_at, self._emotion_at = e, time.monotonic(), time.monotonic()
            del self
            time.sleep(0.05)

    def emotion(self, trained, data=None) -> dict | None:
        """The run's models on the last window of the run's input length (normalised as its
        test videos were), appended to :attr:`history` at once; then, given the run's data, that
        window's modality shares, added to its entry. None while the window cannot be predicted
        (too little face). Called on the session's own thread (:meth:`follow`).

        A speaker-relative run takes the landmarks relative to the speaker's mean shape over
        their videos: the stream is one person's, and the window is taken as that speaker's one
        video (its own mean shape), as ``emojax predict --same-speaker`` does with one video and
        as the shares are computed; ``entry["speaker_relative"]`` says so. Any other error of the
        prediction is raised (the session's thread keeps it in :attr:`emotion_error`, for the
        page to show); one of the shares is logged, and the window kept without them."""
        from emojax.errors import NoFaceError
        from emojax.inference import predict_records

        w = self.live.window(max(trained.spec.length / max(self.live.rate, 1.0), 2.0))
        if w is None:
            return None
        try:                                             # refuses a window with too little face
            pred = predict_records([w], trained, same_speaker=trained.speaker_relative)[0]
        except NoFaceError:
            return None
        entry = {"t": float(w.times[-1]), "frames": len(w), "label": pred["label"], "classes": pred["classes"],
                 "proba": {m: v["proba"] for m, v in pred["models"].items()}, "shares": None,
                 "modalities": pred["models"].get("early_fusion", {}).get("modalities"),
                 "voice": voice.said(w.source.get("voice")),
                 "speaker_relative": trained.speaker_relative, "normalisation": pred["normalisation"]}
        self.history = (self.history + [entry])[-HISTORY:]      # shown at once, before its shares
        if data is not None:
            from emojax.explain.importance import explain_video, shares_per_model

            try:
                entry = {**entry, "shares": shares_per_model(explain_video(data, w, **SHARES))}
            except Exception:      # shares are an extra: the emotion goes on without them, the log says why
                logging.getLogger(__name__).exception("no modality shares for a Live window")
                return entry
            self.history = [entry if h["t"] == entry["t"] else h for h in self.history]
        return entry

    def start_recording(self, path: Path) -> None:
        """Record from the next frame on: the video, and the microphone's audio with it when
        audio has come."""
        with self._lock:
            if self._recorder is None:
                self._recorder = Recorder(path, audio=self.has_audio)

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def stop_recording(self) -> tuple[Path, int] | None:
        """Finish the recording: its file and frame count (None when nothing was recorded)."""
        with self._lock:
            rec, self._recorder = self._recorder, None
        if rec is None:
            return None
        rec.close()
        if rec.frames == 0:
            rec.path.unlink(missing_ok=True)
            return None
        return rec.path, rec.frames

    def close(self) -> None:
        """Free everything: the rows kept, the recording (its file is kept only when finished by
        :meth:`stop_recording`)."""
        self.closed = True
        with self._lock:
            rec, self._recorder = self._recorder, None
        if rec is not None:
            rec.close()
            rec.path.unlink(missing_ok=True)
        self.live = LiveFeatures(self.live.extractor, keep_s=1.0)


def compile_shares(data) -> None:
    """Compile what a window's modality shares run (:data:`SHARES`), on one of the run's tested
    videos (``data``, the run's :class:`~emojax.explain.importance.RunData`): the window's shapes,
    so the same code. The dashboard's warm-up calls it as the server starts, so that a Live
    visitor's first shares wait for no compile."""
    from emojax.explain.importance import explain_inputs

    row = np.concatenate(data.fold_rows)[:1]
    explain_inputs(data, {k: v[row] for k, v in data.arrays.items()}, **SHARES)


def _explaining(done: dict, key: str, data: Callable) -> None:
    """``done[key]``: the run's data (``data()``), once a window's modality shares are compiled
    (:func:`compile_shares`); None when the data cannot be had (the emotion is then shown
    without shares)."""
    try:
        d = data()
        if d is not None:
            compile_shares(d)
    except Exception:          # shares are an extra: the emotion goes on without them, the log says why
        logging.getLogger(__name__).exception("no modality shares on the Live page for %s", key)
        d = None
    done[key] = d


def _silent(frame: av.AudioFrame) -> av.AudioFrame:
    """A frame of silence like ``frame`` (its format, layout, rate and length)."""
    out = av.AudioFrame.from_ndarray(np.zeros_like(frame.to_ndarray()), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def _seconds(frame: av.VideoFrame) -> float:
    """A frame's capture time in seconds (the sender's clock), or now when it carries none."""
    return float(frame.time) if frame.time is not None else time.monotonic()
