"""Time from upload to prediction shown, in a real browser (Debian's Chromium through Playwright),
for a 10-second 720x480 face clip, on the demo run: the first upload to a freshly started
server, later ones, and five visitors (five pages, five different clips) uploading at once,
each checked against the library's prediction for its clip. In the same run, the baseline:
the same work through the library with everything loaded (extract + predict), and `emojax
predict` from the command line (a fresh process). Writes artifacts/benchmarks/dashboard.json
and prints a Markdown table for the README. Needs the demo runs (`make run`) and ../shared/data.

    .venv/bin/python benchmarks/dashboard.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CREMAD = ROOT.parent / "shared" / "data" / "cremad"
SOURCE = CREMAD / "1001_DFA_ANG_XX.flv"
VISITORS = ("ANG", "DIS", "FEA", "HAP", "SAD")
RUN = ROOT / "artifacts" / "runs" / "demo-improved"
TARGET_S = 5.0
VISITORS_TARGET_S = 6.0          # the slowest of the five visitors at once


def make_clip(path: Path, seconds: float = 10.0, size=(720, 480), fps: float = 29.97, source: Path = SOURCE) -> Path:
    """A CREMA-D clip scaled to 720x480 and played forwards and backwards to ``seconds``."""
    cap = cv2.VideoCapture(str(source))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, size, interpolation=cv2.INTER_CUBIC))
    cycle = frames + frames[-2:0:-1]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(int(round(seconds * fps))):
        out.write(cycle[i % len(cycle)])
    out.release()
    return path


def library_baseline(clip: Path, repeats: int) -> dict:
    from emojax.estimator import TrainedRun
    from emojax.features import Extractor
    from emojax.inference import predict_features

    trained = TrainedRun(RUN)
    ex = Extractor(trained.extractor)
    predict_features(ex(clip), trained)                  # load and compile once
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f = ex(clip)
        t1 = time.perf_counter()
        predict_features(f, trained)
        times.append((time.perf_counter() - t0, t1 - t0))
    return {"median_s": statistics.median(t for t, _ in times), "extract_s": statistics.median(e for _, e in times)}


def cli_baseline(clip: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emojax.cli", "predict", str(clip), "--run", str(RUN), "--json"],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def renice_browser() -> int:
    """Put every Chromium process of this machine at the lowest priority (nice 19), so that it
    only takes what the server leaves: the five visitors' browsers stand in for five visitors'
    own machines, where drawing their pages costs the server nothing. How many were reniced."""
    import psutil

    n = 0
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if "chrom" in (p.info["name"] or "") or any("chrom" in a for a in (p.info["cmdline"] or [])[:1]):
                p.nice(19)
                n += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return n


def browser(clip: Path, repeats: int, visitors: list[Path]) -> dict:
    from tests.browser import chromium, serve, upload_and_wait, visitors_at_once

    with tempfile.TemporaryDirectory() as tmp, serve(ROOT / "artifacts") as url, chromium() as page:
        first = upload_and_wait(page, url, clip)     # a fresh server: models still loading at the upload
        warm = []
        for i in range(repeats):
            copy = Path(tmp) / f"clip-{i}.mp4"       # a new file each time: nothing is reused
            copy.write_bytes(clip.read_bytes())
            warm.append(upload_and_wait(page, url, copy))   # a new page load: a new session
        # five visitors, their five pages drawn on this machine's 2 cores beside the server ...
        together = visitors_at_once(page.context, url, visitors)
        # ... and again (new sessions, new files) with the browser at the lowest priority
        again = []
        for v in visitors:
            copy = Path(tmp) / f"again-{v.name}"
            copy.write_bytes(v.read_bytes())
            again.append(copy)
        reniced = visitors_at_once(page.context, url, again, before=renice_browser)
    return {"first_s": first, "warm_s": warm, "warm_median_s": statistics.median(warm),
            "visitors": [{"seconds": t, "label": label, "server_s": r} for t, label, r in together],
            "visitors_browser_niced": [{"seconds": t, "label": label, "server_s": r} for t, label, r in reniced]}


def expected_labels(clips: list[Path]) -> list[str]:
    """What the library predicts for each clip with the same run (the page must show the same)."""
    from emojax.inference import predict_videos

    return [r["label"] for r in predict_videos(clips, RUN)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from tests.browser import missing

    why = missing() or (None if SOURCE.is_file() else f"{SOURCE} is absent") or \
        (None if (RUN / "metrics.json").is_file() else f"{RUN} is absent: run `make run` first")
    if why:
        print(f"skipped: {why}")
        return 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "face-10s-720x480.mp4")
        visitors = [make_clip(Path(tmp) / f"visitor-{e}.mp4", source=CREMAD / f"1001_DFA_{e}_XX.flv") for e in VISITORS]
        lib = library_baseline(clip, args.repeats)
        cli = cli_baseline(clip)
        expected = expected_labels(visitors)
        web = browser(clip, args.repeats, visitors)
    for key in ("visitors", "visitors_browser_niced"):
        for v, want in zip(web[key], expected):
            v["expected"], v["correct"] = want, v["label"] == want
    import jax

    from emojax.features.pool import default_workers

    result = {
        "what": "upload to prediction shown in Chromium, 10-s 720x480 clip (300 frames), run demo-improved",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
                    "load_1min_before_after": [load_before, os.getloadavg()[0]]},
        "extraction_workers": default_workers(),
        "target_s": TARGET_S, "visitors_target_s": VISITORS_TARGET_S, "browser": web, "library": lib, "cli_s": cli,
        "ratio_warm_to_target": web["warm_median_s"] / TARGET_S, "ratio_first_to_target": web["first_s"] / TARGET_S,
        "visitors_slowest_s": max(v["seconds"] for v in web["visitors"]),
        "visitors_correct": sum(v["correct"] for v in web["visitors"]),
        "visitors_browser_niced_slowest_s": max(v["seconds"] for v in web["visitors_browser_niced"]),
        # the server's answer reaching the browser (what a visitor's own machine would then draw)
        "visitors_server_slowest_s": max((v["server_s"] or float("inf")) for v in web["visitors"]),
        "visitors_browser_niced_server_slowest_s": max((v["server_s"] or float("inf"))
                                                       for v in web["visitors_browser_niced"]),
        "visitors_browser_niced_correct": sum(v["correct"] for v in web["visitors_browser_niced"]),
        "dashboard_overhead_s": web["warm_median_s"] - lib["median_s"],
    }
    out = ROOT / "artifacts" / "benchmarks" / "dashboard.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"| upload → prediction shown | seconds | of its target ({TARGET_S:g} s; {VISITORS_TARGET_S:g} s for five "
          "visitors) |")
    print("|---|---|---|")
    for name, sec, target in (
            (f"dashboard, later uploads (median of {len(web['warm_s'])})", web["warm_median_s"], TARGET_S),
            ("dashboard, first upload to a fresh server", web["first_s"], TARGET_S),
            (f"dashboard, {len(VISITORS)} visitors uploading different clips at once: the slowest "
             f"({result['visitors_correct']} of {len(VISITORS)} shown their own clip's prediction)",
             result["visitors_slowest_s"], VISITORS_TARGET_S),
            (f"the same, the browser at the lowest priority ({result['visitors_browser_niced_correct']} of "
             f"{len(VISITORS)} shown their own)", result["visitors_browser_niced_slowest_s"], VISITORS_TARGET_S),
            ("the same, the server's answer reaching the browser (before the page draws it): the slowest",
             result["visitors_server_slowest_s"], VISITORS_TARGET_S),
            ("library: extract + predict, all loaded", lib["median_s"], TARGET_S),
            ("`emojax predict` in a new process", cli, TARGET_S)):
        print(f"| {name} | {sec:.2f} | {sec / target:.2f}× |")
    print(f"(reading the face alone: {lib['extract_s']:.2f} s; the dashboard adds {result['dashboard_overhead_s']:.2f} s)")
    for key, how in (("visitors", "browser beside the server"), ("visitors_browser_niced", "browser at nice 19")):
        times = ", ".join(f"{v['seconds']:.2f}" for v in sorted(web[key], key=lambda v: v["seconds"]))
        answered = ", ".join("—" if v["server_s"] is None else f"{v['server_s']:.2f}"
                             for v in sorted(web[key], key=lambda v: v["server_s"] or float("inf")))
        slowest = max(v["seconds"] for v in web[key])
        print(f"({len(VISITORS)} visitors at once, {how}, {result['extraction_workers']} extraction workers: shown at "
              f"{times} s, the slowest {slowest / VISITORS_TARGET_S:.2f}× of the {VISITORS_TARGET_S:g}-s target; the "
              f"server's answer reached the browser at {answered} s)")
    print(f"(load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
