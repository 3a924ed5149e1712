"""Tables for the dashboard: pure functions from what a run wrote to pandas data frames."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from emojax.models import MODEL_NAMES, TITLES
from emojax.training.metrics import PAPER_TABLE1

#: the paper's Table 1 columns: score key -> heading
TABLE1 = {"accuracy": "Accuracy", "precision_macro": "Precision", "recall_macro": "Recall", "f1_macro": "F1",
          "uar": "UAR"}


def table1(metrics: Mapping, *, paper: bool = False) -> pd.DataFrame:
    """The four models as in the paper's Table 1: per cent, "mean ± std" over folds; with
    ``paper``, the published IEMOCAP accuracy beside them."""
    summary = metrics["summary"]
    rows = {}
    for m in (m for m in MODEL_NAMES if m in summary):
        rows[TITLES[m]] = {h: f"{100 * summary[m][k]['mean']:.2f} ± {100 * summary[m][k]['std']:.2f}"
                           for k, h in TABLE1.items()}
        if paper:
            rows[TITLES[m]]["Paper accuracy"] = f"{PAPER_TABLE1[m]['accuracy']:.2f}"
    return pd.DataFrame.from_dict(rows, orient="index")


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
    return pd.DataFrame({"video": pred["ids"][sel].astype(str), "fold": pred["fold"][sel] + 1,
                         f"p({classes[predicted]})": proba[sel, predicted].round(3),
                         f"p({classes[true]})": proba[sel, true].round(3)})
