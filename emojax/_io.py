"""Small I/O helpers: atomic writes and content hashing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True).encode())


def atomic_write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays as a compressed ``.npz``, atomically (no pickled objects inside)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=4096)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return _sha256_file(path)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, memoised per (path, size, mtime) within the process.

    IEMOCAP cuts many utterances out of one dialog video; the memo keeps us from hashing the
    same large file once per utterance.
    """
    st = os.stat(path)
    return _sha256_cached(os.fspath(Path(path).resolve()), st.st_size, st.st_mtime_ns)
