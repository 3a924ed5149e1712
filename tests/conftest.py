"""Shared fixtures. Real media come from ../shared/data; tests needing it skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test saying why."""
    p = SHARED / sub
    if not p.is_dir():
        pytest.skip(f"real test media not available: {p} is absent (it lives beside the repository)")
    return p


@pytest.fixture(scope="session")
def predictor():
    from emojax.features.landmarks import LandmarkPredictor

    return LandmarkPredictor()


@pytest.fixture(scope="session")
def extractor(predictor):
    from emojax.features import Extractor

    return Extractor(predictor=predictor)


#: real talking faces chained into one longer clip (a cut at each join), that several tests plant a
#: pulse into: (folder of ../shared/data, its files in order; None: every .flv, sorted)
CHAINS = {"grid": ("grid", ("bbaf2n.mpg", "brbk7n.mpg", "lbax4n.mpg", "lbbc2a.mpg")), "cremad": ("cremad", None)}


def chain_files(name: str) -> list[Path]:
    """The files of :data:`CHAINS` ``[name]``, in order (skips the test when they are absent)."""
    sub, names = CHAINS[name]
    folder = shared(sub)
    return [folder / n for n in names] if names else sorted(folder.glob("*.flv"))


@pytest.fixture(scope="session")
def chain(predictor):
    """``chain(name) -> (frames, fps, points)``: the clips of :data:`CHAINS` ``[name]`` one after
    the other (``emojax.data.planted.chained``, read anew for each caller) and dlib's 68 points on
    every frame (``planted.face_points``, found once per session)."""
    from emojax.data.planted import chained, face_points

    points: dict = {}

    def get(name: str):
        frames, fps = chained(chain_files(name))
        if name not in points:
            points[name] = face_points(frames, predictor)
        return frames, fps, points[name]

    return get


def write_video(path: Path, frames, fps: float, fourcc: str = "mp4v") -> Path:
    """Write BGR frames with OpenCV (a real encoder, as users' files are)."""
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert wr.isOpened(), f"cannot write {fourcc} to {path}"
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def faststart_mp4(path: Path, frames, fps: float, bit_rate: int = 1_000_000) -> Path:
    """An MPEG-4 mp4 with its index (moov) at the front, as phones and web tools write them,
    so that a truncated copy still opens (written with PyAV)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream("mpeg4", rate=int(fps))
        s.width, s.height, s.pix_fmt, s.bit_rate = w, h, "yuv420p", bit_rate
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(s.encode())
    return path


def write_lossless(path: Path, frames, fps: float, times=None) -> Path:
    """FFV1 in Matroska (lossless, with PyAV): what is planted in the pixels arrives intact.
    ``times``: each frame's presentation time in seconds (a variable frame rate), else i / fps;
    they may repeat or run back (a muxer's glitch, as some phones' files have): each packet is
    then given its time directly, its decoding time kept increasing as the muxer demands."""
    import av
    from fractions import Fraction

    h, w = frames[0].shape[:2]
    ms = Fraction(1, 1000)
    glitch = times is not None and not np.all(np.diff(times) > 0)
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt = w, h, "bgr0"
        if times is not None:
            s.codec_context.time_base = ms
        for i, (f, t) in enumerate(zip(frames, times if times is not None else [None] * len(frames))):
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            if t is not None:
                frame.pts, frame.time_base = (i if glitch else int(round(t * 1000))), ms
            for p in s.encode(frame):      # FFV1 is intra-only: one packet per frame, at once
                if glitch:
                    p.pts, p.dts, p.time_base = int(round(t * 1000)), i, ms
                out.mux(p)
        out.mux(s.encode())
    return path


def lie_about_length(src: Path, dst: Path, claim: int) -> Path:
    """A copy of an mp4 written by OpenCV (one entry in its time-to-sample table) whose header
    lies: it claims ``claim`` frames, as a damaged or hostile file may."""
    import struct

    data = bytearray(Path(src).read_bytes())
    at = data.find(b"stts")
    assert at > 0 and struct.unpack(">I", data[at + 8:at + 12])[0] == 1, f"{src}: expected one stts entry"
    data[at + 12:at + 16] = struct.pack(">I", claim)
    dst.write_bytes(bytes(data))
    return dst


#: a pulse planted flat (one colour signature, as strong and as early all over the face, no sensor
#: noise but a dither): for tests of what carries a pulse (timing, live windows), not of how weak a
#: pulse the estimator reaches, which benchmarks/rppg.py measures on pulses planted as real skin has them
FLAT = {"signature": (0.45, 1.0, 0.6), "strength": 0.0, "delay_s": 0.0, "noise": None}

#: a run's files, as paths inside its folder, that a test damages one at a time
RUN_FILES = {"metrics.json": "metrics.json", "importance.json": "importance.json", "progress.json": "progress.json",
             "late_fusion.json": "checkpoint/fold-1/late_fusion.json", "model.json": "model.json",
             "predictions.npz": "predictions.npz"}


def damaged_copy(run: Path, dst: Path, name: str) -> Path:
    """A copy of a run folder with one of its :data:`RUN_FILES` cut to half its length, as a
    full disk or a kill in mid-write by another program would leave it."""
    import shutil

    shutil.copytree(run, dst, symlinks=False)
    f = dst / RUN_FILES[name]
    data = f.read_bytes()
    f.write_bytes(data[:len(data) // 2])
    return dst


def read_all(path) -> list[np.ndarray]:
    from emojax.video import FrameReader

    return [f.bgr for f in FrameReader(path)]


def dlib_per_frame(path, predictor) -> np.ndarray:
    """Reference landmarks: dlib's HOG detector on every full frame, then the predictor."""
    from emojax.features.face import largest_dlib_face
    from emojax.video import FrameReader

    out = []
    for fr in FrameReader(path):
        g = cv2.cvtColor(fr.bgr, cv2.COLOR_BGR2GRAY)
        box = largest_dlib_face(g, upsamples=(0, 1))
        out.append(np.full((68, 2), np.nan) if box is None else predictor(g, box))
    return np.array(out)


