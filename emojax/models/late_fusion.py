"""``LateFusion``: a weighted average of the two unimodal models' class probabilities
(Kumar & Li 2023), the weight chosen on the validation split; a video without one modality
takes the other model's probabilities alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .common import FACE, RPPG, Stat, Staged, present

#: candidate weights of the rPPG model tried on the validation split
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


class LateFusion(Staged):
    """``p = w * p_rppg + (1 - w) * p_face`` (``w`` 1 for a video without landmarks, 0 for
    one without a pulse); returns ``log p`` so that ``softmax`` of the output
    is ``p``, like every other model's logits."""

    def __init__(self, rppg_model: nnx.Module, face_model: nnx.Module, weight: float = 0.5):
        self.rppg = rppg_model
        self.face = face_model
        self.weight = Stat(jnp.asarray(weight, jnp.float32))
        self.reach = max(rppg_model.reach, face_model.reach)

    def standardise(self, rppg, face, rppg_valid, face_valid):
        return (self.rppg.standardise(rppg, face, rppg_valid, face_valid)[0],
                self.face.standardise(rppg, face, rppg_valid, face_valid)[1])

    def first(self, z_rppg, z_face):
        return self.rppg.first(z_rppg, None), self.face.first(None, z_face)

    def rest(self, pre, mask):
        has_r, has_f = present(mask[..., RPPG]), present(mask[..., FACE])
        w = jnp.where(has_r & has_f, self.weight[...], jnp.where(has_r, 1.0, 0.0))[:, None]
        p = (w * jax.nn.softmax(self.rppg.rest(pre[0], mask))
             + (1 - w) * jax.nn.softmax(self.face.rest(pre[1], mask)))
        return jnp.log(jnp.maximum(p, 1e-30))


def choose_weight(p_rppg: np.ndarray, p_face: np.ndarray, y: np.ndarray, score) -> float:
    """The grid weight whose fused validation probabilities score best. A small validation
    split ties many weights; ties go to the one whose fused probabilities give the true
    classes the most likelihood (a model at chance then gets little say), then to the one
    closest to 0.5."""
    fused = [w * p_rppg + (1 - w) * p_face for w in WEIGHT_GRID]
    scores = [score(y, p.argmax(axis=1)) for p in fused]
    best = max(scores)
    rows = np.arange(len(y))
    loss = [float(-np.log(np.maximum(p[rows, y], 1e-12)).mean()) for p in fused]
    ties = [k for k, s in enumerate(scores) if s == best]
    k = min(ties, key=lambda k: (round(loss[k], 9), abs(WEIGHT_GRID[k] - 0.5)))
    return float(WEIGHT_GRID[k])
