"""A file's audio track as mono float samples at 16 kHz, placed on the video's timeline.

Anything FFmpeg decodes is read (through PyAV): MP3, MP2, AAC, Opus, PCM, FLAC, ... in any
video container of :data:`~.files.VIDEO_EXTENSIONS` or an audio-only file of
:data:`~.files.AUDIO_EXTENSIONS` (checked by extension and first bytes like a video). The
container's default audio stream is read (else its first), down-mixed and resampled by
FFmpeg's own resampler (``av.AudioResampler(format="flt", layout="mono", rate=16000)``).

Times are the video's: a record's frame times count from the video stream's own start time, so
the track's samples are placed on that same clock (a track that starts 27 ms before the video,
as CREMA-D's do, starts at -0.027 s), or at ``offset`` when the audio is a file of its own that
begins at that second of the video (IEMOCAP's utterance wavs). Where the track begins and ends
on that timeline is said (:attr:`AudioTrack.start`, :attr:`AudioTrack.end`), so a track shorter
than the video, or starting late, shows.

No audio stream is an outcome, not an error (``status="absent"``). A track the decoder gives up
on mid-way keeps what was read and says so with FFmpeg's words (``"damaged"``), as the video
reader does; one that yields clearly less than its container claims is ``"truncated"``; one
FFmpeg has no decoder for, or that gives no sample at all, is ``"undecodable"``. A file that is
no video or audio at all is a :class:`~emojax.errors.VideoError` naming it.

Damage is placed on the timeline (:attr:`AudioTrack.damage`): where FFmpeg complained (the
audio being decoded then), or where the read stopped short. A cut of the track
(:meth:`AudioTrack.cut`: each IEMOCAP utterance of a dialog's track read once) is damaged only
when its own interval meets the damage, so an utterance read whole says so.
"""

from __future__ import annotations

import io
import math
import os
import wave
from dataclasses import dataclass, field, replace
from fractions import Fraction

import av
import av.logging
import numpy as np

from ..errors import VideoError
from ..fileio import shown
from .files import check_media_file
from .integrity import COMPLETE_SHARE, complaints, ffmpeg_message, route_ffmpeg_logs
from .probe import open_container
from .streams import choose_stream, describe_streams

#: samples per second of every track read (what eGeMAPS is defined on)
AUDIO_RATE = 16000
#: a cut that starts this far in seeks (to a second before it) rather than decoding from the top
SEEK_FROM = 2.0
#: what a track read can be (module doc)
TRACK_STATUSES = ("complete", "damaged", "truncated", "undecodable", "absent")
#: a complaint of FFmpeg's counts against the audio within this many seconds of where it was
#: made (an audio frame lasts 20-60 ms; the demuxer reads a little ahead)
DAMAGE_REACH = 0.5


