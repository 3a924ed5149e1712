"""The ``emojax`` command line. Every command calls the same library functions the dashboard does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import EmojaxError

#: dataset kinds the commands accept (emojax.data.LOADERS, listed here to keep the CLI light)
DATASET_KINDS = ["iemocap", "cremad", "ravdess", "folder", "csv", "teaching"]


def _items_from_paths(paths: list[str], dataset: str | None, classes: str | None):
    from .data import VideoItem, load_dataset
    from .video import VIDEO_EXTENSIONS

    if dataset:
        if len(paths) != 1:
            raise EmojaxError(f"--dataset {dataset} takes exactly one root folder, got {len(paths)} paths")
        kwargs = {"classes": classes} if dataset == "iemocap" and classes else {}
        ds = load_dataset(dataset, paths[0], **kwargs)
        return ds.items, ds.skipped, ds.summary()
    items, skipped, seen = [], [], set()

    def add(p: Path, item_id: str) -> None:
        while item_id in seen:
            item_id += "+"
        seen.add(item_id)
        items.append(VideoItem(id=item_id, path=str(p), label=None))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS:
                    add(f, str(f.relative_to(p).with_suffix("")))
        elif p.suffix.lower() == ".csv":
            ds = load_dataset("csv", p)
            items.extend(ds.items)
            skipped.extend(ds.skipped)
        else:
            add(p, p.stem)  # a bad file fails in extraction with a message naming it
    return items, skipped, None


def _extractor_config(args):
    from .features import ExtractorConfig

    return ExtractorConfig(detector=args.detector, tracking=args.tracking, roi=args.roi, detect_every=args.every,
                           policy=args.policy, fps=args.fps)


def cmd_extract(args) -> int:
    from tqdm import tqdm

    from .data.batch import extract_items

    items, skipped, header = _items_from_paths(args.paths, args.dataset, args.classes)
    if header:
        print(header)
    for what, why in skipped:
        print(f"skipped: {what}: {why}", file=sys.stderr)
    if not items:
        raise EmojaxError("nothing to extract: no video among " + ", ".join(args.paths))
    in_process = args.workers == 1 or len(items) == 1
    with tqdm(total=len(items), unit="video", desc="extract", disable=args.quiet) as bar, \
            tqdm(unit="frame", desc="frames", disable=args.quiet or not in_process, leave=False) as frames:
        def on_done(o):
            bar.update(1)
            bar.set_postfix_str(f"{o.status}: {o.item.id}"[:40])
        summary = extract_items(items, args.out, _extractor_config(args), workers=args.workers,
                                on_done=on_done, on_frames=frames.update, accept_partial=args.accept_partial)
    print(summary.text())
    print(f"feature store: {args.out}")
    if args.export == "csv":
        _export_csv([o.stem for o in summary.outcomes if o.stem], args.quiet)
    return 1 if summary.failed else 0


def _export_csv(stems: list[str], quiet: bool) -> None:
    """``<stem>.csv`` beside each record: its per-frame table (the pulse by the default method)."""
    from tqdm import tqdm

    from .features import Features, vitals

    for stem in tqdm(stems, unit="video", desc="export", disable=quiet):
        vitals.write_csv(f"{stem}.csv", vitals.table(Features.load(stem)))
    print(f"exported {len(stems)} per-frame table(s) (CSV) beside the records")


def cmd_heart_rate(args) -> int:
    from tqdm import tqdm

    from .features import extract, vitals
    from .video import probe

    with tqdm(total=probe(args.video).frame_count_claimed or None, unit="frame", desc="extract",
              leave=False, disable=args.json) as bar:
        feats = extract(args.video, _extractor_config(args), progress=bar.update, accept_partial=args.accept_partial)
    v = vitals.vitals(feats, args.method)
    report = {"video": args.video, **vitals.report(feats, args.method, v=v), "face_ratio": round(feats.face_ratio, 4),
              "integrity": feats.source["integrity"]}
    if args.csv:
        vitals.write_csv(args.csv, vitals.table(feats, args.method, v=v))
    if args.json:
        print(json.dumps(report))
    else:
        bpm = report["bpm"]
        print(f"{args.video}: " + (f"{bpm:.1f} bpm (quality {report['quality']:.1f} dB SNR, {args.method})"
                                   if bpm is not None else report["error"]))
        if report.get("hrv", {}).get("rmssd_ms") is not None:
            h = report["hrv"]
            print(f"  {len(h['beats'])} beats; HRV: RMSSD {h['rmssd_ms']:.0f} ms, SDNN {h['sdnn_ms']:.0f} ms")
        if args.csv:
            print(f"  per-frame table: {args.csv}")
    return 0 if report["bpm"] is not None else 1


def _teaching_config(args):
    from .data.teaching import TeachingConfig

    return TeachingConfig(clips_per_class=args.clips_per_class, seconds=args.seconds, size=args.size,
                          noise=args.noise, face_info=args.face_info, pulse_info=args.pulse_info,
                          seed=args.seed)


def cmd_make_teaching_set(args) -> int:
    from tqdm import tqdm

    from .data.teaching import TEACHING_CLASSES, make_teaching_set

    cfg = _teaching_config(args)
    with tqdm(total=cfg.clips_per_class * len(TEACHING_CLASSES), unit="clip", desc="teaching set",
              disable=args.quiet) as bar:
        manifest = make_teaching_set(args.out, cfg, faces=args.faces, workers=args.workers, progress=bar.update)
    print(f"wrote {manifest}")
    return 0


class _TrainBars:
    """tqdm bars for a run's events: extraction, then every fold x model epoch."""

    def __init__(self, quiet: bool = False, label: str = ""):
        self.quiet, self.label, self.bar, self.key = quiet, label, None, None

    def __call__(self, e: dict) -> None:
        from tqdm import tqdm

        if self.quiet or e.get("stage") not in ("extract", "train"):
            return
        key = ("extract",) if e["stage"] == "extract" else ("train", e.get("seed"), e["fold"], e["model"])
        if key != self.key:
            self.close()
            if e["stage"] == "extract":
                desc = "extract"
            else:
                where = "final model" if e["fold"] == "final" else f"fold {e['fold']}/{e['folds']}"
                seed = f"seed {e['seed']} " if e.get("seeds", 1) > 1 else ""
                desc = f"{seed}{where} {e['model']}"
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


