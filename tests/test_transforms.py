"""Feature records -> model arrays: the paper's raw padding and the improved normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from emojax.data.transforms import InputConfig, align_shapes, presence, to_arrays
from emojax.features import Features


def record(t: int, seed: int = 0, missing: slice | None = None, shift=(0.0, 0.0), scale=1.0, angle=0.0) -> Features:
    rng = np.random.default_rng(seed)
    base = rng.uniform(-1, 1, (68, 2))
    c, s = np.cos(angle), np.sin(angle)
    lm = np.repeat((base @ np.array([[c, -s], [s, c]]).T * 40 * scale + (200, 150) + shift)[None], t, axis=0)
    lm = lm + rng.normal(0, 0.1, lm.shape)
    times = np.arange(t) / 30.0
    rgb = np.c_[150 + np.sin(2 * np.pi * 1.2 * times), 100 + 2 * np.sin(2 * np.pi * 1.2 * times), np.full(t, 80.0)]
    found = np.ones(t, bool)
    if missing is not None:
        found[missing] = False
        lm[missing] = np.nan
        rgb[missing] = np.nan
    return Features(rgb=rgb, landmarks=lm.astype(np.float32), box=np.zeros((t, 4)), state=found.astype(np.uint8) * 2,
                    confidence=found.astype(np.float32), times=times, fps=30.0, config={"roi": "skin"})


def test_paper_preset_zero_pads_raw_values_to_the_longest():
    recs = [record(50), record(80, seed=1, missing=slice(10, 20))]
    a = to_arrays(recs, InputConfig(preset="paper", length=None))
    assert a["rppg"].shape == (2, 80, 3) and a["face"].shape == (2, 80, 136) and a["mask"].shape == (2, 80, 3)
    assert a["voice"].shape == (2, 80, 26) and not a["mask"][..., 2].any()   # 25 descriptors + voiced; no voice read: absent, zeros
    assert np.allclose(a["rppg"][0, :50], recs[0].rgb) and (a["rppg"][0, 50:] == 0).all()
    assert np.allclose(a["face"][0, :50], recs[0].landmarks.reshape(50, -1))
    assert a["mask"][..., :2][0, :50].all() and not a["mask"][..., :2][0, 50:].any()          # both modalities
    assert not a["mask"][..., :2][1, 10:20].any() and (a["face"][1, 10:20] == 0).all() and a["mask"][..., :2][1, 20:].all()


def test_improved_preset_fixed_length_and_channels():
    recs = [record(90), record(300, seed=1, missing=slice(0, 30))]
    a = to_arrays(recs, InputConfig(length=64), speakers=["s1", "s2"])
    assert a["rppg"].shape == (2, 64, 3) and a["face"].shape == (2, 64, 272)
    assert np.isfinite(a["rppg"]).all() and np.isfinite(a["face"]).all()
    assert a["mask"][..., :2][0].all() and not a["mask"][..., :2][1, :5].any() and a["mask"][..., :2][1, 10:].all()


def test_alignment_removes_translation_scale_and_rotation():
    a, b = record(5), record(5, shift=(37.0, -12.0), scale=1.8, angle=0.4)
    al = align_shapes(np.concatenate([a.landmarks, b.landmarks]))
    assert np.abs(al[:5] - al[5:]).max() < 0.02
    assert np.isnan(align_shapes(np.full((3, 68, 2), np.nan))).all()


def test_speaker_relative_shapes_differ_only_by_expression_and_need_speakers():
    # two speakers with different faces; relative to each speaker's mean, both are ~0
    recs = [record(40, seed=1), record(40, seed=2)]
    a = to_arrays(recs, InputConfig(length=40, speaker_relative=True), speakers=["p", "q"])
    assert a["mask"][..., :2].all()
    assert np.abs(a["face"][:, :, :136]).max() < 0.05
    b = to_arrays(recs, InputConfig(length=40), speakers=["p", "q"])     # the default: each video on its own
    assert np.abs(b["face"][0, :, :136] - b["face"][1, :, :136]).max() > 0.1
    alone = to_arrays(recs[:1], InputConfig(length=40))
    assert np.array_equal(alone["face"][0], b["face"][0])               # the other videos change nothing
    with pytest.raises(ValueError, match="speaker of every video"):
        to_arrays(recs, InputConfig(length=40, speaker_relative=True))


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="paper"):
        InputConfig(preset="fancy")
    with pytest.raises(ValueError, match="pos"):
        InputConfig(rppg_method="ica")
    with pytest.raises(ValueError, match="at least one"):
        to_arrays([])


def test_improved_rppg_channels_keep_long_gaps_missing_and_short_clips_usable():
    """A 2 s stretch without a face stays masked in the model inputs; a 0.2 s gap is bridged by
    the pulse but masked (no face), its neighbours kept; a clip too short for a heart rate still
    has its pulse (rate and quality 0, not missing)."""
    long_gap = to_arrays([record(600, missing=slice(240, 300))], InputConfig(length=600))
    m = long_gap["mask"][..., :2][0]
    assert not m[240:300].any() and m[:240].all() and m[300:].all()
    assert (long_gap["rppg"][0, 240:300] == 0).all() and np.abs(long_gap["rppg"][0, 300:, 1]).min() > 0
    short_gap = to_arrays([record(600, missing=slice(240, 246))], InputConfig(length=600))["mask"][..., :2][0]
    assert not short_gap[240:246].any() and short_gap[:240].all() and short_gap[246:].all()
    short = to_arrays([record(50)], InputConfig(length=50))   # 1.7 s: a pulse, too short to tell a rate
    assert short["mask"][..., :2].all() and (short["rppg"][0, :, 1:] == 0).all() and np.abs(short["rppg"][0, :, 0]).max() > 0


def test_each_modality_has_its_own_mask_and_a_missing_pulse_never_hides_a_face():
    """A 0.8 s clip has landmarks but no pulse (a pulse needs a 1 s segment): the landmarks stay
    valid; a 0.7 s stretch of face between two gaps inside a long clip keeps its landmarks too.
    A face on 5 frames is too little for either modality, and says why."""
    clip = record(24)                                         # 0.8 s at 30 fps
    a = to_arrays([clip], InputConfig(length=40))
    assert a["mask"][0, :, 1].all() and not a["mask"][0, :, 0].any()
    assert (a["rppg"][0] == 0).all() and np.abs(a["face"][0]).max() > 0
    why = presence(clip, InputConfig(length=40))
    assert why["face"] is None and "valid on no frame" in why["rppg"]
    gaps = record(300, missing=slice(0, 100))
    gaps.state[121:] = 0                                      # face on frames 100-120 only (0.7 s)
    gaps.landmarks[121:] = np.nan
    b = to_arrays([gaps], InputConfig(length=300))
    assert b["mask"][0, 100:121, 1].all() and not b["mask"][0, :, 0].any()
    few = record(60, missing=slice(5, 60))
    why = presence(few, InputConfig(length=60))
    assert "only 5 frame(s)" in why["face"] and why["rppg"]
    assert not to_arrays([few], InputConfig(length=60))["mask"].any()
    paper = to_arrays([clip], InputConfig(preset="paper", length=None))   # the paper reads the box colour
    assert paper["mask"][..., :2][0].all()


def test_a_grayscale_video_has_no_pulse():
    grey = record(120)
    grey.rgb[:] = grey.rgb[:, :1]
    assert "no colour" in presence(grey, InputConfig(length=64))["rppg"]
    for preset in ("paper", "improved"):
        m = to_arrays([grey], InputConfig(preset=preset, length=64))["mask"][..., :2][0]
        assert m[:, 1].all() and not m[:, 0].any()


def test_the_minimum_is_judged_on_what_reaches_the_models():
    """A face on 20 scattered frames of a 60 s clip passes the frame count but none of them
    survives resampling to 150 frames; a paper input cut to 75 frames loses a face that appears
    only after frame 100: both modalities are then absent, saying why, never an empty input
    that looks present (review)."""
    sparse = record(1800, missing=slice(0, 1800))
    sparse.state[::90] = 2
    sparse.landmarks[::90] = record(20).landmarks
    why = presence(sparse, InputConfig(length=150))
    assert "survives resampling to 150 frames" in why["face"]
    assert not to_arrays([sparse], InputConfig(length=150))["mask"].any()
    late = record(200, missing=slice(0, 100))
    why = presence(late, InputConfig(preset="paper", length=75))
    assert all("within the 75 frames the models read" in w for m, w in why.items() if m != "voice")
    why = presence(late, InputConfig(preset="paper", length=None))
    assert why["rppg"] is None and why["face"] is None
    assert late.voice is None and "not read" in why["voice"] and "extract again" in why["voice"]   # no voice read here


def with_voice(f: Features, kind: np.ndarray, f0: float = 30.0, seed: int = 0) -> Features:
    """``f`` with a voice whose frames are silent (``kind`` 0), unvoiced speech (1: the voiced-only
    descriptors NaN, as read) or voiced speech (2: each voiced-only descriptor a constant, F0
    ``f0`` semitones), the other descriptors varying."""
    from emojax.features import voice as V

    rng = np.random.default_rng(seed)
    only = np.array([d in V.VOICED_ONLY for d in V.DESCRIPTORS])
    v = rng.uniform(0.5, 1.5, (len(f), len(V.DESCRIPTORS)))
    v[:, only] = np.arange(1, only.sum() + 1) * 2.0
    v[:, V.DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")] = f0
    v[np.ix_(kind == 1, only)] = np.nan
    v[kind == 0] = np.nan
    f.voice, f.speech = v.astype(np.float32), kind > 0
    f.source["voice"] = {"status": "present"}
    return f


@pytest.mark.parametrize("length", [64, 150, 233])
def test_resampling_never_blends_a_voiced_frame_with_an_unvoiced_one(length):
    """Runs of voiced speech (F0 30 semitones), unvoiced speech (F0 read as 0, ``voiced`` 0) and
    silence, resampled down and up: a voiced-only value is either what the voiced frames hold or
    0 beside ``voiced`` 0, never a blend of the two; ``voiced`` is 0 or 1; a point is voice only
    where its nearest frame holds speech."""
    from emojax.data.transforms import F0, VOICE_NAMES, VOICED_ONLY_CHANNELS

    rng = np.random.default_rng(1)
    kind = np.repeat(rng.choice([0, 1, 2, 2], 40), rng.integers(1, 6, 40))[:150]
    f = with_voice(record(len(kind)), kind)
    a = to_arrays([f], InputConfig(length=length))
    v, m = a["voice"][0].astype(np.float64), a["mask"][0, :, 2]
    voiced = v[:, VOICE_NAMES.index("voiced")]
    assert m.sum() > length // 4 and (voiced[m] == 1).any() and (voiced[m] == 0).any()
    assert set(np.unique(voiced)) <= {0.0, 1.0}
    assert not ((v[m, F0] > 0) & (v[m, F0] < 30)).any()
    expected = np.nan_to_num(f.voice[:, VOICED_ONLY_CHANNELS][kind == 2][0]).astype(np.float32)
    assert np.array_equal(v[m][voiced[m] == 1][:, VOICED_ONLY_CHANNELS], np.tile(expected, ((voiced[m] == 1).sum(), 1)))
    assert (v[m][voiced[m] == 0][:, VOICED_ONLY_CHANNELS] == 0).all()
    nearest = np.rint(np.linspace(0, len(kind) - 1, length)).astype(int)
    assert (kind[nearest][m] > 0).all()


def test_an_unusable_voice_says_why_in_the_records_own_words(tmp_path):
    """Each kind of voice a video cannot give the models, read by openSMILE from real samples
    (a tone, silence) or from a file that is no audio: not read, no audio track, an audio that
    could not be read, silence, too little speech. Only the one without a track says so."""
    from emojax.features import voice as V
    from emojax.video import AUDIO_RATE, AudioTrack

    t = np.arange(2 * AUDIO_RATE) / AUDIO_RATE
    silence = np.zeros_like(t, np.float32)
    blip = np.where((t > 1.0) & (t < 1.15), 0.5 * np.sin(2 * np.pi * 200 * t), 0.0).astype(np.float32)
    bogus = tmp_path / "clip.mp4"
    bogus.write_text("not a video")
    records = {
        "unread": record(60),
        "no track": V.attach(record(60), AudioTrack(str(bogus), np.zeros(0, np.float32), status="absent")),
        "unreadable": V.read_voice(record(60), bogus),
        "silent": V.attach(record(60), AudioTrack("a.wav", silence, codec="pcm_s16le")),
        "too short": V.attach(record(60), AudioTrack("b.wav", blip, codec="pcm_s16le")),
    }
    assert [f.voice_status for f in records.values()] == ["unread", "absent", "absent", "partial", "partial"]
    why = {k: presence(f, InputConfig(length=60))["voice"] for k, f in records.items()}
    assert "not read" in why["unread"]
    assert why["no track"] == "the file has no audio track"
    assert "clip.mp4" in why["unreadable"] and records["unreadable"].source["voice"]["reason"] == why["unreadable"]
    assert why["silent"] == "speech valid on no frame"
    n = int(records["too short"].speech.sum())
    assert 0 < n < 8 and why["too short"].startswith(f"speech valid on only {n} frame(s)")
    assert [k for k, w in why.items() if "audio track" in w] == ["no track"]


def test_a_video_with_nothing_to_predict_from_is_refused_naming_every_modality_of_the_run():
    """A face on 3 frames and a silent voice: a run of the three modalities refuses the video
    saying what each lacks, the voice among them; a run of the voice alone does not speak of
    the face."""
    from emojax.errors import NoFaceError
    from emojax.features.modalities import MODALITIES
    from emojax.inference import predictable

    f = with_voice(record(60, missing=slice(3, 60)), np.zeros(60, int))
    f.source["voice"] = {"status": "partial", "reason": "speech valid on no frame"}
    with pytest.raises(NoFaceError) as e:
        predictable(f, "clip.mp4", InputConfig(length=60), MODALITIES)
    said = str(e.value)
    assert said.startswith("clip.mp4: a face on only 3 frame(s) (0.10 s); a prediction needs at least 8 frames")
    assert "0.5 s of pulse or landmarks or voice (" in said and "voice: speech valid on no frame" in said
    assert "landmarks: valid on only 3 frame(s)" in said
    with pytest.raises(NoFaceError) as e:
        predictable(with_voice(record(60), np.zeros(60, int)), "clip.mp4", InputConfig(length=60), ("voice",))
    assert str(e.value) == ("clip.mp4: a prediction needs at least 8 frames and 0.5 s of voice "
                            "(voice: speech valid on no frame)")
