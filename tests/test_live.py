"""The streaming entry point (LiveFeatures): real frames pushed one at a time give what the file
gives, keep only the last seconds, and a pulse planted in real skin is read from a rolling window,
also when frames are dropped under load; a real clip's audio frames pushed beside its frames give
the file's voice, and no audio gives no voice, said."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.features import vitals
from emojax.features.drawing import LANDMARKS, NO_FACE, caption, draw
from emojax.features.live import LiveFeatures, LiveStep
from emojax.video import Frame, FrameReader

from .conftest import FLAT, shared, write_lossless


def _frames(path):
    return [Frame(f.index, f.time, f.bgr) for f in FrameReader(path)]


def _audio_frames(path):
    """The file's audio frames as PyAV decodes them (their own rate, layout and format), each with
    its time on the video's clock (the video stream's start is 0, as the frame reader counts)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        zero = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        return [(f, float(f.time) - zero) for f in c.decode(audio=0)]


def test_frames_pushed_one_by_one_give_the_files_record(extractor):
    clip = shared("cremad") / "1001_DFA_HAP_XX.flv"
    whole = extractor(clip)
    live = LiveFeatures(extractor, keep_s=60.0)
    steps = [live.push(f) for f in _frames(clip)]
    got = live.window()
    assert len(got) == len(whole) and live.processed == len(whole)
    for name in ("rgb", "landmarks", "box", "state", "patches", "times"):
        assert np.allclose(getattr(got, name), getattr(whole, name), equal_nan=True, rtol=0, atol=1e-9), name
    faced = [s for s in steps if s.face]
    assert len(faced) >= 0.9 * len(steps)
    assert all(s.skin and len(s.skin) == whole.patches.shape[1] for s in faced)
    # the skin patches given are on the face: inside its box (grown by a tenth), in frame pixels
    for s in faced:
        x0, y0, x1, y1 = s.box + np.array([-1, -1, 1, 1]) * 0.1 * (s.box[2] - s.box[0])
        pts = np.vstack(s.skin)
        assert ((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).all()
    # what is drawn is where the face is: the landmarks inside the box, each landmark's pixel in
    # the landmarks' colour; a frame without a face gets a border in the no-face colour
    frame = _frames(clip)[10].bgr.copy()
    drawn = draw(frame.copy(), steps[10])
    assert (drawn != frame).any()
    x0, y0, x1, y1 = steps[10].box
    assert (steps[10].landmarks[:, 0] > x0 - 10).all() and (steps[10].landmarks[:, 0] < x1 + 10).all()
    px = np.round(steps[10].landmarks).astype(int)
    assert (drawn[px[:, 1], px[:, 0]] == LANDMARKS).all(axis=1).mean() > 0.9
    bare = draw(frame.copy(), LiveStep(0.0))
    h = frame.shape[0] // 2
    assert (bare[1, 1:-1] == NO_FACE).all() and (bare[h, 10] == frame[h, 10]).all()
    assert (caption(frame.copy(), "25 fps")[8:24, 8:40] != frame[8:24, 8:40]).any()


def test_only_the_last_seconds_are_kept_and_they_match_the_file(extractor):
    g = shared("grid")
    frames = [f for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a") for f in _frames(g / f"{n}.mpg")]
    frames = [Frame(i, i / 25.0, f.bgr) for i, f in enumerate(frames)]
    whole = extractor.frames(frames, 25.0)
    live = LiveFeatures(extractor, keep_s=2.0)
    for f in frames:
        live.push(f)
        assert len(live.window(grid=False)) <= 2 * 2.0 * 25 + 2     # bounded, whatever the stream's length
    got = live.window(2.0)
    last = whole.times >= whole.times[-1] - 2.0 - 1e-9
    assert len(got) == last.sum() == 51
    for name in ("rgb", "landmarks", "state"):
        assert np.array_equal(getattr(got, name), getattr(whole, name)[last], equal_nan=True), name
    assert live.processing_fps > 0 and live.rate == pytest.approx(25.0)


def test_a_regular_window_says_where_the_face_was_seen_not_where_frames_were_dropped(extractor):
    """Frames dropped unevenly (two of every four): the window comes on a uniform grid at the
    stream's rate, the gaps too long to bridge without values, yet the face is seen at each grid
    point whose nearest frame processed had one (never called lost where it was not looked at)."""
    frames = _frames(shared("grid") / "bbaf2n.mpg")
    live = LiveFeatures(extractor, keep_s=10.0)
    assert live.regular_window() is None
    for k, f in enumerate(frames):
        if k % 4 in (0, 3):
            live.push(f)
        else:
            live.skip()
    w, raw = live.regular_window(2.0), live.window(2.0, grid=False)
    f = w.features
    assert f.source["timing"]["variable"] and f.fps == pytest.approx(25.0)
    assert np.array_equal(f.times, live.window(2.0).times) and len(f) > len(raw)
    assert raw.face_found.all() and not f.face_found.all()       # the long gaps hold no values
    nearest = np.abs(raw.times[None, :] - f.times[:, None]).argmin(axis=1)
    assert np.array_equal(w.face_seen, raw.face_found[nearest]) and w.face_seen.all()


@pytest.mark.timeout(300)
def test_the_heart_rate_of_a_rolling_window_matches_the_files_also_with_frames_dropped(tmp_path, extractor, chain):
    """A 96 bpm pulse planted flat (:data:`FLAT`) in the skin of real talking faces (four GRID clips chained, 12 s):
    the last 10 s of a live stream give the file's heart rate within 5 bpm, also when the server
    drops every other frame for half of the stream (the window is put on a uniform grid, the
    gaps bridged)."""
    from emojax.data.planted import plant_pulse

    frames, fps, points = chain("grid")
    planted, truth = plant_pulse(frames, fps, 96.0, 0.01, points=points, seed=4,
                                   **FLAT)
    video = write_lossless(tmp_path / "pulse.mkv", planted, fps)
    file_hr = vitals.report(extractor(video), with_hrv=False)
    assert file_hr["reliable"] and abs(file_hr["bpm"] - 96.0) < 3.0, file_hr

    for drop in (False, True):
        live = LiveFeatures(extractor, keep_s=12.0)
        for i, bgr in enumerate(planted):
            if drop and i >= len(planted) // 2 and i % 2:
                live.skip()
                continue
            live.push(Frame(i, i / fps, bgr))
        window = live.window(10.0)
        hr = vitals.report(window, with_hrv=False)
        assert hr["bpm"] is not None and abs(hr["bpm"] - file_hr["bpm"]) <= 5.0, (drop, hr, file_hr)
        assert live.skipped == (len(planted) // 4 if drop else 0)
        assert window.source["timing"]["variable"] == drop


def test_a_live_session_processes_the_newest_frame_records_on_request_and_frees_everything(tmp_path, extractor):
    """The Live page's per-visitor session (dashboard/live.py) on a real clip's frames: of the frames
    that queued up it processes the newest and counts the rest as dropped, returning it drawn on;
    two visitors' sessions share nothing; a recording is a video emojax reads like any upload, and
    nothing is written without one; a session that ends frees its rows and an unfinished recording."""
    import av

    from dashboard.live import LiveSession
    from emojax.features import Extractor

    clip = shared("cremad") / "1001_DFA_HAP_XX.flv"
    with av.open(str(clip)) as c:
        frames = list(c.decode(video=0))
    times = [float(f.time) for f in frames]
    a = LiveSession(Extractor(extractor.config, predictor=extractor.predictor))
    b = LiveSession(Extractor(extractor.config, predictor=extractor.predictor))
    before = set(tmp_path.iterdir())
    out = a.process(frames[:3])                     # three queued: the newest is processed
    assert len(out) == 1 and a.live.processed == 1 and a.live.skipped == 2
    drawn = out[0].to_ndarray(format="bgr24")
    assert (drawn != frames[2].to_ndarray(format="bgr24")).any()
    assert set(tmp_path.iterdir()) == before         # nothing written without a recording
    with av.open(str(clip)) as c:
        sounds = list(c.decode(audio=0))
    heard = [f.to_ndarray().copy() for f in sounds]
    back = a.process_audio(sounds[:2])               # the microphone: kept, and silence sent back
    assert a.has_audio and a.live.audio_frames == 2
    assert [x.to_ndarray().shape for x in back] == [h.shape for h in heard[:2]] and not any(
        x.to_ndarray().any() for x in back)
    assert set(tmp_path.iterdir()) == before
    a.start_recording(tmp_path / "rec.mp4")
    k = 2
    for f in frames[3:]:
        a.process([f])
        while k < len(sounds) and sounds[k].time <= f.time:     # the audio that came with this frame
            a.process_audio([sounds[k]])
            k += 1
    a.process_audio(sounds[k:])
    assert [float(f.time) for f in frames] == times     # recording leaves the visitor's frames as they came
    assert all(np.array_equal(f.to_ndarray(), h) for f, h in zip(sounds, heard))   # and their sound
    path, n = a.stop_recording()
    assert n == len(frames) - 3 and b.live.processed == 0 and b.live.window() is None
    rec = extractor(path)
    assert len(rec) == n and rec.face_ratio > 0.9 and not rec.partial
    assert rec.times[-1] == pytest.approx(float(frames[-1].time - frames[3].time), abs=0.002)
    # the sound recorded with the picture: the microphone's, over the recording's span, speech heard
    assert rec.source["voice"]["codec"] == "aac" and rec.voice_status in ("present", "partial")
    assert rec.source["voice"]["covered_s"] > 0.8 * (rec.times[-1] - rec.times[0]) and rec.speech.mean() > 0.3
    voice = a.read_voice()
    assert voice["status"] in ("present", "partial") and voice["speech_share"] > 0.3 and voice["f0_mean_hz"] > 50
    snap = a.snapshot()
    assert snap.processed == len(frames) - 2 and len(snap.pulse) == len(snap.times) > 1 and snap.face

    # frames dropped unevenly: the gaps too long to bridge leave the pulse missing there, but the
    # face is not called lost where it was only not looked at
    c = LiveSession(Extractor(extractor.config, predictor=extractor.predictor))
    k = 0
    while k + 4 <= len(frames):
        c.process(frames[k:k + 1])
        c.process(frames[k + 1:k + 4])
        k += 4
    snap = c.snapshot()
    assert np.isnan(snap.pulse).any() and snap.face_found.all()

    # a visitor without a microphone: a recording without sound, and the voice said absent
    d = LiveSession(Extractor(extractor.config, predictor=extractor.predictor))
    d.start_recording(tmp_path / "silent.mp4")
    for f in frames[:10]:
        d.process([f])
    path, _ = d.stop_recording()
    assert extractor(path).source["voice"]["status"] == "absent" and d.read_voice()["status"] == "absent"

    b.start_recording(tmp_path / "unfinished.mp4")
    b.process(frames[:5])
    b.ended()                                      # the visitor left mid-recording
    assert b.closed and not (tmp_path / "unfinished.mp4").exists() and b.live.window() is None
    untouched = b.process(frames[5:6])
    assert untouched[0] is frames[5]               # an ended session processes nothing more


def _live_session(run, teaching_set, predictor, seconds: float = 6.0):
    """A Live session with the run's extractor settings, fed a teaching clip's frames one by one."""
    from dashboard.live import LiveSession
    from emojax.features import Extractor, ExtractorConfig
    from emojax.training.runfiles import read_model_info

    config = ExtractorConfig.from_dict(read_model_info(run)["extractor"])
    session = LiveSession(Extractor(config, predictor=predictor))
    clip = sorted(teaching_set(1.0).glob("happy_*.mp4"))[0]
    for f in _frames(clip):
        if f.time <= seconds:
            session.live.push(f)
    for f, t in _audio_frames(clip):               # the clip speaks: its sound as the microphone's
        if t <= seconds:
            session.live.push_audio(f, t)
    return session


@pytest.mark.timeout(900)
def test_the_live_emotion_of_a_plain_and_of_a_speaker_relative_run(teaching_run, speaker_relative_run,
                                                                   teaching_set, predictor):
    """``LiveSession.emotion`` predicts the last window of the run's length as the run's test
    videos were normalised: on its own for a plain run; for a speaker-relative run (where
    predicting a lone video is refused), the window as its speaker's only video, as
    ``predict --same-speaker`` does with one video. Each entry goes to the history."""
    from emojax.errors import EmojaxError
    from emojax.estimator import TrainedRun
    from emojax.inference import predict_features, predict_records

    for run, relative in ((teaching_run(1.0)[0], False), (speaker_relative_run[0], True)):
        trained = TrainedRun(run)
        assert trained.speaker_relative is relative
        session = _live_session(run, teaching_set, predictor)
        entry = session.emotion(trained)
        assert entry is not None and session.history == [entry] and entry["speaker_relative"] is relative
        w = session.live.window(trained.spec.length / session.live.rate)
        assert entry["frames"] == len(w) == trained.spec.length
        # the run reads the voice: the window's voice, heard, is one of the modalities predicted from
        assert "voice" in trained.modalities and w.voice_status == "present" and w.speech.any()
        assert entry["modalities"] == list(trained.modalities) and entry["voice"] == "voice present"
        if relative:
            with pytest.raises(EmojaxError, match="--same-speaker"):
                predict_features(w, trained)                   # a lone video is refused by such a run
            want = predict_records([w], trained, same_speaker=True)[0]
            # the window's landmarks relative to the window's own mean shape, through the estimator
            proba = trained.classifier("early_fusion").predict_proba([w], speakers=["visitor"])[0]
            assert np.allclose([entry["proba"]["early_fusion"][c] for c in entry["classes"]], proba, atol=1e-6)
        else:
            want = predict_features(w, trained)
        for m, p in entry["proba"].items():
            assert p == pytest.approx(want["models"][m]["proba"], abs=1e-6), m
        assert entry["label"] == want["label"] and entry["normalisation"] == want["normalisation"]
def _file_voice(window, path):
    """The file path's voice at the window's own frames: its audio read from the file over the
    window's span (``read_voice``, what extraction does), on a copy."""
    import dataclasses

    from emojax.features.voice import read_voice

    return read_voice(dataclasses.replace(window, source={**window.source}), path)


def test_a_microphones_frames_give_the_files_voice(extractor):
    """A real clip's audio frames (CREMA-D: mono MP3 at 44.1 kHz; GRID: stereo MP2) pushed beside
    its frames: every window - the whole stream, and its last second - carries the voice the
    file's own audio gives at the same frames (openSMILE on the same samples), voiced speech
    heard; a frame of audio lost in the middle is a gap, with no speech in it, not glued over."""
    from emojax.features.live import AUDIO_GAP_S
    from emojax.features.voice import DESCRIPTORS
    from emojax.video import read_audio

    F0 = DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")

    for clip in (shared("cremad") / "1001_DFA_HAP_XX.flv", shared("grid") / "bbaf2n.mpg"):
        audio = _audio_frames(clip)
        live = LiveFeatures(extractor, keep_s=60.0)
        for f in _frames(clip):
            live.push(f)
        for f, t in audio:
            assert live.push_audio(f, t)
        assert live.audio_frames == len(audio) and len(live.audio(-1.0, 99.0)) == 1
        for seconds in (None, 1.0):
            w = live.window(seconds)
            ref = _file_voice(w, clip)
            assert w.voice.shape == (len(w), 25) and w.voice_status == ref.voice_status, (w.source, ref.source)
            assert w.source["voice"].get("reason") == ref.source["voice"].get("reason")
            assert np.array_equal(w.speech, ref.speech), (clip.name, seconds)
            assert np.allclose(w.voice, ref.voice, equal_nan=True, rtol=1e-5, atol=1e-5), (clip.name, seconds)
            if seconds is None:       # the whole clip: voiced speech heard, its F0 read
                assert w.voice_status == "present" and w.speech.mean() > 0.3
                assert np.isfinite(w.voice[w.speech, F0]).mean() >= 0.3

        # a short memory: about the last second kept, whatever the stream's length, its samples the file's
        short = LiveFeatures(extractor, keep_s=0.5)
        for f, t in audio:
            short.push_audio(f, t)
            assert short.audio_seconds <= 2 * 0.5 + 0.1
        end = audio[-3][1] + 0.01          # inside a frame: the file reader decodes past it too
        [kept] = short.audio(end - 0.5, end)
        assert np.array_equal(kept.samples, read_audio(clip).cut(end - 0.5, end).samples)

        # one audio frame lost mid-way: two parts, and the frames wholly inside the gap are no speech
        k = len(audio) // 2
        gapped = LiveFeatures(extractor, keep_s=60.0)
        for f in _frames(clip):
            gapped.push(f)
        for i, (f, t) in enumerate(audio):
            if i != k:
                gapped.push_audio(f, t)
        lost_from, lost_to = audio[k][1], audio[k + 1][1]
        assert lost_to - lost_from > AUDIO_GAP_S and len(gapped.audio(-1.0, 99.0)) == 2
        w = gapped.window()
        inside = (w.times >= lost_from) & (w.times + 1.0 / w.fps <= lost_to)
        assert w.source["voice"]["parts"] == 2 and not w.speech[inside].any()
        whole = live.window()
        away = (w.times + 1.0 / w.fps < lost_from - 0.1) | (w.times > lost_to + 0.1)
        assert (w.speech[away] == whole.speech[away]).mean() > 0.9     # the second part framed from its own start


def test_without_audio_a_windows_voice_is_absent_and_said(extractor):
    """No audio frame (no microphone, or it was refused): every window has no speech and says
    why; audio that stopped before the window says that instead. The face and pulse stand."""
    from emojax.features.live import NO_AUDIO
    from emojax.features.voice import said

    clip = shared("cremad") / "1001_DFA_HAP_XX.flv"
    frames = _frames(clip)
    live = LiveFeatures(extractor, keep_s=60.0)
    for f in frames:
        live.push(f)
    w = live.window()
    assert w.voice_status == "absent" and not w.speech.any() and np.isnan(w.voice).all()
    assert said(w.source["voice"]) == f"voice absent: {NO_AUDIO}" and w.face_ratio > 0.9
    early = LiveFeatures(extractor, keep_s=60.0)
    for f in frames:
        early.push(f)
    for f, t in _audio_frames(clip):
        if t < 0.5:
            early.push_audio(f, t)
    w = early.window(1.0)
    assert w.voice_status == "absent" and "no audio in the window" in w.source["voice"]["reason"]
    assert early.window().voice_status == "partial"          # the whole stream: heard at its start only


def _until(condition, seconds: float = 300.0) -> bool:
    import time

    start = time.monotonic()
    while not condition() and time.monotonic() - start < seconds:
        time.sleep(0.05)
    return condition()


@pytest.mark.timeout(900)
def test_the_session_thread_follows_one_run_at_a_time(teaching_run, speaker_relative_run, teaching_set, predictor):
    """The Live session's own thread loads the run the page follows and reads its emotion: a run
    whose models fail to load gives its error, and the next run starts clean (no error, no
    window of the run before, even one being read as the switch came); each window it reads is
    ``predict``'s on the same window; the run's data, for the shares, is asked for only once the
    first emotion is shown."""
    import threading

    from emojax.errors import CheckpointError
    from emojax.estimator import TrainedRun
    from emojax.inference import predict_records

    plain, relative = teaching_run(1.0)[0], speaker_relative_run[0]
    session = _live_session(plain, teaching_set, predictor)
    try:
        def broken():
            raise CheckpointError("fold-1/rppg.msgpack: cut short")

        session.follow("broken", broken)
        assert _until(lambda: session.loaded == "broken") and isinstance(session.emotion_error, CheckpointError)
        assert session.history == []

        a, b = TrainedRun(plain), TrainedRun(relative)
        asked: list[int] = []               # windows shown when the run's data was asked for
        session.follow("a", lambda: a, lambda: asked.append(len(session.history)))
        assert _until(lambda: session.loaded == "a" and len(session.history) >= 1)
        assert session.emotion_error is None
        # the data (seconds of Python beside the stream) only once the first emotion is shown
        assert _until(lambda: asked) and asked[0] >= 1
        release = threading.Event()
        session.follow("b", lambda: release.wait(60) and b)      # followed as a's window may be being read
        assert not _until(lambda: session.loaded == "b", 1.0)    # b loading: the page says so (not a's emotion)
        release.set()
        assert _until(lambda: session.loaded == "b" and len(session.history) >= 2)
        w = session.live.window(max(b.spec.length / session.live.rate, 2.0))
        want = predict_records([w], b, same_speaker=True)[0]
        for entry in session.history:                 # every window b's, none of a's
            assert entry["speaker_relative"] is True and entry["label"] == want["label"]
            for m, p in entry["proba"].items():
                assert p == pytest.approx(want["models"][m]["proba"], abs=1e-6), m
        assert session.emotion_error is None
    finally:
        session.close()
