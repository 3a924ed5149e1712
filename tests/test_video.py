"""emojax.video: real decoding, cuts, resampling, and every kind of bad file."""

from __future__ import annotations

import json
import math
from fractions import Fraction

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
    assert abs(times[-1] - (frames - 1) / reader.fps) <= 1e-3  # presentation times (FLV keeps milliseconds)
    assert reader.integrity.status == "complete" and not reader.integrity.partial


def test_frames_are_bgr_and_rgb_is_reordered():
    path = shared("grid") / "bbaf2n.mpg"
    frame = next(iter(FrameReader(path)))
    assert frame.bgr.shape == (288, 360, 3) and frame.bgr.dtype == np.uint8
    assert np.array_equal(frame.rgb[..., 0], frame.bgr[..., 2])


def test_cut_starts_and_ends_at_the_right_frame(indexed_video):
    idx = [(_decode_index(f.bgr), f.time) for f in FrameReader(indexed_video, start=3.9, end=6.12)]
    assert [i for i, _ in idx] == list(range(math.ceil(3.9 * 30 - 1e-9), math.ceil(6.12 * 30)))
    assert all(abs(t - i / 30) < 1e-9 for i, t in idx)


def test_a_span_past_the_end_is_refused_naming_the_span_given(indexed_video):
    """A start beyond the video's 10 s (no end given): refused saying from where, never "None s"."""
    with pytest.raises(VideoError, match=r"no frame could be decoded from 20(\.0)? s \(") as e:
        list(FrameReader(indexed_video, start=20.0))
    assert "None" not in str(e.value)


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


