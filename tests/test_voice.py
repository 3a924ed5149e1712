"""The voice: real speech (GRID's MP2 in MPEG-PS, CREMA-D's MP3 in FLV) read through PyAV and
openSMILE, its mask checked against GRID's word alignment, and the hard cases made from the real
clips here: the audio stripped, the audio cut to half the video, a stored record completed from
the audio alone, IEMOCAP's utterance wav, the CLI."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pytest

from emojax.features import Features, ExtractorConfig
from emojax.features import voice as V

from .conftest import shared

SWWP = "id2_vcd_swwp2s.mpg"


def _remux(src, dst, *, audio_until: float | None = None, audio: bool = True):
    """``src`` copied packet for packet (no re-encoding) into Matroska: without its audio, or
    with audio packets only before ``audio_until`` seconds."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        vs, a = i.streams.video[0], i.streams.audio[0]
        out = {vs.index: o.add_stream_from_template(vs)}
        if audio:
            out[a.index] = o.add_stream_from_template(a)
        for pkt in i.demux(*[s for s in (vs, a) if s.index in out]):
            if pkt.dts is None:
                continue
            if pkt.stream.type == "audio" and audio_until is not None and pkt.pts * pkt.time_base >= audio_until:
                continue
            pkt.stream = out[pkt.stream.index]
            o.mux(pkt)
    return dst


def _damaged(src, dst, *, audio_from: float):
    """``src`` copied packet for packet into Matroska, its audio packets from ``audio_from``
    seconds on replaced by zero bytes of the same size (the decoder gives up there)."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        vs, a = i.streams.video[0], i.streams.audio[0]
        out = {vs.index: o.add_stream_from_template(vs), a.index: o.add_stream_from_template(a)}
        for pkt in i.demux(vs, a):
            if pkt.dts is None:
                continue
            to = out[pkt.stream.index]
            if pkt.stream.type == "audio" and pkt.pts * pkt.time_base >= audio_from:
                bad = av.Packet(bytes(pkt.size))
                bad.pts, bad.dts, bad.time_base = pkt.pts, pkt.dts, pkt.time_base
                pkt = bad
            pkt.stream = to
            o.mux(pkt)
    return dst


def _wav(src, dst, rate: int = 22050):
    """The audio of ``src`` as 16-bit PCM WAV at ``rate`` (re-encoded by FFmpeg through PyAV)."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        oa = o.add_stream("pcm_s16le", rate=rate, layout="mono")
        res = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for fr in i.decode(i.streams.audio[0]):
            for f in res.resample(fr):
                f.pts = None
                o.mux(oa.encode(f))
        o.mux(oa.encode(None))
    return dst


def _align_truth(times: np.ndarray, fps: float) -> np.ndarray:
    """Frames whose interval overlaps a word of ``swwp2s.align`` (times in 1/25000 s)."""
    truth = np.zeros(len(times), bool)
    for line in (shared("grid") / "swwp2s.align").read_text().split("\n"):
        if line.strip():
            a, b, word = line.split()
            if word != "sil":
                truth |= (times + 1 / fps > int(a) / 25000) & (times < int(b) / 25000)
    return truth


def test_real_speech_in_mp2_and_mp3_is_present_with_nan_outside_speech():
    for path, codec in ((shared("grid") / SWWP, "mp2"), (shared("cremad") / "1001_DFA_ANG_XX.flv", "mp3")):
        rec = V.file_voice(path)
        info = rec.source["voice"]
        assert info["status"] == "present", info
        assert info["codec"].startswith(codec) and info["rate"] == 16000
        assert rec.voice.shape == (len(rec.times), len(V.DESCRIPTORS)) and rec.source["frames"] == "video"
        assert 0.2 < rec.speech.mean() < 0.9
        assert np.isnan(rec.voice[~rec.speech]).all()
        assert np.isfinite(rec.voice[rec.speech][:, V.DESCRIPTORS.index("Loudness_sma3")]).all()
        assert info["covered_s"] >= 0.95 * info["video_s"]


def test_speech_mask_agrees_with_grids_word_alignment():
    """Held out: the loudness floor was chosen on CREMA-D's silence; measured 93.3 % here."""
    rec = V.file_voice(shared("grid") / SWWP)
    truth = _align_truth(rec.times, rec.fps)
    agreement = float((rec.speech == truth).mean())
    assert agreement >= 0.90, agreement


