"""``emojax train``: a dataset's four models, fold by fold, into a run folder. Its options are
the library's (:mod:`emojax.training.options`), which the dashboard's Train page checks its
settings with."""

from __future__ import annotations

from ..training.options import add_train_options, engine_of, run_config_of  # noqa: F401 (run_config_of: the CLI's too)
from .common import TrainBars, print_metrics


def run(args) -> int:
    from ..training.run import train_run

    bars = TrainBars(args.quiet)
    try:
        metrics = train_run(run_config_of(args), args.out, workers=args.workers, engine=engine_of(args),
                            checkpoint_every=args.checkpoint_every, on_progress=bars)
    finally:
        bars.close()
    print_metrics(metrics, args.out)
    return 0


def add(sub) -> None:
    p = sub.add_parser("train", help="train and test the four models on a dataset, fold by fold")
    add_train_options(p)
    p.set_defaults(func=run)
