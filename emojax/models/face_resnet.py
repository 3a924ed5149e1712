"""``FaceResNet``: the landmark branch - residual 1-D convolutions over time with two hidden
layers (Kumar & Li 2023, Sec. 3.2), pooled over the real frames."""

from __future__ import annotations

import jax
from flax import nnx

from .common import InputNorm, Prior, Unimodal, index, masked_mean, masked_mean_std, present


class FaceResNet(Unimodal):
    """``(inputs, mask) -> logits (N, K)`` from ``face (N, T, Cf)`` alone (the others are ignored).

    Two residual layers: ``h1 = relu(conv1(x) + proj(x))``, ``h2 = relu(conv2(h1) + h1)``.

    Args:
        channels: landmark channels (136 raw coordinates; 272 aligned shape + velocity).
        hidden: width of both layers.
        kernel: convolution width in frames.
        pool: ``"mean"`` (the paper) or ``"mean_std"``.
        dropout: before the classifier (0 in the paper).
    """

    def __init__(self, channels: int, n_classes: int, *, hidden: int = 64, kernel: int = 5, pool: str = "mean",
                 dropout: float = 0.0, rngs: nnx.Rngs):
        self.modality = "face"
        self.modalities = ("face",)
        self.norm = InputNorm(channels)
        self.proj = nnx.Conv(channels, hidden, kernel_size=(1,), use_bias=False, rngs=rngs)
        self.conv1 = nnx.Conv(channels, hidden, kernel_size=(kernel,), rngs=rngs)
        self.conv2 = nnx.Conv(hidden, hidden, kernel_size=(kernel,), rngs=rngs)
        self.pool = pool
        self.reach = kernel // 2          # frames either side that the first layer reads
        self.drop = nnx.Dropout(dropout, rngs=rngs)
        self.prior = Prior(n_classes)
        self.head = nnx.Linear(hidden * (2 if pool == "mean_std" else 1), n_classes, rngs=rngs)

    def first(self, z):
        z_face = z[index("face")]
        return (self.conv1(z_face) + self.proj(z_face),)

    def rest(self, pre, mask):
        h = jax.nn.relu(pre[0])
        h = jax.nn.relu(self.conv2(h) + h)
        m = self.own(mask)
        z = masked_mean_std(h, m) if self.pool == "mean_std" else masked_mean(h, m)
        return self.prior(self.head(self.drop(z)), present(m))
