"""Stream RGB frames with timestamps out of a video file, in bounded memory, and say whether
the file was whole.

Anything FFmpeg decodes is read (through PyAV), but only files whose extension is on
``VIDEO_EXTENSIONS`` *and* whose first bytes look like that container: FFmpeg follows
playlists (``.m3u8``) and other indirections, so a renamed text file must never reach it.
Every failure becomes a :class:`VideoError` naming the file. Frames carry their presentation
times. After a full read, :attr:`FrameReader.integrity` says whether the file gave what its
container promised: FFmpeg's own complaints (a corrupt packet, a damaged macroblock) are
captured for this thread only and put into our message, never onto the user's terminal.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.logging
import cv2
import numpy as np

from .errors import VideoError

#: extension -> container family whose magic bytes the file must carry
VIDEO_EXTENSIONS = {
    ".mp4": "isobmff", ".m4v": "isobmff", ".mov": "isobmff",
    ".avi": "riff", ".mpg": "mpeg", ".mpeg": "mpeg",
    ".flv": "flv", ".mkv": "matroska", ".webm": "matroska", ".wmv": "asf",
}

#: a read that yields fewer than this share of the frames the container claims is truncated
COMPLETE_SHARE = 0.9
#: FFmpeg warnings with these words report damage (errors do, but for the benign ones below)
_DAMAGE_WORDS = ("corrupt", "truncat")
#: errors FFmpeg prints for streams that decode fine: a DivX AVI's packed B-frames, an H.264
#: stream that starts (or was cut) between reference frames
_BENIGN = ("packed b frames", "unref short failure", "co located pocs unavailable")


def _sniff(head: bytes) -> str | None:
    """Container family from the first bytes of a file, or None if it is not a known video."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "isobmff"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "riff"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "asf"
    return None


def check_video_file(path: str | os.PathLike) -> Path:
    """Refuse anything that is not an existing, non-empty video of an allowed type.

    Raises:
        VideoError: naming the file and the problem.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if not p.is_file():
        raise VideoError(f"{p}: not a regular file")
    ext = p.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        allowed = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise VideoError(f"{p}: extension {ext or '(none)'!r} is not a video type we read ({allowed})")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes)")
    with open(p, "rb") as fh:
        head = fh.read(32)
    kind = _sniff(head)
    if kind is None:
        what = "a playlist" if head.lstrip().startswith(b"#EXT") else "not a video"
        raise VideoError(f"{p}: {what} (its first bytes match no video container); refusing to open it")
    if kind != VIDEO_EXTENSIONS[ext]:
        raise VideoError(f"{p}: named {ext} but its content is a {kind} container; rename it to match")
    return p


_LOGS_ROUTED = False


def _route_ffmpeg_logs() -> None:
    """Let FFmpeg's warnings reach PyAV (so that they can be captured per thread), and keep
    whatever is not captured off the terminal (Python's ``libav`` logger gets a null handler)."""
    global _LOGS_ROUTED
    if not _LOGS_ROUTED:
        av.logging.set_level(av.logging.WARNING)
        av.logging.set_skip_repeated(False)
        log = logging.getLogger("libav")
        log.addHandler(logging.NullHandler())
        log.propagate = False
        _LOGS_ROUTED = True


def _ffmpeg_message(e: Exception) -> str:
    """FFmpeg's words from a PyAV exception, without the file name it repeats."""
    msg = getattr(e, "strerror", None) or str(e)
    last = getattr(e, "log", None)
    if last and len(last) >= 3 and last[2]:
        msg += f" ({last[1]}: {last[2].strip()})"
    return msg


@dataclass(frozen=True)
class VideoInfo:
    """What the container claims about a video (the frame count and duration are only claims)."""

    path: str
    width: int
    height: int
    fps: float
    frame_count_claimed: int   # 0 when the container does not say
    duration_claimed: float = float("nan")  # seconds of video the container claims (NaN: unknown)
    frames_stated: bool = False  # the container keeps a frame count (else it is duration x rate: an
                                 # estimate that a variable frame rate makes wrong)


def _open(path: Path):
    _route_ffmpeg_logs()
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: FFmpeg cannot open it: {_ffmpeg_message(e)} "
                         "(corrupt, truncated or not a video?)") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: the file holds no video stream")
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1  # FFmpeg then logs from this thread only: captured as ours
    return container, stream


def _rate(stream) -> float:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r and 0.5 <= float(r) <= 1000:
            return float(r)
    return float("nan")


