"""A run: a dataset's videos -> features -> model inputs -> folds -> the four models trained and
tested on every fold -> predictions, metrics and checkpoints in one folder.

``artifacts/runs/<run-id>/``:

- ``config.json``     the :class:`RunConfig` (dataset, protocol, training, inputs, extractor)
- ``model.json``      what prediction needs: classes, model inputs (resolved), the population
                      mean shape, fold names, videos left out and why
- ``progress.json``   where the run is (status, fold, model, epoch), rewritten atomically
- ``curves.jsonl``    one line per fold, model and epoch, appended as training goes
- ``checkpoint/fold-<k>/``  each fold's models (see :mod:`emojax.training.trained`)
- ``predictions.npz`` per tested video: id, fold, true label, each model's probabilities
- ``metrics.json``    per fold, mean +- std over folds, pooled report, bootstrap intervals

Running the same config into the same folder again resumes: finished models are loaded,
an unfinished one continues from its last epoch, and the result is the same as a run that
was never interrupted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .._io import atomic_write_json, atomic_write_npz
from ..data import LOADERS, load_dataset
from ..data.transforms import InputConfig, population_mean, to_arrays
from ..errors import DatasetError, EmojaxError
from ..features.record import PAPER_EXTRACTOR, ExtractorConfig, Features
from ..models import MODEL_NAMES, TRAINED, ModelSpec
from .config import TrainConfig, preset as train_preset
from .loop import Split
from .metrics import evaluate
from .protocols import PROTOCOLS, make_folds
from .trained import probabilities, train_models

RUN_FORMAT = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result (saved as its ``config.json``)."""

    dataset: str                     # dataset kind (see emojax.data.LOADERS)
    root: str                        # its root folder (or manifest file)
    protocol: str = "kfold"          # "holdout", "kfold", "loso" (sessions) or "speaker"
    folds: int = 5                   # k of kfold
    test_fraction: float = 0.2       # share of the videos tested by holdout
    classes: str | None = None       # IEMOCAP class set: "paper" (10) or "four"
    store: str = "artifacts/features"  # feature store (features are extracted once, then reused)
    train: TrainConfig = field(default_factory=TrainConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    accept_partial: bool = False     # train on videos that are not whole (truncated, damaged) too

    def __post_init__(self):
        if self.dataset not in LOADERS:
            raise ValueError(f"unknown dataset kind {self.dataset!r}; choose one of {sorted(LOADERS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {PROTOCOLS}")
        if self.train.preset != self.inputs.preset:
            raise ValueError(f"training preset {self.train.preset!r} with input preset {self.inputs.preset!r}")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")

    @property
    def preset(self) -> str:
        return self.train.preset

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extractor"] = self.extractor.to_dict()
        return {"format": RUN_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = {k: v for k, v in d.items() if k != "format"}
        return cls(**{**d, "train": TrainConfig.from_dict(d["train"]), "inputs": InputConfig(**d["inputs"]),
                      "extractor": ExtractorConfig.from_dict(d["extractor"])})


def run_config(dataset: str, root: str | os.PathLike, *, preset: str = "improved", epochs: int | None = None,
               seed: int | None = None, length: int | None = None, **kwargs) -> RunConfig:
    """A run of the named preset: ``paper`` = the paper's inputs (raw mean RGB of the face box,
    raw landmarks, zero-padded to the longest video), architectures and training; ``improved``
    = POS pulse with heart-rate and quality channels from the skin, aligned speaker-relative
    landmarks at a fixed length, and the improved models and training."""
    train = train_preset(preset, epochs=epochs, seed=seed)
    if preset == "paper":
        inputs, extractor = InputConfig(preset="paper", length=length), PAPER_EXTRACTOR
    else:
        inputs, extractor = InputConfig(length=length or 150), ExtractorConfig()
    return RunConfig(dataset=dataset, root=str(root), train=train, inputs=inputs, extractor=extractor, **kwargs)


@dataclass
class Prepared:
    """A dataset as model inputs."""

    ids: list[str]
    y: np.ndarray                  # (N,) class indices
    classes: list[str]
    groups: list[str] | None       # speakers, when the dataset names them
    sessions: list[str] | None     # recording sessions, when it has them
    arrays: dict                   # rppg (N, T, Cr), face (N, T, Cf), mask (N, T)
    inputs: InputConfig            # with its length resolved
    shape_mean: np.ndarray | None  # population mean aligned shape (68, 2), for unknown speakers
    skipped: list = field(default_factory=list)  # (what, why)


def _all_or_none(values: list) -> list | None:
    return values if all(v is not None for v in values) else None


def prepare(cfg: RunConfig, *, workers: int | None = None, on_progress: Callable[[dict], None] | None = None) -> Prepared:
    """Load the dataset, extract what the feature store lacks, and build the model inputs."""
    from ..features.batch import extract_items

    ds = load_dataset(cfg.dataset, cfg.root, **({"classes": cfg.classes} if cfg.classes else {}))
    items = [i for i in ds.items if i.label in ds.classes]
    if not items:
        raise DatasetError(f"{cfg.root}: no labelled video found for dataset kind {cfg.dataset!r}")
    done = [0]

    def tick(_outcome) -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress({"stage": "extract", "done": done[0], "total": len(items)})

    summary = extract_items(items, cfg.store, cfg.extractor, workers=workers, on_done=tick,
                            accept_partial=cfg.accept_partial)
    ok = [o for o in summary.outcomes if o.stem]
    skipped = list(ds.skipped) + [(o.item.id, o.error) for o in summary.failed]
    if len(ok) < 2:
        raise DatasetError(f"{cfg.root}: only {len(ok)} video(s) could be read; first failures: "
                           + "; ".join(f"{w}: {why}" for w, why in skipped[:3]))
    records = [Features.load(o.stem) for o in ok]
    groups = _all_or_none([o.item.group for o in ok])
    inputs = cfg.inputs
    if inputs.preset == "paper" and inputs.length is None:
        inputs = replace(inputs, length=max(len(f) for f in records))
    improved_shapes = inputs.preset == "improved" and inputs.speaker_relative
    return Prepared(
        ids=[o.item.id for o in ok], y=np.array([ds.classes.index(o.item.label) for o in ok]),
        classes=list(ds.classes), groups=groups, sessions=_all_or_none([o.item.session for o in ok]),
        arrays=to_arrays(records, inputs, groups=groups), inputs=inputs,
        shape_mean=population_mean(records) if improved_shapes else None,
        skipped=skipped)


class _Reporter:
    """Writes ``progress.json`` and ``curves.jsonl`` and forwards every event to a callback."""

    def __init__(self, out: Path, callback: Callable[[dict], None] | None, total_epochs: int):
        self.out, self.callback, self.total = out, callback, total_epochs
        self.state: dict = {"status": "running", "pid": os.getpid(), "started": time.time()}

    def __call__(self, event: dict) -> None:
        self.state.update(event, updated=time.time())
        atomic_write_json(self.out / "progress.json", self.state)
        if self.callback is not None:
            self.callback(event)

    def epoch(self, fold: int, folds: int, model: str, rec: dict) -> None:
        line = {"fold": fold, "model": model, **rec}
        with open(self.out / "curves.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
        self({"stage": "train", "fold": fold, "folds": folds, "model": model, "epoch": rec["epoch"],
              "epochs": self.total, "record": rec})


def _claim(out: Path, cfg: RunConfig) -> None:
    """Write ``config.json``, or check that the run already in ``out`` has the same config."""
    path = out / "config.json"
    if path.is_file():
        old = _read_json(path)
        new = json.loads(json.dumps(cfg.to_dict()))  # as it reads back from JSON (tuples become lists)
        if old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise EmojaxError(f"{out}: holds a run with other settings ({', '.join(diff)} differ); "
                              "resume it with the same settings, or choose another --out")
        return
    atomic_write_json(path, cfg.to_dict())


def train_run(cfg: RunConfig, out: str | os.PathLike, *, workers: int | None = None, checkpoint_every: float = 30.0,
              on_progress: Callable[[dict], None] | None = None) -> dict:
    """Run ``cfg`` into the folder ``out`` (resuming what is there) and return its metrics.

    ``on_progress`` receives events: ``{"stage": "extract", "done", "total"}``, ``{"stage":
    "train", "fold", "folds", "model", "epoch", "epochs", "record"}``, ``{"stage": "done"}``.
    A model in training saves its state every ``checkpoint_every`` seconds (0: every epoch).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, cfg)
    report = _Reporter(out, on_progress, cfg.train.epochs)
    try:
        metrics = _train(cfg, out, report, workers, checkpoint_every)
    except KeyboardInterrupt:
        report({"status": "interrupted"})
        raise
    except BaseException as e:
        report({"status": "failed", "error": str(e)})
        raise
    report({"status": "done", "stage": "done"})
    return metrics


def _train(cfg: RunConfig, out: Path, report: _Reporter, workers: int | None, checkpoint_every: float) -> dict:
    data = prepare(cfg, workers=workers, on_progress=report)
    folds = make_folds(data.y, data.groups, data.sessions, protocol=cfg.protocol, k=cfg.folds,
                       test_fraction=cfg.test_fraction, val_fraction=cfg.train.val_fraction, seed=cfg.train.seed)
    a = data.arrays
    spec = ModelSpec(preset=cfg.preset, rppg_channels=a["rppg"].shape[2], face_channels=a["face"].shape[2],
                     length=a["mask"].shape[1], n_classes=len(data.classes))
    atomic_write_json(out / "model.json", {
        "classes": data.classes, "spec": spec.to_dict(), "inputs": asdict(data.inputs),
        "extractor": cfg.extractor.to_dict(), "folds": [f.name for f in folds], "videos": len(data.ids),
        "shape_mean": None if data.shape_mean is None else data.shape_mean.tolist(), "skipped": data.skipped})
    n, k = len(data.ids), len(data.classes)
    proba = {m: np.full((n, k), np.nan) for m in MODEL_NAMES}
    fold_of = np.full(n, -1)
    fold_info = []
    for i, fold in enumerate(folds):
        models = train_models(MODEL_NAMES, Split.of(a, fold.train, data.y), Split.of(a, fold.val, data.y), spec,
                              cfg.train, split=i, folder=out / "checkpoint" / f"fold-{i + 1}",
                              checkpoint_every=checkpoint_every,
                              on_epoch=lambda m, rec, i=i: report.epoch(i + 1, len(folds), m, rec))
        test = Split.of(a, fold.test, data.y)
        for m, model in models.items():
            proba[m][fold.test] = probabilities(model, test)
        fold_of[fold.test] = i
        fold_info.append({"name": fold.name, "n_train": len(fold.train), "n_val": len(fold.val),
                          "n_test": len(fold.test), "late_fusion_weight": float(models["late_fusion"].weight[...])})
    report({"stage": "evaluate"})
    tested = np.flatnonzero(fold_of >= 0)
    atomic_write_npz(out / "predictions.npz", ids=np.array(data.ids)[tested], fold=fold_of[tested],
                     y_true=data.y[tested], classes=np.array(data.classes),
                     **{f"proba_{m}": proba[m][tested] for m in MODEL_NAMES})
    metrics = evaluate(read_predictions(out), data.classes, fold_info,
                       paper_reference=cfg.dataset == "iemocap" and cfg.classes in (None, "paper"))
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def read_predictions(run: str | os.PathLike) -> dict[str, np.ndarray]:
    """A run's ``predictions.npz`` as a dict (no pickle)."""
    path = Path(run) / "predictions.npz"
    if not path.is_file():
        raise EmojaxError(f"{path}: missing; the run has not finished (run `emojax train` again to resume)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_curves(run: str | os.PathLike) -> list[dict]:
    """The training curves of a run so far: one record per (fold, model, epoch), the latest
    when an epoch was repeated after an interruption; a line cut short by a kill is ignored."""
    path = Path(run) / "curves.jsonl"
    if not path.is_file():
        return []
    recs: dict = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        recs[(r["fold"], r["model"], r["epoch"])] = r
    return [recs[k] for k in sorted(recs, key=lambda k: (k[0], TRAINED.index(k[1]), k[2]))]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EmojaxError(f"{path}: missing; {path.parent} is not a finished emojax run") from None
    except (OSError, ValueError) as e:
        raise EmojaxError(f"{path}: unreadable ({e})") from None


def evaluate_run(run: str | os.PathLike) -> dict:
    """The metrics of a finished run, recomputed from its predictions."""
    run = Path(run)
    pred = read_predictions(run)
    cfg = RunConfig.from_dict(_read_json(run / "config.json"))
    folds = _read_json(run / "metrics.json")["folds"] if (run / "metrics.json").is_file() else None
    return evaluate(pred, [str(c) for c in pred["classes"]], folds,
                    paper_reference=cfg.dataset == "iemocap" and cfg.classes in (None, "paper"))
