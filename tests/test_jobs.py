"""Runs trained in a background process: a failure is reported with the log's tail, a second
launch into a busy folder is refused, and progress events map to the share done."""

from __future__ import annotations

import sys
import time

import pytest

from emojax.errors import EmojaxError
from emojax.training import jobs


def _wait(run, states, timeout=120.0):
    deadline = time.monotonic() + timeout
    while (s := jobs.status(run))["state"] not in states:
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    return s


def test_a_run_that_cannot_start_is_reported_failed_with_its_log(tmp_path):
    run = tmp_path / "runs" / "bad"
    cmd = jobs.train_command(run, dataset="folder", root=tmp_path / "no-such-folder", epochs=1)
    assert cmd[1:4] == ["-m", "emojax.cli", "train"] and cmd[cmd.index("--epochs") + 1] == "1"
    jobs.launch(cmd, run)
    s = _wait(run, ("failed", "done", "interrupted", "stopped"))
    assert s["state"] == "failed"
    assert "no-such-folder" in s["log"] and "not a folder" in s["log"]
    assert not jobs.cancel(run)                 # nothing left to cancel


def test_a_busy_folder_is_refused_and_a_launched_process_can_be_cancelled(tmp_path):
    run = tmp_path / "runs" / "busy"
    jobs.launch([sys.executable, "-c", "import time; time.sleep(60)"], run)
    assert jobs.status(run)["state"] == "starting"            # running, no progress written yet
    with pytest.raises(EmojaxError, match="already training there"):
        jobs.launch([sys.executable, "-c", "pass"], run)
    assert jobs.cancel(run)
    assert jobs.status(run)["state"] in ("failed", "interrupted")   # ended by the signal, not by itself
    assert "$ " in (run / jobs.LOG).read_text()               # the command is logged


def test_progress_maps_to_the_share_done():
    assert jobs.fraction({}) == 0.0
    assert jobs.fraction({"stage": "extract", "done": 5, "total": 10}) == pytest.approx(0.05)
    first = jobs.fraction({"stage": "train", "fold": 1, "folds": 2, "model": "rppg", "epoch": 0, "epochs": 10})
    half = jobs.fraction({"stage": "train", "fold": 2, "folds": 2, "model": "rppg", "epoch": 0, "epochs": 10})
    last = jobs.fraction({"stage": "train", "fold": 2, "folds": 2, "model": "early_fusion", "epoch": 10, "epochs": 10})
    assert first == pytest.approx(0.1) and half == pytest.approx(0.55) and last == pytest.approx(1.0)
    assert jobs.fraction({"stage": "evaluate"}) == 1.0


def test_explaining_in_the_background_reports_a_failure_with_its_log(tmp_path):
    run = tmp_path / "not-a-run"
    assert jobs.explaining(run)["state"] == "none"
    jobs.launch_explain(run, groupings="modality", per_class=False)
    deadline = time.monotonic() + 120
    while (s := jobs.explaining(run))["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert s["state"] == "failed" and "not a finished emojax run" in s["log"]
