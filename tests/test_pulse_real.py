"""Heart rate on real faces with a known pulse planted into the skin as real skin has it (a
camera/light colour signature that is not PBV's, strength uneven over the face, arrival delayed
towards the chin, sensor noise, MPEG-4 at a phone's bit rate), GRID and CREMA-D clips chained to 12 s, 50-130 bpm,
amplitudes 1 % down to 0.3 %; what is planted; and the real skin videos with a measured ground
truth. The full grid, every method, each footage set held out in turn, is benchmarks/rppg.py."""

from __future__ import annotations

import csv
import itertools

import cv2
import numpy as np
import pytest

from emojax.data import planted as P
from emojax.features import heart, rppg, vitals
from emojax.video import Frame, FrameReader

from .conftest import chain_files, shared

pytestmark = pytest.mark.timeout(600)

RATES = (50, 66, 88, 130)
AMPLITUDES = (0.01, 0.006, 0.004)     # 0.3 %: the benchmark's (planting and re-encoding cost ~5 s a case)


def _plant_and_extract(files, points, cases):
    """``cases`` ((bpm, amplitude, seed) each) planted into the chained ``files`` (their dlib
    ``points`` given), re-encoded and extracted: (truth bpm, amplitude, features) each. Run in a
    worker process: a case takes seconds and depends on no other, so two cores read two at once
    (each case is seeded: the same features as one after the other in this process)."""
    from emojax.features.record import ExtractorConfig
    from emojax.features.shared import shared_extractor

    frames, fps = P.chained(files)
    masks = P.skin_masks(frames, points)
    extractor = shared_extractor(ExtractorConfig())
    out = []
    for bpm, amp, seed in cases:
        planted, truth = P.plant_pulse(frames, fps, bpm, amp, points=points, masks=masks, seed=seed)
        planted = P.reencode(planted, fps, codec="mpeg4")      # deterministic, unlike libx264
        feats = extractor.frames([Frame(i, i / fps, f) for i, f in enumerate(planted)], fps)
        out.append((truth.bpm, amp, feats))
    return out


@pytest.fixture(scope="module")
def planted_cases(chain):
    """(truth bpm, amplitude, features) for every rate and amplitude on two chained clips, and
    two cases of the GRID chain with no pulse at all (four groups of cases on two processes)."""
    from emojax.data.worker import PRELOAD, setup_worker
    from emojax.procs import process_pool

    jobs = []
    for b, name in enumerate(("grid", "cremad")):        # four GRID clips; every CREMA-D clip
        frames, fps, points = chain(name)
        assert len(frames) / fps >= 10.0
        cases = list(itertools.product(RATES, AMPLITUDES)) + ([(70.0, 0.0), (70.0, 0.0)] if b == 0 else [])
        cases = [(bpm, amp, 100 * b + k) for k, (bpm, amp) in enumerate(cases)]
        jobs += [(chain_files(name), points, cases[half::2]) for half in (0, 1)]
    with process_pool(2, preload=[PRELOAD], initializer=setup_worker) as pool:
        return [case for done in pool.map(_plant_and_extract, *zip(*jobs)) for case in done]


def test_planted_pulse_is_found_and_never_reported_at_twice_or_half_its_rate(planted_cases):
    """PBV over the six patches (the default) on 24 cases: every 1 % pulse read within 5 bpm; the
    benchmark's held-out grid (384 cases, down to 0.3 %) reads 83 % within 5 bpm and this sample
    (12 s, down to 0.4 %) 71 %, so here at least 70 % and 85 % of those of 0.6 % and more; and no
    rate called reliable at twice, half or a third of the truth."""
    ours, strong, octave_reliable = [], [], []
    for bpm, amp, feats in planted_cases:
        if amp == 0:
            continue
        v = vitals.vitals(feats)
        ok = abs(v.bpm - bpm) <= 5
        ours.append(ok)
        if amp >= 0.006:
            strong.append(ok)
        if amp == 0.01:
            assert ok, (bpm, v.bpm, v.margin)
        if v.reliable and any(abs(v.bpm - r * bpm) <= 5 for r in (2, 0.5, 3, 1 / 3)):
            octave_reliable.append((bpm, amp, v.bpm, v.margin))
    assert np.mean(ours) >= 0.70, f"within 5 bpm on {np.mean(ours):.0%}"
    assert np.mean(strong) >= 0.85, f"amplitudes >= 0.6 %: within 5 bpm on {np.mean(strong):.0%}"
    assert not octave_reliable, f"reliable rates at a multiple of the truth: {octave_reliable}"