# --- teaching sets for training tests: generated and extracted once per session -------------

_TEACHING: dict = {}


@pytest.fixture(scope="session")
def teaching_set(tmp_path_factory):
    """``teaching_set(pulse_info) -> root``: a small teaching set, extracted into ``root/store``
    (improved extractor: skin ROI) once per test session. Its clips speak, but their voice tells
    nothing of the class (``voice_info=0``): the improved runs trained on it read the voice, and
    the planted-truth tests check that it gets no importance."""
    from emojax.data import load_teaching
    from emojax.data.teaching import TeachingConfig, make_teaching_set
    from emojax.data.batch import extract_items

    def make(pulse_info: float = 1.0) -> Path:
        if pulse_info not in _TEACHING:
            root = tmp_path_factory.mktemp(f"teaching-pulse{pulse_info}")
            make_teaching_set(root, TeachingConfig(clips_per_class=TEACHING_CLIPS, seconds=TEACHING_SECONDS,
                                                   size=TEACHING_SIZE, pulse_info=pulse_info, voice_info=0.0,
                                                   seed=11), workers=2)
            summary = extract_items(load_teaching(root).items, root / "store", workers=2)
            assert not summary.failed, summary.text()
            _TEACHING[pulse_info] = root
        return _TEACHING[pulse_info]

    return make


TEACHING_CLIPS, TEACHING_SECONDS, TEACHING_SIZE = 12, 6.0, 192

_RUNS: dict = {}


@pytest.fixture(scope="session")
def teaching_run(teaching_set, tmp_path_factory):
    """``teaching_run(pulse_info) -> (run folder, metrics, progress events)``: the improved
    preset trained leave-one-actor-out on ``teaching_set(pulse_info)``, once per session."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    def make(pulse_info: float = 1.0):
        if pulse_info not in _RUNS:
            root = teaching_set(pulse_info)
            out = tmp_path_factory.mktemp("runs") / f"pulse{pulse_info}"
            events: list = []
            cfg = run_config("teaching", root, preset="improved", protocol="speaker", store=str(root / "store"))
            _RUNS[pulse_info] = (out, train_run(cfg, out, on_progress=events.append), events)
        return _RUNS[pulse_info]

    return make


@pytest.fixture(scope="session")
def speaker_relative_run(teaching_set, tmp_path_factory):
    """``(run folder, metrics)``: the improved preset with speaker-relative landmarks, one epoch,
    holdout, on ``teaching_set(1.0)``, once per session."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    root = teaching_set(1.0)
    out = tmp_path_factory.mktemp("runs") / "speaker-relative"
    cfg = run_config("teaching", root, preset="improved", protocol="holdout", store=str(root / "store"), epochs=1,
                     speaker_relative=True)
    return out, train_run(cfg, out)


@pytest.fixture(scope="session")
def paper_run(teaching_set, tmp_path_factory):
    """``(run folder, metrics)``: the paper preset (its own extractor), one epoch, holdout, on one
    clip of each class by each actor of ``teaching_set(1.0)`` (16 of its 48: the paper's
    extractor reads every clip the run uses, and what its tests read needs no more), once per
    session."""
    import csv

    from emojax.data import load_teaching
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    root = teaching_set(1.0)
    sub = tmp_path_factory.mktemp("teaching-paper")
    first = {}
    for item in load_teaching(root).items:
        first.setdefault((item.label, item.group), item)
    with open(sub / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "group"])
        w.writerows([(i.path, i.label, i.group) for i in first.values()])
    out = tmp_path_factory.mktemp("runs") / "paper"
    cfg = run_config("teaching", sub, preset="paper", protocol="holdout", store=str(root / "store"), epochs=1)
    return out, train_run(cfg, out, workers=2)


