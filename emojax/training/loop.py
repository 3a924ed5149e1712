"""Training one model: jit-compiled steps (buffers donated), fixed-shape batches, validation
each epoch, early stopping, and a resume checkpoint every so often.

Every step sees a batch of the same shape (the last one padded, with weight 0), and models
trained alike share one optimiser update rule (:func:`make_optimizer`), so a step is compiled
once per architecture, batch size and update rule: the learning rate and weight decay, and with
the cosine schedule the epochs, warm-up and batches an epoch (a fold with another number of
batches compiles its own).
Steps run data-parallel over every visible device (``devices.py``): the rows of a batch split
over them, the parameters and optimizer state replicated.

Determinism: the shuffling of epoch ``e`` comes from ``default_rng([seed, stream, e])`` and
dropout from the model's own ``nnx.Rngs`` (saved in the checkpoint), so a resumed run repeats
an uninterrupted one bit for bit.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy.special import log_softmax
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from ..features.modalities import MODALITIES
from . import checkpoint
from .config import TrainConfig
from .devices import data_parallel

EVAL_BATCH = 256
#: validation scores a run can select by (TrainConfig.select_by)
SELECTORS = {"uar": balanced_accuracy_score, "accuracy": accuracy_score}


def selection_score(select_by: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The validation score ``select_by`` (quiet about classes a small split lacks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(SELECTORS[select_by](y_true, y_pred))


@dataclass
class Split:
    """Model inputs of some videos and their integer labels (``y`` may be None to predict):
    ``inputs`` one array ``(N, T, C_m)`` per modality in MODALITIES order (``C_m`` 0 for a
    modality the run does not use), ``mask (N, T, M)``."""

    inputs: tuple
    mask: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.mask)

    @classmethod
    def of(cls, arrays: dict, idx: np.ndarray | None = None, y: np.ndarray | None = None) -> "Split":
        """Rows ``idx`` of ``to_arrays``-style ``arrays`` (a modality missing from them: 0 channels)."""
        n, t = arrays["mask"].shape[:2]
        idx = np.arange(n) if idx is None else np.asarray(idx)
        inputs = tuple(np.asarray(arrays[m])[idx] if m in arrays else np.zeros((len(idx), t, 0), np.float32)
                       for m in MODALITIES)
        return cls(inputs, np.asarray(arrays["mask"])[idx], None if y is None else np.asarray(y)[idx])

    def batch(self, idx: np.ndarray) -> tuple:
        """The inputs of rows ``idx`` (a padding row, index -1, is all zeros and masked): one
        array per modality, then the mask."""
        real = idx >= 0
        rows = np.where(real, idx, 0)
        return (*(np.where(real[:, None, None], x[rows], 0) for x in self.inputs),
                self.mask[rows] & real[:, None, None])


def _loss(model, inputs, mask, y, w):
    logits = model(inputs, mask)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return (ce * w).sum() / jnp.maximum(w.sum(), 1e-12), logits


@nnx.jit(donate_argnums=(0, 1))
def train_step(model, optimizer, *arrays):
    """One optimiser step on a batch ``(*inputs, mask, y, w)`` (one input per modality); rows
    with weight 0 are padding. The model's and the optimizer's buffers are donated (updated in
    place). Returns the weighted loss and the number of correct real rows."""
    *inputs, mask, y, w = arrays
    (loss, logits), grads = nnx.value_and_grad(_loss, has_aux=True)(model, tuple(inputs), mask, y, w)
    optimizer.update(model, grads)
    return loss, ((logits.argmax(-1) == y) & (w > 0)).sum()


@nnx.jit
def eval_step(model, *arrays):
    """Logits of a batch ``(*inputs, mask)``."""
    *inputs, mask = arrays
    return model(tuple(inputs), mask)


@partial(jax.jit, static_argnums=0)
def _pure_eval_step(graphdef, state, *arrays):
    """``eval_step`` on a model given as its (graph, state) split: the caller's module is only
    read, never written back (``nnx.jit`` updates its argument in place after each call, so two
    threads predicting with one shared model, as the dashboard's visitors do, broke each other)."""
    *inputs, mask = arrays
    return nnx.merge(graphdef, state)(tuple(inputs), mask)


def _batches(n: int, size: int) -> list[np.ndarray]:
    """Index batches of exactly ``size`` (the last padded with -1) so every step has one shape."""
    out = []
    for s in range(0, n, size):
        b = np.arange(s, min(s + size, n))
        out.append(np.pad(b, (0, size - len(b)), constant_values=-1))
    return out


def predict_logits(model: nnx.Module, split: Split, batch: int = EVAL_BATCH, *,
                   step: Callable | None = None) -> np.ndarray:
    """Logits ``(N, K)`` of every video in ``split`` (the model in eval mode). Batches are
    padded to a power of two (at most ``batch``), so few shapes are ever compiled. ``step``:
    ``eval_step`` with the model bound by ``nnx.cached_partial`` (a training loop's). Without
    it the model is only read, so that threads may share it."""
    if step is None:
        model.eval()                 # idempotent: a model already in eval mode is left as it is
        step = partial(_pure_eval_step, *nnx.split(model))
    dp = data_parallel()
    batches = [dp.pad(b) for b in _batches(len(split), min(batch, 1 << max(len(split) - 1, 0).bit_length()))]
    out = [step(*dp.put(*split.batch(b))) for b in batches]  # all dispatched before the first is read
    return np.concatenate([np.asarray(o)[b >= 0] for o, b in zip(out, batches)])


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights with mean 1 over the samples (scikit-learn's "balanced"; a
    class absent from ``y``, which a run refuses anyway, gets 0)."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    out = np.zeros(n_classes)
    out[present] = compute_class_weight("balanced", classes=present, y=y)
    return out


def learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning rate of optimiser step ``t`` (counted from 0): ``cfg.learning_rate``, or
    with the cosine schedule a linear warm-up then a cosine decay to 0 spread over
    ``cfg.epochs`` epochs of ``steps_per_epoch`` steps, whatever epoch training stops at (so
    the rate after ``e`` epochs depends on ``e / cfg.epochs`` only, not on the steps per epoch)."""
    if cfg.schedule != "cosine":
        return lambda t: cfg.learning_rate
    return _cosine(cfg.learning_rate, cfg.epochs, cfg.warmup_epochs, steps_per_epoch)


def _cosine(peak: float, epochs: int, warmup_epochs: int, steps_per_epoch: int) -> optax.Schedule:
    total = epochs * steps_per_epoch
    warmup = min(warmup_epochs * steps_per_epoch, total // 2)  # a short run still decays
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, max(total, warmup + 1))


def make_optimizer(model: nnx.Module, cfg: TrainConfig, steps_per_epoch: int) -> nnx.Optimizer:
    """``model``'s own optimiser (its own state), with the update rule of ``cfg`` shared by every
    model trained alike."""
    timing = (cfg.epochs, cfg.warmup_epochs, steps_per_epoch) if cfg.schedule == "cosine" else (0, 0, 0)
    return nnx.Optimizer(model, _transform(cfg.learning_rate, cfg.schedule, *timing, cfg.weight_decay),
                         wrt=nnx.Param)


@lru_cache(maxsize=None)   # never evicted: JAX's caches keep a dropped rule alive, and a new one compiles again
def _transform(peak: float, schedule: str, epochs: int, warmup_epochs: int, steps_per_epoch: int,
               weight_decay: float) -> optax.GradientTransformation:
    """The optimiser's update rule, one object per setting. It is part of the compiled training
    step's static key, compared by identity: a new one for every model trained compiled the step
    again each time, and the process kept every compiled copy (about 300 memory maps a model; a
    process training 20 runs reached the system's 65,530 and its compiler failed). Built once per
    setting, models trained alike share one compiled step."""
    lr = _cosine(peak, epochs, warmup_epochs, steps_per_epoch) if schedule == "cosine" else peak
    return optax.adamw(lr, weight_decay=weight_decay) if weight_decay else optax.adam(lr)


@dataclass
class Progress:
    """Where a model's training is (saved in its resume checkpoint)."""

    epoch: int = 0                  # epochs completed
    best_score: float = -1.0        # best validation score (TrainConfig.select_by) so far
    best_epoch: int = 0
    stopped: bool = False           # early stopping fired
    history: list = field(default_factory=list)


def fit(model: nnx.Module, train: Split, val: Split | None, cfg: TrainConfig, *, n_classes: int,
        stream: tuple[int, ...] = (), resume: str | os.PathLike | None = None, checkpoint_every: float = 30.0,
        on_epoch: Callable[[dict], None] | None = None, stop_after: int | None = None) -> tuple[nnx.Module, Progress]:
    """Train ``model`` in place on ``train``; evaluate on ``val`` after every epoch.

    Args:
        stream: integers (fold, model index) that, with the seed, pick this model's shuffling.
        stop_after: stop after this many epochs, the learning-rate schedule still the one of
            ``cfg.epochs`` (a final model stopped where cross-validation chose, on the folds' schedule).
        resume: checkpoint path read (if present) first, and written at the end of an epoch
            once ``checkpoint_every`` seconds have passed since the last write (0: every epoch;
            the paper's early fusion carries ~200 MB of weights and optimizer state).
        on_epoch: called with each epoch's record (loss, accuracy, validation UAR..., and ``lr``:
            the learning rate the schedule has reached when the epoch ends).
    Returns the model (the best validation epoch's weights when early stopping is on) and
    its progress record.
    """
    n = len(train)
    y = np.asarray(train.y)
    w_class = class_weights(y, n_classes) if cfg.class_weights else np.ones(n_classes)
    dp = data_parallel()                      # every device: rows split, state replicated
    batches = [dp.pad(b) for b in _batches(n, cfg.batch_size)]
    optimizer = make_optimizer(model, cfg, len(batches))
    rate = learning_rate(cfg, len(batches))
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    progress, best = Progress(), None
    if resume is not None and Path(resume).is_file():
        saved = checkpoint.load_into(resume, {"model": model, "optimizer": optimizer})
        progress = Progress(**saved["meta"]["progress"])
        best = saved["nodes"].get("best")
    dp.replicate(model, optimizer)
    last_save = time.monotonic()
    # the steps with model and optimizer bound once (nnx.cached_partial skips nnx.jit's graph
    # traversal on every call); the bound copies share the variables, each keeps its mode
    model.train()
    step = nnx.cached_partial(train_step, model, optimizer)
    model.eval()
    evaluate = nnx.cached_partial(eval_step, model)
    while progress.epoch < last and not progress.stopped:
        t0 = time.perf_counter()
        order = np.random.default_rng([cfg.seed, *stream, progress.epoch]).permutation(n)
        outs, counts = [], []  # fetched when the epoch ends: steps dispatch without waiting
        for b in batches:
            real = b >= 0
            idx = np.where(real, order[np.maximum(b, 0)], -1)
            yb = np.where(real, y[idx], 0)
            wb = np.where(real, w_class[yb], 0.0).astype(np.float32)
            outs.append(step(*dp.put(*train.batch(idx), yb, wb)))
            counts.append(real.sum())
        losses, oks = np.asarray(jax.device_get(outs), np.float64).T
        loss_sum, correct = (losses * counts).sum(), oks.sum()
        rec = {"epoch": progress.epoch + 1, "train_loss": float(loss_sum / n), "train_acc": float(correct / n),
               "lr": float(rate((progress.epoch + 1) * len(batches)))}
        if val is not None and len(val):
            logits = predict_logits(model, val, step=evaluate)
            yv = np.asarray(val.y)
            rec["val_loss"] = float(-log_softmax(logits.astype(np.float64), axis=1)[np.arange(len(yv)), yv].mean())
            rec["val_acc"] = float((logits.argmax(1) == yv).mean())
            rec["val_uar"] = selection_score("uar", yv, logits.argmax(1))
            score = rec["val_uar"] if cfg.select_by == "uar" else rec["val_acc"]
            if cfg.patience and score > progress.best_score:
                progress.best_score, progress.best_epoch, best = score, rec["epoch"], checkpoint.pure_state(model)
        rec["seconds"] = time.perf_counter() - t0
        progress.epoch += 1
        progress.history.append(rec)
        if cfg.patience and progress.epoch - progress.best_epoch >= cfg.patience:
            progress.stopped = True
        if on_epoch is not None:  # before the checkpoint: a kill in between repeats the epoch, never skips it
            on_epoch(rec)
        more = progress.epoch < last and not progress.stopped  # else the caller saves the result
        if resume is not None and more and time.monotonic() - last_save >= checkpoint_every:
            last_save = time.monotonic()
            nodes = {"model": model, "optimizer": optimizer, **({"best": best} if best is not None else {})}
            checkpoint.save(resume, nodes, {"progress": progress.__dict__})
    if cfg.patience and best is not None:
        checkpoint.assign(model, best)
    model.eval()
    return model, progress
