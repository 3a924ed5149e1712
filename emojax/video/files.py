"""Which files are videos we read: an allowed extension *and* the magic bytes of that container,
checked before FFmpeg sees the file (FFmpeg follows playlists and other indirections, so a
renamed text file must never reach it). Every refusal is a :class:`VideoError` naming the file
in one line (a name with a newline is shown escaped) and the problem in words: no such file, a
symlink loop, a dangling link, permission denied, empty, not a video."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..errors import VideoError
from ..fileio import disk_problem, shown

#: extension -> container family whose magic bytes the file must carry
VIDEO_EXTENSIONS = {
    ".mp4": "isobmff", ".m4v": "isobmff", ".mov": "isobmff",
    ".avi": "riff", ".mpg": "mpeg", ".mpeg": "mpeg",
    ".flv": "flv", ".mkv": "matroska", ".webm": "matroska", ".wmv": "asf",
}
#: audio-only files whose voice is read (``emojax voice``): extension -> container family
AUDIO_EXTENSIONS = {".wav": "wave", ".mp3": "mp3", ".flac": "flac", ".m4a": "isobmff"}


def sniff(head: bytes) -> str | None:
    """Container family from the first bytes of a file, or None if it is not a known video."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "isobmff"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "riff"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "asf"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wave"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"           # an ID3 tag, or an MPEG audio frame's sync word
    return None


def path_problem(path: Path, e: OSError) -> str:
    """Why ``path`` cannot be opened, in words: a dangling link is told apart from a file that
    is not there, a symlink loop from both."""
    if e.errno == errno.ENOENT and path.is_symlink():
        return f"a symlink to {shown(os.readlink(path))}, which does not exist"
    return disk_problem(e)


def check_video_file(path: str | os.PathLike) -> Path:
    """Refuse anything that is not an existing, readable, non-empty video of an allowed type.

    Raises:
        VideoError: naming the file (escaped if its name holds a newline) and the problem.
    """
    return _check(path, VIDEO_EXTENSIONS, "a video type we read")


def check_media_file(path: str | os.PathLike) -> Path:
    """:func:`check_video_file`, but an audio-only file of :data:`AUDIO_EXTENSIONS` is accepted
    too (its voice is read): refused unless its first bytes match its extension's container."""
    return _check(path, {**VIDEO_EXTENSIONS, **AUDIO_EXTENSIONS}, "a video or audio type we read")


def _check(path: str | os.PathLike, extensions: dict[str, str], what_we_read: str) -> Path:
    p = Path(path)
    name = shown(p)
    try:
        st = p.stat()
    except OSError as e:
        raise VideoError(f"{name}: {path_problem(p, e)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(f"{name}: not a regular file" + (" (a folder)" if stat.S_ISDIR(st.st_mode) else ""))
    ext = p.suffix.lower()
    if ext not in extensions:
        allowed = ", ".join(sorted(extensions))
        raise VideoError(f"{name}: extension {ext or '(none)'!r} is not {what_we_read} ({allowed})")
    if st.st_size == 0:
        raise VideoError(f"{name}: the file is empty (0 bytes)")
    try:
        with open(p, "rb") as fh:
            head = fh.read(32)
    except OSError as e:
        raise VideoError(f"{name}: {path_problem(p, e)}") from None
    kind = sniff(head)
    if kind is None:
        media = "video" if extensions is VIDEO_EXTENSIONS else "video or audio"
        what = "a playlist" if head.lstrip().startswith(b"#EXT") else "not a video" if media == "video" \
            else "neither a video nor an audio file"
        raise VideoError(f"{name}: {what} (its first bytes match no {media} container); refusing to open it")
    if kind != extensions[ext]:
        raise VideoError(f"{name}: named {ext} but its content is a {kind} container; rename it to match")
    return p


def riff_whole(path: str | os.PathLike) -> bool:
    """Whether an AVI's top-level chunks (``RIFF AVI``, then any ``RIFF AVIX`` of an OpenDML
    file) each fit in the file and together reach its end: a file cut anywhere, even at a
    chunk boundary where FFmpeg says nothing, has a chunk that claims more bytes than remain."""
    size = os.path.getsize(path)
    at = 0
    with open(path, "rb") as fh:
        while at + 8 <= size:
            fh.seek(at)
            head = fh.read(8)
            n = int.from_bytes(head[4:8], "little")
            at += 8 + n + (n & 1)
            if at > size + (n & 1):
                return False
    return at >= size
