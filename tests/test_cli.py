"""The command line, run as a user runs it (a subprocess through the installed entry point)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np

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


def test_truncated_video_fails_by_default_and_is_kept_flagged_on_request(tmp_path):
    """The issue's case: the first 100 kB of a 1.6 MB mp4 (its index at the front, as phones
    and web tools write it) decodes to a few frames; that is not the video."""
    from emojax.features import Features

    from .conftest import faststart_mp4, read_all

    frames = read_all(shared("grid") / "bbaf2n.mpg") * 4
    full = faststart_mp4(tmp_path / "full.mp4", frames, 25.0, bit_rate=4_000_000)
    assert full.stat().st_size > 1_000_000
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[:100_000])
    store = tmp_path / "store"
    proc = emojax("extract", cut, "--out", store, "--workers", "1", check=False)
    assert proc.returncode == 1, proc.stdout
    assert "failed 1" in proc.stdout and "cut.mp4" in proc.stdout and "truncated" in proc.stdout
    assert "of the 300 frames its container claims" in proc.stdout and "--accept-partial" in proc.stdout
    assert "@ 0x" not in proc.stderr and "[mov," not in proc.stderr  # FFmpeg's own noise stays off the terminal
    assert not list(store.glob("*.npz"))
    kept = emojax("extract", cut, "--out", store, "--workers", "1", "--accept-partial")
    assert "done 1" in kept.stdout and "kept partial 1" in kept.stdout and "partial: cut: truncated" in kept.stdout
    meta = json.loads(next(store.glob("*.json")).read_text())
    assert meta["partial"] is True and meta["source"]["integrity"]["status"] == "truncated"
    assert 0 < meta["frames"] < 300 and meta["source"]["integrity"]["frames_expected"] == 300
    assert Features.load(next(store.glob("*.json")).with_suffix("")).partial
    again = emojax("extract", cut, "--out", store, "--workers", "1", check=False)  # a stored partial record is
    assert again.returncode == 1 and "already stored 0" in again.stdout            # not good enough without the flag
    whole = emojax("extract", full, "--out", store, "--workers", "1")
    assert "done 1" in whole.stdout and "kept partial 0" in whole.stdout


def test_extract_with_nothing_to_do_is_a_clear_error(tmp_path):
    proc = emojax("extract", tmp_path, "--out", tmp_path / "store", check=False)
    assert proc.returncode == 2 and "nothing to extract" in proc.stderr


def test_heart_rate_json_csv_beats_and_hrv_on_a_planted_pulse(tmp_path, chain):
    """A real face (six CREMA-D clips, 12.6 s) with a 72 bpm pulse planted at 2 % (as real skin
    has it: benchmarks/rppg.py measures how weaker ones fare): a reliable rate, a per-frame table,
    beats one per period and HRV."""
    from emojax.data.planted import plant_pulse

    from .conftest import write_lossless

    frames, fps, points = chain("cremad")
    planted, truth = plant_pulse(frames, fps, 72.0, 0.02, points=points, seed=3)
    clip = write_lossless(tmp_path / "planted.mkv", planted, fps)
    proc = emojax("heart-rate", clip, "--json", "--csv", tmp_path / "table.csv")
    report = json.loads(proc.stdout)
    assert report["reliable"] and abs(report["bpm"] - truth.bpm) <= 3, report
    assert set(report["series"][0]) == {"t", "bpm", "quality", "margin", "reliable"}
    h = report["hrv"]
    seconds = len(frames) / fps
    assert abs(len(h["beats"]) - seconds * truth.bpm / 60) <= 2
    ibi = np.array(h["ibi_ms"])
    assert np.median(np.abs(ibi - 60000 / truth.bpm)) < 60 and h["rmssd_ms"] > 0 and h["sdnn_ms"] > 0
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert len(rows) == len(frames) and list(rows[0]) == ["time", "r", "g", "b", "pulse", "bpm", "quality",
                                                          "face_found", "state", "interpolated", "bridged",
                                                          "patches_filled", "beat"]
    assert sum(int(r["beat"]) for r in rows) == len(h["beats"])
    assert all(r["pulse"] and r["face_found"] == "1" for r in rows)


def test_heart_rate_says_no_reliable_pulse_with_its_best_guess(tmp_path):
    """A real skin close-up whose pulse is weak (its windows' quality is that of noise): no rate
    is given, but the best guess and the reason are."""
    proc = emojax("heart-rate", shared("rppg_skin") / "Sierra_Leone__video16_forehead.avi",
                  "--roi", "frame", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["bpm"] is None and not report["reliable"]
    assert report["error"].startswith("no reliable pulse") and abs(report["bpm_unreliable"] - 82.74) <= 5
    assert len(report["series"]) > 100
    noface = emojax("heart-rate", shared("rppg_skin") / "Sierra_Leone__video16_forehead.avi", "--json", check=False)
    assert noface.returncode == 1 and json.loads(noface.stdout)["bpm"] is None


def test_make_teaching_set_command(tmp_path):
    out = tmp_path / "teach"
    emojax("make-teaching-set", "--out", out, "--clips-per-class", "1", "--seconds", "2", "--size", "160", "--quiet")
    lines = (out / "manifest.csv").read_text().splitlines()
    assert lines[0] == "path,label,group" and len(lines) == 5
    assert sorted(p.name for p in out.glob("*.mp4")) == ["angry_000.mp4", "calm_000.mp4", "happy_000.mp4", "sad_000.mp4"]
