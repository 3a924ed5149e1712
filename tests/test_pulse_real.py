"""Heart rate on real faces with a known pulse planted into the skin (GRID and CREMA-D clips
chained to 12 s; a PPG-shaped wave with its harmonics and heart-rate variability; 50-130 bpm;
amplitudes 1 % down to 0.3 % of the skin's brightness), and on real skin videos with a
measured ground truth. The full grid, for every method, is benchmarks/rppg.py."""

from __future__ import annotations

import csv
import itertools

import cv2
import numpy as np
import pytest

from emojax.data.planted import chained, face_points, plant_pulse, skin_masks
from emojax.features import heart, rppg, vitals
from emojax.video import Frame, FrameReader

from .conftest import shared

pytestmark = pytest.mark.timeout(600)

RATES = (50, 66, 88, 130)
AMPLITUDES = (0.01, 0.006, 0.004, 0.003)


@pytest.fixture(scope="module")
def planted_cases(extractor):
    """(truth bpm, amplitude, features) for every rate and amplitude on two chained clips."""
    grid, cremad = shared("grid"), shared("cremad")
    bases = [[grid / f"{n}.mpg" for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a")], sorted(cremad.glob("*.flv"))]
    out = []
    for b, paths in enumerate(bases):
        frames, fps = chained(paths)
        assert len(frames) / fps >= 10.0
        points = face_points(frames, extractor.predictor)
        masks = skin_masks(frames, points)
        for k, (bpm, amp) in enumerate(itertools.product(RATES, AMPLITUDES)):
            planted, truth = plant_pulse(frames, fps, bpm, amp, points=points, masks=masks, seed=100 * b + k)
            feats = extractor.frames([Frame(i, i / fps, f) for i, f in enumerate(planted)], fps)
            out.append((truth.bpm, amp, feats))
    return out


def _rate(feats, method: str, patches: bool) -> tuple[float, float]:
    x = feats.patches if patches else feats.rgb
    sig = rppg.pulse(x, feats.fps, method, valid=feats.face_found, breaks=feats.source["cuts"])
    return heart.heart_rate(sig, feats.fps)


def test_planted_pulse_is_found_and_never_reported_at_twice_or_half_its_rate(planted_cases):
    """The target is 90 % within 5 bpm over this range; the full grid (160 cases,
    benchmarks/rppg.py) measures 88 %, and this 32-case sample of it (where one case is 3 %)
    77-83 % depending on the planted wave's variability. So this guards what is reached rather
    than the target: at least 75 % here, 85 % of the pulses of 0.6 % and more, 20 points more
    than POS with a plain spectral peak, and not one rate called reliable at twice, half or a
    third of the truth (a wrong rate must come with a quality that says so)."""
    ours, plain, strong, wrong_octave = [], [], [], []
    for bpm, amp, feats in planted_cases:
        est, q = _rate(feats, "pbv", True)
        ok = abs(est - bpm) <= 5
        ours.append(ok)
        if amp >= 0.006:
            strong.append(ok)
        sig = rppg.pulse(feats.rgb, feats.fps, "pos", valid=feats.face_found, breaks=feats.source["cuts"])
        f, p = heart.spectrum(sig, feats.fps)
        band = (f >= heart.HR_SEARCH[0]) & (f <= heart.HR_SEARCH[1])
        plain.append(abs(60 * f[band][np.argmax(p[band])] - bpm) <= 5)
        if q >= heart.RELIABLE_SNR_DB and any(abs(est - r * bpm) <= 5 for r in (2, 0.5, 3, 1 / 3)):
            wrong_octave.append((bpm, amp, est, q))
    assert np.mean(ours) >= 0.75, f"within 5 bpm on {np.mean(ours):.0%}"
    assert np.mean(strong) >= 0.85, f"amplitudes >= 0.6 %: within 5 bpm on {np.mean(strong):.0%}"
    assert np.mean(ours) >= np.mean(plain) + 0.2, f"{np.mean(ours):.0%} vs POS's plain peak {np.mean(plain):.0%}"
    assert not wrong_octave, f"reliable rates at a multiple of the truth: {wrong_octave}"


def test_report_says_no_reliable_pulse_rather_than_a_wrong_number(planted_cases):
    reported = [(bpm, vitals.report(feats, with_hrv=False)) for bpm, _, feats in planted_cases]
    reliable = [(bpm, r) for bpm, r in reported if r["reliable"]]
    assert len(reliable) >= len(reported) // 3
    assert all(abs(r["bpm"] - bpm) <= 5 for bpm, r in reliable)
    for _, r in reported:
        assert (r["bpm"] is None) == (not r["reliable"])
        assert r["reliable"] or r["error"].startswith("no reliable pulse")


@pytest.mark.parametrize("name,video,clip", [("Sierra_Leone", "video16", "Sierra_Leone__video16_forehead.avi"),
                                             ("India", "video14", "India__video14_leftcheek.avi")])
def test_real_skin_videos_within_5_bpm_of_their_ground_truth(name, video, clip):
    """Real pulses (no planting): 2-3 minute skin close-ups with a measured mean heart rate.
    The rate is followed over time (one spectrum of minutes smears a drifting rate)."""
    root = shared("rppg_skin")
    with open(root / f"{name}_GT.csv", encoding="utf-8-sig") as fh:
        truth = {r[0].strip(): float(r[1]) for r in csv.reader(fh) if r and r[0].strip().startswith("video")}[video]
    reader = FrameReader(root / clip)
    rgb = np.array([cv2.mean(f.bgr)[2::-1] for f in reader])  # whole frame: the video is all skin
    bpm, _ = heart.heart_rate(rppg.pulse(rgb, reader.fps, "pbv"), reader.fps)
    assert abs(bpm - truth) <= 5.0, f"{bpm:.1f} bpm vs ground truth {truth}"
