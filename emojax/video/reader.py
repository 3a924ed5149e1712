"""Stream RGB frames with timestamps out of a video file, upright, in bounded memory, and say
whether the file was whole (:mod:`.integrity`)."""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.logging
import cv2
import numpy as np

from ..errors import VideoError
from ..fileio import shown
from .files import VIDEO_EXTENSIONS, check_video_file, riff_whole
from .integrity import Integrity, assess, ffmpeg_message, route_ffmpeg_logs
from .streams import StreamInfo, choose_stream, describe_streams, stream_rotation, upright

#: a read that starts before this second decodes from the top of the file (no seek): it then
#: sees every frame, and a whole-stream count can be checked against the container's
SEEK_FROM = 2.0


@dataclass(frozen=True)
class VideoInfo:
    """What the container claims about the video stream read (the frame count and duration are
    only claims). ``width`` and ``height`` are the displayed ones: after ``rotation``."""

    path: str
    width: int
    height: int
    fps: float
    frame_count_claimed: int   # 0 when the container does not say
    duration_claimed: float = float("nan")  # seconds of video the container claims (NaN: unknown)
    frames_stated: bool = False  # the container keeps a frame count (else it is duration x rate: an
                                 # estimate that a variable frame rate makes wrong)
    rotation: int = 0            # degrees clockwise each frame is turned to be shown upright (the
                                 # display matrix: a phone's portrait clip is stored sideways)
    stream: int = 0              # the video stream read, by its number among the file's video streams
    stream_chosen: str = "only"  # "only", "default" (the container's), "first" (none marked), "asked"
    streams: tuple[StreamInfo, ...] = ()  # every video stream of the file

    def to_source(self) -> dict:
        """What a record keeps about the stream read: which, how chosen, the others, the turn."""
        return {"stream": self.stream, "stream_chosen": self.stream_chosen, "rotation": self.rotation,
                "streams": [s.to_dict() for s in self.streams]}


def open_video(path: Path, stream: int | None = None):
    """``(container, stream, number, how chosen, every video stream)`` of a checked file."""
    route_ffmpeg_logs()
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{shown(path)}: FFmpeg cannot open it: {ffmpeg_message(e)} "
                         "(corrupt, truncated or not a video?)") from None
    try:
        if not container.streams.video:
            raise VideoError(f"{shown(path)}: the file holds no video stream")
        streams = describe_streams(container.streams.video)
        number, chosen = choose_stream(path, streams, stream)
    except VideoError:
        container.close()
        raise
    s = container.streams.video[number]
    if s.codec_context is None:
        container.close()
        raise VideoError(f"{shown(path)}: FFmpeg has no decoder for its video stream {number} ({streams[number].codec})")
    s.codec_context.thread_count = 1  # FFmpeg then logs from this thread only: captured as ours
    return container, s, number, chosen, streams


def _rate(stream) -> float:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r and 0.5 <= float(r) <= 1000:
            return float(r)
    return float("nan")


def _stated(path: Path, stream, number: int) -> int:
    """The frame count the container states for what it presents (0: none). An AVI's is the
    frames its index lists when the file is whole (not the empty chunks of dropped frames). An mp4 or mov cut
    in an editor without re-encoding keeps every sample and an edit list that skips some:
    FFmpeg then presents (and decodes) only the kept ones, so the count is those of its index
    with the edits applied, when an index without them holds more. Otherwise the stream's own
    count (which a damaged header may inflate: that read is then truncated)."""
    n = int(stream.frames or 0)
    kind = VIDEO_EXTENSIONS.get(path.suffix.lower())
    if n and kind == "riff":
        # An AVI's header counts every chunk, also the empty ones a muxer writes for frames a
        # variable-rate source never had; its index (idx1, written last) lists only those with a
        # frame. A whole file is held to its index; a cut one, whose index is gone, to its header.
        listed = len(stream.index_entries)
        return listed if 0 < listed < n and riff_whole(path) else n
    if not n or kind != "isobmff":
        return n
    kept = sum(not e.is_discard for e in stream.index_entries)
    if not 0 < kept < n:
        return n
    try:
        with av.open(str(path), options={"ignore_editlist": "1"}) as unedited:
            return kept if len(unedited.streams.video[number].index_entries) > kept else n
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return n


def _info(path: Path, container, stream, number: int, chosen: str, streams: tuple[StreamInfo, ...]) -> VideoInfo:
    """The container's claims: the video stream's frame count if it keeps one (AVI, MP4:
    :func:`_stated`), else its duration, else the whole container's duration (MPEG-PS, FLV:
    estimated or metadata); the turn its display matrix asks for (read off its first frame)."""
    fps = _rate(stream)
    stated = _stated(path, stream, number)
    if stated and math.isfinite(fps):
        duration = stated / fps
    elif stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = float("nan")
    claimed = stated or (int(round(duration * fps)) if math.isfinite(duration * fps) else 0)
    w, h = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    turn = stream_rotation(container, stream)
    if turn in (90, 270):
        w, h = h, w
    return VideoInfo(str(path), w, h, fps, int(claimed), duration, bool(stated), turn, number, chosen, streams)