def _info(path: Path, container, stream) -> VideoInfo:
    """The container's claims: the video stream's frame count if it keeps one (AVI, MP4), else
    its duration, else the whole container's duration (MPEG-PS, FLV: estimated or metadata)."""
    fps = _rate(stream)
    if stream.frames and math.isfinite(fps):
        duration = stream.frames / fps
    elif stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = float("nan")
    claimed = stream.frames or (int(round(duration * fps)) if math.isfinite(duration * fps) else 0)
    ctx = stream.codec_context
    return VideoInfo(str(path), int(ctx.width or 0), int(ctx.height or 0), fps, int(claimed), duration,
                     bool(stream.frames))


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open a video and report its size, frame rate and claimed frame count and duration."""
    p = check_video_file(path)
    container, stream = _open(p)
    try:
        return _info(p, container, stream)
    finally:
        container.close()


@dataclass(frozen=True)
class Integrity:
    """Whether a read gave the whole of what was asked.

    ``status``: ``"complete"``; ``"truncated"`` (clearly fewer frames than the container claims
    for the span read, or the file ends inside a packet); ``"damaged"`` (the decoder or demuxer
    reported corrupt data). ``messages``: FFmpeg's own words, first few, without repeats.
    """

    status: str
    frames_read: int
    frames_expected: int | None   # what the container's claims promise for the span read
    messages: tuple[str, ...] = field(default=())
    seconds_read: float | None = None      # when the container keeps no frame count: the span of
    seconds_expected: float | None = None  # the frames read, against the duration it claims

    @property
    def partial(self) -> bool:
        return self.status != "complete"

    def describe(self) -> str:
        """One sentence: what is wrong (empty when complete)."""
        if not self.partial:
            return ""
        short = self.frames_expected is not None and self.frames_read < self.frames_expected
        count = (f"read {self.frames_read} frames covering {self.seconds_read:.2f} s of the "
                 f"{self.seconds_expected:.2f} s its container claims" if self.seconds_expected is not None
                 else f"read {self.frames_read} of the {self.frames_expected} frames its container claims" if short
                 else f"read {self.frames_read} frames")
        said = f"; FFmpeg says: {'; '.join(self.messages[:3])}" if self.messages else ""
        return f"{self.status}: {count}{said}"

    def to_dict(self) -> dict:
        out = {"status": self.status, "frames_read": self.frames_read,
               "frames_expected": self.frames_expected, "messages": list(self.messages)}
        if self.seconds_expected is not None:
            out.update(seconds_read=self.seconds_read, seconds_expected=self.seconds_expected)
        return out


def _assess(read: int, expected: int | None, logs: list, stopped_by: str | None,
            seconds: tuple[float, float] | None = None) -> Integrity:
    """``seconds``: (span read, span claimed) when the claim is a duration rather than a count."""
    messages, damage = [], False
    for level, name, text in logs:
        text = f"{name}: {text.strip()}"
        low = text.lower()
        bad = (level <= av.logging.ERROR or any(w in low for w in _DAMAGE_WORDS)) and not any(b in low for b in _BENIGN)
        damage |= bad
        if bad and text not in messages:
            messages.append(text)
    if stopped_by:
        messages.insert(0, stopped_by)
    if seconds is not None:
        got, want = seconds
        short = got < COMPLETE_SHARE * want and want - got >= 3 * want / max(expected or 1, 1)
    else:
        short = expected is not None and read < COMPLETE_SHARE * expected and expected - read >= 3
    trunc = short or any("truncat" in m.lower() or ("corrupt" in m.lower() and "packet" in m.lower()) for m in messages)
    status = "damaged" if stopped_by else "truncated" if trunc else "damaged" if damage else "complete"
    got, want = seconds if seconds is not None else (None, None)
    return Integrity(status, read, expected, tuple(messages[:8]), got, want)


@dataclass
class Frame:
    """One decoded frame. ``bgr`` is OpenCV's native order; ``rgb`` converts on demand."""

    index: int      # position among the frames yielded (0, 1, ...)
    time: float     # seconds from the start of the video stream (its presentation time)
    bgr: np.ndarray  # (H, W, 3) uint8

    @property
    def rgb(self) -> np.ndarray:
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2RGB)


def _check_span(path: Path, start: float | None, end: float | None) -> None:
    if start is not None and start < 0:
        raise VideoError(f"{path}: start {start} s is negative")
    if start is not None and end is not None and end <= start:
        raise VideoError(f"{path}: end {end} s is not after start {start} s")


