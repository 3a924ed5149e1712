"""Early fusion: the run's modalities joined frame by frame before any learning.

- ``EarlyFusion``: the paper's network (Kumar & Li 2023, Fig. 2): concatenate the rPPG and
  landmark features (and the voice's, in a run that has it) of each frame, flatten the whole
  sequence, then 512 -> 256 -> classes.
- ``TemporalFusion``: the improved one - the per-frame concatenation goes through residual
  1-D convolutions over time and is pooled over the real frames (mean and spread), so it
  does not depend on where in the clip something happens and needs ~100x fewer weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..features.modalities import MODALITIES, index
from .common import InputNorm, Prior, Staged, masked_mean_std, present


def _order(channels: dict[str, int]) -> tuple[str, ...]:
    """The modalities of ``channels`` (those with any), in MODALITIES order; at least one."""
    names = tuple(m for m in MODALITIES if channels.get(m, 0) > 0)
    if not names or set(channels) - set(MODALITIES):
        raise ValueError(f"a fusion model needs channels of known modalities {list(MODALITIES)}, got {channels}")
    return names


class _Fused(Staged):
    """Every modality of ``channels`` standardised with its own statistics over its own valid
    frames (``<modality>_norm``)."""

    def __init__(self, channels: dict[str, int], n_classes: int):
        self.modalities = _order(channels)
        self.widths = tuple(int(channels[m]) for m in self.modalities)
        for m, c in zip(self.modalities, self.widths):
            setattr(self, f"{m}_norm", InputNorm(c))
        self.prior = Prior(n_classes)

    def _at(self) -> tuple[int, ...]:
        return tuple(index(m) for m in self.modalities)

    def fit_inputs(self, inputs, mask, y=None) -> None:
        """Set the input standardisation of every modality (and the prior, given ``y``) from
        the training videos."""
        for m, i in zip(self.modalities, self._at()):
            getattr(self, f"{m}_norm").fit(inputs[i], mask[..., i])
        if y is not None:
            self.prior.fit(y)

    def standardise(self, inputs, valid):
        out = [None] * len(MODALITIES)
        for m, i in zip(self.modalities, self._at()):
            out[i] = getattr(self, f"{m}_norm")(inputs[i], valid[i])
        return tuple(out)

    def own(self, z) -> list:
        """This model's entries of a per-modality tuple, in order."""
        return [z[i] for i in self._at()]


