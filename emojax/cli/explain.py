"""``emojax explain``: permutation importance of a finished run, by modality, region, channel and time."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EmojaxError
from .common import add_track_option, positive_int, print_importance, report_writer, tracked


def explain(run, groupings, per_class: bool, video, repeats: int, seed: int, quiet: bool = False) -> dict:
    from tqdm import tqdm

    from ..explain.importance import explain_run

    with tqdm(unit="step", desc="explain", leave=False, disable=quiet) as bar:
        def tick(e):
            bar.total = e["total"]
            bar.set_postfix_str(f"{e['model']} fold {e['fold']} {e['grouping']}")
            bar.update(1)

        return explain_run(run, groupings=groupings, per_class=per_class, video=video, n_repeats=repeats,
                           random_state=seed, progress=tick)


def run(args) -> int:
    groupings = [g.strip() for g in args.groups.split(",") if g.strip()]
    mlflow_run = tracked(args, args.run)
    try:
        out = explain(args.run, groupings, args.per_class, args.video, args.repeats, args.seed, args.json)
    except ValueError as e:
        raise EmojaxError(str(e)) from None
    if mlflow_run is not None:
        mlflow_run.sync(report=report_writer())
        mlflow_run.close()
    if args.json:
        print(json.dumps(out))
        return 0
    print_importance(out)
    print(f"\nwritten: {Path(args.run) / 'importance.json'}")
    return 0


def add(sub) -> None:
    p = sub.add_parser("explain", help="which modality, channel, face region and moment each fused model relies on")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--groups", default="modality,region,channel,time",
                   help="comma-separated groupings: modality, region, channel, time or time:N (default: all)")
    p.add_argument("--per-class", action="store_true", help="also the drop in each class's recall")
    p.add_argument("--video", help="also explain this video (its own importances and integrated gradients)")
    p.add_argument("--repeats", type=positive_int, default=5, help="permutations per group (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    add_track_option(p)
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(func=run)
