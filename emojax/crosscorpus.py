"""A run's models tested on another corpus: the classes both share (by a class map), features
extracted with the run's own extractor settings, scored like the run itself.

``RUN/cross/<name>/metrics.json`` and ``predictions.npz``. The models are the run's final model
when it has one, else every fold's: each fold's models are scored on their own (mean +- std
over folds) and their probabilities averaged for the pooled scores.

Scoring is over the shared classes only: a run class that the other corpus does not have is
left out of the argmax (its probability mass removed and the rest renormalised), and a video
whose class maps to no run class is left out (counted in ``left_out``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .data import load_dataset
from .errors import DatasetError, EmojaxError
from .features.store import FeatureStore
from .fileio import atomic_write_json, atomic_write_npz, check_writable
from .training.metrics import evaluate, mean_std, scores
from .training.prepare import by_presence, extract_labelled, run_store
from .training.runfiles import read_model_info
from .training.summary import table1

#: the names one emotion goes by across the corpora emojax reads (IEMOCAP, CREMA-D and RAVDESS
#: codes, and the teaching set's words), in order of preference: a class maps to the first of
#: its synonyms that the run knows. IEMOCAP's "excited" counts as happy and RAVDESS's "calm"
#: as neutral when the run lacks them (the usual four-class conventions).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "neu": ("neu", "neutral", "calm", "cal"), "neutral": ("neutral", "neu", "calm", "cal"),
    "hap": ("hap", "happy", "exc"), "happy": ("happy", "hap", "exc"), "exc": ("exc", "hap", "happy"),
    "sad": ("sad",), "ang": ("ang", "angry"), "angry": ("angry", "ang"),
    "cal": ("cal", "calm", "neu", "neutral"), "calm": ("calm", "cal", "neu", "neutral"),
    "fea": ("fea", "fear"), "fear": ("fear", "fea"), "dis": ("dis", "disgust"), "disgust": ("disgust", "dis"),
    "sur": ("sur", "surprise"), "surprise": ("surprise", "sur"), "fru": ("fru",), "oth": ("oth",),
}


def default_map(source: list[str], target: list[str]) -> dict[str, str]:
    """Each source class to the first of its synonyms among the target classes (classes
    without one are left out)."""
    out = {}
    for c in source:
        hit = next((t for t in SYNONYMS.get(c, (c,)) if t in target), None)
        if hit is not None:
            out[c] = hit
    return out


def parse_map(text: str | None) -> dict[str, str | None]:
    """``"src=dst,src2=dst2,src3="`` -> mapping (an empty destination leaves the class out)."""
    out: dict[str, str | None] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "=" not in part:
            raise EmojaxError(f"--map takes src=dst pairs separated by commas; {part!r} has no '='")
        src, dst = (x.strip() for x in part.split("=", 1))
        if not src:
            raise EmojaxError(f"--map: {part!r} names no source class")
        out[src] = dst or None
    return out


def class_map(source: list[str], target: list[str], overrides: Mapping[str, str | None] | None = None) -> dict:
    """The default map with ``overrides`` applied, checked: every source and destination must
    exist, and at least two classes must be shared."""
    mapping = default_map(source, target)
    for src, dst in (overrides or {}).items():
        if src not in source:
            raise EmojaxError(f"--map: {src!r} is not a class of the dataset (its classes: {', '.join(source)})")
        if dst is not None and dst not in target:
            raise EmojaxError(f"--map: {dst!r} is not a class of the run (its classes: {', '.join(target)})")
        if dst is None:
            mapping.pop(src, None)
        else:
            mapping[src] = dst
    shared = sorted(set(mapping.values()), key=target.index)
    if len(shared) < 2:
        raise EmojaxError(f"the dataset's classes ({', '.join(source)}) and the run's ({', '.join(target)}) share "
                          f"{len(shared)} class(es) under the map {mapping or '{}'}; at least two are needed - "
                          "give --map src=dst,... to say which classes correspond")
    return mapping


def _name(kind: str, root: str | os.PathLike) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{kind}-{Path(root).resolve().name}").strip("-") or kind


def _read(trained, items: list, store, root, *, stream, workers, engine, accept_partial, on_progress):
    """``items`` extracted with the run's extractor settings (video stream ``stream``) into
    ``store``: those with a modality to read and their records, the others ``(id, why)``, the
    kept ones with a modality absent, and the extraction's failures; refused when none is left."""
    extractor = dataclasses.replace(trained.extractor, stream=stream)
    summary = extract_labelled(items, store, extractor, workers=workers, engine=engine,
                               accept_partial=accept_partial, on_progress=on_progress)
    ok = [o for o in summary.outcomes if o.stem]
    if not ok:
        first = f"; first failure: {summary.failed[0].item.id}: {summary.failed[0].error}" if summary.failed else ""
        raise DatasetError(f"{root}: none of its {len(items)} videos could be read{first}")
    records = [FeatureStore(store).load(o.stem) for o in ok]
    # the run's own rule (features.modalities): a video with no modality to read is left out by name
    keep, empty, single = by_presence([o.item.id for o in ok], records, trained.inputs, "nothing to read",
                                      trained.modalities)
    if not keep:
        raise DatasetError(f"{root}: none of its {len(ok)} readable videos gives a pulse or landmarks; first: "
                           f"{empty[0][0]}: {empty[0][1]}")
    return [ok[i] for i in keep], [records[i] for i in keep], empty, single, summary.failed


