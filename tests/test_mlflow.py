"""`--track`: a run logged to a real MLflow store (SQLite) and read back through
``mlflow.search_runs``, compared with the run folder's own files (its seeds, its final model, its
other corpus); a `train` killed mid-way and resumed continues the same MLflow run; the local store
is beside the artifacts holding the run whatever the current folder; without MLflow, `--track`
says how to install it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import kill_when

pytestmark = pytest.mark.timeout(900)

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (make test installs it)")

MODALITIES = ("rppg", "face")
SCORES = ("accuracy", "uar", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")


def cli(*args, check=True, env=None, **kw):
    env = {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("MLFLOW_")}
    proc = subprocess.run([sys.executable, "-m", "emojax.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def train_args(root, out, uri):
    return ["train", "--dataset", "teaching", "--root", root, "--store", root / "store", "--preset", "improved",
            "--protocol", "kfold", "--folds", "2", "--seeds", "2", "--refit", "--epochs", "3",
            "--modalities", ",".join(MODALITIES), "--checkpoint-every", "0", "--quiet", "--out", out, "--track", uri]


def config_params(config: dict, prefix: str = "") -> dict[str, str]:
    """config.json as the parameters it should be: nested keys dotted, strings as they are, the rest as JSON."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(config_params(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v if isinstance(v, str) else json.dumps(v)
    return out


@pytest.fixture(scope="module")
def tracked_run(teaching_set, tmp_path_factory):
    """A `train --track` of two seeds and a final model, killed in the middle of its first seed's second
    fold, then run again to the end; then explained, evaluated, and tested on another corpus (the
    teaching clips again, their features stored) with --track. Returns (run folder, URI, run id seen
    after the kill)."""
    root = teaching_set(1.0)
    base = tmp_path_factory.mktemp("mlflow")
    out, uri = base / "run", f"sqlite:///{base / 'store' / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.Popen([sys.executable, "-m", "emojax.cli", *map(str, train_args(root, out, uri))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    # the first fold done (and logged), the second begun
    kill_when(proc, out / "curves.jsonl", lambda ln: '"fold": 2' in ln and '"model": "face"' in ln, timeout=600)
    assert not (out / "metrics.json").exists()
    killed = json.loads((out / "mlflow.json").read_text())[uri]["run_id"]
    cli(*train_args(root, out, uri))
    cli("explain", out, "--groups", "modality", "--repeats", "1", "--track", uri)
    cli("evaluate", out, "--json", "--track", uri)
    cli("evaluate", out, "--dataset", "teaching", "--root", root, "--store", root / "store", "--name", "again",
        "--json", "--track", uri)
    return out, uri, killed


@pytest.fixture
def store(tracked_run):
    _, uri, _ = tracked_run
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield mlflow.search_runs(experiment_names=["emojax"], output_format="list"), mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(before)


def test_one_mlflow_run_per_run_continued_after_a_kill(tracked_run, store):
    out, uri, killed = tracked_run
    runs, _ = store
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    assert parent.info.run_id == killed == json.loads((out / "mlflow.json").read_text())[uri]["run_id"]
    assert parent.info.status == "FINISHED" and parent.info.run_name == out.name


def test_parameters_are_the_config_and_tags_name_the_run(tracked_run, store):
    out, _, _ = tracked_run
    runs, _ = store
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    config = json.loads((out / "config.json").read_text())
    assert parent.data.params == config_params(config)
    assert parent.data.params["train.epochs"] == "3" and parent.data.params["modalities"] == '["rppg", "face"]'
    import emojax

    tags = parent.data.tags
    assert (tags["emojax.dataset"], tags["emojax.preset"], tags["emojax.protocol"]) == ("teaching", "improved", "kfold")
    assert tags["emojax.modalities"] == "rppg,face" and tags["emojax.version"] == emojax.__version__
    assert "emojax.params_changed" not in tags


