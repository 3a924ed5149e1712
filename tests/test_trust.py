"""Numbers a reviewer can trust: a run's test videos are normalised as prediction normalises a
new video (and with the training videos' statistics only), `predict --fold K` gives back the
stored probabilities, intervals resample speakers, several seeds, a final model, modality
dropout one modality at a time, and testing a run on another corpus."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from emojax.data import load_teaching
from emojax.errors import EmojaxError
from emojax.estimator import TrainedRun
from emojax.inference import predict_videos
from emojax.models.early_fusion import ModalityDropout
from emojax.training.metrics import bootstrap_ci, scores
from emojax.training.config import run_config
from emojax.training.run import train_run
from emojax.training.runfiles import read_predictions

from .conftest import shared
from .test_cli import emojax

pytestmark = pytest.mark.timeout(900)

from emojax.models import MODEL_NAMES

MODELS = MODEL_NAMES        # the teaching clips speak: the improved runs on them read all three modalities


def _paths(root: Path) -> dict[str, str]:
    return {i.id: i.path for i in load_teaching(root).items}


def test_fold_metrics_are_what_predict_gives_each_held_out_video(teaching_run, teaching_set):
    """Every held-out video, extracted again from its file and predicted with its fold's models
    by `predict_videos(..., fold=K)` one fold at a time, gets the probabilities stored in
    predictions.npz (to 1e-5) for every model, so the fold metrics recomputed from these
    predictions are metrics.json's."""
    run, metrics, _ = teaching_run(1.0)
    paths = _paths(teaching_set(1.0))
    pred = read_predictions(run)
    trained = TrainedRun(run)
    got = {m: np.zeros_like(pred[f"proba_{m}"]) for m in MODELS}
    assert sorted(set(pred["fold"].tolist())) == list(range(1, len(trained.fold_names) + 1))
    for k in np.unique(pred["fold"]):            # fold K of predictions.npz is --fold K and checkpoint/fold-K
        rows = np.flatnonzero(pred["fold"] == k)
        assert (run / "checkpoint" / f"fold-{k}").is_dir()
        results = predict_videos([paths[i] for i in pred["ids"][rows]], trained, fold=int(k))
        assert {r["models_used"] for r in results} == {f"fold {k} ({trained.fold_names[k - 1]})"}
        for row, r in zip(rows, results):
            for m in MODELS:
                got[m][row] = [r["models"][m]["proba"][c] for c in r["classes"]]
    for m in MODELS:
        assert np.abs(got[m] - pred[f"proba_{m}"]).max() <= 1e-5, m
        for f, fold in enumerate(metrics["folds"], start=1):
            assert fold["fold"] == f
            sel = pred["fold"] == f
            again = scores(pred["y_true"][sel], got[m][sel].argmax(axis=1), len(pred["classes"]))
            assert again == pytest.approx(fold["models"][m], abs=1e-12), (m, f)


def test_predict_fold_on_the_command_line_matches_the_run(teaching_run, teaching_set):
    run, _, _ = teaching_run(1.0)
    paths = _paths(teaching_set(1.0))
    pred = read_predictions(run)
    rows = np.flatnonzero(pred["fold"] == 2)[:2]           # the same number on both sides
    proc = emojax("predict", *[paths[i] for i in pred["ids"][rows]], "--run", run, "--fold", "2", "--json")
    out = json.loads(proc.stdout)
    for row, r in zip(rows, out):
        for m in MODELS:
            p = np.array([r["models"][m]["proba"][c] for c in r["classes"]])
            assert np.abs(p - pred[f"proba_{m}"][row]).max() <= 1e-5
    bad = emojax("predict", paths[pred["ids"][0]], "--run", run, "--fold", "9", check=False)
    assert bad.returncode == 2 and "no fold 9" in bad.stderr and "Traceback" not in bad.stderr
    bad = emojax("predict", paths[pred["ids"][0]], "--run", run, "--same-speaker", check=False)
    assert bad.returncode == 2 and "would change nothing" in bad.stderr


def _manifest(path: Path, rows) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "group"])
        w.writerows(rows)
    return path


