"""Small I/O helpers: atomic writes, content hashing, and checking that a folder can take
what is about to be written (before hours of work, not after)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StorageError

#: bytes written (and removed) to prove a folder takes data: a full disk fails this
PROBE_BYTES = 1 << 20


def disk_problem(e: OSError) -> str:
    """What an OSError says about a disk or a path, in words."""
    return {errno.ENOSPC: "no space left on the disk", errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied", errno.EPERM: "not permitted",
            errno.EDQUOT: "over the disk quota", errno.ELOOP: "symlink loop (a link that leads back to itself)",
            errno.ENOENT: "no such file", errno.ENOTDIR: "no such file (a part of its path is not a folder)",
            errno.ENAMETOOLONG: "the path is too long"}.get(e.errno, e.strerror or str(e))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(path: str | os.PathLike) -> str:
    """A path as a one-line message prints it: as it is, or, when it holds a newline or another
    control character, escaped and quoted as Python's ``repr`` writes it (``'a\\nb.mp4'``)."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    return repr(text) if _CONTROL.search(text) else text


def one_line(text: str) -> str:
    """``text`` with every control character (a newline in a file name) escaped, so that a
    message stays one line whatever names it carries."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def check_writable(folder: str | os.PathLike, what: str) -> Path:
    """Make ``folder`` if needed and prove it takes data (:data:`PROBE_BYTES` written, synced and
    removed). Raises StorageError ``<folder>: cannot write the <what> there (<why>)``."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".emojax-probe-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\0" * PROBE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            Path(probe).unlink(missing_ok=True)
    except OSError as e:
        raise StorageError(f"{folder}: cannot write the {what} there ({disk_problem(e)})") from None
    return folder


#: this process's umask, read once at import (reading it means setting it; done before any thread)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise StorageError(f"{path}: cannot write it ({disk_problem(e)})") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp's 0600 is for the temp file; the result is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, StorageError):
            raise StorageError(f"{path}: cannot write it ({disk_problem(e)}); the previous version, if any, "
                               "is kept") from None
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


def hashing_stats() -> dict[str, int]:
    """How many files this process has hashed, and how many hashes it reused (the memo above)."""
    info = _sha256_cached.cache_info()
    return {"hashed": info.misses, "reused": info.hits}


def forget_hashes() -> None:
    """Forget every memoised hash (the next ask hashes the file again)."""
    _sha256_cached.cache_clear()
