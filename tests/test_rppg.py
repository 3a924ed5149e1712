"""Pulse extraction and heart rate: synthetic signals with known truth, and a real skin video."""

from __future__ import annotations


import numpy as np
import pytest

from emojax.features import heart, rppg



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


@pytest.mark.parametrize("method", ["green", "chrom", "pos", "pbv"])
@pytest.mark.parametrize("hr", [55.0, 72.0, 95.0, 130.0])
def test_methods_recover_a_known_heart_rate(method, hr):
    rgb = synthetic_rgb(hr, seed=int(hr))
    sig = rppg.pulse(rgb, 30.0, method)
    assert sig.shape == (len(rgb),)
    bpm, snr = heart.heart_rate(sig, 30.0)
    assert abs(bpm - hr) < 1.0
    assert snr > 0


def test_chrom_and_pos_cancel_intensity_motion_that_green_does_not():
    rgb = synthetic_rgb(72.0, motion=0.02, seed=3)  # 2 % brightness swing at 57 bpm, pulse 0.4 %
    bpm = {m: heart.heart_rate(rppg.pulse(rgb, 30.0, m), 30.0)[0] for m in ("green", "chrom", "pos")}
    assert abs(bpm["pos"] - 72) < 1 and abs(bpm["chrom"] - 72) < 1
    assert abs(bpm["green"] - 57) < 1  # green follows the motion


def test_mean_method_is_the_raw_trace(monkeypatch):
    """``mean`` is mean_rgb: the raw trace, NaN rows kept (no segments, nothing filled), and of
    several skin patches their mean; pulse() reaches it through the registry like any method."""
    rgb = synthetic_rgb(70.0)
    rgb[40:50] = np.nan
    assert np.array_equal(rppg.mean_rgb(rgb, 30.0), rgb, equal_nan=True)
    patches = np.stack([rgb - 2.0, rgb + 4.0], axis=1)
    assert np.allclose(rppg.mean_rgb(patches, 30.0), rgb + 1.0, equal_nan=True)
    assert np.array_equal(rppg.pulse(rgb, 30.0, "mean"), rgb, equal_nan=True)
    assert np.allclose(rppg.pulse(patches, 30.0, "mean"), rgb + 1.0, equal_nan=True)
    calls = []

    def spy(x, fs):
        calls.append((x.shape, fs))
        return rppg.mean_rgb(x, fs)

    monkeypatch.setitem(rppg.RPPG_METHODS, "mean", spy)
    rppg.pulse(patches, 30.0, "mean")
    assert calls == [(patches.shape, 30.0)]


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
    assert abs(heart.heart_rate(rppg.pulse(rgb, 30.0, "pos"), 30.0)[0] - 80) < 1.5
    assert np.isnan(heart.heart_rate(np.full(300, np.nan), 30.0)[0])
    assert np.isnan(heart.heart_rate(np.ones(30), 30.0)[0])  # under two seconds


def test_heart_rate_series_follows_a_changing_rate():
    fs = 30.0
    t = np.arange(int(60 * fs)) / fs
    hr = np.where(t < 30, 60.0, 100.0)
    phase = np.cumsum(hr / 60 / fs)
    sig = np.sin(2 * np.pi * phase)
    series = heart.heart_rate_series(sig, fs, window_s=10, step_s=2)
    assert series.shape[1] == 3
    early, late = series[series[:, 0] < 20], series[series[:, 0] > 40]
    assert np.allclose(early[:, 1], 60, atol=1.5) and np.allclose(late[:, 1], 100, atol=1.5)


def test_heart_rate_series_is_heart_rate_of_each_window():
    """Untracked, all windows at once give what each window alone gives, gaps included; a
    window mostly without a face gives no rate (a long gap stays a gap)."""
    fs, rng = 30.0, np.random.default_rng(3)
    t = np.arange(int(40 * fs)) / fs
    sig = np.sin(2 * np.pi * (1.0 + 0.01 * t) * t) + 0.7 * rng.normal(size=len(t))
    sig[400:430] = np.nan                                     # a second without a face
    sig[700:900] = np.nan                                     # almost seven seconds without one
    series = heart.heart_rate_series(sig, fs, window_s=8, step_s=1.5, tracked=False)
    win, hop = int(8 * fs), int(1.5 * fs)
    assert len(series) == (len(sig) - win) // hop + 1
    for k, (centre, bpm, snr) in enumerate(series):
        part = sig[k * hop:k * hop + win]
        assert centre == pytest.approx((k * hop + win / 2) / fs)
        if np.isfinite(part).mean() < 0.5:
            assert np.isnan(bpm) and np.isnan(snr)
        else:
            np.testing.assert_allclose([bpm, snr], heart.heart_rate(part, fs), rtol=1e-12, atol=1e-12)
    assert np.isnan(series[:, 1]).any() and np.isfinite(series[:, 1]).sum() > len(series) // 2
    tracked = heart.heart_rate_series(sig, fs, window_s=8, step_s=1.5)
    assert np.array_equal(np.isnan(tracked[:, 1]), np.isnan(series[:, 1]))


def ppg_like(hr_bpm: float, fs: float = 30.0, seconds: float = 20.0, noise: float = 0.3, seed: int = 0):
    """A finger-PPG-shaped wave (systolic peak, dicrotic wave: strong harmonics) plus noise."""
    from emojax.data.animate import ppg_wave

    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    return ppg_wave(hr_bpm / 60 * t) + noise * rng.normal(size=len(t))


