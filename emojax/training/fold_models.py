"""The models of one split: trained (resumably) or loaded from their checkpoints.

One folder per split holds ``<modality>.msgpack`` for each of the run's modalities and
``early_fusion.msgpack`` (final weights, written once a model is done), ``late_fusion.json``
(the chosen weights) and, while a model trains, ``<model>.resume.msgpack`` (its state at the
end of a recent epoch).
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
from ..features.modalities import MODALITIES, index
from ..models import STREAMS, TRAINED, LateFusion, ModelSpec, build_model, choose_weights
from ..models.common import present
from . import checkpoint
from .config import TrainConfig
from .devices import data_parallel
from .loop import Split, fit, predict_logits, selection_score
from .runfiles import UNFINISHED


def model_seed(seed: int, split: int, model: str) -> int:
    """The initialisation seed of ``model`` on split ``split`` (independent streams per pair)."""
    return int(np.random.SeedSequence([seed, split, STREAMS[model]]).generate_state(1)[0] % (2 ** 31))


def probabilities(model: nnx.Module, split: Split) -> np.ndarray:
    """Class probabilities ``(N, K)`` of a model (eval mode) on ``split``."""
    return np.asarray(jax.nn.softmax(predict_logits(model, split), axis=-1), np.float64)


def _load_weights(path: Path, model: nnx.Module, spec: ModelSpec) -> dict:
    payload = checkpoint.load_into(path, {"model": model})
    _check_spec(path, payload["meta"].get("spec"), spec)
    return payload["meta"]


def _check_spec(path: Path, saved: dict | None, spec: ModelSpec) -> None:
    """A checkpoint's saved specification (None: not saved) is ``spec`` (one written before
    voice, without ``voice_channels``, reads as a two-modality one)."""
    try:
        same = saved is None or ModelSpec(**saved) == spec
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable model specification {saved} ({e})") from None
    if not same:
        raise CheckpointError(f"{path}: trained for inputs {saved}, not {spec.to_dict()}")


def _restore(path: Path, name: str, spec: ModelSpec) -> nnx.Module:
    """A trained model from its checkpoint, built from abstract shapes (no initialisation)."""
    abstract = nnx.eval_shape(lambda: build_model(name, spec))
    models, payload = checkpoint.restore(path, {"model": abstract})
    _check_spec(path, payload["meta"].get("spec"), spec)
    return models["model"]


def _needed(names: tuple[str, ...], spec: ModelSpec) -> list[str]:
    """The trained models behind ``names`` (late fusion stands on the unimodal models of ``spec``'s modalities)."""
    return [m for m in TRAINED if m in names or (m in spec.modalities and "late_fusion" in names)]


def train_models(names: tuple[str, ...], train: Split, val: Split | None, spec: ModelSpec, cfg: TrainConfig, *,
                 split: int = 0, folder: str | os.PathLike | None = None, checkpoint_every: float = 30.0,
                 on_epoch: Callable[[str, dict], None] | None = None, late_weight: float | None = None,
                 info: dict | None = None, stop_after: int | None = None) -> dict[str, nnx.Module]:
    """Train the models ``names`` (``late_fusion`` trains the unimodal model of each of
    ``spec``'s modalities and combines them) on ``train``, validating on ``val``. With ``folder``, finished models are saved
    there and loaded instead of trained again, and an unfinished one resumes from its last
    saved state (written every ``checkpoint_every`` seconds). ``on_epoch(model_name, record)``
    follows training. ``late_weight``: the late-fusion weight to use instead of choosing it on
    ``val`` (a sequence of weights, one per modality of ``spec``). ``info`` (a dict) receives each trained model's ``{"epochs", "best_epoch"}``
    (epochs run, and the epoch early stopping kept; 0 without early stopping). ``stop_after``:
    stop after this many epochs on the schedule of ``cfg.epochs`` (see :func:`fit`)."""
    need = _needed(names, spec)
    folder = Path(folder) if folder is not None else None
    out: dict[str, nnx.Module] = {}
    for name in need:
        model = build_model(name, spec, seed=model_seed(cfg.seed, split, name))
        final = folder / f"{name}.msgpack" if folder else None
        if final is not None and final.is_file():
            meta = _load_weights(final, model, spec)
            done = {"epochs": meta.get("epochs", cfg.epochs), "best_epoch": meta.get("best_epoch", 0)}
        else:
            model.fit_inputs(train.inputs, train.mask, train.y)
            resume = folder / f"{name}.resume.msgpack" if folder else None
            _, progress = fit(model, train, val, cfg, n_classes=spec.n_classes, stream=(split, STREAMS[name]),
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
        unimodal = {m: out[m] for m in spec.modalities}
        out["late_fusion"] = late_fusion(unimodal, val, cfg, folder, weights=late_weight)
    return {m: out[m] for m in names}


def late_fusion(models: dict[str, nnx.Module], val: Split | None, cfg: TrainConfig,
                folder: Path | None = None, *, weights=None) -> LateFusion:
    """The weighted average of the unimodal ``models`` (``{modality: model}``), its weights
    given, or chosen on ``val`` (equal without a validation split; each validation video fused
    with the modalities it has, as the fused model will fuse it); saved to / read from
    ``folder/late_fusion.json``."""
    names = tuple(m for m in MODALITIES if m in models)
    path = folder / "late_fusion.json" if folder else None
    chosen_by = f"validation {cfg.select_by}"
    if path is not None and path.is_file():
        weights = read_late_weights(path, names)
    elif weights is not None:
        chosen_by = "given (the mean of the cross-validation folds' weights)"
        weights = [float(w) for w in weights]
    elif val is not None and len(val):
        has = np.stack([present(np.asarray(val.mask)[..., index(m)]) for m in names], axis=1)  # as LateFusion sees it
        weights = choose_weights([probabilities(models[m], val) for m in names], np.asarray(val.y),
                                 lambda y, y_hat: selection_score(cfg.select_by, y, y_hat), has).tolist()
    else:
        weights = [1.0 / len(names)] * len(names)
    if path is not None and not path.is_file():
        atomic_write_json(path, {"weights": dict(zip(names, weights)), "chosen_by": chosen_by,
                                 **({"weight": weights[0]} if names == ("rppg", "face") else {})})
    return LateFusion(dict(models), weights)


def read_late_weights(path: Path, names: tuple[str, ...]) -> list[float]:
    """The weights of ``names`` in a ``late_fusion.json``, checked to be numbers in [0, 1]
    adding up to 1. A file written before voice holds ``weight``: the pulse model's of two."""
    try:
        saved = json.loads(Path(path).read_text())
        if "weights" in saved:
            weights = [saved["weights"][m] for m in names]
        elif names == ("rppg", "face"):
            weights = [saved["weight"], None]
        else:
            raise KeyError(f"weights of {list(names)}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    for w in weights:
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0):
            raise CheckpointError(f"{path}: a late-fusion weight must be a number in [0, 1], not {w!r}")
    if weights[-1] is None:
        weights[-1] = 1.0 - weights[0]
    if abs(sum(weights) - 1.0) > 1e-6:
        raise CheckpointError(f"{path}: the late-fusion weights {weights} do not add up to 1")
    return [float(w) for w in weights]


def load_models(folder: str | os.PathLike, spec: ModelSpec, names: tuple[str, ...]) -> dict[str, nnx.Module]:
    """The finished models ``names`` of one split folder (shapes checked against ``spec``)."""
    folder = Path(folder)
    need = _needed(names, spec)
    out = {}
    for name in need:
        path = folder / f"{name}.msgpack"
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the run {UNFINISHED}")
        out[name] = _restore(path, name, spec)
        out[name].eval()
        # committed to the devices as training leaves a model: restored arrays are uncommitted,
        # and jit keys on that, so the first prediction would otherwise compile twice
        data_parallel().replicate(out[name])
    if "late_fusion" in names:
        if not (folder / "late_fusion.json").is_file():
            raise CheckpointError(f"{folder / 'late_fusion.json'}: missing; the run {UNFINISHED}")
        out["late_fusion"] = late_fusion({m: out[m] for m in spec.modalities}, None, TrainConfig(), folder)
        data_parallel().replicate(out["late_fusion"])        # its weights too
    return {m: out[m] for m in names}
