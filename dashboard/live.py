"""One visitor's live stream: the frames streamlit-webrtc hands over, processed by the library's
streaming extractor (:class:`emojax.features.live.LiveFeatures`) and drawn on
(:mod:`emojax.features.drawing`); the rolling pulse,
heart rate and emotion the Live page shows; and the recording the visitor may ask for.

No Streamlit here: :meth:`LiveSession.process` runs on streamlit-webrtc's processing thread (never
the WebRTC thread: it takes the frames that queued up while the last was being processed, keeps
the newest and counts the rest as dropped), and the page's timed fragment reads the rest from the
script thread. Everything is per visitor and freed by :meth:`LiveSession.close`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from emojax.features import Extractor, vitals
from emojax.features.drawing import caption, draw
from emojax.features.live import LiveFeatures
from emojax.video import Frame

#: seconds of pulse shown, and heart rate read from
PULSE_S = 10.0
#: the longest recording, in seconds (then it stops by itself)
MAX_RECORD_S = 120.0


class Recorder:
    """Frames as they arrive, encoded at once (H.264 in MP4, their own times kept) into ``path``:
    nothing but the file is held in memory, and nothing is written unless recording."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._out = av.open(str(self.path), "w", format="mp4")
        self._stream = None
        self._t0: float | None = None
        self._last = -1
        self.frames = 0

    def write(self, frame: av.VideoFrame, t: float) -> bool:
        """Add one frame; False once the recording is full."""
        if self._t0 is None:
            self._t0 = t
            s = self._stream = self._out.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = frame.width - frame.width % 2, frame.height - frame.height % 2, "yuv420p"
            s.codec_context.time_base = Fraction(1, 1000)
            s.options = {"preset": "veryfast", "tune": "zerolatency"}
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
        if self._stream is not None:
            for p in self._stream.encode():
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

    # --- streamlit-webrtc's processing thread -------------------------------------------------
    def process(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """The frames queued since the last call: the newest is processed and returned drawn on;
        the others are dropped (counted), so the stream never falls behind."""
        if self.closed or not frames:
            return frames[-1:]
        start = time.perf_counter()
        times = [_seconds(f) for f in frames]
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

    def emotion(self, trained, data=None) -> dict | None:
        """The run's models on the last window of the run's input length (normalised as its
        test videos were), and, given the run's data, that window's modality shares; appended
        to :attr:`history`. None while the window cannot be predicted (too little face).

        A speaker-relative run takes the landmarks relative to the speaker's mean shape over
        their videos: the stream is one person's, and the window is taken as that speaker's one
        video (its own mean shape), as ``emojax predict --same-speaker`` does with one video and
        as the shares are computed; ``entry["speaker_relative"]`` says so. Any other library error
        (:class:`emojax.errors.EmojaxError`) is raised, for the page to show."""
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
                 "speaker_relative": trained.speaker_relative, "normalisation": pred["normalisation"]}
        if data is not None:
            from emojax.explain.importance import FUSED, explain_video, shares_per_model

            out = explain_video(data, w, FUSED, groupings=("modality",), gradients=False, n_repeats=1,
                                background=16)
            entry["shares"] = shares_per_model(out)
        self.history = (self.history + [entry])[-60:]
        return entry

    def start_recording(self, path: Path) -> None:
        with self._lock:
            if self._recorder is None:
                self._recorder = Recorder(path)

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


def _seconds(frame: av.VideoFrame) -> float:
    """A frame's capture time in seconds (the sender's clock), or now when it carries none."""
    return float(frame.time) if frame.time is not None else time.monotonic()