def probe(path: str | os.PathLike, *, stream: int | None = None) -> VideoInfo:
    """Open a video and report its displayed size, frame rate, claimed frame count and
    duration, rotation, and which of its video streams is read (``stream``: by number; None:
    the container's default)."""
    p = check_video_file(path)
    container, s, number, chosen, streams = open_video(p, stream)
    try:
        return _info(p, container, s, number, chosen, streams)
    finally:
        container.close()


@dataclass
class Frame:
    """One decoded frame, upright. ``bgr`` is OpenCV's native order; ``rgb`` converts on demand."""

    index: int      # position among the frames yielded (0, 1, ...)
    time: float     # seconds from the start of the video stream (its presentation time)
    bgr: np.ndarray  # (H, W, 3) uint8

    @property
    def rgb(self) -> np.ndarray:
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2RGB)


def _check_span(path: Path, start: float | None, end: float | None) -> None:
    if start is not None and start < 0:
        raise VideoError(f"{shown(path)}: start {start} s is negative")
    if start is not None and end is not None and end <= start:
        raise VideoError(f"{shown(path)}: end {end} s is not after start {start} s")


class FrameReader:
    """Iterate the frames of ``path`` between ``start`` and ``end`` seconds, optionally resampled,
    each turned upright as the file's display matrix says.

    Only one decoded frame is alive at a time, so memory does not grow with the video's length.
    After iteration, ``frames_read`` counts what was decoded and yielded, and ``integrity``
    says whether that is the whole of the span asked for (a damaged file still yields what
    it has; the caller decides whether partial data is acceptable).

    Args:
        path: the video file.
        start: first second to keep (None: from the beginning).
        end: second at which to stop (None: to the end).
        fps: keep frames at about this rate (None: every frame). Must not exceed the source rate.
        stream: which video stream, by its number among the file's (None: the container's default).
    """

    def __init__(self, path: str | os.PathLike, *, start: float | None = None,
                 end: float | None = None, fps: float | None = None, stream: int | None = None):
        self.path = check_video_file(path)
        _check_span(self.path, start, end)
        if fps is not None and fps <= 0:
            raise VideoError(f"{shown(self.path)}: target fps must be positive, got {fps}")
        self.start, self.end, self.target_fps = start, end, fps
        self.info = probe(self.path, stream=stream)
        self.frames_read = 0
        self.integrity: Integrity | None = None
        self._span: list[float] = []   # times of the first and last frame yielded
        self._decoded = 0              # frames the decoder gave since the top of the stream (or the seek)

    def cut(self, start: float | None, end: float | None) -> "FrameReader":
        """A reader of another span of the same file and stream (not checked or probed again)."""
        _check_span(self.path, start, end)
        r = copy.copy(self)
        r.start, r.end, r.frames_read, r.integrity, r._span, r._decoded = start, end, 0, None, [], 0
        return r

    @property
    def fps(self) -> float:
        """Rate of the frames this reader yields."""
        src = self.info.fps
        if self.target_fps is None:
            return src
        return min(self.target_fps, src) if math.isfinite(src) else self.target_fps

    @property
    def from_top(self) -> bool:
        """The read decodes the stream from its first frame (no seek): it sees every frame."""
        return self.start is None or self.start < SEEK_FROM

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

    def counted(self, decoded: int, to_the_end: bool) -> tuple[int, int] | None:
        """(frames decoded, frames stated) when this read can be held to the container's exact
        count: it keeps one, and the read decoded the stream from the top to its end."""
        if self.info.frames_stated and to_the_end and self.from_top:
            return decoded, self.info.frame_count_claimed
        return None

    def _timed(self, container, stream, t0: float, fps: float) -> Iterator[tuple[float, "av.VideoFrame"]]:
        prev = None
        for frame in container.decode(stream):
            self._decoded += 1
            t = frame.time - t0 if frame.time is not None else (prev + 1.0 / fps if prev is not None else 0.0)
            prev = t
            yield t, frame

    def _frames(self, container, stream) -> Iterator[tuple[float, "av.VideoFrame"]]:
        """(time, frame) from about ``start``: a keyframe seek when the start is far in, checked
        (a seek that lands after the start decodes from the top instead)."""
        tb = stream.time_base or Fraction(1, 1000)
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        fps = self.info.fps if math.isfinite(self.info.fps) else 30.0
        self._decoded = 0
        if self.from_top:
            yield from self._timed(container, stream, t0, fps)
            return
        container.seek(int((self.start - 1.0 + t0) / tb), stream=stream, backward=True, any_frame=False)
        timed = self._timed(container, stream, t0, fps)
        first = next(timed, None)
        if first is None or first[0] > self.start + 1e-6:  # landed past the start: from the top
            container.seek(0, stream=stream, backward=True, any_frame=False)
            self._decoded = 0
            timed = self._timed(container, stream, t0, fps)
        else:
            yield first
        yield from timed

    def _image(self, frame) -> np.ndarray:
        """A decoded frame as an upright BGR array."""
        return upright(frame.to_ndarray(format="bgr24"), self.info.rotation)

    def _begin(self) -> None:
        self.frames_read, self.integrity, self._span, self._decoded = 0, None, [], 0
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

    def _end(self, logs: list, stopped_by: str | None, counted: tuple[int, int] | None = None) -> None:
        """Judge the read (``integrity``); raise when it gave no frame at all. ``counted``: see
        :meth:`counted`."""
        self.integrity = assess(self.frames_read, self.expected_frames(), logs, stopped_by,
                                seconds=self.covered(), counted=counted)
        if self.frames_read == 0:
            span = "" if self.start is None and self.end is None else f" between {self.start} s and {self.end} s"
            why = f" ({self.integrity.describe()})" if self.integrity.messages else " (truncated or corrupt?)"
            raise VideoError(f"{shown(self.path)}: no frame could be decoded{span}{why}")

    def __iter__(self) -> Iterator[Frame]:
        self._begin()
        stopped_by, to_the_end = None, False
        with av.logging.Capture(local=True) as logs:
            container, stream, *_ = open_video(self.path, self.info.stream)
            try:
                frames = self._frames(container, stream)
                while True:
                    try:
                        t, frame = next(frames)
                    except StopIteration:
                        to_the_end = True
                        break
                    except (av.FFmpegError, ValueError, MemoryError) as e:  # damage mid-file: keep what was read
                        stopped_by = f"decoding stopped: {ffmpeg_message(e)}"
                        break
                    wanted = self._wants(t)
                    if wanted is None:
                        break
                    if wanted:
                        yield Frame(self.frames_read, t, self._image(frame))
                        self._took(t)
            finally:
                container.close()
        self._end(list(logs), stopped_by, self.counted(self._decoded, to_the_end))


