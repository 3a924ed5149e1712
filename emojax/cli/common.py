"""What the commands share: argument types that refuse bad values in one line, the extractor
options, progress bars for a run, and how metrics and explanations are printed."""

from __future__ import annotations

import argparse
import math

from ..errors import EmojaxError
from ..fileio import one_line
# the options `train` shares with the other commands live beside `train`'s own, in the library (the
# dashboard's Train page checks its settings with them)
from ..training.options import (add_engine_options, add_partial_option, add_stream_option,  # noqa: F401
                                add_track_option, class_sets, dataset_kinds, engine_of, finite_number,
                                positive_int, seconds)


def share(text: str) -> float:
    """An argument that must be a number from 0 to 1."""
    if not 0.0 <= (value := finite_number(text, "a number")) <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def positive(text: str) -> float:
    """An argument that must be a finite number above 0."""
    if (value := finite_number(text, "a number")) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0")
    return value


def box(text: str) -> tuple[float, float, float, float]:
    """``X0,Y0,X1,Y1`` in pixels."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] <= values[0] or values[3] <= values[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a box X0,Y0,X1,Y1 (pixels, X1 > X0, Y1 > Y0)")
    return values


def add_extractor_options(p) -> None:
    from ..features.face import DETECTORS, FACE_POLICIES
    from ..features.record import ROIS, ExtractorConfig
    from ..features.tracker import TRACKING

    default = ExtractorConfig()
    p.add_argument("--detector", choices=list(DETECTORS), default=default.detector,
                   help=f"face detector: OpenCV's Haar cascade (the paper's) or dlib's HOG (default: {default.detector})")
    p.add_argument("--roi", choices=list(ROIS), default=default.roi,
                   help=f"colour ROI: face box, skin (forehead+cheeks), or the whole frame (default: {default.roi})")
    p.add_argument("--tracking", choices=list(TRACKING), default=default.tracking,
                   help="follow the landmarks while the detector confirms the face every K frames (default), "
                        "or detect on every frame as the paper does")
    p.add_argument("--every", type=positive_int, default=default.detect_every, metavar="K",
                   help=f"the detector re-checks a tracked face every K frames (default {default.detect_every})")
    p.add_argument("--policy", choices=list(FACE_POLICIES), default=default.policy,
                   help="which face when there are several: the largest, the leftmost, the rightmost, or the one "
                        f"nearest the box --near (default: {default.policy})")
    p.add_argument("--near", type=box, default=None, metavar="X0,Y0,X1,Y1",
                   help="with --policy nearest: the box (pixels) the face to follow is nearest to")
    p.add_argument("--fps", type=positive, default=None, help="keep frames at about this rate (default: every frame)")
    add_stream_option(p)
    add_partial_option(p)


def tracked(args, run_dir):
    """The MLflow run of ``run_dir`` when the command was given ``--track``, else None."""
    if getattr(args, "track", None) is None:
        return None
    import sys

    from ..mlflow_tracking import MlflowRun

    run = MlflowRun.open(run_dir, args.track)
    print(f"emojax: logging to MLflow at {run.uri}", file=sys.stderr)
    return run


def report_writer():
    """The function that writes a run's report (``emojax.report.write_report(run_dir, out)``),
    logged with a tracked run, or None while there is none."""
    try:
        from ..report import write_report
    except ImportError:
        return None
    return write_report


def extractor_config(args):
    from ..features import ExtractorConfig

    if (args.policy == "nearest") != (args.near is not None):
        raise EmojaxError("--policy nearest and --near X0,Y0,X1,Y1 go together")
    return ExtractorConfig(detector=args.detector, tracking=args.tracking, roi=args.roi, detect_every=args.every,
                           policy=args.policy, near=args.near, fps=args.fps, stream=args.stream)


class TrainBars:
    """tqdm bars for a run's events: extraction, then every fold x model epoch."""

    def __init__(self, quiet: bool = False, label: str = ""):
        self.quiet, self.label, self.bar, self.key = quiet, label, None, None

    def __call__(self, e: dict) -> None:
        from tqdm import tqdm

        from ..training.progress import training_step

        if e.get("stage") == "note":             # said even when quiet: it is no progress bar
            tqdm.write(e["message"])
            return
        if self.quiet or e.get("stage") not in ("extract", "train"):
            return
        key = ("extract",) if e["stage"] == "extract" else ("train", e.get("seed"), e["fold"], e["model"])
        if key != self.key:
            self.close()
            desc = "extract" if e["stage"] == "extract" else training_step(e)
            total = e["total"] if e["stage"] == "extract" else e["epochs"]
            unit = "video" if e["stage"] == "extract" else "epoch"
            self.bar, self.key = tqdm(total=total, desc=f"{self.label}{desc}", unit=unit, leave=False), key
        if e["stage"] == "extract":
            self.bar.n = e["done"]
            self.bar.refresh()
        else:
            r = e["record"]
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss {r['train_loss']:.3f}" + (f" val uar {r['val_uar']:.2f}" if "val_uar" in r else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def print_metrics(metrics: dict, run) -> None:
    from ..training.summary import context_line, final_line, interval_line, spread_table

    seeds = metrics.get("seeds", {}).get("values", [])
    spread = f"mean ± std over {len(seeds)} seeds (each the mean over folds)" if len(seeds) > 1 else "mean ± std over folds"
    print(f"{run}: {metrics['n_videos']} videos tested over {len(metrics['folds'])} fold(s); {spread}, per cent")
    print(metrics["table1"])
    if "context" in metrics:
        print(context_line(metrics["context"]))
    table = spread_table(metrics)
    if table:
        print("\nspread over seeds and over every fold of every seed:")
        print(table)
    if len(seeds) > 1:
        print(f"first seed ({seeds[0]}), pooled over its folds:")
    for m in metrics["ci"]:
        print(f"  {m}: {interval_line(metrics, m)}")
    warning = metrics.get("bootstrap", {}).get("warning")
    if warning:
        print(f"  warning: {warning}")
    print_videos(metrics.get("videos", {}))
    if "final" in metrics:
        print(final_line(metrics["final"]))
    print_assumptions(run)


