"""Face tracking and landmarks on real video, the feature record, the store and its cache."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from emojax.data import FeatureStore, VideoItem, load_cremad
from emojax.errors import FeatureStoreError
from emojax.features import Extractor, ExtractorConfig, Features
from emojax.features.tracker import TRACKING
from emojax.data.batch import extract_items
from emojax.features.face import HaarDetector, HogDetector, largest_dlib_face, make_detector, select_face
from emojax.features.landmarks import REGIONS, box_from_landmarks, procrustes_residual, skin_polygons

from .conftest import dlib_per_frame, shared, write_video

pytestmark = pytest.mark.timeout(300)


def grid_clips():
    return sorted(shared("grid").glob("*.mpg"))


def test_grid_faces_found_and_tracked_landmarks_match_per_frame_dlib(extractor, predictor):
    clips = grid_clips()
    assert len(clips) >= 10
    errors = []
    for clip in clips:
        feats = extractor(clip)
        assert feats.face_ratio >= 0.98, f"{clip.name}: face on {feats.face_ratio:.0%} of frames"
        ref = dlib_per_frame(clip, predictor)
        both = feats.face_found & np.isfinite(ref[:, 0, 0])
        err = np.linalg.norm(feats.landmarks[both] - ref[both], axis=2).mean()
        errors.append(err)
        assert err <= 1.0, f"{clip.name}: tracked landmarks {err:.2f} px from per-frame dlib"
    assert np.mean(errors) < 0.7


def test_dlib_predictor_reproduces_reference_landmarks(predictor):
    root = shared("dlib_faces")
    tree = ET.parse(root / "testing_with_face_landmarks.xml")
    errs = []
    for image in tree.getroot().iter("image"):
        gray = cv2.imread(str(root / image.get("file")), cv2.IMREAD_GRAYSCALE)
        assert gray is not None
        for box in image.iter("box"):
            l, t, w, h = (int(box.get(k)) for k in ("left", "top", "width", "height"))
            ref = np.array([[float(p.get("x")), float(p.get("y"))]
                            for p in sorted(box.iter("part"), key=lambda p: int(p.get("name")))])
            if len(ref) != 68:
                continue
            got = predictor(gray, np.array([l, t, l + w - 1, t + h - 1]))
            errs.append(np.linalg.norm(got - ref, axis=1).mean())
    assert len(errs) >= 10
    assert np.mean(errs) <= 1.0, f"mean error {np.mean(errs):.2f} px over {len(errs)} faces"


def test_cremad_clips_give_faces_and_labels(extractor, predictor):
    ds = load_cremad(shared("cremad"))
    assert sorted(i.label for i in ds.items) == ["ang", "dis", "fea", "hap", "neu", "sad"]
    assert {i.group for i in ds.items} == {"1001"}
    for item in ds.items:
        feats = extractor(item.path)
        assert len(feats) > 50
        assert feats.face_ratio >= 0.95, f"{item.id}: face on {feats.face_ratio:.0%} of frames"
        assert np.isfinite(feats.rgb[feats.face_found]).all()
        lm = feats.landmarks[feats.face_found]
        assert (lm[..., 0] > 0).all() and (lm[..., 0] < 480).all() and (lm[..., 1] < 360).all()
        ref = dlib_per_frame(item.path, predictor)
        both = feats.face_found & np.isfinite(ref[:, 0, 0])
        err = np.linalg.norm(feats.landmarks[both] - ref[both], axis=2).mean()
        assert err <= 1.0, f"{item.id}: tracked landmarks {err:.2f} px from per-frame dlib"


def test_hog_detector_and_both_rois_work_on_real_video(predictor):
    clip = grid_clips()[0]
    for cfg in (ExtractorConfig(detector="hog"), ExtractorConfig(roi="box"), ExtractorConfig(roi="frame")):
        feats = Extractor(cfg, predictor=predictor)(clip)
        assert feats.face_ratio >= 0.98 and np.isfinite(feats.rgb).all()
        assert feats.config["detector"] == cfg.detector and feats.config["roi"] == cfg.roi
    box_rgb = Extractor(ExtractorConfig(roi="box"), predictor=predictor)(clip).rgb
    skin_rgb = Extractor(ExtractorConfig(roi="skin"), predictor=predictor)(clip).rgb
    assert not np.allclose(box_rgb, skin_rgb)  # different regions, different colour


def test_paper_extractor_reads_the_haar_box_of_every_frame(predictor):
    """The paper's extractor: on every frame the Haar cascade's own box (unsmoothed), its mean
    colour, and dlib's landmarks predicted in that very box."""
    from emojax.features import PAPER_EXTRACTOR
    from emojax.video import FrameReader

    clip = grid_clips()[0]
    feats = Extractor(PAPER_EXTRACTOR, predictor=predictor)(clip)
    assert feats.face_ratio >= 0.98 and (feats.state[feats.face_found] == 2).all()
    haar = HaarDetector(scale=1.0)
    for i, frame in enumerate(FrameReader(clip)):
        if not feats.face_found[i]:
            continue
        gray = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY)
        boxes, _ = haar(gray)  # the extractor searches near the last box: the same face, found at that grid
        side = feats.box[i, 2] - feats.box[i, 0]
        assert np.abs(boxes - feats.box[i]).max(axis=1).min() <= 0.05 * side, f"frame {i}: not the Haar box"
        x0, y0, x1, y1 = (int(round(v)) for v in feats.box[i])
        b, g, r, _ = cv2.mean(frame.bgr[y0:y1, x0:x1])
        assert np.allclose(feats.rgb[i], [r, g, b])
        assert np.allclose(feats.landmarks[i], predictor(gray, feats.box[i]))
    assert np.abs(np.diff(feats.box[:, 0])).max() >= 1.0  # the raw boxes jitter: nothing smoothed them


