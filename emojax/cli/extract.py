"""``emojax extract``: videos, folders, manifests or a dataset into a feature store."""

from __future__ import annotations

import sys

from ..errors import EmojaxError
from ..fileio import one_line
from .common import (add_engine_options, add_extractor_options, class_sets, dataset_kinds, engine_of, extractor_config,
                     positive_int)


#: entries skipped (not a video, hidden, unreadable ...) listed one by one; the rest are counted
SKIPS_LISTED = 10


def run(args) -> int:
    from tqdm import tqdm

    from ..data import load_dataset, load_paths
    from ..data.batch import extract_items
    from ..data.items import count_skipped

    if args.dataset:
        if len(args.paths) != 1:
            raise EmojaxError(f"--dataset {args.dataset} takes exactly one root folder, got {len(args.paths)} paths")
        ds = load_dataset(args.dataset, args.paths[0], **({"classes": args.classes} if args.classes else {}))
        print(ds.summary())
    elif args.classes:
        raise EmojaxError("--classes chooses one of IEMOCAP's class sets: it goes with --dataset iemocap")
    else:
        ds = load_paths(args.paths)
    items, skipped = ds.items, ds.skipped
    for what, why in skipped[:SKIPS_LISTED]:
        print(one_line(f"skipped: {what}: {why}"), file=sys.stderr)
    if len(skipped) > SKIPS_LISTED:
        print(f"skipped: ... and {len(skipped) - SKIPS_LISTED} more (counted in the summary)", file=sys.stderr)
    if not items:
        raise EmojaxError("nothing to extract: no video among " + ", ".join(args.paths))
    engine = engine_of(args)
    in_process = engine.kind == "local" and (args.workers == 1 or len(items) == 1)
    with tqdm(total=len(items), unit="video", desc="extract", disable=args.quiet) as bar, \
            tqdm(unit="frame", desc="frames", disable=args.quiet or not in_process, leave=False) as frames:
        def on_done(o):
            bar.update(1)
            bar.set_postfix_str(f"{o.status}: {o.item.id}"[:40])
        summary = extract_items(items, args.out, extractor_config(args), workers=args.workers,
                                on_done=on_done, on_frames=frames.update, accept_partial=args.accept_partial,
                                engine=engine)
    print(summary.text())
    if skipped:
        print(count_skipped(skipped))
    print(f"feature store: {args.out}")
    if args.export == "csv":
        _export_csv([o.stem for o in summary.outcomes if o.stem], args.quiet)
    return 1 if summary.failed else 0


def _export_csv(stems: list[str], quiet: bool) -> None:
    """``<stem>.csv`` beside each record: its per-frame table (the pulse by the default method)."""
    from tqdm import tqdm

    from ..features import Features, vitals

    for stem in tqdm(stems, unit="video", desc="export", disable=quiet):
        vitals.write_table(f"{stem}.csv", Features.load(stem))
    print(f"exported {len(stems)} per-frame table(s) (CSV) beside the records")


def add(sub) -> None:
    p = sub.add_parser("extract", help="extract rPPG + landmark features into a feature store")
    p.add_argument("paths", nargs="+", help="video files, folders, a CSV manifest, or a dataset root with --dataset")
    p.add_argument("--out", required=True, help="feature store folder")
    p.add_argument("--dataset", choices=dataset_kinds(), help="read PATH as a dataset root of this kind")
    p.add_argument("--classes", choices=class_sets(), help="IEMOCAP class set (default: paper)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="processes (default: all cores); with --engine ray, at most this many actors "
                        "(default: one per CPU of the cluster)")
    add_engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--export", choices=["csv"], help="also write each video's per-frame table (time, raw R/G/B, "
                   "pulse, heart rate, quality, face found, state, interpolated, bridged, patches filled, beat) beside its record")
    add_extractor_options(p)
    p.set_defaults(func=run)
