"""The `improved` architecture, chosen held out: candidate settings compared by leave-one-actor-out
cross-validation on a teaching set made with another seed, the chosen one then reported on the
README's teaching set (seed 0), on which nothing was chosen. Writes
artifacts/benchmarks/architecture.json and prints the README's table.

    .venv/bin/python benchmarks/architecture.py [--quick] [--work DIR]

The candidates are the choices the README says were made on the teaching set: for the rPPG and
facial models, pooling over time (mean, or mean and spread) and dropout (0, 0.2); for the early
fusion, how a frame's two modalities are joined (one dense layer over both, or each embedded to
its own half of the width) and modality dropout (0, 0.25). The three trained models of a run are
trained independently (late fusion is made from two of them afterwards), so four runs, each
pairing one option of every model, compare the four options of each model at once; each model
takes the option with the best UAR (mean over seeds of the mean over folds; a tie goes to the
simpler option, listed first). The choosing set shares the face and the four "actors" with the
reported one (a teaching set always animates the same photograph) but no clip: other expressions,
pulses, motion and noise.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: options of the rPPG and facial models, then of the early fusion, simplest first
UNIMODAL = [{"pool": "mean", "dropout": 0.0}, {"pool": "mean", "dropout": 0.2},
            {"pool": "mean_std", "dropout": 0.0}, {"pool": "mean_std", "dropout": 0.2}]
FUSION = [{"embed": "joint", "modality_dropout": 0.0}, {"embed": "joint", "modality_dropout": 0.25},
          {"embed": "each", "modality_dropout": 0.0}, {"embed": "each", "modality_dropout": 0.25}]
OPTIONS = {"rppg": UNIMODAL, "face": UNIMODAL, "early_fusion": FUSION}
CHOOSE_SEED, REPORT_SEED = 1, 0
TITLES = {"rppg": "rPPG", "face": "Facial", "late_fusion": "Late fusion", "early_fusion": "Early fusion"}


def architecture(choice: dict[str, int]) -> dict:
    """The improved preset's architectures with option ``choice[model]`` of each trained model."""
    from emojax.models import ARCHITECTURES

    arch = copy.deepcopy(ARCHITECTURES["improved"])
    for m, k in choice.items():
        arch[m].update(OPTIONS[m][k])
    return arch


@contextlib.contextmanager
def using(arch: dict):
    """The improved preset built with ``arch`` in this process, for the duration."""
    from emojax import models

    saved = models.ARCHITECTURES["improved"]
    models.ARCHITECTURES["improved"] = arch
    try:
        yield
    finally:
        models.ARCHITECTURES["improved"] = saved


def teaching(work: Path, seed: int, quick: bool) -> Path:
    """A teaching set made with ``seed`` (the README's when 0), extracted into ``work/store``."""
    from emojax.data import load_teaching
    from emojax.data.batch import extract_items
    from emojax.data.teaching import TeachingConfig, make_teaching_set

    root = work / f"teaching-seed{seed}"
    if not (root / "manifest.csv").is_file():
        cfg = TeachingConfig(seed=seed, **({"clips_per_class": 8, "seconds": 4.0} if quick else {}))
        make_teaching_set(root, cfg, workers=2)
    summary = extract_items(load_teaching(root).items, work / "store", workers=2)
    assert not summary.failed, summary.text()
    return root


def cross_validate(arch: dict, root: Path, work: Path, name: str, seeds: int, epochs: int | None) -> dict:
    """Leave-one-actor-out with ``seeds`` seeds (0, 1, ...): per model, accuracy and UAR (mean
    over seeds of the mean over folds, the std over seeds and over every fold), and seconds."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    out = work / "runs" / name
    shutil.rmtree(out, ignore_errors=True)          # the architecture is not in config.json: never resumed
    cfg = run_config("teaching", root, preset="improved", protocol="speaker", store=str(work / "store"),
                     seeds=seeds, epochs=epochs)
    t = time.perf_counter()
    with using(arch):
        metrics = train_run(cfg, out, workers=2)
    took = time.perf_counter() - t
    summary = metrics["seeds"]["summary"] if seeds > 1 else {
        m: {k: {**v, "std_folds": v["std"], "std": 0.0} for k, v in s.items()} for m, s in metrics["summary"].items()}
    return {"seconds": took, "models": {m: {k: {x: summary[m][k][x] for x in ("mean", "std", "std_folds")}
                                            for k in ("accuracy", "uar")} for m in summary},
            "majority": metrics["context"]["majority_baseline"]["accuracy"]["mean"]}


def choose(runs: list[dict]) -> dict[str, int]:
    """Each trained model's option: the best UAR, a tie to the simpler (the first)."""
    out = {}
    for m in OPTIONS:
        uar = [r["models"][m]["uar"]["mean"] for r in runs]
        out[m] = max(range(len(runs)), key=lambda k: (round(uar[k], 9), -k))
    return out


