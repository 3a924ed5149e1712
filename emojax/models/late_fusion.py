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
        w = [free[k] for k in range(free.shape[0])]
        w.append(1 - sum(w[1:], w[0]) if len(w) > 1 else 1 - w[0])
        has = [present(mask[..., index(m)]) for m in self.modalities]
        every = has[0]
        for h in has[1:]:
            every = every & h
        total = sum((wk * h for wk, h in zip(w[1:], has[1:])), w[0] * has[0])
        count = sum((h.astype(jnp.float32) for h in has[1:]), has[0].astype(jnp.float32))
        eff = [jnp.where(every, wk, jnp.where(total > 0, wk * h / jnp.where(total > 0, total, 1.0),
                                              jnp.where(count > 0, h / jnp.maximum(count, 1.0), 1.0 / len(w))))
               for wk, h in zip(w, has)]
        probs = [jax.nn.softmax(model.rest(p, mask)) for model, p in zip(self.models(), pre)]
        p = sum((e[:, None] * q for e, q in zip(eff[1:], probs[1:])), eff[0][:, None] * probs[0])
        return jnp.log(jnp.maximum(p, 1e-30))


def weight_grid(n: int) -> np.ndarray:
    """``(G, n)`` candidate weights on the simplex: for two models ``(w, 1 - w)`` over
    :data:`WEIGHT_GRID`; for more, every point with coordinates in steps of 1 / SIMPLEX_STEPS."""
    if n == 2:
        return np.stack([WEIGHT_GRID, 1 - WEIGHT_GRID], axis=1)
    points = [c for c in itertools.product(range(SIMPLEX_STEPS + 1), repeat=n - 1) if sum(c) <= SIMPLEX_STEPS]
    return np.array([[*c, SIMPLEX_STEPS - sum(c)] for c in points], np.float64) / SIMPLEX_STEPS


def choose_weights(probas: Sequence[np.ndarray], y: np.ndarray, score) -> np.ndarray:
    """The grid weights (:func:`weight_grid`) whose fused validation probabilities score best
    (``probas``: each model's ``(N, K)``, the validation split only). A small validation split
    ties many weights; ties go to the ones whose fused probabilities give the true classes the
    most likelihood (a model at chance then gets little say), then to the ones closest to equal
    weights. For two models this is the paper's grid search over one weight, unchanged."""
    grid = weight_grid(len(probas))
    fused = [sum((w[k] * p for k, p in enumerate(probas) if k), w[0] * probas[0]) for w in grid]
    scores = [score(y, p.argmax(axis=1)) for p in fused]
    best = max(scores)
    rows = np.arange(len(y))
    loss = [float(-np.log(np.maximum(p[rows, y], 1e-12)).mean()) for p in fused]
    ties = [k for k, s in enumerate(scores) if s == best]
    centre = (np.abs(grid[:, 0] - 0.5) if len(probas) == 2
              else np.round(np.abs(grid - 1.0 / len(probas)).sum(axis=1), 9))
    k = min(ties, key=lambda k: (round(loss[k], 9), centre[k]))
    return grid[k]
