"""Reading a run folder's files defensively: every reader either returns what a run writes,
checked (types, shapes, ranges), or raises :class:`~emojax.errors.RunFileError` naming the file
and what is wrong with it — never a traceback from deep inside, whether the file was cut short
by a full disk, edited by hand, or written by another program. :func:`problems` lists what is
wrong with a whole run, so that one bad run can be shown as bad while the others keep working.

Files (written by ``training/run.py``, ``scoring.py`` and ``progress.py``; where: :func:`seed_folder`): ``config.json``, ``model.json``,
``metrics.json``, ``predictions.npz`` (also per seed), ``progress.json``; ``importance.json``
is checked by :func:`emojax.explain.importance.read_importance`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmojaxError, RunFileError
from ..models import MODEL_NAMES
from .config import RunConfig


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; RunFileError when it is missing, unreadable or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFileError(missing(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunFileError(f"{path}: cannot be read ({e})") from None
    except ValueError as e:
        raise RunFileError(f"{path}: not valid JSON, truncated or edited? ({e})") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: holds a JSON {type(data).__name__}, not the object a run writes")
    return data


#: what is said of a run started and not finished (a run's file or a split's model missing)
UNFINISHED = ("was started and has not finished: unless an `emojax train` is writing it now, run the same command "
              "again to finish it")


def missing(path: Path) -> str:
    """What to say of a run's file ``path`` that is not there: the way on when the folder holds a
    run's readable configuration (a run started, not a stranger)."""
    said = f"{path}: missing; {path.parent} is not a finished emojax run"
    if path.name == "config.json":
        return said
    try:
        read_config(path.parent)
    except RunFileError:
        return said
    return f"{said}; it {UNFINISHED}"


def require(ok: bool, path: Path, what: str) -> None:
    """Raise RunFileError ``<path>: <what>`` unless ``ok``."""
    if not ok:
        raise RunFileError(f"{path}: {what}")


def is_share(x: Any) -> bool:
    """A finite number in [0, 1] (an accuracy, a recall, a probability)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0.0 <= x <= 1.0


def _classes(value: Any, path: Path, key: str = "classes") -> list[str]:
    require(isinstance(value, list) and len(value) >= 2 and all(isinstance(c, str) and c for c in value)
            and len(set(value)) == len(value), path, f"'{key}' is not a list of two or more distinct class names")
    return value


def read_config(run: str | os.PathLike):
    """A run's ``config.json`` as a :class:`~emojax.training.config.RunConfig`."""
    path = Path(run) / "config.json"
    data = read_json(path)
    try:
        return RunConfig.from_dict(data)
    except EmojaxError as e:
        raise RunFileError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RunFileError(f"{path}: not the configuration of a run ({type(e).__name__}: {e})") from None


def read_model_info(run: str | os.PathLike) -> dict:
    """A run's ``model.json``: classes, model shapes, input and extractor settings, folds."""
    from ..data.transforms import InputConfig
    from ..features.record import ExtractorConfig
    from ..models import ModelSpec

    path = Path(run) / "model.json"
    info = read_json(path)
    classes = _classes(info.get("classes"), path)
    folds = info.get("folds")
    require(isinstance(folds, list) and len(folds) >= 1 and all(isinstance(f, str) for f in folds), path,
            "'folds' is not a list of fold names")
    try:
        spec = ModelSpec(**info["spec"])
        InputConfig(**info["inputs"])
        ExtractorConfig.from_dict(info["extractor"])
    except KeyError as e:
        raise RunFileError(f"{path}: {e} is missing") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise RunFileError(f"{path}: model or input settings are not what a run writes ({e})") from None
    require(spec.n_classes == len(classes), path, f"the models have {spec.n_classes} outputs for {len(classes)} classes")
    require(isinstance(info.get("normalisation", {}), dict), path, "'normalisation' is not an object")
    split = info.get("split", {})
    require(isinstance(split, dict) and isinstance(split.get("speaker_independent", False), bool), path,
            "'split' does not say whether the split is speaker-independent")
    paper = info.get("paper", {"choices": [], "not_stated": []})
    require(isinstance(paper, dict) and isinstance(paper.get("choices"), list)
            and all(isinstance(c, dict) and all(isinstance(c.get(k), str) for k in ("topic", "paper", "emojax"))
                    for c in paper["choices"])
            and isinstance(paper.get("not_stated"), list) and all(isinstance(t, str) for t in paper["not_stated"]),
            path, "'paper' is not the table of the paper's stated and open choices a run writes")
    return info


def _check_scores(block: Any, path: Path, where: str, n: int | None) -> None:
    require(isinstance(block, dict), path, f"{where} is not an object")
    for key in ("accuracy", "uar"):
        require(is_share(block.get(key)), path, f"{where}.{key} is {block.get(key)!r}, not a share in [0, 1]")
    if "confusion" in block:
        c = block["confusion"]
        ok = (isinstance(c, list) and all(isinstance(r, list) for r in c)
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for r in c for v in r))
        require(ok and (n is None or (len(c) == n and all(len(r) == n for r in c))), path,
                f"{where}.confusion is not a {n} x {n} table of counts")