def _run_config(args):
    from .training.run import run_config

    return run_config(args.dataset, args.root, preset=args.preset, epochs=args.epochs, seed=args.seed,
                      length=args.length, protocol=args.protocol, folds=args.folds, classes=args.classes,
                      store=args.store, accept_partial=args.accept_partial, seeds=args.seeds, refit=args.refit,
                      speaker_relative=args.speaker_norm)


def _print_metrics(metrics: dict, run) -> None:
    from .training.metrics import context_line, spread_table

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
    for m, ci in metrics["ci"].items():
        lo, hi = ci["accuracy"]
        by = ci.get("resampled", "videos")
        print(f"  {m}: pooled accuracy {100 * metrics['pooled'][m]['accuracy']:.2f} "
              f"(95% bootstrap CI {100 * lo:.1f}-{100 * hi:.1f}, resampling {ci.get('clusters', '')} {by})")
    if "final" in metrics:
        f = metrics["final"]
        print(f"final model: trained on all {f['videos']} videos (epochs "
              + ", ".join(f"{m} {e}" for m, e in f["epochs"].items())
              + f"; late-fusion weight {f['late_fusion_weight']:.2f}); `emojax predict` uses it")


def cmd_train(args) -> int:
    from .training.run import train_run

    bars = _TrainBars(args.quiet)
    try:
        metrics = train_run(_run_config(args), args.out, workers=args.workers,
                            checkpoint_every=args.checkpoint_every, on_progress=bars)
    finally:
        bars.close()
    _print_metrics(metrics, args.out)
    return 0


def cmd_evaluate(args) -> int:
    from .training.run import evaluate_run

    if args.dataset or args.root:
        return _cross(args)
    if args.map:
        raise EmojaxError("--map needs --dataset and --root (it maps another corpus's classes to the run's)")
    metrics = evaluate_run(args.run)
    if args.json:
        print(json.dumps(metrics))
        return 0
    _print_metrics(metrics, args.run)
    best = max(metrics["summary"], key=lambda m: metrics["summary"][m]["uar"]["mean"])
    print(f"\nper class, {best} (pooled over folds):")
    for c in metrics["classes"]:
        r = metrics["pooled"][best]["per_class"][c]
        print(f"  {c:>12}: precision {r['precision']:.2f} recall {r['recall']:.2f} f1 {r['f1-score']:.2f} "
              f"(n={int(r['support'])})")
    return 0


