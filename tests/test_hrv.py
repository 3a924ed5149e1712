"""Beats and HRV at sub-frame precision: a pulse with known heart-rate variability planted into a
real face (a GRID speaker held still, with a camera's sensor noise), whose true beat times are known
to the millisecond, read back at 30 fps. Beats snapped to whole frames would add about 24 ms RMS to
successive differences, the size of a resting RMSSD itself."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import read_all, shared

pytestmark = pytest.mark.timeout(300)

FS = 30.0


def planted_still_face(seconds: float = 14.0, bpm: float = 68.0, amplitude: float = 0.01, seed: int = 4):
    """Frames of a real face (no motion), a PPG-shaped pulse with respiratory sinus arrhythmia
    darkening its skin, sensor noise, and the true systolic-peak times (phase between frames is
    linear, as the wave itself is sampled)."""
    from emojax.data.animate import cardiac_phase, ppg_wave, skin_mask
    from emojax.data.planted import face_points

    face = read_all(shared("grid") / "bbaf2n.mpg")[0]
    t = np.arange(int(seconds * FS)) / FS
    rng = np.random.default_rng(seed)
    phase, _ = cardiac_phase(t, bpm, rng)
    wave = ppg_wave(phase)
    mask = skin_mask(face.shape[:2], face_points([face])[0])[..., None]
    gain = 2 * amplitude * np.array([0.6, 1.0, 0.45], np.float32)         # B, G, R: blood darkens green most
    base = face.astype(np.float32)
    frames = [np.clip(np.round(base * (1 - w * mask * gain) + rng.normal(0, 1.5, base.shape)), 0, 255).astype(np.uint8)
              for w in wave]
    grid = np.linspace(0, 1, 20001)
    peak = grid[np.argmax(ppg_wave(grid))]                                # where in a cycle the wave peaks
    k = np.arange(np.ceil(phase[0] - peak), np.floor(phase[-1] - peak) + 1)
    return frames, np.interp(k + peak, phase, t)


def rmssd(beat_times) -> float:
    return float(np.sqrt(np.mean(np.diff(np.diff(beat_times) * 1000.0) ** 2)))


def test_beats_and_rmssd_at_sub_frame_precision(extractor):
    from emojax.features import vitals
    from emojax.video import Frame

    frames, truth = planted_still_face()
    f = extractor.frames([Frame(i, i / FS, b) for i, b in enumerate(frames)], FS)
    r = vitals.report(f, "pos")
    assert r["reliable"], r.get("error")
    got = np.array(r["hrv"]["beats"])
    assert len(got) == len(truth), (len(got), len(truth))
    lag = np.median(got - truth)                       # the filtered wave peaks a fixed time off its source
    assert np.abs(got - truth - lag).max() < 0.012, "every beat within 12 ms of its true time (a frame is 33 ms)"
    assert abs(r["hrv"]["rmssd_ms"] - rmssd(truth)) <= 10, (r["hrv"]["rmssd_ms"], rmssd(truth))
    assert r["hrv"]["ibi_ms"] == pytest.approx(list(np.diff(got) * 1000), abs=0.15)
    snapped = np.round(got * FS) / FS                   # what snapping to frames made of the same beats
    assert abs(rmssd(snapped) - rmssd(truth)) > abs(r["hrv"]["rmssd_ms"] - rmssd(truth))


def test_no_interval_or_difference_spans_a_cut():
    """Two shots back to back, each with a steady 60 bpm pulse but out of phase with the other:
    the pulse runs on without a gap, yet the beat before the cut and the one after it are not an
    interval, and RMSSD (of a steady rate: 0) is not inflated by the jump."""
    from emojax.data.animate import ppg_wave
    from emojax.features import vitals

    t = np.arange(int(24 * FS)) / FS
    cut = len(t) // 2
    phase = np.where(np.arange(len(t)) < cut, t, t + 0.45)       # the second shot's heart is 0.45 s ahead
    pulse = ppg_wave(phase)
    h = vitals.hrv(pulse, t, FS, breaks=[cut])
    assert len(h["ibi_ms"]) == len(h["beats"]) - 2                 # one interval fewer: the one across the cut
    assert np.allclose(h["ibi_ms"], 1000.0, atol=3) and h["rmssd_ms"] < 3
    joined = vitals.hrv(pulse, t, FS)                               # the same pulse read as one stretch
    assert joined["rmssd_ms"] > 50
