"""An audio-only file predicted by a run's voice model alone: a real CREMA-D clip's audio track
written to WAV here (and a GRID clip's audio in a Matroska file without a video stream),
predicted by the library, the CLI and (in test_dashboard) the Predict page; the answer is the
voice model's on the voice arrays built here, and a run that does not read voice refuses it."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from scipy.interpolate import interp1d

from .conftest import shared
from .test_voice import SWWP, _wav

pytestmark = pytest.mark.timeout(900)
CLIP = "1001_DFA_ANG_XX.flv"


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """``(wav, mkv)``: CREMA-D's angry clip's audio track as 16-bit WAV (re-encoded by FFmpeg
    through PyAV), and GRID's swwp2s clip's MP2 audio copied packet for packet into Matroska
    with no video stream."""
    d = tmp_path_factory.mktemp("audio")
    wav = _wav(shared("cremad") / CLIP, d / "angry.wav")
    mkv = d / "voice-only.mkv"
    with av.open(str(shared("grid") / SWWP)) as i, av.open(str(mkv), "w") as o:
        a = i.streams.audio[0]
        oa = o.add_stream_from_template(a)
        for pkt in i.demux(a):
            if pkt.dts is None:
                continue
            pkt.stream = oa
            o.mux(pkt)
    return wav, mkv


@pytest.fixture(scope="module")
def voice_reading_run(teaching_run):
    """A run with a voice model: the session's improved teaching run (the teaching clips speak,
    so the improved preset reads their voice; the dashboard's demo run is this one)."""
    from emojax.estimator import TrainedRun

    run, _, _ = teaching_run(1.0)
    assert "voice" in TrainedRun(run).model_names, "the improved teaching run reads the voice"
    return run


@pytest.fixture(scope="module")
def two_modality_run(teaching_set, tmp_path_factory):
    """A run of the pulse and the landmarks only (the paper's two), one epoch."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    root = teaching_set(1.0)
    out = tmp_path_factory.mktemp("runs") / "two"
    train_run(run_config("teaching", root, preset="improved", protocol="holdout", store=str(root / "store"), epochs=1,
                         modalities=("rppg", "face")), out, workers=1)
    return out


def voice_model_directly(path, run) -> np.ndarray:
    """The run's voice model on the file's voice arrays built here from its descriptors
    (:func:`emojax.features.voice.file_voice`): the 25 descriptors and ``voiced``, resampled to
    the run's length, masked outside speech; the pulse and the landmarks never observed."""
    from emojax.data.transforms import VOICE_NAMES
    from emojax.estimator import TrainedRun
    from emojax.features import voice as V
    from emojax.features.modalities import MIN_FRAMES

    trained = TrainedRun(run)
    assert trained.inputs.preset == "improved" and not trained.speaker_relative
    rec = V.file_voice(path)
    assert rec.source["frames"] == "grid" and rec.fps == V.AUDIO_ONLY_FPS
    d = rec.voice.astype(np.float64)
    nz = np.array([n in V.VOICED_ONLY for n in V.DESCRIPTORS])
    voiced = rec.speech & np.isfinite(d[:, nz]).all(axis=1)
    d[np.ix_(rec.speech & ~voiced, nz)] = 0.0                     # speech, but no voiced 10 ms frame
    x = np.hstack([d, voiced[:, None].astype(float)])
    x[~rec.speech] = np.nan
    valid = rec.speech & np.isfinite(x).all(axis=1)
    assert valid.sum() >= MIN_FRAMES and x.shape[1] == len(VOICE_NAMES)
    n, t = trained.inputs.length, len(x)
    at = np.linspace(0, t - 1, n)
    v = voiced.astype(float)
    v[~rec.speech] = np.nan
    x = interp1d(np.arange(t), x, axis=0)(at)
    # between a voiced and an unvoiced speech frame, the voiced-only descriptors and `voiced` are
    # the nearer frame's (never a blend of a measured pitch with the 0 of an unvoiced frame)
    lo = np.clip(np.floor(at).astype(int), 0, t - 2)
    near = np.where(at - lo <= 0.5, lo, lo + 1)
    mixed = np.isfinite(v[lo]) & np.isfinite(v[lo + 1]) & (v[lo] != v[lo + 1])
    cols = np.r_[np.flatnonzero(nz), d.shape[1]]
    x[np.ix_(mixed, cols)] = np.hstack([d, voiced[:, None].astype(float)])[np.ix_(near[mixed], cols)]
    seen = (interp1d(np.arange(t), valid.astype(float))(at) > 0.5) & np.isfinite(x).all(axis=1)
    mask = np.zeros((1, n, 3), bool)
    mask[0, :, 2] = seen
    # the pulse and the landmarks: never observed (mask False); their values are the zeros every masked frame has
    arrays = {m: np.zeros((1, n, trained.spec.channels_of(m)), np.float32) for m in ("rppg", "face")}
    arrays.update(voice=np.where(seen[:, None], x, 0.0)[None].astype(np.float32), mask=mask)
    return trained.classifier("voice").predict_proba(arrays)[0]