def test_nested_runs_hold_each_fold_s_curves_and_scores(tracked_run, store):
    from emojax.training.progress import read_curves

    out, _, _ = tracked_run
    runs, client = store
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {(r.data.tags["emojax.seed"], r.data.tags["emojax.fold"]): r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {("0", "1"), ("0", "2"), ("1", "1"), ("1", "2"), ("0", "final")}
    assert all(r.info.status == "FINISHED" for r in children.values())
    metrics = json.loads((out / "metrics.json").read_text())
    for si, (seed, folder) in enumerate((("0", out), ("1", out / "seeds" / "1"))):
        curves = read_curves(folder)
        for fold in (1, 2):
            child = children[(seed, str(fold))]
            for model in ("rppg", "face", "early_fusion"):
                mine = [c for c in curves if c["fold"] == fold and c["model"] == model]
                assert [c["epoch"] for c in mine] == [1, 2, 3]
                for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_uar"):
                    history = client.get_metric_history(child.info.run_id, f"{model}/{key}")
                    # each epoch once, though the run was killed and resumed
                    assert sorted((m.step, m.value) for m in history) == [(c["epoch"], c[key]) for c in mine], (
                        seed, fold, model, key)
            scores = metrics["seeds"]["folds"][si][fold - 1]["models"]
            for model, sc in scores.items():
                for s in SCORES:
                    assert child.data.metrics[f"test/{model}/{s}"] == pytest.approx(sc[s], abs=1e-12)


def test_table1_and_table2_are_metrics_and_tables(tracked_run, store):
    out, _, _ = tracked_run
    runs, client = store
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    got = parent.data.metrics
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["seeds"]["summary"]
    assert set(summary) == {"rppg", "face", "late_fusion", "early_fusion"}
    for model, st in summary.items():
        for s in SCORES:
            assert got[f"table1/{model}/{s}"] == pytest.approx(st[s]["mean"], abs=1e-12)
            assert got[f"table1/{model}/{s}_std"] == pytest.approx(st[s]["std"], abs=1e-12)
            assert got[f"table1/{model}/{s}_std_folds"] == pytest.approx(st[s]["std_folds"], abs=1e-12)
        assert got[f"pooled/{model}/accuracy"] == pytest.approx(metrics["pooled"][model]["accuracy"], abs=1e-12)
        lo, hi = metrics["ci"][model]["accuracy"]
        assert (got[f"pooled/{model}/accuracy_ci_low"], got[f"pooled/{model}/accuracy_ci_high"]) == pytest.approx((lo, hi))
    base = metrics["context"]["majority_baseline"]
    assert got["table1/baseline/accuracy"] == pytest.approx(base["accuracy"]["mean"], abs=1e-12)
    # evaluate --track logged the same values again: nothing new was added to their history
    assert len(client.get_metric_history(parent.info.run_id, "table1/early_fusion/accuracy")) == 1
    table2 = json.loads((out / "importance.json").read_text())["table2"]
    assert table2
    for model, shares in table2.items():
        for group, v in shares.items():
            if v is None:
                assert f"table2/{model}/{group}" not in got      # nothing measured: nothing logged
            else:
                assert got[f"table2/{model}/{group}"] == pytest.approx(v, abs=1e-9)
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.json", "model.json", "metrics.json", "importance.json", "curves.jsonl", "table1.json",
            "table1.md", "table2.json"} <= files
    assert "seeds/1/curves.jsonl" in {a.path for a in client.list_artifacts(parent.info.run_id, "seeds/1")}
    table1 = client.load_table(parent.info.experiment_id, "table1.json", run_ids=[parent.info.run_id])
    assert list(table1["Model"]) == ["rPPG", "Facial", "Late fusion", "Early fusion", "Majority class (baseline)"]
    acc = float(table1.loc[table1["Model"] == "Early fusion", "Accuracy"].iloc[0].split(" ± ")[0])
    assert acc == pytest.approx(100 * summary["early_fusion"]["accuracy"]["mean"], abs=0.005)
    (out.parent / "dl").mkdir(exist_ok=True)
    shown = client.download_artifacts(parent.info.run_id, "metrics.json", str(out.parent / "dl"))
    assert json.loads(open(shown).read()) == metrics
    assert np.isfinite(list(got.values())).all()