def _damaged(path, out, rng, n=40):
    """The same file with ``n`` runs of 20 random bytes written over its second half."""
    data = bytearray(path.read_bytes())
    for i in rng.integers(len(data) // 2, len(data) - 100, n):
        data[i:i + 20] = rng.integers(0, 256, 20, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def test_truncated_and_damaged_files_say_so_without_ffmpeg_on_the_terminal(tmp_path, indexed_video, capfd):
    """What was read is kept, but ``integrity`` says the file was not whole, in our words with
    FFmpeg's; nothing of FFmpeg's reaches stderr."""
    grid = shared("grid") / "bbaf2n.mpg"
    whole = FrameReader(grid)
    assert len(list(whole)) == 75 and whole.integrity.status == "complete" and whole.integrity.messages == ()
    cases = {"half.avi": indexed_video.read_bytes()[: indexed_video.stat().st_size // 3],
             "half.mpg": grid.read_bytes()[: grid.stat().st_size // 2]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    rng = np.random.default_rng(0)
    _damaged(grid, tmp_path / "noise.mpg", rng)
    _damaged(indexed_video, tmp_path / "noise.avi", rng)
    capfd.readouterr()
    for name, status in [("half.avi", "truncated"), ("half.mpg", "truncated"), ("noise.mpg", "damaged"),
                         ("noise.avi", "damaged")]:
        reader = FrameReader(tmp_path / name)
        n = sum(1 for _ in reader)
        integ = reader.integrity
        assert n == integ.frames_read > 0 and integ.partial, name
        assert integ.status == status, f"{name}: {integ}"
        assert integ.messages, f"{name}: FFmpeg's complaint is not kept"
    half = FrameReader(tmp_path / "half.avi")
    list(half)
    assert half.integrity.frames_expected == 300 and half.integrity.frames_read < 150
    assert "of the 300 frames its container claims" in half.integrity.describe()
    out, err = capfd.readouterr()
    assert "@ 0x" not in err + out and "Packet corrupt" not in err + out, err


def test_a_cut_that_runs_past_the_end_is_complete(indexed_video):
    reader = FrameReader(indexed_video, start=9.0, end=12.5)
    assert len(list(reader)) == 30 and reader.integrity.status == "complete"
    assert reader.integrity.frames_expected == 30


def _avi_chunks(data: bytes) -> list[int]:
    """Offsets of the frame chunks (``00dc``) of an AVI's ``movi`` list, in order."""
    import struct

    at, out = data.find(b"movi") + 4, []
    while at + 8 <= len(data) and data[at:at + 2] == b"00":
        out.append(at)
        size = struct.unpack("<I", data[at + 4:at + 8])[0]
        at += 8 + size + (size & 1)
    return out


def test_an_avi_cut_at_a_chunk_boundary_is_truncated_by_its_own_count(tmp_path, capsys):
    """A real face in an AVI (whose header states 100 frames) cut where a frame's chunk begins,
    losing 5 of them: FFmpeg says nothing, 95 % is more than the 90 % share a duration estimate
    is held to, but the container's count is exact, so the read is truncated: the CLI refuses it
    naming the file and both counts, and keeps it flagged with --accept-partial. Read at 10 fps
    it is still held to the count of frames decoded; a cut inside the file keeps the share rule."""
    import av

    from emojax.cli import main

    face = [f.bgr for f in FrameReader(shared("grid") / "bbaf2n.mpg")]
    whole = tmp_path / "whole.avi"
    with av.open(str(whole), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt, s.bit_rate = 360, 288, "yuv420p", 1_000_000
        for f in (face + face[::-1])[:100]:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(s.encode())
    data = whole.read_bytes()
    chunks = _avi_chunks(data)
    assert len(chunks) == 100 == probe(whole).frame_count_claimed and probe(whole).frames_stated
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:chunks[95]])

    with av.logging.Capture(local=True) as logs, av.open(str(cut)) as c:   # FFmpeg itself: not a word
        assert sum(1 for _ in c.decode(video=0)) == 95
    assert list(logs) == []
    reader = FrameReader(cut)
    assert len(list(reader)) == 95 and reader.integrity.messages == ()
    i = reader.integrity
    assert (i.status, i.rule, i.frames_decoded, i.frames_stated) == ("truncated", "count", 95, 100)
    assert 95 >= 0.9 * 100                                 # what the share alone would have passed
    for path, status in ((whole, "complete"), (cut, "truncated")):
        resampled = FrameReader(path, fps=10)
        assert len(list(resampled)) == (40 if path == whole else 38) and resampled.integrity.status == status
    inside = FrameReader(cut, start=0.5, end=3.0)
    assert len(list(inside)) == 62 and (inside.integrity.status, inside.integrity.rule) == ("complete", "share")

    assert main(["extract", str(cut), "--out", str(tmp_path / "store"), "--quiet", "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert f"failed: cut: {cut}: not whole (truncated: read 95 of the 100 frames its container claims); " \
           "nothing was kept" in out, out
    assert main(["heart-rate", str(cut)]) == 2
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines()
           if line.strip() and not line.startswith("extract:")]        # the progress bar (shown when slow)
    assert len(err) == 1 and err[0].startswith(f"emojax: error: {cut}: not whole (truncated: read 95 of the 100 frames")
    assert main(["extract", str(cut), "--out", str(tmp_path / "store"), "--quiet", "--accept-partial"]) == 0
    out = capsys.readouterr().out
    assert "kept partial 1" in out and "partial: cut: truncated, read 95 frames" in out, out
    meta = json.loads(next((tmp_path / "store").glob("*.json")).read_text())
    assert meta["partial"] and meta["source"]["integrity"]["rule"] == "count"
    assert meta["source"]["integrity"]["frames_stated"] == 100 and meta["source"]["integrity"]["frames_decoded"] == 95


def test_an_avi_of_a_variable_rate_source_is_whole_by_its_index_and_cut_by_its_header(tmp_path):
    """FFmpeg's AVI muxer writes an empty chunk for every frame time a variable-rate source
    skipped (capture tools write dropped frames so too): the header counts 100 chunks, the file
    holds 90 frames and is whole. It is held to the frames its index lists, not called truncated;
    the same file cut at a chunk boundary (its index gone) is still held to its header."""
    import av

    face = [f.bgr for f in FrameReader(shared("grid") / "bbaf2n.mpg")]
    gaps = tmp_path / "gaps.avi"
    with av.open(str(gaps), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 360, 288, "yuv420p"
        for i, f in enumerate((face + face[::-1])[:100]):
            if i % 10 == 5:
                continue                                   # a frame time the source never had
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(s.encode(frame))
        out.mux(s.encode())
    data = gaps.read_bytes()
    chunks = _avi_chunks(data)
    empty = [c for c in chunks if data[c + 4:c + 8] == b"\0\0\0\0"]
    assert len(chunks) == 100 and len(empty) == 10
    with av.open(str(gaps)) as c:
        assert c.streams.video[0].frames == 100
    reader = FrameReader(gaps)
    assert len(list(reader)) == 90 and reader.info.frame_count_claimed == 90
    assert (reader.integrity.status, reader.integrity.rule) == ("complete", "count")
    cut = tmp_path / "gaps-cut.avi"
    cut.write_bytes(data[:chunks[80]])
    reader = FrameReader(cut)
    assert len(list(reader)) == 72 and (reader.integrity.status, reader.integrity.frames_stated) == ("truncated", 100)


def test_an_mp4_trimmed_by_an_edit_list_is_held_to_the_frames_it_keeps(tmp_path):
    """An mp4 cut in an editor without re-encoding keeps all 50 samples (its stream states 50)
    and an edit list that skips the first 10 (H.264 with B-frames too): FFmpeg presents 40,
    and 40 is the count the read is held to, so it is complete (held to the stream's 50, or to
    90 % of them, it was called truncated). A header whose count no index backs stays held to it
    (tests/test_robust.py: a header that lies about its length)."""
    import av
    from fractions import Fraction

    frames = _index_frames(50, 64, 48)
    for codec, skip in (("mpeg4", 10), ("libx264", 3)):
        path = tmp_path / f"trimmed-{codec}.mp4"
        with av.open(str(path), "w") as out:
            s = out.add_stream(codec, rate=25)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            s.codec_context.time_base = Fraction(1, 25)
            for i, f in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(f, format="bgr24")
                frame.pts, frame.time_base = i - skip, Fraction(1, 25)   # the first `skip` before the edit
                for p in s.encode(frame):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)
        with av.open(str(path)) as c:
            assert c.streams.video[0].frames == 50
        reader = FrameReader(path)
        assert len(list(reader)) == 50 - skip and reader.info.frame_count_claimed == 50 - skip
        assert (reader.integrity.status, reader.integrity.rule) == ("complete", "count"), reader.integrity
