"""The paper preset says what it assumes: the table of what Kumar & Li (2023) state, leave open,
and what emojax assumes there is one constant, read from the preset's own settings, and the same
in the README, a paper run's model.json, the CLI and the Metrics explorer; Table 1 beside the
paper's figures names the run's protocol and that the paper's split is not stated."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from emojax.training import assumptions
from emojax.training.assumptions import PAPER_CHOICES, as_json, markdown
from emojax.training.config import PRESETS
from emojax.training.summary import PAPER_COLUMN, PAPER_SPLIT

from .test_cli import emojax

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_prints_the_librarys_table_of_stated_and_open_choices():
    assert markdown() in (ROOT / "README.md").read_text(), (
        "README's paper table differs from emojax.training.assumptions: paste markdown() into the README")
    open_ = {c.topic for c in PAPER_CHOICES if not c.stated}
    assert {"input scaling", "padding in the models", "validation split", "train/test split",
            "optimiser and schedule", "loss, class weights", "dropout, initialisation"} <= open_
    stated = {c.topic for c in PAPER_CHOICES if c.stated}
    assert {"face box", "rPPG signal", "landmarks", "sequence length", "early fusion", "late fusion",
            "epochs, batch, learning rate", "dataset and classes"} <= stated


def test_the_table_is_read_from_the_presets_own_settings(monkeypatch):
    """Change the preset and the table follows: it cannot say one thing while the code does another."""
    monkeypatch.setitem(PRESETS, "paper", replace(PRESETS["paper"], learning_rate=0.5, val_fraction=0.25,
                                                  class_weights=True))
    rows = {c.topic: c.emojax for c in assumptions._choices()}
    assert "learning rate 0.5" in rows["epochs, batch, learning rate"]
    assert rows["validation split"].startswith("25 %") and "inverse frequency" in rows["loss, class weights"]


def test_a_paper_run_records_the_table_and_the_cli_lists_what_it_assumed(paper_run, teaching_run):
    run, metrics = paper_run
    info = json.loads((run / "model.json").read_text())
    assert info["paper"] == json.loads(json.dumps(as_json()))
    assert info["paper"]["not_stated"] == [c.topic for c in PAPER_CHOICES if not c.stated]
    # the teaching clips speak, yet the paper preset reads the paper's two modalities (voice only when asked)
    assert json.loads((run / "config.json").read_text())["modalities"] == info["modalities"] == ["rppg", "face"]
    assert set(metrics["folds"][0]["models"]) == {"rppg", "face", "early_fusion", "late_fusion"}
    assert "| Voice |" not in metrics["table1"] and "| Facial |" in metrics["table1"]
    # all of the teaching clips are as long: the early fusion reads every frame of the padding
    assert [f["early_fusion_frames"] for f in metrics["folds"]] == [info["spec"]["length"]]
    out = emojax("evaluate", run).stdout
    assert f"{len(info['paper']['not_stated'])} choices the paper leaves open" in out
    for c in PAPER_CHOICES:
        assert (f"  - {c.topic}: {c.emojax}" in out) is (not c.stated), c.topic
    improved, _, _ = teaching_run(1.0)
    assert "paper" not in json.loads((improved / "model.json").read_text())
    assert "leaves open" not in emojax("evaluate", improved).stdout


@pytest.fixture
def as_iemocap(paper_run, tmp_path) -> Path:
    """A copy of the paper run whose config says IEMOCAP (10 classes): the paper's column applies."""
    run = shutil.copytree(paper_run[0], tmp_path / "artifacts" / "runs" / "paper-iemocap")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "iemocap", "classes": None}))
    return run


def test_table1_beside_the_papers_figures_names_the_runs_protocol_and_that_the_papers_is_not_stated(as_iemocap):
    from dashboard import tables
    from emojax.training.scoring import evaluate_run

    metrics = evaluate_run(as_iemocap)
    table = metrics["table1"].splitlines()
    assert table[0].endswith(f"| UAR | {PAPER_COLUMN} |")
    protocol = "holdout (one split, 20 % of the videos tested), 1 fold(s), seed 0"
    assert metrics["protocol"] == protocol
    note = next(line for line in table if line.startswith("Paper accuracy:"))   # then whether speaker-independent
    assert note.startswith("Paper accuracy: Kumar & Li (2023), IEMOCAP, 10 classes; its train/test split "
                           "is not stated") and note.endswith(f"this run's protocol: {protocol}.")
    assert table[-1].startswith("Speaker-independent (holdout)")
    assert metrics["paper_reference"]["split"] == PAPER_SPLIT
    assert metrics["paper_reference"]["table1"]["early_fusion"]["accuracy"] == 54.61
    printed = emojax("evaluate", as_iemocap).stdout
    assert table[0] in printed and note in printed
    frame = tables.table1_frame(metrics, paper=True)
    assert frame.columns[-1] == PAPER_COLUMN and frame.loc["Early fusion", PAPER_COLUMN] == "54.61"
    # on the teaching set again: no paper column, and no word about it
    config = json.loads((as_iemocap / "config.json").read_text())
    (as_iemocap / "config.json").write_text(json.dumps({**config, "dataset": "teaching"}))
    plain = evaluate_run(as_iemocap)
    assert "Paper" not in plain["table1"] and "paper_reference" not in plain


def test_the_metrics_explorer_shows_the_protocol_beside_the_paper_and_what_the_run_assumed(as_iemocap, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EMOJAX_ARTIFACTS", str(as_iemocap.parents[1]))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("../pages/metrics.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert PAPER_COLUMN in list(at.dataframe[0].value.columns)
    notes = [c.value for c in at.caption]
    assert any(PAPER_SPLIT in n and "this run's protocol: holdout" in n for n in notes), notes
    choices = next(d.value for d in at.dataframe if "the paper" in d.value.columns)
    assert list(choices.index) == [c.topic for c in PAPER_CHOICES]
    assert (choices["the paper"] == "not stated").sum() == len(as_json()["not_stated"])


def test_a_one_fold_run_says_its_one_folds_models_not_a_mean(paper_run):
    from emojax.estimator import TrainedRun

    run = TrainedRun(paper_run[0])
    assert len(run.fold_names) == 1
    said = run.which()
    assert "mean" not in said and run.fold_names[0] in said, said