def _per_split(trained, arrays: dict, cols: list[int], on_progress) -> tuple[list, dict]:
    """The models to score (the final model, else every fold's) and each one's probabilities of
    the shared classes (columns ``cols``), renormalised over them."""
    splits = ["final"] if trained.has_final else list(range(1, len(trained.fold_names) + 1))
    per_split: dict = {m: [] for m in trained.model_names}
    for s in splits:
        for m in trained.model_names:
            p = trained.classifier(m, s).predict_proba(arrays)[:, cols]
            per_split[m].append(p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12))
        if on_progress is not None:
            on_progress({"stage": "predict", "done": len(next(iter(per_split.values()))), "total": len(splits)})
    return splits, per_split


def _scored(trained, ok: list, y: np.ndarray, speakers: list, shared: list[str], per_split: dict, labels: list[str],
            bootstrap: int) -> tuple[dict, dict]:
    """The predictions (as a run's ``predictions.npz``: one fold) and their metrics: the models'
    mean probabilities pooled, each fold's models on their own for the spread over folds, and
    the baseline of the run's majority class among the shared ones (``labels``: the run's
    videos' classes)."""
    proba = {m: np.mean(v, axis=0) for m, v in per_split.items()}
    g = np.array(["" if x is None else str(x) for x in speakers])
    # the baseline: the run's majority class among the shared ones (its models trained on all its videos, or on
    # all but a fold's)
    n_splits = len(next(iter(per_split.values())))
    pred = {"ids": np.array([o.item.id for o in ok]), "fold": np.ones(len(ok), int), "group": g, "y_true": y,
            "train_counts": np.array([[labels.count(c) for c in shared]]),
            "classes": np.array(shared), **{f"proba_{m}": proba[m] for m in per_split}}
    metrics = evaluate(pred, shared, [{"name": "all", "n_test": len(ok)}], bootstrap=bootstrap)
    if n_splits > 1:   # each fold's models on their own: the spread over folds
        per_fold = [{"name": trained.fold_names[k], "n_test": len(ok),
                     "models": {m: scores(y, per_split[m][k].argmax(axis=1), len(shared)) for m in per_split}}
                    for k in range(n_splits)]
        metrics["folds"] = per_fold
        metrics["summary"] = {m: mean_std([f["models"][m] for f in per_fold]) for m in per_split}
        metrics["table1"] = table1(metrics["summary"], baseline=metrics["context"]["majority_baseline"])
    return pred, metrics


def cross_evaluate(run: str | os.PathLike, dataset: str, root: str | os.PathLike, *,
                   mapping: Mapping[str, str | None] | None = None, classes: str | None = None,
                   store: str | os.PathLike | None = None, name: str | None = None, workers: int | None = None, engine=None,
                   accept_partial: bool = False, on_progress: Callable[[dict], None] | None = None,
                   bootstrap: int = 1000, stream: int | None = None) -> dict:
    """Test ``run``'s models on the dataset ``dataset`` at ``root`` (see the module doc) and
    write ``RUN/cross/<name>/``. ``mapping``: source class -> run class overrides of the
    default map (None: leave the class out). ``store``: the feature store (default: the run's).
    ``stream``: which video stream of the corpus's files (None: each container's default)."""
    from .estimator import TrainedRun
    from .inference import model_inputs

    run = Path(run)
    trained = TrainedRun(run)
    run_classes = [str(c) for c in trained.classes]
    ds = load_dataset(dataset, root, **({"classes": classes} if classes else {}))
    cmap = class_map(list(ds.classes), run_classes, mapping)
    items = [i for i in ds.items if i.label in cmap]
    left_out = {c: sum(i.label == c for i in ds.items) for c in ds.classes if c not in cmap}
    if not items:
        raise DatasetError(f"{root}: no video of a class the run shares")
    name = name or _name(dataset, root)
    out = check_writable(run / "cross" / name, "results")     # before the other corpus is extracted
    ok, records, empty, single, failed = _read(trained, items, store or run_store(run), root, stream=stream,
                                               workers=workers, engine=engine, accept_partial=accept_partial,
                                               on_progress=on_progress)
    speakers = [o.item.group for o in ok]
    if trained.speaker_relative and any(g is None for g in speakers):
        raise DatasetError(f"{root}: the run takes landmarks relative to each speaker, and this dataset does not "
                           "name every video's speaker")
    shared = sorted(set(cmap.values()), key=run_classes.index)
    cols = [run_classes.index(c) for c in shared]
    y = np.array([shared.index(cmap[o.item.label]) for o in ok])
    arrays = model_inputs(records, trained, speakers if trained.speaker_relative else None)
    splits, per_split = _per_split(trained, arrays, cols, on_progress)
    labels = [r["label"] for r in read_model_info(run).get("records", [])]
    pred, metrics = _scored(trained, ok, y, speakers, shared, per_split, labels, bootstrap)
    metrics.update({
        "name": name, "dataset": dataset, "root": str(root), "class_map": cmap, "shared_classes": shared,
        "left_out": {"classes": left_out, "unreadable": [(o.item.id, o.error) for o in failed],
                     "nothing_to_read": empty},
        "single_modality": single,
        "models_used": trained.which(None),
        "scoring": f"over the {len(shared)} shared classes; each model's probabilities renormalised over them"
                   + ("; spread: each fold's models on every video, pooled: their mean probabilities"
                      if len(splits) > 1 else "")})
    atomic_write_npz(out / "predictions.npz", **pred)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def cross_results(run: str | os.PathLike) -> dict[str, dict | str]:
    """A run's cross-corpus results by name: the metrics, or why they cannot be read."""
    import json

    out: dict[str, dict | str] = {}
    for p in sorted((Path(run) / "cross").glob("*/metrics.json")):
        try:
            out[p.parent.name] = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            out[p.parent.name] = f"{p}: unreadable ({e})"
    return out
