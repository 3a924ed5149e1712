"""emojax.video: real decoding, cuts, resampling, and every kind of bad file."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from emojax.errors import VideoError
from emojax.video import FrameReader, check_video_file, probe

from .conftest import shared, write_video

pytestmark = pytest.mark.timeout(60)


def _index_frames(n: int, w: int = 320, h: int = 240) -> list[np.ndarray]:
    """Frames whose index is written in 10 big black/white blocks (survives compression)."""
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 128, np.uint8)
        for bit in range(10):
            f[40:120, bit * 32:(bit + 1) * 32] = 255 if (i >> bit) & 1 else 0
        frames.append(f)
    return frames


def _decode_index(bgr: np.ndarray) -> int:
    return sum(1 << bit for bit in range(10) if bgr[60:100, bit * 32 + 8:(bit + 1) * 32 - 8].mean() > 128)


@pytest.fixture(scope="module")
def indexed_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "indexed.avi"
    return write_video(path, _index_frames(300), 30.0, "MJPG")


@pytest.mark.parametrize("name,frames", [("grid/bbaf2n.mpg", 75), ("cremad/1001_DFA_HAP_XX.flv", 56),
                                         ("rppg_skin/India__video14_leftcheek.avi", 2575)])
def test_real_files_decode_every_frame(name, frames):
    sub, file = name.split("/")
    path = shared(sub) / file
    reader = FrameReader(path)
    times = [f.time for f in reader]
    assert reader.frames_read == frames == len(times)
    assert np.all(np.diff(times) > 0)
    assert math.isclose(times[-1], (frames - 1) / reader.fps, rel_tol=1e-6)


def test_frames_are_bgr_and_rgb_is_reordered():
    path = shared("grid") / "bbaf2n.mpg"
    frame = next(iter(FrameReader(path)))
    assert frame.bgr.shape == (288, 360, 3) and frame.bgr.dtype == np.uint8
    assert np.array_equal(frame.rgb[..., 0], frame.bgr[..., 2])


def test_cut_starts_and_ends_at_the_right_frame(indexed_video):
    idx = [(_decode_index(f.bgr), f.time) for f in FrameReader(indexed_video, start=3.9, end=6.12)]
    assert [i for i, _ in idx] == list(range(math.ceil(3.9 * 30 - 1e-9), math.ceil(6.12 * 30)))
    assert all(abs(t - i / 30) < 1e-9 for i, t in idx)


def test_resampling_keeps_every_third_frame(indexed_video):
    got = [_decode_index(f.bgr) for f in FrameReader(indexed_video, end=2.0, fps=10)]
    assert got == list(range(0, 60, 3))


def test_probe_reports_the_container_claims(indexed_video):
    info = probe(indexed_video)
    assert (info.width, info.height, info.frame_count_claimed) == (320, 240, 300)
    assert info.fps == pytest.approx(30.0)


def test_missing_empty_text_and_playlist_files_are_refused(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        check_video_file(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        FrameReader(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(VideoError, match="not a video") as e:
        FrameReader(text)
    assert "notes.mp4" in str(e.value)
    playlist = tmp_path / "stream.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1/never.ts\n")
    with pytest.raises(VideoError, match="extension"):
        FrameReader(playlist)
    disguised = tmp_path / "stream.mp4"
    disguised.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1/never.ts\n")
    with pytest.raises(VideoError, match="playlist"):
        FrameReader(disguised)


def test_mismatched_container_is_refused(tmp_path):
    src = shared("grid") / "bbaf2n.mpg"
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(src.read_bytes())
    with pytest.raises(VideoError, match="mpeg container"):
        FrameReader(fake)


def test_truncated_file_reads_what_is_there_or_fails_clearly(tmp_path, indexed_video):
    data = indexed_video.read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    reader = FrameReader(half)
    n = sum(1 for _ in reader)
    assert 0 < n < 300 and reader.frames_read == n
    head = tmp_path / "head.avi"
    head.write_bytes(data[:64])
    with pytest.raises(VideoError, match="head.avi"):
        list(FrameReader(head))


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "one.avi", _index_frames(1), 25.0, "MJPG")
    frames = list(FrameReader(path))
    assert len(frames) == 1 and frames[0].time == 0.0


def test_bad_cut_arguments(indexed_video):
    with pytest.raises(VideoError, match="not after"):
        FrameReader(indexed_video, start=5, end=4)
    with pytest.raises(VideoError, match="no frame"):
        list(FrameReader(indexed_video, start=50, end=60))


@pytest.mark.parametrize("ext,fourcc", [(".mp4", "mp4v"), (".mov", "mp4v"), (".m4v", "mp4v"), (".mkv", "MJPG"),
                                        (".avi", "XVID"), (".webm", "VP80")])
def test_containers_round_trip_frame_exact(tmp_path, ext, fourcc):
    path = tmp_path / f"clip{ext}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (320, 240))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot write {fourcc} into {ext}")
    for f in _index_frames(30):
        writer.write(f)
    writer.release()
    assert [_decode_index(f.bgr) for f in FrameReader(path)] == list(range(30))
