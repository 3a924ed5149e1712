"""Explanations of a finished run, written to ``importance.json`` in its folder: every fold's
model explained on that fold's held-out videos, then pooled over folds (weighted by their
videos), as the paper's Table 2 and finer."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..fileio import atomic_write_json, check_writable
from ..errors import EmojaxError, RunFileError
from ..estimator import TrainedRun
from ..inference import model_inputs, run_extractor
from ..training.summary import PAPER_TABLE2
from ..training.prepare import load_prepared
from ..training.runfiles import is_share, read_config, read_json, read_predictions, require
from .groups import GROUPINGS
from .local import integrated_gradients, video_importance
from .pfi import class_importance, permuted_predictions

FORMAT = 1
#: models explained by default: the two that fuse both modalities
FUSED = ("early_fusion", "late_fusion")
#: groupings of the one-video explanation
VIDEO_GROUPINGS = ("modality", "region", "time")


#: how Table 2's shares are made from importances (written beside them in importance.json)
SHARE_RULE = ("each group's mean importance (the drop in accuracy when it is permuted) as a per-cent share of "
              "the sum of the positive ones; a group whose permutation raised accuracy (a negative importance) "
              "gets no share and is listed under 'negative' with its importance")


def shares(mean: np.ndarray) -> list[float | None]:
    """Importances as per-cent shares of their positive total (Table 2, see ``SHARE_RULE``);
    None when no group helps at all."""
    pos = np.clip(np.asarray(mean, float), 0.0, None)
    total = pos.sum()
    return [float(v) for v in 100.0 * pos / total] if total > 0 else [None] * len(pos)


def modality_shares_of(entry: dict) -> dict[str, float | None]:
    """Each modality's per-cent share (None: no share, see ``SHARE_RULE``) in one model's
    explanation (an entry of ``models``, of a run's or of one video's)."""
    mod = entry["groupings"]["modality"]
    return dict(zip(mod["names"], mod["share_pct"]))


def shares_per_model(explanation: dict) -> dict[str, dict[str, float | None]]:
    """:func:`modality_shares_of` for every model of an explanation (``explain_video``'s)."""
    return {m: modality_shares_of(e) for m, e in explanation["models"].items()}


def _pool(per_fold: list[dict], weights: np.ndarray) -> dict:
    w = weights / weights.sum()
    means = np.array([f["mean"] for f in per_fold])
    var = np.array([f["std"] for f in per_fold]) ** 2
    mean = w @ means
    names = per_fold[0]["names"]
    return {"names": names, "mean": mean.tolist(), "std": np.sqrt(w @ var).tolist(),
            "fold_std": means.std(axis=0).tolist(), "per_fold": means.tolist(), "share_pct": shares(mean),
            "negative": {n: float(v) for n, v in zip(names, mean) if v < 0}}


def _pool_classes(per_fold: list[dict]) -> dict:
    drops = np.array([f["mean"] for f in per_fold])                  # (F, G, K)
    counts = np.array([f["counts"] for f in per_fold], float)[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(np.nan_to_num(drops) * counts, axis=0) / counts.sum(axis=0)
    return {"names": per_fold[0]["names"], "mean": np.where(np.isfinite(mean), mean, None).tolist()}


class RunData:
    """A finished run's models and the inputs and labels of its held-out videos, fold by fold
    (their records are loaded from the run's feature store, which must still hold them)."""

    def __init__(self, run: str | os.PathLike):
        run = Path(run)
        self.trained = TrainedRun(run)
        pred = read_predictions(run)
        data = load_prepared(run)
        pos = {i: k for k, i in enumerate(data.ids)}
        missing = [i for i in pred["ids"].tolist() if i not in pos]
        if missing:
            raise EmojaxError(f"{run}: {len(missing)} tested video(s) no longer in the dataset, e.g. {missing[0]}")
        self.arrays, self.classes = data.arrays, np.array(self.trained.classes)
        # fold_rows[f]: the videos fold f + 1 tested (predictions.npz numbers folds from 1)
        self.fold_rows = [np.array([pos[i] for i in pred["ids"][pred["fold"] == f + 1].tolist()], int)
                          for f in range(len(self.trained.fold_names))]
        self.labels = self.classes[data.y]

    def background(self, n: int = 64, seed: int = 0) -> dict:
        """Inputs of ``n`` of the run's tested videos drawn at random (the reference a single
        video's blocks are replaced from)."""
        tested = np.concatenate(self.fold_rows)
        rows = np.sort(np.random.default_rng(seed).choice(tested, size=min(n, len(tested)), replace=False))
        return {k: v[rows] for k, v in self.arrays.items()}

    def fold(self, f: int, model: str):
        clf = self.trained.classifier(model)
        clf.models_ = [self.trained.folds[f][model]]
        rows = self.fold_rows[f]
        return clf, {k: v[rows] for k, v in self.arrays.items()}, self.labels[rows]


def explain_run(run: str | os.PathLike, *, groupings: Sequence[str] = GROUPINGS, models: Sequence[str] = FUSED,
                per_class: bool = False, video: str | os.PathLike | None = None, n_repeats: int = 5,
                random_state: int = 0, max_samples: float = 1.0, background: int = 64,
                progress: Callable[[dict], None] | None = None, write: bool = True) -> dict:
    """Permutation importance of every grouping for each of ``models``, per fold on its
    held-out videos and pooled; per class when ``per_class``; for one ``video`` (extracted
    with the run's settings) its own importance against ``background`` of the run's videos
    and its integrated gradients. Written to ``RUN/importance.json`` when ``write``."""
    run = Path(run)
    for g in groupings:
        if g.partition(":")[0] not in GROUPINGS:
            raise ValueError(f"unknown grouping {g!r}; choose from {list(GROUPINGS)} (or 'time:N')")
    if not groupings:
        raise ValueError("no grouping to explain")
    if write:
        read_config(run)                       # a folder that is no run is refused, not written to
        check_writable(run, "explanation")     # before the permutations, not after
    data = RunData(run)
    for m in models:
        if m not in data.trained.folds[0]:
            raise ValueError(f"unknown model {m!r}; this run has {list(data.trained.folds[0])}")
    out: dict = {"format": FORMAT, "run": str(run), "created": time.time(), "classes": data.classes.tolist(),
                 "settings": {"groupings": list(groupings), "n_repeats": n_repeats, "random_state": random_state,
                              "max_samples": max_samples, "scoring": "accuracy"},
                 "models": {}, "table2": {}, "table2_negative": {}, "table2_rule": SHARE_RULE,
                 "paper_table2": PAPER_TABLE2}
    steps = len(models) * len(data.fold_rows) * len(groupings)
    for i, m in enumerate(models):
        tick = None if progress is None else (
            lambda e, base=i * steps // len(models): progress({**e, "done": base + e["done"], "total": steps}))
        entry = explain_model(data, m, groupings, per_class=per_class, n_repeats=n_repeats,
                              random_state=random_state, max_samples=max_samples, progress=tick)
        out["models"][m] = entry
        if "modality" in groupings:
            out["table2"][m] = modality_shares_of(entry)
            out["table2_negative"][m] = entry["groupings"]["modality"]["negative"]
    if video is not None:
        out["video"] = explain_video(data, run_extractor(data.trained)(video), models, n_repeats=n_repeats,
                                     random_state=random_state, background=background)
    if write:
        atomic_write_json(run / "importance.json", out)
    return out


def explain_model(data: RunData, m: str, groupings: Sequence[str], *, per_class: bool, n_repeats: int,
                  random_state: int, max_samples: float, progress: Callable[[dict], None] | None = None) -> dict:
    """Model ``m``'s permutation importance of every grouping, each fold's on its held-out videos,
    pooled over folds weighted by their videos (``explain_run``'s entry of ``models``); per class
    when ``per_class``. ``progress`` hears each (fold, grouping) done: ``done`` counted from 1."""
    folds: dict = {g: [] for g in groupings}
    classes: dict = {g: [] for g in groupings}
    baseline, done = [], 0
    for f in range(len(data.fold_rows)):
        clf, X, y = data.fold(f, m)
        for g in groupings:
            r = permuted_predictions(clf, X, y, groups=g, disjoint=True, n_repeats=n_repeats,
                                     random_state=random_state, max_samples=max_samples)
            imp = r.baseline - r.scores
            folds[g].append({"names": r.names, "mean": imp.mean(axis=1), "std": imp.std(axis=1)})
            if per_class:
                c = class_importance(r)
                classes[g].append({"names": r.names, "mean": c.importances_mean,
                                   "counts": [(r.y == k).sum() for k in r.classes]})
            done += 1
            if progress is not None:
                progress({"stage": "explain", "model": m, "fold": f + 1, "grouping": g, "done": done})
        baseline.append(float(r.baseline))   # the same for every grouping: the fold's own accuracy
    weights = np.array([len(rows) for rows in data.fold_rows], float)
    entry = {"baseline": {"accuracy": float(weights @ baseline / weights.sum()), "per_fold": baseline},
             "groupings": {g: _pool(folds[g], weights) for g in groupings}}
    if per_class:
        entry["per_class"] = {g: _pool_classes(classes[g]) for g in groupings}
    return entry


def explain_video(data: RunData, features, models: Sequence[str], *, n_repeats: int = 5, random_state: int = 0,
                  background: int = 64, groupings: Sequence[str] = VIDEO_GROUPINGS, gradients: bool = True) -> dict:
    """One video's features (extracted with the run's settings): each model's prediction, its
    block importances against ``background`` of the run's held-out videos and, with
    ``gradients``, its integrated gradients."""
    # normalised as the run's test videos were (a speaker-relative run: this video as its speaker's only one)
    x = model_inputs([features], data.trained, ["speaker"] if data.trained.speaker_relative else None)
    out = explain_inputs(data, x, models, n_repeats=n_repeats, random_state=random_state, background=background,
                         groupings=groupings, gradients=gradients)
    return {"path": features.source.get("path"), "frames": len(features),
            "face_ratio": round(features.face_ratio, 4), **out}


def explain_inputs(data: RunData, x: dict, models: Sequence[str], *, n_repeats: int = 5, random_state: int = 0,
                   background: int = 64, groupings: Sequence[str] = VIDEO_GROUPINGS, gradients: bool = True) -> dict:
    """:func:`explain_video` of one video's model inputs ``x`` (each array of one row, as
    ``model_inputs`` gives): ``{"background": n, "models": {model: entry}}``."""
    bg = data.background(background, random_state)
    out: dict = {"background": len(bg["mask"]), "models": {}}
    for m in models:
        clf = data.trained.classifier(m)
        groups = {}
        for g in groupings:
            r = video_importance(clf, x, bg, groups=g, n_repeats=n_repeats * 4, random_state=random_state)
            groups[g] = {"names": r.names, "mean": r.importances_mean.tolist(), "std": r.importances_std.tolist(),
                         "share_pct": shares(r.importances_mean),
                         "negative": {n: float(v) for n, v in zip(r.names, r.importances_mean) if v < 0}}
        entry = {"label": str(r.target), "proba": dict(zip(map(str, clf.classes_), map(float, r.proba))),
                 "groupings": groups}
        if gradients:
            ig = integrated_gradients(clf, x)
            entry["integrated_gradients"] = {
                "target": str(ig.target), "f_x": ig.f_x, "f_baseline": ig.f_baseline,
                "completeness_error": ig.completeness_error, "steps": ig.steps, "modality": ig.modality,
                "regions": ig.regions, "rppg": ig.rppg.tolist(),
                "landmarks": None if ig.landmarks is None else ig.landmarks.tolist()}
        out["models"][m] = entry
    return out


def read_importance(run: str | os.PathLike) -> dict:
    """A run's ``importance.json`` (written by ``explain_run`` / ``emojax explain``), checked:
    each model's accuracy a share, each grouping's names and importances finite and of one
    length, every share a per-cent; RunFileError naming the file and the problem otherwise."""
    path = Path(run) / "importance.json"
    if not path.is_file():
        raise RunFileError(f"{path}: missing; run `emojax explain {run}` first")
    imp = read_json(path)
    require(imp.get("format") == FORMAT, path, f"format {imp.get('format')!r} is not {FORMAT}; explain the run again")
    models = imp.get("models")
    require(isinstance(models, dict) and bool(models), path, "'models' holds no model")
    for m, e in models.items():
        require(isinstance(e, dict) and isinstance(e.get("baseline"), dict) and is_share(e["baseline"].get("accuracy")),
                path, f"models.{m}.baseline.accuracy is not a share in [0, 1]")
        groupings = e.get("groupings")
        require(isinstance(groupings, dict) and bool(groupings), path, f"models.{m} has no groupings")
        for g, d in groupings.items():
            where = f"models.{m}.groupings.{g}"
            names, mean, share = (d.get(k) if isinstance(d, dict) else None for k in ("names", "mean", "share_pct"))
            require(isinstance(names, list) and bool(names) and all(isinstance(x, str) for x in names), path,
                    f"{where}.names is not a list of names")
            require(isinstance(mean, list) and len(mean) == len(names) and all(_finite(v) for v in mean), path,
                    f"{where}.mean is not one finite importance per name")
            require(isinstance(share, list) and len(share) == len(names) and all(v is None or _pct(v) for v in share),
                    path, f"{where}.share_pct is not one per-cent share (or none) per name")
    table2 = imp.get("table2", {})
    require(isinstance(table2, dict) and all(isinstance(t, dict) and all(v is None or _pct(v) for v in t.values())
                                             for t in table2.values()), path, "'table2' is not per-cent shares per model")
    return imp


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _pct(v) -> bool:
    return _finite(v) and -1e-6 <= v <= 100.0 + 1e-6