@pytest.mark.parametrize("hr", [55.0, 62.0, 75.0, 95.0, 120.0, 150.0])
def test_a_pulse_with_strong_harmonics_is_read_at_its_rate(hr):
    """A PPG wave whose harmonics outweigh it (its derivative: each harmonic weighed by its
    order; for the slow ones the loudest peak is then at 2 or 3 times the rate) is read at its
    rate. (A fundamental under a quarter of the loudest peak is taken to be absent.)"""
    x = rppg.bandpass(np.gradient(ppg_like(hr, seed=int(hr), noise=0.03)), 30.0)
    f, p = heart.spectrum(x, 30.0)
    band = (f >= 0.7) & (f <= 3.0)
    loudest = 60 * f[band][np.argmax(p[band])]
    if hr <= 75:
        assert round(loudest / hr) in (2, 3)  # the case this test is about
    bpm, _ = heart.heart_rate(x, 30.0)
    assert abs(bpm - hr) < 2.0, f"{bpm:.1f} for {hr} (the loudest peak is at {loudest:.0f})"


def test_segments_bridge_short_gaps_and_stop_at_long_ones_and_cuts():
    fs = 10.0
    valid = np.ones(100, bool)
    valid[10:20] = False                                      # 1 s: too long to bridge
    valid[50:53] = False                                      # 0.3 s: bridged
    assert rppg.segments(valid, fs) == [(0, 10), (20, 100)]
    assert rppg.segments(valid, fs, breaks=[70]) == [(0, 10), (20, 70), (70, 100)]
    assert np.flatnonzero(rppg.bridged(valid, fs)).tolist() == [50, 51, 52]
    rgb = synthetic_rgb(80.0, fs=30.0, seconds=20.0)
    valid = np.ones(len(rgb), bool)
    valid[200:260] = False                                    # 2 s without a face
    rgb[~valid] = np.nan
    sig = rppg.pulse(rgb, 30.0, "pos")
    assert np.isnan(sig[200:260]).all() and np.isfinite(sig[:200]).all() and np.isfinite(sig[260:]).all()
    assert abs(heart.heart_rate(sig, 30.0)[0] - 80.0) < 1.5  # the rate of what was seen, across the gap
    valid[100:105] = False                                    # 1/6 s: bridged, the pulse goes on
    rgb[100:105] = np.nan
    assert np.isfinite(rppg.pulse(rgb, 30.0, "pos")[100:105]).all()


def test_pbv_over_patches_cancels_what_differs_between_them():
    """Each patch has its own strong motion-like brightness swing; the pulse is common.
    PBV over the patches finds it where the patches' mean (POS) does not."""
    rng = np.random.default_rng(1)
    base = synthetic_rgb(72.0, seed=5)
    t = np.arange(len(base)) / 30.0
    patches = []
    for k, f in enumerate((0.9, 1.6, 2.3, 1.1)):  # in-band swings of 1.5 %, one per patch, all colours alike
        swing = 1 + 0.015 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
        patches.append(base * swing[:, None])
    patches = np.stack(patches, axis=1)
    assert abs(heart.heart_rate(rppg.pulse(patches, 30.0, "pbv"), 30.0)[0] - 72) < 1.5
    assert rppg.pulse(patches, 30.0, "pbv").shape == (len(base),)


def test_a_rate_stands_out_by_its_margin_and_its_octaves_and_noise_do_not():
    """The reliability rule (a margin over rival rates, per method, chosen out of sample on real
    faces): a PPG-shaped pulse in noise stands out at its rate, not at half, twice or one and a
    half times it; band-passed noise alone has a best rate too, but seldom one that stands out."""
    fs = 30.0
    t = np.arange(600) / fs
    for hr in (55.0, 75.0, 95.0, 130.0):
        rng = np.random.default_rng(int(hr))
        x = rppg.bandpass(ppg_like(hr, seed=int(hr), noise=0.0) + 0.7 * rng.normal(size=len(t)), fs)
        bpm, _ = heart.heart_rate(x, fs)
        margin = heart.margin_db(x, fs, bpm)
        assert abs(bpm - hr) < 2 and heart.reliable(margin, "pbv"), (hr, bpm, margin)
        for wrong in (hr / 2, 2 * hr, 1.5 * hr):
            assert not heart.reliable(heart.margin_db(x, fs, wrong), "green"), (hr, wrong)
    calls = sum(heart.reliable(heart.margin_db(n, fs, heart.heart_rate(n, fs)[0]), "pbv")
                for n in (rppg.bandpass(np.random.default_rng(1000 + seed).normal(size=len(t)), fs) for seed in range(60)))
    assert calls <= 6, calls                  # the benchmark measured 4 % of 20-s noise clips
    assert np.isnan(heart.margin_db(np.full(600, np.nan), fs, 70.0)) and np.isnan(heart.margin_db(x, fs, np.nan))
    assert not heart.reliable(np.nan, "pbv") and not heart.reliable(50.0, "mean")


def test_window_margins_are_each_windows_own_margin():
    fs = 30.0
    x = rppg.bandpass(ppg_like(72.0, seconds=30.0, noise=0.8, seed=2), fs)
    series = heart.heart_rate_series(x, fs, window_s=10.0, step_s=2.0)
    got = heart.window_margins(x, fs, series[:, 1], window_s=10.0, step_s=2.0)
    assert len(got) == len(series)
    for k, (m, bpm) in enumerate(zip(got, series[:, 1])):
        assert m == pytest.approx(heart.margin_db(x[60 * k:60 * k + 300], fs, bpm))
    short = x[:240]                                           # shorter than a window: one row, the whole
    assert heart.window_margins(short, fs, [72.0], window_s=10.0, step_s=1.0) == pytest.approx(
        [heart.margin_db(short, fs, 72.0)])