class FrameReader:
    """Iterate the frames of ``path`` between ``start`` and ``end`` seconds, optionally resampled.

    Only one decoded frame is alive at a time, so memory does not grow with the video's length.
    After iteration, ``frames_read`` counts what was decoded and yielded, and ``integrity``
    says whether that is the whole of the span asked for (a damaged file still yields what
    it has; the caller decides whether partial data is acceptable).

    Args:
        path: the video file.
        start: first second to keep (None: from the beginning).
        end: second at which to stop (None: to the end).
        fps: keep frames at about this rate (None: every frame). Must not exceed the source rate.
    """

    def __init__(self, path: str | os.PathLike, *, start: float | None = None,
                 end: float | None = None, fps: float | None = None):
        self.path = check_video_file(path)
        _check_span(self.path, start, end)
        if fps is not None and fps <= 0:
            raise VideoError(f"{self.path}: target fps must be positive, got {fps}")
        self.start, self.end, self.target_fps = start, end, fps
        self.info = probe(self.path)
        self.frames_read = 0
        self.integrity: Integrity | None = None
        self._span: list[float] = []   # times of the first and last frame yielded

    def cut(self, start: float | None, end: float | None) -> "FrameReader":
        """A reader of another span of the same file (not checked or probed again)."""
        _check_span(self.path, start, end)
        r = copy.copy(self)
        r.start, r.end, r.frames_read, r.integrity, r._span = start, end, 0, None, []
        return r

    @property
    def fps(self) -> float:
        """Rate of the frames this reader yields."""
        src = self.info.fps
        if self.target_fps is None:
            return src
        return min(self.target_fps, src) if math.isfinite(src) else self.target_fps

    def expected_frames(self) -> int | None:
        """Frames the container's claims promise between ``start`` and ``end`` (None: unknown)."""
        dur, rate = self.info.duration_claimed, self.fps
        if not (math.isfinite(dur) and math.isfinite(rate)):
            return None
        first = self.start or 0.0
        last = min(self.end, dur) if self.end is not None else dur
        return max(0, int(math.ceil((last - first) * rate - 1e-6)))

    def covered(self) -> tuple[float, float] | None:
        """(seconds the frames read span, seconds the container claims for the span asked) when
        its claim is a duration (no frame count kept), else None. A frame lasts until the next,
        so the last counts for one typical interval."""
        if self.info.frames_stated or len(self._span) < 2 or not math.isfinite(self.info.duration_claimed):
            return None
        first = self.start or 0.0
        last = min(self.end, self.info.duration_claimed) if self.end is not None else self.info.duration_claimed
        step = (self._span[1] - self._span[0]) / max(self.frames_read - 1, 1)
        return self._span[1] + step - max(first, 0.0), max(last - first, 0.0)

    def _timed(self, container, stream, t0: float, fps: float) -> Iterator[tuple[float, "av.VideoFrame"]]:
        prev = None
        for frame in container.decode(stream):
            t = frame.time - t0 if frame.time is not None else (prev + 1.0 / fps if prev is not None else 0.0)
            prev = t
            yield t, frame

    def _frames(self, container, stream) -> Iterator[tuple[float, "av.VideoFrame"]]:
        """(time, frame) from about ``start``: a keyframe seek when the start is far in, checked
        (a seek that lands after the start decodes from the top instead)."""
        tb = stream.time_base or Fraction(1, 1000)
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        fps = self.info.fps if math.isfinite(self.info.fps) else 30.0
        if self.start is None or self.start < 2.0:
            yield from self._timed(container, stream, t0, fps)
            return
        container.seek(int((self.start - 1.0 + t0) / tb), stream=stream, backward=True, any_frame=False)
        timed = self._timed(container, stream, t0, fps)
        first = next(timed, None)
        if first is None or first[0] > self.start + 1e-6:  # landed past the start: from the top
            container.seek(0, stream=stream, backward=True, any_frame=False)
            timed = self._timed(container, stream, t0, fps)
        else:
            yield first
        yield from timed

    def _begin(self) -> None:
        self.frames_read, self.integrity, self._span = 0, None, []
        fps = self.info.fps if math.isfinite(self.info.fps) else None
        self._next_keep = self.start or 0.0
        self._step = 1.0 / self.target_fps if self.target_fps else 0.0
        self._tol = 0.5 / fps if fps else 1e-6  # half a source frame: keeps resampling drift-free

    def _wants(self, t: float) -> bool | None:
        """Whether the decoded frame at ``t`` is one of ours (None: past the end)."""
        if self.end is not None and t >= self.end - 1e-9:
            return None
        if t < self._next_keep - 1e-9 if not self.frames_read else t + self._tol < self._next_keep:
            return False  # before the cut, or between resampled frames
        while self._step and self._next_keep <= t + self._tol:
            self._next_keep += self._step
        return True

    def _took(self, t: float) -> None:
        self._span[1:] = [t] if self._span else [t, t]
        self.frames_read += 1

    def _end(self, logs: list, stopped_by: str | None) -> None:
        """Judge the read (``integrity``); raise when it gave no frame at all."""
        self.integrity = _assess(self.frames_read, self.expected_frames(), logs, stopped_by, self.covered())
        if self.frames_read == 0:
            span = "" if self.start is None and self.end is None else f" between {self.start} s and {self.end} s"
            why = f" ({self.integrity.describe()})" if self.integrity.messages else " (truncated or corrupt?)"
            raise VideoError(f"{self.path}: no frame could be decoded{span}{why}")

    def __iter__(self) -> Iterator[Frame]:
        self._begin()
        stopped_by = None
        with av.logging.Capture(local=True) as logs:
            container, stream = _open(self.path)
            try:
                frames = self._frames(container, stream)
                while True:
                    try:
                        t, frame = next(frames)
                    except StopIteration:
                        break
                    except (av.FFmpegError, ValueError, MemoryError) as e:  # damage mid-file: keep what was read
                        stopped_by = f"decoding stopped: {_ffmpeg_message(e)}"
                        break
                    wanted = self._wants(t)
                    if wanted is None:
                        break
                    if wanted:
                        yield Frame(self.frames_read, t, frame.to_ndarray(format="bgr24"))
                        self._took(t)
            finally:
                container.close()
        self._end(list(logs), stopped_by)


