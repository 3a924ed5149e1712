"""Bad input, faults and several users: each case refuses clearly or keeps working, on real media."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from emojax.errors import EmojaxError, VideoError

from .conftest import FLAT, RUN_FILES, damaged_copy, lie_about_length, read_all, shared, write_lossless, write_video


@pytest.fixture(scope="module")
def grid_frames():
    return read_all(shared("grid") / "bbaf2n.mpg")


def test_a_header_that_lies_about_its_length_costs_no_memory(tmp_path, grid_frames, extractor):
    """A real face in an mp4 whose header claims ten million frames: the read is called
    truncated (refused unless partial data is accepted), and what is kept is exactly the
    honest file's record, in arrays the size of what was read (no views of a buffer sized
    from the claim). Peak memory against an honest file is in benchmarks/extract.py."""
    honest_file = write_video(tmp_path / "honest.mp4", grid_frames, 25.0)
    honest = extractor(honest_file)
    liar = lie_about_length(honest_file, tmp_path / "liar.mp4", claim=10_000_000)
    with pytest.raises(VideoError, match=r"liar\.mp4: not whole \(truncated: read 75 of the 10000000 frames"):
        extractor(liar)
    kept = extractor(liar, accept_partial=True)
    assert kept.partial and len(kept) == len(honest) == len(grid_frames)
    for name in kept.ARRAYS:
        a = getattr(kept, name)
        assert a.base is None or a.base.nbytes == a.nbytes, f"{name} is a view of a larger buffer"
        assert a.nbytes <= getattr(honest, name).nbytes
        assert a.tobytes() == getattr(honest, name).tobytes(), name


def test_a_variable_frame_rate_is_timed_by_presentation_times_and_resampled(tmp_path, extractor, chain):
    """Real faces (four GRID clips chained, 12 s) with a 108.75 bpm pulse planted, written at
    25 fps for the first half and 12.5 fps for the second, each frame at its true time. Timed
    by frame index, the second half's pulse runs twice as fast; timed by presentation time and
    put on a uniform grid, the rate comes out right, and the record says what was done."""
    import csv

    from emojax.data.planted import plant_pulse
    from emojax.features import vitals
    from emojax.video import Frame

    frames, fps, points = chain("grid")
    planted, truth = plant_pulse(frames, fps, 108.75, 0.01, points=points, seed=3,
                                   **FLAT)
    half = len(planted) // 2
    keep = list(range(half)) + list(range(half, len(planted), 2))
    video = write_lossless(tmp_path / "vfr.mkv", [planted[i] for i in keep], fps, times=[i / fps for i in keep])

    f = extractor(video)                     # whole: its span is the duration it claims
    timing = f.source["timing"]
    assert timing["variable"] and timing["frames_decoded"] == len(keep)
    assert timing["min_fps"] == pytest.approx(fps / 2, rel=0.02) and timing["max_fps"] == pytest.approx(fps, rel=0.02)
    assert f.fps == pytest.approx(fps) and timing["resampled_fps"] == pytest.approx(fps)
    assert np.allclose(np.diff(f.times), 1 / fps) and f.times[-1] == pytest.approx(keep[-1] / fps, abs=1e-3)
    assert len(f) == keep[-1] + 1 and f.face_ratio > 0.95
    r = vitals.report(f, with_hrv=False)
    assert r["reliable"] and abs(r["bpm"] - truth.bpm) <= 3, r
    assert r["timing"]["resampled_fps"] == pytest.approx(fps)
    # the clips were chained: where a join fell between two kept frames (clip 4 starts at frame 225,
    # which was dropped), the grid point between them is not a blend of two faces but missing
    assert 226 in f.source["cuts"] and timing["missing_in_gaps"] == 1 and not f.face_found[225]
    assert np.isnan(f.landmarks[225]).all() and np.isnan(f.rgb[225]).all()
    # every other grid point with no frame of its own is marked, in the record and in the per-frame
    # table; a point with a frame carries that frame's values unchanged
    unseen = sorted(set(range(len(f))) - set(keep) - {225})
    assert np.flatnonzero(f.interpolated).tolist() == unseen and timing["interpolated"] == len(unseen)
    assert r["interpolated_rows"] == len(unseen)
    vitals.write_csv(tmp_path / "vfr.csv", vitals.table(f))
    rows = list(csv.DictReader((tmp_path / "vfr.csv").open()))
    assert [i for i, row in enumerate(rows) if row["interpolated"] == "1"] == unseen
    direct = extractor.frames([Frame(j, j / fps, planted[i]) for j, i in enumerate(keep)], fps)  # one row a frame
    for name in ("landmarks", "rgb", "patches", "state"):
        assert np.array_equal(getattr(f, name)[keep], getattr(direct, name), equal_nan=True), name

    # the same frames with one timestamp repeated and one running back (a muxer's glitch): both
    # frames are dropped and counted, and the rest keeps its grid, its seconds and its rate
    times = [i / fps for i in keep]
    times[40], times[80] = times[39], times[79] - 0.5 / fps
    glitched = extractor(write_lossless(tmp_path / "glitch.mkv", [planted[i] for i in keep], fps, times=times))
    g = glitched.source["timing"]
    assert g["timestamps_dropped"] == {"duplicate": 1, "backward": 1} and g["frames_decoded"] == len(keep) - 2
    assert g["variable"] and g["resampled_fps"] == pytest.approx(fps) and glitched.fps == pytest.approx(fps)
    assert len(glitched) == len(f) and glitched.times[-1] == pytest.approx(f.times[-1], abs=1e-3)
    assert g["missing_in_gaps"] == 1 and not glitched.face_found[225]
    assert np.flatnonzero(glitched.interpolated).tolist() == sorted(unseen + [40, 80])
    rg = vitals.report(glitched, with_hrv=False)
    assert rg["reliable"] and abs(rg["bpm"] - truth.bpm) <= 3, rg

    cut = tmp_path / "vfr-cut.mkv"            # a container with no frame count, truncated: judged by time
    cut.write_bytes(video.read_bytes()[:int(video.stat().st_size * 0.6)])
    with pytest.raises(VideoError, match=r"vfr-cut\.mkv: not whole \(truncated: read \d+ frames covering [\d.]+ s of the"):
        extractor(cut)

    steady = extractor(write_lossless(tmp_path / "steady.mkv", planted[:half], fps))
    assert not steady.source["timing"]["variable"] and "resampled_fps" not in steady.source["timing"]


def _refusal(capsys, *argv) -> str:
    """Run the CLI in this process; it must refuse with exit 2 and one line, no traceback."""
    from emojax.cli import main

    rc = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("extract:")]       # the progress bar, shown when slow
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("emojax: error: "), (rc, err)   # (a progress bar aside)
    return lines[0]


def test_training_refuses_a_design_it_cannot_evaluate_in_one_line(tmp_path, capsys):
    """Real clips (GRID speakers, one CREMA-D actor) in datasets that cannot give an honest
    result: each is refused with one line naming the problem and what to do, before anything
    is extracted or a run folder is claimed."""
    grid, cremad = shared("grid"), shared("cremad")
    clips = sorted(grid.glob("*.mpg"))
    out, store = tmp_path / "run", tmp_path / "store"
    common = ["--out", str(out), "--store", str(store), "--epochs", "1", "--quiet"]

    def folder(name: str, spec: dict[str, int]) -> Path:
        root, k = tmp_path / name, 0
        for label, n in spec.items():
            (root / label).mkdir(parents=True)
            for clip in clips[k:k + n]:
                (root / label / clip.name).symlink_to(clip)
            k += n
        return root

    err = _refusal(capsys, "train", "--dataset", "cremad", "--root", str(cremad), "--classes", "four", *common)
    assert "IEMOCAP's class sets" in err and "leave --classes out" in err
    err = _refusal(capsys, "train", "--dataset", "cremad", "--root", str(cremad), *common)
    assert "all 6 videos are from one speaker (1001)" in err and "add videos of other speakers" in err
    lone = folder("lone", {"a": 3, "b": 1})
    err = _refusal(capsys, "train", "--dataset", "folder", "--root", str(lone), *common)
    assert "class 'b' has 1 video(s)" in err
    few = folder("few", {"a": 3, "b": 2})
    err = _refusal(capsys, "train", "--dataset", "folder", "--root", str(few), *common)
    assert "kfold with k=5" in err and "class 'b' has 2 videos; use --folds 2" in err
    err = _refusal(capsys, "train", "--dataset", "folder", "--root", str(few), "--protocol", "speaker", *common)
    assert "needs the speaker of every video" in err and "use --protocol kfold" in err and "or speaker" not in err

    # speakers named, but all of class c's videos are one speaker's: holding that speaker out
    # leaves no video of c to train on
    rows = ["path,label,group"] + [f"{c},{lab},{spk}" for c, lab, spk in zip(
        clips[:9], "aabbccaab", ["s1", "s2", "s1", "s2", "s3", "s3", "s3", "s1", "s2"])]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    err = _refusal(capsys, "train", "--dataset", "csv", "--root", str(tmp_path / "m.csv"), "--protocol", "speaker", *common)
    assert "m.csv: s3: class 'c' has no training video (held out with s3)" in err
    rows[3] = rows[3].rsplit(",", 1)[0] + ","                 # one video without its speaker
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    err = _refusal(capsys, "train", "--dataset", "csv", "--root", str(tmp_path / "m.csv"), *common)
    assert "the speaker is known for 8 of 9 videos" in err
    assert not out.exists()                                   # a refused run claims no folder


@pytest.mark.parametrize("name", list(RUN_FILES))
def test_a_run_with_a_damaged_file_says_which_and_why(explained_run, teaching_set, tmp_path, capsys, name):
    """Each of a run's files cut short: whatever reads it names the file and the problem in one
    line (the CLI exits 2, no traceback); what does not need the file keeps working."""
    import json

    from emojax.explain.importance import read_importance
    from emojax.training import jobs
    from emojax.training.runfiles import problems

    run, _ = explained_run
    bad = damaged_copy(run, tmp_path / "bad", name)
    clip = str(sorted(teaching_set(1.0).glob("calm_*.mp4"))[0])
    found = problems(bad)
    if name in ("metrics.json", "model.json", "predictions.npz"):
        assert len(found) == 1 and found[0].startswith(f"{bad / name}: not valid JSON" if name.endswith(".json")
                                                        else f"{bad / name}: cannot be read"), found
    else:
        assert found == []                            # not a file a run needs to be used
    if name == "metrics.json":                        # recomputed from the predictions, as evaluate does
        from emojax.cli import main

        assert main(["evaluate", str(bad), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["classes"] == json.loads((run / "metrics.json").read_text())["classes"]
    elif name == "predictions.npz":
        assert "predictions.npz: cannot be read" in _refusal(capsys, "evaluate", str(bad))
    elif name == "model.json":
        assert "model.json: not valid JSON" in _refusal(capsys, "predict", clip, "--run", str(bad))
    elif name == "late_fusion.json":
        err = _refusal(capsys, "predict", clip, "--run", str(bad), "--fold", "1", "--json")
        assert "fold-1/late_fusion.json: unreadable" in err
        from emojax.cli import main                   # another fold does not need it

        assert main(["predict", clip, "--run", str(bad), "--fold", "2", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["label"]
    elif name == "importance.json":
        with pytest.raises(EmojaxError, match=r"importance\.json: not valid JSON"):
            read_importance(bad)
    elif name == "progress.json":
        assert jobs.status(bad)["state"] == "none" and not jobs.cancel(bad, wait=0.1)


def test_values_a_run_could_not_have_written_are_refused(explained_run, tmp_path):
    """Files that parse but hold impossible values (an accuracy of 7.5, a late-fusion weight of
    7.5, a share of 250 %, a probability below zero) are refused, naming the file and the value."""
    import json
    import shutil

    from emojax.estimator import TrainedRun
    from emojax.explain.importance import read_importance
    from emojax.training.runfiles import problems

    run, _ = explained_run
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)

    def edit(rel: str, change) -> None:
        data = json.loads((bad / rel).read_text())
        change(data)
        (bad / rel).write_text(json.dumps(data))

    edit("metrics.json", lambda m: m["pooled"]["rppg"].update(accuracy=7.5))
    edit("checkpoint/fold-1/late_fusion.json", lambda w: w["weights"].update(rppg=7.5))
    edit("importance.json", lambda i: i["table2"]["early_fusion"].update(rppg=250.0))
    with np.load(bad / "predictions.npz") as z:
        pred = {k: z[k] for k in z.files}
    pred["proba_face"][0] = [-0.5, 1.5] + [0.0] * (pred["proba_face"].shape[1] - 2)
    np.savez(bad / "predictions.npz", **pred)
    found = problems(bad)
    assert any("metrics.json: pooled.rppg.accuracy is 7.5, not a share in [0, 1]" in p for p in found), found
    assert any("predictions.npz: 'proba_face' is not a probability per class" in p for p in found), found
    with pytest.raises(EmojaxError, match=r"late_fusion\.json: a late-fusion weight must be a number in \[0, 1\], not 7\.5"):
        TrainedRun(bad).split(0)
    with pytest.raises(EmojaxError, match=r"importance\.json: 'table2' is not per-cent shares"):
        read_importance(bad)


def test_prediction_refuses_or_flags_what_it_cannot_predict_from_the_same_everywhere(explained_run, tmp_path, capsys):
    """A real CREMA-D face as one frame, as a truncated file, and in grayscale; a GRID clip with
    the face blacked out: the library and the CLI refuse the same videos with the same reason
    (the Predict page's AppTest is in test_dashboard), and flag the grayscale one (no pulse)."""
    import json

    import cv2

    from emojax.cli import main
    from emojax.errors import NoFaceError
    from emojax.estimator import TrainedRun
    from emojax.features import Extractor, vitals
    from emojax.inference import predict_video

    run, _ = explained_run
    face = read_all(shared("cremad") / "1001_DFA_HAP_XX.flv")
    one = write_video(tmp_path / "one.mp4", face[:1], 30.0)
    cut = tmp_path / "cut.flv"
    data = (shared("cremad") / "1001_DFA_HAP_XX.flv").read_bytes()
    cut.write_bytes(data[:len(data) * 6 // 10])
    blank = write_video(tmp_path / "blank.mp4", [np.zeros_like(f) + 90 for f in face], 30.0)
    gray = write_lossless(tmp_path / "gray.mkv", [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                                                  for f in face], 30.0)
    for video, why in ((one, r"one\.mp4: a face on only 1 frame\(s\) \(0\.03 s\); a prediction needs at least 8 frames"),
                       (cut, r"cut\.flv: not whole \(truncated"),
                       (blank, r"blank\.mp4: no face was found in any of its 56 frames")):
        with pytest.raises(EmojaxError, match=why):
            predict_video(video, run)
        assert re.search(why, _refusal(capsys, "predict", str(video), "--run", str(run)))
    with pytest.raises(NoFaceError):
        predict_video(one, run)

    assert main(["predict", str(gray), "--run", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the file written here has no audio track: the voice is said absent beside the missing colour
    assert result["label"] in result["classes"] and len(result["warnings"]) == 2, result["warnings"]
    assert sum(w.startswith("the video has no colour (grayscale)") for w in result["warnings"]) == 1
    assert sum(w.startswith("no voice to use (the file has no audio track)") for w in result["warnings"]) == 1
    extractor = Extractor(TrainedRun(run).extractor)
    f = extractor(gray)
    assert f.grayscale and not extractor(write_video(tmp_path / "colour.mp4", face, 30.0)).grayscale
    report = vitals.report(f)
    assert report["bpm"] is None and report["error"].startswith("no pulse: the video has no colour (grayscale)")
    kept = predict_video(cut, run, accept_partial=True)
    assert kept["warnings"][0].startswith("the video is truncated (read ")


def test_sub_second_clips_are_read_from_their_landmarks_never_answered_by_a_constant(explained_run, capsys):
    """Real CREMA-D faces of 0.6, 0.9 and 1.5 s: too short for a pulse under 1 s, so the pulse
    is absent there (said, and the rPPG model answers with its training classes' frequencies),
    but the landmarks are not: the facial and fused models give each clip its own answer; a
    0.25 s clip (7 or 8 frames) gives nothing usable and is refused in one line."""
    import json

    from emojax.cli import main
    from emojax.inference import predict_video

    run, _ = explained_run
    clip = shared("cremad") / "1001_DFA_ANG_XX.flv"
    out = {s: predict_video(clip, run, start=0.2, end=0.2 + s) for s in (0.6, 0.9, 1.5)}
    for s, r in out.items():
        assert r["models"]["face"]["modalities"] == ["face"] and not r["models"]["face"]["prior_only"]
        # the clip speaks (its own MP3 track): the voice is read where its speech lasts 0.5 s (not
        # in 0.2-0.8 s: 13 frames of speech, 0.43 s), and each warning names what the fused models read
        voice = r["models"]["voice"]["modalities"] == ["voice"]
        assert voice == (s > 0.6) and r["models"]["voice"]["prior_only"] == (not voice)
        assert r["models"]["early_fusion"]["modalities"] == ["rppg"] * (s > 1) + ["face"] + ["voice"] * voice
        assert r["models"]["rppg"]["prior_only"] == (s < 1)
        said = [w for w in r["warnings"] if w.startswith("no pulse to use")]
        assert len(said) == (s < 1)
        assert all(w.endswith("the fused models read the landmarks" + " and voice" * voice + " alone") for w in said), said
    for m in ("face", "early_fusion", "late_fusion"):
        p = [np.array(list(out[s]["models"][m]["proba"].values())) for s in out]
        assert min(np.abs(a - b).max() for i, a in enumerate(p) for b in p[i + 1:]) > 1e-4, m
    prior = [out[s]["models"]["rppg"]["proba"] for s in (0.6, 0.9)]
    assert prior[0] == prior[1]                          # no pulse: the same prior, said as such
    # no pulse: late fusion is the face's and the voice's models, their weights renormalised
    from emojax.models.late_fusion import fuse

    one = predict_video(clip, run, start=0.2, end=0.8, fold=1)["models"]
    w = json.loads((run / "checkpoint" / "fold-1" / "late_fusion.json").read_text())["weights"]
    classes = list(one["late_fusion"]["proba"])
    expect = fuse([[list(one[m]["proba"].values())] for m in ("rppg", "face", "voice")],
                  [w["rppg"], w["face"], w["voice"]], np.array([[False, True, True]]))[0]
    assert list(one["late_fusion"]["proba"].values()) == pytest.approx(expect.tolist(), abs=1e-6), (w, classes)
    assert w["rppg"] == 0 or not np.allclose(expect, fuse([[list(one[m]["proba"].values())] for m in
                                                          ("rppg", "face", "voice")], [w["rppg"], w["face"], w["voice"]]))
    assert main(["predict", str(clip), "--run", str(run), "--start", "0.2", "--end", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "[nothing to read: its training classes' frequencies]" in text and "[landmarks]" in text
    assert re.search(r"a face on only \d frame\(s\) \(0\.2\d s\); a prediction needs at least 8 frames and 0\.5 s",
                     _refusal(capsys, "predict", str(clip), "--run", str(run), "--start", "0.2", "--end", "0.45"))
    assert main(["predict", str(clip), "--run", str(run), "--start", "0.2", "--end", "1.1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["absent"] == ["rppg"]


def test_a_killed_multi_worker_extract_leaves_no_process_behind(tmp_path):
    """`emojax extract --workers 2` on real faces (GRID clips chained to 36 s), killed with
    SIGKILL while its workers extract: its fork server, workers and helpers are gone within
    seconds (a SIGKILL runs no clean-up; each worker watches the process that made it)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    grid = shared("grid")
    frames = [f for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a") for f in read_all(grid / f"{n}.mpg")] * 3
    videos = [str(write_video(tmp_path / f"v{i}.mp4", frames[i:], 25.0)) for i in range(4)]
    proc = subprocess.Popen([sys.executable, "-m", "emojax.cli", "extract", *videos, "--out", str(tmp_path / "store"),
                             "--workers", "2", "--quiet"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    main = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    kids: list = []
    while len(kids) < 3 and time.monotonic() < deadline:      # fork server and two workers (and a tracker)
        kids = main.children(recursive=True)
        time.sleep(0.2)
    assert len(kids) >= 3, kids
    time.sleep(2.0)                                           # the workers are inside their videos now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(kids, timeout=5.0)
    for p in alive:
        p.kill()
    assert not alive, f"still running 5 s after their parent was killed: {[p.pid for p in alive]}"
    assert len(list((tmp_path / "store").glob("*.json"))) < len(videos)   # it was killed mid-way


def test_the_same_content_under_many_names_is_read_and_hashed_once(tmp_path):
    """200 symlinks of one real clip, and a copy: one extraction, every other a cache hit on
    the same record, the file hashed once; in parallel too; and a later run under new names
    reads nothing."""
    import shutil

    from emojax import fileio
    from emojax.data import VideoItem
    from emojax.data.batch import extract_items

    clip = shared("grid") / "bbaf2n.mpg"
    links = tmp_path / "links"
    links.mkdir()
    for k in range(200):
        (links / f"take{k:03d}.mpg").symlink_to(clip)
    shutil.copy(clip, tmp_path / "copy.mpg")
    items = [VideoItem(id=p.stem, path=str(p), label="x") for p in sorted(links.iterdir())]
    items.append(VideoItem(id="copy", path=str(tmp_path / "copy.mpg"), label="x"))
    fileio.forget_hashes()
    summary = extract_items(items, tmp_path / "store", workers=1)
    assert (summary.count("done"), summary.count("cached"), summary.count("failed")) == (1, 200, 0)
    assert len({o.stem for o in summary.outcomes}) == 1 and len(list((tmp_path / "store").glob("*.json"))) == 1
    assert fileio.hashing_stats()["hashed"] == 2                # the clip (through every link) and its copy
    again = extract_items([VideoItem(id=f"new{k}", path=str(links / f"take{k:03d}.mpg"), label="x") for k in range(5)],
                          tmp_path / "store", workers=2)
    assert again.count("cached") == 5
    fresh = extract_items(items[:20] + [VideoItem(id="other", path=str(shared("grid") / "brbk7n.mpg"), label="x")],
                          tmp_path / "store2", workers=2)
    assert (fresh.count("done"), fresh.count("cached")) == (2, 19)


def test_a_read_only_or_full_disk_is_refused_first_in_one_line(tmp_path):
    """A read-only file system and a full one (tmpfs mounts in a private mount namespace):
    extraction and training refuse before reading any video, in one line naming the folder and
    the problem. Skipped where this kernel gives no unprivileged mount namespace."""
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("no unprivileged mount namespace here (unshare -rm), so no read-only or full disk to test on")
    clips = sorted(shared("grid").glob("*.mpg"))[:8]
    data = tmp_path / "data"
    for k, clip in enumerate(clips):
        (data / "ab"[k % 2]).mkdir(parents=True, exist_ok=True)
        (data / "ab"[k % 2] / clip.name).symlink_to(clip)
    ro, full = tmp_path / "ro", tmp_path / "full"
    ro.mkdir()
    full.mkdir()
    cli = f"{sys.executable} -m emojax.cli"
    train = f"{cli} train --dataset folder --root {data} --folds 2 --epochs 1 --quiet --allow-speaker-overlap"
    script = "\n".join([
        f"mount -t tmpfs -o ro tmpfs {ro} && mount -t tmpfs -o size=512k tmpfs {full}",
        f"head -c 500000 /dev/zero > {full}/filler || true",
        f"{cli} extract {clips[0]} --out {ro}/store --quiet; echo rc=$?",
        f"{cli} extract {clips[0]} --out {full}/store --quiet; echo rc=$?",
        f"{train} --out {ro}/run --store {tmp_path}/store; echo rc=$?",
        f"{train} --out {tmp_path}/run --store {full}/store; echo rc=$?",
    ])
    proc = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    codes = [line for line in proc.stdout.splitlines() if line.startswith("rc=")]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert codes == ["rc=2"] * 4 and len(errors) == 4 and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
    assert errors[0] == f"emojax: error: {ro}/store: cannot write the feature store there (the file system is read-only)"
    assert errors[1] == f"emojax: error: {full}/store: cannot write the feature store there (no space left on the disk)"
    assert errors[2] == f"emojax: error: {ro}/run: cannot write the run there (the file system is read-only)"
    assert errors[3] == f"emojax: error: {full}/store: cannot write the feature store there (no space left on the disk)"
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").glob("*.json"))   # nothing was read


def test_small_ones_a_manifest_header_by_other_names_help_for_every_option_and_the_missing_choices(tmp_path, capsys):
    """A CSV header ``file,emotion,speaker`` is a header (not a row naming a video 'file'); every
    option of every command says what it does; --policy nearest (with --near) and heart-rate
    --method mean are offered and work on a real clip."""
    import argparse

    from emojax.cli import build_parser, main
    from emojax.data import load_manifest

    clips = sorted(shared("grid").glob("*.mpg"))[:3]
    (tmp_path / "m.csv").write_text("file,emotion,speaker\n" + "".join(f"{c},hap,s{k}\n" for k, c in enumerate(clips)))
    ds = load_manifest(tmp_path / "m.csv")
    assert [i.path for i in ds.items] == [str(c) for c in clips] and not ds.skipped
    assert {i.label for i in ds.items} == {"hap"} and [i.group for i in ds.items] == ["s0", "s1", "s2"]
    (tmp_path / "bad.csv").write_text("file,feeling\n" + f"{clips[0]},hap\n")
    with pytest.raises(EmojaxError, match=r"bad\.csv:1: header must name path,label"):
        load_manifest(tmp_path / "bad.csv")

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help and action.help != argparse.SUPPRESS, f"emojax {name} {action.dest}: no help text"

    clip = str(clips[0])
    assert main(["heart-rate", clip, "--method", "mean", "--csv", str(tmp_path / "mean.csv")]) == 1
    assert "no rate: method 'mean' is the skin's raw mean colour" in capsys.readouterr().out
    # its per-frame table gives the mean colour a column per channel, every frame of the face filled
    import pandas as pd

    table = pd.read_csv(tmp_path / "mean.csv")
    assert [c for c in table.columns if c.startswith("pulse")] == ["pulse_r", "pulse_g", "pulse_b"]
    seen = table["face_found"] == 1
    assert seen.mean() > 0.9 and table.loc[seen, ["pulse_r", "pulse_g", "pulse_b"]].notna().all().all()
    assert (table.loc[seen, "pulse_g"].between(1, 255)).all() and table["bpm"].isna().all()
    # and its seconds are the frames' seconds (not one per channel)
    assert main(["heart-rate", clip, "--method", "mean", "--json"]) == 1
    import json

    report = json.loads(capsys.readouterr().out)
    assert 2.5 < report["seconds_with_pulse"] <= 3.05
    # a GRID clip lasts 3 s: the face is followed on every frame, and too few seconds give no reliable rate
    assert main(["heart-rate", clip, "--policy", "nearest", "--near", "100,40,260,220", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"face_ratio": 1.0' in out and '"bpm": null' in out and "no reliable pulse: only 3.0 s with a face" in out


def test_a_run_moved_with_its_store_is_read_without_its_dataset(explained_run, tmp_path):
    """A run lists its videos' records and where its feature store is (absolute, and relative to
    the run): moved together with the store, and with its dataset gone, its tested inputs are
    loaded from the moved store, equal to those it was trained on, without reading a dataset."""
    import json
    import shutil

    from emojax.explain.importance import RunData
    from emojax.training.prepare import load_prepared, run_store

    run, _ = explained_run
    info = json.loads((run / "model.json").read_text())
    rel = info["store"]["from_run"]
    moved = tmp_path / "a" / "b" / "c" / "run"
    shutil.copytree(run, moved)
    store = (moved / rel).resolve()
    shutil.copytree(info["store"]["path"], store)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "root": str(tmp_path / "gone")}))
    assert run_store(moved) == store
    before, after = load_prepared(run), load_prepared(moved)
    assert after.ids == before.ids and after.classes == before.classes
    for k in before.arrays:
        assert np.array_equal(before.arrays[k], after.arrays[k]), k
    assert RunData(moved).fold_rows[0].tolist() == RunData(run).fold_rows[0].tolist()


def test_odd_paths_are_refused_as_every_other_file_in_one_line(tmp_path, capsys):
    """A name with a newline is printed escaped (as Python's repr), on one line; a symlink loop
    is named a loop and a dangling link a link to nothing (not "no such file"); a file or a
    folder that cannot be read reads "permission denied", exit 2, naming it (as root, the CLI
    runs without the capability to override file modes); a folder's entries that are no video to
    read are counted in extract's summary, by why."""
    import os
    import shutil
    import subprocess
    import sys

    clip = shared("grid") / "bbaf2n.mpg"
    odd = tmp_path / "two\nlines.mp4"
    odd.write_text("not a video at all\n" * 4)
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    dangling = tmp_path / "gone.mp4"
    dangling.symlink_to(tmp_path / "nothing.mp4")
    not_video = "not a video (its first bytes match no video container); refusing to open it"
    assert _refusal(capsys, "heart-rate", str(odd)) == f"emojax: error: {str(odd)!r}: {not_video}"
    assert _refusal(capsys, "predict", str(odd), "--run", str(tmp_path)) == f"emojax: error: {str(odd)!r}: {not_video}"
    assert _refusal(capsys, "heart-rate", str(loop)) == f"emojax: error: {loop}: symlink loop (a link that leads back to itself)"
    assert _refusal(capsys, "predict", str(dangling), "--run", str(tmp_path)) == \
        f"emojax: error: {dangling}: a symlink to {tmp_path / 'nothing.mp4'}, which does not exist"

    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(clip, folder / "a.mpg")
    shutil.copy(clip, folder / "sub" / "b.mpg")             # the same content: read once
    (folder / "notes.txt").write_text("x")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "._a.mpg").write_bytes(b"\0\5\26\7")          # macOS's resource fork beside a copied clip
    (folder / "loop.mpg").symlink_to(folder / "loop.mpg")
    (folder / "locked").mkdir()
    shutil.copy(clip, folder / "locked" / "c.mpg")
    shutil.copy(clip, folder / "secret.mpg")
    unreadable = tmp_path / "se\ncret.mpg"                   # named on the command line: fails, escaped
    shutil.copy(clip, unreadable)
    closed = (folder / "locked", folder / "secret.mpg", unreadable)
    for p in closed:
        p.chmod(0)
    commands = [["heart-rate", str(unreadable)], ["predict", str(unreadable), "--run", str(tmp_path)],
                ["extract", str(folder), str(unreadable), "--out", str(tmp_path / "store"), "--quiet", "--workers", "1"]]
    script = "from emojax.cli import main\n" + "".join(f"print('rc=%d' % main({c!r}), flush=True)\n" for c in commands)
    no_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if no_override and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a file's mode cannot be made to bind")
    try:
        proc = subprocess.run(no_override + [sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    finally:
        for p in closed:
            p.chmod(0o700)
    codes = [line for line in proc.stdout.splitlines() if line.startswith("rc=")]
    errors = [line for line in proc.stderr.replace("\r", "\n").splitlines()
              if line.strip() and not line.startswith(("extract:", "frames:", "skipped: "))]   # progress bars aside
    assert codes == ["rc=2", "rc=2", "rc=1"] and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
    assert errors == [f"emojax: error: {str(unreadable)!r}: permission denied"] * 2, proc.stderr
    out = proc.stdout
    assert "done 1, already stored 1, failed 1, kept partial 0" in out, out
    assert f"  failed: se\\ncret: {str(unreadable)!r}: permission denied\n" in out, out
    counted = next(line for line in out.splitlines() if line.startswith("skipped "))
    assert counted.startswith("skipped 6 entries: 2 hidden, ") and sorted(counted.split(", ")[1:]) == sorted(
        ["1 not a video type", "1 symlink loop (a link that leads back to itself)", "1 unreadable (permission denied)",
         "1 unreadable folder (permission denied)"]), counted
    listed = [line for line in proc.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(listed) == 6 and f"skipped: {folder / 'locked'}: unreadable folder (permission denied)" in listed, listed


def test_what_emojax_writes_is_an_ordinary_file_for_its_user_and_group(tmp_path):
    """Atomic writes go through a private temp file; the file they leave has the permissions any
    program's new file has (the umask's), not the temp file's 0600: a user's CSV, a run's JSON."""
    import os

    from emojax.fileio import atomic_write_json

    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_json(tmp_path / "out.json", {"a": 1})
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~mask
