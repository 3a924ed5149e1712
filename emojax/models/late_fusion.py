"""``LateFusion``: a weighted average of the run's unimodal models' class probabilities
(Kumar & Li 2023, for two), the weights on the simplex chosen on the validation split; a video
without some modality takes the other models' probabilities, their weights renormalised."""

from __future__ import annotations

import itertools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..features.modalities import MODALITIES, index
from .common import Stat, Staged, present

#: candidate weights of the first model tried on the validation split, for two models
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
#: the simplex grid's step for three models or more (1/20: the two-model grid's step; 231 points for three)
SIMPLEX_STEPS = 20


class LateFusion(Staged):
    """``p = sum_m w_m p_m`` over the unimodal models (in MODALITIES order; weights on the
    simplex). A video lacking some models' modalities takes the others' probabilities, their
    weights renormalised (equal if all of theirs are 0). Returns ``log p`` so that ``softmax``
    of the output is ``p``, like every other model's logits. The models are attributes named by
    their modality; ``weight`` holds the first M - 1 weights (the last is 1 minus their sum)."""

    def __init__(self, models: dict[str, nnx.Module], weights: Sequence[float] | None = None):
        self.modalities = tuple(m for m in MODALITIES if m in models)
        if len(self.modalities) < 2 or len(models) != len(self.modalities):
            raise ValueError(f"late fusion needs models of two or more modalities of {list(MODALITIES)}, "
                             f"got {sorted(models)}")
        for m in self.modalities:
            setattr(self, m, models[m])
        weights = np.full(len(self.modalities), 1.0 / len(self.modalities)) if weights is None else weights
        self.weight = Stat(jnp.asarray(np.asarray(weights, np.float64)[:-1], jnp.float32))
        self.reach = max(models[m].reach for m in self.modalities)

    def models(self) -> list:
        return [getattr(self, m) for m in self.modalities]

    def weights(self) -> dict[str, float]:
        """The weight of each modality's model."""
        w = np.asarray(self.weight[...], np.float64)
        return dict(zip(self.modalities, [*w.tolist(), float(1.0 - w.sum())]))

    def standardise(self, inputs, valid):
        out = [None] * len(MODALITIES)
        for m, model in zip(self.modalities, self.models()):
            out[index(m)] = model.standardise(inputs, valid)[index(m)]
        return tuple(out)

    def first(self, z):
        return tuple(model.first(z) for model in self.models())

    def rest(self, pre, mask):
        free = self.weight[...]
        w = jnp.concatenate([free, 1 - free.sum(keepdims=True)])
        has = jnp.stack([present(mask[..., index(m)]) for m in self.modalities], axis=1)
        probs = jnp.stack([jax.nn.softmax(model.rest(p, mask)) for model, p in zip(self.models(), pre)], axis=1)
        p = (present_weights(w, has)[:, :, None] * probs).sum(axis=1)
        return jnp.log(jnp.maximum(p, 1e-30))


def present_weights(weights, has, xp=jnp):
    """``(N, M)``: the weights each video's models get, given the weights ``(M,)`` and which
    models' modalities each video has, ``has (N, M)``: the weights as they are where every one
    is there; else those of the present ones renormalised (equal among them if theirs are all
    0; equal among all when none is there). The one rule for deployment (:class:`LateFusion`)
    and for choosing the weights (:func:`choose_weights`). ``xp``: ``jax.numpy``, or ``numpy``
    (in float64)."""
    w = xp.asarray(weights)
    has = xp.asarray(has, bool)
    h = has.astype(w.dtype)
    total = (w * h).sum(axis=-1, keepdims=True)
    count = h.sum(axis=-1, keepdims=True)
    every = has.all(axis=-1, keepdims=True)
    return xp.where(every, w, xp.where(total > 0, w * h / xp.where(total > 0, total, 1.0),
                                       xp.where(count > 0, h / xp.maximum(count, 1.0), 1.0 / w.shape[-1])))


def fuse(probas: Sequence[np.ndarray], weights, has: np.ndarray | None = None) -> np.ndarray:
    """``(N, K)`` the fused probabilities :class:`LateFusion` with ``weights`` gives videos whose
    models' probabilities are ``probas`` (each ``(N, K)``) and which have the models' modalities
    ``has (N, M)`` (None: every video has every one)."""
    p = np.stack([np.asarray(q, np.float64) for q in probas], axis=1)
    has = np.ones(p.shape[:2], bool) if has is None else np.asarray(has, bool)
    eff = present_weights(np.asarray(weights, np.float64), has, np)
    return (eff[:, :, None] * p).sum(axis=1)


def weight_grid(n: int) -> np.ndarray:
    """``(G, n)`` candidate weights on the simplex: for two models ``(w, 1 - w)`` over
    :data:`WEIGHT_GRID`; for more, every point with coordinates in steps of 1 / SIMPLEX_STEPS."""
    if n == 2:
        return np.stack([WEIGHT_GRID, 1 - WEIGHT_GRID], axis=1)
    points = [c for c in itertools.product(range(SIMPLEX_STEPS + 1), repeat=n - 1) if sum(c) <= SIMPLEX_STEPS]
    return np.array([[*c, SIMPLEX_STEPS - sum(c)] for c in points], np.float64) / SIMPLEX_STEPS


def choose_weights(probas: Sequence[np.ndarray], y: np.ndarray, score, has: np.ndarray | None = None) -> np.ndarray:
    """The grid weights (:func:`weight_grid`) whose fused validation probabilities score best
    (``probas``: each model's ``(N, K)``, the validation split only; ``has (N, M)``: which of
    the models' modalities each validation video has, None: all). Each video is fused as
    :class:`LateFusion` will fuse it (:func:`fuse`: an absent modality's weight dropped, the
    others renormalised), so the score chosen is the one the fused model gets. A small
    validation split ties many weights; ties go to the ones whose fused probabilities give the
    true classes the most likelihood (a model at chance then gets little say), then to the ones
    closest to equal weights. For two models this is the paper's grid search over one weight."""
    grid = weight_grid(len(probas))
    fused = [fuse(probas, w, has) for w in grid]
    scores = [score(y, p.argmax(axis=1)) for p in fused]
    best = max(scores)
    rows = np.arange(len(y))
    loss = [float(-np.log(np.maximum(p[rows, y], 1e-12)).mean()) for p in fused]
    ties = [k for k, s in enumerate(scores) if s == best]
    centre = (np.abs(grid[:, 0] - 0.5) if len(probas) == 2
              else np.round(np.abs(grid - 1.0 / len(probas)).sum(axis=1), 9))
    k = min(ties, key=lambda k: (round(loss[k], 9), centre[k]))
    return grid[k]
