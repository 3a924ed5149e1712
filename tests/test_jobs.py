"""Runs trained in a background process: a failure is reported with the log's tail, a second
launch into a busy folder is refused, and progress events map to the share done."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from emojax import procs
from emojax.errors import EmojaxError
from emojax.training import commands, jobs


def _wait(run, states, timeout=120.0):
    deadline = time.monotonic() + timeout
    while (s := jobs.status(run))["state"] not in states:
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    return s


def test_a_run_that_cannot_start_is_reported_failed_with_its_log(tmp_path):
    run = tmp_path / "runs" / "bad"
    cmd = commands.train_command(run, dataset="folder", root=tmp_path / "no-such-folder", epochs=1)
    assert cmd[1:4] == ["-m", "emojax.cli", "train"] and "--epochs=1" in cmd
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


@pytest.fixture
def stranger():
    """An unrelated process that must never be signalled."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p
    p.kill()
    p.wait()


def test_cancel_never_signals_a_process_that_is_not_this_runs(tmp_path, stranger):
    """progress.json naming a live stranger (a stale pid after a crash, or an edited file), with
    or without its true creation time, or naming no pid at all: the run reads as stopped and
    Cancel signals nobody."""
    run = tmp_path / "runs" / "stale"
    run.mkdir(parents=True)
    for progress in ({"status": "running", "pid": stranger.pid},                       # no creation time
                     {"status": "running", **procs.identity(stranger.pid)},            # right time, not emojax train
                     {"status": "running", "pid": stranger.pid, "created": 1.0},       # the pid reused
                     {"status": "running"},                                            # no pid at all
                     {"status": "running", "pid": "x", "stage": "train", "fold": "x", "model": "rppg"}):  # edited
        (run / "progress.json").write_text(json.dumps(progress))
        assert jobs.status(run)["state"] == "stopped", progress
        assert not jobs.cancel(run, wait=0.5)
        assert stranger.poll() is None, f"a stranger was signalled for {progress}"
    (run / "progress.json").write_text('{"status": "runn')            # truncated: names nothing either
    assert jobs.status(run)["state"] == "none" and not jobs.cancel(run, wait=0.5)


def _launched_by_a_server(run, before: str = "") -> int:
    """The pid of a two-minute sleep launched as a train run into ``run`` by another process (a
    server, running ``before`` first), which has exited since."""
    server = (f"{before}import sys; from emojax.training import jobs; "
              "print(jobs.launch([sys.executable, '-c', 'import time; time.sleep(120)', 'emojax', 'train'], sys.argv[1]))")
    return int(subprocess.run([sys.executable, "-c", server, str(run)], capture_output=True, text=True,
                              check=True).stdout)


def test_a_restarted_server_still_knows_and_cancels_the_run_it_launched(tmp_path):
    """A server launches a run and exits (its registry of children gone with it); another
    process still identifies the run from its launch record, and Cancel stops it."""
    run = tmp_path / "runs" / "restart"
    orphan = procs.psutil.Process(_launched_by_a_server(run))
    try:
        assert jobs.status(run)["state"] == "starting"
        assert jobs.cancel(run, wait=10)
        assert procs.ended(orphan)
        assert jobs.status(run)["state"] == "stopped"          # ended without writing its progress
    finally:
        if not procs.ended(orphan):
            orphan.kill()


