"""Pieces every model shares: fixed input statistics, masked pooling, the model interface.

Every model is called as ``model(rppg, face, mask) -> logits`` with
``rppg (N, T, Cr)``, ``face (N, T, Cf)`` and ``mask (N, T, M)``: for each frame and modality
(``emojax.features.modalities.MODALITIES``) whether it was observed. A unimodal model ignores
the other modality; a model none of whose modalities a video has answers with its training
classes' frequencies (``prior``), the answer of a model that knows nothing about the video.

Every model is also three stages, so that explanations can reuse the expensive first layer
(``emojax.explain``): ``standardise`` (each modality by the training statistics, missing
values exactly 0), ``first`` (the first layer: affine in the standardised inputs) and ``rest``
(everything after it, which sees ``mask`` for pooling). ``model(r, f, m)`` is
``rest(first(*standardise(r, f, m[..., 0], m[..., 1])), m)``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..features.modalities import index

RPPG, FACE = index("rppg"), index("face")


class Stat(nnx.Variable):
    """A fixed statistic of the training inputs: saved with the weights, never trained."""


class InputNorm(nnx.Module):
    """Standardise each channel with the training set's mean and spread over real frames;
    padded and face-less frames stay exactly zero."""

    def __init__(self, channels: int):
        self.mean = Stat(jnp.zeros((channels,), jnp.float32))
        self.scale = Stat(jnp.ones((channels,), jnp.float32))

    def fit(self, x: np.ndarray, mask: np.ndarray) -> None:
        """Set the statistics from ``x (N, T, C)`` over the frames where ``mask`` is True."""
        rows = np.asarray(x, np.float64)[np.asarray(mask, bool)]
        if len(rows):
            sd = rows.std(axis=0)
            self.mean[...] = jnp.asarray(rows.mean(axis=0), jnp.float32)
            self.scale[...] = jnp.asarray(np.where(sd > 1e-8, sd, 1.0), jnp.float32)

    def __call__(self, x, valid):
        """``valid``: ``(N, T)`` per frame or ``(N, T, C)`` per value; invalid values become 0."""
        valid = valid if valid.ndim == x.ndim else valid[..., None]
        return jnp.where(valid, (x - self.mean[...]) / self.scale[...], 0.0)


class Staged(nnx.Module):
    """A model as ``standardise -> first (affine) -> rest``; subclasses define the three, and
    ``reach``: how many frames either side of an output frame ``first`` reads (0: each frame on
    its own; None: every frame, as a flatten layer does)."""

    reach: int | None = None

    def fit_inputs(self, rppg, face, mask, y=None) -> None:
        """Set the input standardisation (and, given labels ``y``, the prior) from the training videos."""
        raise NotImplementedError

    def standardise(self, rppg, face, rppg_valid, face_valid):
        """Standardised ``(z_rppg, z_face)``; ``None`` for a modality the model ignores."""
        raise NotImplementedError

    def first(self, z_rppg, z_face):
        """The first layer's pre-activations (a tuple of arrays), affine in ``z``."""
        raise NotImplementedError

    def rest(self, pre, mask):
        """Logits from the first layer's pre-activations."""
        raise NotImplementedError

    def __call__(self, rppg, face, mask):
        return self.rest(self.first(*self.standardise(rppg, face, mask[..., RPPG], mask[..., FACE])), mask)


class Prior(nnx.Module):
    """The log of the training classes' frequencies: what a model answers for a video that
    has none of the modalities it reads."""

    def __init__(self, n_classes: int):
        self.log_p = Stat(jnp.full((n_classes,), -np.log(n_classes), jnp.float32))

    def fit(self, y) -> None:
        k = self.log_p.shape[0]
        counts = np.bincount(np.asarray(y, int), minlength=k)[:k].astype(np.float64)
        if counts.sum() > 0:
            p = (counts + 1e-3) / (counts + 1e-3).sum()
            self.log_p[...] = jnp.asarray(np.log(p), jnp.float32)

    def __call__(self, logits, present):
        """``logits (N, K)`` where ``present (N,)``, the prior elsewhere."""
        return jnp.where(present[:, None], logits, self.log_p[...])


def present(mask):
    """``(N,)``: the video has at least one frame of the modality ``mask (N, T)`` describes."""
    return mask.any(axis=1)


def masked_mean(h, mask):
    """Mean over time of ``h (N, T, C)`` over the real frames (zeros when a clip has none)."""
    m = mask[..., None].astype(h.dtype)
    return (h * m).sum(axis=1) / jnp.maximum(m.sum(axis=1), 1.0)


def masked_mean_std(h, mask):
    """Mean and standard deviation over time, over real frames: ``(N, 2C)``."""
    mu = masked_mean(h, mask)
    var = masked_mean((h - mu[:, None, :]) ** 2, mask)
    return jnp.concatenate([mu, jnp.sqrt(var + 1e-6)], axis=-1)
