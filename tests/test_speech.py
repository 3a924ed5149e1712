"""The synthetic voice: what is planted (F0 contour, loudness, speaking rate, breathiness, class
prosody) is what openSMILE's eGeMAPS descriptors read back, and the teaching clips carry it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emojax.data.speech import FS, Prosody, synthesise
from emojax.data.teaching import TEACHING_CLASSES, VOICE_PROFILES, actor_voice, clip_voice

F0 = "F0semitoneFrom27.5Hz_sma3nz"
#: eGeMAPS' F0 is found over a 60 ms window from each frame's start, then smoothed over 3 frames
#: (the "_sma3" of its name)
F0_WINDOW_S, SMA = 0.060, 3


@pytest.fixture(scope="module")
def smile():
    opensmile = pytest.importorskip("opensmile")
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.LowLevelDescriptors)


def _lld(smile, audio: np.ndarray, fs: int = FS):
    """eGeMAPS low-level descriptors, and each frame's start (s)."""
    df = smile.process_signal(audio, fs)
    return df, df.index.get_level_values("start").total_seconds().to_numpy()


def _planted_st(voice, starts: np.ndarray) -> np.ndarray:
    """The planted F0 (semitones above 27.5 Hz) as eGeMAPS sees it: averaged over each frame's
    window, then over 3 frames (NaN where no planted vowel is in view)."""
    st = 12 * np.log2(voice.f0 / 27.5)
    k0 = np.rint(starts / 0.01).astype(int)
    n = int(round(F0_WINDOW_S / 0.01))
    win = np.array([st[k:k + n] for k in np.minimum(k0, len(st) - n)])       # (frames, 6)
    total, count = np.nansum(win, axis=1), np.isfinite(win).sum(axis=1)
    kernel = np.ones(SMA)
    total, count = np.convolve(total, kernel, "same"), np.convolve(count, kernel, "same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _onsets(voiced: np.ndarray, bridge: int = 2, least: int = 5) -> int:
    """Voiced runs of at least ``least`` frames once gaps of up to ``bridge`` frames are closed."""
    v = voiced.astype(int)
    edges = np.flatnonzero(np.diff(np.r_[0, v, 0]))
    starts, ends = edges[::2], edges[1::2]
    keep = [[starts[0], ends[0]]] if len(starts) else []
    for s, e in zip(starts[1:], ends[1:]):
        if s - keep[-1][1] <= bridge:
            keep[-1][1] = e
        else:
            keep.append([s, e])
    return sum(e - s >= least for s, e in keep)


#: three voices apart in F0, accents and rate (low and slow, middle, high and fast)
VOICES = [Prosody(f0_hz=105, accent_st=1.5, rate_syl_s=3.0, breathiness=0.2),
          Prosody(f0_hz=170, accent_st=3.0, rate_syl_s=4.5, breathiness=0.4, formant_scale=1.1),
          Prosody(f0_hz=260, accent_st=5.0, rate_syl_s=6.0, breathiness=0.5, formant_scale=1.15)]


@pytest.fixture(scope="module")
def spoken(smile):
    """Each of :data:`VOICES` for 3 s, and what openSMILE reads from it."""
    out = []
    for i, p in enumerate(VOICES):
        v = synthesise(3.0, p, np.random.default_rng([3, i]))
        out.append((v, *_lld(smile, v.audio)))
    return out


def test_the_planted_f0_contour_is_what_opensmile_reads(spoken):
    for v, df, starts in spoken:
        planted, read = _planted_st(v, starts), df[F0].to_numpy()
        centre = np.minimum(np.rint(starts / 0.01).astype(int) + 3, len(v.f0) - 1)
        heard = (read > 0)[np.isfinite(v.f0[centre])].mean()        # windows centred in a planted vowel
        assert heard >= 0.9, f"openSMILE hears voice in only {heard:.0%} of the planted vowels' frames"
        both = np.isfinite(planted) & (read > 0)
        err = np.abs(read[both] - planted[both])
        # measured (README): median 0.06-0.19, 90th percentile 0.14-0.68 semitone
        assert np.median(err) < 0.25 and np.percentile(err, 90) < 1.0, (v.prosody, np.percentile(err, [50, 90]))
        # the contour moves (declination, accents), and is followed, not only its mean
        assert np.ptp(planted[both]) > 2.0
        assert np.corrcoef(read[both], planted[both])[0, 1] > 0.8


def test_the_planted_speaking_rate_is_recovered_from_voiced_onsets(spoken):
    rates = []
    for v, df, _ in spoken:
        found = _onsets(df[F0].to_numpy() > 0)
        assert abs(found - len(v.onsets_s)) <= max(1, 0.1 * len(v.onsets_s)), (found, len(v.onsets_s))
        rates.append(found / v.seconds)
    assert rates == sorted(rates) and rates[-1] > 1.5 * rates[0]     # VOICES are planted ever faster


def test_a_breathier_voice_has_a_lower_harmonics_to_noise_ratio(smile):
    hnr = []
    for b in (0.2, 0.6, 1.0):
        v = synthesise(3.0, Prosody(f0_hz=180, breathiness=b), np.random.default_rng(5))  # the same words
        df, _ = _lld(smile, v.audio)
        voiced = df[F0].to_numpy() > 0
        hnr.append(float(df["HNRdBACF_sma3nz"].to_numpy()[voiced].mean()))
    assert hnr[0] > hnr[1] + 0.5 > hnr[2] + 1.0, hnr


def test_the_same_seed_gives_the_same_voice_and_the_truth_says_what_was_planted():
    p = Prosody(f0_hz=140, level_db=3.0, breathiness=0.7)
    a, b = synthesise(1.5, p, np.random.default_rng(9)), synthesise(1.5, p, np.random.default_rng(9))
    assert np.array_equal(a.audio, b.audio) and len(a.audio) == int(1.5 * FS) and a.audio.dtype == np.float32
    t = a.truth()
    assert t["level_db"] == 3.0 and t["breathiness"] == 0.7 and abs(t["hnr_db"] - p.hnr_db) < 1e-6
    assert abs(t["f0_st"] - 12 * np.log2(140 / 27.5)) < 2.0 and t["syllables"] == len(a.onsets_s) >= 3
    with pytest.raises(ValueError, match="breathiness"):
        Prosody(breathiness=1.5)
    short = synthesise(0.2, p, np.random.default_rng(9))         # too short for a syllable: silence, said
    assert short.truth()["syllables"] == 0 and short.truth()["f0_st"] is None and short.truth()["hnr_db"] is None
    assert np.abs(short.audio).max() < 0.01
    json.dumps(short.truth(), allow_nan=False)


def test_at_voice_info_zero_every_class_speaks_alike():
    """Exactly: the same draws give the same prosody whatever the class."""
    actor = actor_voice(np.random.default_rng(1))
    same = {label: clip_voice(actor, label, 0.0, np.random.default_rng(2)) for label in TEACHING_CLASSES}
    assert len(set(same.values())) == 1
    moved = {label: clip_voice(actor, label, 1.0, np.random.default_rng(2)) for label in TEACHING_CLASSES}
    assert len(set(moved.values())) == len(TEACHING_CLASSES)


CLIPS_PER_CLASS, ACTORS, CLIP_S = 8, 4, 1.0


@pytest.fixture(scope="module")
def class_voices(smile):
    """``class_voices(voice_info) -> {class: [(actor, mean F0 st, mean loudness)]}``: 8 one-second
    clips per class (2 per actor), read by openSMILE in one pass over the clips laid end to end."""
    cache = {}

    def get(voice_info: float):
        if voice_info in cache:
            return cache[voice_info]
        actors = [actor_voice(np.random.default_rng([0, a])) for a in range(ACTORS)]
        plan = [(label, k % ACTORS) for label in TEACHING_CLASSES for k in range(CLIPS_PER_CLASS)]
        audio = []
        for i, (label, a) in enumerate(plan):
            rng = np.random.default_rng([1, i])
            audio.append(synthesise(CLIP_S, clip_voice(actors[a], label, voice_info, rng), rng).audio)
        df, starts = _lld(smile, np.concatenate(audio))
        out: dict = {label: [] for label in TEACHING_CLASSES}
        for i, (label, a) in enumerate(plan):   # each clip's frames, away from its joins
            rows = df[(starts >= i * CLIP_S + 0.06) & (starts < (i + 1) * CLIP_S - 0.07)]
            f0 = rows[F0].to_numpy()
            out[label].append((a, float(f0[f0 > 0].mean()), float(rows["Loudness_sma3"].mean())))
        cache[voice_info] = out
        return out

    return get


def _normalised(per_class: dict, which: int) -> list[np.ndarray]:
    """Each clip's value minus its actor's mean over all classes (speaker normalisation)."""
    rows = [r for v in per_class.values() for r in v]
    actor_mean = {a: np.mean([r[which] for r in rows if r[0] == a]) for a in {r[0] for r in rows}}
    return [np.array([r[which] - actor_mean[r[0]] for r in v]) for v in per_class.values()]


def test_loudness_follows_the_planted_class_order_at_full_voice_info(class_voices):
    loud = {label: np.mean([r[2] for r in rows]) for label, rows in class_voices(1.0).items()}
    planted = sorted(VOICE_PROFILES, key=lambda c: VOICE_PROFILES[c].level_db)
    assert sorted(loud, key=loud.get) == planted, loud            # calm < sad < happy < angry


@pytest.mark.parametrize("voice_info", [0.0, 1.0])
def test_class_means_of_f0_and_loudness_differ_only_when_planted(class_voices, voice_info):
    """One-way ANOVA over the four classes, speaker-normalised, 8 clips each: p > 0.01 with no
    voice information (indistinguishable), p < 0.001 at full information (the same test sees it)."""
    from scipy.stats import f_oneway

    per_class = class_voices(voice_info)
    p = {name: f_oneway(*_normalised(per_class, which)).pvalue for name, which in (("F0", 1), ("loudness", 2))}
    if voice_info == 0.0:
        assert min(p.values()) > 0.01, p
    else:
        assert max(p.values()) < 0.001, p


def _video_only(src, dst):
    """A copy of ``src`` without its audio: the video packets copied as they are (PyAV)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for pkt in inp.demux(vin):
            if pkt.dts is not None:
                pkt.stream = vout
                out.mux(pkt)
    return dst


def test_a_teaching_clip_carries_its_voice_and_its_pictures_do_not_depend_on_it(tmp_path, smile, extractor):
    import av
    from scipy.signal import resample_poly

    from emojax.data.teaching import TeachingConfig, make_teaching_set

    def packets(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]

    roots = {}
    for vi in (0.0, 1.0):
        roots[vi] = tmp_path / f"vi{vi}"
        make_teaching_set(roots[vi], TeachingConfig(clips_per_class=1, seconds=1.0, size=96, groups=1,
                                                    voice_info=vi, seed=4), workers=1)
    for clip in sorted(roots[1.0].glob("*.mp4")):
        assert packets(clip) == packets(roots[0.0] / clip.name)        # the voice leaves the pictures alone
        truth = json.loads(clip.with_suffix(".json").read_text())
        assert truth["voice"]["voice_info"] == 1.0
        assert {"f0_hz", "f0_st", "level_db", "rate_syl_s", "onsets_per_s", "hnr_db"} <= set(truth["voice"])
        with av.open(str(clip)) as c:
            video_s = c.streams.video[0].frames / float(c.streams.video[0].average_rate)
            rate = c.streams.audio[0].sample_rate
            audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
        assert video_s == truth["frames"] / truth["fps"]
        assert abs(len(audio) / rate - video_s) <= 1 / truth["fps"], (len(audio) / rate, video_s)
        df, _ = _lld(smile, resample_poly(audio, FS, rate).astype(np.float32))
        f0 = df[F0].to_numpy()
        assert abs(f0[f0 > 0].mean() - truth["voice"]["f0_st"]) < 0.5     # what the JSON says is in the file
    clip = sorted(roots[1.0].glob("*.mp4"))[0]                             # the audio track changes no feature
    with_audio, without = extractor(clip), extractor(_video_only(clip, tmp_path / "silent.mp4"))
    assert with_audio.face_ratio > 0.9
    for name in ("rgb", "landmarks", "box", "state", "times"):
        assert np.array_equal(getattr(with_audio, name), getattr(without, name), equal_nan=True), name