def print_assumptions(run) -> None:
    """For a run of the paper preset: what the paper leaves open and the run assumed (from its
    ``model.json``, where the whole table of stated and open choices is)."""
    from ..training.runfiles import read_config, read_model_info

    if read_config(run).preset != "paper":
        return
    paper = read_model_info(run).get("paper")
    if not paper:
        return
    print(f"\nthe paper preset: {len(paper['not_stated'])} choices the paper leaves open, assumed here "
          "(all choices, stated and open: model.json 'paper', README 'What the paper states'):")
    for c in paper["choices"]:
        if c["paper"] == "not stated":
            print(f"  - {c['topic']}: {c['emojax']}")


#: videos named one by one in a summary; the rest are counted
NAMED = 10


def print_videos(videos: dict) -> None:
    """Which videos a run left out, and which it read with one modality absent, by name."""
    for key, what in (("left_out", "left out"), ("single_modality", "one modality absent")):
        rows = videos.get(key, [])
        for r in rows[:NAMED]:
            name = r.get("what", r.get("id"))
            print(one_line(f"  {what}: {name}: {r['why']}"))
        if len(rows) > NAMED:
            print(f"  {what}: ... and {len(rows) - NAMED} more (listed in metrics.json)")


def print_importance(out: dict) -> None:
    from ..explain.groups import GROUP_TITLES, MODALITY_GROUP
    from ..explain.importance import modality_shares_of

    paper = out["paper_table2"]
    paper = {MODALITY_GROUP[m]: v for m, v in paper.items() if m in MODALITY_GROUP}   # the paper's: rppg, face
    # the run's modalities' columns (MODALITIES order): every one a model of the run has a share for
    cols = [g for g in MODALITY_GROUP.values() if any(g in t for t in out["table2"].values())]

    def row(name: str, t: dict) -> str:
        return f"  {name:>14}  " + "  ".join(f"{'-' if t.get(k) is None else f'{t[k]:.2f}':>6}" for k in cols)

    print("modality contributions (Table 2), per cent of the positive permutation importance:")
    print(f"  {'model':>14}  " + "  ".join(f"{GROUP_TITLES.get(k, k):>6}" for k in cols))
    for m, t in out["table2"].items():
        print(row(m, t))
    print(row("paper (IEMOCAP)", paper))
    for m, neg in out.get("table2_negative", {}).items():
        if neg:
            print(f"  {m}: negative importance (permuting it raised accuracy; no share): "
                  + ", ".join(f"{k} {100 * v:+.2f} points" for k, v in neg.items()))
    if "table2_rule" in out:
        print(f"  (shares: {out['table2_rule']})")
    for m, e in out["models"].items():
        print(f"\n{m}: accuracy {100 * e['baseline']['accuracy']:.1f} %; the largest drops in accuracy (points):")
        for g, d in e["groupings"].items():
            top = sorted(range(len(d["mean"])), key=lambda i: d["mean"][i], reverse=True)[:5]
            print(f"  {g:>8}: " + ", ".join(f"{d['names'][i]} {100 * d['mean'][i]:.1f}" for i in top))
        for g, d in e.get("per_class", {}).items():
            if g == "modality":
                print("  per class, drop in recall (points): " + "; ".join(
                    f"{c}: " + " / ".join(f"{n} {'-' if v[k] is None else f'{100 * v[k]:.0f}'}"
                                         for n, v in zip(d["names"], d["mean"]))
                    for k, c in enumerate(out["classes"])))
    v = out.get("video")
    if v:
        print(f"\n{v['path']}:")
        for m, e in v["models"].items():
            ig = e["integrated_gradients"]
            share = modality_shares_of(e)
            print(f"  {m}: {e['label']} ({100 * e['proba'][e['label']]:.0f} %); modality shares "
                  + ", ".join(f"{k} {'-' if p is None else f'{p:.0f} %'}" for k, p in share.items())
                  + "; integrated gradients " + ", ".join(f"{GROUP_TITLES.get(k, k)} {a:+.3f}"
                                                          for k, a in ig["modality"].items())
                  + f" (completeness error {100 * ig['completeness_error']:.2f} %)")
