"""``emojax train``: a dataset's four models, fold by fold, into a run folder. Its options are
the library's (:mod:`emojax.training.options`), which the dashboard's Train page checks its
settings with."""

from __future__ import annotations

from ..training.options import add_train_options, engine_of, run_config_of  # noqa: F401 (run_config_of: the CLI's too)
from .common import TrainBars, print_metrics, report_writer, tracked


def run(args) -> int:
    from ..training.run import train_run

    cfg = run_config_of(args)
    mlflow_run = tracked(args, args.out)         # a wrong tracking URI is said before anything is trained
    bars = TrainBars(args.quiet)

    def progress(event):
        bars(event)
        if mlflow_run is not None:
            mlflow_run.progress(event)

    try:
        metrics = train_run(cfg, args.out, workers=args.workers, engine=engine_of(args),
                            checkpoint_every=args.checkpoint_every, on_progress=progress)
    except BaseException as e:
        if mlflow_run is not None:
            mlflow_run.close("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    finally:
        bars.close()
    if mlflow_run is not None:
        mlflow_run.sync(report=report_writer())
        mlflow_run.close()
    print_metrics(metrics, args.out)
    return 0


def add(sub) -> None:
    p = sub.add_parser("train", help="train and test the four models on a dataset, fold by fold")
    add_train_options(p)
    p.set_defaults(func=run)
