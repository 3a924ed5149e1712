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

Inputs are prepared and normalised as :mod:`emojax.training.prepare` says; the settings are a
:class:`~emojax.training.config.RunConfig`; progress is written as :mod:`emojax.training.progress` says.

Running the same config into the same folder again resumes: finished models are loaded,
an unfinished one continues from its last epoch, and the result is the same as a run that
was never interrupted. A run only grows: re-opened with more ``seeds`` (or ``refit``) it adds
them; with fewer (or without ``refit``) it keeps and reports everything it has, and says so.
Every seed's folds are checked before anything is extracted or trained.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import EmojaxError, RunFileError
from ..fileio import atomic_write_json, atomic_write_npz, check_writable
from ..models import TRAINED, ModelSpec, model_names
from .assumptions import as_json as paper_assumptions
from .config import RunConfig, TrainConfig, seeds_of, settings
from .fold_models import late_fusion, probabilities, train_models
from .loop import Split
from .prepare import Prepared, labelled, normalisation, prepare, run_modalities
from .progress import Reporter
from .protocols import independence, make_folds
from .runfiles import read_json, read_metrics, read_model_info, seed_folder
from .scoring import evaluate_seeds, videos_used


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


def _recorded(old: dict, out: Path) -> dict:
    """A run's ``config.json`` (``old``) with its modalities: those it records, or for a run
    written before they were recorded there, its ``model.json``'s model's (none when it has no
    readable model yet: it is prepared, and they are decided, again)."""
    if "modalities" in old or not (out / "model.json").is_file():
        return old
    try:
        return {**old, "modalities": list(run_modalities(read_json(out / "model.json")))}
    except RunFileError:
        return old


def _as_run(cfg: RunConfig, old: dict) -> RunConfig:
    """``cfg`` with the run's recorded modalities (``old``: :func:`_recorded`) when it leaves
    them to the preset: a run resumed or grown keeps what it was trained on, never decided again
    from the dataset."""
    if cfg.modalities is None and isinstance(old.get("modalities"), list):
        return replace(cfg, modalities=tuple(old["modalities"]))
    return cfg


def _claim(out: Path, cfg: RunConfig) -> tuple[RunConfig, str | None]:
    """Write ``config.json``, or check that the run already in ``out`` has the same settings;
    the config to run (a run only grows: :func:`_grown`) and what to say about it."""
    path = out / "config.json"
    note = None
    if path.is_file():
        old = _recorded(read_json(path), out)
        cfg = _as_run(cfg, old)
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
    config = _recorded(config, out)
    want = json.loads(json.dumps(_as_run(cfg, config).to_dict()))
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
    report = Reporter(out, on_progress, cfg.train.epochs)
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


def _cross_validate(data: Prepared, spec: ModelSpec, folds: list, tcfg: TrainConfig,
                    folder: Path, report: Reporter, where: dict, checkpoint_every: float) -> list[dict]:
    """Train and test every fold with ``tcfg``; write ``folder/predictions.npz``; return each
    fold's facts (sizes, late-fusion weight, epochs)."""
    a = data.arrays
    n, k = len(data.ids), len(data.classes)
    names = model_names(spec.modalities)
    proba = {m: np.full((n, k), np.nan) for m in names}
    fold_of = np.zeros(n, int)
    train_counts = np.zeros((len(folds), k), int)   # per fold: its training videos (validation too) per class
    fold_info = []
    for i, fold in enumerate(folds):
        here = {**where, "fold": i + 1, "folds": len(folds)}
        info: dict = {}
        models = train_models(names, Split.of(a, fold.train, data.y), Split.of(a, fold.val, data.y), spec,
                              tcfg, split=i, folder=folder / "checkpoint" / f"fold-{i + 1}",
                              checkpoint_every=checkpoint_every, info=info,
                              on_epoch=lambda m, rec, here=here: report.epoch(folder, here, m, rec))
        test = Split.of(a, fold.test, data.y)
        for m, model in models.items():
            proba[m][fold.test] = probabilities(model, test)
        fold_of[fold.test] = i + 1                   # fold K of checkpoint/fold-K and --fold K
        train_counts[i] = np.bincount(data.y[np.r_[fold.train, fold.val]], minlength=k)
        fold_info.append({"fold": i + 1, "name": fold.name, "n_train": len(fold.train), "n_val": len(fold.val),
                          "n_test": len(fold.test), **_late_weights(models), "epochs": info, **_frames_read(models)})
    tested = np.flatnonzero(fold_of > 0)
    speakers = np.array(["" if g is None else str(g) for g in (data.speakers or [None] * n)])
    sessions = np.array(["" if s is None else str(s) for s in (data.sessions or [None] * n)])
    atomic_write_npz(folder / "predictions.npz", ids=np.array(data.ids)[tested], fold=fold_of[tested],
                     group=speakers[tested], session=sessions[tested], y_true=data.y[tested],
                     classes=np.array(data.classes), train_counts=train_counts,
                     **{f"proba_{m}": proba[m][tested] for m in names})
    return fold_info


