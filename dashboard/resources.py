"""What the dashboard loads once per process and shares between visitors: the pool of extraction
processes that reads every upload (one worker per core; :mod:`emojax.features.pool`), the
landmark predictor of the Live page, each run's trained models, the data its explanations are
computed against. Keys carry the file's modification time, so a run trained again is loaded
again."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import streamlit as st

from emojax.data.teaching import face_shape
from emojax.features import ExtractorConfig, Features
from emojax.features.pool import ExtractionPool
from emojax.features.shared import shared_predictor


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner=False)
def _trained_run(path: str, stamp: float):
    from emojax.jaxcache import enable_compilation_cache
    from emojax.estimator import TrainedRun

    enable_compilation_cache()
    trained = TrainedRun(path)
    trained.compile()                            # now, not at the first upload
    return trained


def trained_run(run: Path):
    """A run's models (every fold), loaded once per process."""
    return _trained_run(str(run), _stamp(run / "model.json"))


@st.cache_resource(show_spinner="Loading the run's data…")
def _run_data(path: str, stamp: float):
    from emojax.explain.importance import RunData

    return RunData(path)


def run_data(run: Path):
    """A run's models with the inputs of its tested videos (None, with the reason, when its
    dataset cannot be read any more)."""
    from emojax.errors import EmojaxError

    try:
        return _run_data(str(run), _stamp(run / "predictions.npz")), None
    except EmojaxError as e:
        return None, str(e)


def run_extractor(run: Path) -> ExtractorConfig:
    """The extractor settings a run was trained with (from its model.json)."""
    from emojax.training.runfiles import read_model_info

    return ExtractorConfig.from_dict(read_model_info(run)["extractor"])


#: at most this long a visitor's per-video contributions (permutations of the run's models, on
#: the server's cores) wait for the other visitors' uploads to be read and predicted first
CONTRIBUTIONS_WAIT_S = 30.0


@st.cache_resource(show_spinner=False)
def _predicting() -> tuple[threading.Condition, list[int]]:
    return threading.Condition(), [0]


@contextlib.contextmanager
def predicting():
    """Around a visitor's upload being read and predicted: while any is, :func:`after_predictions`
    waits."""
    cond, count = _predicting()
    with cond:
        count[0] += 1
    try:
        yield
    finally:
        with cond:
            count[0] -= 1
            cond.notify_all()


def predictions_pending() -> int:
    """How many visitors' uploads are being read or predicted now."""
    return _predicting()[1][0]


def after_predictions(timeout: float = CONTRIBUTIONS_WAIT_S) -> bool:
    """Wait until no visitor's upload is being read or predicted, at most ``timeout`` seconds
    (work that can wait, such as a video's contributions, goes after the predictions waited
    for on the same cores); whether none is."""
    cond, count = _predicting()
    with cond:
        return cond.wait_for(lambda: count[0] == 0, timeout)


@st.cache_resource(show_spinner=False)
def extraction_pool() -> ExtractionPool:
    """The server's extraction workers, shared by every visitor (``$EMOJAX_EXTRACTION_WORKERS``
    of them, else one per core): each upload is read whole in one of them, the others waiting in
    line. They end with the server."""
    return ExtractionPool()


def landmark_predictor():
    """dlib's landmark model, loaded once per process and shared (it keeps no state between calls)."""
    return shared_predictor()


@st.cache_resource(show_spinner=False)
def _feature_cache() -> tuple[OrderedDict, threading.Lock]:
    return OrderedDict(), threading.Lock()


def extract(path: Path, config: ExtractorConfig, progress=None, waiting=None, *, keep: int = 16) -> Features:
    """Features of a video read by the extraction pool, once per file version and setting (the
    last ``keep`` are kept in memory and shared: never modify one). ``progress(n)`` (``n`` more
    frames read) and ``waiting(place)`` (in line for a free worker) are called on this thread,
    so they may draw on the visitor's page; so the reading is not inside a Streamlit-cached
    function."""
    key = (str(path), _stamp(path), json.dumps(config.to_dict(), sort_keys=True))
    cache, lock = _feature_cache()
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    feats = extraction_pool().submit(path, config).wait(progress, waiting)
    with lock:
        cache[key] = feats
        while len(cache) > keep:
            cache.popitem(last=False)
    return feats


def warm_up(run: Path | None) -> None:
    """Load the run's models (compiled) and start the extraction workers with the run's
    extractor in a background thread, once per process, so that the first upload does not wait
    for them; then dlib's model for the Live page (which reads in this process), the run's data
    and the Live page's modality shares (compiled), so that a Live visitor's first shares do not
    wait either (prepared beside a stream they take tens of seconds: the stream's threads hold
    the interpreter)."""
    if run is not None:
        _warm_up(str(run))


@st.cache_resource(show_spinner=False)
def _warm_up(run: str) -> threading.Thread:
    # imported here, on the page's thread, before the warm-up's: a module imported by both threads
    # at once can fail in one of them as "partially initialized" (seen with pandas, which the pages
    # import at their top and the voice's reading imports inside a function)
    import pandas  # noqa: F401

    def work() -> None:
        from emojax.errors import EmojaxError

        from dashboard.live import compile_shares

        try:
            workers = threading.Thread(target=extraction_pool().warm, args=(run_extractor(Path(run)),),
                                       name="emojax-warm-workers", daemon=True)
            workers.start()                      # the workers start (and load dlib) while the models load
            trained_run(Path(run))
            landmark_predictor()
            data, _ = run_data(Path(run))
            if data is not None:
                compile_shares(data)
            workers.join()
        except EmojaxError:
            pass        # a run that cannot be loaded says so on the page that needs it

    thread = threading.Thread(target=work, name="emojax-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource
def reference_face() -> np.ndarray:
    """68 landmarks of the teaching actors' face, to draw explanations on."""
    return face_shape()


@st.cache_data(max_entries=64, show_spinner=False)
def _read(kind: str, path: str, stamp: float):
    from emojax.explain.importance import read_importance
    from emojax.training.runfiles import read_json, read_metrics, read_model_info

    return {"metrics.json": read_metrics, "importance.json": read_importance, "model.json": read_model_info,
            "config.json": lambda run: read_json(Path(run) / "config.json")}[kind](path)


def run_json(run: Path, name: str) -> dict | None:
    """``metrics.json``, ``importance.json``, ``model.json`` or ``config.json`` of a run, read (and
    checked) once per version; None if absent. A damaged file raises RunFileError (see ``state.shown``)."""
    p = run / name
    return _read(name, str(run), _stamp(p)) if p.is_file() else None
