"""``VoiceCNN``: the voice branch - the pulse branch's 1-D CNN over time, over the 25 eGeMAPS
descriptors of each frame (``features.voice.DESCRIPTORS``) and whether it is voiced
(``data.transforms.VOICE_NAMES``: 26 channels), pooled over the frames with speech."""

from __future__ import annotations

from flax import nnx

from .rppg_cnn import RppgCNN


class VoiceCNN(RppgCNN):
    """``(inputs, mask) -> logits (N, K)`` from ``voice (N, T, 26)`` alone: two convolutions over
    time, pooled over the frames with voiced speech (``RppgCNN``'s layers on another modality).

    Args:
        channels: voice channels (the 25 eGeMAPS low-level descriptors and ``voiced``).
        hidden, kernel, pool, dropout: as :class:`RppgCNN`.
    """

    def __init__(self, channels: int, n_classes: int, *, hidden: tuple[int, int] = (32, 64), kernel: int = 7,
                 pool: str = "mean", dropout: float = 0.0, rngs: nnx.Rngs):
        super().__init__(channels, n_classes, hidden=hidden, kernel=kernel, pool=pool, dropout=dropout,
                         modality="voice", rngs=rngs)