def _cross(args) -> int:
    from tqdm import tqdm

    from .training.cross import cross_evaluate, parse_map

    if not (args.dataset and args.root):
        raise EmojaxError("testing on another corpus needs both --dataset KIND and --root PATH")
    with tqdm(unit="video", desc="extract", leave=False, disable=args.json) as bar:
        def tick(e):
            bar.total = e["total"]
            bar.set_description(e["stage"])
            bar.n = e["done"]
            bar.refresh()

        metrics = cross_evaluate(args.run, args.dataset, args.root, mapping=parse_map(args.map), classes=args.classes,
                                 store=args.store, name=args.name, workers=args.workers,
                                 accept_partial=args.accept_partial, on_progress=tick)
    if args.json:
        print(json.dumps(metrics))
        return 0
    from .training.metrics import context_line

    print(f"{args.run} on {args.dataset} {args.root}: {metrics['n_videos']} videos; {metrics['models_used']}; "
          f"{metrics['scoring']}")
    print("class map: " + ", ".join(f"{a} -> {b}" for a, b in metrics["class_map"].items()))
    if metrics["left_out"]["classes"]:
        print("left out (no shared class): " + ", ".join(f"{c} ({n})" for c, n in metrics["left_out"]["classes"].items()))
    print(metrics["table1"])
    print(context_line(metrics["context"]))
    print(f"written: {Path(args.run) / 'cross' / metrics['name'] / 'metrics.json'}")
    return 0


def cmd_predict(args) -> int:
    from tqdm import tqdm

    from .inference import predict_videos

    fold = args.fold
    if fold is not None and fold != "final":
        try:
            fold = int(fold)
        except ValueError:
            raise EmojaxError(f"--fold takes a fold number or 'final', not {args.fold!r}") from None
    with tqdm(unit="frame", desc="extract", leave=False, disable=args.json) as bar:
        results = predict_videos(args.videos, args.run, fold=fold, same_speaker=args.same_speaker, start=args.start,
                                 end=args.end, progress=bar.update, accept_partial=args.accept_partial)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    for result in results:
        print(f"{result['video']}: {result['label']} (early fusion); {result['frames']} frames, "
              f"face in {100 * result['face_ratio']:.0f} %; {result['models_used']}; {result['normalisation']}")
        for warning in result["warnings"]:
            print(f"  warning: {warning}")
        for m, r in result["models"].items():
            probs = ", ".join(f"{c} {p:.2f}" for c, p in r["proba"].items())
            print(f"  {m:>12}: {r['label']:>8}  ({probs})")
    return 0


def cmd_demo(args) -> int:
    """Teaching set (built if absent) -> features -> both presets' four models -> metrics."""
    from tqdm import tqdm

    from .data.teaching import TEACHING_CLASSES, TeachingConfig, make_teaching_set
    from .training.run import finished, run_config, train_run

    root = Path(args.root)
    if not (root / "manifest.csv").is_file():
        cfg = TeachingConfig()
        with tqdm(total=cfg.clips_per_class * len(TEACHING_CLASSES), unit="clip", desc="teaching set") as bar:
            make_teaching_set(root, cfg, workers=args.workers, progress=bar.update)
    for preset in ("paper", "improved"):
        out = Path(args.runs) / f"demo-{preset}"
        cfg = run_config("teaching", root, preset=preset, protocol="speaker", store=args.store)
        metrics = finished(out, cfg)
        if metrics is None:
            bars = _TrainBars(label=f"{preset}: ")
            try:
                metrics = train_run(cfg, out, workers=args.workers, on_progress=bars)
            finally:
                bars.close()
        print(f"\n{preset} preset")
        _print_metrics(metrics, out)
        if not (out / "importance.json").is_file():
            clip = sorted(root.glob("*.mp4"))[0]
            _explain(out, ("modality", "channel", "region", "time"), True, clip, 5, 0)
        print()
        from .explain.run import read_importance

        _print_importance(read_importance(out))
    return 0


def _print_importance(out: dict) -> None:
    paper = out["paper_table2"]
    print("modality contributions (Table 2), per cent of the positive permutation importance:")
    print(f"  {'model':>14}  {'rPPG':>6}  {'visual':>6}")
    for m, t in out["table2"].items():
        cells = "  ".join("     -" if t.get(k) is None else f"{t[k]:6.2f}" for k in ("rppg", "visual"))
        print(f"  {m:>14}  {cells}")
    print(f"  {'paper (IEMOCAP)':>14}  {paper['rppg']:6.2f}  {paper['face']:6.2f}")
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
            share = dict(zip(e["groupings"]["modality"]["names"], e["groupings"]["modality"]["share_pct"]))
            print(f"  {m}: {e['label']} ({100 * e['proba'][e['label']]:.0f} %); modality shares "
                  + ", ".join(f"{k} {'-' if p is None else f'{p:.0f} %'}" for k, p in share.items())
                  + f"; integrated gradients rPPG {ig['modality']['rppg']:+.3f}, visual {ig['modality']['visual']:+.3f}"
                  f" (completeness error {100 * ig['completeness_error']:.2f} %)")