@dataclass(frozen=True)
class AudioTrack:
    """What was read of a file's audio: ``samples`` (n,) float32 mono at :data:`AUDIO_RATE`,
    the first of them at ``start`` seconds of the video's timeline."""

    path: str
    samples: np.ndarray = field(repr=False)
    start: float = 0.0              # seconds on the video's timeline of samples[0]
    status: str = "complete"        # TRACK_STATUSES
    codec: str | None = None        # FFmpeg's name of the track's codec (None: the file has no audio track)
    source_rate: int = 0            # the track's own sample rate
    channels: int = 0               # the track's own channels (down-mixed to one)
    duration_claimed: float = float("nan")  # seconds the container claims for the whole track (NaN: unknown)
    messages: tuple[str, ...] = ()  # FFmpeg's words when damaged or truncated
    rate: int = AUDIO_RATE
    # where the damage lies: (second of the timeline, status, words); status "damaged" for a
    # complaint there, "stopped" or "truncated" when nothing was read after that second
    damage: tuple[tuple[float, str, str], ...] = ()

    @property
    def found(self) -> bool:
        """The file has an audio track (whether or not it decoded)."""
        return self.codec is not None

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    @property
    def end(self) -> float:
        """Seconds on the video's timeline just after the last sample."""
        return self.start + self.seconds

    def covered(self, start: float, end: float) -> float:
        """Seconds of ``[start, end)`` the samples cover."""
        if not len(self.samples):
            return 0.0
        return max(0.0, min(end, self.end) - max(start, self.start))

    def cut(self, start: float | None, end: float | None) -> "AudioTrack":
        """The samples of ``[start, end)`` seconds of the timeline (None: open side), damaged
        (or truncated) only when that interval meets the track's :attr:`damage`: a complaint
        within :data:`DAMAGE_REACH` of it, or a read that stopped before its end."""
        i0 = 0 if start is None else int(np.clip(math.ceil((start - self.start) * self.rate - 1e-6), 0, len(self.samples)))
        i1 = len(self.samples) if end is None else int(np.clip(math.ceil((end - self.start) * self.rate - 1e-6),
                                                               i0, len(self.samples)))
        out = replace(self, samples=self.samples[i0:i1], start=self.start + i0 / self.rate)
        if not self.damage:
            return out
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        met = tuple(d for d in self.damage
                    if (hi > d[0] - DAMAGE_REACH if d[1] != "damaged" else lo - DAMAGE_REACH <= d[0] <= hi + DAMAGE_REACH))
        status = ("complete" if not met else "truncated" if any(d[1] == "truncated" for d in met) else "damaged")
        words = [d[2] for d in met if d[1] != "damaged"] + [d[2] for d in met if d[1] == "damaged"]   # what stopped it first
        return replace(out, status=status, damage=met, messages=tuple(dict.fromkeys(words))[:8])

    def describe(self) -> str:
        """One sentence on what was read (empty for a whole track)."""
        if self.status == "absent":
            return f"{shown(self.path)}: no audio track"
        if self.status == "complete":
            return ""
        said = f"; FFmpeg says: {'; '.join(self.messages[:3])}" if self.messages else ""
        return f"{shown(self.path)}: audio track {self.status}: read {self.seconds:.2f} s{said}"

    def to_source(self) -> dict:
        """What a record keeps about the track: codec, its own rate and channels, where it lies."""
        out = {"track": self.status, "codec": self.codec, "source_rate": self.source_rate,
               "channels": self.channels, "rate": self.rate}
        if len(self.samples):
            out.update(track_start=round(self.start, 4), track_end=round(self.end, 4))
        if math.isfinite(self.duration_claimed):
            out["duration_claimed"] = round(self.duration_claimed, 4)
        if self.messages:
            out["messages"] = list(self.messages)
        return out