def test_the_background_command_lines_are_what_the_command_line_reads():
    """Both background commands are built one way, and the real parser reads each setting back."""
    from emojax.cli import build_parser

    train = commands.train_command("runs/r", dataset="folder", root="videos", preset="paper", protocol="holdout",
                                   epochs=3, store="store", engine="ray", address="auto", speaker_pattern="-(x)_",
                                   allow_speaker_overlap=True)    # a value that starts with "-" is still a value
    assert train[:3] == [sys.executable, "-m", "emojax.cli"]
    a = build_parser().parse_args(train[3:])
    assert (a.command, a.quiet, a.dataset, a.root, a.preset, a.protocol, a.out, a.epochs, a.store, a.engine,
            a.address, a.speaker_pattern, a.allow_speaker_overlap, a.folds, a.workers) == \
        ("train", True, "folder", "videos", "paper", "holdout", "runs/r", 3, "store", "ray", "auto", "-(x)_", True, 5,
         None)
    explain = commands.explain_command("runs/r", groupings="modality,time:4", video="clip.mp4")
    a = build_parser().parse_args(explain[3:])
    assert (a.command, a.run, a.groups, a.per_class, a.video) == ("explain", "runs/r", "modality,time:4", True,
                                                                   "clip.mp4")
    assert not build_parser().parse_args(commands.explain_command("r", per_class=False)[3:]).per_class


def test_a_runs_progress_is_said_in_one_wording():
    """The Train page and `emojax train`'s bars say where a run is with the library's words;
    an edited progress.json gives odd words, never an error."""
    from emojax.training.progress import progress_text, training_step

    assert progress_text({"stage": "extract", "done": 3, "total": 9}) == "reading faces: 3 of 9 videos"
    step = {"stage": "train", "fold": 2, "folds": 5, "seed": 1, "seeds": 2, "model": "rppg", "epoch": 4}
    assert training_step(step) == "fold 2/5 (seed 1), rppg"
    assert progress_text(step) == "fold 2/5 (seed 1), rppg, epoch 4"
    assert progress_text({**step, "fold": "final", "seeds": 1, "model": "face"}) == "final model, face, epoch 4"
    assert progress_text({"stage": "evaluate"}) == "scoring the folds"
    assert progress_text({}) == "" and progress_text({"stage": "note", "message": "x"}) == ""
    assert progress_text({"stage": "train", "seeds": "two", "fold": None}) == "fold None/None, None, epoch None"


#: a process whose first seconds are spent in a garbage-collector callback (as a run starting spends
#: them in JAX's): a Ctrl-C landing there is dropped by Python ("Exception ignored in"), then it waits
_DROPS_CTRL_C = """
import gc, time
dropped = []
def slow(phase, info):
    if not dropped:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:       # raised in a gc callback: Python prints it and goes on
            dropped.append(1)
            raise
until = time.monotonic() + 60           # inside the collector until a Ctrl-C was dropped there
gc.callbacks.append(slow)
print("ready", flush=True)
while not dropped and time.monotonic() < until:
    gc.collect()
time.sleep(60)
"""


def test_cancel_presses_ctrl_c_again_when_python_dropped_it(tmp_path):
    run = tmp_path / "runs" / "dropped"
    jobs.launch([sys.executable, "-c", _DROPS_CTRL_C, "emojax", "train"], run)
    deadline = time.monotonic() + 30
    while "\nready\n" not in (run / jobs.LOG).read_text():      # its own line, not the command logged
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert jobs.cancel(run, wait=15)
    log = (run / jobs.LOG).read_text()
    assert "Exception ignored in" in log and "KeyboardInterrupt" in log      # the first was dropped
    assert jobs.status(run)["state"] == "interrupted", log                   # and the run stopped all the same


def test_a_server_that_ignores_ctrl_c_still_cancels_what_it_launched(tmp_path):
    """A server started in the background by a shell has Ctrl-C ignored, and its children would
    inherit that: the run it launches still has Ctrl-C, so Cancel stops it."""
    run = tmp_path / "runs" / "ignored"
    child = procs.psutil.Process(_launched_by_a_server(run, "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "))
    deadline = time.monotonic() + 10
    while child.cmdline()[1:3] != ["-c", "import time; time.sleep(120)"]:   # the command itself, same pid
        assert time.monotonic() < deadline, child.cmdline()
        time.sleep(0.05)
    try:
        assert jobs.cancel(run, wait=10)
        assert procs.ended(child)
    finally:
        if not procs.ended(child):
            child.kill()
