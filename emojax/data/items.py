"""What every dataset loader yields: video items with labels and speakers, and what it skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class VideoItem:
    """One labelled video, or one cut ``[start, end)`` of a longer video."""

    id: str                      # unique within the dataset (utterance id, file stem, ...)
    path: str                    # video file
    label: str | None            # class name, None if unlabelled
    group: str | None = None     # speaker / actor: what must not straddle train and test
    session: str | None = None   # recording session (IEMOCAP), else None
    start: float | None = None   # seconds into ``path`` (None: from the beginning)
    end: float | None = None     # seconds into ``path`` (None: to the end)
    region: str | None = None    # part of the frame holding this item's face: None, "left", "right"
    audio: str | None = None     # the item's own audio file, whose time 0 is ``start`` of the video (IEMOCAP's
                                 # utterance wav); None: the voice is read from the video's own track


@dataclass
class Dataset:
    """Items of one dataset, its class names in a fixed order, and the items it had to skip."""

    name: str
    items: list[VideoItem]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        c = Counter(i.label for i in self.items)
        return {k: c.get(k, 0) for k in self.classes}

    def speakers(self) -> list[str]:
        return sorted({i.group for i in self.items if i.group is not None})

    def summary(self) -> str:
        lines = [f"{self.name}: {len(self.items)} items, {len(self.speakers())} speakers, classes "
                 + ", ".join(f"{k}={v}" for k, v in self.counts().items())]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}: " + "; ".join(f"{w} ({why})" for w, why in self.skipped[:5])
                         + (" ..." if len(self.skipped) > 5 else ""))
        return "\n".join(lines)


def count_skipped(skipped: list[tuple[str, str]]) -> str:
    """One line counting what was skipped, by why (most common first); empty when nothing was."""
    if not skipped:
        return ""
    by = Counter(why for _, why in skipped).most_common()
    return f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}: " + ", ".join(f"{n} {why}" for why, n in by)


def existing_video(path: Path, skipped: list[tuple[str, str]]) -> bool:
    """True if ``path`` is a file; otherwise note it as a reported skip."""
    if path.is_file():
        return True
    skipped.append((str(path), "video file missing"))
    return False
