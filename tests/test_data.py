"""Dataset loaders: the IEMOCAP format (fixture + a generated stand-in dialog video), CREMA-D,
RAVDESS, folders and CSV manifests, and their errors."""

from __future__ import annotations

import math
import shutil

import cv2
import numpy as np
import pytest

from emojax.data import load_cremad, load_dataset, load_folder, load_iemocap, load_manifest, load_ravdess
from emojax.data.iemocap import parse_emo_evaluation
from emojax.errors import DatasetError
from emojax.features import Extractor, ExtractorConfig
from emojax.data.batch import extract_items
from emojax.data.worker import item_config
from emojax.video import FrameReader

from .conftest import shared, write_video

FIXTURE_EXPECTED = [  # (id, start, end, code, speaker) exactly as the fixture holds them
    ("Ses01F_impro01_F000", 1.5, 3.25, "neu", "F"),
    ("Ses01F_impro01_M000", 3.9, 6.12, "fru", "M"),
    ("Ses01F_impro01_F001", 6.5, 8.0, "xxx", "F"),
    ("Ses01F_impro01_M001", 8.4, 10.75, "ang", "M"),
    ("Ses01F_impro01_F002", 11.0, 12.9, "exc", "F"),
]


def iemocap_fixture(tmp_path):
    src = shared("iemocap_format") / "fixture" / "IEMOCAP_full_release"
    dst = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(src, dst)
    return dst


def test_emo_evaluation_parses_exactly():
    path = shared("iemocap_format") / "fixture/IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    utts = parse_emo_evaluation(path)
    assert [(u["id"], u["start"], u["end"], u["code"], u["speaker"]) for u in utts] == FIXTURE_EXPECTED
    assert utts[1]["vad"] == [2.0, 3.5, 3.5]
    assert all(u["dialog"] == "Ses01F_impro01" for u in utts)


def test_iemocap_items_classes_and_groups(tmp_path):
    root = iemocap_fixture(tmp_path)
    ds = load_iemocap(root, require_video=False)
    assert [(i.id, i.start, i.end, i.label) for i in ds.items] == [
        (u, s, e, c) for u, s, e, c, _ in FIXTURE_EXPECTED if c != "xxx"]
    assert [i.group for i in ds.items] == ["Ses01_F", "Ses01_M", "Ses01_M", "Ses01_F"]
    assert {i.session for i in ds.items} == {"Session1"}
    assert [i.region for i in ds.items] == ["left", "right", "right", "left"]
    assert ds.classes == ["neu", "hap", "sad", "ang", "exc", "fru", "fea", "sur", "dis", "oth"]
    four = load_iemocap(root, classes="four", require_video=False, sides={"Session1": {"F": "right", "M": "left"}})
    assert [(i.id, i.label, i.region) for i in four.items] == [
        ("Ses01F_impro01_F000", "neu", "right"), ("Ses01F_impro01_M001", "ang", "left"),
        ("Ses01F_impro01_F002", "hap", "right")]


def test_iemocap_missing_video_is_a_reported_skip(tmp_path):
    ds = load_iemocap(iemocap_fixture(tmp_path))
    assert ds.items == [] and len(ds.skipped) == 1
    assert "Ses01F_impro01.avi" in ds.skipped[0][0] and "missing" in ds.skipped[0][1]


def test_iemocap_malformed_line_names_file_and_line(tmp_path):
    root = iemocap_fixture(tmp_path)
    ev = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    lines = ev.read_text().splitlines()
    lines[9] = "[3.9000 - oops]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.5000]"
    ev.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"Ses01F_impro01\.txt:10: malformed"):
        load_iemocap(root, require_video=False)
    with pytest.raises(DatasetError, match="Session1..5"):
        load_iemocap(tmp_path / "nowhere")


def _stand_in_dialog(path, seconds: float = 13.5, fps: float = 29.97):
    """720x480 dialog video: a GRID speaker in each half, frame index in a block strip below."""
    grid = sorted(shared("grid").glob("*.mpg"))
    left = [f.bgr for f in FrameReader(grid[0])]
    right = [cv2.flip(f.bgr, 1) for f in FrameReader(grid[3])]
    frames = []
    for i in range(int(seconds * fps)):
        f = np.full((480, 720, 3), 40, np.uint8)
        f[40:328, 0:360] = left[i % len(left)]
        f[40:328, 360:720] = right[i % len(right)]
        for bit in range(10):
            f[400:470, bit * 36:(bit + 1) * 36] = 255 if (i >> bit) & 1 else 0
        frames.append(f)
    return write_video(path, frames, fps, "XVID")


