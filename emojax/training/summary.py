"""A run's results as a reader sees them, laid out once for the command line and the pages:
Table 1 (its cells, :func:`table1_rows`, and in markdown), the spread over seeds, and the
sentences beside them (whether the split is speaker-independent, the test sets' baselines, the
paper's unstated split, a model's bootstrap interval, the final model), with the paper's own
figures (Kumar & Li 2023, Tables 1 and 2) they stand beside."""

from __future__ import annotations

#: Kumar & Li (2023), Table 1, IEMOCAP, 10 classes (per cent; P/R/F1 only given for early fusion)
PAPER_TABLE1 = {
    "rppg": {"accuracy": 37.45}, "face": {"accuracy": 46.42}, "late_fusion": {"accuracy": 41.17},
    "early_fusion": {"accuracy": 54.61, "precision_macro": 56.0, "recall_macro": 58.0, "f1_macro": 57.0},
}
#: Kumar & Li (2023), Table 2: each modality's share of the early-fusion decision (per cent)
PAPER_TABLE2 = {"rppg": 37.67, "face": 62.33}
#: said wherever the paper's figures stand beside a run's: they are not like for like
PAPER_SPLIT = "its train/test split is not stated"
#: the heading of the paper's column in Table 1
PAPER_COLUMN = "Paper accuracy (IEMOCAP, split not stated)"


def paper_note(protocol: str | None) -> str:
    """The line under a Table 1 with the paper's column: this run's protocol beside the paper's."""
    run = f"this run's protocol: {protocol}" if protocol else "this run's protocol: see its config.json"
    return (f"Paper accuracy: Kumar & Li (2023), IEMOCAP, 10 classes; {PAPER_SPLIT}, so its column is not like "
            f"for like with {run}.")


def independence_line(split: dict | None) -> str:
    """One sentence saying whether a run's split is speaker-independent and why (or why not),
    from the record :func:`emojax.training.protocols.independence` made; empty without one."""
    if not split:
        return ""
    if split.get("speaker_independent"):
        return f"Speaker-independent ({split.get('protocol')}): {split.get('why')}."
    return f"Not speaker-independent ({split.get('protocol')}): {split.get('why')}."


TABLE_COLUMNS = [("accuracy", "Accuracy"), ("precision_macro", "Precision"), ("recall_macro", "Recall"),
                 ("f1_macro", "F1"), ("uar", "UAR")]
#: the row of the majority-class baseline (:data:`emojax.training.metrics.BASELINE_RULE`)
BASELINE_ROW = "Majority class (baseline)"


def table1_rows(summary: dict, *, paper: bool = False, baseline: dict | None = None,
                spread_over_folds: bool = False) -> dict[str, dict[str, str]]:
    """Table 1's cells, the one layout every view shows: a row per model (by title) and, with
    ``baseline``, a last one (:data:`BASELINE_ROW`); per cent "mean ± std" under each of
    :data:`TABLE_COLUMNS`; with ``spread_over_folds`` (a summary over seeds), the std over every
    fold beside accuracy and UAR; with ``paper``, the published IEMOCAP accuracy of each model
    (:data:`PAPER_COLUMN`)."""
    from ..models import MODEL_NAMES, TITLES

    def cells(stats: dict) -> dict[str, str]:
        return {h: f"{100 * stats[k]['mean']:.2f} ± {100 * stats[k]['std']:.2f}" for k, h in TABLE_COLUMNS}

    rows = {}
    for m in (m for m in MODEL_NAMES if m in summary):
        rows[TITLES[m]] = cells(summary[m])
        if spread_over_folds:
            rows[TITLES[m]].update({f"{h} ± folds": f"{100 * summary[m][k]['std_folds']:.2f}"
                                    for k, h in TABLE_COLUMNS if k in ("accuracy", "uar")})
        if paper:
            rows[TITLES[m]][PAPER_COLUMN] = f"{PAPER_TABLE1[m]['accuracy']:.2f}"
    if baseline is not None:
        rows[BASELINE_ROW] = cells(baseline)
    return rows