def test_report_says_no_reliable_pulse_rather_than_a_wrong_number(planted_cases):
    """Reliable rates are right; pulses of 1 % and of 0.6 % are mostly called reliable (the
    benchmark's held-out sets, 12 to 40 s: 84 %; its 12-s clips less often), at least half of them
    in this 12-s sample; a face with no pulse planted is not; every window of the series is marked
    by the same rule."""
    reported = [(bpm, amp, vitals.report(feats, with_hrv=False)) for bpm, amp, feats in planted_cases]
    pulsed = [(bpm, amp, r) for bpm, amp, r in reported if amp > 0]
    reliable = [(bpm, r) for bpm, _, r in pulsed if r["reliable"]]
    assert all(abs(r["bpm"] - bpm) <= 5 for bpm, r in reliable), [(bpm, r["bpm"]) for bpm, r in reliable]
    assert np.mean([r["reliable"] for _, amp, r in pulsed if amp >= 0.006]) >= 0.5, \
        [(bpm, amp, r["margin"]) for bpm, amp, r in pulsed if amp >= 0.006]
    for _, amp, r in reported:
        if amp == 0:
            assert not r["reliable"], r
        assert (r["bpm"] is None) == (not r["reliable"])
        assert r["reliable"] or r["error"].startswith("no reliable pulse")
        if r["margin"] is not None:                                    # None: no rate, or no rival at all
            assert r["reliable"] == (r["seconds_with_pulse"] >= vitals.MIN_RELIABLE_S and heart.reliable(r["margin"], "pbv"))
        for w in r["series"]:
            if w["margin"] is not None:
                assert w["reliable"] == (w["bpm"] is not None and heart.reliable(w["margin"], "pbv"))


def test_planted_signatures_are_a_cameras_not_pbvs():
    """The spectral model gives PBV for PBV's own setting; the planted signatures are four other
    settings, none within a cosine of 0.99 of PBV, with more and less red and blue than it."""
    pbv = np.asarray(rppg.PBV) / np.linalg.norm(rppg.PBV)
    ref = np.asarray(P.pulse_signature("CMOS", "halogen 2900 K", "light"))
    assert ref / np.linalg.norm(ref) @ pbv > 0.999
    sigs = np.array(list(P.SIGNATURES.values()))
    assert len(sigs) >= 3 and (sigs[:, 1] == 1).all()
    assert ((sigs / np.linalg.norm(sigs, axis=1, keepdims=True)) @ pbv < 0.99).all()
    red, blue = sigs[:, 0] > ref[0], sigs[:, 2] > ref[2]
    assert red.any() and (~red).any() and blue.any() and (~blue).any()


