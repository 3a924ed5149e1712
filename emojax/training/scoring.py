"""A run's ``metrics.json`` from its predictions (every seed's): each seed's folds scored
(:mod:`emojax.training.metrics`), summarised over seeds, the protocol said in words beside the
paper's reference, and the videos the run used; :func:`evaluate_run` recomputes it for a
finished run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import RunFileError
from .assumptions import REFERENCE as PAPER_REFERENCE
from .config import RunConfig, seeds_of
from .metrics import evaluate, over_seeds
from .summary import PAPER_SPLIT, PAPER_TABLE1
from .runfiles import read_config, read_metrics, read_model_info, read_predictions, seed_folder


def describe_protocol(cfg: RunConfig, n_folds: int) -> str:
    """The run's split in words, as Table 1 prints it beside the paper's (unstated) one."""
    what = {"holdout": f"one split, {100 * cfg.test_fraction:.0f} % of the videos tested", "kfold": f"{cfg.folds}-fold",
            "loso": "leave one recording session out", "speaker": "leave one speaker out"}[cfg.protocol]
    return f"{cfg.protocol} ({what}), {n_folds} fold(s), seed {cfg.train.seed}" + (
        f" and {cfg.seeds - 1} more" if cfg.seeds > 1 else "")


def evaluate_seeds(out: Path, cfg: RunConfig, per_seed: list[tuple[int, list[dict]]]) -> dict:
    """The metrics of a run's predictions, every seed's (``per_seed``: each seed and its folds'
    facts, or None where they are lost): each seed scored, summarised over seeds when there are
    several, with the protocol in words and, for the paper's classes, the paper's reference."""
    paper = cfg.dataset == "iemocap" and cfg.classes in (None, "paper")
    split = read_model_info(out).get("split")
    results = []
    for si, (seed, info) in enumerate(per_seed):
        pred = read_predictions(seed_folder(out, si, seed))
        protocol = describe_protocol(cfg, len(np.unique(pred["fold"])))
        results.append(evaluate(pred, [str(c) for c in pred["classes"]], info, paper_reference=paper, split=split,
                                protocol=protocol))
    metrics = results[0]
    if len(results) > 1:
        metrics = {**metrics, **over_seeds([s for s, _ in per_seed], results, paper_reference=paper,
                                           protocol=protocol)}
    metrics["protocol"] = protocol
    if paper:
        metrics["paper_reference"] = {"source": PAPER_REFERENCE, "dataset": "IEMOCAP, 10 classes",
                                      "split": PAPER_SPLIT, "table1": PAPER_TABLE1}
    return metrics


def evaluate_run(run: str | os.PathLike) -> dict:
    """The metrics of a finished run, recomputed from its predictions (every seed's)."""
    run = Path(run)
    cfg = read_config(run)
    try:
        old = read_metrics(run)          # what only the old file knows (early stopping, the final model)
    except RunFileError:
        old = {}                         # absent or damaged: recomputed from the predictions
    infos = old.get("seeds", {}).get("folds") or [old.get("folds")]
    seeds = seeds_of(cfg)
    per_seed = [(s, infos[i] if i < len(infos) else None) for i, s in enumerate(seeds)]
    metrics = evaluate_seeds(run, cfg, per_seed)
    metrics["videos"] = videos_used(read_model_info(run))
    if "final" in old:
        metrics["final"] = old["final"]
    return metrics


def videos_used(info: dict) -> dict:
    """From a run's ``model.json``: how many videos it used, which it left out and which it read
    with one modality absent, each by name and reason (``metrics.json``'s ``videos``)."""
    return {"used": info["videos"], "left_out": [{"what": w, "why": y} for w, y in info.get("skipped", [])],
            "single_modality": info.get("single_modality", [])}
