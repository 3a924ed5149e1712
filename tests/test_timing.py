"""Frame timing by the presentation times: repeated and backward times dropped and counted, a
header rate the times contradict replaced, grid points marked when they are not frames, and
nothing drawn between the two sides of a cut. Records are built here from known rows, so that
every value on the grid can be checked against the frames it may (or may not) come from."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.features.record import Features
from emojax.features.timing import regular


def record(times, fps: float, cuts=(), face=None) -> Features:
    """A record whose every value is its frame's index (so a blend of two frames shows)."""
    t = np.asarray(times, float)
    n = len(t)
    idx = np.arange(n, dtype=float)
    face = np.ones(n, bool) if face is None else np.asarray(face, bool)
    rgb = np.repeat(idx[:, None], 3, axis=1)
    lm = np.repeat(idx[:, None, None], 68, axis=1).repeat(2, axis=2).astype(np.float32)
    rgb[~face], lm[~face] = np.nan, np.nan
    return Features(rgb=rgb, landmarks=lm, box=np.where(face[:, None], np.repeat(idx[:, None], 4, axis=1), np.nan),
                    state=np.where(face, 2, 0).astype(np.uint8), confidence=face.astype(np.float32), times=t,
                    fps=fps, patches=np.repeat(rgb[:, None, :], 6, axis=1).astype(np.float32),
                    source={"cuts": list(cuts)}, config={"roi": "skin"})


def test_a_header_rate_the_times_contradict_loses_to_them():
    steady = regular(record(np.arange(100) / 25.0, 30.0))
    assert steady.fps == pytest.approx(25.0) and steady.source["timing"]["fps_from_times"] == pytest.approx(25.0)
    assert not steady.source["timing"]["variable"] and not steady.interpolated.any()
    # 29.97 fps in a millisecond time base (33 and 34 ms intervals): the header agrees, and is kept
    ntsc = regular(record(np.round(np.arange(300) * 1001 / 30000, 3), 30000 / 1001))
    assert ntsc.fps == pytest.approx(30000 / 1001) and "fps_from_times" not in ntsc.source["timing"]
    # within 1 % the header stands; beyond, it does not
    assert regular(record(np.arange(100) / 25.0, 25.2)).fps == 25.2
    assert regular(record(np.arange(100) / 25.0, 25.3)).fps == pytest.approx(25.0)


def test_repeated_and_backward_times_are_dropped_counted_and_a_cut_on_them_moves_on():
    t = list(np.arange(50) / 25.0)
    t[10] = t[9]                    # repeated
    t[20] = t[19] - 0.01            # backward
    t[30] = t[28]                   # backward by a whole frame
    f = regular(record(t, 25.0, cuts=[20, 40]))
    info = f.source["timing"]
    assert info["timestamps_dropped"] == {"duplicate": 1, "backward": 2}
    # what is left is steady at 25 fps with holes of one frame: on a grid again, each hole interpolated
    # but the one before the cut, which moved from its dropped row to the next frame (at 0.84 s)
    assert info["variable"] and f.fps == pytest.approx(25.0) and len(f) == 50
    assert f.source["cuts"] == [21, 40]
    assert np.flatnonzero(f.interpolated).tolist() == [10, 30] and not f.face_found[20]
    kept = [i for i in range(50) if i not in (10, 20, 30)]
    assert np.array_equal(f.rgb[kept, 0], np.array(kept, float)), "a frame's point holds that frame, unchanged"


def test_grid_points_are_marked_and_nothing_is_drawn_across_a_cut():
    # 10 fps with frame 5 dropped, and a cut at the frame after it: the point at 0.5 s lies between
    # the two shots and stays missing; frame 12, dropped inside the second shot, is interpolated from
    # its neighbours and marked
    times = [i / 10 for i in range(20) if i not in (5, 12)]
    f = regular(record(times, 10.0, cuts=[5]))        # row 5 is the frame at 0.6 s: the new shot
    assert len(f) == 20 and f.source["cuts"] == [6]
    assert not f.face_found[5] and np.isnan(f.rgb[5]).all() and np.isnan(f.landmarks[5]).all()
    assert np.flatnonzero(f.interpolated).tolist() == [12]
    assert f.rgb[12, 0] == pytest.approx(0.5 * (f.rgb[11, 0] + f.rgb[13, 0]))
    assert f.source["timing"]["missing_in_gaps"] == 1 and f.source["timing"]["interpolated"] == 1
    # without the cut the same short hole is bridged, and marked
    g = regular(record(times, 10.0))
    assert g.face_found[5] and np.flatnonzero(g.interpolated).tolist() == [5, 12]
    assert g.rgb[5, 0] == pytest.approx(0.5 * (g.rgb[4, 0] + g.rgb[6, 0]))


def test_a_face_on_one_side_only_gives_no_face_between():
    times = [i / 10 for i in range(20) if i != 8]
    face = np.ones(19, bool)
    face[8] = False                                   # the frame after the dropped one has no face
    f = regular(record(times, 10.0, face=face))
    assert not f.face_found[8] and not f.interpolated[8] and not f.face_found[9]
