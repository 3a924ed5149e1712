"""Train: launch a run in a background process, watch it, cancel it."""

import re
from pathlib import Path

import streamlit as st

from dashboard import charts, state
from emojax.data import LOADERS
from emojax.data.batch import ENGINES
from emojax.features.modalities import MODALITIES, PAPER_MODALITIES, TITLES
from emojax.features.rppg import DEFAULT_METHOD
from emojax.presets import DEFAULT_PRESET, PRESET_NAMES
from emojax.training.protocols import PROTOCOLS as PROTOCOL_NAMES
from emojax.errors import EmojaxError
from emojax.training import commands, jobs
from emojax.training.config import run_config
from emojax.training.prepare import labelled
from emojax.training.progress import progress_text, read_curves

DATASETS = {"teaching": "Teaching set (the embedded demo)", "folder": "Folder: one sub-folder per class",
            "csv": "CSV manifest (path, label, group, start, end)", "iemocap": "IEMOCAP release root",
            "cremad": "CREMA-D root (VideoFlash)", "ravdess": "RAVDESS root"}
PROTOCOLS = {"speaker": "leave one speaker out", "kfold": "k-fold, speakers kept apart when named", "loso":
             "leave one session out (IEMOCAP)", "holdout": "one held-out test share, speakers apart when named"}


def offered(names, labels: dict) -> list[str]:
    """A library registry's ``names`` in the order of this page's ``labels``, any it lacks last."""
    return sorted(names, key=lambda n: list(labels).index(n) if n in labels else len(labels))


def launch_form() -> None:
    with st.form("train_form"):
        kind = st.selectbox("Dataset", offered(LOADERS, DATASETS), format_func=lambda k: DATASETS.get(k, k),
                            key="train_dataset")
        root = st.text_input("Its root folder (or the manifest file)", value=str(state.teaching_dir()), key="train_root")
        c1, c2, c3 = st.columns(3)
        preset = c1.selectbox("Preset", sorted(PRESET_NAMES, key=lambda p: p != DEFAULT_PRESET), key="train_preset",
                              help=f"paper: Kumar & Li (2023) as published; improved: {DEFAULT_METHOD.upper()} pulse, "
                                   "aligned landmarks")
        protocol = c2.selectbox("Protocol", offered(PROTOCOL_NAMES, PROTOCOLS),
                                format_func=lambda p: f"{p}: {PROTOCOLS.get(p, '')}", key="train_protocol")
        epochs = c3.number_input("Epochs (0: the preset's)", 0, 1000, 0, key="train_epochs")
        modalities = st.multiselect(
            "Modalities (none chosen: the preset's)", list(MODALITIES), format_func=lambda m: TITLES.get(m, m),
            key="train_modalities", help=f"What the run reads. Left empty, the preset chooses: paper the "
            f"{' and '.join(TITLES[m] for m in PAPER_MODALITIES)}; improved adds the voice when at least half the "
            "videos have it")
        name = st.text_input("Run name (letters, digits, - and _)", value=f"{kind}-{preset}", key="train_name")
        c4, c5 = st.columns(2)
        engine = c4.selectbox("Extract the videos on", list(ENGINES), key="train_engine",
                              format_func={"local": "this machine (every core)", "ray": "a Ray cluster"}.get,
                              help="A Ray cluster needs emojax on every node and the videos at the same path there")
        address = c5.text_input("Ray cluster address", value="auto", key="train_address",
                                help="With a Ray cluster: auto (the cluster this machine belongs to), HOST:PORT, or "
                                     "ray://HOST:PORT; empty: Ray started on this machine for the run")
        c6, c7 = st.columns(2)
        pattern = c6.text_input("Speaker in the file name (folder dataset)", value="", key="train_speaker_pattern",
                                help="A regular expression finding each video's speaker in its name, e.g. ^([^_]+)_ "
                                     "for actor03_take2.mp4; empty: the folder names no speakers")
        overlap = c7.checkbox("Allow one speaker on both sides of the split", key="train_allow_overlap",
                              help="Without named speakers the split cannot keep speakers apart; the run is then "
                                   "refused unless this is ticked, and says that its scores are not speaker-independent")
        go = st.form_submit_button("Start training", type="primary")
    if not go:
        return
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        st.error(f"Run name {name!r}: use letters, digits, - and _ only (at most 64).")
        return
    try:
        options = {"allow_speaker_overlap": overlap, "speaker_pattern": pattern.strip() or None,
                   "modalities": tuple(modalities) or None}
        # refused here, in the page, as `emojax train` would refuse it (nothing is extracted)
        n = len(labelled(run_config(kind, Path(root).expanduser(), preset=preset, protocol=protocol, **options))[1])
        out = state.runs_dir() / name
        pid = jobs.launch(commands.train_command(out, dataset=kind, root=Path(root).expanduser(), preset=preset,
                                                 protocol=protocol, epochs=epochs or None,
                                                 store=state.artifacts() / "features",
                                                 engine=None if engine == "local" else engine,
                                                 address=(address.strip() or None) if engine == "ray" else None,
                                                 **options), out)
    except (EmojaxError, OSError, ValueError) as e:
        st.error(str(e))
        return
    st.session_state["train_watch"] = name
    st.success(f"Training {name} on {n} videos in the background (process {pid}); you can leave this page.")


def training_runs() -> list[str]:
    """Runs started here or elsewhere (a progress file or a training log), the latest first."""
    folders = {p.parent for pattern in ("*/progress.json", f"*/{jobs.LOG}") for p in state.runs_dir().glob(pattern)}
    return [p.name for p in sorted(folders, key=lambda p: -max(f.stat().st_mtime for f in p.iterdir()))]


@st.fragment(run_every=2)
def watch(name: str) -> None:
    """Progress, curves and a cancel button for one run, refreshed every 2 s."""
    run = state.runs_dir() / name
    s = jobs.status(run)
    p = s["progress"]
    st.progress(s["fraction"], text=f"{name}: {s['state']} {progress_text(p)}")
    seen = st.session_state.setdefault("seen_training", set())
    if s["state"] in ("starting", "running"):
        seen.add(name)
        if st.button("Cancel", key=f"cancel_{name}"):
            if jobs.cancel(run):
                st.rerun()
            st.warning(f"{name}: nothing was signalled; no live process is provably this run's.")
    elif s["state"] == "done":
        st.success(f"{name} is finished: it is in the run list of every page.")
        if name in seen:                     # it finished while watched: refresh the sidebar's run list
            seen.discard(name)
            st.rerun(scope="app")
    elif s["state"] in ("failed", "stopped"):
        st.error(f"{name} {s['state']}: {p.get('error', '')}")
        if s.get("log"):
            st.code(s["log"], language="text")
    elif s["state"] == "interrupted":
        st.info(f"{name} was interrupted; start it again with the same settings to resume.")
    records = read_curves(run)
    if records:
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.curves_chart(records, "train_loss", "Training loss"), key=f"loss_{name}")
        c2.plotly_chart(charts.curves_chart(records, "val_acc", "Validation accuracy"), key=f"acc_{name}")


st.title("Train the four models")
st.caption("Training runs in its own process; progress is read from the run folder. "
           f"Runs go to {state.runs_dir()}; features are cached in {state.artifacts() / 'features'}.")
launch_form()
names = training_runs()
if names:
    if st.session_state.get("train_watch") not in names:
        st.session_state["train_watch"] = names[0]
    watch(st.selectbox("Watch a run", names, key="train_watch"))
