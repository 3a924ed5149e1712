"""Pulse extraction and heart rate: synthetic signals with known truth, and a real skin video."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from emojax.features import rppg
from emojax.video import FrameReader

from .conftest import shared


def synthetic_rgb(hr_bpm: float, fs: float = 30.0, seconds: float = 20.0, seed: int = 0,
                  motion: float = 0.0) -> np.ndarray:
    """Skin colour with a pulse (strongest in green), noise, slow drift and optional motion."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    pulse = np.sin(2 * np.pi * hr_bpm / 60 * t) + 0.3 * np.sin(4 * np.pi * hr_bpm / 60 * t)
    base = np.array([180.0, 120.0, 100.0])
    drift = 1 + 0.03 * np.sin(2 * np.pi * 0.05 * t)  # illumination, same in all channels
    move = 1 + motion * np.sin(2 * np.pi * 0.95 * t)  # in-band intensity change from motion
    rgb = base * (drift * move)[:, None]
    rgb = rgb * (1 - 0.004 * pulse[:, None] * np.array([0.4, 1.0, 0.6]))
    return rgb + rng.normal(0, 0.15, rgb.shape)


@pytest.mark.parametrize("method", ["green", "chrom", "pos"])
@pytest.mark.parametrize("hr", [55.0, 72.0, 95.0, 130.0])
def test_methods_recover_a_known_heart_rate(method, hr):
    rgb = synthetic_rgb(hr, seed=int(hr))
    sig = rppg.pulse(rgb, 30.0, method)
    assert sig.shape == (len(rgb),)
    bpm, snr = rppg.heart_rate(sig, 30.0)
    assert abs(bpm - hr) < 1.0
    assert snr > 0


def test_chrom_and_pos_cancel_intensity_motion_that_green_does_not():
    rgb = synthetic_rgb(72.0, motion=0.02, seed=3)  # 2 % brightness swing at 57 bpm, pulse 0.4 %
    bpm = {m: rppg.heart_rate(rppg.pulse(rgb, 30.0, m), 30.0)[0] for m in ("green", "chrom", "pos")}
    assert abs(bpm["pos"] - 72) < 1 and abs(bpm["chrom"] - 72) < 1
    assert abs(bpm["green"] - 57) < 1  # green follows the motion


def test_mean_method_is_the_raw_trace():
    rgb = synthetic_rgb(70.0)
    assert np.array_equal(rppg.pulse(rgb, 30.0, "mean"), rgb)


def test_unknown_method_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="chrom"):
        rppg.pulse(np.zeros((100, 3)), 30.0, "ica")
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        rppg.pulse(np.zeros((100, 4)), 30.0)
    with pytest.raises(ValueError, match="fs"):
        rppg.pulse(np.zeros((100, 3)), 0)


def test_bandpass_keeps_the_pulse_band_only():
    fs = 30.0
    t = np.arange(600) / fs
    inside, low, high = np.sin(2 * np.pi * 1.5 * t), np.sin(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 8 * t)
    out = rppg.bandpass(inside + low + high, fs)
    core = slice(60, -60)
    assert np.abs(out[core] - inside[core]).max() < 0.1


def test_gaps_are_interpolated_and_nan_signals_give_nan():
    x = np.arange(10.0)
    x[3:5] = np.nan
    assert np.allclose(rppg.fill_gaps(x), np.arange(10.0))
    long_gap = np.arange(20.0)
    long_gap[5:15] = np.nan
    assert np.isnan(rppg.fill_gaps(long_gap, max_gap=5)[5:15]).all()
    rgb = synthetic_rgb(80.0)
    rgb[100:110] = np.nan
    assert abs(rppg.heart_rate(rppg.pulse(rgb, 30.0, "pos"), 30.0)[0] - 80) < 1.5
    assert np.isnan(rppg.heart_rate(np.full(300, np.nan), 30.0)[0])
    assert np.isnan(rppg.heart_rate(np.ones(30), 30.0)[0])  # under two seconds


def test_heart_rate_series_follows_a_changing_rate():
    fs = 30.0
    t = np.arange(int(60 * fs)) / fs
    hr = np.where(t < 30, 60.0, 100.0)
    phase = np.cumsum(hr / 60 / fs)
    sig = np.sin(2 * np.pi * phase)
    series = rppg.heart_rate_series(sig, fs, window_s=10, step_s=2)
    assert series.shape[1] == 3
    early, late = series[series[:, 0] < 20], series[series[:, 0] > 40]
    assert np.allclose(early[:, 1], 60, atol=1.5) and np.allclose(late[:, 1], 100, atol=1.5)


def test_real_forehead_video_heart_rate_within_5_bpm():
    root = shared("rppg_skin")
    with open(root / "Sierra_Leone_GT.csv", encoding="utf-8-sig") as fh:
        truth = {r[0].strip(): float(r[1]) for r in csv.reader(fh) if r and r[0].strip().startswith("video")}
    reader = FrameReader(root / "Sierra_Leone__video16_forehead.avi")
    rgb = np.array([cv2.mean(f.bgr)[2::-1] for f in reader])  # whole frame, R G B
    bpm, _ = rppg.heart_rate(rppg.pulse(rgb, reader.fps, "pos"), reader.fps)
    assert abs(bpm - truth["video16"]) <= 5.0, f"{bpm:.1f} bpm vs ground truth {truth['video16']}"


def test_heart_rate_series_is_heart_rate_of_each_window():
    """All windows at once give what each window alone gives, NaN windows included."""
    fs, rng = 30.0, np.random.default_rng(3)
    t = np.arange(int(40 * fs)) / fs
    sig = np.sin(2 * np.pi * (1.0 + 0.01 * t) * t) + 0.7 * rng.normal(size=len(t))
    sig[400:430] = np.nan                                     # a stretch without a face
    series = rppg.heart_rate_series(sig, fs, window_s=8, step_s=1.5)
    win, hop = int(8 * fs), int(1.5 * fs)
    assert len(series) == (len(sig) - win) // hop + 1
    for k, (centre, bpm, snr) in enumerate(series):
        ref = rppg.heart_rate(sig[k * hop:k * hop + win], fs)
        assert centre == pytest.approx((k * hop + win / 2) / fs)
        np.testing.assert_allclose([bpm, snr], ref, rtol=1e-12, atol=1e-12)
    assert np.isnan(series[:, 1]).any() and np.isfinite(series[:, 1]).sum() > len(series) // 2