def _norms(run: Path) -> list[np.ndarray]:
    """Every standardisation statistic of the run's fold-1 models."""
    tr = TrainedRun(run)
    out = []
    for m in ("rppg", "face", "voice", "early_fusion"):
        for _, v in nnx.iter_graph(tr.split(0)[m]):
            if type(v).__name__ == "Stat":
                out.append(np.asarray(v[...]))
    return out


def test_normalisation_statistics_never_see_a_test_video(teaching_set, tmp_path):
    """One held-out video replaced by an outlier (a real CREMA-D face: another person, another
    pulse) changes no statistic of the models and no other video's prediction; the stored
    statistics are those of the training videos, and with the test videos they would differ."""
    import shutil

    from emojax.training.protocols import make_folds
    from emojax.training.config import RunConfig
    from emojax.training.prepare import prepare

    root = teaching_set(1.0)
    rows = [(i.path, i.label, i.group) for i in load_teaching(root).items]
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(root / "store", tmp_path / "store")
    cfg_a = run_config("csv", _manifest(tmp_path / "a.csv", rows), preset="improved", protocol="holdout",
                       store=str(tmp_path / "store"), epochs=1)
    train_run(cfg_a, a)
    pa = read_predictions(a)
    victim = str(pa["ids"][0])                                   # a held-out video
    odd = [(str(shared("cremad") / "1001_DFA_ANG_XX.flv") if Path(p).stem == victim else p, lab, g)
           for p, lab, g in rows]
    cfg_b = RunConfig.from_dict({**cfg_a.to_dict(), "root": str(_manifest(tmp_path / "b.csv", odd))})
    train_run(cfg_b, b)
    pb = read_predictions(b)
    assert pb["ids"][0] == "1001_DFA_ANG_XX" and list(pb["ids"][1:]) == list(pa["ids"][1:])
    for x, y in zip(_norms(a), _norms(b)):
        assert np.array_equal(x, y)
    for m in MODELS:
        assert np.array_equal(pa[f"proba_{m}"][1:], pb[f"proba_{m}"][1:]), m
    assert not np.allclose(pa["proba_face"][0], pb["proba_face"][0], atol=1e-4)

    data = prepare(cfg_b)
    fold = make_folds(data.y, data.speakers, protocol="holdout", val_fraction=cfg_b.train.val_fraction, seed=0)[0]
    face, mask = data.arrays["face"], data.arrays["mask"][..., 1]          # the landmarks' own mask
    stored = np.asarray(TrainedRun(b).split(0)["face"].norm.mean[...])
    train_mean = face[fold.train][mask[fold.train]].astype(np.float64).mean(axis=0)
    assert np.abs(train_mean - stored).max() < 1e-5
    rows_all = np.concatenate([fold.train, fold.test])
    with_test = face[rows_all][mask[rows_all]].astype(np.float64).mean(axis=0)
    assert np.abs(with_test - stored).max() > 1e-3


def test_a_speaker_bootstrap_is_wider_when_a_speakers_videos_go_together():
    """Two speakers: all of one speaker's videos right, all of the other's wrong. Resampling
    videos claims accuracy 0.5 +- a little; resampling speakers sees that it could be 0 or 1."""
    y = np.zeros(40, int)
    y[::2] = 1
    groups = np.repeat(["a", "b"], 20)
    y_pred = np.where(groups == "a", y, 1 - y)
    by_video = bootstrap_ci(y, y_pred, n=2000)
    by_speaker = bootstrap_ci(y, y_pred, groups, n=2000)
    assert by_video["resampled"] == "videos" and by_speaker["resampled"] == "speakers" and by_speaker["clusters"] == 2
    width = {k: v["accuracy"][1] - v["accuracy"][0] for k, v in (("video", by_video), ("speaker", by_speaker))}
    assert width["speaker"] > 2 * width["video"]
    assert by_speaker["accuracy"] == [0.0, 1.0]
    # with independent videos the two agree roughly
    rng = np.random.default_rng(0)
    y_pred2 = np.where(rng.random(40) < 0.7, y, 1 - y)
    groups2 = rng.choice(list("abcdefghij"), 40)
    w2 = [np.diff(bootstrap_ci(y, y_pred2, g, n=2000)["accuracy"])[0] for g in (None, groups2)]
    assert 0.5 < w2[1] / w2[0] < 2.0