def test_the_final_model_and_another_corpus_are_logged_as_the_run_folder_has_them(tracked_run, store):
    """--refit: the nested run ``final`` holds the final model's curves (checkpoint/final/curves.jsonl);
    evaluate --dataset: the other corpus's Table 1 means are metrics ``cross/<name>/<model>/<score>``,
    and its metrics.json an artifact under its path."""
    from emojax.training.progress import read_curves

    out, _, _ = tracked_run
    runs, client = store
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    final = next(r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
                 and r.data.tags["emojax.fold"] == "final")
    assert final.info.status == "FINISHED" and final.data.tags["emojax.seed"] == "0"
    metrics = json.loads((out / "metrics.json").read_text())
    curves = read_curves(out / "checkpoint" / "final")
    assert {c["model"] for c in curves} == set(metrics["final"]["epochs"]) == {"rppg", "face", "early_fusion"}
    for model, stop in metrics["final"]["epochs"].items():
        mine = [c for c in curves if c["model"] == model]
        assert [c["epoch"] for c in mine] == list(range(1, stop + 1))
        for key in ("train_loss", "train_acc", "lr"):
            history = client.get_metric_history(final.info.run_id, f"{model}/{key}")
            assert sorted((m.step, m.value) for m in history) == [(c["epoch"], c[key]) for c in mine], (model, key)
    cross = json.loads((out / "cross" / "again" / "metrics.json").read_text())
    got = parent.data.metrics
    assert set(cross["summary"]) == {"rppg", "face", "late_fusion", "early_fusion"}
    for model, st in cross["summary"].items():
        for s in SCORES:
            assert got[f"cross/again/{model}/{s}"] == pytest.approx(st[s]["mean"], abs=1e-12), (model, s)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "cross/again")}
    assert "cross/again/metrics.json" in logged


def test_the_local_store_is_beside_the_artifacts_holding_the_run_whatever_the_current_folder(tracked_run, tmp_path):
    """A run folder ART/runs/NAME tracked without a URI, from inside ART/runs by a relative path, then
    from elsewhere by its full path: both log to sqlite:///ART/mlflow.db (its files in ART/mlartifacts),
    the same MLflow run, and nothing is written in the current folders."""
    src, _, _ = tracked_run
    art = tmp_path / "art"
    run = shutil.copytree(src, art / "runs" / "copy")
    (run / "mlflow.json").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{art / 'mlflow.db'}"
    env = {"EMOJAX_ARTIFACTS": str(elsewhere / "artifacts")}         # names another folder: the run's place decides
    first = cli("evaluate", "copy", "--track", cwd=art / "runs", env={**os.environ, **env})
    assert f"logging to MLflow at {uri}" in first.stderr, first.stderr
    ids = json.loads((run / "mlflow.json").read_text())
    assert list(ids) == [uri] and (art / "mlflow.db").is_file() and (art / "mlartifacts").is_dir()
    second = cli("evaluate", run, "--track", cwd=elsewhere)
    assert f"logging to MLflow at {uri}" in second.stderr, second.stderr
    assert json.loads((run / "mlflow.json").read_text()) == ids
    assert sorted(p.name for p in art.iterdir()) == ["mlartifacts", "mlflow.db", "runs"]
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in (art / "runs").iterdir()) == ["copy"]
    logged = mlflow.MlflowClient(uri).get_run(ids[uri]["run_id"]).data.metrics
    metrics = json.loads((run / "metrics.json").read_text())
    assert logged["table1/early_fusion/accuracy"] == pytest.approx(metrics["seeds"]["summary"]["early_fusion"]
                                                                   ["accuracy"]["mean"], abs=1e-12)


