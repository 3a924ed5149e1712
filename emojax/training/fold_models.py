"""The four models of one split: trained (resumably) or loaded from their checkpoints.

One folder per split holds ``rppg.msgpack``, ``face.msgpack``, ``early_fusion.msgpack`` (final
weights, written once a model is done), ``late_fusion.json`` (the chosen weight) and, while a
model trains, ``<model>.resume.msgpack`` (its state at the end of a recent epoch).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from flax import nnx

from ..fileio import atomic_write_json
from ..errors import CheckpointError
from ..models import TRAINED, LateFusion, ModelSpec, build_model, choose_weight
from . import checkpoint
from .config import TrainConfig
from .loop import Split, fit, predict_logits, selection_score


def model_seed(seed: int, split: int, model: str) -> int:
    """The initialisation seed of ``model`` on split ``split`` (independent streams per pair)."""
    return int(np.random.SeedSequence([seed, split, TRAINED.index(model)]).generate_state(1)[0] % (2 ** 31))


def probabilities(model: nnx.Module, split: Split) -> np.ndarray:
    """Class probabilities ``(N, K)`` of a model (eval mode) on ``split``."""
    return np.asarray(jax.nn.softmax(predict_logits(model, split), axis=-1), np.float64)


def _load_weights(path: Path, model: nnx.Module, spec: ModelSpec) -> dict:
    payload = checkpoint.load_into(path, {"model": model})
    saved = payload["meta"].get("spec")
    if saved is not None and saved != spec.to_dict():
        raise CheckpointError(f"{path}: trained for inputs {saved}, not {spec.to_dict()}")
    return payload["meta"]


def _restore(path: Path, name: str, spec: ModelSpec) -> nnx.Module:
    """A trained model from its checkpoint, built from abstract shapes (no initialisation)."""
    abstract = nnx.eval_shape(lambda: build_model(name, spec))
    models, payload = checkpoint.restore(path, {"model": abstract})
    saved = payload["meta"].get("spec")
    if saved is not None and saved != spec.to_dict():
        raise CheckpointError(f"{path}: trained for inputs {saved}, not {spec.to_dict()}")
    return models["model"]


def _needed(names: tuple[str, ...]) -> list[str]:
    """The trained models behind ``names`` (late fusion stands on rppg and face)."""
    return [m for m in TRAINED if m in names or (m in ("rppg", "face") and "late_fusion" in names)]


def train_models(names: tuple[str, ...], train: Split, val: Split | None, spec: ModelSpec, cfg: TrainConfig, *,
                 split: int = 0, folder: str | os.PathLike | None = None, checkpoint_every: float = 30.0,
                 on_epoch: Callable[[str, dict], None] | None = None, late_weight: float | None = None,
                 info: dict | None = None, stop_after: int | None = None) -> dict[str, nnx.Module]:
    """Train the models ``names`` (``late_fusion`` trains ``rppg`` and ``face`` and combines
    them) on ``train``, validating on ``val``. With ``folder``, finished models are saved
    there and loaded instead of trained again, and an unfinished one resumes from its last
    saved state (written every ``checkpoint_every`` seconds). ``on_epoch(model_name, record)``
    follows training. ``late_weight``: the late-fusion weight to use instead of choosing it on
    ``val``. ``info`` (a dict) receives each trained model's ``{"epochs", "best_epoch"}``
    (epochs run, and the epoch early stopping kept; 0 without early stopping). ``stop_after``:
    stop after this many epochs on the schedule of ``cfg.epochs`` (see :func:`fit`)."""
    need = _needed(names)
    folder = Path(folder) if folder is not None else None
    out: dict[str, nnx.Module] = {}
    for name in need:
        model = build_model(name, spec, seed=model_seed(cfg.seed, split, name))
        final = folder / f"{name}.msgpack" if folder else None
        if final is not None and final.is_file():
            meta = _load_weights(final, model, spec)
            done = {"epochs": meta.get("epochs", cfg.epochs), "best_epoch": meta.get("best_epoch", 0)}
        else:
            model.fit_inputs(train.rppg, train.face, train.mask, train.y)
            resume = folder / f"{name}.resume.msgpack" if folder else None
            _, progress = fit(model, train, val, cfg, n_classes=spec.n_classes, stream=(split, TRAINED.index(name)),
                              resume=resume, checkpoint_every=checkpoint_every, stop_after=stop_after,
                              on_epoch=None if on_epoch is None else (lambda rec, name=name: on_epoch(name, rec)))
            done = {"epochs": progress.epoch, "best_epoch": progress.best_epoch if cfg.patience else 0}
            if final is not None:
                checkpoint.save(final, {"model": model}, {"spec": spec.to_dict(), "model": name, **done})
                resume.unlink(missing_ok=True)
        if info is not None:
            info[name] = done
        out[name] = model
    if "late_fusion" in names:
        out["late_fusion"] = late_fusion(out["rppg"], out["face"], val, cfg, folder, weight=late_weight)
    return {m: out[m] for m in names}


def late_fusion(rppg: nnx.Module, face: nnx.Module, val: Split | None, cfg: TrainConfig,
                folder: Path | None = None, *, weight: float | None = None) -> LateFusion:
    """The weighted average of the two unimodal models, its weight given, or chosen on
    ``val`` (0.5 without a validation split); saved to / read from ``folder/late_fusion.json``."""
    path = folder / "late_fusion.json" if folder else None
    chosen_by = f"validation {cfg.select_by}"
    if path is not None and path.is_file():
        weight = read_late_weight(path)
    elif weight is not None:
        chosen_by = "given (the mean of the cross-validation folds' weights)"
    elif val is not None and len(val):
        weight = choose_weight(probabilities(rppg, val), probabilities(face, val), np.asarray(val.y),
                               lambda y, y_hat: selection_score(cfg.select_by, y, y_hat))
    else:
        weight = 0.5
    if path is not None and not path.is_file():
        atomic_write_json(path, {"weight": weight, "chosen_by": chosen_by})
    return LateFusion(rppg, face, weight)


def read_late_weight(path: Path) -> float:
    """The weight in a ``late_fusion.json``, checked to be a number in [0, 1]."""
    try:
        weight = json.loads(Path(path).read_text())["weight"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise CheckpointError(f"{path}: the late-fusion weight must be a number in [0, 1], not {weight!r}")
    return float(weight)


def load_models(folder: str | os.PathLike, spec: ModelSpec, names: tuple[str, ...]) -> dict[str, nnx.Module]:
    """The finished models ``names`` of one split folder (shapes checked against ``spec``)."""
    folder = Path(folder)
    need = _needed(names)
    out = {}
    for name in need:
        path = folder / f"{name}.msgpack"
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the run did not finish (run `emojax train` again to resume)")
        out[name] = _restore(path, name, spec)
        out[name].eval()
    if "late_fusion" in names:
        if not (folder / "late_fusion.json").is_file():
            raise CheckpointError(f"{folder / 'late_fusion.json'}: missing; the run did not finish")
        out["late_fusion"] = late_fusion(out["rppg"], out["face"], None, TrainConfig(), folder)
    return {m: out[m] for m in names}