def test_modality_dropout_never_drops_two_nor_a_clips_only_modality():
    n = 20000
    every = np.ones(n, bool)
    ones = np.ones((n, 2, 4), np.float32)
    for m in (2, 3):
        drop = ModalityDropout(0.25, rngs=nnx.Rngs(3), modalities=m)
        parts = drop([ones] * m, [every] * m)
        gone = np.stack([np.asarray(p[:, 0, 0]) == 0 for p in parts])          # (M, N)
        assert gone.sum(axis=0).max() == 1                                     # never two of a clip
        assert np.allclose(gone.mean(axis=1), 0.25, atol=0.02), gone.mean(axis=1)
        assert float(np.asarray(parts[0]).mean()) == pytest.approx(1.0, abs=0.03)   # expectation kept
    drop = ModalityDropout(0.25, rngs=nnx.Rngs(3), modalities=3)
    no_pulse = np.arange(n) % 2 == 0                                           # half the clips have no pulse
    alone = np.arange(n) % 4 == 1                                              # a quarter: the landmarks alone
    r, f, v = drop([np.where(no_pulse[:, None, None], 0, 1).astype(np.float32), ones, ones],
                   [~no_pulse & ~alone, every, ~alone])
    f = np.asarray(f[:, 0, 0])
    assert (f[alone] == 1).all()                     # a clip's only modality: never dropped, never rescaled
    assert abs((f[~alone] == 0).mean() - 0.25) < 0.03
    drop.deterministic = True
    parts = drop([np.ones((5, 2, 4))] * 3, [np.ones(5, bool)] * 3)
    assert all((np.asarray(p) == 1).all() for p in parts)
    with pytest.raises(ValueError, match=r"1/2"):
        ModalityDropout(0.6, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"1/3"):
        ModalityDropout(0.4, rngs=nnx.Rngs(0), modalities=3)


@pytest.fixture(scope="module")
def seeded_run(teaching_set, tmp_path_factory):
    """A short holdout run with one seed, then grown to two seeds and a final model."""
    root = teaching_set(1.0)
    out = tmp_path_factory.mktemp("seeds") / "run"
    args = ["train", "--dataset", "teaching", "--root", root, "--store", root / "store", "--protocol", "holdout",
            "--epochs", "6", "--quiet", "--out", out]
    emojax(*args)
    first = read_predictions(out)
    proc = emojax(*args, "--seeds", "2", "--refit")
    return root, out, first, proc


