"""The command line, run as a user runs it (a subprocess through the installed entry point)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import shared

pytestmark = pytest.mark.timeout(300)


def emojax(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "emojax.cli", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_extract_in_parallel_then_resume_from_the_store(tmp_path):
    root = shared("cremad")
    store = tmp_path / "store"
    first = emojax("extract", root, "--dataset", "cremad", "--out", store, "--workers", "2")
    assert "done 6, already stored 0, failed 0" in first.stdout
    assert "cremad: 6 items" in first.stdout
    assert len(list(store.glob("*.npz"))) == len(list(store.glob("*.json"))) == 6
    again = emojax("extract", root, "--dataset", "cremad", "--out", store, "--workers", "2")
    assert "done 0, already stored 6, failed 0" in again.stdout


def test_extract_reports_failures_by_name_and_keeps_going(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    good = shared("grid") / "bbaf2n.mpg"
    proc = emojax("extract", good, bad, "--out", tmp_path / "store", "--workers", "1", check=False)
    assert proc.returncode == 1
    assert "done 1, already stored 0, failed 1" in proc.stdout
    assert "broken.mp4" in proc.stdout and "not a video" in proc.stdout


def test_truncated_video_is_extracted_with_a_warning(tmp_path):
    import numpy as np

    from .conftest import write_video

    full = write_video(tmp_path / "full.avi", [np.full((120, 160, 3), i, np.uint8) for i in range(60)], 25.0, "MJPG")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"  # an AVI's header states its frame count; half the file is gone
    cut.write_bytes(data[: len(data) // 2])
    proc = emojax("extract", cut, "--out", tmp_path / "store", "--workers", "1")
    assert "done 1" in proc.stdout and "warning: cut: read" in proc.stdout and "truncated" in proc.stdout


def test_extract_with_nothing_to_do_is_a_clear_error(tmp_path):
    proc = emojax("extract", tmp_path, "--out", tmp_path / "store", check=False)
    assert proc.returncode == 2 and "nothing to extract" in proc.stderr


def test_heart_rate_json(tmp_path):
    proc = emojax("heart-rate", shared("rppg_skin") / "Sierra_Leone__video16_forehead.avi",
                  "--roi", "frame", "--method", "chrom", "--json")
    report = json.loads(proc.stdout)
    assert set(report) >= {"bpm", "quality", "series"}
    assert abs(report["bpm"] - 82.74) <= 5
    assert len(report["series"]) > 100 and set(report["series"][0]) == {"t", "bpm", "quality"}
    noface = emojax("heart-rate", shared("rppg_skin") / "Sierra_Leone__video16_forehead.avi", "--json", check=False)
    assert noface.returncode == 1 and json.loads(noface.stdout)["bpm"] is None


def test_make_teaching_set_command(tmp_path):
    out = tmp_path / "teach"
    emojax("make-teaching-set", "--out", out, "--clips-per-class", "1", "--seconds", "2", "--size", "160", "--quiet")
    lines = (out / "manifest.csv").read_text().splitlines()
    assert lines[0] == "path,label,group" and len(lines) == 5
    assert sorted(p.name for p in out.glob("*.mp4")) == ["angry_000.mp4", "calm_000.mp4", "happy_000.mp4", "sad_000.mp4"]
