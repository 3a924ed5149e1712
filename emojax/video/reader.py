"""Stream RGB frames with timestamps out of a video file, upright, in bounded memory, and say
whether the file was whole (:mod:`.integrity`): one span (:class:`FrameReader`), or several cuts
of one file in one decoding pass (:class:`CutsReader`), both through the one decoding loop
(:func:`_decode`): one idea, reading frames. What the container claims, and opening it, is
:mod:`.probe`."""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import av.logging
import cv2
import numpy as np

from ..errors import VideoError
from ..fileio import shown
from .files import check_video_file
from .integrity import Integrity, assess, ffmpeg_message
from .probe import open_video, probe
from .streams import upright

#: a read that starts before this second decodes from the top of the file (no seek): it then
#: sees every frame, and a whole-stream count can be checked against the container's
SEEK_FROM = 2.0


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
            span = ("" if self.start is None and self.end is None else f" from {self.start} s" if self.end is None
                    else f" before {self.end} s" if self.start is None else f" between {self.start} s and {self.end} s")
            why = f" ({self.integrity.describe()})" if self.integrity.messages else " (truncated or corrupt?)"
            raise VideoError(f"{shown(self.path)}: no frame could be decoded{span}{why}")

    def __iter__(self) -> Iterator[Frame]:
        self._begin()
        ended = _Ended()

        def takers(t: float, logged: int) -> list[int] | None:
            wanted = self._wants(t)
            return None if wanted is None else [0] if wanted else []

        for frame, _ in _decode([self], self, takers, ended):
            yield frame
        self._end(ended.logs, ended.stopped_by, self.counted(self._decoded, ended.to_the_end))


@dataclass
class _Ended:
    """How a decoding pass ended: FFmpeg's complaints during it, what stopped it early (damage
    mid-file), whether the stream ran out (rather than the readers being served)."""

    logs: list = field(default_factory=list)
    stopped_by: str | None = None
    to_the_end: bool = False


def _decode(readers: list[FrameReader], lead: FrameReader, takers: Callable[[float, int], list[int] | None],
            ended: _Ended) -> Iterator[tuple[Frame, list[int]]]:
    """One decoding pass serving ``readers``, seeking as ``lead`` would. ``takers(time,
    logged)`` says which readers (by index) take the frame decoded at ``time`` (``logged``:
    FFmpeg's complaints so far), or None to end the pass. Yields each frame some reader takes
    (numbered among those yielded) with its takers; how the pass ended is left in ``ended``."""
    with av.logging.Capture(local=True) as logs:
        container, stream, *_ = open_video(lead.path, lead.info.stream)
        try:
            frames, n = lead._frames(container, stream), 0
            while True:
                try:
                    t, frame = next(frames)
                except StopIteration:
                    ended.to_the_end = True
                    break
                except (av.FFmpegError, ValueError, MemoryError) as e:  # damage mid-file: keep what was read
                    ended.stopped_by = f"decoding stopped: {ffmpeg_message(e)}"
                    break
                ks = takers(t, len(logs))
                if ks is None:
                    break
                if ks:
                    yield Frame(n, t, lead._image(frame)), ks
                    n += 1
                    for k in ks:
                        readers[k]._took(t)
        finally:
            container.close()
    ended.logs = list(logs)


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

        def takers(t: float, logged: int) -> list[int] | None:
            ks = []
            for k in order:
                if k in shut:
                    continue
                if (rs[k].start or 0.0) > t + 1.0:
                    break                 # this cut and the later ones start further on
                opened.setdefault(k, logged)
                wanted = rs[k]._wants(t)
                if wanted is None:
                    shut[k] = logged
                elif wanted:
                    ks.append(k)
            return None if len(shut) == len(rs) else ks

        ended = _Ended()
        yield from _decode(rs, lead, takers, ended)
        logs = ended.logs
        for k, r in enumerate(rs):
            try:
                r._end(logs[opened.get(k, len(logs)):shut.get(k, len(logs))], None if k in shut else ended.stopped_by,
                       r.counted(lead._decoded, ended.to_the_end and k not in shut and lead.from_top))
            except VideoError as e:
                self.errors[k] = e


def read_frames(path: str | os.PathLike, **kwargs) -> Iterator[Frame]:
    """Shorthand for ``iter(FrameReader(path, **kwargs))``."""
    return iter(FrameReader(path, **kwargs))
