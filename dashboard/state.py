"""Where the dashboard reads from, what each visitor has chosen, and uploads.

Everything a visitor chooses (the run, the current video and its prediction) lives in their
own ``st.session_state``, so several people using the dashboard at once each see their own,
and it outlives a visit to another page. The files a visitor's session wrote are removed when
that session ends (Streamlit drops its state) or when the server stops.
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
from emojax.training.runfiles import problems
from emojax.video import VIDEO_EXTENSIONS, check_video_file

#: the run shown first when there is one
DEFAULT_RUN = "demo-improved"
#: uploads: these types (the video readers' allow-list)
UPLOAD_TYPES = sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS)


def artifacts() -> Path:
    """The artifacts folder shown: ``EMOJAX_ARTIFACTS``, default ``artifacts`` in the folder the
    dashboard was started from (as the CLI's defaults), wherever emojax is installed."""
    return Path(os.environ.get("EMOJAX_ARTIFACTS", "artifacts")).expanduser().resolve()


def runs_dir() -> Path:
    return artifacts() / "runs"


def teaching_dir() -> Path:
    return artifacts() / "teaching"


def max_upload_mb() -> int:
    return int(os.environ.get("EMOJAX_MAX_UPLOAD_MB", 200))


#: the files whose versions decide whether a run is whole
RUN_FILES = ("config.json", "model.json", "metrics.json", "predictions.npz")


def _candidates() -> list[Path]:
    if not runs_dir().is_dir():
        return []
    return [p for p in runs_dir().iterdir() if (p / "model.json").is_file() and (p / "metrics.json").is_file()]


def _stamps(run: Path) -> tuple:
    return tuple(f.stat().st_mtime_ns if f.is_file() else 0 for f in (run / n for n in RUN_FILES))


@st.cache_data(max_entries=256, show_spinner=False)
def _problems(run: str, stamps: tuple) -> list[str]:
    return problems(run)


def run_problems(run: Path) -> list[str]:
    """What is wrong with a run's files (each file and its problem; paths as shown), checked
    once per version of its files."""
    return [shown(p) for p in _problems(str(run), _stamps(run))]


def finished_runs() -> list[Path]:
    """Whole runs with trained models and metrics, the demo run first, then the newest first
    (a run whose files are damaged is in :func:`broken_runs` instead)."""
    runs = [p for p in _candidates() if not run_problems(p)]
    return sorted(runs, key=lambda p: (p.name != DEFAULT_RUN, -(p / "metrics.json").stat().st_mtime))


def broken_runs() -> dict[str, list[str]]:
    """Runs whose files cannot be read or do not hold what a run writes, with the problems."""
    return {p.name: run_problems(p) for p in sorted(_candidates()) if run_problems(p)}


def shown(message: object) -> str:
    """A message as a visitor sees it: paths under the artifacts folder relative to it (no
    server paths on the page)."""
    text = str(message)
    for base in (runs_dir(), artifacts()):
        text = text.replace(f"{base}{os.sep}", "")
    return text


def show_broken_runs() -> None:
    """A collapsed list of the runs that cannot be used, each with its problems."""
    broken = broken_runs()
    if broken:
        with st.expander(f"{len(broken)} run(s) cannot be read", icon=":material/error:"):
            for name, found in broken.items():
                st.markdown(f"**{name}**: " + "; ".join(found))


def pick_run(label: str = "Run", *, key: str = "run", runs: list[Path] | None = None) -> Path | None:
    """A select box of the finished runs (the choice kept in this visitor's session); None,
    with a note on how to make one, when there is none."""
    runs = finished_runs() if runs is None else runs
    if not runs:
        st.info(f"No finished run in {runs_dir()}. `make run` trains the demo runs; the Train page starts others.")
        return None
    names = [p.name for p in runs]
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    name = st.selectbox(label, names, key=key)
    return runs_dir() / name


def teaching_clips() -> list[Path]:
    return sorted(teaching_dir().glob("*.mp4")) if teaching_dir().is_dir() else []


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
    name), after checking its type and size; then check that it really is a video.

    Raises:
        VideoError: with a message for the page (type, size, or not a video).
    """
    shown = Path(uploaded.name).name
    ext = Path(shown).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise VideoError(f"{shown}: {ext or 'no extension'} is not a video type we read "
                         f"(allowed: {', '.join(UPLOAD_TYPES)})")
    size = uploaded.size
    limit = max_upload_mb()
    if size > limit * 2**20:
        raise VideoError(f"{shown}: {size / 2**20:.0f} MB is over the {limit} MB limit")
    fd, tmp = tempfile.mkstemp(dir=_upload_dir(), prefix="upload-", suffix=ext)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(uploaded.getbuffer())
        check_video_file(tmp)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)       # nothing half-written or refused stays behind
        if isinstance(e, VideoError):
            raise VideoError(Video(Path(tmp), shown).message(e)) from None
        raise
    return Video(Path(tmp), shown)


def current_run() -> Path | None:
    """The run chosen in the sidebar (None, with a note already shown, when there is none)."""
    name = st.session_state.get("run")
    if name is None or not (runs_dir() / name / "model.json").is_file():
        st.warning("Choose a finished run in the sidebar first.")
        return None
    found = run_problems(runs_dir() / name)
    if found:
        st.error(f"{name} cannot be used: " + "; ".join(found))
        return None
    return runs_dir() / name
