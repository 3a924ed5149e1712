"""A run: a dataset's videos -> features -> model inputs -> folds -> the four models trained and
tested on every fold -> predictions, metrics and checkpoints in one folder.

``artifacts/runs/<run-id>/``:

- ``config.json``     the :class:`RunConfig` (dataset, protocol, training, inputs, extractor)
- ``model.json``      what prediction needs: classes, model inputs (resolved), how inputs are
                      normalised, fold names, videos left out and why
- ``progress.json``   where the run is (status, seed, fold, model, epoch), rewritten atomically
- ``curves.jsonl``    one line per fold, model and epoch, appended as training goes
- ``checkpoint/fold-<k>/``  each fold's models (see :mod:`emojax.training.fold_models`)
- ``predictions.npz`` per tested video: id, fold, speaker, true label, each model's probabilities
- ``metrics.json``    per fold, mean +- std over folds (and over seeds), pooled report, bootstrap
                      intervals (by speaker when speakers are known), the test sets' baselines
- ``seeds/<seed>/``   with ``--seeds N``: the same protocol again with each further seed
                      (its own checkpoints, curves and predictions)
- ``checkpoint/final/`` and ``final.json``  with ``--refit``: the four models trained once more
                      on every video (epochs and late-fusion weight as cross-validation chose)

Normalisation is what prediction does: every statistic that spans videos (each input
channel's mean and spread) is computed from the training videos of the fold only, and a test
video is turned into inputs exactly as ``predict_video`` turns a new one. The one exception is
asked for explicitly and recorded: ``speaker_relative`` landmarks subtract each speaker's mean
shape over that speaker's unlabelled videos on the same side of the split (in prediction:
``--same-speaker`` over the videos given).

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

from .. import procs
from ..fileio import atomic_write_json, atomic_write_npz, check_writable
from ..data import LOADERS, load_dataset
from ..features.store import FeatureStore
from ..data.transforms import InputConfig, to_arrays
from ..errors import ConfigError, DatasetError, EmojaxError, RunFileError
from ..features.record import PAPER_EXTRACTOR, ExtractorConfig
from ..models import MODEL_NAMES, TRAINED, ModelSpec
from .assumptions import REFERENCE as PAPER_REFERENCE, as_json as paper_assumptions
from .config import TrainConfig, preset as train_preset
from .loop import Split
from .metrics import PAPER_SPLIT, PAPER_TABLE1, evaluate, over_seeds
from .protocols import PROTOCOLS, make_folds
from .runfiles import read_config, read_json, read_metrics, read_model_info, read_predictions
from .fold_models import late_fusion, probabilities, train_models

#: 3: the paper's early fusion reads only the frames its training videos have (2: every frame up to
#: the dataset's longest video, test videos included)
RUN_FORMAT = 3
#: files whose config keys may grow on an existing run (more seeds, a final model) without retraining
EXTENSIBLE = ("seeds", "refit")
#: where things are, not what the run is: a feature store (a cache) may be anywhere, and a
#: dataset root is compared as the folder it names
LOCATIONS = ("store",)


def settings(config: dict) -> dict:
    """What decides a run's result, from a ``config.json``: everything but what may grow
    (:data:`EXTENSIBLE`) and where the cache is (:data:`LOCATIONS`), the root as an absolute path."""
    out = {k: v for k, v in config.items() if k not in EXTENSIBLE + LOCATIONS}
    if isinstance(out.get("root"), str):
        out["root"] = str(Path(out["root"]).expanduser().resolve())
    return out


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
    seeds: int = 1                   # run the protocol with seeds train.seed, +1, ... (mean +- std over seeds)
    refit: bool = False              # also train every model once more on all videos (the model to deploy)

    def __post_init__(self):
        if self.dataset not in LOADERS:
            raise ConfigError(f"unknown dataset kind {self.dataset!r}; choose one of {sorted(LOADERS)}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; choose one of {PROTOCOLS}")
        if self.train.preset != self.inputs.preset:
            raise ConfigError(f"training preset {self.train.preset!r} with input preset {self.inputs.preset!r}")
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2, got {self.folds}")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be at least 1, got {self.seeds}")
        if self.classes is not None and self.dataset != "iemocap":
            raise ConfigError(f"--classes {self.classes} chooses one of IEMOCAP's class sets; a {self.dataset} "
                              "dataset's classes are its own (leave --classes out)")

    @property
    def preset(self) -> str:
        return self.train.preset

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extractor"] = self.extractor.to_dict()
        return {"format": RUN_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if d.get("format") != RUN_FORMAT:
            raise EmojaxError(f"a run of format {d.get('format')} (this emojax reads format {RUN_FORMAT}: its "
                              "test videos are normalised as prediction normalises them, and no model reads more "
                              "of a video than its training videos have); train it again")
        d = {k: v for k, v in d.items() if k != "format"}
        return cls(**{**d, "train": TrainConfig.from_dict(d["train"]), "inputs": InputConfig(**d["inputs"]),
                      "extractor": ExtractorConfig.from_dict(d["extractor"])})


def run_config(dataset: str, root: str | os.PathLike, *, preset: str = "improved", epochs: int | None = None,
               seed: int | None = None, length: int | None = None, speaker_relative: bool = False,
               **kwargs) -> RunConfig:
    """A run of the named preset: ``paper`` = the paper's inputs (raw mean RGB of the face box,
    raw landmarks, zero-padded to the longest video), architectures and training; ``improved``
    = PBV pulse with heart-rate and quality channels from the skin patches, aligned landmarks
    (``speaker_relative=True``: relative to each speaker's mean shape) at a fixed length, and
    the improved models and training."""
    train = train_preset(preset, epochs=epochs, seed=seed)
    if preset == "paper":
        if speaker_relative:
            raise ConfigError("speaker-relative landmarks are an option of the improved preset")
        inputs, extractor = InputConfig(preset="paper", length=length), PAPER_EXTRACTOR
    else:
        inputs, extractor = InputConfig(length=length or 150, speaker_relative=speaker_relative), ExtractorConfig()
    return RunConfig(dataset=dataset, root=str(root), train=train, inputs=inputs, extractor=extractor, **kwargs)


@dataclass
class Prepared:
    """A dataset as model inputs."""

    ids: list[str]
    y: np.ndarray                  # (N,) class indices
    classes: list[str]
    speakers: list[str] | None       # speakers, when the dataset names them
    sessions: list[str] | None     # recording sessions, when it has them
    arrays: dict                   # rppg (N, T, Cr), face (N, T, Cf), mask (N, T)
    inputs: InputConfig            # with its length resolved
    skipped: list = field(default_factory=list)  # (what, why)
    stems: list[str] = field(default_factory=list)  # each video's record in the feature store (file stem)


def _all_or_none(values: list) -> list | None:
    return values if all(v is not None for v in values) else None


def extract_labelled(items: list, store, extractor: ExtractorConfig, *, workers: int | None = None,
                     accept_partial: bool = False, on_progress: Callable[[dict], None] | None = None, engine=None):
    """Extract what ``store`` lacks of ``items`` (on ``engine``, an :class:`emojax.data.batch.Engine`;
    default: processes here), reporting ``{"stage": "extract", "done", "total"}`` after each video;
    the extraction summary."""
    from ..data.batch import extract_items

    done = [0]

    def tick(_outcome) -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress({"stage": "extract", "done": done[0], "total": len(items)})

    return extract_items(items, store, extractor, workers=workers, on_done=tick, accept_partial=accept_partial,
                         engine=engine)


def _check(cfg: RunConfig, items: list, classes: list[str], which: str) -> list[str]:
    """The classes that have videos among ``items`` (at least two), after refusing a dataset
    the run's protocol cannot evaluate honestly (:func:`make_folds` refuses it), in one line
    that names the dataset."""
    present = [c for c in classes if any(i.label == c for i in items)]
    try:
        if len(present) < 2:
            raise DatasetError(f"only {len(present)} class ({', '.join(present) or 'none'}) has videos{which}; "
                               "there is nothing to tell apart")
        make_folds([present.index(i.label) for i in items], [i.group for i in items], [i.session for i in items],
                   protocol=cfg.protocol, k=cfg.folds, test_fraction=cfg.test_fraction,
                   val_fraction=cfg.train.val_fraction, seed=cfg.train.seed, classes=present)
    except DatasetError as e:
        raise DatasetError(f"{cfg.root}: {e}") from None
    return present


def labelled(cfg: RunConfig):
    """The run's dataset and its labelled videos, refused (one line, naming the dataset) when
    the run's protocol cannot evaluate it honestly: checked before anything is extracted."""
    ds = load_dataset(cfg.dataset, cfg.root, **({"classes": cfg.classes} if cfg.classes else {}))
    items = [i for i in ds.items if i.label in ds.classes]
    if not items:
        raise DatasetError(f"{cfg.root}: no labelled video found for dataset kind {cfg.dataset!r}")
    _check(cfg, items, ds.classes, "")
    return ds, items


def prepare(cfg: RunConfig, *, workers: int | None = None, on_progress: Callable[[dict], None] | None = None,
            dataset=None, engine=None) -> Prepared:
    """Load the dataset (or take ``dataset``, from :func:`labelled`), extract what the feature
    store lacks, and build the model inputs."""
    ds, items = dataset or labelled(cfg)
    summary = extract_labelled(items, cfg.store, cfg.extractor, workers=workers, accept_partial=cfg.accept_partial,
                               on_progress=on_progress, engine=engine)
    ok = [o for o in summary.outcomes if o.stem]
    skipped = list(ds.skipped) + [(o.item.id, o.error) for o in summary.failed]
    if len(ok) < 2:
        raise DatasetError(f"{cfg.root}: only {len(ok)} video(s) could be read; first failures: "
                           + "; ".join(f"{w}: {why}" for w, why in skipped[:3]))
    classes = _check(cfg, [o.item for o in ok], ds.classes, " that could be read")
    skipped += [(f"class {c}", "no video of it could be read" if any(i.label == c for i in items) else "no video of it")
                for c in ds.classes if c not in classes]
    records = [FeatureStore(cfg.store).load(o.stem) for o in ok]
    speakers = _all_or_none([o.item.group for o in ok])
    inputs = cfg.inputs
    if inputs.preset == "paper" and inputs.length is None:
        # the paper's rule: pad to the longest video - here of the dataset, one shape for every
        # fold's models (averaged and explained on the same inputs); no model reads more of a
        # video than its training videos have (EarlyFusion.fit_inputs), as prediction cuts a new one
        inputs = replace(inputs, length=max(len(f) for f in records))
    if inputs.preset == "improved" and inputs.speaker_relative and speakers is None:
        raise DatasetError(f"{cfg.root}: speaker-relative landmarks need the speaker of every video, and "
                           f"this {cfg.dataset} dataset does not name them; train without it")
    # every protocol keeps a speaker's videos on one side of the split, so a speaker's mean
    # shape (speaker_relative) is computed from that side's videos only
    return Prepared(
        ids=[o.item.id for o in ok], y=np.array([classes.index(o.item.label) for o in ok]),
        classes=classes, speakers=speakers, sessions=_all_or_none([o.item.session for o in ok]),
        arrays=to_arrays(records, inputs, speakers=speakers), inputs=inputs, skipped=skipped,
        stems=[Path(o.stem).name for o in ok])


class _Reporter:
    """Writes ``progress.json`` and ``curves.jsonl`` and forwards every event to a callback."""

    def __init__(self, out: Path, callback: Callable[[dict], None] | None, total_epochs: int):
        self.out, self.callback, self.total = out, callback, total_epochs
        self.state: dict = {"status": "running", **procs.identity(), "started": time.time()}

    def __call__(self, event: dict) -> None:
        self.state.update(event, updated=time.time())
        atomic_write_json(self.out / "progress.json", self.state)
        if self.callback is not None:
            self.callback(event)

    def epoch(self, folder: Path, where: dict, model: str, rec: dict) -> None:
        line = {"fold": where["fold"], "model": model, **rec}
        with open(folder / "curves.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
        self({"stage": "train", **where, "model": model, "epoch": rec["epoch"], "epochs": self.total, "record": rec})


def _claim(out: Path, cfg: RunConfig) -> None:
    """Write ``config.json``, or check that the run already in ``out`` has the same config
    (more seeds or a final model may be added to a run: its folds are kept)."""
    path = out / "config.json"
    new = json.loads(json.dumps(cfg.to_dict()))  # as it reads back from JSON (tuples become lists)
    if path.is_file():
        old = read_json(path)
        a, b = settings(old), settings(new)
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            raise EmojaxError(f"{out}: holds a run with other settings ({', '.join(diff)} differ); "
                              "resume it with the same settings, or choose another --out")
        if old == new:
            return
    atomic_write_json(path, new)


def finished(out: str | os.PathLike, cfg: RunConfig) -> dict | None:
    """The metrics of the run in ``out`` if it finished with ``cfg``'s settings (more seeds or a
    final model besides are fine: its first seed is exactly ``cfg``'s run), else None (also
    when one of its files is damaged: training again resumes and rewrites it)."""
    out = Path(out)
    try:
        config, metrics = read_json(out / "config.json"), read_metrics(out)
        progress = read_json(out / "progress.json")
    except RunFileError:
        return None
    want = json.loads(json.dumps(cfg.to_dict()))
    same = settings(config) == settings(want)
    more = config.get("seeds", 1) >= want.get("seeds", 1) and (config.get("refit") or not want.get("refit"))
    return metrics if same and more and progress.get("status") == "done" else None


def train_run(cfg: RunConfig, out: str | os.PathLike, *, workers: int | None = None, checkpoint_every: float = 30.0,
              on_progress: Callable[[dict], None] | None = None, engine=None) -> dict:
    """Run ``cfg`` into the folder ``out`` (resuming what is there) and return its metrics.

    ``on_progress`` receives events: ``{"stage": "extract", "done", "total"}``, ``{"stage":
    "train", "seed", "seeds", "fold", "folds", "model", "epoch", "epochs", "record"}`` (fold
    ``"final"`` for the refit), ``{"stage": "done"}``. A model in training saves its state every
    ``checkpoint_every`` seconds (0: every epoch). ``engine``: where videos are extracted
    (:class:`emojax.data.batch.Engine`; default: processes here).
    """
    out = Path(out)
    cfg = replace(cfg, root=str(Path(cfg.root).expanduser().resolve()), store=str(Path(cfg.store).expanduser().resolve()))
    dataset = labelled(cfg)              # a dataset the protocol cannot evaluate claims no folder
    check_writable(out, "run")           # a read-only or full disk: said now, not after extraction
    check_writable(cfg.store, "feature store")
    _claim(out, cfg)
    report = _Reporter(out, on_progress, cfg.train.epochs)
    try:
        metrics = _train(cfg, out, report, workers, checkpoint_every, dataset, engine)
    except KeyboardInterrupt:
        report({"status": "interrupted"})
        raise
    except BaseException as e:
        report({"status": "failed", "error": str(e)})
        raise
    report({"status": "done", "stage": "done"})
    return metrics


def seed_folder(run: Path, seed_index: int, seed: int) -> Path:
    """Where seed number ``seed_index`` of a run keeps its checkpoints and predictions."""
    return run if seed_index == 0 else run / "seeds" / str(seed)


def _cross_validate(data: Prepared, spec: ModelSpec, folds: list, tcfg: TrainConfig,
                    folder: Path, report: _Reporter, where: dict, checkpoint_every: float) -> list[dict]:
    """Train and test every fold with ``tcfg``; write ``folder/predictions.npz``; return each
    fold's facts (sizes, late-fusion weight, epochs)."""
    a = data.arrays
    n, k = len(data.ids), len(data.classes)
    proba = {m: np.full((n, k), np.nan) for m in MODEL_NAMES}
    fold_of = np.full(n, -1)
    fold_info = []
    for i, fold in enumerate(folds):
        here = {**where, "fold": i + 1, "folds": len(folds)}
        info: dict = {}
        models = train_models(MODEL_NAMES, Split.of(a, fold.train, data.y), Split.of(a, fold.val, data.y), spec,
                              tcfg, split=i, folder=folder / "checkpoint" / f"fold-{i + 1}",
                              checkpoint_every=checkpoint_every, info=info,
                              on_epoch=lambda m, rec, here=here: report.epoch(folder, here, m, rec))
        test = Split.of(a, fold.test, data.y)
        for m, model in models.items():
            proba[m][fold.test] = probabilities(model, test)
        fold_of[fold.test] = i
        fold_info.append({"name": fold.name, "n_train": len(fold.train), "n_val": len(fold.val),
                          "n_test": len(fold.test), "late_fusion_weight": float(models["late_fusion"].weight[...]),
                          "epochs": info, **_frames_read(models)})
    tested = np.flatnonzero(fold_of >= 0)
    speakers = np.array(["" if g is None else str(g) for g in (data.speakers or [None] * n)])
    atomic_write_npz(folder / "predictions.npz", ids=np.array(data.ids)[tested], fold=fold_of[tested],
                     group=speakers[tested], y_true=data.y[tested], classes=np.array(data.classes),
                     **{f"proba_{m}": proba[m][tested] for m in MODEL_NAMES})
    return fold_info


def _frames_read(models: dict) -> dict:
    """For the paper's early fusion (weights per frame): how many frames its first layer reads,
    i.e. where its training videos end (a longer test video is cut there)."""
    m = models.get("early_fusion")
    return {"early_fusion_frames": m.frames_read()} if hasattr(m, "frames_read") else {}


def refit_epochs(fold_info: list[dict], cfg: TrainConfig) -> dict[str, int]:
    """The epochs of each trained model on all videos: the median over the folds of the epoch
    early stopping kept, or the configured epochs without early stopping."""
    out = {}
    for m in TRAINED:
        best = [f["epochs"][m]["best_epoch"] for f in fold_info if f.get("epochs", {}).get(m)]
        out[m] = int(max(1, round(float(np.median(best))))) if cfg.patience and best and min(best) > 0 else cfg.epochs
    return out


def _refit(data: Prepared, spec: ModelSpec, fold_info: list[dict], cfg: RunConfig, out: Path, report: _Reporter,
           checkpoint_every: float) -> dict:
    """The four models trained on every video (``checkpoint/final``), described in ``final.json``."""
    epochs = refit_epochs(fold_info, cfg.train)
    weight = float(np.mean([f["late_fusion_weight"] for f in fold_info]))
    everything = Split.of(data.arrays, None, data.y)
    folder = out / "checkpoint" / "final"
    folder.mkdir(parents=True, exist_ok=True)
    where = {"seed": cfg.train.seed, "seeds": cfg.seeds, "fold": "final", "folds": len(fold_info)}
    models: dict = {}
    for m in TRAINED:
        tcfg = replace(cfg.train, epochs=epochs[m], patience=0)
        models.update(train_models((m,), everything, None, spec, tcfg, split=len(fold_info), folder=folder,
                                   checkpoint_every=checkpoint_every,
                                   on_epoch=lambda name, rec: report.epoch(folder, where, name, rec)))
    late_fusion(models["rppg"], models["face"], None, cfg.train, folder, weight=weight)
    final = {"videos": len(data.ids), "epochs": epochs, "late_fusion_weight": weight,
             "rule": "epochs: the median over the folds of the epoch early stopping kept (the preset's epochs "
                     "without early stopping); late-fusion weight: the mean of the folds' weights"}
    atomic_write_json(out / "final.json", final)
    return final


def _train(cfg: RunConfig, out: Path, report: _Reporter, workers: int | None, checkpoint_every: float,
           dataset=None, engine=None) -> dict:
    data = prepare(cfg, workers=workers, on_progress=report, dataset=dataset, engine=engine)
    a = data.arrays
    spec = ModelSpec(preset=cfg.preset, rppg_channels=a["rppg"].shape[2], face_channels=a["face"].shape[2],
                     length=a["mask"].shape[1], n_classes=len(data.classes))
    seeds = [cfg.train.seed + i for i in range(cfg.seeds)]
    per_seed, main_info = [], None
    for si, seed in enumerate(seeds):
        folds = make_folds(data.y, data.speakers, data.sessions, protocol=cfg.protocol, k=cfg.folds,
                           test_fraction=cfg.test_fraction, val_fraction=cfg.train.val_fraction, seed=seed,
                           classes=data.classes)
        if si == 0:
            store = Path(cfg.store).resolve()
            atomic_write_json(out / "model.json", {
                "classes": data.classes, "spec": spec.to_dict(), "inputs": asdict(data.inputs),
                "extractor": cfg.extractor.to_dict(), "folds": [f.name for f in folds], "videos": len(data.ids),
                "groups": data.speakers, "sessions": data.sessions, "normalisation": normalisation(data.inputs),
                "skipped": data.skipped,
                "records": [{"id": i, "stem": st, "label": data.classes[k]}
                            for i, st, k in zip(data.ids, data.stems, data.y.tolist())],
                "store": {"path": str(store), "from_run": os.path.relpath(store, out.resolve())},
                **({"paper": paper_assumptions()} if cfg.preset == "paper" else {})})
        folder = seed_folder(out, si, seed)
        folder.mkdir(parents=True, exist_ok=True)
        info = _cross_validate(data, spec, folds, replace(cfg.train, seed=seed), folder, report,
                               {"seed": seed, "seed_index": si, "seeds": len(seeds)}, checkpoint_every)
        main_info = main_info or info
        per_seed.append((seed, info))
    final = _refit(data, spec, main_info, cfg, out, report, checkpoint_every) if cfg.refit else None
    report({"stage": "evaluate"})
    metrics = _evaluate(out, cfg, per_seed)
    if final is not None:
        metrics["final"] = final
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def normalisation(inputs: InputConfig) -> dict:
    """What each statistic of the inputs is computed from (written to ``model.json``)."""
    landmarks = ("relative to the mean aligned shape of the speaker's videos on the same side of the split "
                 "(in prediction: of the videos given with --same-speaker)" if inputs.speaker_relative else
                 "each video's own: aligned to its own mean shape" if inputs.preset == "improved" else "raw pixels")
    return {"speaker_relative": bool(inputs.speaker_relative and inputs.preset == "improved"),
            "landmarks": landmarks,
            "rppg": "each video's own (pulse z-scored over its frames)" if inputs.preset == "improved" else "raw colour",
            "standardisation": "each channel's mean and spread over the frames with a face of the fold's training "
                               "videos (stored with the model)",
            "length": "resampled to a fixed length" if inputs.preset == "improved" else
                      ("zero-padded (or cut) to the longest video of the dataset: one shape for every fold's "
                       "models; the early fusion (weights per frame) reads only the frames its training videos "
                       "have (zero weights beyond; 'early_fusion_frames' of each fold in metrics.json), so a "
                       "longer test video is cut where its fold's training videos end, as prediction cuts a new "
                       "one; the convolutional models average every real frame")}


def describe_protocol(cfg: RunConfig, n_folds: int) -> str:
    """The run's split in words, as Table 1 prints it beside the paper's (unstated) one."""
    what = {"holdout": f"one split, {100 * cfg.test_fraction:.0f} % of the videos tested", "kfold": f"{cfg.folds}-fold",
            "loso": "leave one recording session out", "speaker": "leave one speaker out"}[cfg.protocol]
    return f"{cfg.protocol} ({what}), {n_folds} fold(s), seed {cfg.train.seed}" + (
        f" and {cfg.seeds - 1} more" if cfg.seeds > 1 else "")


def _evaluate(out: Path, cfg: RunConfig, per_seed: list[tuple[int, list[dict]]]) -> dict:
    paper = cfg.dataset == "iemocap" and cfg.classes in (None, "paper")
    results = []
    for si, (seed, info) in enumerate(per_seed):
        pred = read_predictions(seed_folder(out, si, seed))
        protocol = describe_protocol(cfg, len(np.unique(pred["fold"])))
        results.append(evaluate(pred, [str(c) for c in pred["classes"]], info, paper_reference=paper,
                                protocol=protocol))
    metrics = results[0]
    if len(results) > 1:
        metrics = {**metrics, **over_seeds([s for s, _ in per_seed], results, paper_reference=paper,
                                           protocol=protocol)}
    metrics["protocol"] = protocol
    if paper:
        metrics["paper_reference"] = {"source": PAPER_REFERENCE, "dataset": "IEMOCAP, 10 classes",
                                      "split": PAPER_SPLIT, "table1": PAPER_TABLE1}
    return metrics


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


def run_store(run: str | os.PathLike, info: dict | None = None) -> Path:
    """The feature store a run's records are in: beside the run where they were (the run
    folder and the store moved together), else where they were when it trained."""
    run = Path(run)
    info = info if info is not None else read_model_info(run)
    where = info.get("store") or {}
    if isinstance(where, dict):
        for candidate in ((run / where["from_run"]) if where.get("from_run") else None, where.get("path")):
            if candidate and Path(candidate).is_dir():
                return Path(candidate).resolve()
    return Path(read_config(run).store)


def load_prepared(run: str | os.PathLike) -> Prepared:
    """A finished run's videos as the model inputs it tested, from the records it lists in its
    feature store: no dataset is read, no file hashed, nothing extracted. (A run from before
    records were listed is prepared again from its dataset.)"""
    run = Path(run)
    info = read_model_info(run)
    listed = info.get("records")
    if not isinstance(listed, list):
        return prepare(read_config(run))
    store = FeatureStore(run_store(run, info))
    try:
        records = [store.load(store.root / r["stem"]) for r in listed]
        ids, labels = [r["id"] for r in listed], [r["label"] for r in listed]
    except (KeyError, TypeError) as e:
        raise RunFileError(f"{run / 'model.json'}: its list of records is not what a run writes ({e})") from None
    classes = list(info["classes"])
    inputs = InputConfig(**info["inputs"])
    speakers = info.get("groups")
    return Prepared(ids=ids, y=np.array([classes.index(c) for c in labels]), classes=classes, speakers=speakers,
                    sessions=info.get("sessions"), arrays=to_arrays(records, inputs, speakers=speakers), inputs=inputs,
                    stems=[r["stem"] for r in listed])


def evaluate_run(run: str | os.PathLike) -> dict:
    """The metrics of a finished run, recomputed from its predictions (every seed's)."""
    run = Path(run)
    cfg = read_config(run)
    try:
        old = read_metrics(run)          # what only the old file knows (early stopping, the final model)
    except RunFileError:
        old = {}                         # absent or damaged: recomputed from the predictions
    infos = old.get("seeds", {}).get("folds") or [old.get("folds")]
    seeds = [cfg.train.seed + i for i in range(cfg.seeds)]
    per_seed = [(s, infos[i] if i < len(infos) else None) for i, s in enumerate(seeds)]
    metrics = _evaluate(run, cfg, per_seed)
    if "final" in old:
        metrics["final"] = old["final"]
    return metrics
