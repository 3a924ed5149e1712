"""The options of ``emojax train``, said once: the command line's ``train`` parser is built by
:func:`add_train_options`, and the dashboard's Train page checks the argument list it builds with
the same options (:func:`parse_train`) before it launches anything, so a setting the command
would refuse is refused on the page in the command's own words.

Also the argument types and options ``train`` shares with the other commands (a bad value is
refused in one line naming the option), and what a parsed ``train`` turns into: the run's
settings (:func:`run_config_of`) and where its videos are read (:func:`engine_of`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Sequence

from ..errors import ConfigError


def _whole(text: str, least: int, below: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} {below}")
    return value


def positive_int(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    return _whole(text, 1, "is not at least 1")


def stream_number(text: str) -> int:
    """A video stream's number among a file's video streams: a whole number from 0."""
    return _whole(text, 0, "is negative (video streams are counted from 0)")


def finite_number(text: str, what: str) -> float:
    """``text`` as a finite number, else an argument error saying it is not ``what``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """An argument that must be a finite, non-negative number of seconds."""
    if (value := finite_number(text, "a number of seconds")) < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite, non-negative number of seconds")
    return value


def modality_list(text: str) -> tuple[str, ...]:
    """An argument naming modalities, comma-separated, each once (``features.modalities.MODALITIES``)."""
    from ..features.modalities import check

    try:
        return check(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def dataset_kinds() -> list[str]:
    from ..data import LOADERS

    return sorted(LOADERS)


def class_sets() -> list[str]:
    """IEMOCAP's class sets (``--classes``)."""
    from ..data.iemocap import CLASS_SETS

    return list(CLASS_SETS)


def add_stream_option(p) -> None:
    p.add_argument("--stream", type=stream_number, default=None, metavar="N",
                   help="read the file's video stream N, counted from 0 among its video streams (default: the one "
                        "its container marks default, else the first); the record says which it read and which "
                        "others there are")


def add_engine_options(p) -> None:
    from ..data.batch import ENGINES

    p.add_argument("--engine", choices=list(ENGINES), default="local",
                   help="where videos are read: processes on this machine (default), or the actors of a Ray "
                        "cluster (pip install 'emojax[ray]'; every node must see the videos at the same path)")
    p.add_argument("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                   help="with --engine ray: the cluster to join (auto: the one this machine belongs to, started "
                        "with `ray start`); by default Ray is started on this machine for the run and stopped after")


def add_partial_option(p) -> None:
    p.add_argument("--accept-partial", action="store_true",
                   help="keep a video that is not whole (fewer frames than its container claims, or damaged "
                        "data), marked partial; by default it fails, naming the file and what is missing")


def add_track_option(p) -> None:
    p.add_argument("--track", nargs="?", const="", default=None, metavar="URI",
                   help="log the run to MLflow (pip install 'emojax[mlflow]'): its settings, curves, Table 1 and 2 "
                        "and files, into the same MLflow run each time; URI: a tracking server or store (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///<artifacts>/mlflow.db, which `mlflow ui "
                        "--backend-store-uri` shows)")


def add_train_options(p) -> None:
    """Every option of ``emojax train``, on the parser ``p``."""
    from ..features.modalities import MODALITIES, PAPER_MODALITIES
    from ..features.rppg import DEFAULT_METHOD
    from ..presets import DEFAULT_PRESET, PRESET_NAMES
    from .protocols import PROTOCOLS

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


class _Refusing(argparse.ArgumentParser):
    """A parser that raises what it would print before exiting (a page has no terminal)."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def train_parser() -> argparse.ArgumentParser:
    """``emojax train``'s options on a parser of their own that raises :class:`~emojax.errors.ConfigError`
    (argparse's message) where the command line would print it and exit."""
    p = _Refusing(prog="emojax train", add_help=False)
    add_train_options(p)
    return p


def train_options() -> dict[str, argparse.Action]:
    """``emojax train``'s options by name (``dest``: ``speaker_norm`` for ``--speaker-norm``)."""
    return {a.dest: a for a in train_parser()._actions}


def parse_train(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of ``emojax train`` (after ``train``) read as the command reads them; a
    :class:`~emojax.errors.ConfigError` with the command's message when it would refuse them."""
    return train_parser().parse_args(list(argv))


def run_config_of(args: argparse.Namespace):
    """The :class:`~emojax.training.config.RunConfig` of a parsed ``emojax train``."""
    from .config import run_config

    cfg = run_config(args.dataset, args.root, preset=args.preset, epochs=args.epochs, seed=args.seed,
                     length=args.length, protocol=args.protocol, folds=args.folds, classes=args.classes,
                     store=args.store, accept_partial=args.accept_partial, seeds=args.seeds, refit=args.refit,
                     speaker_relative=args.speaker_norm, allow_speaker_overlap=args.allow_speaker_overlap,
                     speaker_pattern=args.speaker_pattern, modalities=args.modalities)
    if args.stream is None:
        return cfg
    return dataclasses.replace(cfg, extractor=dataclasses.replace(cfg.extractor, stream=args.stream))


def engine_of(args: argparse.Namespace):
    """Where a parsed command reads its videos (``--engine``, ``--address``)."""
    from ..data.batch import ExtractionEngine

    return ExtractionEngine(args.engine, args.address)