class EarlyFusion(_Fused):
    """``(inputs, mask) -> logits``: per frame ``[rppg | face | voice]`` (the run's modalities, in
    MODALITIES order), flattened over the whole sequence; ``T`` is fixed at construction."""

    def __init__(self, channels: dict[str, int], length: int, n_classes: int, *,
                 hidden: tuple[int, int] = (512, 256), dropout: float = 0.0, rngs: nnx.Rngs):
        super().__init__(channels, n_classes)
        self.length = length
        self.reach = None                 # the first layer reads every frame
        self.fc1 = nnx.Linear(length * sum(self.widths), hidden[0], rngs=rngs)
        self.fc2 = nnx.Linear(hidden[0], hidden[1], rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(hidden[1], n_classes, rngs=rngs)

    def fit_inputs(self, inputs, mask, y=None) -> None:
        """Set the input standardisation (and the prior, given ``y``) from the training videos,
        and size ``fc1`` to what they have: its weights for a frame and modality no training
        video has (beyond the longest, or missing in all) are zero, and the others are rescaled
        to the initialisation of a layer of that many inputs. Training never changes a zero
        weight (its input is always 0), so a longer video is cut where the training videos end,
        as prediction cuts a video longer than the run's length."""
        super().fit_inputs(inputs, mask, y)
        seen = np.asarray(mask, bool).any(axis=0)                       # (T, M)
        cols = np.concatenate([np.repeat(seen[:, [i]], c, axis=1) for i, c in zip(self._at(), self.widths)], axis=1)
        if not cols.any() or cols.all():
            return
        kernel = np.asarray(self.fc1.kernel[...]).reshape(self.length, cols.shape[1], self.fc1.out_features)
        kernel = np.where(cols[..., None], kernel * np.sqrt(cols.size / cols.sum()), 0.0)
        self.fc1.kernel[...] = jnp.asarray(kernel.reshape(self.fc1.kernel.shape), self.fc1.kernel.dtype)

    def frames_read(self) -> int:
        """How many frames from the start ``fc1`` reads (the last frame with a weight, plus one)."""
        k = np.asarray(self.fc1.kernel[...]).reshape(self.length, -1)
        nz = np.flatnonzero(np.abs(k).max(axis=1) > 0)
        return int(nz[-1]) + 1 if len(nz) else 0

    def first(self, z):
        """``fc1`` over the flattened sequence of per-frame rows of the model's modalities."""
        x = jnp.concatenate(self.own(z), axis=-1)
        return (self.fc1(x.reshape(x.shape[0], -1)),)

    def rest(self, pre, mask):
        h = jax.nn.relu(pre[0])
        h = jax.nn.relu(self.fc2(self.drop(h)))
        return self.prior(self.head(self.drop(h)), present(mask[..., self._at()].any(axis=-1)))


class ModalityDropout(nnx.Module):
    """In training, drops at most one modality of a clip: with probability ``rate`` each of the
    M modalities' embeddings (one uniform draw per clip picks which, so never two), and never
    a clip's only modality. A kept embedding that could have been dropped is scaled by
    ``1 / (1 - rate)``, so its expectation is unchanged. In evaluation (``deterministic``) all
    pass untouched."""

    def __init__(self, rate: float, *, rngs: nnx.Rngs, modalities: int = 2):
        if not 0.0 <= rate <= 1.0 / max(modalities, 2):
            raise ValueError(f"modality dropout rate must be in [0, 1/{max(modalities, 2)}] for {modalities} "
                             f"modalities, got {rate}")
        self.rate = rate
        self.deterministic = False
        self.rngs = rngs["dropout"].fork()

    def __call__(self, parts, has):
        """``parts``: each modality's embeddings ``(N, T, H)`` of the clips; ``has``: ``(N,)`` per
        modality, the clip has it. Returns the parts, at most one of each clip zeroed."""
        if self.deterministic or self.rate == 0.0:
            return list(parts)
        u = jax.random.uniform(self.rngs(), (parts[0].shape[0], 1, 1))
        several = (sum(h.astype(jnp.int32) for h in has) >= 2)[:, None, None]
        keep = jnp.where(several, 1.0 / (1.0 - self.rate), 1.0)
        return [jnp.where(several & (u >= k * self.rate) & (u < (k + 1) * self.rate), 0.0, p * keep) if k else
                jnp.where(several & (u < self.rate), 0.0, p * keep) for k, p in enumerate(parts)]


#: how TemporalFusion joins the two modalities of a frame
EMBEDDINGS = ("each", "joint")


class TemporalFusion(_Fused):
    """``(inputs, mask) -> logits`` for any ``T``, over the modalities of ``channels``.

    ``embed="each"``: each frame's channels of each modality are first embedded separately to
    the same width (``hidden // M``, so the 3 pulse channels are not drowned by the 272 landmark
    channels) and concatenated; ``"joint"``: one dense layer over the raw concatenation (written
    as the sum of a dense layer per modality, the first one holding the bias). Each modality's
    part is zero where it was not observed. Then a convolution and a residual convolution over
    time, mean/std pooling over the frames with any modality, a dense layer and the classifier.
    A clip without some modality is read from the others; in training, modality dropout zeroes
    one modality's embedding of a whole clip at a time (never two, never a clip's only one:
    ``ModalityDropout``), so that no modality can be ignored and each can stand alone.
    """

    def __init__(self, channels: dict[str, int], n_classes: int, *, hidden: int = 64,
                 kernel: int = 5, dropout: float = 0.2, modality_dropout: float = 0.25, embed: str = "each",
                 rngs: nnx.Rngs):
        if embed not in EMBEDDINGS:
            raise ValueError(f"unknown embedding {embed!r}; choose one of {EMBEDDINGS}")
        super().__init__(channels, n_classes)
        self.joint = embed == "joint"
        width = hidden if self.joint else hidden // len(self.modalities)
        for k, (m, c) in enumerate(zip(self.modalities, self.widths)):
            setattr(self, f"{m}_in", nnx.Linear(c, width, use_bias=not self.joint or k == 0, rngs=rngs))
        self.modality_drop = ModalityDropout(modality_dropout, modalities=len(self.modalities), rngs=rngs)
        self.reach = 0                    # the first layer reads each frame on its own
        self.conv1 = nnx.Conv(hidden if self.joint else width * len(self.modalities), hidden,
                              kernel_size=(kernel,), rngs=rngs)
        self.conv2 = nnx.Conv(hidden, hidden, kernel_size=(kernel,), rngs=rngs)
        self.fc = nnx.Linear(2 * hidden, hidden, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def first(self, z):
        return tuple(getattr(self, f"{m}_in")(x) for m, x in zip(self.modalities, self.own(z)))

    def rest(self, pre, mask):
        ms = [mask[..., i] for i in self._at()]
        frames = ms[0]
        for m in ms[1:]:
            frames = frames | m
        has = [present(m) for m in ms]
        if self.joint:       # the one bias (the first modality's) stays on every frame with any modality
            bias = jnp.where(frames[..., None], getattr(self, f"{self.modalities[0]}_in").bias[...], 0.0)
            parts = [jnp.where(ms[0][..., None], pre[0], bias)] + [p * m[..., None] for p, m in zip(pre[1:], ms[1:])]
            parts = self.modality_drop(parts, has)
            x = parts[0]
            for p in parts[1:]:
                x = x + p
            x = jax.nn.relu(x)
        else:
            parts = self.modality_drop([jax.nn.relu(p) * m[..., None] for p, m in zip(pre, ms)], has)
            x = jnp.concatenate(parts, axis=-1)
        h = jax.nn.relu(self.conv1(x))
        h = jax.nn.relu(self.conv2(h) + h)
        z = jax.nn.relu(self.fc(self.drop(masked_mean_std(h, frames))))
        return self.prior(self.head(self.drop(z)), present(frames))