def test_more_seeds_and_a_final_model_are_added_to_a_run(seeded_run):
    root, out, first, proc = seeded_run
    again = read_predictions(out)
    for k in first:                                               # the first seed is kept bit for bit
        assert np.array_equal(first[k], again[k]), k
    other = read_predictions(out / "seeds" / "1")
    assert not np.array_equal(other["proba_early_fusion"], first["proba_early_fusion"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"]["values"] == [0, 1]
    for m in MODELS:
        per_seed = [s[m]["accuracy"] for s in metrics["seeds"]["per_seed"]]
        assert metrics["seeds"]["summary"][m]["accuracy"]["mean"] == pytest.approx(np.mean(per_seed))
        assert metrics["seeds"]["summary"][m]["accuracy"]["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert "mean ± std over 2 seeds" in proc.stdout and "± seeds" in proc.stdout
    assert "Majority class (baseline)" in proc.stdout and "test videos per class" in proc.stdout
    final = json.loads((out / "final.json").read_text())
    assert final["videos"] == 48 and set(final["epochs"]) == {"rppg", "face", "voice", "early_fusion"}
    assert all(1 <= e <= 6 for e in final["epochs"].values())
    weights = final["late_fusion_weights"]                  # the mean of the folds' weights, on the simplex
    assert set(weights) == {"rppg", "face", "voice"} and sum(weights.values()) == pytest.approx(1.0)
    assert all(w >= 0 for w in weights.values()) and "late_fusion_weight" not in final
    assert sorted(p.name for p in (out / "checkpoint" / "final").glob("*.msgpack")) == [
        "early_fusion.msgpack", "face.msgpack", "rppg.msgpack", "voice.msgpack"]
    # the final model trains on the folds' learning-rate schedule and stops at the epoch chosen
    from emojax.training.progress import read_curves

    folds, refit = read_curves(out), read_curves(out / "checkpoint" / "final")
    for m, stop in final["epochs"].items():
        fold_lr = [c["lr"] for c in folds if c["model"] == m and c["fold"] == 1]
        final_lr = [c["lr"] for c in refit if c["model"] == m]
        assert len(fold_lr) == 6 and len(final_lr) == stop
        assert final_lr == pytest.approx(fold_lr[:stop], rel=1e-6), m
    evaluated = json.loads(emojax("evaluate", out, "--json").stdout)
    assert evaluated["seeds"]["summary"] == metrics["seeds"]["summary"]


def test_a_run_reopened_with_other_seeds_says_what_it_keeps_and_never_shrinks(seeded_run):
    root, out, first, grown = seeded_run
    assert "adding seed(s) 1 to its 1 (0, kept as they are); all 2 are reported" in grown.stdout
    assert "adding a final model (--refit)" in grown.stdout
    before = json.loads((out / "metrics.json").read_text())
    args = ["train", "--dataset", "teaching", "--root", root, "--store", root / "store", "--protocol", "holdout",
            "--epochs", "6", "--quiet", "--out", out]
    proc = emojax(*args, "--seeds", "1")               # fewer seeds, no --refit
    assert ("it has 2 seeds (0, 1) and --seeds 1 asks for fewer: all 2 are kept and reported" in proc.stdout
            and "its final model (--refit) is kept" in proc.stdout), proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["seeds"] == 2 and config["refit"] is True
    after = json.loads((out / "metrics.json").read_text())
    assert after["seeds"]["values"] == [0, 1] and after["seeds"]["summary"] == before["seeds"]["summary"]
    assert after["final"] == before["final"] and "mean ± std over 2 seeds" in proc.stdout


def test_the_final_model_predicts_and_says_so(seeded_run):
    root, out, _, _ = seeded_run
    clip = sorted(root.glob("sad_*.mp4"))[0]
    r = json.loads(emojax("predict", clip, "--run", out, "--json").stdout)
    assert r["models_used"] == "final model (trained on every video)"
    assert r["label"] in r["classes"] and abs(sum(r["models"]["early_fusion"]["proba"].values()) - 1) < 1e-5
    folds = json.loads(emojax("predict", clip, "--run", out, "--fold", "1", "--json").stdout)
    assert folds["models_used"].startswith("fold 1")
    assert folds["models"]["early_fusion"]["proba"] != r["models"]["early_fusion"]["proba"]


def test_a_speaker_relative_run_asks_for_the_speakers_videos(teaching_set, speaker_relative_run):
    root = teaching_set(1.0)
    out, _ = speaker_relative_run
    assert json.loads((out / "model.json").read_text())["normalisation"]["speaker_relative"] is True
    pred = read_predictions(out)
    paths = _paths(root)
    group = str(pred["group"][0])
    same = np.flatnonzero(pred["group"] == group)
    with pytest.raises(EmojaxError, match="--same-speaker"):
        predict_videos([paths[pred["ids"][0]]], out, fold=1)
    results = predict_videos([paths[i] for i in pred["ids"][same]], out, fold=1, same_speaker=True)
    got = np.array([[r["models"]["early_fusion"]["proba"][c] for c in r["classes"]] for r in results])
    assert np.abs(got - pred["proba_early_fusion"][same]).max() <= 1e-5


def _renamed(src: Path, dst: Path, names: dict[str, str]) -> Path:
    for p in src.glob("*.mp4"):
        d = dst / names[p.stem.split("_")[0]]
        d.mkdir(parents=True, exist_ok=True)
        (d / p.name).symlink_to(p)
    return dst


def test_a_run_is_tested_on_another_corpus_over_the_classes_both_share(teaching_run, tmp_path):
    """A teaching run on a second teaching set with another seed and another face (a CREMA-D
    actor), whose class folders are named otherwise: the default map finds three of them
    (neu -> calm, ang -> angry, sad), --map adds joy -> happy; an unmappable set is refused."""
    from emojax.data.teaching import TeachingConfig, make_teaching_set

    run, _, _ = teaching_run(1.0)
    other = tmp_path / "other"
    make_teaching_set(other, TeachingConfig(clips_per_class=3, seconds=4.0, size=192, seed=5, groups=2),
                      faces=[shared("cremad") / "1001_DFA_NEU_XX.flv"], workers=2)
    corpus = _renamed(other, tmp_path / "corpus", {"happy": "joy", "calm": "neu", "angry": "ang", "sad": "sad"})
    proc = emojax("evaluate", run, "--dataset", "folder", "--root", corpus, "--map", "joy=happy",
                  "--store", tmp_path / "store", "--name", "other-faces")
    assert "joy -> happy" in proc.stdout and "neu -> calm" in proc.stdout and "| Early fusion |" in proc.stdout
    out = run / "cross" / "other-faces"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_map"] == {"joy": "happy", "neu": "calm", "ang": "angry", "sad": "sad"}
    assert metrics["n_videos"] == 12 and metrics["models_used"].startswith("mean of the 4 folds")
    assert len(metrics["folds"]) == 4 and set(metrics["summary"]) == set(MODELS)
    pred = read_predictions(out)
    assert pred["proba_early_fusion"].shape == (12, 4)
    acc = (pred["proba_early_fusion"].argmax(1) == pred["y_true"]).mean()
    assert metrics["pooled"]["early_fusion"]["accuracy"] == pytest.approx(acc)

    without = emojax("evaluate", run, "--dataset", "folder", "--root", corpus, "--store", tmp_path / "store",
                     "--name", "three", "--json")
    three = json.loads(without.stdout)
    assert three["shared_classes"] == ["angry", "calm", "sad"] and three["left_out"]["classes"] == {"joy": 3}

    junk = _renamed(other, tmp_path / "junk", {"happy": "w", "calm": "x", "angry": "y", "sad": "z"})
    bad = emojax("evaluate", run, "--dataset", "folder", "--root", junk, "--store", tmp_path / "store", check=False)
    assert bad.returncode == 2 and "share 0 class(es)" in bad.stderr and "--map" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_visitors_predicting_at_once_with_one_loaded_run_get_what_each_gets_alone(teaching_run, teaching_set):
    """The dashboard loads a run once and every visitor's page predicts with its models, from
    its own thread: eight predictions at once give, each, what that record gets alone (a model
    written back by one thread while another read it broke both: an attribute missing, a shape
    refused)."""
    import threading

    from emojax.features.record import Features
    from emojax.inference import predict_features

    import pickle

    run = teaching_run(1.0)[0]
    stems = sorted(p.with_suffix("") for p in (teaching_set(1.0) / "store").glob("*.json"))[:8]
    records = [Features.load(s) for s in stems]
    alone = [predict_features(r, TrainedRun(run))["models"] for r in records]
    trained = pickle.loads(pickle.dumps(TrainedRun(run)))    # a run as another process would get it
    for _ in range(4):
        got: list = [None] * len(records)
        go = threading.Barrier(len(records))

        def predict(i: int) -> None:
            go.wait()
            try:
                got[i] = predict_features(records[i], trained)["models"]
            except Exception as e:          # noqa: BLE001 -- what a visitor's page would show
                got[i] = e

        threads = [threading.Thread(target=predict, args=(i,)) for i in range(len(records))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i, (g, want) in enumerate(zip(got, alone)):
            assert not isinstance(g, Exception), f"{stems[i].name}: {g!r}"
            for m in want:
                assert g[m]["proba"] == pytest.approx(want[m]["proba"], abs=1e-6), (stems[i].name, m)
