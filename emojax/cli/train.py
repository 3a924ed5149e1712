"""``emojax train``: a dataset's four models, fold by fold, into a run folder."""

from __future__ import annotations

import dataclasses

from .common import (TrainBars, add_engine_options, add_partial_option, add_stream_option, add_track_option,
                     class_sets, dataset_kinds, engine_of, modality_list, positive_int, print_metrics, report_writer,
                     seconds, tracked)


def run_config_of(args):
    from ..training.config import run_config

    cfg = run_config(args.dataset, args.root, preset=args.preset, epochs=args.epochs, seed=args.seed,
                     length=args.length, protocol=args.protocol, folds=args.folds, classes=args.classes,
                     store=args.store, accept_partial=args.accept_partial, seeds=args.seeds, refit=args.refit,
                     speaker_relative=args.speaker_norm, allow_speaker_overlap=args.allow_speaker_overlap,
                     speaker_pattern=args.speaker_pattern, modalities=args.modalities)
    if args.stream is None:
        return cfg
    return dataclasses.replace(cfg, extractor=dataclasses.replace(cfg.extractor, stream=args.stream))


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
    from ..features.modalities import MODALITIES, PAPER_MODALITIES
    from ..features.rppg import DEFAULT_METHOD
    from ..presets import DEFAULT_PRESET, PRESET_NAMES
    from ..training.protocols import PROTOCOLS

    p = sub.add_parser("train", help="train and test the four models on a dataset, fold by fold")
    p.add_argument("--dataset", required=True, choices=dataset_kinds(), help="what kind of dataset --root is")
    p.add_argument("--root", required=True, help="dataset root folder (or manifest for csv)")
    p.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET,
                   help=f"paper: Kumar & Li (2023) as published; improved: {DEFAULT_METHOD.upper()} pulse channels, "
                        "aligned landmarks, the improved models (default)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="kfold",
                   help="holdout, (speaker-grouped) k-fold, leave-one-session-out, leave-one-speaker-out")
    p.add_argument("--folds", type=positive_int, default=5, help="k of kfold (default 5)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the preset's epochs")
    p.add_argument("--length", type=positive_int, default=None, help="frames per video (improved: 150; paper: the longest)")
    p.add_argument("--modalities", type=modality_list, default=None, metavar=",".join(MODALITIES),
                   help=f"the modalities the run reads, comma-separated, at least one of {', '.join(MODALITIES)} "
                        f"(default: the preset's: paper {','.join(PAPER_MODALITIES)}; improved adds voice when at "
                        "least half the videos have it); saved in the run's config.json")
    p.add_argument("--classes", choices=class_sets(), help="IEMOCAP class set (default: paper)")
    p.add_argument("--seed", type=int, default=None, help="the first seed (default: the preset's, 0)")
    p.add_argument("--seeds", type=positive_int, default=1, metavar="N",
                   help="run the protocol with N seeds (seed, seed+1, ...) and report mean ± std over seeds; "
                        "more seeds can be added to a finished run")
    p.add_argument("--refit", action="store_true",
                   help="after cross-validation, train the four models once more on every video (epochs and "
                        "late-fusion weight as cross-validation chose): the model predict then uses")
    p.add_argument("--speaker-norm", action="store_true",
                   help="improved preset: landmarks relative to each speaker's mean shape over their videos on "
                        "the same side of the split (needs speakers; predict then needs --same-speaker)")
    p.add_argument("--speaker-pattern", default=None, metavar="REGEX",
                   help="folder dataset: find each video's speaker in its name inside its class folder (the group "
                        "named speaker, else the first group, else the match), e.g. '^([^_]+)_' for actor03_take2.mp4")
    p.add_argument("--allow-speaker-overlap", action="store_true",
                   help="train although the split cannot keep speakers apart (the dataset names no speaker, or "
                        "one); the run then says everywhere that its scores are not speaker-independent")
    p.add_argument("--store", default="artifacts/features", help="feature store")
    p.add_argument("--out", required=True, help="run folder (e.g. artifacts/runs/<name>); an unfinished run resumes")
    p.add_argument("--workers", type=positive_int, default=None, help="extraction processes (default: all cores)")
    add_engine_options(p)
    add_stream_option(p)
    add_partial_option(p)
    p.add_argument("--checkpoint-every", type=seconds, default=30.0, metavar="SECONDS",
                   help="save a training model's state this often, to resume after an interruption (default 30; 0: every epoch)")
    add_track_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