def test_a_grid_clips_f0_per_frame_is_within_a_semitone_of_opensmiles_own_functional():
    """The alignment to frames keeps the pitch openSMILE itself summarises (measured: 26.28 against
    26.55 semitones): the mean over the
    clip's voiced frames of the per-frame F0 against eGeMAPS's functional ``..._amean`` computed
    by openSMILE on the same samples."""
    import opensmile

    from emojax.video.audio import read_audio

    path = shared("grid") / SWWP
    rec = V.file_voice(path)
    f0 = rec.voice[:, V.DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")]
    ours = float(np.nanmean(f0))
    track = read_audio(path)
    functionals = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                  feature_level=opensmile.FeatureLevel.Functionals)
    theirs = float(functionals.process_signal(track.samples, track.rate)["F0semitoneFrom27.5Hz_sma3nz_amean"].iloc[0])
    assert np.isfinite(f0).sum() >= 20
    assert abs(ours - theirs) <= 1.0, (ours, theirs)


def test_cremad_angry_fearful_happy_louder_than_neutral_and_sad():
    folder = shared("cremad")
    loud = {emo: V.file_voice(folder / f"1001_DFA_{emo}_XX.flv").summary()["loudness"]
            for emo in ("ANG", "FEA", "HAP", "NEU", "SAD")}
    assert min(loud["ANG"], loud["FEA"], loud["HAP"]) > max(loud["NEU"], loud["SAD"]), loud


def test_a_clip_without_audio_is_absent_never_zeros(tmp_path):
    from emojax.cli import main

    clip = _remux(shared("grid") / SWWP, tmp_path / "mute.mkv", audio=False)
    rec = V.file_voice(clip)
    assert rec.source["voice"]["status"] == "absent" and rec.source["voice"]["reason"] == "no audio track"
    assert len(rec.times) == 75 and np.isnan(rec.voice).all() and not rec.speech.any()
    assert V.summary(rec.voice, rec.speech, rec.fps, rec.source)["loudness"] is None
    assert main(["voice", str(clip), "--json"]) == 3
    from emojax.data import VideoItem
    from emojax.data.batch import extract_items

    summary = extract_items([VideoItem("mute", str(clip), None)], tmp_path / "store", ExtractorConfig(), workers=1)
    (o,) = summary.outcomes
    assert o.status == "done" and o.voice == "absent" and o.no_face < 10
    assert "0 present, 0 partial, 1 absent" in summary.text() and "voice absent: mute: no audio track" in summary.text()
    feats = Features.load(o.stem)
    assert feats.voice_status == "absent" and np.isnan(feats.voice).all() and not feats.speech.any()


def test_audio_cut_to_half_the_video_is_partial_and_silent_after_it_ends(tmp_path):
    clip = _remux(shared("grid") / SWWP, tmp_path / "half.mkv", audio_until=1.5)
    rec = V.file_voice(clip)
    info = rec.source["voice"]
    assert info["status"] == "partial" and "covers" in info["reason"], info
    assert 1.3 < info["track_end"] < 1.7
    after = rec.times >= info["track_end"]
    assert after.sum() >= 30 and not rec.speech[after].any() and np.isnan(rec.voice[after]).all()
    assert rec.speech[~after].any()          # what the track holds is still read


def test_cuts_of_one_damaged_track_each_say_whether_their_own_interval_was_read_whole(tmp_path):
    """Two cuts of one clip whose audio is damaged from 2 s on, read in one pass (the dialog's
    track decoded once, as IEMOCAP's utterances are): the cut before the damage was read whole
    and says so; the one across it is partial, in FFmpeg's words. Each cut says what a read of
    it alone says."""
    from emojax.features.pipeline import Extractor, extract_cuts
    from emojax.video import read_audio

    clip = _damaged(shared("grid") / SWWP, tmp_path / "damaged.mkv", audio_from=2.0)
    whole = read_audio(clip)
    assert whole.status == "damaged" and 1.9 < whole.end < 2.2        # the damage is real, and where it was put
    ex = Extractor(ExtractorConfig())
    before, across = extract_cuts(clip, [(ex, 0.0, 1.2), (ex, 1.8, 3.0)])
    a, b = before.source["voice"], across.source["voice"]
    assert a["track"] == "complete" and a["status"] == "present" and "reason" not in a, a
    assert b["track"] == "damaged" and b["status"] == "partial" and "audio decoding stopped" in b["reason"], b
    for rec, info in ((before, a), (across, b)):
        alone = read_audio(clip, start=float(rec.times[0]), end=float(rec.times[-1]) + 1 / rec.fps)
        assert alone.status == info["track"]


