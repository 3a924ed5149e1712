"""What a video file's container claims about the video stream read: its displayed size, frame
rate, frame count and duration (claims only: :mod:`.integrity` holds a read to them), its turn,
and which of its video streams is read; and opening a checked file on that stream."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import VideoError
from ..fileio import shown
from .files import VIDEO_EXTENSIONS, check_media_file, check_video_file, riff_whole
from .integrity import ffmpeg_message, route_ffmpeg_logs
from .streams import StreamInfo, choose_stream, describe_streams, stream_rotation


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


def open_container(path: Path, what: str = "a video"):
    """FFmpeg's container of a checked file, or a :class:`VideoError` naming it and why not."""
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{shown(path)}: FFmpeg cannot open it: {ffmpeg_message(e)} "
                         f"(corrupt, truncated or not {what}?)") from None


def audio_only(path: str | os.PathLike) -> bool:
    """Whether a video or audio file (checked: :func:`~.files.check_media_file`) holds no moving
    picture, so that its voice is all it gives: an audio type (:data:`~.files.AUDIO_EXTENSIONS`),
    or a video container with no video stream, or none but a still picture (an attached cover).

    Raises:
        VideoError: the file is no video or audio we read, or FFmpeg cannot open it.
    """
    if Path(path).suffix.lower() not in VIDEO_EXTENSIONS:
        check_media_file(path)              # an audio type, or refused naming both kinds
        return True
    p = check_video_file(path)              # a video type: refused in the words a video is
    route_ffmpeg_logs()
    container = open_container(p)
    try:
        return all(s.disposition & av.stream.Disposition.attached_pic for s in container.streams.video)
    finally:
        container.close()


def open_video(path: Path, stream: int | None = None):
    """``(container, stream, number, how chosen, every video stream)`` of a checked file."""
    route_ffmpeg_logs()
    container = open_container(path)
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


def frame_times(path: str | os.PathLike, *, stream: int | None = None) -> tuple[list[float], float]:
    """The presentation times of the video stream's frames, from its packets (no frame is
    decoded), in the frame reader's clock (seconds from the stream's start), sorted; and its rate
    (the container's, else the times')."""
    p = check_video_file(path)
    container, s, *_ = open_video(p, stream)
    try:
        fps = _rate(s)              # the stream is read while its container is open (after: a crash)
        tb = s.time_base
        t0 = float(s.start_time * tb) if s.start_time is not None and tb else 0.0
        times = sorted(float(pkt.pts * tb) - t0 for pkt in container.demux(s) if pkt.pts is not None and pkt.size)
    except (av.FFmpegError, ValueError) as e:
        raise VideoError(f"{shown(p)}: its packets cannot be read: {ffmpeg_message(e)}") from None
    finally:
        container.close()
    if not times:
        raise VideoError(f"{shown(p)}: its video stream holds no timed frame")
    if not math.isfinite(fps):
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 30.0
    return times, fps
