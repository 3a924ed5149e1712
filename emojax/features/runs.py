"""Runs of True in a boolean mask: the stretches of frames with a face, of usable windows, of
samples of pulse, found with ``scipy.ndimage.label``."""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in the 1-D ``mask``, in order (``stop`` exclusive)."""
    from scipy import ndimage      # here: importing it costs every extraction process ~25 MB

    labels, n = ndimage.label(np.asarray(mask, bool))
    if n == 0:
        return []
    return [(s.start, s.stop) for (s,) in ndimage.find_objects(labels)]
