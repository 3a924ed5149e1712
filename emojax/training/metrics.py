"""Scores of a run, all from scikit-learn: per fold, mean +- std over folds (and over seeds), a
bootstrap interval on the pooled predictions (resampling the protocol's own unit: sessions
under LOSO, speakers when they are known, else videos), the baselines (each fold's training
majority class, chance) and whether the split was speaker-independent; the four models laid
out like the paper's Table 1 (:mod:`emojax.training.summary`) go with them.

One label set: precision, recall, F1 and UAR are means over the run's classes (the same K
classes per fold, pooled, in the bootstrap and for the baseline), a class a fold did not test
or never predicted counting 0 for the term it leaves undefined (scikit-learn's
``zero_division=0``); UAR, the unweighted mean recall, is then macro recall. :data:`LABEL_SET`
says so in ``metrics.json``."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from .protocols import MIN_CLUSTERS
from .summary import table1

#: the scores summarised per model
SCORES = ("accuracy", "uar", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")

#: how the macro scores are averaged (written to metrics.json beside the classes)
LABEL_SET = ("precision, recall, F1 and UAR are unweighted means over the run's classes (listed in 'classes'), "
             "per fold, pooled and in the bootstrap alike; a class a fold did not test (or never predicted) counts 0 "
             "for the term it leaves undefined; UAR is therefore macro recall; weighted F1 weighs each class by its "
             "test videos")


def scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict[str, float]:
    """The summary scores of one set of predictions, the macro ones over the labels
    ``0 .. n_classes - 1`` (see :data:`LABEL_SET`)."""
    labels = list(range(n_classes))
    with warnings.catch_warnings():  # a fold's test set may lack a class (it counts 0, as said)
        warnings.simplefilter("ignore", UserWarning)
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        fw = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)[2]
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "uar": float(r),
            "precision_macro": float(p), "recall_macro": float(r), "f1_macro": float(f), "f1_weighted": float(fw)}


def report(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Scores plus the per-class report and the confusion matrix (rows: true, columns: predicted)."""
    labels = list(range(len(classes)))
    return {**scores(y_true, y_pred, len(classes)),
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


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, clusters: Sequence | None = None, *, unit: str = "speakers",
                 n_classes: int | None = None, n: int = 1000, level: float = 0.95, seed: int = 0,
                 chunk: int = 100) -> dict:
    """Percentile interval of accuracy and UAR over ``n`` resamples with replacement.

    With ``clusters`` (each video's cluster, ``unit`` naming them: the speaker, or the session
    when the protocol keeps sessions together; at least two of them), whole clusters are
    resampled - a cluster bootstrap: one cluster's videos are correlated, and resampling them
    one by one would claim more certainty than the data holds. Otherwise the videos are
    resampled. With fewer than :data:`MIN_CLUSTERS` clusters the result carries a
    ``warning``. Vectorised: each resample's accuracy and UAR computed at once, from counts per
    cluster and class; UAR is the mean recall over the classes ``0 .. n_classes - 1`` (a class
    absent from a resample counting 0, as :data:`LABEL_SET` says), or, without ``n_classes``,
    over the classes present in the resample (scikit-learn's balanced accuracy)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.arange(n_classes) if n_classes is not None else np.unique(y_true)
    groups, by = np.arange(len(y_true)), "videos"
    if clusters is not None:
        g = np.asarray([str(x) for x in clusters])
        if len(g) == len(y_true) and (g != "").all() and len(np.unique(g)) >= 2:
            groups, by = np.unique(g, return_inverse=True)[1], unit
    clusters = groups
    n_clusters = int(clusters.max()) + 1
    member = (y_true[:, None] == classes).astype(float)                       # (N, C)
    hit = member * (y_true == y_pred)[:, None]
    support_c = np.zeros((n_clusters, len(classes)))
    correct_c = np.zeros((n_clusters, len(classes)))
    np.add.at(support_c, clusters, member)
    np.add.at(correct_c, clusters, hit)
    rng = np.random.default_rng(seed)
    acc, uar = [], []
    for start in range(0, n, chunk):
        # how often each cluster is drawn in each resample of n_clusters draws: (B, S)
        counts = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=min(chunk, n - start))
        support, correct = counts @ support_c, counts @ correct_c                 # (B, C)
        acc.append(correct.sum(axis=1) / np.maximum(support.sum(axis=1), 1))
        present = support > 0
        over = len(classes) if n_classes is not None else np.maximum(present.sum(axis=1), 1)
        uar.append((correct / np.maximum(support, 1) * present).sum(axis=1) / over)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out = {"accuracy": np.percentile(np.concatenate(acc), q).tolist(),
           "uar": np.percentile(np.concatenate(uar), q).tolist(),
           "resampled": by, "clusters": n_clusters}
    if n_clusters < MIN_CLUSTERS:
        out["warning"] = (f"only {n_clusters} {by} to resample: an interval from fewer than {MIN_CLUSTERS} is rough; "
                          "read it as indicative")
    return out


#: what each protocol's bootstrap unit is called in the plural
_UNITS = {"session": "sessions", "speaker": "speakers", "video": "videos"}


def _clusters(pred: dict, split: dict | None) -> tuple[np.ndarray | None, str]:
    """Each tested video's bootstrap cluster and the unit's name: the protocol's own unit when
    the run recorded it (``split["bootstrap_unit"]``), else speakers when they are known."""
    unit = (split or {}).get("bootstrap_unit") or ("speaker" if "group" in pred else "video")
    key = {"session": "session", "speaker": "group"}.get(unit)
    return (np.asarray(pred[key]) if key in pred else None), _UNITS.get(unit, "videos")


#: the majority baseline, in words (written beside it)
BASELINE_RULE = ("always predict the majority class of the fold's training videos (validation included: every video "
                 "the fold did not test; a tie goes to the class listed first), scored on the fold's test videos "
                 "like the models")


def context_of(y: np.ndarray, fold: np.ndarray, classes: Sequence[str], train_counts: np.ndarray) -> dict:
    """What accuracy should be read against: the test videos per class, the share of the
    largest, chance UAR (1 / the run's classes), and the majority baseline
    (:data:`BASELINE_RULE`): per fold K, the class with most training videos in
    ``train_counts[K - 1]`` (``(folds, classes)``) predicted for every test video."""
    y, fold, train_counts = np.asarray(y), np.asarray(fold), np.asarray(train_counts)
    counts = np.bincount(y, minlength=len(classes))
    per_fold, chosen = [], []
    for f in np.unique(fold):
        yf = y[fold == f]
        majority = int(np.argmax(train_counts[f - 1]))
        chosen.append(str(classes[majority]))
        per_fold.append(scores(yf, np.full(len(yf), majority), len(classes)))
    return {"class_counts": dict(zip(map(str, classes), map(int, counts))),
            "largest_test_class": str(classes[int(counts.argmax())]),
            "largest_test_share": float(counts.max() / max(counts.sum(), 1)),
            "chance_uar": float(1.0 / len(classes)),
            "majority_baseline": mean_std(per_fold), "baseline_classes": chosen, "baseline_rule": BASELINE_RULE}


def evaluate(pred: dict[str, np.ndarray], classes: Sequence[str], folds: list[dict] | None = None, *,
             paper_reference: bool = False, bootstrap: int = 1000, split: dict | None = None,
             protocol: str | None = None) -> dict:
    """Metrics of a run's predictions (``y_true``, ``fold`` (from 1), ``proba_<model>``,
    ``train_counts`` (each fold's training videos per class), and ``group`` when speakers are
    known, ``session`` when sessions are), the macro scores over ``classes`` (:data:`LABEL_SET`):
    per fold, mean +- std over folds
    (``summary``), pooled over folds (``pooled``: scores, per-class report, confusion matrix),
    bootstrap intervals of the pooled accuracy and UAR (``ci``, resampling the unit ``split``
    names, see :func:`_clusters`; ``bootstrap``: the unit, how many, a warning when few), the
    test sets' baselines (``context``), ``split`` (the run's record of whether its protocol kept
    speakers apart) and the Table-1 layout (``table1``, markdown; with ``paper_reference``, the
    paper's column and this run's ``protocol`` beside it)."""
    from ..models import MODEL_NAMES

    y, fold = np.asarray(pred["y_true"]), np.asarray(pred["fold"])
    names = [m for m in MODEL_NAMES if f"proba_{m}" in pred]
    y_hat = {m: np.asarray(pred[f"proba_{m}"]).argmax(axis=1) for m in names}
    per_fold = []
    for f in np.unique(fold):                    # fold K is folds[K - 1] (numbered from 1)
        sel = fold == f
        info = dict(folds[f - 1]) if folds and f <= len(folds) else {"fold": int(f), "name": f"fold {f}",
                                                                        "n_test": int(sel.sum())}
        info["models"] = {m: scores(y[sel], y_hat[m][sel], len(classes)) for m in names}
        info["untested_classes"] = [str(c) for k, c in enumerate(classes) if not (y[sel] == k).any()]
        per_fold.append(info)
    summary = {m: mean_std([f["models"][m] for f in per_fold]) for m in names}
    context = context_of(y, fold, classes, pred["train_counts"])
    clusters, unit = _clusters(pred, split)
    ci = {m: bootstrap_ci(y, y_hat[m], clusters, unit=unit, n_classes=len(classes), n=bootstrap) for m in names}
    first = next(iter(ci.values()))
    out = {"classes": list(classes), "label_set": LABEL_SET, "n_videos": int(len(y)), "folds": per_fold,
           "summary": summary,
           "pooled": {m: report(y, y_hat[m], classes) for m in names}, "ci": ci,
           "bootstrap": {"resampled": first["resampled"], "clusters": first["clusters"],
                         "warning": first.get("warning")},
           "context": context,
           "table1": table1(summary, paper=paper_reference, baseline=context["majority_baseline"], split=split,
                             protocol=protocol)}
    if split is not None:
        out["split"] = split
    return out


def over_seeds(seeds: Sequence[int], results: Sequence[dict], *, paper_reference: bool = False,
               protocol: str | None = None) -> dict:
    """Several seeds' ``evaluate`` results summarised: per model and score, the mean and std
    (ddof=1) over seeds of each seed's mean over folds, and the std over every (seed, fold).
    Returns ``{"seeds": {...}, "table1": ...}`` to merge into the first seed's metrics."""
    names = list(results[0]["summary"])
    summary = {}
    for m in names:
        summary[m] = {}
        for s in SCORES:
            means = np.array([r["summary"][m][s]["mean"] for r in results])
            every = np.array([f["models"][m][s] for r in results for f in r["folds"]])
            summary[m][s] = {"mean": float(means.mean()), "std": float(means.std(ddof=1)),
                             "std_folds": float(every.std(ddof=1)) if len(every) > 1 else 0.0}
    base = results[0]["context"]["majority_baseline"]
    return {"seeds": {"values": list(map(int, seeds)), "summary": summary,
                      "per_seed": [{m: {s: r["summary"][m][s]["mean"] for s in SCORES} for m in names} for r in results],
                      "folds": [r["folds"] for r in results],
                      "ci": [r["ci"] for r in results]},
            "table1": table1(summary, paper=paper_reference, baseline=base, split=results[0].get("split"),
                             protocol=protocol)}