def test_planted_strength_and_arrival_vary_over_the_face():
    """On a real face: the pulse planted with strength 0.4 and a 60 ms delay is weaker in some
    parts of the face than others by more than a quarter, and reaches the lower face about
    60 ms x (its distance down the face) after the forehead; planted flat, neither."""
    frames, fps = P.chained([shared("grid") / "bbaf2n.mpg"])
    points = P.face_points(frames)
    masks = P.skin_masks(frames, points)

    def regions(strength: float, delay_s: float):
        out, _ = P.plant_pulse(frames, fps, 90.0, 0.05, points=points, masks=masks, seed=7, strength=strength,
                               delay_s=delay_s, noise=None, signature=(0.5, 1.0, 0.7))
        centres = list(itertools.product((-0.5, 0.0, 0.5), (0.1, 0.45, 0.8)))
        g, vs = np.full((len(frames), len(centres)), np.nan), np.zeros(len(centres))
        for i, (o, f, m) in enumerate(zip(out, frames, masks)):     # cells that move with the face
            ys, xs = np.mgrid[m.box]
            u, v = P.face_coordinates(points[i], ys.astype(float), xs.astype(float))
            for k, (cu, cv) in enumerate(centres):
                c = (m.mask > 0.9) & (np.abs(u - cu) < 0.25) & (np.abs(v - cv) < 0.12)
                if c.sum() > 30:
                    g[i, k] = 1 - o[m.box][..., 1][c].mean() / f[m.box][..., 1][c].mean()
                    vs[k] += v[c].mean() / len(frames)
        keep = np.isfinite(g).all(axis=0)
        g, vs = g[:, keep], vs[keep]
        t = np.arange(len(frames)) / fps
        z = (g - g.mean(axis=0)).T @ np.exp(-2j * np.pi * 1.5 * t)   # 90 bpm (its HRV: a few degrees here)
        lag = -np.angle(z) / (2 * np.pi * 1.5)
        return np.abs(z), lag - lag[int(np.argmin(vs))], vs - vs.min()

    amp, lag, dv = regions(0.4, 0.06)
    assert amp.max() / amp.min() > 1.25, (amp, lag, dv)
    assert np.allclose(lag, 0.06 * dv, atol=0.012), (lag, 0.06 * dv)
    amp0, lag0, _ = regions(0.0, 0.0)
    assert amp0.max() / amp0.min() < 1.1 and np.abs(lag0).max() < 0.005


def test_planted_frames_carry_a_sensors_noise_growing_with_brightness():
    frames, fps = P.chained([shared("grid") / "bbaf2n.mpg"])
    frames = frames[:10]
    points = np.full((len(frames), 68, 2), np.nan)                # no face: only the camera's noise
    out, _ = P.plant_pulse(frames, fps, 70.0, 0.01, points=points, seed=1)
    d = np.stack(out).astype(float) - np.stack(frames)
    level = np.stack(frames).astype(float)
    dark, bright = d[(level > 20) & (level < 60)].std(), d[level > 150].std()
    read, shot = P.SENSOR_NOISE
    assert dark == pytest.approx(np.sqrt(read ** 2 + shot * 40 + 1 / 12), rel=0.25)
    assert bright > 1.4 * dark and bright == pytest.approx(np.sqrt(read ** 2 + shot * 180 + 1 / 12), rel=0.25)


@pytest.mark.parametrize("name,video,clip", [("Sierra_Leone", "video16", "Sierra_Leone__video16_forehead.avi"),
                                             ("India", "video14", "India__video14_leftcheek.avi")])
def test_real_skin_videos_within_5_bpm_of_their_ground_truth(name, video, clip):
    """Real pulses (no planting): 2-3 minute skin close-ups with a measured mean heart rate. The
    rate followed over time is right; but it does not stand out from other rates in the
    recording's spectrum, so it is not called reliable (the README says why)."""
    root = shared("rppg_skin")
    with open(root / f"{name}_GT.csv", encoding="utf-8-sig") as fh:
        truth = {r[0].strip(): float(r[1]) for r in csv.reader(fh) if r and r[0].strip().startswith("video")}[video]
    reader = FrameReader(root / clip)
    rgb = np.array([cv2.mean(f.bgr)[2::-1] for f in reader])  # whole frame: the video is all skin
    sig = rppg.pulse(rgb, reader.fps, "pbv")
    bpm, snr = heart.heart_rate(sig, reader.fps)
    assert abs(bpm - truth) <= 5.0, f"{bpm:.1f} bpm vs ground truth {truth}"
    assert not heart.reliable(heart.margin_db(sig, reader.fps, bpm), "pbv")