class CutsReader:
    """One pass over ``path`` serving several cuts ``[start, end)`` of it at once (IEMOCAP's
    utterances out of one dialog video): the file is decoded once, from about the earliest
    start, instead of once per cut from its nearest keyframe.

    Each cut sees exactly the frames a :class:`FrameReader` of it would (same times, same
    resampling, same turn), and gets its own ``frames_read`` and ``integrity`` (held to the
    container's exact count only where a reader of that cut alone would be); FFmpeg's
    complaints are charged to the cuts open when they were made. Iterating yields ``(frame,
    cuts)``: a decoded frame and the indices of the cuts it belongs to. A cut that got no frame
    has its :class:`VideoError` in ``errors`` (the others are unaffected).
    """

    def __init__(self, path: str | os.PathLike, cuts: list[tuple[float | None, float | None]], *,
                 fps: float | None = None, stream: int | None = None):
        if not cuts:
            raise ValueError("CutsReader needs at least one cut")
        first = FrameReader(path, fps=fps, stream=stream)
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
        stopped_by, n, to_the_end = None, 0, False
        with av.logging.Capture(local=True) as logs:
            container, stream, *_ = open_video(self.path, self.info.stream)
            try:
                frames = lead._frames(container, stream)
                while len(shut) < len(rs):
                    try:
                        t, frame = next(frames)
                    except StopIteration:
                        to_the_end = True
                        break
                    except (av.FFmpegError, ValueError, MemoryError) as e:
                        stopped_by = f"decoding stopped: {ffmpeg_message(e)}"
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
                        yield Frame(n, t, lead._image(frame)), takers
                        n += 1
                        for k in takers:
                            rs[k]._took(t)
            finally:
                container.close()
        logs = list(logs)
        for k, r in enumerate(rs):
            try:
                r._end(logs[opened.get(k, len(logs)):shut.get(k, len(logs))], None if k in shut else stopped_by,
                       r.counted(lead._decoded, to_the_end and k not in shut and lead.from_top))
            except VideoError as e:
                self.errors[k] = e


def read_frames(path: str | os.PathLike, **kwargs) -> Iterator[Frame]:
    """Shorthand for ``iter(FrameReader(path, **kwargs))``."""
    return iter(FrameReader(path, **kwargs))
