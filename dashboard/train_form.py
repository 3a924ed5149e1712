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
#: an example of each dataset's root, shown in its empty field (the teaching set's is the dashboard's own:
#: :func:`default_root`)
ROOT_EXAMPLES = {"folder": "clips/ (clips/<class>/<video>)", "csv": "clips/manifest.csv",
                 "iemocap": "/data/IEMOCAP_full_release", "cremad": "/data/CREMA-D/VideoFlash",
                 "ravdess": "/data/RAVDESS"}
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


#: each option's label on the page (the tracking's: its box's)
LABELS = {
    "dataset": "Dataset", "preset": "Preset", "root": "Its root folder (or the manifest file)",
    "out": "Run name (letters, digits, - and _)", "protocol": "Protocol", "epochs": "Epochs (empty: the preset's)",
    "modalities": "Modalities (none chosen: the preset's)", "classes": "IEMOCAP class set",
    "stream": "Video stream (empty: the file's default)",
    "speaker_pattern": "Speaker in the file name (folder dataset)",
    "accept_partial": "Keep a video that is not whole, marked partial", "folds": "Folds (k of k-fold)",
    "allow_speaker_overlap": "Allow one speaker on both sides of the split",
    "speaker_norm": "Landmarks relative to each speaker's mean shape (improved preset)",
    "length": "Frames per video (empty: the preset's)", "seed": "First seed (empty: the preset's)", "seeds": "Seeds",
    "refit": "Refit: a final model on every video",
    "checkpoint_every": "Save the training state every (seconds; 0: every epoch)", "engine": "Extract the videos on",
    "address": "Ray cluster address (with a Ray cluster)", "workers": "Processes (empty: every core)",
    "track": "Track to MLflow",
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


def default_root(kind: str) -> str:
    """The root a dataset's field holds until the visitor types one: the teaching set the dashboard's
    artifacts hold; any other dataset has no place of its own here (empty, an example shown)."""
    return str(state.teaching_dir()) if kind == "teaching" else ""


def follow(key: str, value: str) -> None:
    """Before the text field ``key`` is drawn: give it ``value``, the default for the dataset and preset
    now chosen, unless the visitor typed their own (a value other than the last default given, kept
    in the session beside it): what was typed is never overwritten."""
    s, last = st.session_state, f"{key}_default"
    if s.get(key, s.get(last)) == s.get(last):
        s[key] = value
    s[last] = value


def where(message: str) -> list[str]:
    """Where on this page each option a message names (``--folds 4``) is set, in the order named:
    ``--folds: "Folds (k of k-fold)", under "Protocol: folds and speakers"``."""
    flags = {flag: dest for dest, action in options.train_options().items() for flag in action.option_strings}
    found = []
    for flag in dict.fromkeys(re.findall(r"--[a-z][a-z0-9-]*", message)):
        dest = flags.get(flag)
        if dest in offered():
            section = next((title for title, (_, dests) in SECTIONS.items() if dest in dests), None)
            found.append(f"`{flag}`: **{LABELS[dest]}**" + (f", under *{section}*" if section else ""))
    return found


def _data() -> dict:
    c1, c2 = st.columns(2)
    classes = c1.selectbox(LABELS["classes"], [None, *options.class_sets()], key="train_classes",
                           format_func=lambda c: "the dataset's own (IEMOCAP: paper)" if c is None else c,
                           help=said("classes"))
    stream = c2.number_input(LABELS["stream"], min_value=0, value=None, step=1, key="train_stream",
                             help=said("stream"))
    pattern = st.text_input(LABELS["speaker_pattern"], value="", key="train_speaker_pattern",
                            help=said("speaker_pattern"))
    partial = st.checkbox(LABELS["accept_partial"], key="train_accept_partial", help=said("accept_partial"))
    return {"classes": classes, "speaker_pattern": pattern.strip() or None, "stream": stream,
            "accept_partial": partial}


def _protocol() -> dict:
    folds = st.number_input(LABELS["folds"], min_value=2, value=default("folds"), step=1, key="train_folds",
                            help=said("folds"))
    overlap = st.checkbox(LABELS["allow_speaker_overlap"], key="train_allow_overlap",
                          help=said("allow_speaker_overlap"))
    norm = st.checkbox(LABELS["speaker_norm"], key="train_speaker_norm", help=said("speaker_norm"))
    return {"folds": folds, "allow_speaker_overlap": overlap, "speaker_norm": norm}


def _training() -> dict:
    c1, c2, c3 = st.columns(3)
    length = c1.number_input(LABELS["length"], min_value=1, value=None, step=1, key="train_length",
                             help=said("length"))
    seed = c2.number_input(LABELS["seed"], value=None, step=1, key="train_seed", help=said("seed"))
    seeds = c3.number_input(LABELS["seeds"], min_value=1, value=default("seeds"), step=1, key="train_seeds",
                            help=said("seeds"))
    c4, c5 = st.columns(2)
    refit = c4.checkbox(LABELS["refit"], key="train_refit", help=said("refit"))
    every = c5.number_input(LABELS["checkpoint_every"], min_value=0.0, value=float(default("checkpoint_every")),
                            step=10.0, key="train_checkpoint_every", help=said("checkpoint_every"))
    return {"length": length, "seed": seed, "seeds": seeds, "refit": refit, "checkpoint_every": every}


def _engine() -> dict:
    c1, c2, c3 = st.columns(3)
    engine = c1.selectbox(LABELS["engine"], list(ENGINES), key="train_engine",
                          format_func={"local": "this machine", "ray": "a Ray cluster"}.get, help=said("engine"))
    address = c2.text_input(LABELS["address"], value="", key="train_address",
                            help=said("address") + "; empty, as the command's default: Ray started on this "
                            "machine for the run")
    workers = c3.number_input(LABELS["workers"], min_value=1, value=None, step=1, key="train_workers",
                              help=said("workers"))
    return {"engine": engine, "address": (address.strip() or None) if engine == "ray" else None, "workers": workers}


def _tracking() -> dict:
    c1, c2 = st.columns([1, 2])
    track = c1.checkbox(LABELS["track"], key="train_track", help=said("track"))
    uri = c2.text_input("MLflow tracking URI, when tracked (empty: MLFLOW_TRACKING_URI, else the artifacts' "
                        "mlflow.db)", value="", key="train_track_uri", help=said("track"))
    return {"track": (uri.strip() or True) if track else None}


#: the form's folded sections: title -> (what draws it, the options in it); the others are above them
SECTIONS = {
    "Data: class set, speakers, video stream, damaged videos": (_data, ("classes", "stream", "speaker_pattern",
                                                                        "accept_partial")),
    "Protocol: folds and speakers": (_protocol, ("folds", "allow_speaker_overlap", "speaker_norm")),
    "Training: frames, seeds, a final model, saved state": (_training, ("length", "seed", "seeds", "refit",
                                                                        "checkpoint_every")),
    "Where the videos are read: this machine or a Ray cluster": (_engine, ("engine", "address", "workers")),
    "Tracking: MLflow": (_tracking, ("track",)),
}


def _what() -> tuple[str, dict]:
    """The dataset, its root, the preset and the run's name, outside the form: a dataset or preset
    chosen reruns the page at once, so that the root and the name follow it until typed."""
    c1, c2 = st.columns([2, 1])
    kind = c1.selectbox(LABELS["dataset"], ordered(LOADERS, DATASETS), format_func=lambda k: DATASETS.get(k, k),
                        key="train_dataset", help=said("dataset"))
    preset = c2.selectbox(LABELS["preset"], sorted(PRESET_NAMES, key=lambda p: p != DEFAULT_PRESET),
                          key="train_preset", help=said("preset"))
    follow("train_root", default_root(kind))
    follow("train_name", f"{kind}-{preset}")
    root = st.text_input(LABELS["root"], key="train_root", placeholder=ROOT_EXAMPLES.get(kind), help=said("root"))
    name = st.text_input(LABELS["out"], key="train_name", help=f"The run's folder in the runs folder. {said('out')}")
    return name, {"dataset": kind, "root": os.path.expanduser(root.strip()) or None, "preset": preset}


def form() -> tuple[str, str, dict] | None:
    """The form; once submitted, (the button: ``start`` or ``check``, the run's name, the settings:
    each option of ``emojax train`` by name, None for the command's default)."""
    name, settings = _what()
    with st.form("train_form"):
        c1, c2 = st.columns([2, 1])
        protocol = c1.selectbox(LABELS["protocol"], ordered(PROTOCOL_NAMES, PROTOCOLS), key="train_protocol",
                                index=ordered(PROTOCOL_NAMES, PROTOCOLS).index(default("protocol")),
                                format_func=lambda p: f"{p}: {PROTOCOLS.get(p, '')}", help=said("protocol"))
        epochs = c2.number_input(LABELS["epochs"], min_value=1, value=None, step=1, key="train_epochs",
                                 help=said("epochs"))
        modalities = st.multiselect(
            LABELS["modalities"], list(MODALITIES), format_func=lambda m: TITLES.get(m, m),
            key="train_modalities", help=f"What the run reads. Left empty, the preset chooses: paper the "
            f"{' and '.join(TITLES[m] for m in PAPER_MODALITIES)}; improved adds the voice when at least half the "
            f"videos have it. {said('modalities')}")
        settings.update(protocol=protocol, epochs=epochs, modalities=tuple(modalities) or None)
        for title, (part, dests) in SECTIONS.items():
            if set(dests) & set(offered()):
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