def wav_bytes(track: AudioTrack) -> bytes:
    """The track's samples as a mono 16-bit PCM WAV file at its rate, in memory (for a player;
    nothing is written to disk). Samples beyond [-1, 1] are clipped, as any 16-bit writer would."""
    pcm = np.round(np.clip(track.samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(track.rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _audio_stream(container):
    """The container's default audio stream, else its first (None: no audio stream)."""
    streams = list(container.streams.audio)
    if not streams:
        return None
    for s in streams:
        if s.disposition & av.stream.Disposition.default:
            return s
    return streams[0]


def _zero(path, container, audio, video_stream: int | None) -> float:
    """The second, on the audio stream's clock, that the video's timeline calls 0: the start of
    the video stream read (the frame reader counts from it); for an audio-only file, its own start."""
    if container.streams.video:
        number, _ = choose_stream(path, describe_streams(container.streams.video), video_stream)
        vs = container.streams.video[number]
        if vs.start_time is not None and vs.time_base:
            return float(vs.start_time * vs.time_base)
        return 0.0
    tb = audio.time_base or Fraction(1, audio.rate or AUDIO_RATE)
    return float(audio.start_time * tb) if audio.start_time is not None else 0.0


def read_audio(path: str | os.PathLike, *, start: float | None = None, end: float | None = None,
               offset: float | None = None, video_stream: int | None = None) -> AudioTrack:
    """The audio of ``path`` between ``start`` and ``end`` seconds of the video's timeline
    (None: from the top / to the end), mono float at :data:`AUDIO_RATE` (module doc).

    Args:
        offset: the audio is a file of its own whose time 0 is this second of the video (an
            IEMOCAP utterance's wav begins at the utterance's start); None: the file's own track.
        video_stream: the video stream whose clock is the timeline (as ``--stream``).

    Raises:
        VideoError: the file is no video or audio we read, or FFmpeg cannot open it.
    """
    p = check_media_file(path)
    if start is not None and end is not None and end <= start:
        raise VideoError(f"{shown(p)}: end {end} s is not after start {start} s")
    route_ffmpeg_logs()
    marks: list[tuple[int, float]] = []     # (FFmpeg's messages so far, timeline second) at each frame decoded
    failed = 0
    with av.logging.Capture(local=True) as logs:
        container = open_container(p, "a media file")
        try:
            track = _read(p, container, start, end, offset, video_stream, lambda t: marks.append((len(logs), t)))
        finally:
            container.close()
        if track.status == "undecodable" and start is not None and start >= SEEK_FROM:
            # a seek some demuxers land mid-frame on (MPEG-PS with MP2: "Header missing"): from the top
            marks.clear()
            failed = len(logs)           # what the failed seek made FFmpeg say is not the track's damage
            container = open_container(p, "a media file")
            try:
                track = _read(p, container, start, end, offset, video_stream,
                              lambda t: marks.append((len(logs), t)), seek=False)
            finally:
                container.close()
    if track.found and len(track.samples):
        # each complaint lies where the audio was being decoded when it was made
        placed = [(next((t for n, t in marks if n > i), track.end), *complaints([entry], None))
                  for i, entry in enumerate(list(logs)) if i >= failed]
        damage = [(t, "damaged", words[0]) for t, words, bad in placed if bad]
        if damage or track.damage:
            track = replace(track, damage=tuple(sorted(track.damage + tuple(damage))))
    return track.cut(start, end)


def _read(p, container, start, end, offset, video_stream, mark, seek: bool = True) -> AudioTrack:
    audio = _audio_stream(container)
    if audio is None:
        return AudioTrack(str(p), np.zeros(0, np.float32), status="absent")
    ctx = audio.codec_context
    codec = ctx.name if ctx is not None else "unknown"
    claimed = float(audio.duration * audio.time_base) if audio.duration and audio.time_base else float("nan")
    facts = dict(codec=codec, source_rate=int(getattr(ctx, "sample_rate", 0) or audio.rate or 0),
                 channels=int(getattr(ctx, "channels", 0) or 0), duration_claimed=claimed)
    if ctx is None:
        return AudioTrack(str(p), np.zeros(0, np.float32), status="undecodable", **facts,
                          messages=(f"FFmpeg has no decoder for its audio stream ({codec})",))
    ctx.thread_count = 1       # FFmpeg then logs from this thread only: captured as ours
    shift = (offset or 0.0) - (0.0 if offset is not None else _zero(p, container, audio, video_stream))
    tb = audio.time_base or Fraction(1, facts["source_rate"] or AUDIO_RATE)
    if seek and start is not None and start >= SEEK_FROM:
        container.seek(max(0, int((start - 1.0 - shift) / tb)), stream=audio, backward=True, any_frame=False)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    chunks, first, stopped = [], None, None
    try:
        for frame in container.decode(audio):
            t = frame.time + shift if frame.time is not None else None
            if first is None and t is None:
                continue                         # nothing tells where it lies yet
            if end is not None and t is not None and t >= end:
                break
            if first is None:
                first = t
            if t is not None:
                mark(t)
            chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
        chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    except (av.FFmpegError, ValueError, MemoryError) as e:   # damage mid-track: keep what was read
        stopped = f"{shown(p)}: audio decoding stopped: {ffmpeg_message(e)}"
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if first is None or not len(samples):
        return AudioTrack(str(p), np.zeros(0, np.float32), status="undecodable", **facts,
                          messages=(stopped or f"{shown(p)}: its audio track gave no sample",))
    track = AudioTrack(str(p), samples, start=first, **facts)       # cut to [start, end) by read_audio
    if stopped:
        return replace(track, damage=((track.end, "stopped", stopped),))
    whole = (start is None or start <= first + 1e-3) and end is None
    if whole and math.isfinite(claimed) and track.seconds < COMPLETE_SHARE * claimed:
        return replace(track, damage=((track.end, "truncated",
                                       f"read {track.seconds:.2f} s of the {claimed:.2f} s its container claims"),))
    return track
