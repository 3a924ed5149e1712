"""Explanations: permutation importance equal to scikit-learn's, planted truth on the teaching
set, integrated gradients' completeness, per class and per video against doing it by hand,
``emojax explain``, and clear errors for bad requests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.metrics import recall_score

from emojax import EmotionClassifier
from emojax.explain import (block_view, class_importance, flat_view, permutation_importance, permutation_plan,
                            permuted_predictions, resolve)
from emojax.explain.local import integrated_gradients, video_importance
from emojax.explain.importance import explain_run

from .test_cli import emojax

pytestmark = pytest.mark.timeout(900)

T = 8
MODELS = [("paper", "early_fusion"), ("improved", "early_fusion"), ("improved", "late_fusion"), ("paper", "face")]


def _toy(seed: int, n: int):
    """``n`` videos, 3 classes: the rPPG channel 1 (G; heart rate in the improved layout) tells
    class 0, landmark channels 10-19 tell 1 from 2; some videos end early, some frames have
    no face, some videos have no pulse at all and some frames a pulse but no landmarks (each
    modality masked on its own)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    r = rng.normal(size=(n, T, 3)).astype(np.float32)
    r[:, :, 1] += 1.5 * (y == 0)[:, None]
    f = rng.normal(size=(n, T, 136)).astype(np.float32)
    f[:, :, 10:20] += (y == 2)[:, None, None] - 0.5 * (y == 0)[:, None, None]
    mask = np.ones((n, T, 2), bool)
    mask[::4, T - 3:] = False
    mask[1::5, 2] = False
    mask[2::6, :, 0] = False
    mask[5::9, 4:6, 1] = False
    r[~mask[..., 0]], f[~mask[..., 1]] = 0, 0
    return {"rppg": r, "face": f, "mask": mask}, np.array(["anger", "joy", "calm"])[y]


@pytest.fixture(scope="module")
def toy():
    return _toy(0, 72)


@pytest.fixture(scope="module")
def fitted(toy):
    X, y = toy
    return {(p, m): EmotionClassifier(m, p, epochs=4, length=T, seed=1).fit(X, y) for p, m in MODELS}


@pytest.mark.parametrize("preset,model,kwargs", [("paper", "early_fusion", {"random_state": 0}),
                                                  ("improved", "late_fusion", {"random_state": 7, "max_samples": 0.75})])
def test_single_columns_equal_scikit_learns(fitted, toy, preset, model, kwargs):
    X, y = toy
    clf = fitted[preset, model]
    view, flat = flat_view(clf, X)
    ours = permutation_importance(clf, X, y, n_repeats=2, **kwargs)   # 1,120 columns: scikit-learn's side is slow
    ref = sk_permutation_importance(view, flat, y, n_repeats=2, **kwargs)
    n = ours.importances.shape[0]
    assert n == T * (3 + 136)
    assert np.array_equal(ours.importances, ref.importances[:n])      # the last T * 2 columns: the masks
    assert np.array_equal(ours.importances_mean, ref.importances_mean[:n])
    assert np.array_equal(ours.importances_std, ref.importances_std[:n])
    assert np.abs(ours.importances).max() > 0


GROUPINGS = ["modality", "channel", "region", "time:4",
             {"green": {"rppg": [1]}, "early mouth and pulse": {"rppg": True, "face": (slice(0, 4), list(range(96, 136)))}}]


@pytest.mark.parametrize("preset,model", MODELS[:3])
@pytest.mark.parametrize("groups", GROUPINGS, ids=["modality", "channel", "region", "time", "custom"])
def test_grouped_importance_equals_scikit_learn_permuting_blocks(fitted, toy, preset, model, groups):
    X, y = toy
    clf = fitted[preset, model]
    view, tokens = block_view(clf, X, groups)
    state = np.random.RandomState(3)
    ours = permutation_importance(clf, X, y, n_repeats=4, random_state=np.random.RandomState(3), groups=groups)
    ref = sk_permutation_importance(view, tokens, y, n_repeats=4, random_state=state)
    assert ours.names == [g.name for g in view.groups]
    assert np.array_equal(ours.importances, ref.importances[:len(ours.names)])


