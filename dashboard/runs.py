"""The runs the dashboard offers: the finished runs found in the artifacts folder, each checked
once per version of its files, and the sidebar's run picker (the choice kept in each visitor's
own ``st.session_state``, so visitors at once each see their own)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from emojax.training.runfiles import problems

from dashboard.state import runs_dir, shown

#: the run shown first when there is one
DEFAULT_RUN = "demo-improved"
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


def say_shown(run: Path | None) -> None:
    """Which run the pages show and where its folder is (with none, :func:`pick_run` said where
    runs are looked for)."""
    if run is not None:
        st.caption(f"Shown: run **{run.name}**, in `{run}`")


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
