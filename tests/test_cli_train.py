"""`emojax train / evaluate / predict` as a user runs them; a run killed mid-training resumes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import kill_when, shared
from .test_cli import emojax

pytestmark = pytest.mark.timeout(600)

MODELS = ("rppg", "face", "late_fusion", "early_fusion")


def train_args(root, out):
    return ["train", "--dataset", "teaching", "--root", root, "--store", root / "store", "--preset", "improved",
            "--protocol", "holdout", "--epochs", "12", "--checkpoint-every", "0", "--quiet", "--out", out]


@pytest.fixture(scope="module")
def holdout_run(teaching_set, tmp_path_factory):
    root = teaching_set(1.0)
    out = tmp_path_factory.mktemp("cli") / "whole"
    proc = emojax(*train_args(root, out))
    return root, out, proc


def test_train_prints_table1_and_writes_the_run(holdout_run):
    _, out, proc = holdout_run
    for title in ("rPPG", "Facial", "Late fusion", "Early fusion"):
        assert f"| {title} |" in proc.stdout
    assert "95% bootstrap CI" in proc.stdout
    assert {"config.json", "model.json", "metrics.json", "predictions.npz", "curves.jsonl"} <= {p.name for p in out.iterdir()}


def test_a_killed_run_resumes_to_the_same_result(holdout_run, tmp_path):
    root, whole, _ = holdout_run
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "emojax.cli", *map(str, train_args(root, cut))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it in the middle of the second model
    kill_when(proc, cut / "curves.jsonl", lambda ln: '"model": "face"' in ln and '"epoch": 5,' in ln, timeout=300)
    assert not (cut / "metrics.json").exists()
    assert (cut / "checkpoint" / "fold-1" / "rppg.msgpack").is_file()
    assert (cut / "checkpoint" / "fold-1" / "face.resume.msgpack").is_file()
    proc = emojax("report", cut, check=False)                 # a started run is said so, with the way on
    assert proc.returncode == 2 and "metrics.json: missing" in proc.stderr, proc.stderr
    assert "it was started and has not finished: unless an `emojax train` is writing it now, run the same command " \
           "again to finish it" in proc.stderr, proc.stderr
    assert not (cut / "report.html").exists()
    emojax(*train_args(root, cut))
    a, b = np.load(whole / "predictions.npz"), np.load(cut / "predictions.npz")
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (whole, cut))
    assert ma["summary"] == mb["summary"] and ma["pooled"] == mb["pooled"]
    curves = [json.loads(ln) for ln in (cut / "curves.jsonl").read_text().splitlines()]
    whole_curves = [json.loads(ln) for ln in (whole / "curves.jsonl").read_text().splitlines()]
    from emojax.training.progress import read_curves

    strip = lambda cs: [{k: v for k, v in c.items() if k != "seconds"} for c in cs]
    assert strip(read_curves(cut)) == strip(whole_curves)
    assert len(curves) >= len(whole_curves)  # the epoch cut short is repeated, never lost


def test_evaluate_recomputes_the_metrics(holdout_run):
    _, out, _ = holdout_run
    shown = emojax("evaluate", out).stdout
    assert "| Early fusion |" in shown and "per class" in shown
    again = json.loads(emojax("evaluate", out, "--json").stdout)
    assert again["summary"] == json.loads((out / "metrics.json").read_text())["summary"]


def test_predict_a_cremad_clip_agrees_with_the_classifier(holdout_run):
    from emojax import EmotionClassifier, TrainedRun
    from emojax.features import Extractor

    _, run, _ = holdout_run
    clip = shared("cremad") / "1001_DFA_HAP_XX.flv"
    shown = json.loads(emojax("predict", clip, "--run", run, "--json").stdout)
    trained = TrainedRun(run)
    features = Extractor(trained.extractor)(clip)
    assert shown["frames"] == len(features) and shown["classes"] == ["angry", "calm", "happy", "sad"]
    for m in MODELS:
        p = EmotionClassifier.from_run(run, m).predict_proba([features])[0]
        assert np.allclose([shown["models"][m]["proba"][c] for c in shown["classes"]], p, atol=1e-6)
        assert shown["models"][m]["label"] == shown["classes"][int(p.argmax())]
    assert shown["label"] == shown["models"]["early_fusion"]["label"]


def test_predict_errors_name_the_problem(holdout_run, tmp_path):
    _, run, _ = holdout_run
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    proc = emojax("predict", fake, "--run", run, check=False)
    assert proc.returncode == 2 and "clip.mp4" in proc.stderr
    proc = emojax("predict", shared("cremad") / "1001_DFA_HAP_XX.flv", "--run", tmp_path, check=False)
    assert proc.returncode == 2 and "not a finished emojax run" in proc.stderr
    proc = emojax("evaluate", tmp_path, check=False)
    assert proc.returncode == 2 and "config.json: missing" in proc.stderr


def test_the_cli_offers_every_dataset_kind_the_library_loads_and_refuses_bad_numbers(capsys):
    from emojax.cli import build_parser
    from emojax.data import LOADERS

    parser = build_parser()
    for kind in LOADERS:
        for command in (["train", "--root", "r", "--out", "o"], ["evaluate", "run", "--root", "r"]):
            assert parser.parse_args(command + ["--dataset", kind]).dataset == kind
    for bad in (["train", "--dataset", "nope", "--root", "r", "--out", "o"],
                ["extract", "v.mp4", "--out", "s", "--every", "0"], ["predict", "v.mp4", "--run", "r", "--start", "nan"],
                ["predict", "v.mp4", "--run", "r", "--end", "-1"], ["train", "--dataset", "csv", "--root", "r", "--out",
                                                                       "o", "--folds", "1.5"],
                ["heart-rate", "v.mp4", "--near", "1,2,3"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(bad)
        assert exit_.value.code == 2
        assert "Traceback" not in capsys.readouterr().err
