"""Training and evaluation: the four models on the teaching set, run folders, protocols, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojax.data import load_iemocap
from emojax.errors import DatasetError, EmojaxError
from emojax.training.protocols import make_folds
from emojax.training.config import run_config
from emojax.training.progress import read_curves
from emojax.training.run import train_run
from emojax.training.runfiles import read_predictions

pytestmark = pytest.mark.timeout(900)

MODELS = ("rppg", "face", "late_fusion", "early_fusion")


@pytest.fixture(scope="module")
def informative_run(teaching_run):
    """The improved preset, leave-one-actor-out, on a teaching set where both modalities tell."""
    return teaching_run(1.0)


def test_early_fusion_beats_each_modality_when_both_tell(informative_run):
    _, metrics, _ = informative_run
    acc = {m: metrics["summary"][m]["accuracy"]["mean"] for m in MODELS}
    assert acc["early_fusion"] >= acc["rppg"] + 0.15, acc
    assert acc["early_fusion"] >= acc["face"] + 0.15, acc
    # each modality alone tells one axis of two (arousal / valence): above chance, far below fusion
    assert acc["rppg"] > 0.35 and acc["face"] > 0.35, acc


def test_the_demo_reuses_a_run_finished_with_the_same_settings_only(informative_run, teaching_set):
    from emojax.training.run import finished

    out, metrics, _ = informative_run
    root = teaching_set(1.0)
    same = run_config("teaching", root, preset="improved", protocol="speaker", store=str(root / "store"))
    assert finished(out, same) == json.loads((out / "metrics.json").read_text())
    other = run_config("teaching", root, preset="improved", protocol="speaker", store=str(root / "store"), epochs=3)
    assert finished(out, other) is None
    assert finished(out.parent / "nothing-here", same) is None


def test_run_folder_holds_config_metrics_predictions_curves_and_checkpoints(informative_run):
    out, metrics, events = informative_run
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["protocol"] == "speaker" and cfg["train"]["preset"] == "improved"
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    for m in MODELS:
        assert set(metrics["summary"][m]) == {"accuracy", "uar", "precision_macro", "recall_macro", "f1_macro",
                                              "f1_weighted"}
        assert all(set(v) == {"mean", "std"} for v in metrics["summary"][m].values())
    pred = read_predictions(out)
    n, k = len(pred["ids"]), len(pred["classes"])
    assert n == metrics["n_videos"] == 48 and sorted(set(pred["fold"])) == [1, 2, 3, 4]   # as fold-K, --fold K
    for m in MODELS:
        assert pred[f"proba_{m}"].shape == (n, k) and np.allclose(pred[f"proba_{m}"].sum(axis=1), 1, atol=1e-5)
    curves = read_curves(out)
    # the teaching clips speak, so the improved run reads the voice too (a model of its own)
    assert {(c["fold"], c["model"]) for c in curves} == {(f, m) for f in range(1, 5)
                                                         for m in ("rppg", "face", "voice", "early_fusion")}
    assert all({"train_loss", "val_uar", "epoch"} <= set(c) for c in curves)
    for f in range(1, 5):
        names = sorted(p.name for p in (out / "checkpoint" / f"fold-{f}").iterdir())
        assert names == ["early_fusion.msgpack", "face.msgpack", "late_fusion.json", "rppg.msgpack", "voice.msgpack"]
    assert json.loads((out / "progress.json").read_text())["status"] == "done"
    assert {e["stage"] for e in events} >= {"extract", "train", "evaluate"}


def _by_hand(t: np.ndarray, p: np.ndarray, k: int) -> dict:
    """The scores from their definitions, counted with numpy (no scikit-learn): macro over the
    run's k classes, a class never predicted (or never tested) counting 0 for the undefined
    term; UAR the mean recall over the same k classes."""
    labels = np.arange(k)
    tp = np.array([np.sum((t == c) & (p == c)) for c in labels], float)
    true, pred = np.array([np.sum(t == c) for c in labels], float), np.array([np.sum(p == c) for c in labels], float)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    return {"accuracy": tp.sum() / len(t), "uar": recall.mean(), "precision_macro": precision.mean(),
            "recall_macro": recall.mean(), "f1_macro": f1.mean(), "f1_weighted": (f1 * true).sum() / true.sum()}


def test_the_scores_are_their_definitions():
    """A case worked on paper: 5 videos, 3 classes, class 2 never predicted."""
    from emojax.training.metrics import scores

    got = scores([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    want = {"accuracy": 3 / 5, "uar": (1 / 2 + 1 + 0) / 3, "precision_macro": (1 / 2 + 2 / 3 + 0) / 3,
            "recall_macro": (1 / 2 + 1 + 0) / 3, "f1_macro": (1 / 2 + 0.8 + 0) / 3,
            "f1_weighted": (2 * 1 / 2 + 2 * 0.8 + 0) / 5}
    assert got == pytest.approx(want, abs=1e-12)
    assert _by_hand(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 3) == pytest.approx(want, abs=1e-12)


def test_the_run_metrics_are_the_definitions_on_the_saved_predictions(informative_run):
    out, metrics, _ = informative_run
    pred = read_predictions(out)
    y, fold = pred["y_true"], pred["fold"]
    for m in MODELS:
        y_hat = pred[f"proba_{m}"].argmax(axis=1)
        per_fold = [_by_hand(y[fold == f], y_hat[fold == f], len(metrics["classes"])) for f in np.unique(fold)]
        for s in per_fold[0]:
            v = [f[s] for f in per_fold]
            assert metrics["summary"][m][s]["mean"] == pytest.approx(np.mean(v), abs=1e-12)
            assert metrics["summary"][m][s]["std"] == pytest.approx(np.std(v, ddof=1), abs=1e-12)
        counts = np.zeros((4, 4), int)
        np.add.at(counts, (y, y_hat), 1)
        assert metrics["pooled"][m]["confusion"] == counts.tolist()
        lo, hi = metrics["ci"][m]["accuracy"]
        assert lo <= np.mean(y == y_hat) <= hi


def test_table1_lists_every_model_like_the_paper_and_the_baseline_beside_them(informative_run):
    run, metrics, _ = informative_run
    table = [row for row in metrics["table1"].splitlines() if row.startswith("|")]
    assert table[0].startswith("| Model | Accuracy | Precision | Recall | F1 | UAR")
    assert [row.split("|")[1].strip() for row in table[2:]] == ["rPPG", "Facial", "Voice", "Late fusion",
                                                                 "Early fusion", "Majority class (baseline)"]
    assert metrics["table1"].splitlines()[-1].startswith("Speaker-independent (speaker): every video names its speaker")
    pred = read_predictions(run)
    # the baseline predicts each fold's training majority class: its accuracy is that class's test share
    majority = [int(np.argmax(pred["train_counts"][f - 1])) for f in np.unique(pred["fold"])]
    shares = [np.mean(pred["y_true"][pred["fold"] == f] == c) for f, c in zip(np.unique(pred["fold"]), majority)]
    ctx = metrics["context"]
    assert ctx["baseline_classes"] == [metrics["classes"][c] for c in majority]
    assert ctx["majority_baseline"]["accuracy"]["mean"] == pytest.approx(np.mean(shares))
    assert ctx["majority_baseline"]["uar"]["mean"] == pytest.approx(1 / 4)
    assert ctx["class_counts"] == {c: int((pred["y_true"] == k).sum()) for k, c in enumerate(metrics["classes"])}
    assert ctx["chance_uar"] == pytest.approx(0.25)


def test_uninformative_pulse_leaves_the_rppg_model_at_chance(teaching_set):
    """With heart rate and pulse strength unrelated to the class, the rPPG model is at chance
    (1 in 4) within 10 points: leave-one-actor-out cross-validation repeated with 8 seeds (one
    run of 48 clips swings by +-10 points from seed to seed; a seed's folds on two processes)."""
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score

    from emojax import EmotionClassifier
    from emojax.data import load_teaching
    from emojax.features import Features
    from emojax.data.batch import extract_items

    root = teaching_set(0.0)
    ds = load_teaching(root)
    records = [Features.load(o.stem) for o in extract_items(ds.items, root / "store", workers=1).outcomes]
    labels = np.array([i.label for i in ds.items])
    groups = np.array([i.group for i in ds.items])
    scores = [cross_val_score(EmotionClassifier("rppg", seed=s), records, labels, groups=groups,
                              cv=LeaveOneGroupOut(), n_jobs=2).mean() for s in range(8)]
    assert abs(np.mean(scores) - 0.25) <= 0.10, scores


def _iemocap_tree(root):
    """Five sessions in the release's layout and text format (no video: require_video=False)."""
    codes = ["neu", "hap", "sad", "ang", "exc", "fru"]
    for s in range(1, 6):
        for marker, dialog in (("F", "impro01"), ("M", "script01_1")):
            name = f"Ses0{s}{marker}_{dialog}"
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for u in range(12):
                spk = "FM"[u % 2]
                t0 = 2.0 + 3.0 * u
                lines += [f"[{t0:.4f} - {t0 + 2.5:.4f}]\t{name}_{spk}{u // 2:03d}\t{codes[(u + s) % 6]}\t"
                          "[2.5000, 2.5000, 2.5000]", "C-E2:\tNeutral;\t()", ""]
            ev = root / f"Session{s}" / "dialog" / "EmoEvaluation"
            ev.mkdir(parents=True, exist_ok=True)
            (ev / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_leave_one_session_out_on_an_iemocap_tree(tmp_path):
    ds = load_iemocap(_iemocap_tree(tmp_path), require_video=False)
    y = [ds.classes.index(i.label) for i in ds.items]
    folds = make_folds(y, [i.group for i in ds.items], [i.session for i in ds.items], protocol="loso")
    assert len(folds) == 5
    sessions = np.array([i.session for i in ds.items])
    speakers = np.array([i.group for i in ds.items])
    assert sorted(f.name for f in folds) == [f"Session{s}" for s in range(1, 6)]
    for f in folds:
        assert set(sessions[f.test]) == {f.name}
        assert not set(sessions[f.test]) & set(sessions[np.r_[f.train, f.val]])
        assert not set(speakers[f.test]) & set(speakers[np.r_[f.train, f.val]])
        assert not set(speakers[f.val]) & set(speakers[f.train])
        assert len(set(f.train) | set(f.val) | set(f.test)) == len(ds.items)


def test_protocols_that_cannot_run_say_why():
    y = [0, 1, 0, 1, 0, 1]
    with pytest.raises(DatasetError, match="session"):
        make_folds(y, ["a", "a", "b", "b", "c", "c"], protocol="loso")
    with pytest.raises(DatasetError, match="at least 5 speakers"):
        make_folds(y, ["a", "a", "b", "b", "c", "c"], protocol="kfold", k=5)
    with pytest.raises(ValueError, match="loso"):
        make_folds(y, protocol="leave-nothing-out")


def test_a_run_folder_with_other_settings_is_not_overwritten(tmp_path, teaching_set):
    root = teaching_set(1.0)
    out = tmp_path / "run"
    out.mkdir()
    cfg = run_config("teaching", root, preset="improved", protocol="speaker", store=str(root / "store"))
    (out / "config.json").write_text(json.dumps({**cfg.to_dict(), "protocol": "holdout"}))
    with pytest.raises(EmojaxError, match="other settings.*protocol"):
        train_run(cfg, out)


def test_a_dataset_without_videos_is_a_clear_error(tmp_path):
    (tmp_path / "happy").mkdir()
    cfg = run_config("folder", tmp_path, preset="improved", store=str(tmp_path / "store"))
    with pytest.raises(DatasetError, match="no videos"):
        train_run(cfg, tmp_path / "run")


def test_sub_second_utterances_are_left_out_or_read_from_one_modality_by_name(tmp_path, capsys):
    """An IEMOCAP-shaped tree over real faces (GRID speakers side by side, two sessions) with
    utterances of 0.25 s (7 frames: nothing usable) and 0.8 s (landmarks, too short for a
    pulse) among 2.5 s ones: the first are left out and the second kept with their pulse
    absent, each by name, in the training summary, model.json and metrics.json."""
    from .conftest import read_all, shared, write_video
    from emojax.cli import main

    grid = sorted(shared("grid").glob("*.mpg"))
    root = tmp_path / "IEMOCAP_full_release"
    turns = [("F", 0.2, 2.7, "ang"), ("M", 0.5, 3.0, "neu"), ("F", 3.2, 3.45, "ang"), ("M", 3.5, 4.3, "neu"),
             ("F", 4.5, 7.0, "neu"), ("M", 5.0, 7.5, "ang"), ("F", 7.6, 8.4, "ang"), ("M", 6.0, 8.5, "neu")]
    for s in (1, 2):
        name = f"Ses0{s}F_impro01"
        left, right = ([f for c in grid[k:k + 3] for f in read_all(c)][:225] for k in ((0, 3), (6, 8))[s - 1])
        dialog = root / f"Session{s}" / "dialog"
        (dialog / "avi" / "DivX").mkdir(parents=True)
        write_video(dialog / "avi" / "DivX" / f"{name}.avi", [np.hstack([a, b]) for a, b in zip(left, right)], 25.0,
                    fourcc="MJPG")
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        count = {"F": 0, "M": 0}
        for spk, t0, t1, code in turns:
            lines += [f"[{t0:.4f} - {t1:.4f}]\t{name}_{spk}{count[spk]:03d}\t{code}\t[2.5000, 2.5000, 2.5000]", ""]
            count[spk] += 1
        (dialog / "EmoEvaluation").mkdir()
        (dialog / "EmoEvaluation" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--dataset", "iemocap", "--root", str(root), "--classes", "four", "--protocol", "loso",
                 "--epochs", "1", "--store", str(tmp_path / "store"), "--out", str(out), "--quiet",
                 "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    left_out = {f"Ses0{s}F_impro01_F001" for s in (1, 2)}
    single = {f"Ses0{s}F_impro01_{u}" for s in (1, 2) for u in ("M001", "F003")}
    metrics = json.loads((out / "metrics.json").read_text())
    info = json.loads((out / "model.json").read_text())
    videos = [r for r in metrics["videos"]["left_out"] if not r["what"].startswith("class ")]   # hap, sad: none
    assert {r["what"] for r in videos} == left_out and all("nothing to learn from" in r["why"] for r in videos)
    assert {r["id"] for r in metrics["videos"]["single_modality"]} == single
    assert all(r["absent"] == ["rppg"] for r in metrics["videos"]["single_modality"])
    assert {r["id"] for r in info["single_modality"]} == single and {w for w, _ in info["skipped"]} >= left_out
    assert metrics["videos"]["used"] == 14 == metrics["n_videos"]
    for name in left_out:
        assert f"left out: {name}: nothing to learn from" in printed
    for name in single:
        assert f"one modality absent: {name}: pulse valid on no frame" in printed
    pred = read_predictions(out)
    assert not set(pred["ids"]) & left_out and single <= set(pred["ids"])
    assert main(["evaluate", str(out)]) == 0            # recomputed from the run's files: still by name
    again = capsys.readouterr().out
    assert all(f"left out: {name}: nothing to learn from" in again for name in left_out)
    assert all(f"one modality absent: {name}: pulse" in again for name in single)


def test_a_run_of_another_format_or_folds_counted_from_0_are_refused_saying_why(tmp_path):
    """Folds are numbered from 1 everywhere (predictions.npz, checkpoint/fold-K, --fold K): a
    run written when predictions.npz counted them from 0 is refused, never misread."""
    from emojax.errors import RunFileError
    from emojax.training.config import RUN_FORMAT
    from emojax.training.runfiles import read_config

    cfg = run_config("teaching", tmp_path, preset="improved", protocol="speaker")
    (tmp_path / "config.json").write_text(json.dumps({**cfg.to_dict(), "format": RUN_FORMAT - 1}))
    with pytest.raises(RunFileError, match=f"config.json: a run of format {RUN_FORMAT - 1} .*folds are numbered "
                                           "from 1 everywhere.*train it again"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    assert read_config(tmp_path) == cfg
    pred = {"ids": np.array(["a", "b"]), "y_true": np.array([0, 1]), "classes": np.array(["x", "y"]),
            "proba_rppg": np.eye(2), "train_counts": np.array([[1, 0], [0, 1]])}
    np.savez(tmp_path / "predictions.npz", fold=np.array([0, 1]), **pred)
    with pytest.raises(RunFileError, match="folds count from 1"):
        read_predictions(tmp_path)
    np.savez(tmp_path / "predictions.npz", fold=np.array([1, 2]), **pred)
    assert read_predictions(tmp_path)["fold"].tolist() == [1, 2]


def _one_hot_predictions(y, y_hat, fold, k, train_counts):
    return {"ids": np.array([f"v{i}" for i in range(len(y))]), "y_true": np.array(y), "fold": np.array(fold),
            "classes": np.array(["a", "b", "c"][:k]), "train_counts": np.array(train_counts),
            "proba_early_fusion": np.eye(k)[np.array(y_hat)]}


def test_one_label_set_for_precision_recall_f1_and_uar_worked_by_hand():
    """Two folds over classes a, b, c worked on paper. Fold 1 tests a, a, b, b and predicts
    a, b, b, c (c predicted, never tested); fold 2 tests a, c, c and predicts a, c, a (b
    neither tested nor predicted). Every macro score averages over all three classes, per fold
    and pooled alike, an undefined term counting 0."""
    from emojax.training.metrics import LABEL_SET, evaluate

    y, y_hat, fold = [0, 0, 1, 1, 0, 2, 2], [0, 1, 1, 2, 0, 2, 0], [1, 1, 1, 1, 2, 2, 2]
    metrics = evaluate(_one_hot_predictions(y, y_hat, fold, 3, [[3, 1, 2], [2, 2, 1]]), ["a", "b", "c"])
    # fold 1: a P 1/1 R 1/2 F1 2/3; b P 1/2 R 1/2 F1 1/2; c P 0/1 R 0/0 -> 0, F1 0
    fold1 = {"accuracy": 2 / 4, "precision_macro": (1 + 1 / 2 + 0) / 3, "recall_macro": (1 / 2 + 1 / 2 + 0) / 3,
             "uar": (1 / 2 + 1 / 2 + 0) / 3, "f1_macro": (2 / 3 + 1 / 2 + 0) / 3,
             "f1_weighted": (2 * 2 / 3 + 2 * 1 / 2 + 0) / 4}
    # fold 2: a P 1/2 R 1/1 F1 2/3; b nothing -> 0; c P 1/1 R 1/2 F1 2/3
    fold2 = {"accuracy": 2 / 3, "precision_macro": (1 / 2 + 0 + 1) / 3, "recall_macro": (1 + 0 + 1 / 2) / 3,
             "uar": (1 + 0 + 1 / 2) / 3, "f1_macro": (2 / 3 + 0 + 2 / 3) / 3, "f1_weighted": (2 / 3 + 2 * 2 / 3) / 3}
    # pooled: a P 2/3 R 2/3; b P 1/2 R 1/2; c P 1/2 R 1/2 (F1 = P = R for each)
    pooled = {"accuracy": 4 / 7, "precision_macro": 5 / 9, "recall_macro": 5 / 9, "uar": 5 / 9, "f1_macro": 5 / 9,
              "f1_weighted": (3 * 2 / 3 + 2 / 2 + 2 / 2) / 7}
    assert metrics["folds"][0]["models"]["early_fusion"] == pytest.approx(fold1, abs=1e-12)
    assert metrics["folds"][1]["models"]["early_fusion"] == pytest.approx(fold2, abs=1e-12)
    got = metrics["pooled"]["early_fusion"]
    assert {s: got[s] for s in pooled} == pytest.approx(pooled, abs=1e-12)
    assert got["per_class"]["macro avg"]["precision"] == pytest.approx(pooled["precision_macro"], abs=1e-12)
    assert [f["untested_classes"] for f in metrics["folds"]] == [["c"], ["b"]]
    assert metrics["label_set"] == LABEL_SET and "run's classes" in LABEL_SET
    for f, want in zip(np.unique(fold), (fold1, fold2)):     # the numpy count agrees
        sel = np.array(fold) == f
        assert _by_hand(np.array(y)[sel], np.array(y_hat)[sel], 3) == pytest.approx(want, abs=1e-12)


def test_the_majority_baseline_is_the_training_folds_majority_class():
    """Fold 1 trained mostly on a but tests mostly b; fold 2 trained mostly on c: the baseline
    predicts a, then c (never the test fold's own majority, which would score 3/4 on fold 1)."""
    from emojax.training.metrics import evaluate

    y, fold = [1, 1, 1, 0, 2, 2, 0], [1, 1, 1, 1, 2, 2, 2]
    metrics = evaluate(_one_hot_predictions(y, y, fold, 3, [[5, 2, 1], [1, 1, 4]]), ["a", "b", "c"])
    ctx = metrics["context"]
    assert ctx["baseline_classes"] == ["a", "c"]
    assert ctx["majority_baseline"]["accuracy"]["mean"] == pytest.approx((1 / 4 + 2 / 3) / 2)
    assert ctx["majority_baseline"]["uar"]["mean"] == pytest.approx(1 / 3)          # one class of three recalled
    assert ctx["largest_test_class"] == "b" and ctx["largest_test_share"] == pytest.approx(3 / 7)
    row = metrics["table1"].splitlines()[-1]
    assert row.startswith("| Majority class (baseline) |") and f"{100 * (1 / 4 + 2 / 3) / 2:.2f} ±" in row


def test_refit_keeps_the_folds_learning_rate_schedule_and_stops_at_the_chosen_epoch():
    """The folds' early stopping kept epochs 6, 8 and 9 of 20: the final model is planned for 8
    epochs on the folds' schedule, so its learning rate after each epoch is the folds' (with
    more steps per epoch: it trains on every video), near its peak when it stops, not 0."""
    from dataclasses import replace

    from emojax.models import TRAINED
    from emojax.training.config import preset
    from emojax.training.loop import learning_rate
    from emojax.training.run import refit_plan

    cfg = preset("improved", epochs=20)
    fold_info = [{"epochs": {m: {"epochs": 20, "best_epoch": b} for m in TRAINED}} for b in (6, 8, 9)]
    plan = refit_plan(fold_info, cfg)
    folds_rate, fold_steps, all_steps = learning_rate(cfg, 3), 3, 5
    assert set(plan) == set(TRAINED)
    for tcfg, stop in plan.values():
        assert stop == 8 and tcfg.patience == 0
        refit_rate = learning_rate(tcfg, all_steps)
        for e in range(stop + 1):
            assert float(refit_rate(e * all_steps)) == pytest.approx(float(folds_rate(e * fold_steps)), rel=1e-6), e
        assert float(refit_rate(stop * all_steps)) > 0.5 * cfg.learning_rate
    # what a schedule rebuilt over the 8 epochs would have done: decayed to 0 by the end
    assert float(learning_rate(replace(cfg, epochs=8), all_steps)(8 * all_steps)) == pytest.approx(0.0, abs=1e-9)


def test_a_model_stopped_early_trains_on_the_schedule_of_all_its_epochs():
    """fit(stop_after=3) on 20 videos runs 3 epochs at the learning rates the same settings
    reach after 1, 2 and 3 of their 6 epochs on 12 videos (another number of steps per epoch)."""
    from emojax.models import ModelSpec
    from emojax.training.config import TrainConfig
    from emojax.training.fold_models import train_models
    from emojax.training.loop import Split

    spec = ModelSpec(preset="improved", rppg_channels=2, face_channels=4, length=8, n_classes=2)
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        inputs = (rng.normal(size=(n, 8, 2)).astype(np.float32), rng.normal(size=(n, 8, 4)).astype(np.float32),
                  np.zeros((n, 8, 0), np.float32))                        # one input per modality, no voice
        return Split(inputs, np.ones((n, 8, 3), bool) & [True, True, False], np.arange(n) % 2)   # a mask per modality

    cfg = TrainConfig(epochs=6, batch_size=4, warmup_epochs=2, patience=0)
    seen: dict = {"all": [], "stopped": []}
    info: dict = {}
    train_models(("rppg",), split(12), None, spec, cfg, on_epoch=lambda m, r: seen["all"].append(r["lr"]))
    train_models(("rppg",), split(20), None, spec, cfg, stop_after=3, info=info,
                 on_epoch=lambda m, r: seen["stopped"].append(r["lr"]))
    assert len(seen["all"]) == 6 and info["rppg"]["epochs"] == 3
    assert seen["stopped"] == pytest.approx(seen["all"][:3], rel=1e-6)
    assert seen["all"][-1] == pytest.approx(0.0, abs=1e-9) and seen["stopped"][-1] > 0.5 * cfg.learning_rate


def test_every_seeds_folds_are_checked_before_anything_is_extracted_or_trained(tmp_path):
    """Class c's videos are all one speaker's: a holdout split fails for the seeds that hold
    that speaker out, whichever seed comes first. A run with several seeds is refused when any
    of its seeds fails, naming that seed, before it claims a folder; one with only good seeds
    is accepted."""
    from emojax.training.prepare import labelled

    speakers = [f"s{i}" for i in range(10)]
    rows = [(f"v{i}.mp4", "ab"[i % 2], speakers[i % 10]) for i in range(40)] + [(f"c{i}.mp4", "c", "s0")
                                                                                for i in range(4)]
    for name, _, _ in rows:
        (tmp_path / name).write_bytes(b"")               # never read: the design is checked first
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,speaker\n" + "".join(f"{p},{lab},{g}\n" for p, lab, g in rows))
    y = [["a", "b", "c"].index(lab) for _, lab, _ in rows]
    ok = []
    for seed in range(60):
        try:
            make_folds(y, [g for _, _, g in rows], protocol="holdout", seed=seed, classes=["a", "b", "c"])
            ok.append(True)
        except DatasetError:
            ok.append(False)
    good = ok.index(True)
    bad = ok.index(False, good)                          # the first failing seed after a good one
    cfg = run_config("csv", manifest, protocol="holdout", seed=good, seeds=bad - good + 1, store=str(tmp_path / "s"))
    with pytest.raises(DatasetError, match=f"with seed {bad} .*class 'c' has no training video"):
        train_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "s").exists()
    assert len(labelled(run_config("csv", manifest, protocol="holdout", seed=good, seeds=bad - good))[1]) == 44


def test_one_list_of_presets_and_every_layer_refuses_another_name_the_same_way():
    """The presets are named once (emojax.presets); the training settings cover each, and the
    inputs, the models, the training settings and a run refuse any other name alike."""
    from emojax.data.transforms import InputConfig
    from emojax.errors import ConfigError
    from emojax.models import ModelSpec
    from emojax.presets import PRESET_NAMES
    from emojax.training.config import PRESETS, TrainConfig, preset

    assert tuple(PRESETS) == PRESET_NAMES and all(PRESETS[p].preset == p for p in PRESET_NAMES)
    for make in (lambda: TrainConfig(preset="fancy"), lambda: preset("fancy"), lambda: InputConfig(preset="fancy"),
                 lambda: run_config("teaching", ".", preset="fancy")):
        with pytest.raises(ConfigError, match="'fancy'; choose 'paper' or 'improved'"):
            make()
    with pytest.raises(ConfigError, match="preset 'fancy'"):
        ModelSpec("fancy", 3, 136, 150, 4)


def test_the_interval_and_the_final_model_are_said_in_one_sentence_each():
    """The CLI and the Metrics page print a model's interval and the final model with these."""
    from emojax.training.summary import final_line, interval_line

    metrics = {"pooled": {"face": {"accuracy": 0.5461}},
               "ci": {"face": {"accuracy": [0.501, 0.582], "resampled": "speakers", "clusters": 10}}}
    assert interval_line(metrics, "face") == "pooled accuracy 54.61 % (95% bootstrap CI 50.1-58.2 %, resampling 10 speakers)"
    final = {"videos": 40, "epochs": {"rppg": 8, "early_fusion": 12}, "late_fusion_weight": 0.25}
    assert final_line(final) == ("final model: trained on all 40 videos (epochs rPPG 8, Early fusion 12; late-fusion "
                                 "weight 0.25); prediction (`emojax predict`, the Predict page) uses it")


def test_a_loaded_run_compiles_each_model_once(informative_run):
    """A run loaded from its checkpoints predicts one video without compiling again after its
    first prediction (restored arrays are committed to the devices as training leaves them; jit
    keys on that, and the dashboard's first upload and the Live page's first window would pay a
    second compile of every model otherwise)."""
    import logging

    import jax

    from emojax.estimator import TrainedRun

    trained = TrainedRun(informative_run[0])
    trained.compile()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("jax").addHandler(handler)
    try:
        with jax.log_compiles(True):
            trained.compile()
    finally:
        logging.getLogger("jax").removeHandler(handler)
    compiled = [r.getMessage() for r in records if "Compiling" in r.getMessage()]
    assert not compiled, compiled[:3]
