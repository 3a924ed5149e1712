"""Phone clips and files with several video streams: a real face stored sideways with a display
rotation (as a phone stores a portrait clip) is read upright, everywhere; a file whose default
video stream has no face says which other stream there is, and reads it when asked."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest
from skimage import data as skdata

from emojax.errors import NoFaceError, VideoError
from emojax.inference import predict_video
from emojax.video import FrameReader, probe

from .conftest import read_all, shared
from .test_tracking import panned

pytestmark = pytest.mark.timeout(600)

#: clockwise turn that shows a frame upright -> the turn that stores it sideways
_STORE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
TURNS = (90, 180, 270)
MODELS = ("rppg", "face", "late_fusion", "early_fusion")


def phone_mp4(path, frames, turn: int, fps: int = 25, lossless: bool = False):
    """H.264 in mp4 (as phones write), with the frames stored turned by ``-turn`` and a display
    matrix saying "turn ``turn``° clockwise to show" (PyAV writes it as the stream's coded side
    data: ``set_display_rotation`` takes degrees counter-clockwise). ``lossless``: 4:4:4 at
    qp 0, so that every orientation decodes to the very same pixels."""
    stored = [cv2.rotate(f, _STORE[turn]) if turn else f for f in frames]
    h, w = stored[0].shape[:2]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height = w, h
        s.pix_fmt, s.options = ("yuv444p", {"qp": "0"}) if lossless else ("yuv420p", {"crf": "12"})
        if turn:
            s.set_display_rotation(-turn)
        for f in stored:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def phone_clips(tmp_path_factory):
    """A real GRID face written upright and tagged with each rotation (same encoder for all):
    ``(frames, {turn: lossy clip}, {turn: lossless clip})``."""
    folder = tmp_path_factory.mktemp("phone")
    frames = read_all(shared("grid") / "bbaf2n.mpg")
    return frames, *({turn: phone_mp4(folder / f"turn{turn}{kind}.mp4", frames, turn, lossless=bool(kind))
                      for turn in (0, *TURNS)} for kind in ("", "-lossless"))


def test_the_tag_is_what_phones_and_opencv_mean(phone_clips):
    """The files carry the rotation as phones do: OpenCV's own FFmpeg reader (another
    implementation) reports the same clockwise turn and shows the frame as we do."""
    frames, clips, _ = phone_clips
    for turn in TURNS:
        cap = cv2.VideoCapture(str(clips[turn]))
        ok, shown = cap.read()
        assert ok and cap.get(cv2.CAP_PROP_ORIENTATION_META) == turn
        info = probe(clips[turn])
        assert info.rotation == turn and (info.width, info.height) == (360, 288), info
        assert info.streams[0].width == (288 if turn % 180 else 360)     # stored sideways
        ours = next(iter(FrameReader(clips[turn]))).bgr
        assert ours.shape == shown.shape == frames[0].shape
        assert np.abs(ours.astype(int) - shown).mean() < 2.0 and np.abs(ours.astype(int) - frames[0]).mean() < 4.0


def test_a_phone_clip_is_read_upright(phone_clips, extractor):
    """Each rotation, through a phone's lossy encoder: the face on >= 95 % of frames, every
    frame's landmarks within 1.5 px of the upright clip's (its compression noise differs with the
    orientation), and the record says what was turned."""
    _, clips, _ = phone_clips
    upright = extractor(clips[0])
    assert upright.face_ratio == 1.0 and upright.source["rotation"] == 0
    for turn in TURNS:
        f = extractor(clips[turn])
        assert f.face_ratio >= 0.95, (turn, f.face_ratio)
        both = f.face_found & upright.face_found
        apart = np.linalg.norm(f.landmarks[both] - upright.landmarks[both], axis=2).mean(axis=1)
        assert apart.max() <= 1.5, (turn, apart.max())
        assert f.source["rotation"] == turn and (f.source["width"], f.source["height"]) == (360, 288)


def test_a_phone_clip_is_predicted_as_the_upright_clip(phone_clips, teaching_run):
    """Lossless, every orientation decodes to the upright clip's very pixels, and every model of
    a trained run gives the upright clip's probabilities; the result says what was turned. (With
    a lossy encoder the compression noise differs with the orientation, and the teaching run's
    rPPG model, which learnt planted pulses, swings on the noise of a clip that has none: 0.78
    on one class upright, 0.90 on another turned.)"""
    _, _, clips = phone_clips
    run, _, _ = teaching_run(1.0)
    upright = read_all(clips[0])
    want = predict_video(clips[0], run)
    for turn in TURNS:
        assert all(np.array_equal(a, b) for a, b in zip(read_all(clips[turn]), upright, strict=True)), turn
        got = predict_video(clips[turn], run)
        assert got["rotation"] == turn and got["notes"] == [f"turned {turn}° clockwise to upright, as its display matrix says"]
        for m in MODELS:
            a, b = (np.array(list(r["models"][m]["proba"].values())) for r in (got, want))
            assert np.abs(a - b).max() <= 1e-5, (turn, m, a, b)


def two_streams(path, first, second, fps: int = 25):
    """An mp4 holding two video streams of the same size: ``first`` (the container's default,
    as the mp4 muxer marks it) and ``second``."""
    h, w = first[0].shape[:2]
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("libx264", rate=fps) for _ in range(2)]
        for s in streams:
            s.width, s.height, s.pix_fmt, s.options = w, h, "yuv420p", {"crf": "18"}
        for a, b in zip(first, second):
            for s, f in zip(streams, (a, b)):
                out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        for s in streams:
            out.mux(s.encode())
    return path


def test_the_default_stream_is_read_and_another_is_offered(tmp_path, capsys, teaching_run):
    """Stream 0 a panned photograph (no face, the default), stream 1 a real face: extract reads
    stream 0 and says stream 1 is there (and, finding no face, to try it); predict refuses
    naming it; ``--stream 1`` reads the face; ``--stream 2`` is refused naming the streams."""
    from emojax.cli import main

    face = read_all(shared("grid") / "bbaf2n.mpg")
    clip = two_streams(tmp_path / "two.mp4", panned(skdata.rocket(), len(face), (360, 288)), face)
    info = probe(clip)
    assert (info.stream, info.stream_chosen, len(info.streams)) == (0, "default", 2)

    assert main(["extract", str(clip), "--out", str(tmp_path / "store"), "--quiet", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "video streams: two: read video stream 0 of 2 (the container's default); also in the file: " \
           "stream 1 (360x288 h264) (read another with --stream N, e.g. --stream 1)" in out, out
    assert "no face in any frame: two; its file has other video streams (see above)" in out, out

    with pytest.raises(NoFaceError, match=r"two\.mp4: no face was found .*also in the file: stream 1 .*--stream 1"):
        predict_video(clip, teaching_run(1.0)[0])

    assert main(["extract", str(clip), "--out", str(tmp_path / "store1"), "--quiet", "--stream", "1"]) == 0
    out = capsys.readouterr().out
    assert "video streams: two: read video stream 1 of 2 (as asked)" in out and "no face" not in out, out
    meta = json.loads(next((tmp_path / "store1").glob("*.json")).read_text())
    assert meta["face_ratio"] == 1.0 and meta["source"]["stream"] == 1 and meta["config"]["stream"] == 1

    assert main(["heart-rate", str(clip), "--stream", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"emojax: error: {clip}: no video stream 2; it has 2 (stream 0 (360x288 h264, the default); "
                   "stream 1 (360x288 h264)); --stream N counts its video streams from 0"), err
    with pytest.raises(VideoError, match="no video stream 2"):
        FrameReader(clip, stream=2)


def test_the_stream_marked_default_is_read_wherever_it_is_and_a_cover_picture_is_never_offered(tmp_path):
    """Stream 1 marked the container's default (stream 0 not): stream 1 is read, the face on
    every frame. A cover picture (an attached still) before the video: the video is read, and
    the picture is neither chosen nor suggested as another stream to read."""
    from emojax.video import stream_note

    face = read_all(shared("grid") / "bbaf2n.mpg")[:25]
    h, w = face[0].shape[:2]
    marked = tmp_path / "second-default.mkv"
    with av.open(str(marked), "w") as out:
        streams = [out.add_stream("libx264", rate=25) for _ in range(2)]
        for s in streams:
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        streams[0].disposition, streams[1].disposition = 0, av.stream.Disposition.default
        for f in face:
            for s, frame in zip(streams, (np.full_like(f, 60), f)):
                out.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        for s in streams:
            out.mux(s.encode())
    info = probe(marked)
    assert (info.stream, info.stream_chosen) == (1, "default")
    assert "stream 0 (360x288 h264)" in stream_note(info.to_source())

    cover = tmp_path / "cover.mp4"
    with av.open(str(cover), "w") as out:
        still = out.add_stream("mjpeg", rate=1)
        still.width, still.height, still.pix_fmt = w, h, "yuvj420p"
        still.disposition = av.stream.Disposition.attached_pic
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        for s, frames in ((still, face[:1]), (video, face)):
            for f in frames:
                out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
            out.mux(s.encode())
    info = probe(cover)
    stills = [s.number for s in info.streams if s.still]
    assert len(info.streams) == 2 and len(stills) == 1 and info.stream != stills[0]
    assert stream_note(info.to_source()) == ""
    assert sum(1 for _ in FrameReader(cover)) == len(face)