def test_a_scikit_learn_scoring_name_gives_scikit_learns_numbers(fitted, toy):
    X, y = toy
    clf = fitted["improved", "early_fusion"]
    view, tokens = block_view(clf, X, "modality")
    for scoring in ("balanced_accuracy", "neg_log_loss", ["accuracy", "f1_macro"]):
        ours = permutation_importance(clf, X, y, groups="modality", n_repeats=3, random_state=1, scoring=scoring)
        ref = sk_permutation_importance(view, tokens, y, n_repeats=3, random_state=1, scoring=scoring)
        pairs = [(ours, ref)] if isinstance(scoring, str) else [(ours[k], ref[k]) for k in scoring]
        for o, r in pairs:
            assert np.allclose(o.importances, r.importances[:2], atol=1e-6), scoring
            assert np.abs(o.importances).max() > 0


@pytest.mark.parametrize("preset", ["paper", "improved"])
def test_the_channels_that_carry_the_classes_matter_most_on_new_videos(toy, preset):
    """A model that has learned the planted truth (10 epochs: at least 80 % right on new videos;
    the 4-epoch models above are for the exactness tests) leans on the channels that carry it."""
    clf = EmotionClassifier("early_fusion", preset, epochs=10, length=T, seed=1).fit(*toy)
    X, y = _toy(1, 144)
    assert clf.score(X, y) >= 0.8
    res = permutation_importance(clf, X, y, n_repeats=5, random_state=0, groups="channel")
    imp = res.importances_mean
    assert res.names[int(np.argmax(imp[:3]))] == ("rppg:G" if preset == "paper" else "rppg:heart_rate")
    face = imp[3:]
    assert face[10:20].mean() > np.delete(face, range(10, 20)).mean() + 0.005


def test_per_class_importance_is_the_drop_in_scikit_learns_recall(fitted, toy):
    X, y = toy
    clf = fitted["improved", "late_fusion"]
    res = permuted_predictions(clf, X, y, groups="modality", n_repeats=3, random_state=2)
    per_class = class_importance(res)
    view, tokens = block_view(clf, X, "modality")
    plan = permutation_plan(len(y), 3, 2, 1.0)
    base = recall_score(y, clf.predict(X), labels=clf.classes_, average=None)
    for g in range(2):
        for r in range(3):
            t = tokens.copy()
            t[:, g] = plan.perms[r]
            want = base - recall_score(y, view.predict(t), labels=clf.classes_, average=None)
            assert np.allclose(per_class.importances[g, :, r], want), (g, r)
    assert per_class.importances.shape == (2, 3, 3)


def test_one_videos_importance_is_swapping_its_blocks_by_hand(fitted, toy):
    X, y = toy
    clf = fitted["improved", "early_fusion"]
    one = {k: v[:1] for k, v in X.items()}
    bg = {k: v[40:50] for k, v in X.items()}
    res = video_importance(clf, one, bg, groups="region")
    view, flat = flat_view(clf, {k: np.concatenate([one[k], bg[k]]) for k in X})
    k = int(np.flatnonzero(clf.classes_ == res.target)[0])
    for g, group in enumerate(resolve("region", view.layout)):
        from emojax.explain.pfi import block_columns
        cols = block_columns(group)
        swapped = np.repeat(flat[:1], 10, axis=0)
        swapped[:, cols] = flat[1:, cols]
        want = res.proba[k] - view.predict_proba(swapped)[:, k]
        assert np.allclose(res.importances[g], want, atol=1e-5)


ALL = [(p, m) for p in ("paper", "improved") for m in ("rppg", "face", "late_fusion", "early_fusion")]


@pytest.fixture(scope="module")
def fitted_all(fitted, toy):
    X, y = toy
    return {key: fitted.get(key) or EmotionClassifier(key[1], key[0], epochs=2, length=T, seed=1).fit(X, y)
            for key in ALL}