def _voiceless_record(store, item, config):
    """A record stored as emojax stored them before it read voice (no voice block), at the key
    extraction looks for; its video arrays are markers a re-extraction could not reproduce."""
    rng = np.random.default_rng(0)
    t = np.arange(75) / 25.0
    feats = Features(rgb=rng.random((75, 3)), landmarks=rng.random((75, 68, 2)).astype(np.float32),
                     box=rng.random((75, 4)), state=np.full(75, 2, np.uint8), confidence=np.ones(75, np.float32),
                     times=t, fps=25.0, source={"path": item.path, "start": None, "end": None},
                     config=config.to_dict())
    stem = store.locate(item.path, config, None, None, name=item.id)
    feats.save(stem)
    return stem, feats


def test_a_stored_record_without_voice_is_completed_from_the_audio_alone(tmp_path, monkeypatch):
    from emojax.data import VideoItem
    from emojax.data.batch import extract_items
    from emojax.features.pipeline import Extractor
    from emojax.features.store import FeatureStore
    from emojax.video import reader

    item = VideoItem("swwp2s", str(shared("grid") / SWWP), None)
    config = ExtractorConfig()
    store = FeatureStore(tmp_path / "store")
    stem, before = _voiceless_record(store, item, config)
    assert Features.load(stem).voice_status == "unread"

    def no_video(*a, **k):
        raise AssertionError("a video frame was decoded")

    monkeypatch.setattr(reader.FrameReader, "__iter__", no_video)
    monkeypatch.setattr(reader, "_decode", no_video)
    monkeypatch.setattr(Extractor, "__call__", no_video)
    summary = extract_items([item], store.root, config, workers=1)
    (o,) = summary.outcomes
    assert o.status == "cached" and o.voice_completed and o.voice == "present", o
    assert "completed 1 stored record(s)" in summary.text() and "1 present" in summary.text()
    after = Features.load(stem)
    for k in Features.ARRAYS:
        np.testing.assert_array_equal(getattr(after, k), getattr(before, k))
    assert after.voice_status == "present" and after.speech.sum() >= 30
    again = extract_items([item], store.root, config, workers=1)      # now complete: nothing to do
    assert again.outcomes[0].status == "cached" and not again.outcomes[0].voice_completed


def test_the_summary_counts_a_video_without_voice(tmp_path):
    from emojax.data import VideoItem
    from emojax.data.outcomes import Outcome, Summary

    it = VideoItem("mute", "mute.mkv", None)
    s = Summary([Outcome(it, "done", "x", frames=75, voice="absent", voice_note="no audio track"),
                 Outcome(VideoItem("a", "a.mpg", None), "done", "y", frames=75, voice="present")])
    text = s.text()
    assert "voice: 1 present, 0 partial, 1 absent" in text and "voice absent: mute: no audio track" in text


def test_iemocap_uses_the_utterances_own_wav_when_present(tmp_path):
    from emojax.data import load_iemocap
    from emojax.data.worker import complete_voice

    root = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(shared("iemocap_format") / "fixture" / "IEMOCAP_full_release", root)
    wavs = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    _wav(shared("grid") / SWWP, wavs / "Ses01F_impro01_F000.wav")
    items = {it.id: it for it in load_iemocap(root, require_video=False).items}
    f000 = items["Ses01F_impro01_F000"]
    assert f000.audio == str(wavs / "Ses01F_impro01_F000.wav")
    assert all(it.audio is None for k, it in items.items() if k != f000.id)   # placeholders are no wav
    t = np.arange(f000.start, f000.end, 1 / 25.0)
    n = len(t)
    feats = Features(rgb=np.zeros((n, 3)), landmarks=np.zeros((n, 68, 2), np.float32), box=np.zeros((n, 4)),
                     state=np.zeros(n, np.uint8), confidence=np.zeros(n, np.float32), times=t, fps=25.0)
    complete_voice(f000, feats)
    info = feats.source["voice"]
    assert info["codec"] == "pcm_s16le" and info["source_rate"] == 22050
    assert info["track_start"] == pytest.approx(f000.start, abs=0.01)    # the wav's time 0 is the utterance's start
    # the wav's speech at the dialog's times is the GRID clip's own speech, shifted by the start
    own = V.file_voice(wavs / "Ses01F_impro01_F000.wav")
    loud = V.DESCRIPTORS.index("Loudness_sma3")
    assert feats.speech.any()
    assert abs(np.nanmean(feats.voice[:, loud]) - own.summary()["loudness"]) < 0.25


