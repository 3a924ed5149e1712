"""Whether a read gave the whole of what the file promised, judged in our words with FFmpeg's.

FFmpeg's own complaints (a corrupt packet, a damaged macroblock) are captured for the reading
thread only (:func:`route_ffmpeg_logs` keeps the rest off the terminal) and become part of
the verdict. How many frames were owed depends on what the container keeps:

- an exact frame count (AVI, MP4), and the read decoded the whole stream: every stated frame
  must arrive, one of slack (an encoder's last frame, an edit list) — ``rule="count"``;
- an exact count, but a cut that seeks or stops inside the file: what the count implies for
  the span is only an estimate (a variable frame rate spreads the frames unevenly), so a read
  is short below :data:`COMPLETE_SHARE` of it — ``rule="share"``;
- no count (Matroska, FLV, MPEG): the span of time read against the duration claimed, with
  the same share — ``rule="span"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import av
import av.logging

#: where no exact count applies, a read that yields fewer than this share of the frames (or the
#: seconds) the container's claims promise is truncated
COMPLETE_SHARE = 0.9
#: where the container states an exact count and the whole stream was decoded: this many frames
#: may be missing before the read is truncated
COUNT_SLACK = 1
#: FFmpeg warnings with these words report damage (errors do, but for the benign ones below)
_DAMAGE_WORDS = ("corrupt", "truncat")
#: errors FFmpeg prints for streams that decode fine: a DivX AVI's packed B-frames, an H.264
#: stream that starts (or was cut) between reference frames
_BENIGN = ("packed b frames", "unref short failure", "co located pocs unavailable")

_LOGS_ROUTED = False


def route_ffmpeg_logs() -> None:
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


def ffmpeg_message(e: Exception) -> str:
    """FFmpeg's words from a PyAV exception, without the file name it repeats."""
    msg = getattr(e, "strerror", None) or str(e)
    last = getattr(e, "log", None)
    if last and len(last) >= 3 and last[2]:
        msg += f" ({last[1]}: {last[2].strip()})"
    return msg


@dataclass(frozen=True)
class Integrity:
    """Whether a read gave the whole of what was asked.

    ``status``: ``"complete"``; ``"truncated"`` (fewer frames than the container states, or
    clearly fewer than its claims promise for the span read, or the file ends inside a packet);
    ``"damaged"`` (the decoder or demuxer reported corrupt data). ``messages``: FFmpeg's own
    words, first few, without repeats. ``rule``: how the frames owed were known (module doc).
    """

    status: str
    frames_read: int
    frames_expected: int | None   # what the container's claims promise for the span read
    messages: tuple[str, ...] = field(default=())
    seconds_read: float | None = None      # when the container keeps no frame count: the span of
    seconds_expected: float | None = None  # the frames read, against the duration it claims
    rule: str = "share"                    # "count", "share" or "span" (module doc); "none": nothing claimed
    frames_decoded: int | None = None      # rule "count": frames the decoder gave over the whole stream
    frames_stated: int | None = None       # rule "count": the container's own frame count

    @property
    def partial(self) -> bool:
        return self.status != "complete"

    def describe(self) -> str:
        """One sentence: what is wrong (empty when complete)."""
        if not self.partial:
            return ""
        if self.rule == "count" and self.frames_decoded < self.frames_stated:
            count = f"read {self.frames_decoded} of the {self.frames_stated} frames its container claims"
        elif self.seconds_expected is not None:
            count = (f"read {self.frames_read} frames covering {self.seconds_read:.2f} s of the "
                     f"{self.seconds_expected:.2f} s its container claims")
        elif self.frames_expected is not None and self.frames_read < self.frames_expected:
            count = f"read {self.frames_read} of the {self.frames_expected} frames its container claims"
        else:
            count = f"read {self.frames_read} frames"
        said = f"; FFmpeg says: {'; '.join(self.messages[:3])}" if self.messages else ""
        return f"{self.status}: {count}{said}"

    def to_dict(self) -> dict:
        out = {"status": self.status, "frames_read": self.frames_read, "frames_expected": self.frames_expected,
               "messages": list(self.messages), "rule": self.rule}
        if self.seconds_expected is not None:
            out.update(seconds_read=self.seconds_read, seconds_expected=self.seconds_expected)
        if self.rule == "count":
            out.update(frames_decoded=self.frames_decoded, frames_stated=self.frames_stated)
        return out


def complaints(logs: list, stopped_by: str | None) -> tuple[list[str], bool]:
    """FFmpeg's messages that report damage (first the error that stopped decoding), and
    whether there were any."""
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
    return messages, damage


def assess(read: int, expected: int | None, logs: list, stopped_by: str | None, *,
           seconds: tuple[float, float] | None = None, counted: tuple[int, int] | None = None) -> Integrity:
    """The verdict on a read of ``read`` frames. ``counted``: (frames decoded over the whole
    stream, frames the container states) when the stream was decoded whole and its container
    keeps an exact count (rule "count"); else ``seconds``: (span read, span claimed) when the
    claim is a duration (rule "span"); else the share of ``expected`` (rule "share")."""
    messages, damage = complaints(logs, stopped_by)
    if counted is not None:
        rule, short = "count", counted[0] < counted[1] - COUNT_SLACK
    elif seconds is not None:
        got, want = seconds
        rule, short = "span", got < COMPLETE_SHARE * want and want - got >= 3 * want / max(expected or 1, 1)
    else:
        rule = "share" if expected is not None else "none"
        short = expected is not None and read < COMPLETE_SHARE * expected and expected - read >= 3
    trunc = short or any("truncat" in m.lower() or ("corrupt" in m.lower() and "packet" in m.lower()) for m in messages)
    status = "damaged" if stopped_by else "truncated" if trunc else "damaged" if damage else "complete"
    got, want = seconds if seconds is not None else (None, None)
    decoded, stated = counted if counted is not None else (None, None)
    return Integrity(status, read, expected, tuple(messages[:8]), got, want, rule, decoded, stated)
