"""Modalities as a run setting, end to end on small data: a three-modality run where only the
voice tells the class (planted in the records, see ``conftest.plant_voice``) trains, is
scored, predicts and is explained; a run of the landmarks and the voice; a run folder written
before voice (its spec without ``voice_channels``, its late-fusion weight as one number) loads
and predicts as before."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emojax.features.modalities import MODALITIES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]   # the shared teaching set is built once a session


def _planted(store):
    """Every planted record of ``store``, its label (the record's name up to its first "_") and
    its item id (the name before the store's "__" key)."""
    from emojax.features import Features

    stems = sorted(p.with_suffix("") for p in store.glob("*.json") if p.with_suffix(".npz").is_file())
    return ([Features.load(s) for s in stems], np.array([s.name.split("_")[0] for s in stems]),
            [s.name.split("__")[0] for s in stems])


def test_a_three_modality_run_where_the_voice_tells_trains_predicts_and_is_explained(voice_run):
    from emojax.estimator import TrainedRun
    from emojax.explain.importance import explain_run

    from emojax.data.transforms import InputConfig, to_arrays

    # leave one actor out, pooled over its 4 folds: 48 held-out videos. (On the 12 of one holdout,
    # early fusion's count swung from 3 to 10 with the plant and training seeds, 30 pairs, under
    # either rule of resampling the voice: 12 videos cannot tell it from chance at 1 %. Pooled
    # over 48 it read 24 to 37 in 20 runs, p <= 1.7e-4 each.)
    run, metrics, store = voice_run(MODALITIES, "speaker")
    model = json.loads((run / "model.json").read_text())
    assert model["spec"]["voice_channels"] == 26 and json.loads((run / "config.json").read_text())["modalities"] == \
        list(MODALITIES)
    table = {m: metrics["pooled"][m]["accuracy"] for m in metrics["pooled"]}
    assert set(table) == {"rppg", "face", "voice", "late_fusion", "early_fusion"}, table
    assert table["voice"] >= 0.75, table                                        # 4 classes: chance 0.25
    # the fused model, beside two modalities that tell nothing (136 + 8 channels of noise, 36
    # training videos a fold), still reads the voice: above chance on the held-out videos at 1 %
    from scipy.stats import binomtest

    pred = np.load(run / "predictions.npz")
    n, right = len(pred["y_true"]), int((pred["proba_early_fusion"].argmax(axis=1) == pred["y_true"]).sum())
    assert right / n == pytest.approx(table["early_fusion"])
    assert binomtest(right, n, 0.25, alternative="greater").pvalue < 0.01, (right, n, table)
    assert table["face"] <= 0.6 and table["rppg"] <= 0.6, table                  # their class was taken out
    trained = TrainedRun(run)
    assert trained.model_names == ("rppg", "face", "voice", "late_fusion", "early_fusion")
    # fold 1's models, loaded from their checkpoints, give each video fold 1 held out what the
    # run recorded for it (and read the voice: as above, the other two tell nothing)
    records, _, ids = _planted(store)
    held = [ids.index(i) for i in pred["ids"][pred["fold"] == 1].tolist()]
    assert len(held) == 12
    np.testing.assert_allclose(trained.classifier("early_fusion", 1).predict_proba([records[i] for i in held]),
                               pred["proba_early_fusion"][pred["fold"] == 1], atol=1e-5)
    arrays = to_arrays(records, InputConfig(length=model["spec"]["length"]))
    silent = dict(arrays, mask=arrays["mask"] & (np.arange(len(MODALITIES)) != MODALITIES.index("voice")))
    assert (trained.classifier("voice", 1).predict_proba(silent).std(axis=0) < 1e-6).all()   # no voice: priors
    repeats = 5
    out = explain_run(run, groupings=("modality", "region"), models=("early_fusion",), n_repeats=repeats)
    entry = out["models"]["early_fusion"]
    modality = entry["groupings"]["modality"]
    shares = dict(zip(modality["names"], modality["share_pct"]))
    assert set(shares) == {"rppg", "visual", "voice"}
    assert sum(v or 0 for v in shares.values()) == pytest.approx(100.0), shares
    # the voice, the one modality that tells, moves the fused model more than each of the others
    # by more than two standard errors of the difference (over the permutation repeats); the
    # pulse and face, which tell nothing here, may still move a fused model of 36 videos a little
    mean = dict(zip(modality["names"], modality["mean"]))
    se = {g: s / np.sqrt(repeats) for g, s in zip(modality["names"], modality["std"])}
    for g in ("rppg", "visual"):
        assert mean["voice"] - mean[g] > 2 * np.hypot(se["voice"], se[g]), (mean, se)
    region = dict(zip(entry["groupings"]["region"]["names"], entry["groupings"]["region"]["mean"]))
    voice = {g: region[g] for g in ("prosody", "voice quality", "formants", "spectral balance")}
    assert max(voice, key=voice.get) == "prosody", voice          # the planted pitch and loudness


def test_a_run_of_the_landmarks_and_the_voice_has_their_models_only(voice_run):
    from emojax.estimator import TrainedRun

    run, metrics, _ = voice_run(("face", "voice"))
    assert json.loads((run / "config.json").read_text())["modalities"] == ["face", "voice"]
    spec = json.loads((run / "model.json").read_text())["spec"]
    assert spec["rppg_channels"] == 0 and spec["voice_channels"] == 26 and spec["face_channels"] > 0
    assert set(metrics["pooled"]) == {"face", "voice", "late_fusion", "early_fusion"}
    assert metrics["pooled"]["voice"]["accuracy"] >= 0.75
    assert TrainedRun(run).model_names == ("face", "voice", "late_fusion", "early_fusion")
    with pytest.raises(ValueError, match="this run has"):
        TrainedRun(run).classifier("rppg")


def test_a_run_folder_written_before_voice_loads_and_predicts_as_before(voice_run, tmp_path):
    """A pulse + landmarks run rewritten as emojax wrote runs before voice (no ``modalities`` in
    config.json, no ``voice_channels`` in the spec, ``late_fusion.json`` holding one ``weight``)
    reads as the same two-modality run and predicts the same probabilities."""
    from emojax.data.transforms import InputConfig, to_arrays
    from emojax.estimator import TrainedRun

    run, _, store = voice_run(("rppg", "face"))
    old = tmp_path / "old"
    shutil.copytree(run, old)
    for name in ("config.json", "model.json"):
        d = json.loads((old / name).read_text())
        d.pop("modalities", None)
        if "spec" in d:
            assert d["spec"].pop("voice_channels") == 0
        (old / name).write_text(json.dumps(d))
    rewritten = 0
    for late in old.glob("checkpoint/**/late_fusion.json"):
        w = json.loads(late.read_text())
        late.write_text(json.dumps({"weight": w["weights"]["rppg"]}))
        rewritten += 1
    assert rewritten
    records, _, _ = _planted(store)
    arrays = to_arrays(records[:12], InputConfig(length=150))
    new, before = TrainedRun(run), TrainedRun(old)
    assert before.modalities == ("rppg", "face") and before.model_names == new.model_names
    for m in new.model_names:
        np.testing.assert_array_equal(before.classifier(m, 1).predict_proba(arrays),
                                      new.classifier(m, 1).predict_proba(arrays))


def test_a_run_written_before_voice_is_resumed_with_its_own_two_modalities(voice_run, tmp_path):
    """Re-opened with the preset's modalities (none named) on records that all have a voice, a
    pulse + landmarks run written before voice resumes as the run it is: its two modalities
    (from its model), recorded in its config.json from then on, no voice model trained, its
    metrics as they were. A fresh run records the modalities its preset chose."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    run, metrics, store = voice_run(("rppg", "face"))
    old = tmp_path / "old"
    shutil.copytree(run, old)
    config = json.loads((old / "config.json").read_text())
    assert config.pop("modalities") == ["rppg", "face"]
    (old / "config.json").write_text(json.dumps(config))
    cfg = run_config("teaching", config["root"], preset="improved", protocol="holdout", store=str(store), epochs=60)
    assert cfg.modalities is None                     # the improved preset would choose the voice too here
    again = train_run(cfg, old, workers=1)
    assert json.loads((old / "config.json").read_text())["modalities"] == ["rppg", "face"]
    assert set(again["pooled"]) == {"rppg", "face", "late_fusion", "early_fusion"}
    assert again["pooled"] == metrics["pooled"]
    assert not list(old.glob("checkpoint/**/voice.msgpack"))