@pytest.fixture(scope="session")
def explained_run(teaching_run, teaching_set):
    """``(run folder, finished process)``: ``teaching_run(1.0)`` explained once per session by
    ``emojax explain`` (modality, region, 5 time windows, per class, and one happy clip; 2 repeats)."""
    import subprocess
    import sys

    run, _, _ = teaching_run(1.0)
    clip = sorted(teaching_set(1.0).glob("happy_*.mp4"))[0]
    proc = subprocess.run([sys.executable, "-m", "emojax.cli", "explain", str(run), "--groups", "modality,region,time:5",
                           "--per-class", "--video", str(clip), "--repeats", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return run, proc


@pytest.fixture(scope="session")
def dashboard_artifacts(explained_run, teaching_set, tmp_path_factory):
    """An artifacts folder as `make run` leaves it: the teaching clips, their feature store, and
    a trained, explained run named like the demo run."""
    run, _ = explained_run
    root = teaching_set(1.0)
    art = tmp_path_factory.mktemp("artifacts")
    (art / "runs").mkdir()
    (art / "runs" / "demo-improved").symlink_to(run)
    (art / "teaching").symlink_to(root)
    (art / "features").symlink_to(root / "store")
    return art


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """One persistent compilation cache for the session (this process and the CLI subprocesses),
    or the folder ``EMOJAX_JAX_CACHE`` names when it is set (kept between sessions: a second run
    of the suite reuses what the first compiled; ``0`` turns the cache off)."""
    import os

    if os.environ.get("EMOJAX_JAX_CACHE") is None:
        os.environ["EMOJAX_JAX_CACHE"] = str(tmp_path_factory.mktemp("jax-cache"))
    from emojax.jaxcache import enable_compilation_cache

    enable_compilation_cache()
    yield


# --- runs with a voice: the teaching set's records with a planted voice -----------------------

_VOICE_RUNS: dict = {}


def plant_voice(store: Path, seed: int = 0) -> dict:
    """Give every record of ``store`` a voice that tells its class (the label is the record's name
    up to its first "_", as the teaching set names its clips) and take the class out of its pulse
    and face: their arrays are exchanged among the records at random, so only the voice still
    tells. The voice: every frame speech but the first and last 5; the 25 descriptors noise,
    with the pitch (F0) and the loudness raised by the class; on every 7th speech frame no
    voicing (the voiced-only descriptors NaN, as openSMILE leaves them). Returns {stem name: label}."""
    from emojax.features import Features
    from emojax.features import voice as V

    rng = np.random.default_rng(seed)
    stems = sorted(p.with_suffix("") for p in store.glob("*.json") if p.with_suffix(".npz").is_file())
    records = [Features.load(s) for s in stems]
    labels = {s.name: s.name.split("_")[0] for s in stems}
    classes = sorted(set(labels.values()))
    order = rng.permutation(len(records))
    nz = [i for i, d in enumerate(V.DESCRIPTORS) if d in V.VOICED_ONLY]
    for s, f, donor in zip(stems, records, [records[i] for i in order]):
        t, k = len(f.times), classes.index(labels[s.name])
        assert len(donor.times) == t, "the teaching clips are of one length"
        for name in ("rgb", "landmarks", "box", "state", "confidence", "patches"):
            setattr(f, name, getattr(donor, name).copy())
        voice = 0.5 * rng.normal(size=(t, len(V.DESCRIPTORS))).astype(np.float32)
        voice[:, V.DESCRIPTORS.index("F0semitoneFrom27.5Hz_sma3nz")] += 30 + 2.0 * k
        voice[:, V.DESCRIPTORS.index("Loudness_sma3")] += 1.0 + 2.0 * k
        speech = np.zeros(t, bool)
        speech[5:t - 5] = True
        voice[np.ix_(np.flatnonzero(speech)[::7], nz)] = np.nan
        voice[~speech] = np.nan
        f.voice, f.speech = voice, speech
        f.source["voice"] = {"status": "present", "planted": True}
    for s, f in zip(stems, records):
        f.save(s)
    return labels


@pytest.fixture(scope="session")
def voice_run(teaching_set, tmp_path_factory):
    """``voice_run(modalities, protocol="holdout") -> (run folder, metrics, store)``: the improved
    preset, 60 epochs, on ``teaching_set(1.0)``'s records given a voice that alone tells the
    class (:func:`plant_voice`), once per session, modalities and protocol."""
    import shutil

    from emojax.training.config import run_config
    from emojax.training.run import train_run

    def make(modalities: tuple[str, ...], protocol: str = "holdout"):
        if "store" not in _VOICE_RUNS:
            store = tmp_path_factory.mktemp("voice-store") / "store"
            shutil.copytree(teaching_set(1.0) / "store", store)
            plant_voice(store)
            _VOICE_RUNS["store"] = store
        if (modalities, protocol) not in _VOICE_RUNS:
            store = _VOICE_RUNS["store"]
            out = tmp_path_factory.mktemp("runs") / ("voice-" + "-".join(modalities) + f"-{protocol}")
            cfg = run_config("teaching", teaching_set(1.0), preset="improved", protocol=protocol, store=str(store),
                             epochs=60, modalities=modalities)
            _VOICE_RUNS[modalities, protocol] = (out, train_run(cfg, out, workers=1), store)
        return _VOICE_RUNS[modalities, protocol]

    return make


# --- the teaching set's own voice: three modalities, each telling part of the class ----------

#: a teaching set in which each modality alone is incomplete: the face tells valence on every
#: clip (``face_info=1``: one axis of two, so alone at most 50 %); the pulse tells arousal on
#: half of them (``pulse_info=0.5``: the others' heart rate is drawn over both ranges, so the
#: pulse is right on about 3 clips of 4, and a rate between the ranges shows it says nothing);
#: the voice moves 0.6 of the way to its class (``VOICE_PROFILES``: its arousal mostly, its
#: valence less). The face is complete on its axis rather than partial because a face with its
#: valence drawn at random looks as sure as a planted one (a full smile or frown), so nothing
#: could tell a fused model when to trust another modality over it. (``voice_info=0.3`` was
#: tried first: the voice then added nothing the fused model used; see test_voice_teaching.)
SPEAKING = dict(clips_per_class=20, seconds=5.0, size=192, face_info=1.0, pulse_info=0.5, voice_info=0.6, seed=11)
#: how its runs are trained: 40 epochs (the improved preset's patience of 30 still applies);
#: benchmarks/fusion_gain.py trains its own set's runs so (checked in test_voice_teaching)
SPEAKING_RUN = dict(preset="improved", protocol="speaker", epochs=40, speaker_relative=True)

_SPEAKING: dict = {}


@pytest.fixture(scope="session")
def speaking_set(tmp_path_factory) -> Path:
    """The :data:`SPEAKING` teaching set, written (its voice synthesised and muxed as AAC) and
    extracted (openSMILE reading that track) into ``root/store`` once per session."""
    if "root" not in _SPEAKING:
        from emojax.data import load_teaching
        from emojax.data.batch import extract_items
        from emojax.data.teaching import TeachingConfig, make_teaching_set

        root = tmp_path_factory.mktemp("teaching-speaking")
        make_teaching_set(root, TeachingConfig(**SPEAKING), workers=2)
        summary = extract_items(load_teaching(root).items, root / "store", workers=2)
        assert not summary.failed, summary.text()
        _SPEAKING["root"] = root
    return _SPEAKING["root"]


@pytest.fixture(scope="session")
def speaking_run(speaking_set, tmp_path_factory):
    """``speaking_run(modalities) -> (run folder, metrics)``: the improved preset with
    speaker-relative inputs (each actor's own pitch and face shape taken off, as the actors'
    natural pitches differ by far more than the classes move them) trained leave-one-actor-out
    on :func:`speaking_set`, reading ``modalities``, once per session and modalities."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    def make(modalities: tuple[str, ...]):
        if modalities not in _SPEAKING:
            out = tmp_path_factory.mktemp("runs") / ("speaking-" + "-".join(modalities))
            cfg = run_config("teaching", speaking_set, store=str(speaking_set / "store"), modalities=modalities,
                             **SPEAKING_RUN)
            _SPEAKING[modalities] = (out, train_run(cfg, out, workers=1))
        return _SPEAKING[modalities]

    return make


@pytest.fixture(scope="session")
def chromium_ready():
    """Debian's Chromium and playwright are there; else the test is skipped, or fails when
    EMOJAX_REQUIRE_BROWSER=1 (as in CI)."""
    import os

    from . import browser

    why = browser.missing()
    if why:
        if os.environ.get("EMOJAX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here (EMOJAX_REQUIRE_BROWSER=1) but {why}")
        pytest.skip(why)


def kill_when(proc, curves: Path, seen, *, timeout: float) -> None:
    """Kill the training ``proc`` as soon as a line of its ``curves.jsonl`` satisfies ``seen``
    (a resume test's interruption); fails if it ended first or ``timeout`` seconds passed."""
    import time

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            lines = curves.read_text().splitlines() if curves.is_file() else []
            if any(seen(ln) for ln in lines):
                return
            assert proc.poll() is None, "training ended before it could be interrupted"
            time.sleep(0.02)
        raise AssertionError(f"{curves} never showed the moment to interrupt within {timeout:.0f} s")
    finally:
        proc.kill()
        proc.wait()