def _explain(run, groupings, per_class: bool, video, repeats: int, seed: int, quiet: bool = False) -> dict:
    from tqdm import tqdm

    from .explain.run import explain_run

    with tqdm(unit="step", desc="explain", leave=False, disable=quiet) as bar:
        def tick(e):
            bar.total = e["total"]
            bar.set_postfix_str(f"{e['model']} fold {e['fold']} {e['grouping']}")
            bar.update(1)

        return explain_run(run, groupings=groupings, per_class=per_class, video=video, n_repeats=repeats,
                           random_state=seed, progress=tick)


def cmd_explain(args) -> int:
    groupings = [g.strip() for g in args.groups.split(",") if g.strip()]
    try:
        out = _explain(args.run, groupings, args.per_class, args.video, args.repeats, args.seed, args.json)
    except ValueError as e:
        raise EmojaxError(str(e)) from None
    if args.json:
        print(json.dumps(out))
        return 0
    _print_importance(out)
    print(f"\nwritten: {Path(args.run) / 'importance.json'}")
    return 0


def _add_extractor_options(p) -> None:
    p.add_argument("--detector", choices=["haar", "hog"], default="haar", help="face detector (default: haar)")
    p.add_argument("--roi", choices=["box", "skin", "frame"], default="skin",
                   help="colour ROI: face box, skin (forehead+cheeks), or the whole frame (default: skin)")
    p.add_argument("--tracking", choices=["track", "detect"], default="track",
                   help="follow the landmarks while the detector confirms the face every K frames (default), "
                        "or detect on every frame as the paper does")
    p.add_argument("--every", type=int, default=10, metavar="K", help="the detector re-checks a tracked face every K frames")
    p.add_argument("--policy", choices=["largest", "left", "right"], default="largest",
                   help="which face when there are several")
    p.add_argument("--fps", type=float, default=None, help="resample to this frame rate")
    _add_partial_option(p)


