"""What happened to each video of a batch extraction (:class:`Outcome`), and the batch's
totals in the words the CLI prints (:class:`Summary`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..fileio import one_line
from .items import VideoItem


@dataclass
class Outcome:
    """What happened to one item."""

    item: VideoItem
    status: str            # "done", "cached" or "failed"
    stem: str | None = None
    error: str | None = None
    frames: int = 0
    no_face: int = 0
    partial: str | None = None  # what is missing from a video kept although it was not whole
    retries: int = 0            # times it was handed out again because the worker reading it died
    stream_note: str = ""       # which video stream was read when its file has others (else empty)
    rotation: int = 0           # degrees clockwise its frames were turned upright (its display matrix)
    voice: str = "unread"       # its record's voice status (features.voice.STATUSES)
    voice_note: str = ""        # why the voice is not "present" (no audio track, a short track, little speech)
    voice_completed: bool = False  # a record stored before emojax read voice, given its voice now (audio only)


@dataclass
class Summary:
    """Totals of a batch extraction."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def partial(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.partial]

    def text(self) -> str:
        frames = sum(o.frames for o in self.outcomes)
        no_face = sum(o.no_face for o in self.outcomes)
        lines = [f"done {self.count('done')}, already stored {self.count('cached')}, failed {self.count('failed')}, "
                 f"kept partial {len(self.partial)}; "
                 f"{frames} frames, {no_face} without a face ({100 * no_face / max(frames, 1):.1f} %)"]
        lines += [f"  failed: {o.item.id}: {o.error}" for o in self.failed]
        lines += [f"  partial: {o.item.id}: {o.partial}" for o in self.partial]
        lines += [f"  read again after its worker died: {o.item.id} ({o.retries}x)" for o in self.outcomes if o.retries]
        lines += [f"  video streams: {o.item.id}: {o.stream_note}" for o in self.outcomes if o.stream_note]
        turned = Counter(o.rotation for o in self.outcomes if o.rotation)
        if turned:
            lines.append(f"  turned upright as their display matrix says: {sum(turned.values())} video(s) ("
                         + ", ".join(f"{n} by {r}°" for r, n in sorted(turned.items())) + ")")
        lines += self.voice_lines()
        faceless = [o for o in self.outcomes if o.frames and o.no_face == o.frames]
        lines += [f"  no face in any frame: {o.item.id}" + ("; its file has other video streams (see above)"
                                                             if o.stream_note else "") for o in faceless]
        return "\n".join(one_line(line) for line in lines)      # a name with a newline stays on its line

    #: videos without voice named one by one up to this many (then counted)
    VOICE_NAMED = 10

    def voice_lines(self) -> list[str]:
        """The voice of the records: how many have none (absent) or too little (partial), each
        named with why (up to :attr:`VOICE_NAMED`), and how many stored records were completed."""
        kept = [o for o in self.outcomes if o.status != "failed"]
        if not kept:
            return []
        by = Counter(o.voice for o in kept)
        lines = [f"  voice: {by.get('present', 0)} present, {by.get('partial', 0)} partial, {by.get('absent', 0)} absent"
                 + (f", {by['unread']} not read" if by.get("unread") else "")]
        without = [o for o in kept if o.voice in ("absent", "partial")]
        lines += [f"  voice {o.voice}: {o.item.id}: {o.voice_note}" for o in without[:self.VOICE_NAMED]]
        if len(without) > self.VOICE_NAMED:
            lines.append(f"  ... and {len(without) - self.VOICE_NAMED} more video(s) without full voice")
        completed = sum(o.voice_completed for o in self.outcomes)
        if completed:
            lines.append(f"  completed {completed} stored record(s) with their voice (audio read, no video decoded again)")
        return lines
