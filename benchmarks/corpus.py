"""Corpus-scale extraction: an IEMOCAP-shaped stand-in, end to end through `emojax extract
--dataset iemocap`, against decoding its dialogs once (the floor) and extracting each whole
dialog once; projected to IEMOCAP and MEAD. Writes artifacts/benchmarks/corpus.json and prints
a Markdown table for the README.

The stand-in: DIALOGS dialogs of MINUTES minutes, 720x480 at 29.97 fps, two real faces (GRID
speakers, chained and looped) side by side, MPEG-4 Part 2 in AVI with a keyframe at most every
300 frames (Xvid's and DivX's default), and one EmoEvaluation file per dialog in the release's
format cutting UTTERANCES utterances (about 2.5 s each, speakers taking turns, each read from
its speaker's half of the frame as IEMOCAP's are).

    .venv/bin/python benchmarks/corpus.py [--quick] [--no-ray]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
W, H, FPS, GOP = 720, 480, 30000 / 1001, 300
CODES = ["neu", "hap", "sad", "ang", "exc", "fru", "fea", "sur", "dis", "oth"]
#: the real corpora, for the projections
IEMOCAP = {"utterances": 10_039, "utterance_seconds": 4.46, "dialog_hours": 12.0}
MEAD = {"hours": 60.0, "views": 7}


def _faces(n: int) -> tuple[list, list]:
    """``n`` frames of a real face for each half: GRID speakers chained (the right one mirrored)."""
    import cv2

    from emojax.video import FrameReader

    clips = sorted((SHARED / "grid").glob("*.mpg"))
    left = [f.bgr for c in clips[0::2] for f in FrameReader(c)]
    right = [cv2.flip(f.bgr, 1) for c in clips[1::2] for f in FrameReader(c)]
    return [left[i % len(left)] for i in range(n)], [right[i % len(right)] for i in range(n)]


def write_dialog(path: Path, seconds: float, shift: int) -> int:
    """A 720x480 two-speaker dialog video (``shift`` varies which frames each dialog starts with)."""
    import av

    n = int(seconds * FPS)
    left, right = _faces(n + shift)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as out:
        s = out.add_stream("mpeg4", rate=__import__("fractions").Fraction(30000, 1001))
        s.width, s.height, s.pix_fmt, s.gop_size, s.bit_rate = W, H, "yuv420p", GOP, 1_500_000
        s.codec_context.codec_tag = "XVID"
        frame = np.full((H, W, 3), 40, np.uint8)
        for i in range(n):
            frame[96:384, :360] = left[i + shift]
            frame[96:384, 360:] = right[i + shift]
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return n


def write_evaluation(path: Path, dialog: str, seconds: float, count: int, rng: np.random.Generator) -> int:
    """``count`` utterances in the release's EmoEvaluation format, speakers taking turns."""
    slot = seconds / count
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    spoken = {"F": 0, "M": 0}
    for k in range(count):
        start = k * slot + rng.uniform(0.0, 0.3 * slot)
        end = min(start + rng.uniform(0.5, 0.95) * slot, seconds - 0.05)
        who = "FM"[k % 2]
        uid = f"{dialog}_{who}{spoken[who]:03d}"
        spoken[who] += 1
        v, a, d = rng.uniform(1, 5, 3)
        lines += [f"[{start:.4f} - {end:.4f}]\t{uid}\t{CODES[rng.integers(len(CODES))]}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                  "C-E2:\tNeutral;\t()", "A-E3:\tval 3; act 2; dom  2;\t()", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return count


def make_corpus(root: Path, dialogs: int, minutes: float, utterances: int) -> dict:
    """The stand-in tree under ``root/IEMOCAP_full_release``; what was made."""
    rng = np.random.default_rng(0)
    tree, frames, names = root / "IEMOCAP_full_release", 0, []
    for d in range(dialogs):
        session = f"Session{d // 2 + 1}"
        name = f"Ses0{d // 2 + 1}F_impro0{d % 2 + 1}"
        frames += write_dialog(tree / session / "dialog/avi/DivX" / f"{name}.avi", minutes * 60, shift=97 * d)
        write_evaluation(tree / session / "dialog/EmoEvaluation" / f"{name}.txt", name, minutes * 60,
                         utterances // dialogs, rng)
        names.append(str(tree / session / "dialog/avi/DivX" / f"{name}.avi"))
    return {"root": str(tree), "dialogs": names, "dialog_frames": frames}


def _cli(*args: str) -> float:
    """Seconds `emojax ...` takes in a new process (its start included)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "emojax.cli", *args, "--quiet"], capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"emojax {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    print(r.stdout.strip().splitlines()[-2], file=sys.stderr)
    return took


def _per_cut(root: str, store: str, dialog: str) -> tuple[float, int]:
    """One dialog's utterances each read in a pass of its own (every cut seeks to the keyframe
    before it and decodes from there): seconds, frames. What emojax did before a dialog's cuts
    shared one pass."""
    from emojax.data import batch, load_dataset

    items = [i for i in load_dataset("iemocap", root).items if i.path == dialog]
    batch.PASS_SECONDS = 0.0
    t = time.perf_counter()
    s = batch.extract_items(items, store, workers=1)
    took = time.perf_counter() - t
    batch.PASS_SECONDS = 60.0
    return took, sum(o.frames for o in s.outcomes)


def main() -> None:
    from emojax.fileio import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 dialogs x 1 minute, 40 utterances")
    ap.add_argument("--no-ray", action="store_true", help="leave out --engine ray")
    args = ap.parse_args()
    import cv2

    from emojax.data import load_dataset
    from emojax.features import Extractor, ExtractorConfig
    from emojax.video import FrameReader

    cv2.setNumThreads(1)
    dialogs, minutes, count = (2, 1.0, 40) if args.quick else (4, 5.0, 400)
    cores = os.cpu_count() or 1
    res: dict = {"machine": {"cores": cores, "python": platform.python_version(), "opencv": cv2.__version__},
                 "stand_in": {"dialogs": dialogs, "minutes_each": minutes, "utterances": count,
                              "video": f"{W}x{H} {FPS:.2f} fps MPEG-4 Part 2 (XVID) in AVI, a keyframe at most every "
                                       f"{GOP} frames, two GRID speakers side by side"}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        made = make_corpus(tmp / "corpus", dialogs, minutes, count)
        root = made["root"]
        items = load_dataset("iemocap", root).items
        assert len(items) == count, len(items)
        utt_frames = sum(1 for it in items for _ in FrameReader(it.path, start=it.start, end=it.end))
        res["stand_in"].update(dialog_frames=made["dialog_frames"], utterance_frames=utt_frames,
                               utterance_seconds_mean=float(np.mean([it.end - it.start for it in items])))

        t = time.perf_counter()
        decoded = sum(1 for d in made["dialogs"] for _ in FrameReader(d))
        res["decode_fps"] = decoded / (time.perf_counter() - t)        # the floor: every dialog decoded once

        ex = Extractor(ExtractorConfig(region="left"))
        t = time.perf_counter()
        whole = len(ex(made["dialogs"][0]))
        res["whole_dialog_fps"] = whole / (time.perf_counter() - t)    # one speaker's half, the whole dialog once

        took, frames = _per_cut(root, str(tmp / "per_cut"), made["dialogs"][0])
        res["per_cut_fps"] = frames / took
        res["per_cut_cost_ratio"] = res["whole_dialog_fps"] / res["per_cut_fps"]

        runs = {"1": ["--workers", "1"], str(cores): ["--workers", str(cores)]}
        if not args.no_ray:
            runs[f"ray {cores}"] = ["--engine", "ray"]
        res["extract"] = {}
        for name, extra in runs.items():
            took = _cli("extract", root, "--dataset", "iemocap", "--out", str(tmp / f"store-{name}"), *extra)
            res["extract"][name] = {"seconds": took, "utterances_per_s": count / took,
                                    "utterance_frames_per_s": utt_frames / took}
        one = res["extract"]["1"]
        res["utterance_cost_ratio"] = res["whole_dialog_fps"] / one["utterance_frames_per_s"]
        res["scaling"] = {k: v["seconds"] and one["seconds"] / v["seconds"] for k, v in res["extract"].items()}

    # projections: the measured rate per core, and the measured scaling from 1 to all cores
    # taken to hold per core beyond them
    per_core = one["utterance_frames_per_s"]
    eff = res["scaling"][str(cores)] / cores
    iemocap_frames = IEMOCAP["utterances"] * IEMOCAP["utterance_seconds"] * FPS
    mead_frames = MEAD["hours"] * 3600 * 30.0 * MEAD["views"]
    res["projection"] = {"assumption": f"{per_core:.0f} utterance frames/s per core at 720x480, the measured "
                                       f"{cores}-core efficiency ({eff:.2f}) for more cores; MEAD's 1920x1080 "
                                       "frames cost more to decode than these",
                         "iemocap_frames": iemocap_frames, "mead_frames": mead_frames, "hours": {}}
    for n in (1, cores, 16, 64):
        rate = per_core * (1 if n == 1 else n * eff)
        res["projection"]["hours"][str(n)] = {"iemocap": iemocap_frames / rate / 3600,
                                              "mead": mead_frames / rate / 3600}
    res["targets"] = {"utterance_cost_ratio": 1.3}
    out = ROOT / "artifacts" / "benchmarks" / "corpus.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, res)
    print(json.dumps(res, indent=2))
    print(table(res))


def table(r: dict) -> str:
    s = r["stand_in"]
    rows = [("decode every dialog once (the floor)", f"{r['decode_fps']:.0f} frames/s", ""),
            ("extract one speaker's half of a whole dialog once, 1 core", f"{r['whole_dialog_fps']:.0f} frames/s", "1×")]
    rows.append(("a dialog's utterances, each cut read in a pass of its own, 1 core",
                 f"{r['per_cut_fps']:.0f} frames/s", f"{r['per_cut_cost_ratio']:.2f}× per frame"))
    for name, v in r["extract"].items():
        what = (f"`emojax extract --dataset iemocap --engine ray` (local Ray, {name.split()[1]} CPUs)" if name.startswith("ray")
                else f"`emojax extract --dataset iemocap --workers {name}`")
        ratio = (f"**{r['utterance_cost_ratio']:.2f}×** per frame (target ≤ 1.3×)" if name == "1"
                 else f"{r['scaling'][name]:.2f}× of 1 core")
        rows.append((what, f"{v['utterances_per_s']:.1f} utterances/s, {v['utterance_frames_per_s']:.0f} frames/s "
                     f"({v['seconds']:.0f} s)", ratio))
    table1 = "\n".join(["| what | measured | ratio |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])
    hours = dict(sorted(r["projection"]["hours"].items(), key=lambda kv: int(kv[0])))   # the file keeps keys sorted as text
    head = "| cores | " + " | ".join(hours) + " |"
    def span(h: float) -> str:
        return f"{h * 60:.0f} min" if h < 1 else f"{h:.1f} h" if h < 10 else f"{h:.0f} h"

    table2 = "\n".join([head, "|---|" + "---|" * len(hours),
                        "| IEMOCAP, 10,039 utterances | " + " | ".join(span(v["iemocap"]) for v in hours.values()) + " |",
                        "| MEAD, 60 h × 7 views | " + " | ".join(span(v["mead"]) for v in hours.values()) + " |"])
    return (f"{s['dialogs']} dialogs × {s['minutes_each']:g} min, {s['utterances']} utterances "
            f"({s['utterance_frames']} of {s['dialog_frames']} frames)\n\n{table1}\n\n{table2}")


if __name__ == "__main__":
    main()