def _index(bgr) -> int:
    return sum(1 << b for b in range(10) if bgr[415:455, b * 36 + 8:(b + 1) * 36 - 8].mean() > 128)


@pytest.mark.timeout(300)
def test_iemocap_utterances_are_cut_from_the_dialog_video_at_their_times(tmp_path, predictor):
    root = iemocap_fixture(tmp_path)
    video = _stand_in_dialog(root / "Session1/dialog/avi/DivX/Ses01F_impro01.avi")
    ds = load_iemocap(root)
    assert len(ds.items) == 4 and not ds.skipped
    fps = FrameReader(video).fps
    for item in ds.items:
        got = [_index(f.bgr) for f in FrameReader(item.path, start=item.start, end=item.end)]
        assert got == list(range(math.ceil(item.start * fps - 1e-6), math.ceil(item.end * fps - 1e-6)))
    summary = extract_items(ds.items, tmp_path / "store", ExtractorConfig(), workers=1)
    assert summary.count("done") == 4
    for item, outcome in zip(ds.items, summary.outcomes):
        from emojax.features import Features

        feats = Features.load(outcome.stem)
        assert feats.face_ratio >= 0.95
        assert feats.times[0] >= item.start and feats.times[-1] < item.end
        assert feats.config["region"] == item.region
        xs = feats.landmarks[feats.face_found][..., 0]
        assert (xs < 360).all() if item.region == "left" else (xs >= 360).all()
    # the same cut of the whole frame with the "right" policy finds the same face
    m000 = ds.items[1]
    whole = Extractor(ExtractorConfig(policy="right"), predictor=predictor)(m000.path, start=m000.start, end=m000.end)
    half = Features.load(summary.outcomes[1].stem)
    assert np.nanmean(np.abs(whole.landmarks - half.landmarks)) < 1.0
    assert item_config(m000, ExtractorConfig()).region == "right"


@pytest.mark.timeout(300)
def test_a_dialogs_utterances_are_read_in_one_pass_with_the_records_of_a_pass_each(tmp_path, monkeypatch):
    """Overlapping utterances of both speakers out of one 40 s dialog of real faces (and one cut
    past its end, and a resampled setting): read in one decoding pass they give exactly the
    records a pass per cut gives (the one running past the end kept, as the video's length
    allows, the one after the end failed, naming the file), and the dialog's frames are decoded
    once, not once per cut."""
    from emojax.data import VideoItem
    from emojax.features import Features
    from emojax.video import FrameReader as Reader

    video = _stand_in_dialog(tmp_path / "dialog.avi", seconds=40.0)
    rng = np.random.default_rng(5)
    items = []
    for k in range(24):
        start = float(np.round(rng.uniform(0.0, 36.0), 4))
        items.append(VideoItem(id=f"u{k:02d}", path=str(video), label="neu", start=start,
                               end=float(np.round(start + rng.uniform(0.8, 4.0), 4)), region="left" if k % 2 else "right"))
    items.append(VideoItem(id="over_end", path=str(video), label="neu", start=38.5, end=45.0, region="left"))
    items.append(VideoItem(id="past_end", path=str(video), label="neu", start=41.0, end=43.0, region="right"))
    decoded = []
    timed = Reader._timed

    def counting(self, *args):
        for got in timed(self, *args):
            decoded.append(got[0])
            yield got

    monkeypatch.setattr(Reader, "_timed", counting)
    for config in (ExtractorConfig(), ExtractorConfig(fps=10.0)):
        decoded.clear()
        one = extract_items(items, tmp_path / f"one{config.fps}", config, workers=1)
        one_pass = len(decoded)
        monkeypatch.setattr("emojax.data.batch.PASS_SECONDS", 0.0)     # every cut in a pass of its own
        decoded.clear()
        each = extract_items(items, tmp_path / f"each{config.fps}", config, workers=1)
        monkeypatch.setattr("emojax.data.batch.PASS_SECONDS", 60.0)
        assert one_pass <= Reader(video).info.frame_count_claimed < len(decoded)
        assert one.count("done") == each.count("done") == len(items) - 1
        assert [(o.item.id, o.error) for o in one.failed] == [(o.item.id, o.error) for o in each.failed]
        assert [o.item.id for o in one.failed] == ["past_end"] and "no frame could be decoded" in one.failed[0].error
        for a, b in zip(one.outcomes, each.outcomes):
            if not a.stem:
                continue
            fa, fb = Features.load(a.stem), Features.load(b.stem)
            assert len(fa) > 0 and fa.source == fb.source and fa.fps == fb.fps
            for name in fa.ARRAYS:
                assert np.array_equal(getattr(fa, name), getattr(fb, name), equal_nan=True), (a.item.id, name)


