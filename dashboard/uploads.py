"""Each visitor's video: the one they are looking at, the file they uploaded and the files they
made here (a live recording), all kept in their own ``st.session_state`` so that visitors at once
each see their own and it outlives a visit to another page. The files a visitor's session wrote
are removed when that session ends (Streamlit drops its state) or when the server stops.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from emojax.errors import VideoError
from emojax.video import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, check_media_file, check_video_file

#: uploads: these types (the video readers' allow-list, and the audio-only files whose voice is read)
UPLOAD_TYPES = sorted(e.lstrip(".") for e in {**VIDEO_EXTENSIONS, **AUDIO_EXTENSIONS})


def max_upload_mb() -> int:
    return int(os.environ.get("EMOJAX_MAX_UPLOAD_MB", 200))


@dataclass(frozen=True)
class Video:
    """The video a visitor is looking at: where it is on disk and what to call it."""

    path: Path
    name: str

    def message(self, error: Exception) -> str:
        """An error about this video as the visitor knows it: by their file's name, not ours."""
        return str(error).replace(str(self.path), self.name)


def current_video() -> Video | None:
    return st.session_state.get("video")


def set_video(video: Video) -> None:
    if st.session_state.get("video") != video:
        st.session_state["video"] = video
        st.session_state.pop("prediction", None)


_UPLOADS: dict = {}


def _upload_dir() -> Path:
    """A private folder (mode 0700) for this process's uploads, made once."""
    if "dir" not in _UPLOADS:
        _UPLOADS["dir"] = Path(tempfile.mkdtemp(prefix="emojax-uploads-"))
        atexit.register(shutil.rmtree, _UPLOADS["dir"], ignore_errors=True)
    return _UPLOADS["dir"]


class VisitorFiles:
    """The files one visitor's session wrote. Held only by that session's state, so when the
    session ends and its state is dropped, the files go with it."""

    def __init__(self):
        self.paths: list[Path] = []
        weakref.finalize(self, _remove_all, self.paths)   # the list, not self: no cycle keeps it alive

    def add(self, path: Path) -> None:
        self.paths.append(Path(path))

    def discard(self, path: Path) -> None:
        Path(path).unlink(missing_ok=True)
        if Path(path) in self.paths:
            self.paths.remove(Path(path))


def _remove_all(paths: list[Path]) -> None:
    for p in paths:
        Path(p).unlink(missing_ok=True)


def visitor_files() -> VisitorFiles:
    """This visitor's files (made on first use)."""
    if "visitor_files" not in st.session_state:
        st.session_state["visitor_files"] = VisitorFiles()
    return st.session_state["visitor_files"]


def kept_upload() -> Video | None:
    """This visitor's upload, kept while their session lasts (across pages)."""
    saved = st.session_state.get("upload")
    return saved[1] if saved is not None and saved[1].path.is_file() else None


def keep_upload(uploaded) -> Video:
    """Save ``uploaded`` (see :func:`save_upload`) as this visitor's upload, replacing the
    previous one (deleted); the same file again is not written twice."""
    saved = st.session_state.get("upload")
    if saved is not None and saved[0] == uploaded.file_id and saved[1].path.is_file():
        return saved[1]
    if saved is not None:
        visitor_files().discard(saved[1].path)
        st.session_state.pop("upload")
    video = save_upload(uploaded)
    visitor_files().add(video.path)
    st.session_state["upload"] = (uploaded.file_id, video)
    return video


def forget_upload() -> None:
    """Delete this visitor's upload now."""
    saved = st.session_state.pop("upload", None)
    if saved is not None:
        visitor_files().discard(saved[1].path)
        if st.session_state.get("video") == saved[1]:
            st.session_state.pop("video")
            st.session_state.pop("prediction", None)


def private_file(suffix: str) -> Path:
    """A new empty file of this visitor's, in the private upload folder (deleted with their other
    files)."""
    fd, tmp = tempfile.mkstemp(dir=_upload_dir(), prefix="live-", suffix=suffix)
    os.close(fd)
    visitor_files().add(Path(tmp))
    return Path(tmp)


def keep_made(path: Path, shown: str) -> Video:
    """A file this visitor made here (a live recording) as their upload, replacing the previous
    one (deleted), and as the video the other pages show."""
    saved = st.session_state.pop("upload", None)
    if saved is not None and saved[1].path != path:
        visitor_files().discard(saved[1].path)
    video = Video(Path(path), shown)
    visitor_files().add(video.path)
    st.session_state["upload"] = (f"made:{path}", video)
    set_video(video)
    return video


def save_upload(uploaded) -> Video:
    """Write an uploaded file to a private temp file named by us (never by the client's file
    name), after checking its type and size; then check that it really is a video or an audio
    file (its content matching its extension).

    Raises:
        VideoError: with a message for the page (type, size, or not a video or audio file).
    """
    shown = Path(uploaded.name).name
    ext = Path(shown).suffix.lower()
    if ext not in VIDEO_EXTENSIONS and ext not in AUDIO_EXTENSIONS:
        raise VideoError(f"{shown}: {ext or 'no extension'} is not a video or audio type we read "
                         f"(allowed: {', '.join(UPLOAD_TYPES)})")
    size = uploaded.size
    limit = max_upload_mb()
    if size > limit * 2**20:
        raise VideoError(f"{shown}: {size / 2**20:.0f} MB is over the {limit} MB limit")
    fd, tmp = tempfile.mkstemp(dir=_upload_dir(), prefix="upload-", suffix=ext)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(uploaded.getbuffer())
        (check_video_file if ext in VIDEO_EXTENSIONS else check_media_file)(tmp)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)       # nothing half-written or refused stays behind
        if isinstance(e, VideoError):
            raise VideoError(Video(Path(tmp), shown).message(e)) from None
        raise
    return Video(Path(tmp), shown)
