"""The Train page's form: every option of ``emojax train`` (the library's
:func:`emojax.training.options.train_options`) is a widget here, or set by the page for the
reason :data:`SET_BY_PAGE` says. Each widget's help is the command's own help for the option.
The settings chosen become the command's argument list, which the command's parser checks
before anything is launched (the page, :func:`check`)."""

from __future__ import annotations

import os
import re
import shlex

import streamlit as st

from emojax.data import LOADERS
from emojax.errors import ConfigError
from emojax.data.batch import ENGINES
from emojax.features.modalities import MODALITIES, PAPER_MODALITIES, TITLES
from emojax.presets import DEFAULT_PRESET, PRESET_NAMES
from emojax.training import commands, options
from emojax.training.prepare import labelled
from emojax.training.protocols import PROTOCOLS as PROTOCOL_NAMES

from dashboard import state

DATASETS = {"teaching": "Teaching set (the embedded demo)", "folder": "Folder: one sub-folder per class",
            "csv": "CSV manifest (path, label, group, start, end)", "iemocap": "IEMOCAP release root",
            "cremad": "CREMA-D root (VideoFlash)", "ravdess": "RAVDESS root"}
PROTOCOLS = {"speaker": "leave one speaker out", "kfold": "k-fold, speakers kept apart when named", "loso":
             "leave one session out (IEMOCAP)", "holdout": "one held-out test share, speakers apart when named"}
#: each option of ``emojax train`` the page offers -> its widgets (their session-state keys)
WIDGETS = {
    "dataset": ("train_dataset",), "root": ("train_root",), "out": ("train_name",), "preset": ("train_preset",),
    "protocol": ("train_protocol",), "epochs": ("train_epochs",), "modalities": ("train_modalities",),
    "classes": ("train_classes",), "speaker_pattern": ("train_speaker_pattern",), "stream": ("train_stream",),
    "accept_partial": ("train_accept_partial",), "folds": ("train_folds",),
    "allow_speaker_overlap": ("train_allow_overlap",), "speaker_norm": ("train_speaker_norm",),
    "length": ("train_length",), "seed": ("train_seed",), "seeds": ("train_seeds",), "refit": ("train_refit",),
    "checkpoint_every": ("train_checkpoint_every",), "engine": ("train_engine",), "address": ("train_address",),
    "workers": ("train_workers",), "track": ("train_track", "train_track_uri"),
}
#: the options of ``emojax train`` the page sets itself, and why none is a widget
SET_BY_PAGE = {
    "store": "the dashboard's feature store (ARTIFACTS/features): every run started here reuses what another read",
    "quiet": "always on: progress bars are for a terminal; the page reads the run's progress from its folder",
}


def offered() -> dict[str, tuple[str, ...]]:
    """The widgets of the options this ``emojax train`` has (one the command lacks is not shown)."""
    have = options.train_options()
    return {dest: keys for dest, keys in WIDGETS.items() if dest in have}


def ordered(names, labels: dict) -> list[str]:
    """A library registry's ``names`` in the order of this page's ``labels``, any it lacks last."""
    return sorted(names, key=lambda n: list(labels).index(n) if n in labels else len(labels))


def said(dest: str) -> str:
    """The command's own help for an option, and the option as typed."""
    action = options.train_options()[dest]
    return f"{action.help} (`{action.option_strings[0]}`)"


def default(dest: str):
    return options.train_options()[dest].default


def _data() -> dict:
    c1, c2 = st.columns(2)
    classes = c1.selectbox("IEMOCAP class set", [None, *options.class_sets()], key="train_classes",
                           format_func=lambda c: "the dataset's own (IEMOCAP: paper)" if c is None else c,
                           help=said("classes"))
    stream = c2.number_input("Video stream (empty: the file's default)", min_value=0, value=None, step=1,
                             key="train_stream", help=said("stream"))
    pattern = st.text_input("Speaker in the file name (folder dataset)", value="", key="train_speaker_pattern",
                            help=said("speaker_pattern"))
    partial = st.checkbox("Keep a video that is not whole, marked partial", key="train_accept_partial",
                          help=said("accept_partial"))
    return {"classes": classes, "speaker_pattern": pattern.strip() or None, "stream": stream,
            "accept_partial": partial}


def _protocol() -> dict:
    folds = st.number_input("Folds (k of k-fold)", min_value=2, value=default("folds"), step=1, key="train_folds",
                            help=said("folds"))
    overlap = st.checkbox("Allow one speaker on both sides of the split", key="train_allow_overlap",
                          help=said("allow_speaker_overlap"))
    norm = st.checkbox("Landmarks relative to each speaker's mean shape (improved preset)", key="train_speaker_norm",
                       help=said("speaker_norm"))
    return {"folds": folds, "allow_speaker_overlap": overlap, "speaker_norm": norm}


