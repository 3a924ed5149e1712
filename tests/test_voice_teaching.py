"""Planted truth on the teaching set's own voice: its clips' synthesised speech, muxed as AAC, read
back by openSMILE and trained on with the pulse and the landmarks (conftest ``SPEAKING``: the
face tells valence, the pulse arousal on half the clips, the voice a little of both)."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.explain.groups import VOICE_GROUPS
from emojax.explain.importance import explain_run

#: the first test to ask builds the teaching set and its runs (conftest ``speaking_run``)
pytestmark = pytest.mark.timeout(900)

THREE = ("rppg", "face", "voice")
#: the two-way fusions; the one that all three do not beat, as measured, is an expected failure
#: (strict: should it start to pass, the test says so and this mark is to go)
TWO = (("rppg", "face"), ("rppg", "voice"),
       pytest.param(("face", "voice"), marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
           "measured: face+voice early fusion 93.8 % against 88.8 % for all three (gain -5.0 +- 4.3 points): on 40 "
           "training clips the half-informative pulse costs the fused model more than it adds beside a voice "
           "that tells most of the arousal; at voice_info 0.3 all three (76 %) fell below rPPG+face (80 %) "
           "and face+voice (79 %); benchmarks/fusion_gain.py, on another seed at both strengths with three early-fusion "
           "architectures, never saw all three beat face+voice"))))
#: the least gain (accuracy points) of three-way early fusion over each two-way one
MARGIN = 0.05


def _early_right(run) -> dict[str, bool]:
    """Whether early fusion got each held-out clip right, by clip id."""
    p = np.load(run / "predictions.npz")
    right = p["proba_early_fusion"].argmax(axis=1) == p["y_true"]
    return dict(zip(p["ids"].tolist(), right.tolist()))


@pytest.mark.parametrize("two", TWO, ids=["rppg-face", "rppg-voice", "face-voice"])
def test_early_fusion_of_all_three_beats_each_two_way_fusion(speaking_run, two):
    """Every clip is held out once (leave one actor out), so the two runs are compared clip by
    clip: ``b`` clips only the three-way model gets right, ``c`` only the two-way one; the gain
    ``d = (b - c) / n`` must be at least :data:`MARGIN` and more than two standard errors of a
    paired difference of proportions (``sqrt(b + c - (b - c)^2 / n) / n``, McNemar's). The
    classes are balanced, so accuracy is the UAR. It fails when the modality left out adds
    nothing: a voice telling nothing (``voice_info=0``) leaves rPPG+face as good as all three.
    Measured (not tuned): all three 88.8 %, rPPG+face 80.0 % (gain +8.8 +- 3.6 points), rPPG+voice
    51.2 % (+37.5 +- 6.0). Against
    face+voice the claim does not hold (see :data:`TWO`)."""
    three, _ = speaking_run(THREE)
    other, _ = speaking_run(two)
    a, o = _early_right(three), _early_right(other)
    assert set(a) == set(o) and len(a) == 80           # the same clips, each held out once
    ids = sorted(a)
    x, y = np.array([a[i] for i in ids]), np.array([o[i] for i in ids])
    n, b, c = len(ids), int((x & ~y).sum()), int((~x & y).sum())
    d = (b - c) / n
    se = np.sqrt(b + c - (b - c) ** 2 / n) / n
    said = f"three-way {x.mean():.1%}, {'+'.join(two)} {y.mean():.1%}: gain {d:+.1%} +- {se:.1%} (b={b}, c={c})"
    assert d >= MARGIN and d > 2 * se, said


def test_the_voice_gets_its_planted_share_and_its_prosody_ranks_first(speaking_run):
    """Early fusion of the three, explained by permutation on each fold's held-out clips.

    The band was written down before it was measured, from what was planted: permuting the face
    takes a whole axis (valence) away, about half the accuracy; the pulse and the voice share the
    other axis (arousal), and the voice tells a little valence too, so each takes less than the
    face: the voice's share about a quarter, within 10-40 %, and below the face's. Its importance
    is more than two standard errors (over the folds) above zero: the counterpart of the check
    that a voice telling nothing (``voice_info=0``, ``test_explain``) stays within two of zero.
    Measured: 26.8 %, 27.5 +- 5.1 points. (At ``voice_info=0.3``, tried first, the share was 9.7 %
    and not two standard errors above zero; the set moved to 0.6 when the voice added nothing to
    the fusion, and the band stayed as written.)

    Within the voice (the ``region`` grouping's voice groups), the prosody (F0 and loudness, the
    largest planted moves: at 0.6 of the way, happy +1.8 semitones and +1.2 dB, angry +3.6 dB,
    calm -2.4 dB, sad -1.8 semitones) ranks first within its uncertainty (no group above it by
    more than two standard errors of the paired difference over folds), more than two above zero
    and above voice quality and formants. Not strictly first: the spectral balance group holds
    descriptors that follow the level too (spectral flux, MFCC 1) and the slopes the planted
    breathiness moves, and measured as much (9.7 against 9.5 points). At ``voice_info=0``
    nothing is planted: every voice group stays within noise of zero (``test_explain``), so
    this fails there.
    """
    run, _ = speaking_run(THREE)
    out = explain_run(run, groupings=("modality", "region"), models=("early_fusion",), n_repeats=5, write=False)
    entry = out["models"]["early_fusion"]
    mod = entry["groupings"]["modality"]
    assert mod["names"] == ["rppg", "visual", "voice"]
    folds = np.array(mod["per_fold"])                            # (folds, modalities)
    mean, se = folds.mean(axis=0), folds.std(axis=0, ddof=1) / np.sqrt(len(folds))
    share = out["table2"]["early_fusion"]
    said = f"shares {share}, importance {mean.round(3)} +- {se.round(3)} (SE over folds)"
    assert mean[2] > 2 * se[2], said
    assert 10.0 <= share["voice"] <= 40.0, said
    assert share["voice"] < share["visual"], said

    region = entry["groupings"]["region"]
    at = {n: i for i, n in enumerate(region["names"])}
    rf = np.array(region["per_fold"])                            # (folds, groups)
    voice = {g: rf[:, at[g]] for g in VOICE_GROUPS}
    mean_of = {g: float(v.mean()) for g, v in voice.items()}

    def se(v):
        return float(v.std(ddof=1) / np.sqrt(len(v)))

    said = f"voice groups {mean_of}, prosody SE {se(voice['prosody']):.3f}"
    assert mean_of["prosody"] > 2 * se(voice["prosody"]), said
    for g in VOICE_GROUPS:
        if g != "prosody":
            gap = voice[g] - voice["prosody"]
            assert gap.mean() <= 2 * se(gap), (g, said)
    assert mean_of["prosody"] > max(mean_of["voice quality"], mean_of["formants"]), said


def test_the_fusion_gain_benchmark_asks_on_the_tests_set_but_for_its_seed():
    """``benchmarks/fusion_gain.py`` re-asks the claim above on a set that differs from this
    file's (conftest ``SPEAKING``) by its seed alone (and the voice strength it varies), trained
    as its runs are (``SPEAKING_RUN``): should one drift, the README's table would no longer
    speak of this test's design."""
    from benchmarks import fusion_gain

    from .conftest import SPEAKING, SPEAKING_RUN

    assert {**fusion_gain.SPEAKING, "voice_info": SPEAKING["voice_info"], "seed": SPEAKING["seed"]} == SPEAKING
    assert SPEAKING["voice_info"] in fusion_gain.VOICE_INFOS and fusion_gain.SEED != SPEAKING["seed"]
    assert fusion_gain.RUN == SPEAKING_RUN