def _late_weights(models: dict) -> dict:
    """A fold's late-fusion weights: ``late_fusion_weights`` per modality, and (a run of the
    pulse and the landmarks, as before voice) ``late_fusion_weight``, the pulse model's."""
    if "late_fusion" not in models:
        return {}
    w = models["late_fusion"].weights()
    return {"late_fusion_weights": w, **({"late_fusion_weight": w["rppg"]} if tuple(w) == ("rppg", "face") else {})}


def fold_weights(fold_info: list[dict]) -> list[dict]:
    """Each fold's late-fusion weights per modality (a fold recorded before voice: its one weight)."""
    return [f["late_fusion_weights"] if "late_fusion_weights" in f else
            {"rppg": f["late_fusion_weight"], "face": 1.0 - f["late_fusion_weight"]} for f in fold_info]


def _frames_read(models: dict) -> dict:
    """For the paper's early fusion (weights per frame): how many frames its first layer reads,
    i.e. where its training videos end (a longer test video is cut there)."""
    m = models.get("early_fusion")
    return {"early_fusion_frames": m.frames_read()} if hasattr(m, "frames_read") else {}


def refit_epochs(fold_info: list[dict], cfg: TrainConfig) -> dict[str, int]:
    """The epochs of each trained model on all videos: the median over the folds of the epoch
    early stopping kept, or the configured epochs without early stopping."""
    out = {}
    for m in _trained_in(fold_info):
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
    return {m: (replace(cfg, patience=0), epochs[m]) for m in epochs}


def _trained_in(fold_info: list[dict]) -> list[str]:
    """The trained models of a run's folds (those with epochs recorded), in training order."""
    seen = {m for f in fold_info for m in f.get("epochs", {})}
    return [m for m in TRAINED if m in seen] or [m for m in TRAINED if m in model_names()]


def _refit(data: Prepared, spec: ModelSpec, fold_info: list[dict], cfg: RunConfig, out: Path, report: Reporter,
           checkpoint_every: float) -> dict:
    """The run's models trained on every video (``checkpoint/final``), described in ``final.json``."""
    plan = refit_plan(fold_info, cfg.train)
    epochs = {m: stop for m, (_, stop) in plan.items()}
    per_fold = fold_weights(fold_info) if len(spec.modalities) > 1 else []
    weights = {m: float(np.mean([w[m] for w in per_fold])) for m in spec.modalities} if per_fold else {}
    everything = Split.of(data.arrays, None, data.y)
    folder = out / "checkpoint" / "final"
    folder.mkdir(parents=True, exist_ok=True)
    where = {"seed": cfg.train.seed, "seeds": cfg.seeds, "fold": "final", "folds": len(fold_info)}
    models: dict = {}
    for m, (tcfg, stop) in plan.items():
        models.update(train_models((m,), everything, None, spec, tcfg, split=len(fold_info), folder=folder,
                                   checkpoint_every=checkpoint_every, stop_after=stop,
                                   on_epoch=lambda name, rec: report.epoch(folder, where, name, rec)))
    if weights:
        late_fusion({m: models[m] for m in spec.modalities}, None, cfg.train, folder,
                    weights=[weights[m] for m in spec.modalities])
    final = {"videos": len(data.ids), "epochs": epochs, "late_fusion_weights": weights,
             **({"late_fusion_weight": weights["rppg"]} if tuple(weights) == ("rppg", "face") else {}),
             "rule": "epochs: the median over the folds of the epoch early stopping kept (the preset's epochs "
                     "without early stopping), on the folds' learning-rate schedule (over the preset's epochs), "
                     "stopped there; late-fusion weight: the mean of the folds' weights"}
    atomic_write_json(out / "final.json", final)
    return final


def _train(cfg: RunConfig, out: Path, report: Reporter, workers: int | None, checkpoint_every: float,
           dataset=None, engine=None) -> dict:
    data = prepare(cfg, workers=workers, on_progress=report, dataset=dataset, engine=engine)
    if cfg.modalities is None:           # the preset's choice, made now from the dataset: recorded, so a
        cfg = replace(cfg, modalities=data.modalities)  # resumed or grown run never decides again
        atomic_write_json(out / "config.json", json.loads(json.dumps(cfg.to_dict())))
    a = data.arrays
    spec = ModelSpec.of(cfg.preset, a, len(data.classes))
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
                "modalities": list(data.modalities),
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
    metrics = evaluate_seeds(out, cfg, per_seed)
    metrics["videos"] = videos_used(read_model_info(out))
    if final is not None:
        metrics["final"] = final
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
