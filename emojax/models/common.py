"""Pieces every model shares: fixed input statistics, masked pooling, the model interface.

Every model is called as ``model(inputs, mask) -> logits``: ``inputs`` a tuple with one array
``(N, T, C_m)`` per modality in ``emojax.features.modalities.MODALITIES`` order (rppg, face,
voice; a modality the run does not use has ``C_m = 0``), ``mask (N, T, M)`` for each frame and
modality whether it was observed. A model reads only its own modalities (``model.modalities``);
a model none of whose modalities a video has answers with its training classes' frequencies
(``prior``), the answer of a model that knows nothing about the video.

Every model is also three stages, so that explanations can reuse the expensive first layer
(``emojax.explain``): ``standardise`` (each modality by the training statistics, missing
values exactly 0; a tuple in MODALITIES order, None for a modality the model ignores),
``first`` (the first layer: affine in the standardised inputs) and ``rest`` (everything after
it, which sees ``mask`` for pooling). ``model(x, m)`` is ``rest(first(standardise(x, valid(m))), m)``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..features.modalities import MODALITIES, index


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


def valid(mask) -> tuple:
    """Each modality's validity ``(N, T)`` from ``mask (N, T, M)``, in MODALITIES order."""
    return tuple(mask[..., i] for i in range(len(MODALITIES)))


class Staged(nnx.Module):
    """A model as ``standardise -> first (affine) -> rest``; subclasses define the three,
    ``modalities`` (the ones it reads, in MODALITIES order) and ``reach``: how many frames
    either side of an output frame ``first`` reads (0: each frame on its own; None: every
    frame, as a flatten layer does)."""

    reach: int | None = None
    modalities: tuple[str, ...] = ()

    def fit_inputs(self, inputs, mask, y=None) -> None:
        """Set the input standardisation (and, given labels ``y``, the prior) from the training videos."""
        raise NotImplementedError

    def standardise(self, inputs, valid):
        """Standardised inputs, one per modality (MODALITIES order); ``None`` for one the model ignores.
        ``valid``: one ``(N, T)`` (per frame) or ``(N, T, C)`` (per value) per modality."""
        raise NotImplementedError

    def first(self, z):
        """The first layer's pre-activations (a tuple of arrays), affine in ``z``."""
        raise NotImplementedError

    def rest(self, pre, mask):
        """Logits from the first layer's pre-activations."""
        raise NotImplementedError

    def __call__(self, inputs, mask):
        return self.rest(self.first(self.standardise(inputs, valid(mask))), mask)


class Unimodal(Staged):
    """A model of one modality (``self.modality``): one ``norm``, one ``prior``."""

    modality: str = ""

    def fit_inputs(self, inputs, mask, y=None) -> None:
        """Set the input standardisation (and the prior, given ``y``) from the training videos."""
        i = index(self.modality)
        self.norm.fit(inputs[i], mask[..., i])
        if y is not None:
            self.prior.fit(y)

    def standardise(self, inputs, valid):
        i = index(self.modality)
        return tuple(self.norm(inputs[i], valid[i]) if k == i else None for k in range(len(MODALITIES)))

    def own(self, mask):
        """``(N, T)``: the frames of this model's modality."""
        return mask[..., index(self.modality)]


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
