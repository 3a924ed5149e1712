"""Which video stream of a file is read, and which way up its frames are shown.

A file may hold several video streams (a second camera angle, a preview, a cover picture):
the container's default is read (its disposition), else the first that is not a still
picture, unless one is asked for by its number among the file's video streams (FFmpeg's
``v:N``; ``--stream N``). A phone stores a portrait clip sideways with a display matrix saying
how to turn it; FFmpeg attaches that matrix to every decoded frame (``VideoFrame.rotation``:
degrees counter-clockwise, in [-180, 180]), and frames are turned with it before anything
looks at them (:func:`upright`), as a player shows them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import cv2
import numpy as np

from ..errors import VideoError
from ..fileio import shown

#: clockwise quarter turns -> OpenCV's rotation
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
#: packets demuxed at most while looking for a first frame to read the display matrix from
_PROBE_PACKETS = 64


@dataclass(frozen=True)
class StreamInfo:
    """One video stream of a file, as its container describes it."""

    number: int         # among the file's video streams, from 0 (what --stream N names)
    width: int          # as stored (before any rotation)
    height: int
    codec: str
    default: bool       # the container marks it as its default
    still: bool         # an attached picture (cover art), not a moving video
    frames: int         # frames the container states (0: it does not say)

    def describe(self) -> str:
        marks = "".join([", the default" if self.default else "", ", a still picture" if self.still else ""])
        return f"stream {self.number} ({self.width}x{self.height} {self.codec}{marks})"

    def to_dict(self) -> dict:
        return {"number": self.number, "width": self.width, "height": self.height, "codec": self.codec,
                "default": self.default, "still": self.still, "frames": self.frames}


def stream_note(source: dict) -> str:
    """One sentence when a record's file has other moving video streams than the one read (else
    empty: a cover picture is no alternative): which was read, how it was chosen, the others,
    and how to read another. ``source``: a record's source (or :meth:`VideoInfo.to_source`)."""
    streams = [s if isinstance(s, StreamInfo) else StreamInfo(**s) for s in source.get("streams", ())]
    used = source.get("stream", 0)
    others = [s for s in streams if s.number != used and not s.still]
    if not others:
        return ""
    how = {"asked": "as asked", "default": "the container's default",
           "first": "the first; none is marked default"}.get(source.get("stream_chosen"), "")
    return (f"read video stream {used} of {len(streams)}" + (f" ({how})" if how else "")
            + "; also in the file: " + "; ".join(s.describe() for s in others)
            + f" (read another with --stream N, e.g. --stream {others[0].number})")


def describe_streams(video_streams) -> tuple[StreamInfo, ...]:
    """Every video stream of an open container, described."""
    out = []
    for k, s in enumerate(video_streams):
        disp, ctx = s.disposition, s.codec_context      # no codec context: a codec FFmpeg cannot decode
        out.append(StreamInfo(k, int(ctx.width or 0) if ctx else 0, int(ctx.height or 0) if ctx else 0,
                              (ctx.name if ctx else None) or "?", bool(disp & av.stream.Disposition.default),
                              bool(disp & av.stream.Disposition.attached_pic), int(s.frames or 0)))
    return tuple(out)


def choose_stream(path: str | os.PathLike, streams: tuple[StreamInfo, ...], asked: int | None) -> tuple[int, str]:
    """(number of the video stream to read, how it was chosen: ``"only"``, ``"asked"``,
    ``"default"`` (the container's) or ``"first"`` (none is marked default)).

    Raises:
        VideoError: ``asked`` names no video stream of the file (the message lists those there are).
    """
    if asked is not None:
        if not 0 <= asked < len(streams):
            there = "; ".join(s.describe() for s in streams)
            raise VideoError(f"{shown(path)}: no video stream {asked}; it has {len(streams)} ({there}); "
                             "--stream N counts its video streams from 0")
        return asked, "asked"
    if len(streams) == 1:
        return 0, "only"
    moving = [s for s in streams if not s.still] or list(streams)
    default = next((s for s in moving if s.default), None)
    return (default.number, "default") if default else (moving[0].number, "first")


def clockwise(rotation: float) -> int:
    """FFmpeg's display rotation (degrees counter-clockwise) as the quarter turn clockwise that
    shows a frame upright: 0, 90, 180 or 270 (a phone's ``rotate`` tag; an angle between quarter
    turns is taken to the nearest)."""
    return int(-round(rotation / 90.0) * 90) % 360


def stream_rotation(container, stream) -> int:
    """The clockwise turn (0, 90, 180, 270) the stream's frames need, from the display matrix
    FFmpeg attaches to its first decoded frame (0 when none decodes in the first packets)."""
    try:
        for n, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return clockwise(frame.rotation)
            if n >= _PROBE_PACKETS:
                break
    except (av.FFmpegError, ValueError, MemoryError):
        pass
    return 0


def rotation_note(turn: int) -> str:
    """One phrase for a record whose frames were turned upright (empty for none)."""
    return f"turned {turn}° clockwise to upright, as its display matrix says" if turn else ""


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """``image`` turned clockwise by ``turn`` degrees (0, 90, 180, 270)."""
    return cv2.rotate(image, _TURNS[turn]) if turn else image
