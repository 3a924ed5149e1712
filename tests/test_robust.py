"""Bad input, faults and several users: each case refuses clearly or keeps working, on real media."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.errors import VideoError

from .conftest import lie_about_length, read_all, shared, write_lossless, write_video


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


def test_a_variable_frame_rate_is_timed_by_presentation_times_and_resampled(tmp_path, extractor):
    """Real faces (four GRID clips chained, 12 s) with a 108.75 bpm pulse planted, written at
    25 fps for the first half and 12.5 fps for the second, each frame at its true time. Timed
    by frame index, the second half's pulse runs twice as fast; timed by presentation time and
    put on a uniform grid, the rate comes out right, and the record says what was done."""
    from emojax.data.planted import chained, face_points, plant_pulse
    from emojax.features import vitals

    g = shared("grid")
    frames, fps = chained([g / f"{n}.mpg" for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a")])
    planted, truth = plant_pulse(frames, fps, 108.75, 0.01, points=face_points(frames, extractor.predictor), seed=3)
    half = len(planted) // 2
    keep = list(range(half)) + list(range(half, len(planted), 2))
    video = write_lossless(tmp_path / "vfr.mkv", [planted[i] for i in keep], fps, times=[i / fps for i in keep])

    f = extractor(video)                     # whole: its span is the duration it claims
    timing = f.source["timing"]
    assert timing["variable"] and timing["frames_decoded"] == len(keep)
    assert timing["min_fps"] == pytest.approx(fps / 2, rel=0.02) and timing["max_fps"] == pytest.approx(fps, rel=0.02)
    assert f.fps == pytest.approx(fps) and timing["resampled_fps"] == pytest.approx(fps)
    assert np.allclose(np.diff(f.times), 1 / fps) and f.times[-1] == pytest.approx(keep[-1] / fps, abs=1e-3)
    assert len(f) == keep[-1] + 1 and timing["missing_in_gaps"] == 0 and f.face_ratio > 0.95
    r = vitals.report(f, with_hrv=False)
    assert r["reliable"] and abs(r["bpm"] - truth.bpm) <= 3, r
    assert r["timing"]["resampled_fps"] == pytest.approx(fps)

    cut = tmp_path / "vfr-cut.mkv"            # a container with no frame count, truncated: judged by time
    cut.write_bytes(video.read_bytes()[:int(video.stat().st_size * 0.6)])
    with pytest.raises(VideoError, match=r"vfr-cut\.mkv: not whole \(truncated: read \d+ frames covering [\d.]+ s of the"):
        extractor(cut)

    steady = extractor(write_lossless(tmp_path / "steady.mkv", planted[:half], fps))
    assert not steady.source["timing"]["variable"] and "resampled_fps" not in steady.source["timing"]
