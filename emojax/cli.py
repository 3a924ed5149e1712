"""The ``emojax`` command line. Every command calls the same library functions the dashboard does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import EmojaxError


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

    return ExtractorConfig(detector=args.detector, roi=args.roi, detect_every=args.every,
                           policy=args.policy, fps=args.fps)


def cmd_extract(args) -> int:
    from tqdm import tqdm

    from .features.batch import extract_items

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
                                on_done=on_done, on_frames=frames.update)
    print(summary.text())
    print(f"feature store: {args.out}")
    return 1 if summary.failed else 0


def cmd_heart_rate(args) -> int:
    from tqdm import tqdm

    from .features import extract, rppg
    from .video import probe

    with tqdm(total=probe(args.video).frame_count_claimed or None, unit="frame", desc="extract",
              leave=False, disable=args.json) as bar:
        feats = extract(args.video, _extractor_config(args), progress=bar.update)
    report = {"video": args.video, **rppg.heart_rate_report(feats.rgb, feats.fps, args.method),
              "frames": len(feats), "face_ratio": round(feats.face_ratio, 4)}
    if args.json:
        print(json.dumps(report))
    else:
        bpm = report["bpm"]
        print(f"{args.video}: " + (f"{bpm:.1f} bpm (quality {report['quality']:.1f} dB SNR, {args.method})"
                                   if bpm is not None else report["error"]))
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
        manifest = make_teaching_set(args.out, cfg, faces=args.faces, progress=bar.update)
    print(f"wrote {manifest}")
    return 0


def cmd_demo(args) -> int:
    """Build the teaching set if absent, extract it, print a summary."""
    from tqdm import tqdm

    from .data import load_teaching
    from .data.teaching import TEACHING_CLASSES, TeachingConfig, make_teaching_set
    from .features import ExtractorConfig, rppg
    from .features.batch import extract_items
    from .features.record import Features

    root = Path(args.root)
    if not (root / "manifest.csv").is_file():
        cfg = TeachingConfig()
        with tqdm(total=cfg.clips_per_class * len(TEACHING_CLASSES), unit="clip", desc="teaching set") as bar:
            make_teaching_set(root, cfg, progress=bar.update)
    ds = load_teaching(root)
    print(ds.summary())
    store = Path(args.store)
    with tqdm(total=len(ds.items), unit="video", desc="extract") as bar:
        summary = extract_items(ds.items, store, ExtractorConfig(), workers=args.workers,
                                on_done=lambda o: bar.update(1))
    print(summary.text())
    hits = 0
    for o in summary.outcomes:
        if o.stem:
            f = Features.load(o.stem)
            bpm, _ = rppg.heart_rate(rppg.pulse(f.rgb, f.fps, "pos"), f.fps)
            truth = json.loads(Path(o.item.path).with_suffix(".json").read_text())["hr_bpm"]
            hits += abs(bpm - truth) <= 3
    print(f"heart rate recovered within 3 bpm on {hits}/{len(summary.outcomes)} clips")
    return 1 if summary.failed else 0


def _add_extractor_options(p) -> None:
    p.add_argument("--detector", choices=["haar", "hog"], default="haar", help="face detector (default: haar)")
    p.add_argument("--roi", choices=["box", "skin", "frame"], default="skin",
                   help="colour ROI: face box, skin (forehead+cheeks), or the whole frame (default: skin)")
    p.add_argument("--every", type=int, default=10, metavar="K", help="run the detector every K frames")
    p.add_argument("--policy", choices=["largest", "left", "right"], default="largest",
                   help="which face when there are several")
    p.add_argument("--fps", type=float, default=None, help="resample to this frame rate")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="emojax", description="Interpretable multimodal emotion recognition from face video.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="extract rPPG + landmark features into a feature store")
    p.add_argument("paths", nargs="+", help="video files, folders, a CSV manifest, or a dataset root with --dataset")
    p.add_argument("--out", required=True, help="feature store folder")
    p.add_argument("--dataset", choices=["iemocap", "cremad", "ravdess", "folder", "csv", "teaching"],
                   help="read PATH as a dataset root of this kind")
    p.add_argument("--classes", choices=["paper", "four"], help="IEMOCAP class set (default: paper)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_extractor_options(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("heart-rate", help="heart rate of a face video")
    p.add_argument("video")
    p.add_argument("--method", choices=["green", "chrom", "pos"], default="pos")
    p.add_argument("--json", action="store_true", help="print JSON: bpm, quality, series")
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
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_make_teaching_set)

    p = sub.add_parser("demo", help="teaching set -> features -> summary (what `make run` does)")
    p.add_argument("--root", default="artifacts/teaching")
    p.add_argument("--store", default="artifacts/features")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EmojaxError as e:
        print(f"emojax: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emojax: interrupted; what was stored is kept, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
