"""Early fusion: both modalities joined frame by frame before any learning.

- ``EarlyFusion``: the paper's network (Kumar & Li 2023, Fig. 2): concatenate the rPPG and
  landmark features of each frame, flatten the whole sequence, then 512 -> 256 -> classes.
- ``TemporalFusion``: the improved one - the per-frame concatenation goes through residual
  1-D convolutions over time and is pooled over the real frames (mean and spread), so it
  does not depend on where in the clip something happens and needs ~100x fewer weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .common import FACE, RPPG, InputNorm, Prior, Staged, masked_mean_std, present


class _Fused(Staged):
    """Both modalities standardised with their own statistics over their own valid frames."""

    def __init__(self, rppg_channels: int, face_channels: int, n_classes: int):
        self.rppg_norm = InputNorm(rppg_channels)
        self.face_norm = InputNorm(face_channels)
        self.prior = Prior(n_classes)

    def fit_inputs(self, rppg, face, mask, y=None) -> None:
        """Set the input standardisation of both modalities (and the prior, given ``y``) from
        the training videos."""
        self.rppg_norm.fit(rppg, mask[..., RPPG])
        self.face_norm.fit(face, mask[..., FACE])
        if y is not None:
            self.prior.fit(y)

    def standardise(self, rppg, face, rppg_valid, face_valid):
        return self.rppg_norm(rppg, rppg_valid), self.face_norm(face, face_valid)


class EarlyFusion(_Fused):
    """``(rppg (N, T, Cr), face (N, T, Cf), mask) -> logits``; ``T`` is fixed at construction."""

    def __init__(self, rppg_channels: int, face_channels: int, length: int, n_classes: int, *,
                 hidden: tuple[int, int] = (512, 256), dropout: float = 0.0, rngs: nnx.Rngs):
        super().__init__(rppg_channels, face_channels, n_classes)
        self.length = length
        self.reach = None                 # the first layer reads every frame
        self.fc1 = nnx.Linear(length * (rppg_channels + face_channels), hidden[0], rngs=rngs)
        self.fc2 = nnx.Linear(hidden[0], hidden[1], rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(hidden[1], n_classes, rngs=rngs)

    def fit_inputs(self, rppg, face, mask, y=None) -> None:
        """Set the input standardisation (and the prior, given ``y``) from the training videos,
        and size ``fc1`` to what they have: its weights for a frame and modality no training
        video has (beyond the longest, or missing in all) are zero, and the others are rescaled
        to the initialisation of a layer of that many inputs. Training never changes a zero
        weight (its input is always 0), so a longer video is cut where the training videos end,
        as prediction cuts a video longer than the run's length."""
        super().fit_inputs(rppg, face, mask, y)
        seen = np.asarray(mask, bool).any(axis=0)                       # (T, M)
        cr = self.rppg_norm.mean.shape[0]
        cols = np.concatenate([np.repeat(seen[:, [RPPG]], cr, axis=1),
                               np.repeat(seen[:, [FACE]], self.face_norm.mean.shape[0], axis=1)], axis=1)
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

    def first(self, z_rppg, z_face):
        """``fc1`` over the flattened sequence of per-frame ``[rppg | face]`` rows."""
        x = jnp.concatenate([z_rppg, z_face], axis=-1)
        return (self.fc1(x.reshape(x.shape[0], -1)),)

    def rest(self, pre, mask):
        h = jax.nn.relu(pre[0])
        h = jax.nn.relu(self.fc2(self.drop(h)))
        return self.prior(self.head(self.drop(h)), present(mask.any(axis=-1)))


