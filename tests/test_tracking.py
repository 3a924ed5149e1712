"""Track loss on real footage: a face that leaves (a cut to a scene without one), a face that
appears, a cut to another face, and a detector that stops confirming. Clips are spliced in the
test from real talking heads (GRID, CREMA-D) and real face-less footage (scikit-image's
photographs panned, a real skin video scaled up)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from emojax.features.tracker import FaceTracker

from .conftest import read_all, shared, write_video

pytestmark = pytest.mark.timeout(300)


def panned(rgb: np.ndarray, n: int, size: tuple[int, int], speed: float = 2.0) -> list[np.ndarray]:
    """``n`` frames of a camera panning across a photograph (BGR, ``size`` = (w, h))."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    w, h = size
    s = max(w / img.shape[1], h / img.shape[0]) * 1.3
    img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    y = (img.shape[0] - h) // 2
    return [np.ascontiguousarray(img[y:y + h, int(min(i * speed, img.shape[1] - w)):][:, :w]) for i in range(n)]


def skin(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A real skin close-up (no face), scaled to ``size``: skin colour and texture everywhere."""
    frames = read_all(shared("rppg_skin") / "India__video14_leftcheek.avi")[:n]
    return [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]


def faceless(kind: str, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    return {"rocket": lambda: panned(skdata.rocket(), n, size), "coffee": lambda: panned(skdata.coffee(), n, size),
            "skin": lambda: skin(n, size)}[kind]()


def _check_cut(feats, cut_s: float, face_first: bool, name: str) -> None:
    t = feats.times
    face_part = t < cut_s if face_first else t >= cut_s + 0.5
    none_part = t >= cut_s + 0.5 if face_first else t < cut_s
    assert feats.face_found[face_part].mean() >= 0.98, f"{name}: face on {feats.face_found[face_part].mean():.0%}"
    assert not feats.face_found[none_part].any(), (
        f"{name}: a face 'found' {(t[none_part][feats.face_found[none_part]] - cut_s).round(2)} s after the cut")
    assert np.isnan(feats.rgb[~feats.face_found]).all() and np.isnan(feats.landmarks[~feats.face_found]).all()
    assert (feats.confidence[~feats.face_found] == 0).all()


@pytest.mark.parametrize("face,scene", [("grid/bbaf2n.mpg", "rocket"), ("grid/lbax4n.mpg", "skin"),
                                        ("cremad/1001_DFA_HAP_XX.flv", "coffee")])
def test_a_face_that_leaves_is_missing_within_half_a_second_and_one_that_comes_is_found(tmp_path, extractor,
                                                                                        face, scene):
    sub, name = face.split("/")
    talking = read_all(shared(sub) / name)
    fps = 25.0
    h, w = talking[0].shape[:2]
    other = faceless(scene, 100, (w, h))
    cut_s = len(talking) / fps
    out = extractor(write_video(tmp_path / "out.avi", talking + other, fps, "MJPG"))
    _check_cut(out, cut_s, True, f"{name} then {scene}")
    counts = out.counts()
    assert counts["missing"] >= 100 and counts["confirmed"] >= len(talking) // 10
    assert sum(counts.values()) == len(out)
    cut_s = len(other) / fps
    back = extractor(write_video(tmp_path / "in.avi", other + talking, fps, "MJPG"))
    _check_cut(back, cut_s, False, f"{scene} then {name}")


def test_a_cut_to_another_face_starts_a_new_track(tmp_path, extractor):
    """Two speakers against the same blue background, one after the other: the cut is seen,
    and the second face's points are its own from the first frame (nothing carried over)."""
    a, b = read_all(shared("grid") / "bbaf2n.mpg"), read_all(shared("grid") / "swiz3n.mpg")
    feats = extractor(write_video(tmp_path / "ab.avi", a + b, 25.0, "MJPG"))
    assert feats.face_ratio >= 0.98 and feats.source["cuts"] == [len(a)]
    after = feats.box[len(a):len(a) + 3]  # no smoothing across the cut: the new face's box at once
    ref = extractor(write_video(tmp_path / "b.avi", b, 25.0, "MJPG")).box[:3]
    assert np.abs(after - ref).max() < 2.0


class _GoesBlind:
    """The real Haar detector, which stops seeing anything after its ``n``-th call (as a face
    that turns into profile does): evidence must then run out."""

    def __init__(self, detector, n: int):
        self.detector, self.n, self.calls = detector, n, 0
        self.confirm_side = detector.confirm_side

    def _count(self) -> bool:
        self.calls += 1
        return self.calls > self.n

    def __call__(self, gray):
        return (np.zeros((0, 4)), np.zeros(0)) if self._count() else self.detector(gray)

    def find(self, gray, **kw):
        return (np.zeros((0, 4)), np.zeros(0)) if self._count() else self.detector.find(gray, **kw)


def test_frames_the_detector_never_vouched_for_are_withdrawn(predictor, extractor):
    """When the re-checks keep failing while the face still looks the same, the track ends and
    every frame since its last confirmation is withdrawn, not only the later ones."""
    frames = read_all(shared("grid") / "bbaf2n.mpg")
    cfg = extractor.config
    tracker = FaceTracker(cfg, _GoesBlind(extractor.detector, 3), predictor)
    steps = [tracker(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)) for f in frames]
    states = [s.state for s in steps]
    last_ok = max(i for i, s in enumerate(states) if s == 2)
    withdrawn = [i for i, s in enumerate(steps) if s.retract]
    assert len(withdrawn) == 1
    i = withdrawn[0]
    assert steps[i].retract == i - last_ok - 1 and i - last_ok == cfg.detect_every * cfg.max_misses
    assert all(s.points is None for s in steps[i:])