class CutsReader:
    """One pass over ``path`` serving several cuts ``[start, end)`` of it at once (IEMOCAP's
    utterances out of one dialog video): the file is decoded once, from about the earliest
    start, instead of once per cut from its nearest keyframe.

    Each cut sees exactly the frames a :class:`FrameReader` of it would (same times, same
    resampling), and gets its own ``frames_read`` and ``integrity``; FFmpeg's complaints are
    charged to the cuts open when they were made. Iterating yields ``(frame, cuts)``: a decoded
    frame and the indices of the cuts it belongs to. A cut that got no frame has its
    :class:`VideoError` in ``errors`` (the others are unaffected).
    """

    def __init__(self, path: str | os.PathLike, cuts: list[tuple[float | None, float | None]], *,
                 fps: float | None = None):
        if not cuts:
            raise ValueError("CutsReader needs at least one cut")
        first = FrameReader(path, fps=fps)
        self.path, self.info = first.path, first.info
        self.readers = [first.cut(start, end) for start, end in cuts]
        self.errors: dict[int, VideoError] = {}

    def __iter__(self) -> Iterator[tuple[Frame, list[int]]]:
        rs = self.readers
        for r in rs:
            r._begin()
        order = sorted(range(len(rs)), key=lambda k: rs[k].start or 0.0)
        lead = rs[order[0]]          # the pass seeks as a reader of the earliest cut would
        opened, shut = {order[0]: 0}, {}   # cut -> index into FFmpeg's log when it opened / closed (the
                                           # first cut hears what opening the file said, as a reader of it would)
        stopped_by, n = None, 0
        with av.logging.Capture(local=True) as logs:
            container, stream = _open(self.path)
            try:
                frames = lead._frames(container, stream)
                while len(shut) < len(rs):
                    try:
                        t, frame = next(frames)
                    except StopIteration:
                        break
                    except (av.FFmpegError, ValueError, MemoryError) as e:
                        stopped_by = f"decoding stopped: {_ffmpeg_message(e)}"
                        break
                    takers = []
                    for k in order:
                        if k in shut:
                            continue
                        if (rs[k].start or 0.0) > t + 1.0:
                            break                 # this cut and the later ones start further on
                        opened.setdefault(k, len(logs))
                        wanted = rs[k]._wants(t)
                        if wanted is None:
                            shut[k] = len(logs)
                        elif wanted:
                            takers.append(k)
                    if takers:
                        yield Frame(n, t, frame.to_ndarray(format="bgr24")), takers
                        n += 1
                        for k in takers:
                            rs[k]._took(t)
            finally:
                container.close()
        logs = list(logs)
        for k, r in enumerate(rs):
            try:
                r._end(logs[opened.get(k, len(logs)):shut.get(k, len(logs))], None if k in shut else stopped_by)
            except VideoError as e:
                self.errors[k] = e


def read_frames(path: str | os.PathLike, **kwargs) -> Iterator[Frame]:
    """Shorthand for ``iter(FrameReader(path, **kwargs))``."""
    return iter(FrameReader(path, **kwargs))
