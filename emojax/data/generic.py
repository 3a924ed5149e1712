"""Datasets a user lays out by hand: a folder per class, or a CSV manifest."""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
import re
import stat
from pathlib import Path

from ..errors import DatasetError
from ..fileio import disk_problem, shown
from ..video import VIDEO_EXTENSIONS
from .items import Dataset, VideoItem, existing_video

MANIFEST_COLUMNS = ("path", "label", "group", "start", "end")
#: other names a manifest's header may give its columns
COLUMN_SYNONYMS = {"file": "path", "filename": "path", "video": "path", "clip": "path", "emotion": "label",
                   "class": "label", "speaker": "group", "actor": "group", "subject": "group"}


def videos_under(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every file of a video type under ``folder``, at any depth, sorted; and every entry passed
    over, with why (each (path, reason)): hidden (its name starts with a dot: ``.DS_Store``,
    macOS's ``._clip.mp4``; a hidden folder is one entry), not a video type, unreadable
    (permission denied, for a file or a folder), a symlink loop, a link to nothing, a link to a
    folder (not followed), not a regular file (a pipe, a device)."""
    videos, skipped = [], []

    def unreadable(e: OSError) -> None:
        skipped.append((shown(e.filename or folder), f"unreadable folder ({disk_problem(e)})"))

    for here, dirs, files in os.walk(folder, onerror=unreadable):
        base = Path(here)
        for d in sorted(dirs):
            why = "hidden" if d.startswith(".") else "a link to a folder (not followed)" if (base / d).is_symlink() else None
            if why:
                skipped.append((shown(base / d), why))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = base / name
            why = _passed_over(path, name)
            if why:
                skipped.append((shown(path), why))
            else:
                videos.append(path)
    return sorted(videos), skipped


def _passed_over(path: Path, name: str) -> str | None:
    """Why a folder's entry is no video to read (None: it is one)."""
    if name.startswith("."):
        return "hidden"
    try:
        st = path.stat()
    except OSError as e:
        return "a link to nothing" if e.errno == errno.ENOENT else disk_problem(e)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        return "not a video type"
    if not os.access(path, os.R_OK):
        return "unreadable (permission denied)"
    return None


def speaker_regex(pattern: str) -> re.Pattern:
    """A speaker pattern compiled: a regular expression searched in a video's path inside its
    class folder, whose group ``speaker`` (or else its first group, or else the whole match) is
    the speaker; a bad one raises :class:`DatasetError` saying why."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise DatasetError(f"speaker pattern {pattern!r} is not a regular expression ({e})") from None
    return rx


def speaker_of(rx: re.Pattern, name: str) -> str | None:
    """The speaker ``rx`` (:func:`speaker_regex`) finds in ``name`` (None: no match, or empty)."""
    m = rx.search(name)
    if m is None:
        return None
    speaker = m.group("speaker") if "speaker" in rx.groupindex else m.group(1) if rx.groups else m.group(0)
    return speaker or None


def load_folder(root: str | os.PathLike, *, speaker_pattern: str | None = None) -> Dataset:
    """``root/<class>/<video>``: the folder name is the label. No speakers, unless
    ``speaker_pattern`` (:func:`speaker_regex`) finds each video's speaker in its path inside its
    class folder, e.g. ``^(\\w+?)_`` for ``happy/actor03_take2.mp4`` -> ``actor03``; a video it
    does not match is a :class:`DatasetError` naming the file. Entries of the class folders that
    are no video to read are skipped and reported (:func:`videos_under`)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{shown(root)}: not a folder")
    rx = speaker_regex(speaker_pattern) if speaker_pattern is not None else None
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items, skipped = [], []
    for c in classes:
        videos, passed = videos_under(root / c)
        for p in videos:
            inside = p.relative_to(root / c).as_posix()
            speaker = None if rx is None else speaker_of(rx, inside)
            if rx is not None and speaker is None:
                raise DatasetError(f"{shown(p)}: the speaker pattern {speaker_pattern!r} finds no speaker in "
                                   f"{inside!r}; every video's name must show its speaker")
            items.append(VideoItem(id=f"{c}/{Path(inside).with_suffix('')}", path=str(p), label=c, group=speaker))
        skipped += passed
    classes = [c for c in classes if any(i.label == c for i in items)]
    if not items:
        raise DatasetError(f"{shown(root)}: no videos in class folders (expected {shown(root)}/<class>/<video>)")
    return Dataset(f"folder:{root.name}", items, classes, skipped)


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
    """A CSV with rows ``path,label[,group][,start,end]`` (a header row naming these columns,
    in any order and with the synonyms of :data:`COLUMN_SYNONYMS`, is optional). Relative paths are relative to the manifest's folder. Malformed rows raise
    :class:`DatasetError` naming the file and line; missing videos are skipped and reported."""
    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read the manifest ({e})") from e
    header = list(MANIFEST_COLUMNS)
    first = 0
    names = [COLUMN_SYNONYMS.get(h.strip().lower(), h.strip().lower()) for h in (rows[0] if rows else [])]
    if any(n in MANIFEST_COLUMNS for n in names) and not any(Path(c.strip()).suffix for c in rows[0][:1]):
        header = names                          # a header row (its first cell is no file name)
        unknown = [h for h, n in zip(rows[0], names) if n not in MANIFEST_COLUMNS]
        if unknown or "label" not in names or "path" not in names or len(set(names)) < len(names):
            raise DatasetError(f"{path}:1: header must name path,label[,group][,start,end] once each "
                               f"(file, emotion, speaker... are understood too); got {','.join(rows[0])}")
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


def load_paths(paths: list[str | os.PathLike]) -> Dataset:
    """Unlabelled items from what a user lists: video files (a bad one fails when it is read,
    naming it), folders (every video under them, named by its path inside the folder; the
    entries passed over are in ``skipped``, with why) and CSV manifests (their rows, labels kept)."""
    items, skipped, seen = [], [], set()

    def add(item: VideoItem) -> None:
        while item.id in seen:
            item = dataclasses.replace(item, id=item.id + "+")
        seen.add(item.id)
        items.append(item)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            videos, passed = videos_under(p)
            for f in videos:
                add(VideoItem(id=str(f.relative_to(p).with_suffix("")), path=str(f), label=None))
            skipped.extend(passed)
        elif p.suffix.lower() == ".csv":
            ds = load_manifest(p)
            for item in ds.items:
                add(item)
            skipped.extend(ds.skipped)
        else:
            add(VideoItem(id=p.stem, path=str(p), label=None))
    return Dataset("paths", items, sorted({i.label for i in items if i.label}), skipped)