class ModalityDropout(nnx.Module):
    """In training, drops at most one modality of a clip: with probability ``rate`` the pulse
    embedding, with probability ``rate`` the landmark embedding, never both (``rate`` <= 0.5),
    and never the only modality a clip has. A kept embedding that could have been dropped is
    scaled by ``1 / (1 - rate)``, so its expectation is unchanged. In evaluation
    (``deterministic``) both pass untouched."""

    def __init__(self, rate: float, *, rngs: nnx.Rngs):
        if not 0.0 <= rate <= 0.5:
            raise ValueError(f"modality dropout rate must be in [0, 0.5], got {rate}")
        self.rate = rate
        self.deterministic = False
        self.rngs = rngs["dropout"].fork()

    def __call__(self, r, f, has_r, has_f):
        """``r``, ``f``: the clips' embeddings ``(N, T, H)``; ``has_r``, ``has_f``: ``(N,)`` the
        clip has that modality."""
        if self.deterministic or self.rate == 0.0:
            return r, f
        u = jax.random.uniform(self.rngs(), (r.shape[0], 1, 1))
        both = (has_r & has_f)[:, None, None]
        keep = jnp.where(both, 1.0 / (1.0 - self.rate), 1.0)
        return (jnp.where(both & (u < self.rate), 0.0, r * keep),
                jnp.where(both & (u >= self.rate) & (u < 2 * self.rate), 0.0, f * keep))


#: how TemporalFusion joins the two modalities of a frame
EMBEDDINGS = ("each", "joint")


class TemporalFusion(_Fused):
    """``(rppg, face, mask) -> logits`` for any ``T``.

    ``embed="each"``: each frame's rPPG and landmark channels are first embedded separately to
    the same width (so the 3 pulse channels are not drowned by the 272 landmark channels) and
    concatenated; ``"joint"``: one dense layer over the raw concatenation (written as the sum of
    a dense layer per modality). Each modality's part is zero where it was not observed. Then a
    convolution and a residual convolution over time, mean/std pooling over the frames with
    either modality, a dense layer and the classifier. A clip without one modality is read from
    the other alone; in training, modality dropout zeroes one modality's embedding of a whole
    clip at a time (never both, never a clip's only one: ``ModalityDropout``), so that neither
    modality can be ignored and either can stand alone.
    """

    def __init__(self, rppg_channels: int, face_channels: int, n_classes: int, *, hidden: int = 64,
                 kernel: int = 5, dropout: float = 0.2, modality_dropout: float = 0.25, embed: str = "each",
                 rngs: nnx.Rngs):
        if embed not in EMBEDDINGS:
            raise ValueError(f"unknown embedding {embed!r}; choose one of {EMBEDDINGS}")
        super().__init__(rppg_channels, face_channels, n_classes)
        self.joint = embed == "joint"
        width = hidden if self.joint else hidden // 2
        self.rppg_in = nnx.Linear(rppg_channels, width, rngs=rngs)
        self.face_in = nnx.Linear(face_channels, width, use_bias=not self.joint, rngs=rngs)
        self.modality_drop = ModalityDropout(modality_dropout, rngs=rngs)
        self.reach = 0                    # the first layer reads each frame on its own
        self.conv1 = nnx.Conv(hidden, hidden, kernel_size=(kernel,), rngs=rngs)
        self.conv2 = nnx.Conv(hidden, hidden, kernel_size=(kernel,), rngs=rngs)
        self.fc = nnx.Linear(2 * hidden, hidden, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def first(self, z_rppg, z_face):
        return self.rppg_in(z_rppg), self.face_in(z_face)

    def rest(self, pre, mask):
        mr, mf = mask[..., RPPG], mask[..., FACE]
        frames = mr | mf
        if self.joint:       # the one bias (rppg_in's) stays on every frame with either modality
            bias = jnp.where(frames[..., None], self.rppg_in.bias[...], 0.0)
            r = jnp.where(mr[..., None], pre[0], bias)
            r, f = self.modality_drop(r, pre[1] * mf[..., None], present(mr), present(mf))
            x = jax.nn.relu(r + f)
        else:
            r, f = self.modality_drop(jax.nn.relu(pre[0]) * mr[..., None], jax.nn.relu(pre[1]) * mf[..., None],
                                      present(mr), present(mf))
            x = jnp.concatenate([r, f], axis=-1)
        h = jax.nn.relu(self.conv1(x))
        h = jax.nn.relu(self.conv2(h) + h)
        z = jax.nn.relu(self.fc(self.drop(masked_mean_std(h, frames))))
        return self.prior(self.head(self.drop(z)), present(frames))
