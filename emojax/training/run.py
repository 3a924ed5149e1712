"""A run: a dataset's videos -> features -> model inputs -> folds -> the four models trained and
tested on every fold -> predictions, metrics and checkpoints in one folder.

``artifacts/runs/<run-id>/``:

- ``config.json``     the :class:`RunConfig` (dataset, protocol, training, inputs, extractor)
- ``model.json``      what prediction needs: classes, model inputs (resolved), how inputs are
                      normalised, fold names, videos left out and why; ``split``: whether the
                      protocol kept speakers apart (and why not), the bootstrap's unit
- ``progress.json``   where the run is (status, seed, fold, model, epoch), rewritten atomically
- ``curves.jsonl``    one line per fold, model and epoch, appended as training goes
- ``checkpoint/fold-<k>/``  each fold's models (see :mod:`emojax.training.fold_models`)
- ``predictions.npz`` per tested video: id, fold (numbered from 1, as ``checkpoint/fold-<k>`` and
                      ``predict --fold K``), speaker, session, true label, each model's probabilities;
                      per fold: its training videos per class (``train_counts``, for the baseline)
- ``metrics.json``    per fold, mean +- std over folds (and over seeds), pooled report, bootstrap
                      intervals (by speaker when speakers are known), the test sets' baselines
- ``seeds/<seed>/``   with ``--seeds N``: the same protocol again with each further seed
                      (its own checkpoints, curves and predictions)
- ``checkpoint/final/`` and ``final.json``  with ``--refit``: the four models trained once more
                      on every video (late-fusion weight as cross-validation chose; the folds'
                      optimiser schedule, stopped at the epoch cross-validation chose)

Normalisation is what prediction does: every statistic that spans videos (each input
channel's mean and spread) is computed from the training videos of the fold only, and a test
video is turned into inputs exactly as ``predict_video`` turns a new one. The one exception is
asked for explicitly and recorded: ``speaker_relative`` landmarks subtract each speaker's mean
shape over that speaker's unlabelled videos on the same side of the split (in prediction:
``--same-speaker`` over the videos given).

Running the same config into the same folder again resumes: finished models are loaded,
an unfinished one continues from its last epoch, and the result is the same as a run that
was never interrupted. A run only grows: re-opened with more ``seeds`` (or ``refit``) it adds
them; with fewer (or without ``refit``) it keeps and reports everything it has, and says so.
Every seed's folds are checked before anything is extracted or trained.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import procs
from ..fileio import atomic_write_json, atomic_write_npz, check_writable
from ..data import LOADERS, load_dataset
from ..features.store import FeatureStore
from ..data.transforms import InputConfig, presence, to_arrays
from ..errors import ConfigError, DatasetError, EmojaxError, RunFileError
from ..features.modalities import TITLES
from ..features.record import PAPER_EXTRACTOR, ExtractorConfig
from ..models import MODEL_NAMES, TRAINED, ModelSpec
from .assumptions import REFERENCE as PAPER_REFERENCE, as_json as paper_assumptions
from .config import TrainConfig, preset as train_preset
from .loop import Split
from .metrics import PAPER_SPLIT, PAPER_TABLE1, evaluate, over_seeds
from .protocols import PROTOCOLS, SpeakerOverlapError, independence, make_folds
from .runfiles import read_config, read_json, read_metrics, read_model_info, read_predictions
from .fold_models import late_fusion, probabilities, train_models

RUN_FORMAT = 3
#: what changed at each run format (said when a run of an older one is refused)
FORMAT_CHANGES = {
    2: "test videos are normalised as prediction normalises a new video",
    3: "each modality has its own mask (a missing pulse never hides a face), folds are numbered from 1 "
       "everywhere (predictions.npz counted them from 0), the split's speaker independence is recorded, and the "
       "paper's early fusion reads only the frames its training videos have",
}
#: files whose config keys may grow on an existing run (more seeds, a final model) without retraining
EXTENSIBLE = ("seeds", "refit")
#: where things are, not what the run is: a feature store (a cache) may be anywhere, and a
#: dataset root is compared as the folder it names
LOCATIONS = ("store",)
#: what a run is allowed to do, not what it computes (a dataset that needs it is refused without it)
PERMISSIONS = ("allow_speaker_overlap",)
#: how to name the speakers of a dataset kind that may not name them
SPEAKER_HOWTO = {
    "folder": "give --speaker-pattern REGEX to read each video's speaker from its name inside its class folder "
              "(e.g. '^([^_]+)_' finds actor03 in actor03_take2.mp4), or list the videos in a CSV manifest with a "
              "speaker column (--dataset csv)",
    "csv": "add a speaker column to the manifest (header path,label,speaker; group, actor and subject are "
           "understood too)",
}


def settings(config: dict) -> dict:
    """What decides a run's result, from a ``config.json``: everything but what may grow
    (:data:`EXTENSIBLE`), where the cache is (:data:`LOCATIONS`) and what it was allowed
    (:data:`PERMISSIONS`), the root as an absolute path."""
    out = {k: v for k, v in config.items() if k not in EXTENSIBLE + LOCATIONS + PERMISSIONS}
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
    allow_speaker_overlap: bool = False  # train although the split cannot keep speakers apart (the dataset
                                     # names none, or one): recorded as not speaker-independent
    speaker_pattern: str | None = None  # folder dataset: a regex finding each video's speaker in its name
                                     # inside its class folder (group "speaker", else group 1)

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
        if self.speaker_pattern is not None and self.dataset != "folder":
            raise ConfigError(f"--speaker-pattern reads speakers from the file names of a folder dataset; a "
                              f"{self.dataset} dataset names its speakers its own way (leave it out)")
        if self.speaker_pattern is not None:
            try:
                re.compile(self.speaker_pattern)
            except re.error as e:
                raise ConfigError(f"--speaker-pattern {self.speaker_pattern!r} is not a regular expression ({e})") from None

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
            old = d.get("format")
            since = [FORMAT_CHANGES[v] for v in FORMAT_CHANGES if not isinstance(old, int) or old < v]
            raise EmojaxError(f"a run of format {old} (this emojax reads format {RUN_FORMAT}"
                              + (f", in which {'; '.join(since)}" if since else "") + "); train it again")
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
    arrays: dict                   # rppg (N, T, Cr), face (N, T, Cf), mask (N, T, M): a mask per modality
    inputs: InputConfig            # with its length resolved
    skipped: list = field(default_factory=list)  # (what, why)
    stems: list[str] = field(default_factory=list)  # each video's record in the feature store (file stem)
    single_modality: list = field(default_factory=list)  # {"id", "absent": [modality], "why"}: kept, one modality absent


def _all_or_none(values: list) -> list | None:
    return values if all(v is not None for v in values) else None


def extract_labelled(items: list, store, extractor: ExtractorConfig, *, workers: int | None = None,
                     accept_partial: bool = False, on_progress: Callable[[dict], None] | None = None, engine=None):
    """Extract what ``store`` lacks of ``items`` (on ``engine``, an :class:`emojax.data.batch.ExtractionEngine`;
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


def seeds_of(cfg: RunConfig) -> list[int]:
    """The seeds a run's protocol is run with: ``train.seed``, +1, ... (``seeds`` of them)."""
    return [cfg.train.seed + i for i in range(cfg.seeds)]


def _check(cfg: RunConfig, items: list, classes: list[str], which: str) -> list[str]:
    """The classes that have videos among ``items`` (at least two), after refusing a dataset
    the run's protocol cannot evaluate honestly with any of its seeds (:func:`make_folds`
    refuses it), in one line that names the dataset (and the seed, when there are several)."""
    present = [c for c in classes if any(i.label == c for i in items)]
    seed = cfg.train.seed
    try:
        if len(present) < 2:
            raise DatasetError(f"only {len(present)} class ({', '.join(present) or 'none'}) has videos{which}; "
                               "there is nothing to tell apart")
        for seed in seeds_of(cfg):     # every seed's folds, before hours of training on the first
            make_folds([present.index(i.label) for i in items], [i.group for i in items],
                       [i.session for i in items], protocol=cfg.protocol, k=cfg.folds, test_fraction=cfg.test_fraction,
                       val_fraction=cfg.train.val_fraction, seed=seed, classes=present,
                       allow_speaker_overlap=cfg.allow_speaker_overlap)
    except SpeakerOverlapError as e:
        how = SPEAKER_HOWTO.get(cfg.dataset) if not any(i.group for i in items) else None
        raise SpeakerOverlapError(f"{cfg.root}: {e}" + (f". To name them: {how}" if how else "")) from None
    except DatasetError as e:
        where = f"with seed {seed} (of --seeds {cfg.seeds} from {cfg.train.seed}): " if cfg.seeds > 1 else ""
        raise DatasetError(f"{cfg.root}: {where}{e}") from None
    return present


def labelled(cfg: RunConfig):
    """The run's dataset and its labelled videos, refused (one line, naming the dataset) when
    the run's protocol cannot evaluate it honestly: checked before anything is extracted."""
    ds = load_dataset(cfg.dataset, cfg.root, **({"classes": cfg.classes} if cfg.classes else {}),
                      **({"speaker_pattern": cfg.speaker_pattern} if cfg.speaker_pattern is not None else {}))
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
    records = [FeatureStore(cfg.store).load(o.stem) for o in ok]
    # one minimum for what a video gives (features.modalities): a video without any modality is
    # left out by name; one without a pulse (or landmarks) stays, that modality marked absent
    why = [presence(f, cfg.inputs) for f in records]
    usable = [i for i, w in enumerate(why) if not all(w.values())]
    skipped += [(ok[i].item.id, "nothing to learn from: " + "; ".join(f"{TITLES[m]} {w}" for m, w in why[i].items()))
                for i in range(len(ok)) if i not in usable]
    single = [{"id": ok[i].item.id, "absent": [m for m, w in why[i].items() if w],
               "why": "; ".join(f"{TITLES[m]} {w}" for m, w in why[i].items() if w)}
              for i in usable if any(why[i].values())]
    ok, records = [ok[i] for i in usable], [records[i] for i in usable]
    if len(ok) < 2:
        raise DatasetError(f"{cfg.root}: only {len(ok)} video(s) give a pulse or landmarks to learn from; first "
                           "left out: " + "; ".join(f"{w}: {why}" for w, why in skipped[:3]))
    classes = _check(cfg, [o.item for o in ok], ds.classes, " that could be read and give a pulse or landmarks")
    skipped += [(f"class {c}", "no video of it could be read or gives a pulse or landmarks"
                 if any(i.label == c for i in items) else "no video of it")
                for c in ds.classes if c not in classes]
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
    if inputs.preset == "improved" and inputs.speaker_relative and \
            not independence(cfg.protocol, speakers, None)["speaker_independent"]:
        raise DatasetError(f"{cfg.root}: speaker-relative landmarks take each speaker's mean shape over their videos "
                           "on one side of the split, and this split puts a speaker on both sides "
                           f"({independence(cfg.protocol, speakers, None)['why']}); train without it")
    # every protocol keeps a named speaker's videos on one side of the split, so a speaker's
    # mean shape (speaker_relative) is computed from that side's videos only
    return Prepared(
        ids=[o.item.id for o in ok], y=np.array([classes.index(o.item.label) for o in ok]),
        classes=classes, speakers=speakers, sessions=_all_or_none([o.item.session for o in ok]),
        arrays=to_arrays(records, inputs, speakers=speakers), inputs=inputs, skipped=skipped,
        stems=[Path(o.stem).name for o in ok], single_modality=single)


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


def _grown(out: Path, old: dict, cfg: RunConfig) -> tuple[RunConfig, str | None]:
    """``cfg`` for the run already in ``out`` (its ``config.json``: ``old``): never fewer seeds
    nor no final model where it has them, and a sentence saying what is kept, added and reported
    (None when nothing differs)."""
    had = old.get("seeds", 1) if isinstance(old.get("seeds"), int) and old.get("seeds", 1) >= 1 else 1
    had_final = old.get("refit") is True
    kept = replace(cfg, seeds=max(had, cfg.seeds), refit=had_final or cfg.refit)
    seeds = seeds_of(kept)
    said = []
    if cfg.seeds < had:
        said.append(f"it has {had} seeds ({', '.join(map(str, seeds))}) and --seeds {cfg.seeds} asks for fewer: all "
                    f"{had} are kept and reported (a run never shrinks; train into another --out to report fewer)")
    elif cfg.seeds > had:
        said.append(f"adding seed(s) {', '.join(map(str, seeds[had:]))} to its {had} ({', '.join(map(str, seeds[:had]))}"
                    f", kept as they are); all {cfg.seeds} are reported")
    if had_final and not cfg.refit:
        said.append("its final model (--refit) is kept, and predict uses it")
    elif cfg.refit and not had_final:
        said.append("adding a final model (--refit)")
    return kept, (f"{out} holds a run: " + "; ".join(said)) if said else None


def _claim(out: Path, cfg: RunConfig) -> tuple[RunConfig, str | None]:
    """Write ``config.json``, or check that the run already in ``out`` has the same settings;
    the config to run (a run only grows: :func:`_grown`) and what to say about it."""
    path = out / "config.json"
    note = None
    if path.is_file():
        old = read_json(path)
        a, b = settings(old), settings(json.loads(json.dumps(cfg.to_dict())))
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            raise EmojaxError(f"{out}: holds a run with other settings ({', '.join(diff)} differ); "
                              "resume it with the same settings, or choose another --out")
        cfg, note = _grown(out, old, cfg)
    new = json.loads(json.dumps(cfg.to_dict()))  # as it reads back from JSON (tuples become lists)
    if not path.is_file() or read_json(path) != new:
        atomic_write_json(path, new)
    return cfg, note


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

    ``on_progress`` receives events: ``{"stage": "note", "message"}`` (a run re-opened with
    other seeds: what it keeps and reports), ``{"stage": "extract", "done", "total"}``, ``{"stage":
    "train", "seed", "seeds", "fold", "folds", "model", "epoch", "epochs", "record"}`` (fold
    ``"final"`` for the refit), ``{"stage": "done"}``. A model in training saves its state every
    ``checkpoint_every`` seconds (0: every epoch). ``engine``: where videos are extracted
    (:class:`emojax.data.batch.ExtractionEngine`; default: processes here).
    """
    out = Path(out)
    cfg = replace(cfg, root=str(Path(cfg.root).expanduser().resolve()), store=str(Path(cfg.store).expanduser().resolve()))
    dataset = labelled(cfg)              # a dataset the protocol cannot evaluate claims no folder
    check_writable(out, "run")           # a read-only or full disk: said now, not after extraction
    check_writable(cfg.store, "feature store")
    cfg, note = _claim(out, cfg)
    if note and on_progress is not None:
        on_progress({"stage": "note", "message": note})
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
    fold_of = np.zeros(n, int)
    train_counts = np.zeros((len(folds), k), int)   # per fold: its training videos (validation too) per class
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
        fold_of[fold.test] = i + 1                   # fold K of checkpoint/fold-K and --fold K
        train_counts[i] = np.bincount(data.y[np.r_[fold.train, fold.val]], minlength=k)
        fold_info.append({"fold": i + 1, "name": fold.name, "n_train": len(fold.train), "n_val": len(fold.val),
                          "n_test": len(fold.test), "late_fusion_weight": float(models["late_fusion"].weight[...]),
                          "epochs": info, **_frames_read(models)})
    tested = np.flatnonzero(fold_of > 0)
    speakers = np.array(["" if g is None else str(g) for g in (data.speakers or [None] * n)])
    sessions = np.array(["" if s is None else str(s) for s in (data.sessions or [None] * n)])
    atomic_write_npz(folder / "predictions.npz", ids=np.array(data.ids)[tested], fold=fold_of[tested],
                     group=speakers[tested], session=sessions[tested], y_true=data.y[tested],
                     classes=np.array(data.classes), train_counts=train_counts,
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


def refit_plan(fold_info: list[dict], cfg: TrainConfig) -> dict[str, tuple[TrainConfig, int]]:
    """How each trained model is trained again on every video: ``(settings, stop after)``. The
    folds' settings, so the same optimiser schedule over the same ``cfg.epochs`` (a schedule
    rebuilt over fewer epochs would end at a rate of 0 where the folds' models were still near
    their peak), without early stopping (no validation videos are left), stopped after the epoch
    cross-validation chose (:func:`refit_epochs`)."""
    epochs = refit_epochs(fold_info, cfg)
    return {m: (replace(cfg, patience=0), epochs[m]) for m in TRAINED}


def _refit(data: Prepared, spec: ModelSpec, fold_info: list[dict], cfg: RunConfig, out: Path, report: _Reporter,
           checkpoint_every: float) -> dict:
    """The four models trained on every video (``checkpoint/final``), described in ``final.json``."""
    plan = refit_plan(fold_info, cfg.train)
    epochs = {m: stop for m, (_, stop) in plan.items()}
    weight = float(np.mean([f["late_fusion_weight"] for f in fold_info]))
    everything = Split.of(data.arrays, None, data.y)
    folder = out / "checkpoint" / "final"
    folder.mkdir(parents=True, exist_ok=True)
    where = {"seed": cfg.train.seed, "seeds": cfg.seeds, "fold": "final", "folds": len(fold_info)}
    models: dict = {}
    for m, (tcfg, stop) in plan.items():
        models.update(train_models((m,), everything, None, spec, tcfg, split=len(fold_info), folder=folder,
                                   checkpoint_every=checkpoint_every, stop_after=stop,
                                   on_epoch=lambda name, rec: report.epoch(folder, where, name, rec)))
    late_fusion(models["rppg"], models["face"], None, cfg.train, folder, weight=weight)
    final = {"videos": len(data.ids), "epochs": epochs, "late_fusion_weight": weight,
             "rule": "epochs: the median over the folds of the epoch early stopping kept (the preset's epochs "
                     "without early stopping), on the folds' learning-rate schedule (over the preset's epochs), "
                     "stopped there; late-fusion weight: the mean of the folds' weights"}
    atomic_write_json(out / "final.json", final)
    return final


def _train(cfg: RunConfig, out: Path, report: _Reporter, workers: int | None, checkpoint_every: float,
           dataset=None, engine=None) -> dict:
    data = prepare(cfg, workers=workers, on_progress=report, dataset=dataset, engine=engine)
    a = data.arrays
    spec = ModelSpec(preset=cfg.preset, rppg_channels=a["rppg"].shape[2], face_channels=a["face"].shape[2],
                     length=a["mask"].shape[1], n_classes=len(data.classes))
    seeds = seeds_of(cfg)
    every = [make_folds(data.y, data.speakers, data.sessions, protocol=cfg.protocol, k=cfg.folds,
                        test_fraction=cfg.test_fraction, val_fraction=cfg.train.val_fraction, seed=seed,
                        classes=data.classes, allow_speaker_overlap=cfg.allow_speaker_overlap)
             for seed in seeds]          # all made (prepare checked them) before the first model trains
    per_seed, main_info = [], None
    for si, (seed, folds) in enumerate(zip(seeds, every)):
        if si == 0:
            store = Path(cfg.store).resolve()
            atomic_write_json(out / "model.json", {
                "classes": data.classes, "spec": spec.to_dict(), "inputs": asdict(data.inputs),
                "extractor": cfg.extractor.to_dict(), "folds": [f.name for f in folds], "videos": len(data.ids),
                "groups": data.speakers, "sessions": data.sessions, "normalisation": normalisation(data.inputs),
                "split": independence(cfg.protocol, data.speakers, data.sessions),
                "skipped": data.skipped, "single_modality": data.single_modality,
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
    metrics["videos"] = videos_used(read_model_info(out))
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
            "standardisation": "each channel's mean and spread over the frames where its modality is valid in the "
                               "fold's training videos (stored with the model)",
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
    split = read_model_info(out).get("split")
    results = []
    for si, (seed, info) in enumerate(per_seed):
        pred = read_predictions(seed_folder(out, si, seed))
        protocol = describe_protocol(cfg, len(np.unique(pred["fold"])))
        results.append(evaluate(pred, [str(c) for c in pred["classes"]], info, paper_reference=paper, split=split,
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
    seeds = seeds_of(cfg)
    per_seed = [(s, infos[i] if i < len(infos) else None) for i, s in enumerate(seeds)]
    metrics = _evaluate(run, cfg, per_seed)
    metrics["videos"] = videos_used(read_model_info(run))
    if "final" in old:
        metrics["final"] = old["final"]
    return metrics


def videos_used(info: dict) -> dict:
    """From a run's ``model.json``: how many videos it used, which it left out and which it read
    with one modality absent, each by name and reason (``metrics.json``'s ``videos``)."""
    return {"used": info["videos"], "left_out": [{"what": w, "why": y} for w, y in info.get("skipped", [])],
            "single_modality": info.get("single_modality", [])}
