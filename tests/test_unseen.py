"""Nothing drawn through what was not seen without a mark: a skin patch out of sight follows the
face's 0.5 s rule (filled and counted, or left out), and the models' heart-rate and quality
channels are never interpolated across a window that has no rate."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.data.transforms import between_windows
from emojax.features import rppg


def patches_with_pulse(t: int = 360, fs: float = 30.0, seed: int = 0) -> np.ndarray:
    """``(T, 6, 3)`` skin-patch colours: a 72 bpm pulse (darker in green) under noise that differs
    between patches, around a skin colour."""
    rng = np.random.default_rng(seed)
    wave = np.sin(2 * np.pi * 1.2 * np.arange(t) / fs)
    base = np.array([180.0, 130.0, 100.0])
    sig = (1 - 0.004 * wave[:, None, None] * np.array([0.4, 1.0, 0.6])) * base
    return sig + rng.normal(0, 0.3, (t, 6, 3))


def test_a_patch_away_longer_than_a_bridged_gap_is_left_out_and_a_short_absence_is_filled_and_counted():
    fs, x = 30.0, patches_with_pulse()
    valid = np.ones(len(x), bool)
    alone = rppg.pulse(x[:, 1:], fs, "pbv")              # the five patches that never leave

    away = x.copy()
    away[100:130, 0] = np.nan                             # 1 s out of sight, the face still there
    assert rppg.usable_patches(away, fs).tolist() == [False] + [True] * 5
    assert np.array_equal(rppg.pulse(away, fs, "pbv"), alone, equal_nan=True)    # not drawn through 1 s
    assert not rppg.filled_patches(away, fs, valid=valid).any()

    brief = x.copy()
    brief[100:110, 0] = np.nan                            # a third of a second: bridged, as a face's gap
    assert rppg.usable_patches(brief, fs).all()
    filled = rppg.filled_patches(brief, fs, valid=valid)
    assert np.flatnonzero(filled).tolist() == list(range(100, 110)) and filled.max() == 1
    used = rppg.pulse(brief, fs, "pbv")
    assert np.isfinite(used).all() and not np.allclose(used, alone)     # the sixth patch is read


def test_the_per_frame_table_counts_filled_patches():
    """Through a record: the frames where a patch was filled are counted in the table."""
    from emojax.features import vitals
    from emojax.features.record import Features

    fs, x = 30.0, patches_with_pulse()
    x[200:205, 3] = np.nan
    n = len(x)
    f = Features(rgb=np.nanmean(x, axis=1), landmarks=np.zeros((n, 68, 2), np.float32), box=np.zeros((n, 4)),
                 state=np.full(n, 2, np.uint8), confidence=np.ones(n, np.float32), times=np.arange(n) / fs, fps=fs,
                 patches=x.astype(np.float32), source={"cuts": []}, config={"roi": "skin"})
    table = vitals.table(f, "pbv")
    assert np.flatnonzero(table["patches_filled"]).tolist() == list(range(200, 205))
    assert not vitals.table(f, "pos")["patches_filled"].any()       # POS reads the skin's mean, not the patches


def test_heart_rate_channels_are_never_drawn_across_a_window_without_a_rate():
    centres = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    values = np.array([70.0, 80.0, np.nan, np.nan, 90.0])
    got = between_windows(centres, values, 60)
    assert got[15] == pytest.approx(75.0)                 # between two windows with a rate: linear
    assert got[:10].tolist() == [70.0] * 10               # before the first window: its own
    assert got[22] == 80.0 and got[26] == 0.0             # nearest a window with / without a rate
    assert (got[26:45] == 0.0).all() and got[46] == 90.0  # never 80 -> 90 across the windows with none
    assert between_windows(np.array([5.0]), np.array([np.nan]), 10).tolist() == [0.0] * 10
