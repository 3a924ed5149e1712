"""``emojax evaluate``: a finished run's metrics again, or its models on another corpus."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EmojaxError
from .common import (add_engine_options, add_partial_option, add_stream_option, add_track_option, class_sets,
                     dataset_kinds, engine_of, positive_int, print_metrics, print_videos, report_writer, tracked)


def run(args) -> int:
    from ..training.scoring import evaluate_run

    if args.dataset or args.root:
        return _cross(args)
    if args.map:
        raise EmojaxError("--map needs --dataset and --root (it maps another corpus's classes to the run's)")
    if args.stream is not None:
        raise EmojaxError("--stream chooses the video stream of another corpus's files: it goes with --dataset and --root")
    mlflow_run = tracked(args, args.run)
    metrics = evaluate_run(args.run)
    if mlflow_run is not None:
        mlflow_run.sync(metrics=metrics, report=report_writer())
        mlflow_run.close()
    if args.json:
        print(json.dumps(metrics))
        return 0
    print_metrics(metrics, args.run)
    best = max(metrics["summary"], key=lambda m: metrics["summary"][m]["uar"]["mean"])
    print(f"\nper class, {best} (pooled over folds):")
    for c in metrics["classes"]:
        r = metrics["pooled"][best]["per_class"][c]
        print(f"  {c:>12}: precision {r['precision']:.2f} recall {r['recall']:.2f} f1 {r['f1-score']:.2f} "
              f"(n={int(r['support'])})")
    return 0


def _cross(args) -> int:
    from tqdm import tqdm

    from ..crosscorpus import cross_evaluate, parse_map

    if not (args.dataset and args.root):
        raise EmojaxError("testing on another corpus needs both --dataset KIND and --root PATH")
    mlflow_run = tracked(args, args.run)
    with tqdm(unit="video", desc="extract", leave=False, disable=args.json) as bar:
        def tick(e):
            bar.total = e["total"]
            bar.set_description(e["stage"])
            bar.n = e["done"]
            bar.refresh()

        metrics = cross_evaluate(args.run, args.dataset, args.root, mapping=parse_map(args.map), classes=args.classes,
                                 store=args.store, name=args.name, workers=args.workers, engine=engine_of(args),
                                 accept_partial=args.accept_partial, on_progress=tick, stream=args.stream)
    if mlflow_run is not None:
        mlflow_run.sync(report=report_writer())
        mlflow_run.close()
    if args.json:
        print(json.dumps(metrics))
        return 0
    from ..training.summary import context_line

    print(f"{args.run} on {args.dataset} {args.root}: {metrics['n_videos']} videos; {metrics['models_used']}; "
          f"{metrics['scoring']}")
    print("class map: " + ", ".join(f"{a} -> {b}" for a, b in metrics["class_map"].items()))
    if metrics["left_out"]["classes"]:
        print("left out (no shared class): " + ", ".join(f"{c} ({n})" for c, n in metrics["left_out"]["classes"].items()))
    print_videos({"left_out": [{"what": w, "why": y} for w, y in metrics["left_out"].get("nothing_to_read", [])],
                  "single_modality": metrics.get("single_modality", [])})
    print(metrics["table1"])
    print(context_line(metrics["context"]))
    print(f"written: {Path(args.run) / 'cross' / metrics['name'] / 'metrics.json'}")
    return 0


def add(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a finished run, recomputed from its predictions; or, with "
                       "--dataset and --root, its models tested on another corpus")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--dataset", choices=dataset_kinds(), help="test on another corpus of this kind (with --root)")
    p.add_argument("--root", help="that corpus's root folder (or manifest for csv)")
    p.add_argument("--map", metavar="SRC=DST,...", help="class map from the corpus's classes to the run's, over "
                   "the default (shared codes; IEMOCAP exc -> hap, RAVDESS cal -> neu when the run lacks them); "
                   "SRC= leaves a class out")
    p.add_argument("--classes", choices=class_sets(), help="IEMOCAP class set of the other corpus")
    p.add_argument("--name", help="name of the result folder RUN/cross/NAME (default: KIND-<root folder name>)")
    p.add_argument("--store", default=None, help="feature store for the other corpus (default: the run's)")
    p.add_argument("--workers", type=positive_int, default=None, help="extraction processes (default: all cores)")
    add_engine_options(p)
    add_stream_option(p)
    add_partial_option(p)
    add_track_option(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)