def test_cuts_are_grouped_into_small_passes():
    """Cuts of one file share a pass per minute, at most 64 at a time; a whole video, a cut longer
    than a minute and another file's cuts each go on their own."""
    from emojax.data import VideoItem
    from emojax.data.batch import PASS_CUTS, pass_groups

    def cut(i, path, start, end):
        return i, VideoItem(id=f"c{i}", path=path, label="x", start=start, end=end)

    todo = [(0, VideoItem(id="whole", path="a.avi", label="x")), cut(1, "a.avi", 0.0, 300.0)]
    todo += [cut(2 + k, "a.avi", k * 0.5, k * 0.5 + 3.0) for k in range(70)]      # 70 cuts in 35 s
    todo += [cut(100, "a.avi", 61.0, 64.0), cut(101, "b.avi", 1.0, 2.0)]
    groups = pass_groups(todo)
    assert [0] in groups and [1] in groups and [101] in groups
    cuts = [g for g in groups if g[0] >= 2 and g != [101]]
    assert [len(g) for g in cuts] == [PASS_CUTS, 70 - PASS_CUTS + 1]   # the 65th cut starts a pass, which 61 s joins
    assert sorted(i for g in groups for i in g) == sorted(i for i, _ in todo)


def test_cremad_names():
    ds = load_cremad(shared("cremad"))
    assert {(i.id, i.label) for i in ds.items} >= {("1001_DFA_ANG_XX", "ang"), ("1001_DFA_NEU_XX", "neu")}
    assert ds.counts() == {"neu": 1, "hap": 1, "sad": 1, "ang": 1, "fea": 1, "dis": 1}


def test_ravdess_names_actors_and_modalities(tmp_path):
    names = ["01-01-03-02-01-01-12.mp4", "02-01-05-01-02-02-07.mp4", "03-01-04-01-01-01-12.mp4",
             "01-02-01-01-01-01-03.mp4", "01-01-09-01-01-01-03.mp4", "notes.mp4"]
    for n in names:
        (tmp_path / "Actor_12").mkdir(exist_ok=True)
        (tmp_path / "Actor_12" / n).write_bytes(b"\x00")
    ds = load_ravdess(tmp_path)
    assert [(i.id, i.label, i.group) for i in ds.items] == [
        ("01-01-03-02-01-01-12", "hap", "actor12"), ("01-02-01-01-01-01-03", "neu", "actor03"),
        ("02-01-05-01-02-02-07", "ang", "actor07")]
    assert len(ds.skipped) == 2  # unknown emotion 09, and a name off the pattern
    assert [i.id for i in load_ravdess(tmp_path, speech_only=True).items] == [
        "01-01-03-02-01-01-12", "02-01-05-01-02-02-07"]


def test_manifest_and_folder(tmp_path):
    clip = shared("cremad") / "1001_DFA_HAP_XX.flv"
    (tmp_path / "happy").mkdir()
    shutil.copy(clip, tmp_path / "happy" / "a.flv")
    (tmp_path / "sad").mkdir()
    shutil.copy(clip, tmp_path / "sad" / "b.flv")
    ds = load_folder(tmp_path)
    assert [(i.id, i.label) for i in ds.items] == [("happy/a", "happy"), ("sad/b", "sad")]
    man = tmp_path / "m.csv"
    man.write_text("path,label,group,start,end\nhappy/a.flv,happy,p1,0.5,1.5\nsad/b.flv,sad,p2,,\n"
                   "missing.flv,sad,p2,,\n")
    ds = load_manifest(man)
    assert [(i.label, i.group, i.start, i.end) for i in ds.items] == [("happy", "p1", 0.5, 1.5), ("sad", "p2", None, None)]
    assert ds.skipped and "missing.flv" in ds.skipped[0][0]
    assert load_dataset("csv", man).classes == ["happy", "sad"]


@pytest.mark.parametrize("body,line,what", [
    ("path,label\nhappy/a.flv\n", 2, "columns"),
    ("path,label,start,end\nhappy/a.flv,happy,2,1\n", 2, "not after"),
    ("path,label,start\nhappy/a.flv,happy,abc\n", 2, "not a number"),
    ("path,lable\nhappy/a.flv,happy\n", 1, "header"),
])
def test_manifest_errors_name_file_and_line(tmp_path, body, line, what):
    man = tmp_path / "bad.csv"
    man.write_text(body)
    with pytest.raises(DatasetError, match=rf"bad\.csv:{line}: .*{what}"):
        load_manifest(man)


def test_unknown_dataset_kind():
    with pytest.raises(ValueError, match="iemocap"):
        load_dataset("affectnet", ".")
