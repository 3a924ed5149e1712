"""Datasets a user lays out by hand: a folder per class, or a CSV manifest."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import DatasetError
from ..video import VIDEO_EXTENSIONS
from .items import Dataset, VideoItem, existing_video

MANIFEST_COLUMNS = ("path", "label", "group", "start", "end")


def load_folder(root: str | os.PathLike) -> Dataset:
    """``root/<class>/<video>``: the folder name is the label; no groups."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items = []
    for c in classes:
        for p in sorted((root / c).rglob("*")):
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
                items.append(VideoItem(id=f"{c}/{p.relative_to(root / c).with_suffix('')}", path=str(p), label=c))
    classes = [c for c in classes if any(i.label == c for i in items)]
    if not items:
        raise DatasetError(f"{root}: no videos in class folders (expected {root}/<class>/<video>)")
    return Dataset(f"folder:{root.name}", items, classes, [])


def _float_or_none(value: str | None, where: str, name: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        v = float(value)
    except ValueError as e:
        raise DatasetError(f"{where}: {name} {value!r} is not a number") from e
    if v < 0:
        raise DatasetError(f"{where}: {name} {v} is negative")
    return v


def load_manifest(path: str | os.PathLike) -> Dataset:
    """A CSV with rows ``path,label[,group][,start,end]`` (a header row naming these columns
    is optional). Relative paths are relative to the manifest's folder. Malformed rows raise
    :class:`DatasetError` naming the file and line; missing videos are skipped and reported."""
    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read the manifest ({e})") from e
    header = list(MANIFEST_COLUMNS)
    first = 0
    if rows and rows[0] and rows[0][0].strip().lower() == "path":
        header = [h.strip().lower() for h in rows[0]]
        unknown = set(header) - set(MANIFEST_COLUMNS)
        if unknown or "label" not in header:
            raise DatasetError(f"{path}:1: header must name path,label[,group][,start,end]; got {rows[0]}")
        first = 1
    items, skipped, seen = [], [], set()
    for n, row in enumerate(rows[first:], start=first + 1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{n}"
        if len(row) < 2 or len(row) > len(header):
            raise DatasetError(f"{where}: expected {len(header)} or fewer columns path,label[,...], got {len(row)}")
        rec = dict(zip(header, (c.strip() for c in row)))
        if not rec.get("path") or not rec.get("label"):
            raise DatasetError(f"{where}: empty path or label")
        video = Path(rec["path"])
        video = video if video.is_absolute() else path.parent / video
        start = _float_or_none(rec.get("start"), where, "start")
        end = _float_or_none(rec.get("end"), where, "end")
        if start is not None and end is not None and end <= start:
            raise DatasetError(f"{where}: end {end} is not after start {start}")
        if not existing_video(video, skipped):
            continue
        item_id = video.stem if start is None else f"{video.stem}@{start:g}"
        while item_id in seen:
            item_id += "+"
        seen.add(item_id)
        items.append(VideoItem(id=item_id, path=str(video), label=rec["label"],
                               group=rec.get("group") or None, start=start, end=end))
    classes = sorted({i.label for i in items})
    return Dataset(f"csv:{path.name}", items, classes, skipped)
