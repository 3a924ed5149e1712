"""The teaching set: balanced classes, ground truth beside each clip, planted heart rate recoverable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojax.data import load_teaching
from emojax.data.teaching import HR_HIGH, HR_LOW, TEACHING_CLASSES, TeachingConfig, make_teaching_set
from emojax.features import Features, vitals
from emojax.data.batch import extract_items

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def teaching(tmp_path_factory):
    root = tmp_path_factory.mktemp("teaching")
    cfg = TeachingConfig(clips_per_class=4, seconds=8.0, seed=7)   # one clip per actor and class
    make_teaching_set(root, cfg)
    ds = load_teaching(root)
    summary = extract_items(ds.items, root / "store", workers=2)
    return root, cfg, ds, summary


def test_classes_balanced_and_ground_truth_beside_each_clip(teaching):
    root, cfg, ds, _ = teaching
    assert ds.counts() == {c: cfg.clips_per_class for c in sorted(TEACHING_CLASSES)}
    assert json.loads((root / "config.json").read_text())["seed"] == 7
    for item in ds.items:
        truth = json.loads((root / f"{item.id}.json").read_text())
        assert truth["label"] == item.label and truth["group"] == item.group
        lo, hi = HR_HIGH if TEACHING_CLASSES[item.label][1] > 0 else HR_LOW
        assert lo - 3 <= truth["hr_bpm"] <= hi + 3
    assert len(ds.speakers()) == cfg.groups
    for label in TEACHING_CLASSES:  # no actor confounded with a class
        assert {i.group for i in ds.items if i.label == label} == set(ds.speakers())


def test_faces_tracked_and_planted_heart_rate_recovered(teaching):
    root, cfg, ds, summary = teaching
    assert summary.count("done") == len(ds.items)
    errors = []
    for item, outcome in zip(ds.items, summary.outcomes):
        feats = Features.load(outcome.stem)
        assert feats.face_ratio >= 0.98
        assert len(feats) == int(cfg.seconds * cfg.fps)
        bpm = vitals.vitals(feats).bpm                 # the default: PBV over the skin patches
        errors.append(abs(bpm - json.loads((root / f"{item.id}.json").read_text())["hr_bpm"]))
    within = np.mean(np.array(errors) <= 3.0)
    assert within >= 0.9, f"planted heart rate within 3 bpm on {within:.0%} of clips: {np.round(errors, 1)}"


def test_expression_carries_valence(teaching):
    """Mouth corners sit higher (relative to the mouth centre) when smiling than when frowning."""
    _, _, ds, summary = teaching
    lift = {}
    for item, outcome in zip(ds.items, summary.outcomes):
        lm = Features.load(outcome.stem).landmarks[-60:]
        corners = lm[:, [48, 54], 1].mean(axis=1)
        centre = lm[:, [51, 57], 1].mean(axis=1)
        iod = np.linalg.norm(lm[:, 36:42].mean(1) - lm[:, 42:48].mean(1), axis=1)
        lift.setdefault(TEACHING_CLASSES[item.label][0], []).append(np.median((centre - corners) / iod))
    assert min(lift[1]) > max(lift[-1])


def test_a_face_from_the_user_video_is_animated(tmp_path, extractor):
    from .conftest import shared

    clip = shared("cremad") / "1001_DFA_NEU_XX.flv"
    make_teaching_set(tmp_path, TeachingConfig(clips_per_class=1, seconds=2.0, size=192, groups=2), faces=[clip])
    ds = load_teaching(tmp_path)
    assert len(ds) == 4 and set(ds.speakers()) == {"face0-v0", "face0-v1"}
    feats = extractor(ds.items[0].path)
    assert feats.face_ratio >= 0.95


def test_a_picture_without_a_face_is_refused(tmp_path):
    from emojax.errors import NoFaceError

    blank = tmp_path / "wall.png"
    import cv2

    cv2.imwrite(str(blank), np.full((200, 200, 3), 200, np.uint8))
    with pytest.raises(NoFaceError, match="wall.png"):
        make_teaching_set(tmp_path / "out", TeachingConfig(clips_per_class=1, seconds=1.0), faces=[blank])


def test_uninformative_pulse_plants_the_same_heart_rates_for_all_classes(tmp_path):
    from emojax.data.animate import make_rig
    from emojax.data.teaching import render_clip

    rig = make_rig(np.full((64, 64, 3), 150, np.uint8), _toy_landmarks())
    cfg = TeachingConfig(seconds=1.0, size=64, pulse_info=0.0)
    rng = np.random.default_rng(0)
    hrs = {c: [render_clip(rig, c, cfg, rng)[1]["hr_bpm"] for _ in range(12)] for c in ("happy", "calm")}
    assert min(hrs["calm"]) < 80 < max(hrs["calm"]) and min(hrs["happy"]) < 80 < max(hrs["happy"])


def _toy_landmarks() -> np.ndarray:
    """A plausible 68-point layout on a 64x64 canvas (for rig-only tests)."""
    t = np.linspace(np.pi, 2 * np.pi, 17)
    jaw = np.c_[32 + 22 * np.cos(t + np.pi), 30 - 26 * np.sin(t + np.pi) * 0.9]
    brows = np.c_[np.linspace(14, 50, 10), np.full(10, 22.0)]
    nose = np.c_[np.r_[np.full(4, 32.0), np.linspace(28, 36, 5)], np.r_[np.linspace(25, 36, 4), np.full(5, 38.0)]]
    eye = lambda cx: np.c_[cx + 5 * np.cos(np.linspace(np.pi, -np.pi, 6, endpoint=False)),
                           27 + 2 * np.sin(np.linspace(np.pi, -np.pi, 6, endpoint=False))]
    mouth_out = np.c_[32 + 9 * np.cos(np.linspace(np.pi, -np.pi, 12, endpoint=False)),
                      46 + 3 * np.sin(np.linspace(np.pi, -np.pi, 12, endpoint=False))]
    mouth_in = np.c_[32 + 6 * np.cos(np.linspace(np.pi, -np.pi, 8, endpoint=False)),
                     46 + 1.5 * np.sin(np.linspace(np.pi, -np.pi, 8, endpoint=False))]
    return np.vstack([jaw, brows, nose, eye(22), eye(42), mouth_out, mouth_in])


@pytest.fixture(scope="module")
def heard():
    """Each class spoken by actor 0 at voice-info 0 and 1, read by openSMILE."""
    from emojax.data.teaching import class_voices

    return {vi: {v.label: v for v in class_voices(list(TEACHING_CLASSES), vi)} for vi in (0.0, 1.0)}


def _f0_semitones(v) -> float:
    """openSMILE's mean F0 (semitones above 27.5 Hz) over the frames holding speech with a voiced 10 ms."""
    from emojax.features.voice import DESCRIPTORS

    st = v.descriptors[v.speech, DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")]
    return float(np.nanmean(st))


def test_the_voices_of_two_classes_differ_in_f0_by_what_was_planted(heard):
    """At voice-info 1, happy's F0 lies above sad's by the planted difference (its profile's 6
    semitones, and its wider accents), as openSMILE reads it within 0.75 semitone; at 0 the two
    are the same samples and read the same."""
    from emojax.features.voice import DESCRIPTORS

    full, none = heard[1.0], heard[0.0]
    planted = full["happy"].voice.truth()["f0_st"] - full["sad"].voice.truth()["f0_st"]
    read = _f0_semitones(full["happy"]) - _f0_semitones(full["sad"])
    assert planted > 5.0, planted
    assert abs(read - planted) < 0.75, (read, planted)
    assert np.array_equal(none["happy"].voice.audio, none["sad"].voice.audio)
    assert none["happy"].voice.truth()["f0_st"] == none["sad"].voice.truth()["f0_st"]
    assert abs(_f0_semitones(none["happy"]) - _f0_semitones(none["sad"])) < 0.25
    for v in full.values():           # what a player plays and the charts draw is what was read
        assert len(v.voice.audio) == round(4.0 * v.voice.fs) and len(v.times) == len(v.descriptors) == 120
        assert v.speech.mean() > 0.3 and np.isfinite(v.f0_hz).sum() > 20
        assert np.allclose(v.f0_hz[v.speech], 27.5 * 2 ** (v.descriptors[v.speech, DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")] / 12), equal_nan=True)


def test_the_loudest_planted_class_reads_loudest(heard):
    """Angry is planted 10 dB above calm at voice-info 1: openSMILE's loudness over speech says so;
    at 0 they read alike."""
    mean = {vi: {c: float(np.nanmean(v.loudness[v.speech])) for c, v in by.items()} for vi, by in heard.items()}
    assert mean[1.0]["angry"] > 1.25 * mean[1.0]["calm"], mean[1.0]
    assert mean[0.0]["angry"] == pytest.approx(mean[0.0]["calm"], rel=1e-6)


def test_class_voices_refuses_an_unknown_class_or_voice_info():
    from emojax.data.teaching import class_voices

    with pytest.raises(ValueError, match="'bored'.*happy"):
        class_voices(["happy", "bored"], 0.5)
    with pytest.raises(ValueError, match="voice_info=1.5"):
        class_voices(["happy", "sad"], 1.5)