def test_no_face_video_is_an_explicit_all_missing_record(tmp_path, extractor):
    yy, xx = np.mgrid[0:240, 0:320]
    frames = [np.dstack([(xx + i) % 256, yy % 256, np.full_like(xx, 90)]).astype(np.uint8) for i in range(40)]
    path = write_video(tmp_path / "noface.avi", frames, 20.0, "MJPG")
    feats = extractor(path)
    assert len(feats) == 40 and not feats.face_found.any()
    assert np.isnan(feats.rgb).all() and np.isnan(feats.landmarks).all() and np.isnan(feats.box).all()
    assert (feats.confidence == 0).all()


def test_one_frame_face_video(tmp_path, extractor):
    from emojax.video import FrameReader

    first = next(iter(FrameReader(grid_clips()[0])))
    path = write_video(tmp_path / "one.avi", [first.bgr], 25.0, "MJPG")
    feats = extractor(path)
    assert len(feats) == 1 and feats.face_found[0] and feats.landmarks.shape == (1, 68, 2)


def test_face_policies_pick_the_right_face():
    boxes = np.array([[10, 10, 50, 50], [200, 20, 300, 120], [400, 10, 440, 50]], float)
    assert select_face(boxes, "largest") == 1
    assert select_face(boxes, "left") == 0
    assert select_face(boxes, "right") == 2
    assert select_face(boxes, "nearest", near=(390, 0, 430, 40)) == 2
    with pytest.raises(ValueError, match="largest"):
        select_face(boxes, "biggest")
    with pytest.raises(ValueError, match="haar"):
        make_detector("cnn")
    with pytest.raises(ValueError, match="unknown ROI"):
        ExtractorConfig(roi="cheek")
    with pytest.raises(ValueError, match=r"unknown tracking 'follow'; choose one of \['track', 'detect'\]"):
        ExtractorConfig(tracking="follow")
    assert list(TRACKING) == ["track", "detect"]