def test_the_cli_reports_voice_in_json_and_a_table(tmp_path, capsys):
    import pandas as pd

    from emojax.cli import main

    csv = tmp_path / "voice.csv"
    assert main(["voice", str(shared("grid") / SWWP), "--json", "--csv", str(csv)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["status"] == "present" and r["frames"] == 75 and r["frames_from"] == "video"
    assert 60 < r["f0_mean_hz"] < 400 and r["f0_range_hz"][0] < r["f0_mean_hz"] < r["f0_range_hz"][1]
    for k in ("speech_share", "loudness", "jitter", "shimmer_db", "hnr_db", "speaking_rate", "seconds_read"):
        assert isinstance(r[k], float), k
    table = pd.read_csv(csv)
    assert list(table.columns) == ["time", "speech", *V.DESCRIPTORS] and len(table) == 75
    assert table.loc[~table["speech"], "Loudness_sma3"].isna().all()
    wav = _wav(shared("grid") / SWWP, tmp_path / "speech.wav")
    assert main(["voice", str(wav), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["frames_from"] == "grid" and r["fps"] == V.AUDIO_ONLY_FPS and r["status"] == "present"
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    assert main(["voice", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "notes.mp4" in err and len(err.splitlines()) == 1


def test_a_grid_carries_voice_speech_only_between_two_speech_frames():
    from emojax.features.timing import regular

    t = np.array([0.0, 0.04, 0.08, 0.16, 0.20, 0.28, 0.32])        # frames dropped at 0.12 and 0.24
    n = len(t)
    voice = np.tile(np.arange(n, dtype=np.float32)[:, None], (1, 25))
    speech = np.array([True, True, True, True, False, True, True])
    voice[~speech] = np.nan
    f = Features(rgb=np.ones((n, 3)), landmarks=np.ones((n, 68, 2), np.float32), box=np.ones((n, 4)),
                 state=np.full(n, 2, np.uint8), confidence=np.ones(n, np.float32), times=t, fps=25.0,
                 voice=voice, speech=speech)
    g = regular(f)
    assert len(g) == 9 and g.voice.shape == (9, 25)
    i12, i24 = 3, 6                                     # grid points at 0.12 s and 0.24 s
    assert g.speech[i12] and g.voice[i12, 0] == pytest.approx(2.5)   # between two speech frames
    assert not g.speech[i24] and np.isnan(g.voice[i24]).all()        # next to a silent one
    assert np.isnan(g.voice[~g.speech]).all()


def test_a_track_becomes_a_16_bit_wav_in_memory_for_the_player_and_its_status_is_said_in_words():
    """``wav_bytes`` (the Signals page's player): a mono 16-bit WAV at 16 kHz holding the very
    samples read (to 16-bit precision), the track's start kept by the caller; ``said`` words the
    statuses as the CLI and the pages show them."""
    import io
    import wave

    from emojax.video import read_audio, wav_bytes

    track = read_audio(shared("cremad") / "1001_DFA_ANG_XX.flv", start=0.5, end=1.5)
    with wave.open(io.BytesIO(wav_bytes(track))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32767.0
    assert len(pcm) == len(track.samples) == 16000 and np.abs(track.samples).max() > 0.1
    assert np.abs(pcm - np.clip(track.samples, -1, 1)).max() <= 0.5 / 32767 + 1e-9
    assert V.said({"status": "absent", "reason": "no audio track"}) == "voice absent: no audio track"
    assert V.said({"status": "present", "reason": None}) == "voice present"
    assert V.said(None).startswith("voice unread: not read")


def test_a_voice_that_cannot_be_read_costs_the_record_nothing_but_its_voice(tmp_path, monkeypatch):
    """openSMILE failing on a track (here made to raise) leaves the face and pulse record whole
    and the voice absent with the reason, rather than failing the video."""
    from emojax.features.pipeline import Extractor

    def broken(track):
        raise RuntimeError("openSMILE stopped")

    clip = shared("grid") / SWWP
    whole = Extractor(ExtractorConfig())(clip)
    monkeypatch.setattr(V, "descriptors", broken)
    feats = Extractor(ExtractorConfig())(clip)
    assert feats.voice_status == "absent" and "openSMILE stopped" in feats.source["voice"]["reason"]
    assert np.isnan(feats.voice).all() and not feats.speech.any()
    assert np.array_equal(feats.landmarks, whole.landmarks, equal_nan=True)
    assert np.array_equal(feats.rgb, whole.rgb, equal_nan=True)


def _voice_only_record(path) -> Features:
    """A record holding only ``path``'s real voice (no face found on any frame)."""
    rec = V.file_voice(path)
    t = len(rec.times)
    return Features(rgb=np.full((t, 3), np.nan), landmarks=np.full((t, 68, 2), np.nan, np.float32),
                    box=np.full((t, 4), np.nan), state=np.zeros(t, np.uint8), confidence=np.zeros(t, np.float32),
                    times=rec.times, fps=rec.fps, voice=rec.voice, speech=rec.speech,
                    source={"path": str(path), "voice": rec.source["voice"]})


def test_unvoiced_speech_is_voice_present_with_voiced_zero_never_masked():
    """CREMA-D's sad clip: openSMILE finds no voiced 10 ms frame in it, so its voiced-only
    descriptors are NaN on every speech frame; masking those frames would make the clip "voice
    absent". It stays present: those descriptors read 0 and the ``voiced`` channel 0."""
    from emojax.data.transforms import F0, VOICE_NAMES, InputConfig, to_arrays
    from emojax.features.modalities import MODALITIES

    v = MODALITIES.index("voice")
    nz = [i for i, d in enumerate(V.DESCRIPTORS) if d in V.VOICED_ONLY]
    folder = shared("cremad")
    sad, ang = (_voice_only_record(folder / f"1001_DFA_{e}_XX.flv") for e in ("SAD", "ANG"))
    assert sad.speech.sum() > 10 and np.isnan(sad.voice[sad.speech][:, F0]).all()   # the data fact
    assert np.isfinite(ang.voice[ang.speech][:, F0]).any()
    for rec in (sad, ang):
        a = to_arrays([rec])
        heard = a["mask"][0, :, v]
        assert a["voice"].shape[-1] == len(VOICE_NAMES) == len(V.DESCRIPTORS) + 1
        assert heard.sum() >= 0.8 * rec.speech.mean() * len(heard), "speech frames masked out"  # edges lost to resampling
        assert np.isfinite(a["voice"]).all()
        voiced = a["voice"][0, heard, -1]
        if rec is sad:
            assert (voiced == 0).all() and (a["voice"][0][np.ix_(heard, nz)] == 0).all()
        else:   # angry speech is voiced on many frames (a fraction between frames once resampled), F0 read there
            assert voiced.mean() > 0.2 and (a["voice"][0, heard, F0][voiced == 1] > 0).all()
    paper = to_arrays([sad], InputConfig(preset="paper", length=len(sad)))   # no resampling: frame for frame
    assert (paper["mask"][0, :, v] == sad.speech).all() and (paper["voice"][0, sad.speech, -1] == 0).all()


def test_a_cut_late_in_an_mpeg_ps_file_reads_the_same_samples_as_the_whole_track():
    """A cut starting 2 s or more into a file seeks first; on GRID's MPEG-PS the seek lands
    mid-frame (FFmpeg: "mp2: Header missing"). The cut is then read from the top: the samples of
    the whole track over its span, its status complete, nothing of the failed seek counted as damage."""
    from emojax.video import read_audio
    from emojax.video.audio import AUDIO_RATE, SEEK_FROM

    path = shared("grid") / "bbaf2n.mpg"
    whole = read_audio(path)
    start = SEEK_FROM + 0.1
    cut = read_audio(path, start=start, end=start + 0.8)
    assert cut.status == "complete" and not cut.damage, (cut.status, cut.damage)
    assert cut.start == pytest.approx(start, abs=1 / AUDIO_RATE) and len(cut.samples) == int(0.8 * AUDIO_RATE)
    i = int(round((cut.start - whole.start) * AUDIO_RATE))
    np.testing.assert_array_equal(cut.samples, whole.samples[i:i + len(cut.samples)])
