"""Stream RGB frames with timestamps out of a video file, in bounded memory.

Anything OpenCV's FFmpeg back end decodes is read, but only files whose extension is on
``VIDEO_EXTENSIONS`` *and* whose first bytes look like that container: FFmpeg follows
playlists (``.m3u8``) and other indirections, so a renamed text file must never reach it.
``cv2.VideoCapture`` never raises, so every failure is turned into a :class:`VideoError`
here, and frames are counted as they are read (``CAP_PROP_FRAME_COUNT`` is only a claim).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import VideoError

#: extension -> container family whose magic bytes the file must carry
VIDEO_EXTENSIONS = {
    ".mp4": "isobmff", ".m4v": "isobmff", ".mov": "isobmff",
    ".avi": "riff", ".mpg": "mpeg", ".mpeg": "mpeg",
    ".flv": "flv", ".mkv": "matroska", ".webm": "matroska", ".wmv": "asf",
}


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


@dataclass(frozen=True)
class VideoInfo:
    """What the container claims about a video (the frame count is only a claim)."""

    path: str
    width: int
    height: int
    fps: float
    frame_count_claimed: int

    @property
    def duration_claimed(self) -> float:
        return self.frame_count_claimed / self.fps if self.fps > 0 else float("nan")


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: OpenCV/FFmpeg cannot open it (corrupt, truncated or unsupported codec)")
    return cap


def _fps_of(cap: cv2.VideoCapture) -> float:
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    return fps if math.isfinite(fps) and 0.5 <= fps <= 1000 else float("nan")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open a video and report its size, frame rate and claimed frame count."""
    p = check_video_file(path)
    cap = _open(p)
    try:
        return VideoInfo(str(p), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), _fps_of(cap),
                         max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0))
    finally:
        cap.release()


@dataclass
class Frame:
    """One decoded frame. ``bgr`` is OpenCV's native order; ``rgb`` converts on demand."""

    index: int      # position among the frames yielded (0, 1, ...)
    time: float     # seconds from the start of the file
    bgr: np.ndarray  # (H, W, 3) uint8

    @property
    def rgb(self) -> np.ndarray:
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2RGB)


class FrameReader:
    """Iterate the frames of ``path`` between ``start`` and ``end`` seconds, optionally resampled.

    Only one decoded frame is alive at a time, so memory does not grow with the video's length.
    After iteration, ``frames_read`` counts what was actually decoded and yielded.

    Args:
        path: the video file.
        start: first second to keep (None: from the beginning).
        end: second at which to stop (None: to the end).
        fps: keep frames at about this rate (None: every frame). Must not exceed the source rate.
    """

    def __init__(self, path: str | os.PathLike, *, start: float | None = None,
                 end: float | None = None, fps: float | None = None):
        self.path = check_video_file(path)
        if start is not None and start < 0:
            raise VideoError(f"{self.path}: start {start} s is negative")
        if start is not None and end is not None and end <= start:
            raise VideoError(f"{self.path}: end {end} s is not after start {start} s")
        if fps is not None and fps <= 0:
            raise VideoError(f"{self.path}: target fps must be positive, got {fps}")
        self.start, self.end, self.target_fps = start, end, fps
        self.info = probe(self.path)
        self.frames_read = 0

    @property
    def fps(self) -> float:
        """Rate of the frames this reader yields."""
        src = self.info.fps
        if self.target_fps is None:
            return src
        return min(self.target_fps, src) if math.isfinite(src) else self.target_fps

    def _seek(self, cap: cv2.VideoCapture) -> int:
        """Position ``cap`` a little before ``start``; return the index of the next frame."""
        fps = self.info.fps if math.isfinite(self.info.fps) else 30.0
        if not self.start or self.start < 2.0:
            return 0
        target = int(max(0.0, self.start - 1.0) * fps)
        cap.set(cv2.CAP_PROP_POS_FRAMES, target)
        pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
        if pos != target or pos > self.start * fps:  # inexact seek: decode from the top instead
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            return 0
        return target

    def __iter__(self) -> Iterator[Frame]:
        cap = _open(self.path)
        self.frames_read = 0
        fps = self.info.fps if math.isfinite(self.info.fps) else None
        try:
            src_index = self._seek(cap)
            next_keep = self.start or 0.0
            step = 1.0 / self.target_fps if self.target_fps else 0.0
            tol = 0.5 / fps if fps else 1e-6  # half a source frame: keeps resampling drift-free
            while True:
                ok = cap.grab()
                if not ok:
                    break
                t = src_index / fps if fps else float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                src_index += 1
                if self.end is not None and t >= self.end:
                    break
                if t < next_keep - 1e-9 if not self.frames_read else t + tol < next_keep:
                    continue  # before the cut, or between resampled frames
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    break
                while step and next_keep <= t + tol:
                    next_keep += step
                yield Frame(self.frames_read, t, bgr)
                self.frames_read += 1
        finally:
            cap.release()
        if self.frames_read == 0:
            span = "" if self.start is None and self.end is None else f" between {self.start} s and {self.end} s"
            raise VideoError(f"{self.path}: no frame could be decoded{span} (truncated or corrupt?)")


def read_frames(path: str | os.PathLike, **kwargs) -> Iterator[Frame]:
    """Shorthand for ``iter(FrameReader(path, **kwargs))``."""
    return iter(FrameReader(path, **kwargs))