def _training() -> dict:
    c1, c2, c3 = st.columns(3)
    length = c1.number_input("Frames per video (empty: the preset's)", min_value=1, value=None, step=1,
                             key="train_length", help=said("length"))
    seed = c2.number_input("First seed (empty: the preset's)", value=None, step=1, key="train_seed", help=said("seed"))
    seeds = c3.number_input("Seeds", min_value=1, value=default("seeds"), step=1, key="train_seeds", help=said("seeds"))
    c4, c5 = st.columns(2)
    refit = c4.checkbox("Refit: a final model on every video", key="train_refit", help=said("refit"))
    every = c5.number_input("Save the training state every (seconds; 0: every epoch)", min_value=0.0,
                            value=float(default("checkpoint_every")), step=10.0, key="train_checkpoint_every",
                            help=said("checkpoint_every"))
    return {"length": length, "seed": seed, "seeds": seeds, "refit": refit, "checkpoint_every": every}


def _engine() -> dict:
    c1, c2, c3 = st.columns(3)
    engine = c1.selectbox("Extract the videos on", list(ENGINES), key="train_engine",
                          format_func={"local": "this machine", "ray": "a Ray cluster"}.get, help=said("engine"))
    address = c2.text_input("Ray cluster address (with a Ray cluster)", value="", key="train_address",
                            help=said("address") + "; empty, as the command's default: Ray started on this "
                            "machine for the run")
    workers = c3.number_input("Processes (empty: every core)", min_value=1, value=None, step=1, key="train_workers",
                              help=said("workers"))
    return {"engine": engine, "address": (address.strip() or None) if engine == "ray" else None, "workers": workers}


def _tracking() -> dict:
    c1, c2 = st.columns([1, 2])
    track = c1.checkbox("Track to MLflow", key="train_track", help=said("track"))
    uri = c2.text_input("MLflow tracking URI, when tracked (empty: MLFLOW_TRACKING_URI, else the artifacts' "
                        "mlflow.db)", value="", key="train_track_uri", help=said("track"))
    return {"track": (uri.strip() or True) if track else None}


def form() -> tuple[str, str, dict] | None:
    """The form; once submitted, (the button: ``start`` or ``check``, the run's name, the settings:
    each option of ``emojax train`` by name, None for the command's default)."""
    with st.form("train_form"):
        kind = st.selectbox("Dataset", ordered(LOADERS, DATASETS), format_func=lambda k: DATASETS.get(k, k),
                            key="train_dataset", help=said("dataset"))
        root = st.text_input("Its root folder (or the manifest file)", value=str(state.teaching_dir()),
                             key="train_root", help=said("root"))
        c1, c2, c3 = st.columns(3)
        preset = c1.selectbox("Preset", sorted(PRESET_NAMES, key=lambda p: p != DEFAULT_PRESET), key="train_preset",
                              help=said("preset"))
        protocol = c2.selectbox("Protocol", ordered(PROTOCOL_NAMES, PROTOCOLS), key="train_protocol",
                                index=ordered(PROTOCOL_NAMES, PROTOCOLS).index(default("protocol")),
                                format_func=lambda p: f"{p}: {PROTOCOLS.get(p, '')}", help=said("protocol"))
        epochs = c3.number_input("Epochs (empty: the preset's)", min_value=1, value=None, step=1, key="train_epochs",
                                 help=said("epochs"))
        modalities = st.multiselect(
            "Modalities (none chosen: the preset's)", list(MODALITIES), format_func=lambda m: TITLES.get(m, m),
            key="train_modalities", help=f"What the run reads. Left empty, the preset chooses: paper the "
            f"{' and '.join(TITLES[m] for m in PAPER_MODALITIES)}; improved adds the voice when at least half the "
            f"videos have it. {said('modalities')}")
        name = st.text_input("Run name (letters, digits, - and _)", value=f"{kind}-{preset}", key="train_name",
                             help=f"The run's folder in the runs folder. {said('out')}")
        settings = {"dataset": kind, "root": os.path.expanduser(root.strip()) or None, "preset": preset,
                    "protocol": protocol, "epochs": epochs, "modalities": tuple(modalities) or None}
        for title, part in (("Data: class set, speakers, video stream, damaged videos", _data),
                            ("Protocol: folds and speakers", _protocol),
                            ("Training: frames, seeds, a final model, saved state", _training),
                            ("Where the videos are read: this machine or a Ray cluster", _engine),
                            ("Tracking: MLflow", _tracking if "track" in offered() else None)):
            if part is not None:
                with st.expander(title):
                    settings.update(part())
        c4, c5 = st.columns([1, 4])
        start = c4.form_submit_button("Start training", type="primary")
        look = c5.form_submit_button("Check the settings, start nothing")
    if not (start or look):
        return None
    return ("start" if start else "check"), name, {"store": state.artifacts() / "features", **settings}


def check(name: str, settings: dict) -> tuple[list[str], int]:
    """The run's folder and ``emojax train``'s arguments for these settings, checked as the command
    checks them (its parser, the run's settings, where its videos are read, the dataset against
    the protocol; an :class:`~emojax.errors.EmojaxError` saying what it refuses): (the arguments,
    the number of videos the run would read)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise ConfigError(f"Run name {name!r}: use letters, digits, - and _ only (at most 64).")
    argv = commands.train_arguments(state.runs_dir() / name, **settings)
    args = options.parse_train(argv)
    if args.track is not None:
        from emojax.mlflow_tracking import check_tracking

        check_tracking(args.track)
    options.engine_of(args)
    return argv, len(labelled(options.run_config_of(args))[1])


def typed(argv: list[str]) -> str:
    """The command line as typed in a terminal."""
    return shlex.join(["emojax", "train", *map(str, argv)])