class _Blindfold:
    """The real Haar detector, blind while ``blind`` is set (a face turned away from it)."""

    def __init__(self, detector):
        self.detector, self.blind = detector, False
        self.confirm_side = detector.confirm_side

    def __call__(self, gray):
        return (np.zeros((0, 4)), np.zeros(0)) if self.blind else self.detector(gray)

    def find(self, gray, **kw):
        return (np.zeros((0, 4)), np.zeros(0)) if self.blind else self.detector.find(gray, **kw)


@pytest.mark.parametrize("ending", ["appearance", "cut"])
def test_a_track_that_ends_after_a_failed_recheck_withdraws_what_was_never_vouched_for(predictor, extractor, ending):
    """The detector confirms the face on its first two frames, then stops seeing it; the periodic
    re-check fails once (the track goes on: one miss is allowed), and before the next one the
    track ends otherwise — the face covered (its look changes) or a cut to another speaker. Every
    frame since the last confirmation is withdrawn on that exit too, not only on repeated misses."""
    frames = read_all(shared("grid") / "bbaf2n.mpg")[:30]
    end = 15
    if ending == "appearance":
        for f in frames[end:]:
            f[60:220, 110:250] = 128             # a flat grey card over the face
    else:
        frames[end:] = read_all(shared("grid") / "swiz3n.mpg")[:30 - end]
    det = _Blindfold(extractor.detector)
    tracker = FaceTracker(extractor.config, det, predictor)
    steps = []
    for i, f in enumerate(frames):
        det.blind = i >= 2
        steps.append(tracker(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)))
    assert [s.state for s in steps[:2]] == [2, 2] and all(s.state == 1 for s in steps[2:end])   # 11: a failed re-check
    assert extractor.config.detect_every < end - 1 < extractor.config.detect_every * extractor.config.max_misses
    assert steps[end].cut == (ending == "cut") and steps[end].points is None
    assert steps[end].retract == end - 2, f"withdrawn {steps[end].retract} of the {end - 2} unvouched frames"
    assert not any(s.retract for s in steps[:end])