def test_track_without_mlflow_says_how_to_install_it(tmp_path):
    """MLflow hidden from the process (as if not installed): --track is refused before anything is
    read or trained, saying how to install it; a bare path as the URI is refused too."""
    root = tmp_path / "clips"
    root.mkdir()
    hide = "import sys; sys.modules['mlflow'] = None; from emojax.cli import main; sys.exit(main(sys.argv[1:]))"
    out = tmp_path / "run"
    args = [a for a in train_args(root, out, "") if a != ""]
    proc = subprocess.run([sys.executable, "-c", hide, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'emojax[mlflow]'" in proc.stderr and "requirements-mlflow.txt" in proc.stderr
    assert not out.exists()
    proc = subprocess.run([sys.executable, "-c", hide, "explain", str(out), "--track"], capture_output=True, text=True)
    assert proc.returncode == 2 and "pip install 'emojax[mlflow]'" in proc.stderr
    proc = cli("evaluate", str(out), "--track", str(tmp_path / "mlflow.db"), check=False)
    assert proc.returncode == 2 and "not a tracking URI" in proc.stderr, proc.stderr


def test_track_is_an_ordinary_option_of_train_and_of_its_command_line(monkeypatch, tmp_path):
    """A page that builds a train command line (training.commands) can ask for tracking."""
    from emojax.cli import build_parser
    from emojax.training.commands import train_command

    parser = build_parser()
    for track, want in ((None, None), ("", ""), ("http://mlflow.lab:5000", "http://mlflow.lab:5000")):
        cmd = train_command("out", dataset="csv", root="m.csv", track=track)
        assert parser.parse_args(cmd[cmd.index("train"):]).track == want
    assert parser.parse_args(["train", "--dataset", "csv", "--root", "m.csv", "--out", "o", "--track"]).track == ""
    from emojax.mlflow_tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("EMOJAX_ARTIFACTS", str(tmp_path / "artifacts"))
    assert tracking_uri("") == f"sqlite:///{tmp_path / 'artifacts' / 'mlflow.db'}"     # beside the artifacts
    monkeypatch.chdir(tmp_path)
    # a run folder given: beside the artifacts that hold it (ART for ART/runs/NAME, else its parent)
    assert tracking_uri("", "lab/runs/mine") == f"sqlite:///{tmp_path / 'lab' / 'mlflow.db'}"
    assert tracking_uri("", tmp_path / "x" / "mine") == f"sqlite:///{tmp_path / 'x' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000")
    assert tracking_uri("") == "http://mlflow.lab:5000" and tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_a_copied_run_folder_is_another_mlflow_run_and_a_bad_store_is_said_in_one_line(tmp_path):
    """A copy of a run folder carries its mlflow.json: logging the copy must never write into the
    original's MLflow run; a store MLflow cannot read is an EmojaxError naming it, not a traceback."""
    import shutil

    from emojax.errors import EmojaxError
    from emojax.mlflow_tracking import MlflowRun

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    original = tmp_path / "runs" / "a"
    first = MlflowRun.open(original, uri).run_id
    assert MlflowRun.open(original, uri).run_id == first              # the same folder: the same run
    copy = shutil.copytree(original, tmp_path / "runs" / "a-copy")
    assert (copy / "mlflow.json").is_file()
    other = MlflowRun.open(copy, uri).run_id
    assert other != first and MlflowRun.open(original, uri).run_id == first
    assert mlflow.MlflowClient(uri).get_run(other).data.tags["emojax.run_dir"] == str(copy.resolve())
    with pytest.raises(EmojaxError, match="MLflow at sqlite:/nowhere"):
        MlflowRun.open(original, "sqlite:/nowhere/x.db")


def test_a_tracking_uri_refused_or_unanswered_is_said_plainly(tmp_path):
    """A bare path is refused (the run-folder hint only when it is a folder), and a server that
    refuses the connection is said as such, in seconds, naming the URI."""
    import socket

    from emojax.errors import EmojaxError
    from emojax.mlflow_tracking import MlflowRun, tracking_uri

    with pytest.raises(EmojaxError, match="not a tracking URI") as e:
        tracking_uri("not-a-uri")
    assert "run folder" not in str(e.value)
    with pytest.raises(EmojaxError, match="a run folder taken for it"):
        tracking_uri(str(tmp_path))
    with socket.socket() as s:                      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(EmojaxError) as e:
        MlflowRun.open(tmp_path / "run", f"http://127.0.0.1:{port}")
    assert str(e.value).startswith(f"MLflow at http://127.0.0.1:{port}: no tracking server answered "
                                   "(connection refused)"), e.value
    assert time.monotonic() - t0 < 60