def table(result: dict) -> str:
    lines = ["| model | accuracy | UAR |", "|---|---|---|"]
    for m, s in result["models"].items():
        a, u = s["accuracy"], s["uar"]
        lines.append(f"| {TITLES[m]} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} ({100 * a['std_folds']:.2f}) | "
                     f"{100 * u['mean']:.2f} ± {100 * u['std']:.2f} |")
    lines.append(f"| Majority class | {100 * result['majority']:.2f} | 25.00 (chance) |")
    return "\n".join(lines)


def main() -> None:
    from emojax.fileio import atomic_write_json
    from emojax.models import ARCHITECTURES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 clips of 4 s per class, one seed, 20 epochs (a smoke run)")
    ap.add_argument("--work", default=str(ROOT / "artifacts" / "benchmarks" / "architecture"),
                    help="where the teaching sets, their features and the runs go")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    seeds, epochs = (1, 20) if args.quick else (2, None)
    report_seeds = 1 if args.quick else 3
    start = time.perf_counter()
    incumbent = copy.deepcopy(ARCHITECTURES["improved"])
    res: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "quick": args.quick,
                 "protocol": "speaker (leave one actor out, 4 folds)", "options": OPTIONS,
                 "incumbent": incumbent, "choosing_set": {"teaching_seed": CHOOSE_SEED, "seeds": seeds},
                 "reported_set": {"teaching_seed": REPORT_SEED, "seeds": report_seeds}}
    choosing = teaching(work, CHOOSE_SEED, args.quick)
    runs = []
    for k in range(len(UNIMODAL)):
        arch = architecture({m: k for m in OPTIONS})
        r = cross_validate(arch, choosing, work, f"choose-{k}", seeds, epochs)
        runs.append({"options": {m: OPTIONS[m][k] for m in OPTIONS}, **r})
        print(f"candidate {k} on teaching seed {CHOOSE_SEED}: " + ", ".join(
            f"{m} UAR {100 * r['models'][m]['uar']['mean']:.2f}" for m in OPTIONS) + f" ({r['seconds']:.0f} s)",
            flush=True)
    chosen = choose(runs)
    arch = architecture(chosen)
    res["candidates"] = runs
    res["chosen"] = {m: OPTIONS[m][k] for m, k in chosen.items()}
    res["chosen_architecture"] = arch
    res["chosen_is_incumbent"] = arch == incumbent
    print("chosen: " + "; ".join(f"{m} {o}" for m, o in res["chosen"].items())
          + (" (the preset's own)" if arch == incumbent else " (NOT the preset's)"), flush=True)
    reported = teaching(work, REPORT_SEED, args.quick)
    res["report"] = cross_validate(arch, reported, work, "report-chosen", report_seeds, epochs)
    if arch != incumbent:
        res["report_incumbent"] = cross_validate(incumbent, reported, work, "report-incumbent", report_seeds, epochs)
    res["seconds"] = time.perf_counter() - start
    atomic_write_json(ROOT / "artifacts" / "benchmarks" / ("architecture-quick.json" if args.quick else
                                                           "architecture.json"), res)
    print(f"\nchosen on teaching seed {CHOOSE_SEED}, reported on teaching seed {REPORT_SEED} ({report_seeds} seeds), "
          "per cent, mean ± std over seeds (std over every fold):")
    print(table(res["report"]))
    if "report_incumbent" in res:
        print("\nthe preset's own architecture on the same set:")
        print(table(res["report_incumbent"]))
    print(f"\n{res['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
