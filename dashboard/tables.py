"""Tables for the dashboard: pure functions from what a run wrote to pandas data frames."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from emojax.models import MODEL_NAMES, TITLES
from emojax.training.metrics import PAPER_COLUMN, PAPER_TABLE1

#: the paper's Table 1 columns: score key -> heading
TABLE1 = {"accuracy": "Accuracy", "precision_macro": "Precision", "recall_macro": "Recall", "f1_macro": "F1",
          "uar": "UAR"}


def table1(metrics: Mapping, *, paper: bool = False) -> pd.DataFrame:
    """The four models as in the paper's Table 1: per cent, "mean ± std" over folds (over
    seeds when the run has several, with the std over every fold beside accuracy and UAR);
    with ``paper``, the published IEMOCAP accuracy beside them (its split not stated: the page
    says the run's beside it); last, the majority-class baseline of the test folds."""
    seeds = "seeds" in metrics
    summary = metrics["seeds"]["summary"] if seeds else metrics["summary"]
    rows = {}
    for m in (m for m in MODEL_NAMES if m in summary):
        rows[TITLES[m]] = {h: f"{100 * summary[m][k]['mean']:.2f} ± {100 * summary[m][k]['std']:.2f}"
                           for k, h in TABLE1.items()}
        if seeds:
            for k in ("accuracy", "uar"):
                rows[TITLES[m]][f"{TABLE1[k]} ± folds"] = f"{100 * summary[m][k]['std_folds']:.2f}"
        if paper:
            rows[TITLES[m]][PAPER_COLUMN] = f"{PAPER_TABLE1[m]['accuracy']:.2f}"
    base = metrics.get("context", {}).get("majority_baseline")
    if base is not None:
        rows["Majority class (baseline)"] = {h: f"{100 * base[k]['mean']:.2f} ± {100 * base[k]['std']:.2f}"
                                             for k, h in TABLE1.items()}
    return pd.DataFrame.from_dict(rows, orient="index").fillna("")


def paper_choices(info: Mapping) -> pd.DataFrame:
    """A paper-preset run's table of the paper's choices (``model.json`` ``paper``): what the
    paper says (or "not stated") and what the run assumed."""
    rows = info["paper"]["choices"]
    return pd.DataFrame({"the paper": [c["paper"] for c in rows], "this run (emojax `paper`)": [c["emojax"] for c in rows]},
                        index=[c["topic"] for c in rows])


def per_class(metrics: Mapping, model: str) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class (pooled over folds)."""
    rep = metrics["pooled"][model]["per_class"]
    return pd.DataFrame({c: rep[c] for c in metrics["classes"]}).T[["precision", "recall", "f1-score", "support"]].astype({"support": int})


def videos_in_cell(pred: Mapping[str, np.ndarray], model: str, true: int, predicted: int) -> pd.DataFrame:
    """The tested videos of true class ``true`` that ``model`` called ``predicted``, with its
    probability of each (from ``predictions.npz``)."""
    proba = np.asarray(pred[f"proba_{model}"])
    sel = (np.asarray(pred["y_true"]) == true) & (proba.argmax(axis=1) == predicted)
    classes = [str(c) for c in pred["classes"]]
    return pd.DataFrame({"video": pred["ids"][sel].astype(str), "fold": pred["fold"][sel],
                         f"p({classes[predicted]})": proba[sel, predicted].round(3),
                         f"p({classes[true]})": proba[sel, true].round(3)})
