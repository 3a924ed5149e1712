"""Scores of a run, all from scikit-learn: per fold, mean +- std over folds, a bootstrap
interval on the pooled predictions, and the four models laid out like the paper's Table 1."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix,
                             precision_recall_fscore_support)

#: the scores summarised per model
SCORES = ("accuracy", "uar", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")

#: Kumar & Li (2023), Table 1, IEMOCAP, 10 classes (per cent; P/R/F1 only given for early fusion)
PAPER_TABLE1 = {
    "rppg": {"accuracy": 37.45}, "face": {"accuracy": 46.42}, "late_fusion": {"accuracy": 41.17},
    "early_fusion": {"accuracy": 54.61, "precision_macro": 56.0, "recall_macro": 58.0, "f1_macro": 57.0},
}
#: Kumar & Li (2023), Table 2: each modality's share of the early-fusion decision (per cent)
PAPER_TABLE2 = {"rppg": 37.67, "face": 62.33}


def scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """The summary scores of one set of predictions (labels present in either, as sklearn does)."""
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    fw = precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)[2]
    with warnings.catch_warnings():  # a fold's test set may lack a class the model predicts
        warnings.simplefilter("ignore", UserWarning)
        uar = balanced_accuracy_score(y_true, y_pred)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "uar": float(uar),
            "precision_macro": float(p), "recall_macro": float(r), "f1_macro": float(f), "f1_weighted": float(fw)}


def report(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Scores plus the per-class report and the confusion matrix (rows: true, columns: predicted)."""
    labels = list(range(len(classes)))
    return {**scores(y_true, y_pred),
            "per_class": classification_report(y_true, y_pred, labels=labels, target_names=list(classes),
                                               output_dict=True, zero_division=0),
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def mean_std(per_fold: list[dict]) -> dict[str, dict[str, float]]:
    """``{score: {"mean", "std"}}`` over folds (std with ddof=1; 0 for one fold)."""
    out = {}
    for s in SCORES:
        v = np.array([f[s] for f in per_fold], float)
        out[s] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return out


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, *, n: int = 1000, level: float = 0.95,
                 seed: int = 0, chunk: int = 100) -> dict[str, list[float]]:
    """Percentile interval of accuracy and UAR over ``n`` resamples (with replacement) of the
    videos. Vectorised: each resample's accuracy and balanced accuracy (the mean recall over
    the classes present in it, as scikit-learn defines it) computed at once."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    rng = np.random.default_rng(seed)
    acc, uar = [], []
    for start in range(0, n, chunk):
        idx = rng.integers(0, len(y_true), (min(chunk, n - start), len(y_true)))
        correct = (y_true == y_pred)[idx]
        member = y_true[idx][..., None] == classes                   # (B, N, C)
        support = member.sum(axis=1)
        recall = (member & correct[..., None]).sum(axis=1) / np.maximum(support, 1)
        acc.append(correct.mean(axis=1))
        uar.append((recall * (support > 0)).sum(axis=1) / (support > 0).sum(axis=1))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {"accuracy": np.percentile(np.concatenate(acc), q).tolist(),
            "uar": np.percentile(np.concatenate(uar), q).tolist()}


def table1(summary: dict, *, paper: bool = False) -> str:
    """The models as rows like the paper's Table 1 (per cent, mean +- std over folds); with
    ``paper``, the published IEMOCAP figures beside them."""
    from ..models import MODEL_NAMES, TITLES

    cols = [("accuracy", "Accuracy"), ("precision_macro", "Precision"), ("recall_macro", "Recall"),
            ("f1_macro", "F1"), ("uar", "UAR")]
    head = "| Model | " + " | ".join(c for _, c in cols) + (" | Paper accuracy |" if paper else " |")
    lines = [head, "|" + "---|" * (len(cols) + 1 + paper)]
    for m in MODEL_NAMES:
        if m not in summary:
            continue
        cells = [f"{100 * summary[m][k]['mean']:.2f} ± {100 * summary[m][k]['std']:.2f}" for k, _ in cols]
        if paper:
            cells.append(f"{PAPER_TABLE1[m]['accuracy']:.2f}")
        lines.append(f"| {TITLES[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate(pred: dict[str, np.ndarray], classes: Sequence[str], folds: list[dict] | None = None, *,
             paper_reference: bool = False, bootstrap: int = 1000) -> dict:
    """Metrics of a run's predictions (``y_true``, ``fold``, ``proba_<model>``): per fold, mean
    +- std over folds (``summary``), pooled over folds (``pooled``: scores, per-class report,
    confusion matrix), bootstrap intervals of the pooled accuracy and UAR (``ci``), and the
    Table-1 layout (``table1``, markdown)."""
    from ..models import MODEL_NAMES

    y, fold = np.asarray(pred["y_true"]), np.asarray(pred["fold"])
    names = [m for m in MODEL_NAMES if f"proba_{m}" in pred]
    y_hat = {m: np.asarray(pred[f"proba_{m}"]).argmax(axis=1) for m in names}
    per_fold = []
    for i, f in enumerate(np.unique(fold)):
        sel = fold == f
        info = dict(folds[i]) if folds and i < len(folds) else {"name": f"fold {f + 1}", "n_test": int(sel.sum())}
        info["models"] = {m: scores(y[sel], y_hat[m][sel]) for m in names}
        per_fold.append(info)
    summary = {m: mean_std([f["models"][m] for f in per_fold]) for m in names}
    return {"classes": list(classes), "n_videos": int(len(y)), "folds": per_fold, "summary": summary,
            "pooled": {m: report(y, y_hat[m], classes) for m in names},
            "ci": {m: bootstrap_ci(y, y_hat[m], n=bootstrap) for m in names},
            "table1": table1(summary, paper=paper_reference)}