def test_an_audio_file_is_predicted_by_the_voice_model_alone_and_says_so(audio, voice_reading_run):
    from emojax.inference import AUDIO_ONLY_NOTE, predict_video
    from emojax.video import audio_only

    wav, mkv = audio
    assert audio_only(wav) and audio_only(mkv) and not audio_only(shared("cremad") / CLIP)
    r = predict_video(wav, voice_reading_run)
    assert r["audio_only"] is True and r["model"] == "voice" and list(r["models"]) == ["voice"]
    assert r["note"] == AUDIO_ONLY_NOTE == "audio only: the voice model alone answered" and AUDIO_ONLY_NOTE in r["notes"]
    assert r["modalities"] == ["voice"] and r["absent"] == ["rppg", "face"] and r["face_ratio"] == 0.0
    assert r["models"]["voice"]["modalities"] == ["voice"] and not r["models"]["voice"]["prior_only"]
    expected = voice_model_directly(wav, voice_reading_run)
    got = [r["models"]["voice"]["proba"][c] for c in r["classes"]]
    assert np.allclose(got, expected, atol=1e-6), (got, expected)
    assert r["label"] == r["classes"][int(np.argmax(expected))]
    # a container without a video stream is audio only too
    m = predict_video(mkv, voice_reading_run)
    assert m["audio_only"] and list(m["models"]) == ["voice"]
    assert np.allclose([m["models"]["voice"]["proba"][c] for c in m["classes"]],
                       voice_model_directly(mkv, voice_reading_run), atol=1e-6)


def test_a_run_without_voice_refuses_an_audio_file_naming_it(audio, two_modality_run):
    from emojax.errors import EmojaxError
    from emojax.inference import predict_video

    wav, _ = audio
    with pytest.raises(EmojaxError, match=r"angry\.wav: audio only .*does not read voice \(it reads pulse and "
                                          r"landmarks\)"):
        predict_video(wav, two_modality_run)


def test_the_cli_predicts_an_audio_file_and_says_the_voice_model_answered(audio, voice_reading_run,
                                                                         two_modality_run, capsys):
    from emojax.cli import main

    wav, _ = audio
    assert main(["predict", str(wav), "--run", str(voice_reading_run), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "voice" and shown["audio_only"] is True and list(shown["models"]) == ["voice"]
    assert np.allclose([shown["models"]["voice"]["proba"][c] for c in shown["classes"]],
                       voice_model_directly(wav, voice_reading_run), atol=1e-6)
    assert main(["predict", str(wav), "--run", str(voice_reading_run)]) == 0
    out = capsys.readouterr().out
    assert f"angry.wav: {shown['label']} (voice model alone)" in out
    assert "note: audio only: the voice model alone answered" in out and "early_fusion" not in out
    assert main(["predict", str(wav), "--run", str(two_modality_run)]) == 2
    err = capsys.readouterr().err
    assert "angry.wav: audio only" in err and "does not read voice" in err


def test_emojax_voice_reads_a_container_without_video_on_a_grid(audio):
    """``emojax voice`` on a Matroska file with audio and no video stream: frames on the audio-only
    grid, as for a WAV (before, it asked for a video stream)."""
    from emojax.features import voice as V

    _, mkv = audio
    rec = V.file_voice(mkv)
    assert rec.source["frames"] == "grid" and rec.fps == V.AUDIO_ONLY_FPS and rec.speech.any()
    f = V.audio_features(mkv)
    assert f.source["audio_only"] and not f.face_found.any() and np.isnan(f.rgb).all() and np.isnan(f.landmarks).all()
    assert np.array_equal(f.speech, rec.speech)
