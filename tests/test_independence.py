"""Speaker independence as a recorded fact: a split that cannot keep speakers apart is refused
unless allowed (saying how to name speakers), and a run that was allowed says "not
speaker-independent" in model.json, metrics.json, Table 1 and the Metrics explorer; the
bootstrap resamples the protocol's own unit (IEMOCAP under LOSO: the session)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emojax.data import load_iemocap, load_teaching
from emojax.errors import DatasetError
from emojax.training.metrics import bootstrap_ci, evaluate
from emojax.training.protocols import MIN_CLUSTERS, SpeakerOverlapError, independence, make_folds
from emojax.training.config import run_config
from emojax.training.prepare import labelled

from .test_cli import emojax
from .test_training import _iemocap_tree

pytestmark = pytest.mark.timeout(600)


def _folder(dst: Path, items) -> Path:
    """The teaching clips as a folder dataset, ``<class>/<actor>_<clip>.mp4`` (symlinks: the
    feature store knows them by content)."""
    for i in items:
        (dst / i.label).mkdir(parents=True, exist_ok=True)
        (dst / i.label / f"{i.group}_{Path(i.path).name}").symlink_to(i.path)
    return dst


def test_a_split_that_cannot_keep_speakers_apart_is_refused_saying_how_to_name_them(teaching_set, tmp_path):
    root = teaching_set(1.0)
    items = load_teaching(root).items
    folder = _folder(tmp_path / "folder", items)
    for protocol in ("kfold", "holdout"):
        with pytest.raises(SpeakerOverlapError) as e:
            labelled(run_config("folder", folder, protocol=protocol))
        msg = str(e.value)
        assert msg.startswith(f"{folder}: protocol {protocol!r} is not speaker-independent") and "\n" not in msg
        assert "names no speaker" in msg and "--allow-speaker-overlap" in msg and "--speaker-pattern" in msg
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "".join(f"{i.path},{i.label}\n" for i in items))
    with pytest.raises(SpeakerOverlapError, match="add a speaker column to the manifest"):
        labelled(run_config("csv", manifest, protocol="kfold"))

    allowed = run_config("folder", folder, protocol="kfold", allow_speaker_overlap=True)
    assert len(labelled(allowed)[1]) == len(items)
    assert not independence("kfold", [None] * len(items))["speaker_independent"]

    # speakers read from the file names: the split keeps each one on one side
    named = run_config("folder", folder, protocol="kfold", folds=4, speaker_pattern=r"^(face\d+-v\d+)_")
    _, found = labelled(named)
    assert sorted((i.id.split("/")[1], i.group) for i in found) == sorted(
        (f"{i.group}_{Path(i.path).stem}", i.group) for i in items)
    speakers = np.array([i.group for i in found])
    classes = sorted({i.label for i in found})
    for f in make_folds([classes.index(i.label) for i in found], list(speakers), k=4):
        assert not set(speakers[f.test]) & set(speakers[np.r_[f.train, f.val]])
    rec = independence("kfold", list(speakers))
    assert rec["speaker_independent"] and rec["bootstrap_unit"] == "speaker"
    (folder / "happy" / "nobody.mp4").symlink_to(items[0].path)
    with pytest.raises(DatasetError, match=r"nobody\.mp4: the speaker pattern .* finds no speaker"):
        labelled(named)
    with pytest.raises(ValueError, match="not a regular expression"):
        run_config("folder", folder, speaker_pattern="(")
    with pytest.raises(ValueError, match="folder dataset"):
        run_config("csv", manifest, speaker_pattern="^(.)")


def _loso_predictions(tmp_path):
    """An IEMOCAP-shaped tree's utterances under LOSO, predicted right in sessions 1 and 3 and
    wrong in the others (both speakers of a session alike: they share its dialogs)."""
    ds = load_iemocap(_iemocap_tree(tmp_path), require_video=False)
    classes = [c for c in ds.classes if any(i.label == c for i in ds.items)]
    y = np.array([classes.index(i.label) for i in ds.items])
    speakers, sessions = [i.group for i in ds.items], [i.session for i in ds.items]
    folds = make_folds(y, speakers, sessions, protocol="loso", classes=classes)
    fold = np.zeros(len(y), int)
    for k, f in enumerate(folds, start=1):
        fold[f.test] = k
    right = np.isin(sessions, ["Session1", "Session3"])
    y_hat = np.where(right, y, (y + 1) % len(classes))
    pred = {"ids": np.array([i.id for i in ds.items]), "fold": fold, "y_true": y, "classes": np.array(classes),
            "group": np.array(speakers), "session": np.array(sessions), "proba_early_fusion": np.eye(len(classes))[y_hat],
            "train_counts": np.array([np.bincount(y[np.r_[f.train, f.val]], minlength=len(classes)) for f in folds])}
    return pred, y_hat, independence("loso", speakers, sessions), classes


def test_under_loso_the_bootstrap_resamples_sessions_and_warns_when_they_are_few(tmp_path):
    pred, y_hat, split, classes = _loso_predictions(tmp_path)
    assert split["speaker_independent"] and split["bootstrap_unit"] == "session"
    metrics = evaluate(pred, classes, split=split)
    ci = metrics["ci"]["early_fusion"]
    by_session = bootstrap_ci(pred["y_true"], y_hat, pred["session"], unit="sessions")
    by_speaker = bootstrap_ci(pred["y_true"], y_hat, pred["group"], unit="speakers")
    assert ci == by_session and ci != by_speaker
    assert ci["resampled"] == "sessions" and ci["clusters"] == 5 < MIN_CLUSTERS
    assert metrics["bootstrap"] == {"resampled": "sessions", "clusters": 5, "warning": ci["warning"]}
    assert "only 5 sessions" in ci["warning"]
    assert metrics["split"] == split and "Speaker-independent (loso)" in metrics["table1"]
    # ten speakers would be enough clusters to go without the warning, were they the unit
    assert by_speaker["clusters"] == 10 and "warning" not in by_speaker


@pytest.fixture(scope="module")
def folder_run(teaching_set, tmp_path_factory):
    """The teaching clips as a folder dataset (no speakers): refused, then trained for one
    epoch with --allow-speaker-overlap."""
    root = teaching_set(1.0)
    tmp = tmp_path_factory.mktemp("independence")
    folder = _folder(tmp / "folder", load_teaching(root).items)
    out = tmp / "run"
    args = ["train", "--dataset", "folder", "--root", folder, "--store", root / "store", "--protocol", "holdout",
            "--epochs", "1", "--quiet", "--out", out]
    refused = emojax(*args, check=False)
    claimed = out.exists()
    proc = emojax(*args, "--allow-speaker-overlap")
    return out, refused, claimed, proc


def test_a_folder_run_says_it_is_not_speaker_independent(folder_run):
    out, refused, claimed, proc = folder_run
    assert refused.returncode == 2 and not claimed and "Traceback" not in refused.stderr
    assert "--allow-speaker-overlap" in refused.stderr and "--speaker-pattern" in refused.stderr
    model, metrics = (json.loads((out / f).read_text()) for f in ("model.json", "metrics.json"))
    assert json.loads((out / "config.json").read_text())["allow_speaker_overlap"] is True
    for record in (model["split"], metrics["split"]):
        assert record["speaker_independent"] is False and "names no speaker" in record["why"]
    assert metrics["ci"]["early_fusion"]["resampled"] == "videos"
    table = proc.stdout[proc.stdout.index("| Model |"):]
    assert "Not speaker-independent (holdout): the dataset names no speaker" in table
    assert "Not speaker-independent" in metrics["table1"]
    again = emojax("evaluate", out).stdout
    assert "Not speaker-independent (holdout)" in again


def _page(artifacts: Path, page: str, monkeypatch):
    """An AppTest of the dashboard over ``artifacts``, on ``page``."""
    from streamlit.testing.v1 import AppTest

    from .test_dashboard import APP, _join_warm_up

    monkeypatch.setenv("EMOJAX_ARTIFACTS", str(artifacts))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(f"../pages/{page}.py")
    at.run()
    _join_warm_up()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_metrics_explorer_says_a_run_is_not_speaker_independent(folder_run, tmp_path, monkeypatch):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "folder-run").symlink_to(folder_run[0])
    at = _page(tmp_path, "metrics", monkeypatch)
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Not speaker-independent (holdout): the dataset names no speaker") for w in warnings), warnings


def test_the_train_page_refuses_a_folder_without_speakers_unless_allowed(teaching_set, tmp_path, monkeypatch):
    """The page checks the dataset as `emojax train` does, in the page; its box reaches the command."""
    from emojax.training import commands

    folder = _folder(tmp_path / "folder", load_teaching(teaching_set(1.0)).items)
    (tmp_path / "art" / "runs").mkdir(parents=True)
    at = _page(tmp_path / "art", "train", monkeypatch)
    at.selectbox(key="train_dataset").set_value("folder")
    at.text_input(key="train_root").input(str(folder))
    at.selectbox(key="train_protocol").set_value("kfold")
    at.text_input(key="train_name").input("no-speakers")
    at.button[0].click().run()
    assert not at.exception and not at.success
    assert "names no speaker" in at.error[0].value and "--allow-speaker-overlap" in at.error[0].value
    assert not (tmp_path / "art" / "runs" / "no-speakers").exists()
    cmd = commands.train_command(tmp_path / "r", dataset="folder", root=folder, allow_speaker_overlap=True,
                                 speaker_pattern="^(x)")
    assert "--allow-speaker-overlap" in cmd and "--speaker-pattern=^(x)" in cmd
    assert "--allow-speaker-overlap" not in commands.train_command(tmp_path / "r", dataset="folder", root=folder)


@pytest.mark.parametrize("protocol", ["holdout", "kfold", "loso", "speaker"])
def test_the_settings_a_protocol_is_said_not_to_read_do_not_change_its_folds(protocol):
    """``unread_settings`` (what the report says a run records but does not read) agrees with what
    ``make_folds`` does: changing a setting said unread leaves every fold as it was; changing
    one said read changes them."""
    from emojax.training.protocols import PROTOCOL_SETTINGS, unread_settings

    rng = np.random.default_rng(0)
    n = 120
    y = np.arange(n) % 3
    speakers = [f"s{i % 10}" for i in rng.permutation(n)]
    sessions = [f"Session{int(s[1:]) // 2 + 1}" for s in speakers]

    def folds(**kw):
        out = make_folds(y, speakers, sessions, protocol=protocol, **kw)
        return [(f.train.tolist(), f.val.tolist(), f.test.tolist()) for f in out]

    base = folds(k=5, test_fraction=0.2)
    other = {"folds": folds(k=4, test_fraction=0.2), "test_fraction": folds(k=5, test_fraction=0.3)}
    unread = unread_settings(protocol)
    assert set(other) == set(PROTOCOL_SETTINGS)          # every setting of one protocol is tried
    for setting, changed in other.items():
        assert (changed == base) == (setting in unread), (setting, protocol)


def test_a_run_is_the_same_run_whatever_the_settings_its_protocol_does_not_read(tmp_path):
    """A speaker run trained again with another ``--folds`` (which only kfold reads) is the
    same run, so it is resumed or grown rather than refused; under kfold the folds tell runs
    apart, and so does the holdout's share under holdout."""
    from dataclasses import replace

    from emojax.training.config import run_config, settings

    def of(protocol, **kw):
        cfg = replace(run_config("teaching", tmp_path, protocol=protocol), **kw)
        return settings(json.loads(json.dumps(cfg.to_dict())))

    for protocol in ("speaker", "loso"):
        assert of(protocol, folds=4) == of(protocol, folds=5) and of(protocol, test_fraction=0.3) == of(protocol)
    assert of("kfold", folds=4) != of("kfold", folds=5) and of("kfold", test_fraction=0.3) == of("kfold")
    assert of("holdout", test_fraction=0.3) != of("holdout") and of("holdout", folds=4) == of("holdout")
    assert of("speaker") != of("kfold")
