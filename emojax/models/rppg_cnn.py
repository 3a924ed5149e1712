"""``RppgCNN``: the pulse branch - a 1-D CNN over time with two hidden layers and ReLU
(Kumar & Li 2023, Sec. 3.2), pooled over the real frames."""

from __future__ import annotations

import jax
from flax import nnx

from .common import InputNorm, Prior, Unimodal, index, masked_mean, masked_mean_std, present


class RppgCNN(Unimodal):
    """``(inputs, mask) -> logits (N, K)`` from ``rppg (N, T, Cr)`` alone (the others are ignored).

    Args:
        channels: rPPG channels (3: R, G, B in the paper; pulse, heart rate, quality improved).
        hidden: filters of the two convolution layers.
        kernel: their width in frames.
        pool: ``"mean"`` (the paper) or ``"mean_std"`` (mean and spread over time).
        dropout: before the classifier (0 in the paper).
    """

    def __init__(self, channels: int, n_classes: int, *, hidden: tuple[int, int] = (32, 64), kernel: int = 7,
                 pool: str = "mean", dropout: float = 0.0, modality: str = "rppg", rngs: nnx.Rngs):
        index(modality)                   # a known modality, or ValueError
        self.modality = modality
        self.modalities = (modality,)
        self.norm = InputNorm(channels)
        self.conv1 = nnx.Conv(channels, hidden[0], kernel_size=(kernel,), rngs=rngs)
        self.conv2 = nnx.Conv(hidden[0], hidden[1], kernel_size=(kernel,), rngs=rngs)
        self.pool = pool
        self.reach = kernel // 2          # frames either side that the first layer reads
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.prior = Prior(n_classes)
        self.head = nnx.Linear(hidden[1] * (2 if pool == "mean_std" else 1), n_classes, rngs=rngs)

    def first(self, z):
        return (self.conv1(z[index(self.modality)]),)

    def rest(self, pre, mask):
        h = jax.nn.relu(pre[0])
        h = jax.nn.relu(self.conv2(h))
        m = self.own(mask)
        z = masked_mean_std(h, m) if self.pool == "mean_std" else masked_mean(h, m)
        return self.prior(self.head(self.drop(z)), present(m))