def read_metrics(run: str | os.PathLike, name: str = "metrics.json") -> dict:
    """A run's ``metrics.json`` (or a cross-corpus one, ``cross/<name>/metrics.json``): the
    pooled scores of each model (shares in [0, 1], a confusion table per class), the folds and
    the summary the tables are drawn from."""
    path = Path(run) / name
    m = read_json(path)
    classes = _classes(m.get("classes"), path)
    pooled = m.get("pooled")
    require(isinstance(pooled, dict) and pooled and set(pooled) <= set(MODEL_NAMES), path,
            "'pooled' does not hold the models' scores")
    for model, block in pooled.items():
        _check_scores(block, path, f"pooled.{model}", len(classes))
    summary = m.get("summary", {})
    require(isinstance(summary, dict) and set(summary) <= set(MODEL_NAMES), path, "'summary' is not per model")
    for model, block in summary.items():
        require(isinstance(block, dict), path, f"summary.{model} is not an object")
        for key in ("accuracy", "uar"):
            v = block.get(key)
            require(isinstance(v, dict) and is_share(v.get("mean")), path,
                    f"summary.{model}.{key} has no mean share in [0, 1]")
    folds = m.get("folds", [])
    require(isinstance(folds, list) and all(isinstance(f, dict) for f in folds), path, "'folds' is not a list of folds")
    return m


def read_predictions(run: str | os.PathLike) -> dict[str, np.ndarray]:
    """A run's ``predictions.npz`` (no pickle): ids, fold, labels and each model's class
    probabilities for every tested video, checked to agree in length and range."""
    path = Path(run) / "predictions.npz"
    if not path.is_file():
        raise RunFileError(missing(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            pred = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise RunFileError(f"{path}: cannot be read, truncated or edited? ({e})") from None
    for key in ("ids", "fold", "y_true", "classes"):
        require(key in pred, path, f"'{key}' is missing")
    n, k = len(pred["ids"]), len(pred["classes"])
    require(k >= 2 and pred["classes"].dtype.kind == "U", path, "'classes' is not a list of class names")
    for key in ("fold", "y_true") + tuple(k for k in ("group", "session") if k in pred):
        require(pred[key].shape == (n,), path, f"'{key}' has shape {pred[key].shape}, not ({n},)")
    require(pred["y_true"].dtype.kind in "iu" and n > 0 and 0 <= pred["y_true"].min() and pred["y_true"].max() < k,
            path, "'y_true' holds labels outside the classes")
    require(pred["fold"].dtype.kind in "iu" and pred["fold"].min() >= 1, path,
            "'fold' holds a fold numbered below 1: folds count from 1 (as checkpoint/fold-K and --fold K); a file "
            "that counts them from 0 was written by an older emojax (train the run again)")
    counts = pred.get("train_counts")
    require(counts is not None and counts.ndim == 2 and counts.shape[0] >= pred["fold"].max() and counts.shape[1] == k
            and counts.dtype.kind in "iu" and bool((counts >= 0).all()), path,
            "'train_counts' is not each fold's training videos per class")
    probas = [key for key in pred if key.startswith("proba_")]
    require(bool(probas), path, "no model's probabilities")
    for key in probas:
        p = pred[key]
        ok = p.shape == (n, k) and p.dtype.kind == "f" and bool(np.isfinite(p).all())
        require(ok and bool((p >= -1e-6).all()) and bool(np.allclose(p.sum(axis=1), 1.0, atol=1e-3)), path,
                f"'{key}' is not a probability per class for each of the {n} videos")
    return pred


def seed_folder(run: Path, seed_index: int, seed: int) -> Path:
    """Where seed number ``seed_index`` of a run keeps its checkpoints and predictions."""
    return run if seed_index == 0 else run / "seeds" / str(seed)


def read_record(path: str | os.PathLike) -> dict:
    """A small JSON record (progress, a launch), or {} when it is absent, unreadable or not an
    object: such a file says nothing, and nothing is done on its word."""
    try:
        return read_json(path)
    except RunFileError:
        return {}


def read_progress(run: str | os.PathLike) -> dict:
    """A run's ``progress.json`` (see :func:`read_record`)."""
    return read_record(Path(run) / "progress.json")


def problems(run: str | os.PathLike) -> list[str]:
    """What is wrong with a finished run's files (empty: nothing): each file that cannot be
    read or does not hold what a run writes, with the problem."""
    run = Path(run)
    found = []
    for check in (read_config, read_model_info, read_metrics, read_predictions):
        try:
            check(run)
        except RunFileError as e:
            found.append(str(e))
    return found
