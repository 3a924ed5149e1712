"""The feature store: one ``<stem>.npz`` + ``<stem>.json`` per (video content, cut, extractor config).

The key hashes the file's content (not its path), the cut's start/end and the extractor
config, so extracting the same file again - under any name - is a cache hit (:meth:`locate`
finds a record by its key whatever name it was stored under), and a change of any setting is
a miss. A file's content is hashed once per process (per resolved path, size and mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ..fileio import file_sha256
from .record import FORMAT_VERSION, ExtractorConfig, Features
from .timing import regular


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "video"


class FeatureStore:
    """A folder of feature records (default ``artifacts/features``)."""

    def __init__(self, root: str | os.PathLike = "artifacts/features"):
        self.root = Path(root)

    def key(self, path: str | os.PathLike, config: ExtractorConfig, start: float | None = None,
            end: float | None = None) -> str:
        """16 hex digits naming (content, cut, config, record format: a record of an older
        format is not found, so it is extracted afresh)."""
        payload = json.dumps({"sha256": file_sha256(path), "start": start, "end": end, "format": FORMAT_VERSION,
                              "config": config.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def stem(self, path: str | os.PathLike, config: ExtractorConfig, start: float | None = None,
             end: float | None = None, name: str | None = None) -> Path:
        """``<root>/<name or file stem>__<key>`` (add ``.npz`` / ``.json``)."""
        base = _slug(name or Path(path).stem)
        return self.root / f"{base}__{self.key(path, config, start, end)}"

    def index(self) -> dict[str, Path]:
        """Every complete record's stem by its key (one listing of the folder)."""
        return {stem.name.rsplit("__", 1)[-1]: stem for stem in self.records()}

    def locate(self, path: str | os.PathLike, config: ExtractorConfig, start: float | None = None,
               end: float | None = None, name: str | None = None, *, index: dict[str, Path] | None = None) -> Path:
        """The stem of this (content, cut, config): the record already stored under any name
        (looked up in ``index`` when given: a batch lists the folder once), else a new stem
        named after ``name`` (or the file)."""
        key = self.key(path, config, start, end)
        found = (index if index is not None else self.index()).get(key)
        return found or self.root / f"{_slug(name or Path(path).stem)}__{key}"

    def has(self, stem: Path) -> bool:
        """A record is complete once its JSON (written last) exists beside its arrays."""
        return stem.with_name(stem.name + ".json").is_file() and stem.with_name(stem.name + ".npz").is_file()

    def load(self, stem: Path) -> Features:
        """A stored record, on a uniform grid if its frames came at a variable rate (records
        stored before emojax resampled such videos are put on one here)."""
        return regular(Features.load(stem))

    def put(self, stem: Path, features: Features) -> None:
        features.save(stem)

    def records(self) -> list[Path]:
        """Stems of every complete record in the store."""
        if not self.root.is_dir():
            return []
        return sorted(p.with_suffix("") for p in self.root.glob("*.json") if p.with_suffix(".npz").is_file())