def test_largest_dlib_face_is_the_biggest_of_hog_finds():
    root = shared("dlib_faces")
    gray = cv2.imread(str(root / "2008_002470.jpg"), cv2.IMREAD_GRAYSCALE)
    boxes, _ = HogDetector(upsample=1)(gray)
    assert len(boxes) >= 2
    big = boxes[select_face(boxes, "largest")]
    assert np.abs(largest_dlib_face(gray, upsamples=(1,)) - big).max() <= 1
    # upsampling is tried in turn: 1 only when 0 found nothing
    at0, at1 = largest_dlib_face(gray, upsamples=(0,)), largest_dlib_face(gray, upsamples=(1,))
    assert np.array_equal(largest_dlib_face(gray, upsamples=(0, 1)), at1 if at0 is None else at0)
    assert largest_dlib_face(np.full((240, 320), 128, np.uint8), upsamples=(0, 1)) is None


def test_hog_and_haar_find_the_reference_faces():
    root = shared("dlib_faces")
    gray = cv2.imread(str(root / "2008_002470.jpg"), cv2.IMREAD_GRAYSCALE)
    for det in (HaarDetector(min_size=20), HogDetector(upsample=1)):
        boxes, scores = det(gray)
        assert len(boxes) >= 1 and len(scores) == len(boxes)
        # the reference face at left=274 top=181 size 52 is among the detections
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        assert np.min(np.hypot(cx - 300, cy - 207)) < 15


def test_landmark_helpers():
    rng = np.random.default_rng(0)
    pts = rng.uniform(100, 200, (68, 2))
    theta = 0.3
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    assert procrustes_residual(pts @ rot.T * 1.7 + 5, pts) < 1e-9
    assert procrustes_residual(rng.uniform(100, 200, (68, 2)), pts) > 0.3
    # the residual's closed form equals the one from an SVD, reflections and near-shapes included
    for other in (rng.uniform(100, 200, (68, 2)), pts * (-1, 1), pts + rng.normal(0, 2, pts.shape)):
        a, b = other - other.mean(0), pts - pts.mean(0)
        sv = np.linalg.svd((a / np.linalg.norm(a)).T @ (b / np.linalg.norm(b)), compute_uv=False)
        assert procrustes_residual(other, pts) == pytest.approx(np.sqrt(max(0.0, 2 - 2 * sv.sum())), abs=1e-12)
    box = box_from_landmarks(pts)
    assert box[2] > box[0] and box[3] > box[1]
    assert sorted(i for r in REGIONS.values() for i in r) == list(range(68))
    assert all(p.shape[1] == 2 for p in skin_polygons(pts))


def test_record_round_trip_and_corrupt_record(tmp_path, extractor):
    feats = extractor(grid_clips()[0], start=0.5, end=1.5)
    assert len(feats) == 25 and feats.times[0] == pytest.approx(0.52)
    feats.save(tmp_path / "rec")
    back = Features.load(tmp_path / "rec")
    for k in Features.ARRAYS:
        assert np.array_equal(getattr(back, k), getattr(feats, k), equal_nan=True)
    assert back.source["sha256"] == feats.source["sha256"] and back.config == feats.config
    (tmp_path / "rec.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FeatureStoreError, match="rec"):
        Features.load(tmp_path / "rec")


def test_second_extraction_is_a_cache_hit_even_under_another_name(tmp_path):
    clip = grid_clips()[1]
    copy = tmp_path / "renamed.mpg"
    shutil.copy(clip, copy)
    store = tmp_path / "store"
    first = extract_items([VideoItem("a", str(clip), None)], store, workers=1)
    assert first.count("done") == 1
    npz = sorted(store.glob("*.npz"))
    mtime = npz[0].stat().st_mtime_ns
    again = extract_items([VideoItem("a", str(clip), None), VideoItem("b", str(copy), None)], store, workers=1)
    assert again.count("cached") == 2 and again.count("done") == 0          # the copy is the same content
    assert npz[0].stat().st_mtime_ns == mtime and sorted(store.glob("*.npz")) == npz
    fs = FeatureStore(store)
    cfg = ExtractorConfig()
    assert fs.key(clip, cfg) == fs.key(copy, cfg)
    assert fs.key(clip, cfg) != fs.key(clip, ExtractorConfig(roi="box"))
    assert fs.key(clip, cfg) != fs.key(clip, cfg, start=1.0, end=2.0)