@pytest.mark.parametrize("preset,model", ALL)
def test_a_permuted_block_never_reaches_frames_the_receiver_lacks(fitted_all, toy, preset, model):
    """Video 0 lacks its last 3 frames. Donors equal to it in its own frames and wildly
    different in the 3 it lacks must leave its prediction where it is for every block that
    holds only some channels of a modality (its validity stays the receiver's): their values
    stay out of its padded frames (the flatten layer would read them, and convolutions would
    carry them into its last real frames). A block that holds a whole modality brings the
    donor's validity with it, so the same donors then move the prediction."""
    X, _ = toy
    clf = fitted_all[preset, model]
    assert not X["mask"][0, T - 3:].any() and X["mask"][0, :T - 3].all()
    target = {k: v[:1] for k, v in X.items()}
    rng = np.random.default_rng(5)
    donors = {k: np.repeat(v[:1], 6, axis=0) for k, v in X.items()}
    donors["mask"] = np.ones_like(donors["mask"])
    for k in ("rppg", "face"):
        donors[k][:, T - 3:] = 5 * rng.normal(size=donors[k][:, T - 3:].shape)
    res = video_importance(clf, target, donors, groups=["channel", "region"])
    assert np.abs(res.importances).max() < 1e-5
    whole = video_importance(clf, target, donors, groups=["modality", "time:4"])
    assert np.abs(whole.importances).max() > 1e-4
    # the same donors do move it when they differ in a frame it has
    donors["face"][:, 0] += 5.0
    donors["rppg"][:, 0] += 5.0
    moved = video_importance(clf, target, donors, groups="channel")
    assert np.abs(moved.importances).max() > 1e-4


@pytest.mark.parametrize("preset,model", ALL)
def test_permuting_a_modality_moves_its_validity_with_its_values(fitted_all, toy, preset, model):
    """A donor without a pulse gives the receiver none: permuting the pulse from it leaves
    the receiver exactly as if its pulse were missing (the unimodal rPPG model answers with its
    prior, the fused models read the landmarks alone); a donor without landmarks in two frames
    takes those frames' landmarks away."""
    X, _ = toy
    clf = fitted_all[preset, model]
    target = {k: v[:1] for k, v in X.items()}
    no_pulse = {k: v.copy() for k, v in target.items()}
    no_pulse["mask"][..., 0] = False
    no_pulse["rppg"][:] = 0
    res = video_importance(clf, target, no_pulse, groups="modality")
    p0 = clf.predict_proba(target)[0]
    k = int(np.flatnonzero(clf.classes_ == res.target)[0])
    want = p0[k] - clf.predict_proba(no_pulse)[0, k]
    assert res.names == ["rppg", "visual"]
    assert res.importances[0, 0] == pytest.approx(want, abs=1e-5)
    assert res.importances[1, 0] == pytest.approx(0.0, abs=1e-5)      # its landmarks are the receiver's own
    gap = {k: v.copy() for k, v in target.items()}
    gap["mask"][0, 1:3, 1] = False
    gap["face"][0, 1:3] = 0
    res = video_importance(clf, target, gap, groups="modality")
    assert res.importances[1, 0] == pytest.approx(p0[k] - clf.predict_proba(gap)[0, k], abs=1e-5)
    if model in ("early_fusion", "late_fusion", "rppg") and preset == "improved":
        assert abs(want) > 1e-4                                         # the pulse did matter


@pytest.mark.parametrize("preset,model", MODELS)
def test_integrated_gradients_are_complete(fitted, toy, preset, model):
    X, _ = toy
    clf = fitted[preset, model]
    for i in (0, 30, 61):
        one = {k: v[i:i + 1] for k, v in X.items()}
        ig = integrated_gradients(clf, one)
        k = int(np.flatnonzero(clf.classes_ == ig.target)[0])
        assert ig.f_x == pytest.approx(clf.predict_proba(one)[0, k], abs=1e-5)
        total = ig.rppg.sum() + ig.face.sum()
        assert abs(total - (ig.f_x - ig.f_baseline)) <= 0.01 * abs(ig.f_x - ig.f_baseline) + 1e-7
        assert ig.landmarks.shape == (T, 68) and np.isclose(ig.landmarks.sum(), ig.face.sum())
        assert not ig.rppg[~one["mask"][0, :, 0]].any()   # a frame without a pulse gets nothing
        assert not ig.face[~one["mask"][0, :, 1]].any()


