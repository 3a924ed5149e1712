"""Beats and HRV against known beat times: a PPG-shaped pulse with respiratory sinus arrhythmia
planted into real faces (a GRID speaker held still; one GRID speaker talking, played forward and
back so that no cut breaks it; five GRID speakers chained, a cut at each join), with a camera's
sensor noise, at 1 % and 2 % amplitude. The true systolic-peak times are known to the
millisecond; emojax's beats (POS pulse, sub-frame peaks) are matched to them. Prints a Markdown
table; results go to artifacts/benchmarks/hrv.json.

    .venv/bin/python benchmarks/hrv.py
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SEEDS, AMPLITUDES, BPM = (1, 2, 3), (0.01, 0.02), (64.0, 72.0, 80.0)


def footage() -> dict[str, tuple[list[np.ndarray], float]]:
    from emojax.video import FrameReader

    def frames(name):
        return [f.bgr for f in FrameReader(DATA / "grid" / f"{name}.mpg")]

    one = frames("bbaf2n")
    chain = [f for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a", "lrwp9a") for f in frames(n)]
    return {"still face, 30 fps": ([one[0]] * 450, 30.0),
            "talking face, no cut, 25 fps": (((one + one[::-1]) * 3)[:375], 25.0),
            "five talking faces chained, 25 fps": (chain, 25.0)}


def plant(frames, points, fps: float, bpm: float, amplitude: float, seed: int):
    """Frames with the pulse darkening the skin (green most), sensor noise, and the true beat times."""
    from emojax.data.animate import cardiac_phase, ppg_wave, skin_mask

    t = np.arange(len(frames)) / fps
    rng = np.random.default_rng(seed)
    phase, _ = cardiac_phase(t, bpm, rng, rsa_bpm=3.0)
    wave = ppg_wave(phase)
    gain = 2 * amplitude * np.array([0.6, 1.0, 0.45], np.float32)      # B, G, R
    masks = {}
    out = []
    for i, (f, p) in enumerate(zip(frames, points)):
        key = id(f)
        if key not in masks:
            masks[key] = skin_mask(f.shape[:2], p)[..., None] if np.isfinite(p).all() else None
        m = masks[key]
        x = f.astype(np.float32) if m is None else f.astype(np.float32) * (1 - wave[i] * m * gain)
        out.append(np.clip(np.round(x + rng.normal(0, 1.5, f.shape)), 0, 255).astype(np.uint8))
    grid = np.linspace(0, 1, 20001)
    peak = grid[np.argmax(ppg_wave(grid))]
    k = np.arange(np.ceil(phase[0] - peak), np.floor(phase[-1] - peak) + 1)
    return out, np.interp(k + peak, phase, t)


def match(got: np.ndarray, truth: np.ndarray) -> tuple[int, float | None]:
    """How many true beats have a found beat within 150 ms of them (after the fixed lag of the
    filtered wave's peak behind its source), and the RMS of those timing errors, ms."""
    if len(got) == 0:
        return 0, None
    d = np.array([got[np.argmin(np.abs(got - x))] - x for x in truth])
    ok = np.abs(d - np.median(d)) <= 0.15
    return int(ok.sum()), float(1000 * np.sqrt(np.mean((d[ok] - np.median(d[ok])) ** 2)))


def true_hrv(truth: np.ndarray, cuts_s: list[float]) -> float:
    """RMSSD of the true beats, over intervals within one shot (as emojax counts them)."""
    shot = np.searchsorted(cuts_s, truth, side="right")
    ibi = np.where(shot[1:] == shot[:-1], np.diff(truth) * 1000, np.nan)
    d = np.diff(ibi)
    return float(np.sqrt(np.mean(d[np.isfinite(d)] ** 2)))


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs the real clips beside the repository")
    from emojax.data.planted import face_points
    from emojax.features import Extractor, vitals
    from emojax.fileio import atomic_write_json
    from emojax.video import Frame

    ex = Extractor()
    t0, rows = time.perf_counter(), []
    for name, (frames, fps) in footage().items():
        points = face_points(frames[:1], ex.predictor).repeat(len(frames), 0) if name.startswith("still") \
            else face_points(frames, ex.predictor)
        for amp in AMPLITUDES:
            for seed, bpm in zip(SEEDS, BPM):
                planted, truth = plant(frames, points, fps, bpm, amp, seed)
                f = ex.frames([Frame(i, i / fps, b) for i, b in enumerate(planted)], fps)
                r = vitals.report(f, "pos")
                h = r.get("hrv") or {}
                got = np.array(h.get("beats", []))
                matched, err = match(got, truth)
                rows.append({"footage": name, "amplitude": amp, "seed": seed, "bpm": bpm, "reliable": r["reliable"],
                             "beats_true": len(truth), "beats_found": len(got), "beats_matched": matched,
                             "timing_error_ms": err,
                             "rmssd_true_ms": true_hrv(truth, [f.times[c] for c in f.source["cuts"]]),
                             "rmssd_ms": h.get("rmssd_ms")})
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    out = ROOT / "artifacts" / "benchmarks" / "hrv.json"
    atomic_write_json(out, {"machine": {"python": platform.python_version()}, "seconds": round(time.perf_counter() - t0, 1),
                            "rows": rows})
    print("\n| footage | amplitude | true beats found (+ found where there was none) | timing error of those found (RMS) | RMSSD true | RMSSD reported |")
    print("|---|---|---|---|---|---|")
    for name in footage():
        for amp in AMPLITUDES:
            r = [x for x in rows if x["footage"] == name and x["amplitude"] == amp]
            def cells(key, form):
                return ", ".join("-" if x[key] is None else form.format(x[key]) for x in r)
            found = ", ".join(f"{x['beats_matched']}/{x['beats_true']} (+{x['beats_found'] - x['beats_matched']})"
                              for x in r)
            print(f"| {name} | {100 * amp:g} % | {found} | {cells('timing_error_ms', '{:.0f}')} ms | "
                  f"{cells('rmssd_true_ms', '{:.0f}')} ms | {cells('rmssd_ms', '{:.0f}')} ms |")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