def table1(summary: dict, *, paper: bool = False, baseline: dict | None = None, split: dict | None = None,
           protocol: str | None = None) -> str:
    """The models as rows like the paper's Table 1 (:func:`table1_rows`) in markdown; with
    ``paper``, under the table, this run's ``protocol`` beside the paper's (not stated); with
    ``split`` (the run's record of its protocol), a line under the table saying whether it is
    speaker-independent."""
    heads = [h for _, h in TABLE_COLUMNS] + ([PAPER_COLUMN] if paper else [])
    lines = ["| Model | " + " | ".join(heads) + " |", "|" + "---|" * (len(heads) + 1)]
    for title, row in table1_rows(summary, paper=paper, baseline=baseline).items():
        lines.append(f"| {title} | " + " | ".join(row.get(h, "") for h in heads) + " |")
    if paper:
        lines.append(paper_note(protocol))
    if split:
        lines += ["", independence_line(split)]
    return "\n".join(lines)


def context_line(context: dict) -> str:
    """One line for under Table 1: the test classes and the baselines."""
    counts = ", ".join(f"{c} {n}" for c, n in context["class_counts"].items())
    return (f"test videos per class: {counts}; the largest ({context['largest_test_class']}) is "
            f"{100 * context['largest_test_share']:.2f} % of them; chance UAR {100 * context['chance_uar']:.2f} %; "
            "the baseline predicts each fold's training majority class")


def spread_table(metrics: dict) -> str | None:
    """With several seeds: accuracy and UAR per model, mean with the std over seeds and over
    every fold of every seed (None with one seed)."""
    from ..models import TITLES

    if "seeds" not in metrics:
        return None
    lines = ["| Model | Accuracy | ± seeds | ± folds | UAR | ± seeds | ± folds |", "|---|---|---|---|---|---|---|"]
    for m, st in metrics["seeds"]["summary"].items():
        cells = [f"{100 * st[k][x]:.2f}" for k in ("accuracy", "uar") for x in ("mean", "std", "std_folds")]
        lines.append(f"| {TITLES[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def interval_line(metrics: dict, model: str) -> str:
    """A model's pooled accuracy with its 95 % bootstrap interval and what was resampled, from a
    run's ``metrics.json``: ``pooled accuracy 54.61 % (95% bootstrap CI 50.1-58.2 %, resampling 10
    speakers)``."""
    ci = metrics["ci"][model]
    lo, hi = ci["accuracy"]
    return (f"pooled accuracy {100 * metrics['pooled'][model]['accuracy']:.2f} % (95% bootstrap CI "
            f"{100 * lo:.1f}-{100 * hi:.1f} %, resampling {ci.get('clusters', '')} {ci.get('resampled', 'videos')})")


def final_line(final: dict) -> str:
    """The final model of a run (``metrics.json``'s ``final``, from ``--refit``) in one sentence."""
    from ..models import TITLES

    return (f"final model: trained on all {final['videos']} videos (epochs "
            + ", ".join(f"{TITLES.get(m, m)} {e}" for m, e in final["epochs"].items())
            + _late_said(final) + "); prediction (`emojax predict`, the "
            "Predict page) uses it")


def _late_said(final: dict) -> str:
    """The final model's late-fusion weights in words (a run of one modality has none)."""
    from ..models import TITLES

    weights = final.get("late_fusion_weights")
    if weights is None and "late_fusion_weight" in final:
        return f"; late-fusion weight {final['late_fusion_weight']:.2f}"
    if not weights:
        return ""
    if tuple(weights) == ("rppg", "face"):        # as before voice: the pulse model's weight
        return f"; late-fusion weight {weights['rppg']:.2f}"
    return "; late-fusion weights " + ", ".join(f"{TITLES.get(m, m)} {w:.2f}" for m, w in weights.items())