@pytest.mark.parametrize("pulse_info", [0.0, 1.0])
def test_planted_truth_modality_shares_on_the_teaching_set(teaching_run, pulse_info):
    """Pulse made uninformative: the rPPG importance is not distinguishable from zero over the
    folds (at most two standard errors above it), the visual one is, and the visual share is
    at least 90 %; both informative: each share is within 25-75 % - for both fused models,
    pooled over leave-one-actor-out folds. The clips' voice tells nothing (``voice_info=0``):
    its importance is within two standard errors of zero in both."""
    run, _, _ = teaching_run(pulse_info)
    out = explain_run(run, groupings=("modality",), n_repeats=10, write=False)
    for model, share in out["table2"].items():
        names = out["models"][model]["groupings"]["modality"]["names"]
        assert names == ["rppg", "visual", "voice"], names      # the improved run reads the voice
        folds = np.array(out["models"][model]["groupings"]["modality"]["per_fold"])   # (F, [rppg, visual, voice])
        mean, se = folds.mean(axis=0), folds.std(axis=0, ddof=1) / np.sqrt(len(folds))
        assert abs(mean[2]) <= 2 * se[2], (model, folds)          # neither way: it tells nothing
        if pulse_info == 0.0:
            assert mean[0] <= 2 * se[0], (model, folds)
            assert mean[1] > 2 * se[1], (model, folds)
            assert share["visual"] >= 90.0, (model, share)
        else:
            assert 25.0 <= share["rppg"] <= 75.0 and 25.0 <= share["visual"] <= 75.0, (model, share)


def test_explain_command_writes_importance_json(explained_run):
    run, proc = explained_run        # `emojax explain RUN --groups modality,region,time:5 --per-class --video C`
    assert "modality contributions (Table 2)" in proc.stdout and "paper (IEMOCAP)" in proc.stdout
    out = json.loads((run / "importance.json").read_text())
    assert set(out["models"]) == {"early_fusion", "late_fusion"}
    ef = out["models"]["early_fusion"]
    from emojax.explain.groups import VOICE_GROUPS
    from emojax.features.landmarks import REGIONS

    # the run reads the voice (the teaching clips speak): its groups stand beside the face's
    assert json.loads((run / "model.json").read_text())["modalities"] == ["rppg", "face", "voice"]
    assert ef["groupings"]["region"]["names"] == [*REGIONS, *VOICE_GROUPS]
    assert list(VOICE_GROUPS) == ["prosody", "voice quality", "formants", "spectral balance"]
    assert len(ef["groupings"]["time:5"]["names"]) == 5
    assert len(ef["per_class"]["modality"]["mean"][0]) == len(out["classes"])
    assert sum(out["table2"]["early_fusion"].values()) == pytest.approx(100.0)
    video = out["video"]["models"]["early_fusion"]
    assert np.array(video["integrated_gradients"]["landmarks"]).shape == (150, 68)
    assert video["integrated_gradients"]["completeness_error"] <= 0.01
    assert video["label"] in out["classes"]

    bad = emojax("explain", run, "--groups", "modality,lips", check=False)
    assert bad.returncode == 2 and "unknown grouping 'lips'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_explained_video_is_read_and_predicted_as_predict_does(explained_run, teaching_set):
    """`emojax explain --video` reads its clip through inference as `emojax predict` does: each
    model's probabilities are predict's; the modality shares are read the one library way."""
    from emojax.explain.importance import modality_shares_of, shares_per_model
    from emojax.inference import predict_video

    run, _ = explained_run
    clip = sorted(teaching_set(1.0).glob("happy_*.mp4"))[0]
    out = json.loads((run / "importance.json").read_text())
    pred = predict_video(clip, run)
    for m, e in out["video"]["models"].items():
        assert e["label"] == pred["models"][m]["label"]
        assert e["proba"] == pytest.approx(pred["models"][m]["proba"], abs=1e-4)
    shares = shares_per_model(out["video"])
    assert set(shares) == set(out["video"]["models"])
    for m, e in out["video"]["models"].items():
        mod = e["groupings"]["modality"]
        assert shares[m] == modality_shares_of(e) == dict(zip(mod["names"], mod["share_pct"]))
    assert out["table2"] == {m: modality_shares_of(e) for m, e in out["models"].items()}


