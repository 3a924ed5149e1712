"""Extraction speed and memory: decode floor, the paper's naive pipeline, and emojax on 1 and
all cores, in one run on a generated 720x480 30 fps face video, and on real talking faces
letterboxed to 720x480 (benchmarks/real_footage.py); and what the voice adds, on the real clips
that carry an audio track (benchmarks/voice_cost.py). Writes artifacts/benchmarks/extract.json
and prints a Markdown table for the README.

    .venv/bin/python benchmarks/extract.py [--quick]
    .venv/bin/python benchmarks/extract.py --voice-only   # the voice's part alone, merged into the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import lie_about_length  # noqa: E402  (the test's lying file, measured here)
from benchmarks import real_footage, voice_cost  # noqa: E402
W, H, FPS = 720, 480, 30.0


def make_face_video(path: Path, seconds: float, unique_s: float = 10.0) -> Path:
    """A 720x480 mp4v face video: the teaching animation (talking, blinking, moving head)
    rendered for ``unique_s`` seconds and looped to ``seconds``."""
    from emojax.data.teaching import TeachingConfig, actor_rig, render_clip

    cfg = TeachingConfig(seconds=unique_s, fps=FPS, size=H)
    frames, _ = render_clip(actor_rig(size=H), "happy", cfg, np.random.default_rng(0))
    pad = (W - H) // 2
    frames = [cv2.copyMakeBorder(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), 0, 0, pad, pad, cv2.BORDER_REFLECT)
              for f in frames]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for i in range(int(seconds * FPS)):
        wr.write(frames[i % len(frames)])
    wr.release()
    return path


def decode_fps(path: Path) -> float:
    from emojax.video import FrameReader

    t = time.perf_counter()
    n = sum(1 for _ in FrameReader(path))
    return n / (time.perf_counter() - t)


def naive(path: Path, frames: int, stride: int = 1, clock=time.perf_counter) -> tuple[float, np.ndarray]:
    """The paper's per-frame pipeline: Haar on the full frame (OpenCV defaults) for the colour
    box, dlib's HOG detector on the full frame (upsample 0, its fastest) and the predictor; on
    every ``stride``-th of the first ``frames`` frames (it keeps nothing from frame to frame),
    timed by ``clock`` over those frames (each one's decoding included; a clock giving an array
    of several clocks' readings gives an array of frame rates, one by each)."""
    from emojax.features.face import dlib_hog, largest_dlib_face
    from emojax.features.landmarks import LandmarkPredictor
    from emojax.video import FrameReader

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    pred = LandmarkPredictor()
    dlib_hog()  # built before the clock starts, as the paper's pipeline builds it once
    out, n, spent = [], 0, 0.0
    frames_in = iter(FrameReader(path))
    while True:
        t = clock()
        fr = next(frames_in, None)
        if fr is None or fr.index >= frames:
            break
        if fr.index % stride:
            continue
        gray = cv2.cvtColor(fr.bgr, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, 1.1, 3)
        if len(faces):
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
            fr.bgr[y:y + h, x:x + w].mean(axis=(0, 1))
        box = largest_dlib_face(gray)
        out.append(np.full((68, 2), np.nan) if box is None else pred(gray, box))
        n += 1
        spent += clock() - t
    return n / spent, np.array(out)


def emojax_fps(path: Path, repeats: int = 3) -> tuple[float, np.ndarray]:
    from emojax.features import Extractor

    ex = Extractor()
    best, feats = 0.0, None
    for _ in range(repeats):
        t = time.perf_counter()
        feats = ex(path)
        best = max(best, len(feats) / (time.perf_counter() - t))
    return best, feats.landmarks


def paper_fps(path: Path, repeats: int = 2) -> float:
    """The paper's extractor in emojax (Haar's own box on every frame, searched near the last)."""
    from emojax.features import PAPER_EXTRACTOR, Extractor

    ex = Extractor(PAPER_EXTRACTOR)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        n = len(ex(path))
        best = max(best, n / (time.perf_counter() - t))
    return best


def real_deviation() -> dict:
    """Tracked landmarks against dlib on every frame (its HOG detector, then the predictor in
    that box) on the real clips in ../shared/data: mean px per clip."""
    from emojax.data.planted import face_points
    from emojax.features import Extractor
    from emojax.video import FrameReader

    data = ROOT.parent / "shared" / "data"
    clips = sorted((data / "grid").glob("*.mpg")) + sorted((data / "cremad").glob("*.flv"))
    if not clips:
        return {}
    ex = Extractor()
    out = {}
    for clip in clips:
        feats = ex(clip)
        ref = face_points([f.bgr for f in FrameReader(clip)], ex.predictor)
        both = feats.face_found & np.isfinite(ref[:, 0, 0])
        out[clip.name] = float(np.linalg.norm(feats.landmarks[both] - ref[both], axis=2).mean())
    return out


def cores_fps(path: Path, seconds: float, pieces: int, workers: int) -> float:
    """Frames per second extracting ``pieces`` cuts of the video into a fresh store."""
    from emojax.data import VideoItem
    from emojax.data.batch import extract_items

    step = seconds / pieces
    items = [VideoItem(f"cut{i}", str(path), None, start=i * step, end=(i + 1) * step) for i in range(pieces)]
    with tempfile.TemporaryDirectory() as store:
        t = time.perf_counter()
        summary = extract_items(items, store, workers=workers)
        dt = time.perf_counter() - t
    assert summary.count("done") == pieces, summary.text()
    return sum(o.frames for o in summary.outcomes) / dt


def peak_rss_mb(path: Path) -> float:
    """Peak resident memory (VmHWM: ru_maxrss survives exec on Linux, so it would report this
    parent's peak) of a fresh process that extracts ``path``."""
    code = ("import re, sys; from emojax.features import extract; f = extract(sys.argv[1], accept_partial=True); "
            "print(len(f), re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    frames, kb = out.stdout.split()
    return int(kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1-minute long video instead of 10 minutes")
    ap.add_argument("--voice-only", action="store_true",
                    help="measure only what the voice adds and merge it into the existing extract.json")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    out = ROOT / "artifacts" / "benchmarks" / "extract.json"
    if args.voice_only:
        from emojax.fileio import atomic_write_bytes

        res = json.loads(out.read_text()) if out.exists() else {}
        with tempfile.TemporaryDirectory() as tmp:
            res["voice"] = voice_cost.measure(Path(tmp))
        atomic_write_bytes(out, (json.dumps(res, indent=2) + "\n").encode())
        print(json.dumps(res["voice"], indent=2))
        print(table(res) if "decode_fps" in res else
              "\n".join(f"| {a} | {b} | {c} |" for a, b, c in voice_cost.rows(res["voice"])))
        return
    res: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                             "opencv": cv2.__version__}, "video": f"{W}x{H} {FPS:g} fps mp4v"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short = make_face_video(tmp / "short.mp4", 10.0)
        parallel_s = 80.0
        long_s = 60.0 if args.quick else 600.0
        par = make_face_video(tmp / "parallel.mp4", parallel_s)
        longv = make_face_video(tmp / "long.mp4", long_s)

        res["decode_fps"] = decode_fps(short)
        res["naive_fps"], ref = naive(short, 90)
        res["emojax_1core_fps"], lm = emojax_fps(short)
        dev = np.linalg.norm(lm[:len(ref)] - ref, axis=2)
        res["landmark_deviation_px"] = float(np.nanmean(dev))
        res["speedup_1core"] = res["emojax_1core_fps"] / res["naive_fps"]
        res["paper_extractor_fps"] = paper_fps(short)
        res["paper_extractor_speedup"] = res["paper_extractor_fps"] / res["naive_fps"]
        real = real_deviation()
        res["landmark_deviation_real_px"] = real
        if real:
            res["landmark_deviation_real_mean_px"] = float(np.mean(list(real.values())))
            res["landmark_deviation_real_worst_px"] = float(max(real.values()))
        res["stages_ms_per_frame"] = real_footage.stages(short, int(10 * FPS))  # beside the real footage's
        res["real_footage"] = real_footage.measure(tmp, naive)
        res["voice"] = voice_cost.measure(tmp)

        cores = os.cpu_count() or 1
        cores_fps(par, 4.0, 2, cores)  # starts the pool's fork server (done once per process)
        res["pool_first_start_s"] = _time(lambda: cores_fps(par, 2.0, 2, cores))
        res["batch_1core_fps"] = cores_fps(par, parallel_s, 8, 1)
        res["batch_allcores_fps"] = cores_fps(par, parallel_s, 8, cores)
        res["scaling_allcores"] = res["batch_allcores_fps"] / res["batch_1core_fps"]

        res["rss_10s_mb"] = peak_rss_mb(short)
        res["rss_long_mb"] = peak_rss_mb(longv)
        res["memory_ratio"] = res["rss_long_mb"] / res["rss_10s_mb"]
        res["long_video_s"] = long_s
        liar = lie_about_length(short, tmp / "liar.mp4", claim=10_000_000)
        res["rss_liar_mb"] = peak_rss_mb(liar)
        res["liar_memory_ratio"] = res["rss_liar_mb"] / res["rss_10s_mb"]
    res["targets"] = {"speedup_1core": 40, "real_footage_speedup_cli": 40, "landmark_deviation_px": 1.0, "landmark_deviation_real_px": 1.0,
                      "scaling_allcores": 1.8, "memory_ratio": 1.2,
                      "liar_memory_ratio": 1.2}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(table(res))


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def table(r: dict) -> str:
    rows = [
        ("decode only (the floor)", f"{r['decode_fps']:.0f} fps", ""),
        ("paper's naive pipeline, 1 core", f"{r['naive_fps']:.1f} fps", "1×"),
        ("emojax, 1 core", f"{r['emojax_1core_fps']:.0f} fps", f"**{r['speedup_1core']:.0f}×** (target ≥ 40×)"),
        ("emojax, the paper's extractor (Haar's box every frame), 1 core", f"{r['paper_extractor_fps']:.0f} fps",
         f"{r['paper_extractor_speedup']:.0f}×"),
        ("landmarks vs per-frame dlib, this video", f"{r['landmark_deviation_px']:.2f} px mean", "target ≤ 1.0 px"),
    ]
    if r.get("landmark_deviation_real_px"):
        rows.append((f"landmarks vs per-frame dlib, {len(r['landmark_deviation_real_px'])} real clips (GRID, CREMA-D)",
                     f"{r['landmark_deviation_real_mean_px']:.2f} px mean, worst clip "
                     f"{r['landmark_deviation_real_worst_px']:.2f}", "target ≤ 1.0 px"))
    if r.get("real_footage"):
        rows += real_footage.rows(r["real_footage"])
    if r.get("voice"):
        rows += voice_cost.rows(r["voice"])
    rows += [
        ("emojax, 8 cuts, 1 process", f"{r['batch_1core_fps']:.0f} fps", ""),
        (f"emojax, 8 cuts, {r['machine']['cores']} processes", f"{r['batch_allcores_fps']:.0f} fps",
         f"**{r['scaling_allcores']:.2f}×** of 1 process (target ≥ 1.8×)"),
        ("peak memory, 10 s video", f"{r['rss_10s_mb']:.0f} MB", ""),
        (f"peak memory, {r['long_video_s'] / 60:.0f} min video", f"{r['rss_long_mb']:.0f} MB",
         f"**{r['memory_ratio']:.2f}×** (target ≤ 1.2×)"),
        ("peak memory, the 10 s video with a header claiming 10 M frames", f"{r['rss_liar_mb']:.0f} MB",
         f"**{r['liar_memory_ratio']:.2f}×** (target ≤ 1.2×)"),
    ]
    return "\n".join(["| what | measured | ratio |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])


if __name__ == "__main__":
    main()
