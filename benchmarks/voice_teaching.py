"""The teaching set with three modalities: the improved preset trained on the default teaching set
(what ``emojax demo`` writes: 64 clips of 8 s, 4 actors, ``--voice-info 0.5``) reading the pulse,
the landmarks and the voice, leave one actor out, 3 seeds. Prints Table 1 (each model alone, late
and early fusion: accuracy and UAR, mean ± std over the seeds, each the mean over folds, and the
std over every seed's folds) and Table 2 (each fused model's modality shares, permutation
importance on each fold's held-out clips of the first seed, pooled over folds) as Markdown for the
README; writes artifacts/benchmarks/voice_teaching.json.

    .venv/bin/python benchmarks/voice_teaching.py [--root artifacts/teaching] [--workers N] [--quick]

The teaching set in ``--root`` is written when absent (and refused when its config is not the
default one); its features go to ``ROOT/store`` and the run to ``artifacts/runs/voice-teaching``
(``--quick``: 4 clips a class of 4 s, 1 seed, 5 epochs, under a temporary folder: a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODALITIES = ("rppg", "face", "voice")
SEEDS, REPEATS = 3, 5
LABELS = {"rppg": "rPPG", "face": "Facial", "voice": "Voice", "late_fusion": "Late fusion",
          "early_fusion": "Early fusion"}


def teaching_set(root: Path, cfg, workers: int | None, *, flag: str = "--root") -> Path:
    """``root`` holding the teaching set of ``cfg`` with its features in ``root/store`` (a set
    already there made otherwise is refused, naming the benchmark's option ``flag``)."""
    from emojax.data import load_teaching
    from emojax.data.batch import extract_items
    from emojax.data.teaching import make_teaching_set

    if (root / "manifest.csv").is_file():
        if not (root / "config.json").is_file():
            raise SystemExit(f"{root}: a teaching set without its config.json; give another {flag}")
        have = json.loads((root / "config.json").read_text())
        if have != asdict(cfg):
            raise SystemExit(f"{root}: a teaching set made with {have}, not {asdict(cfg)}; give another {flag}")
    else:
        t = time.perf_counter()
        make_teaching_set(root, cfg, workers=workers)
        print(f"{root.name} written in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    summary = extract_items(load_teaching(root).items, root / "store", workers=workers)
    if summary.failed:
        raise SystemExit(summary.text())
    print(f"features in {time.perf_counter() - t:.0f} s", flush=True)
    return root


def table1(metrics: dict) -> list[str]:
    s = metrics["seeds"]["summary"] if "seeds" in metrics else {
        m: {k: {**v, "std": 0.0, "std_folds": v.get("std", 0.0)} for k, v in d.items()}
        for m, d in metrics["summary"].items()}
    rows = ["| model | accuracy | UAR |", "|---|---|---|"]
    for m in (*MODALITIES, "late_fusion", "early_fusion"):
        if m not in s:
            continue
        a, u = s[m]["accuracy"], s[m]["uar"]
        rows.append(f"| {LABELS[m]} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} ({100 * a['std_folds']:.2f}) | "
                    f"{100 * u['mean']:.2f} ± {100 * u['std']:.2f} |")
    rows.append("| Majority class | 25.00 | 25.00 (chance) |")
    return rows


def table2(imp: dict) -> list[str]:
    rows = ["| model | accuracy (first seed) | " + " | ".join(LABELS[m] for m in MODALITIES) + " |",
            "|---|---|" + "---|" * len(MODALITIES)]
    for m, e in imp["models"].items():
        g = e["groupings"]["modality"]
        by = dict(zip(g["names"], zip(g["share_pct"], g["mean"], g["fold_std"])))
        names = {"rppg": "rppg", "face": "visual", "voice": "voice"}
        cells = []
        for mod in MODALITIES:
            share, mean, fstd = by[names[mod]]
            cells.append(("—" if share is None else f"{share:.1f} %") + f" ({100 * mean:+.1f} ± {100 * fstd:.1f} pts)")
        rows.append(f"| {LABELS[m]} | {100 * e['baseline']['accuracy']:.1f} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    from emojax.data.teaching import TeachingConfig
    from emojax.explain.importance import explain_run
    from emojax.fileio import atomic_write_json
    from emojax.training.config import run_config
    from emojax.training.run import finished, train_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT / "artifacts" / "teaching"), help="the teaching set (written if absent)")
    ap.add_argument("--runs", default=str(ROOT / "artifacts" / "runs"), help="folder of the run")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="a smoke run (small set, 1 seed, 5 epochs)")
    args = ap.parse_args()
    import jax

    cfg = TeachingConfig(clips_per_class=4, seconds=4.0) if args.quick else TeachingConfig()
    tmp = tempfile.TemporaryDirectory() if args.quick else None
    root = Path(tmp.name) / "teaching" if tmp else Path(args.root)
    runs = Path(tmp.name) if tmp else Path(args.runs)
    teaching_set(root, cfg, args.workers)
    run = runs / "voice-teaching"
    rcfg = run_config("teaching", root, preset="improved", protocol="speaker", store=str(root / "store"),
                      modalities=MODALITIES, seeds=1 if args.quick else SEEDS, epochs=5 if args.quick else None)
    t = time.perf_counter()
    metrics = finished(run, rcfg) or train_run(rcfg, run, workers=args.workers)
    train_s = time.perf_counter() - t
    print(f"trained in {train_s:.0f} s", flush=True)
    t = time.perf_counter()
    imp = explain_run(run, groupings=("modality", "region"), n_repeats=REPEATS)
    explain_s = time.perf_counter() - t
    region = {m: dict(zip(e["groupings"]["region"]["names"], e["groupings"]["region"]["mean"]))
              for m, e in imp["models"].items()}
    out = {"what": "improved preset, rppg+face+voice, speaker protocol, on the default teaching set",
           "teaching": asdict(cfg), "run": str(run), "seeds": rcfg.seeds, "repeats": REPEATS,
           "table1": metrics.get("seeds", {}).get("summary", metrics["summary"]),
           "table2": imp["table2"], "table2_negative": imp["table2_negative"],
           "modality_importance": {m: {"names": e["groupings"]["modality"]["names"], "mean": e["groupings"]["modality"]["mean"],
                                       "fold_std": e["groupings"]["modality"]["fold_std"]}
                                   for m, e in imp["models"].items()},
           "region_importance": region, "train_s": train_s, "explain_s": explain_s,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__}}
    if not args.quick:
        atomic_write_json(ROOT / "artifacts" / "benchmarks" / "voice_teaching.json", out)
    print("\nTable 1: per cent, mean ± std over seeds (std over every seed's folds)\n")
    print("\n".join(table1(metrics)))
    print("\nTable 2: modality shares (importance: drop in accuracy, ± std over folds), first seed\n")
    print("\n".join(table2(imp)))
    print("\nregion importance (drop in accuracy, points):")
    for m, r in region.items():
        print(f"  {m}: " + ", ".join(f"{k} {100 * v:+.1f}" for k, v in r.items()))
    print(f"\ntrain {train_s / 60:.1f} min, explain {explain_s / 60:.1f} min")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