def test_bad_requests_say_what_is_wrong(fitted, toy):
    X, y = toy
    clf = fitted["paper", "early_fusion"]
    cases = [
        (dict(groups="lips"), "unknown grouping 'lips'"),
        (dict(groups=["modality", "modality"]), "repeated"),
        (dict(groups={"x": {"rppg": np.ones((T + 1, 3), bool)}}), "must have the input's shape"),
        (dict(groups={"x": {"face": [500]}}), "out of bounds"),
        (dict(groups={"x": {"rppg": []}}), "select no input value"),
        (dict(groups={"x": {"pulse": True}}), r"keys of \['rppg', 'face', 'voice'\]"),
        (dict(n_repeats=0), "n_repeats"),
        (dict(max_samples=2.0), "max_samples"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            permutation_importance(clf, X, y, **{"groups": "modality", **kwargs})
    with pytest.raises(ValueError, match="overlap"):
        permuted_predictions(clf, X, y, groups=["modality", "region"], disjoint=True)
    with pytest.raises(ValueError, match="face channels 10 .model: 136."):
        permutation_importance(clf, {**X, "face": X["face"][:, :, :10]}, y, groups="modality")
    with pytest.raises(ValueError, match="frames 5 .model: 8."):
        permutation_importance(clf, {k: v[:, :5] for k, v in X.items()}, y, groups="modality")
    with pytest.raises(ValueError, match="72 videos but y has 3"):
        permutation_importance(clf, X, y[:3], groups="modality")
    with pytest.raises(TypeError, match="sklearn.inspection.permutation_importance"):
        from sklearn.linear_model import LogisticRegression
        permutation_importance(LogisticRegression(), X["rppg"][:, :, 0], y)
    with pytest.raises(ValueError, match="not fitted"):
        permutation_importance(EmotionClassifier(), X, y)
    with pytest.raises(ValueError, match="one video at a time"):
        integrated_gradients(clf, {k: v[:2] for k, v in X.items()})


def test_the_region_grouping_has_the_voice_groups_beside_the_face_in_a_run_with_voice(capsys):
    """Voice groups (features.voice.GROUPS, ``voiced`` with the prosody) cover each voice channel
    once, beside the face regions; a run without voice keeps the five regions; the CLI's Table 2
    has a column per modality the models have."""
    from emojax.cli.common import print_importance
    from emojax.data.transforms import VOICE_NAMES
    from emojax.explain.groups import REGIONS, Layout, ready_groups
    from emojax.features.voice import GROUPS

    groups = ready_groups("region", Layout(10, 3, 272, "improved", len(VOICE_NAMES)))
    assert [g.name for g in groups] == [*REGIONS, *GROUPS]
    voice = np.stack([g.voice for g in groups]).sum(axis=0)
    assert (voice == 1).all()                                   # every voice value in exactly one group
    prosody = next(g for g in groups if g.name == "prosody").voice[0]
    assert [VOICE_NAMES[c] for c in np.flatnonzero(prosody)] == ["Loudness_sma3", "F0semitoneFrom27.5Hz_sma3nz", "voiced"]
    assert [g.name for g in ready_groups("region", Layout(10, 3, 272, "improved"))] == list(REGIONS)
    print_importance({"paper_table2": {"rppg": 37.67, "face": 62.33}, "models": {},
                      "table2": {"early_fusion": {"rppg": 10.0, "visual": 20.0, "voice": 70.0}}})
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["model", "rPPG", "visual", "voice"] and out[2].split() == ["early_fusion", "10.00", "20.00", "70.00"]
    assert out[3].split()[-3:] == ["37.67", "62.33", "-"]
