"""Acted emotion corpora whose labels live in the file names: CREMA-D and RAVDESS."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DatasetError
from ..video import VIDEO_EXTENSIONS
from .items import Dataset, VideoItem

#: CREMA-D emotion codes -> our class names (Cao et al. 2014)
CREMAD_CLASSES = {"NEU": "neu", "HAP": "hap", "SAD": "sad", "ANG": "ang", "FEA": "fea", "DIS": "dis"}
_CREMAD = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emo>[A-Z]{3})_(?P<level>[A-Z]{2})$")

#: RAVDESS emotion field -> class name (Livingstone & Russo 2018)
RAVDESS_CLASSES = {"01": "neu", "02": "cal", "03": "hap", "04": "sad", "05": "ang", "06": "fea",
                   "07": "dis", "08": "sur"}
_RAVDESS = re.compile(r"^(?P<mod>\d\d)-(?P<vc>\d\d)-(?P<emo>\d\d)-(?P<int>\d\d)-(?P<stmt>\d\d)-(?P<rep>\d\d)-(?P<actor>\d\d)$")


def _videos(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def load_cremad(root: str | os.PathLike) -> Dataset:
    """CREMA-D videos named ``<actor>_<sentence>_<EMO>_<level>.<ext>`` anywhere under ``root``.

    Groups are actors. Files whose names do not follow the pattern are skipped and reported.
    """
    root = Path(root)
    items, skipped = [], []
    for p in _videos(root):
        m = _CREMAD.match(p.stem)
        if not m or m["emo"] not in CREMAD_CLASSES:
            skipped.append((str(p), "name is not <actor>_<sentence>_<EMO>_<level> with a known EMO"))
            continue
        items.append(VideoItem(id=p.stem, path=str(p), label=CREMAD_CLASSES[m["emo"]], group=m["actor"]))
    if not items:
        raise DatasetError(f"{root}: no CREMA-D videos (<actor>_<sentence>_<EMO>_<level>.flv) found")
    return Dataset("cremad", items, list(CREMAD_CLASSES.values()), skipped)


def load_ravdess(root: str | os.PathLike, *, speech_only: bool = False) -> Dataset:
    """RAVDESS videos ``MM-VC-EE-II-SS-RR-AA.mp4`` under ``root``; audio-only files (MM = 03)
    are left out, song (VC = 02) too when ``speech_only``. Groups are actors (AA)."""
    root = Path(root)
    items, skipped = [], []
    for p in _videos(root):
        m = _RAVDESS.match(p.stem)
        if not m or m["emo"] not in RAVDESS_CLASSES or not 1 <= int(m["actor"]) <= 24:
            skipped.append((str(p), "name is not MM-VC-EE-II-SS-RR-AA with known fields"))
            continue
        if m["mod"] == "03" or (speech_only and m["vc"] != "01"):
            continue
        items.append(VideoItem(id=p.stem, path=str(p), label=RAVDESS_CLASSES[m["emo"]],
                               group=f"actor{m['actor']}"))
    if not items:
        raise DatasetError(f"{root}: no RAVDESS videos (MM-VC-EE-II-SS-RR-AA.mp4) found")
    return Dataset("ravdess", items, list(RAVDESS_CLASSES.values()), skipped)