def _add_partial_option(p) -> None:
    p.add_argument("--accept-partial", action="store_true",
                   help="keep a video that is not whole (fewer frames than its container claims, or damaged "
                        "data), marked partial; by default it fails, naming the file and what is missing")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="emojax", description="Interpretable multimodal emotion recognition from face video.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="extract rPPG + landmark features into a feature store")
    p.add_argument("paths", nargs="+", help="video files, folders, a CSV manifest, or a dataset root with --dataset")
    p.add_argument("--out", required=True, help="feature store folder")
    p.add_argument("--dataset", choices=DATASET_KINDS,
                   help="read PATH as a dataset root of this kind")
    p.add_argument("--classes", choices=["paper", "four"], help="IEMOCAP class set (default: paper)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--export", choices=["csv"], help="also write each video's per-frame table (time, raw R/G/B, "
                   "pulse, heart rate, quality, face found, bridged, beat) beside its record")
    _add_extractor_options(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("heart-rate", help="heart rate of a face video")
    p.add_argument("video")
    p.add_argument("--method", choices=["pbv", "pos", "chrom", "green"], default="pbv",
                   help="pulse method (default: pbv over the skin patches)")
    p.add_argument("--json", action="store_true", help="print JSON: bpm, quality, series, beats and HRV")
    p.add_argument("--csv", metavar="FILE", help="also write a per-frame table: time, raw R/G/B, pulse, heart rate, "
                   "quality, face found, bridged, beat")
    _add_extractor_options(p)
    p.set_defaults(func=cmd_heart_rate)

    p = sub.add_parser("make-teaching-set", help="write the teaching dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--clips-per-class", type=int, default=16)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--noise", type=float, default=2.0)
    p.add_argument("--face-info", type=float, default=1.0, help="0..1: how much the face says (valence)")
    p.add_argument("--pulse-info", type=float, default=1.0, help="0..1: how much the pulse says (arousal)")
    p.add_argument("--faces", nargs="*", help="face images or videos to animate (default: astronaut)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_make_teaching_set)

    p = sub.add_parser("train", help="train and test the four models on a dataset, fold by fold")
    p.add_argument("--dataset", required=True, choices=DATASET_KINDS)
    p.add_argument("--root", required=True, help="dataset root folder (or manifest for csv)")
    p.add_argument("--preset", choices=["paper", "improved"], default="improved")
    p.add_argument("--protocol", choices=["holdout", "kfold", "loso", "speaker"], default="kfold",
                   help="holdout, (speaker-grouped) k-fold, leave-one-session-out, leave-one-speaker-out")
    p.add_argument("--folds", type=int, default=5, help="k of kfold (default 5)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--length", type=int, default=None, help="frames per video (improved: 150; paper: the longest)")
    p.add_argument("--classes", choices=["paper", "four"], help="IEMOCAP class set (default: paper)")
    p.add_argument("--seed", type=int, default=None, help="the first seed (default: the preset's, 0)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="run the protocol with N seeds (seed, seed+1, ...) and report mean ± std over seeds; "
                        "more seeds can be added to a finished run")
    p.add_argument("--refit", action="store_true",
                   help="after cross-validation, train the four models once more on every video (epochs and "
                        "late-fusion weight as cross-validation chose): the model predict then uses")
    p.add_argument("--speaker-norm", action="store_true",
                   help="improved preset: landmarks relative to each speaker's mean shape over their videos on "
                        "the same side of the split (needs speakers; predict then needs --same-speaker)")
    p.add_argument("--store", default="artifacts/features", help="feature store")
    p.add_argument("--out", required=True, help="run folder (e.g. artifacts/runs/<name>); an unfinished run resumes")
    p.add_argument("--workers", type=int, default=None, help="extraction processes (default: all cores)")
    _add_partial_option(p)
    p.add_argument("--checkpoint-every", type=float, default=30.0, metavar="SECONDS",
                   help="save a training model's state this often, to resume after an interruption (default 30)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a finished run, recomputed from its predictions; or, with "
                       "--dataset and --root, its models tested on another corpus")
    p.add_argument("run")
    p.add_argument("--dataset", choices=DATASET_KINDS, help="test on another corpus of this kind (with --root)")
    p.add_argument("--root", help="that corpus's root folder (or manifest for csv)")
    p.add_argument("--map", metavar="SRC=DST,...", help="class map from the corpus's classes to the run's, over "
                   "the default (shared codes; IEMOCAP exc -> hap, RAVDESS cal -> neu when the run lacks them); "
                   "SRC= leaves a class out")
    p.add_argument("--classes", choices=["paper", "four"], help="IEMOCAP class set of the other corpus")
    p.add_argument("--name", help="name of the result folder RUN/cross/NAME (default: KIND-<root folder name>)")
    p.add_argument("--store", default=None, help="feature store for the other corpus (default: the run's)")
    p.add_argument("--workers", type=int, default=None, help="extraction processes (default: all cores)")
    _add_partial_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="each model's class probabilities for one or more videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--run", required=True, help="a finished run folder")
    p.add_argument("--fold", default=None, metavar="K",
                   help="predict with fold K's models (1-based; a held-out video then gets the probabilities in "
                        "the run's predictions.npz) or 'final'; default: the final model if the run has one, "
                        "else the mean of the folds' models")
    p.add_argument("--same-speaker", action="store_true",
                   help="the videos are one speaker's: a speaker-relative run takes their landmarks relative to "
                        "their mean shape, as it did for each test speaker")
    p.add_argument("--start", type=float, default=None, help="seconds")
    p.add_argument("--end", type=float, default=None, help="seconds")
    _add_partial_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="which modality, channel, face region and moment each fused model relies on")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--groups", default="modality,region,channel,time",
                   help="comma-separated groupings: modality, region, channel, time or time:N (default: all)")
    p.add_argument("--per-class", action="store_true", help="also the drop in each class's recall")
    p.add_argument("--video", help="also explain this video (its own importances and integrated gradients)")
    p.add_argument("--repeats", type=int, default=5, help="permutations per group (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("demo", help="teaching set -> features -> both presets trained -> metrics -> explanations "
                       "(what `make run` does)")
    p.add_argument("--root", default="artifacts/teaching")
    p.add_argument("--store", default="artifacts/features")
    p.add_argument("--runs", default="artifacts/runs")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_demo)
    return ap


#: commands that run JAX models (they keep compiled programs in the persistent cache)
JAX_COMMANDS = ("train", "evaluate", "predict", "explain", "demo")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in JAX_COMMANDS:
        from .jaxcache import enable_compilation_cache

        enable_compilation_cache()
    try:
        return args.func(args)
    except EmojaxError as e:
        print(f"emojax: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:                      # a disk that filled up or went away mid-way: one line
        from .fileio import disk_problem

        print(f"emojax: error: {e.filename or 'a file'}: {disk_problem(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emojax: interrupted; what was stored is kept, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
