"""Tables for the dashboard: pure functions from what a run wrote to pandas data frames. Names:
every function that returns a data frame is named for what it shows plus ``_frame`` (as every
figure of ``charts.py`` ends in ``_chart``), so none shares a name with the library computation
whose numbers it lays out (``training.summary.table1``, the markdown Table 1)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from emojax.training.summary import table1_rows


def table1_frame(metrics: Mapping, *, paper: bool = False) -> pd.DataFrame:
    """A run's (or a cross-corpus result's) Table 1 as :func:`emojax.training.summary.table1_rows`
    lays it out: over seeds when the run has several (with the std over every fold beside accuracy
    and UAR), the paper's accuracy beside the models with ``paper``, the majority-class baseline
    of the test folds last."""
    seeds = "seeds" in metrics
    rows = table1_rows(metrics["seeds"]["summary"] if seeds else metrics["summary"], paper=paper,
                       baseline=metrics.get("context", {}).get("majority_baseline"), spread_over_folds=seeds)
    return pd.DataFrame.from_dict(rows, orient="index").fillna("")


def paper_choices_frame(info: Mapping) -> pd.DataFrame:
    """A paper-preset run's table of the paper's choices (``model.json`` ``paper``): what the
    paper says (or "not stated") and what the run assumed."""
    rows = info["paper"]["choices"]
    return pd.DataFrame({"the paper": [c["paper"] for c in rows], "this run (emojax `paper`)": [c["emojax"] for c in rows]},
                        index=[c["topic"] for c in rows])


def per_class_frame(metrics: Mapping, model: str) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class (pooled over folds)."""
    rep = metrics["pooled"][model]["per_class"]
    return pd.DataFrame({c: rep[c] for c in metrics["classes"]}).T[["precision", "recall", "f1-score", "support"]].astype({"support": int})


def videos_in_cell_frame(pred: Mapping[str, np.ndarray], model: str, true: int, predicted: int) -> pd.DataFrame:
    """The tested videos of true class ``true`` that ``model`` called ``predicted``, with its
    probability of each (from ``predictions.npz``)."""
    proba = np.asarray(pred[f"proba_{model}"])
    sel = (np.asarray(pred["y_true"]) == true) & (proba.argmax(axis=1) == predicted)
    classes = [str(c) for c in pred["classes"]]
    return pd.DataFrame({"video": pred["ids"][sel].astype(str), "fold": pred["fold"][sel],
                         f"p({classes[predicted]})": proba[sel, predicted].round(3),
                         f"p({classes[true]})": proba[sel, true].round(3)})
