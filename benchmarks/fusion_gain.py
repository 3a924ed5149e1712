"""Does early fusion of all three modalities beat every two-way early fusion? Measured on a planted
set that no test uses: the speaking teaching set of ``tests/test_voice_teaching.py`` (conftest
``SPEAKING``: 20 clips a class of 5 s, the face telling valence, the pulse arousal on half the
clips, the voice both at ``voice_info``) made with another seed (:data:`SEED`), at two voice
strengths, with three early-fusion architectures: the improved preset's own, with modality
dropout 0.25, and 96 wide (32 per modality with three) instead of 64. Each run is leave one actor
out, one seed, 40 epochs, speaker-relative inputs, as in the test; every clip is held out once,
so the three-way run and each two-way run are compared clip by clip (gain and the standard error
of a paired difference of proportions, as the test computes them). Writes
artifacts/benchmarks/fusion_gain.json and prints the README's table.

    .venv/bin/python benchmarks/fusion_gain.py [--work DIR] [--workers N]

Nothing here is chosen: the architectures are not changed by it, and the test keeps its claim (an
expected failure where it does not hold). A run in ``--work`` that finished with the same settings
and the same early-fusion architecture is read again, not retrained; any other is removed and
trained afresh. ``benchmark.json`` beside each run records that architecture and the seconds its
training took, so the JSON gives the cost of the benchmark from scratch (``train_seconds``) even
when every run was read again. ``SPEAKING`` and ``RUN`` are
the test's set and runs but for the set's seed and voice strength (``tests/test_voice_teaching.py``
checks that they agree).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
#: the test's set (conftest SPEAKING) but for its seed (11) and voice strength (0.6, and 0.3 here)
SPEAKING = dict(clips_per_class=20, seconds=5.0, size=192, face_info=1.0, pulse_info=0.5)
SEED, VOICE_INFOS = 12, (0.6, 0.3)
#: how each run is trained (conftest speaking_run's settings)
RUN = dict(preset="improved", protocol="speaker", epochs=40, speaker_relative=True)
#: early-fusion settings tried beside the preset's own: short name -> (title, settings changed)
VARIANTS = {"incumbent": ("the preset's", {}), "md25": ("modality dropout 0.25", {"modality_dropout": 0.25}),
            "h96": ("96 wide", {"hidden": 96})}
THREE = ("rppg", "face", "voice")
TWO = (("rppg", "face"), ("rppg", "voice"), ("face", "voice"))


def speaking_set(work: Path, voice_info: float, workers: int | None) -> Path:
    from benchmarks.voice_teaching import teaching_set
    from emojax.data.teaching import TeachingConfig

    cfg = TeachingConfig(**SPEAKING, voice_info=voice_info, seed=SEED)
    return teaching_set(work / f"set{SEED}-v{voice_info}", cfg, workers, flag="--work")


def run(root: Path, out: Path, arch: dict, modalities: tuple[str, ...], workers: int | None) -> tuple[dict, bool]:
    """Each model's accuracy, by clip id whether early fusion got the held-out clip right, and the
    seconds its training took; and whether the run was trained now (else read again)."""
    from benchmarks.architecture import using
    from emojax.fileio import atomic_write_json
    from emojax.training.config import run_config
    from emojax.training.run import finished, train_run

    cfg = run_config("teaching", root, store=str(root / "store"), modalities=modalities, **RUN)
    said, want = out / "benchmark.json", json.loads(json.dumps(arch["early_fusion"]))
    record = json.loads(said.read_text()) if said.is_file() else {}
    trained = record.get("early_fusion") != want or finished(out, cfg) is None
    if trained:
        if out.exists():
            shutil.rmtree(out)                   # the architecture is not in config.json: never resumed
        t = time.perf_counter()
        with using(arch):
            train_run(cfg, out, workers=workers)
        record = {"early_fusion": want, "train_seconds": time.perf_counter() - t}
        atomic_write_json(said, record)
    with np.load(out / "predictions.npz") as p:
        right = {k[6:]: p[k].argmax(axis=1) == p["y_true"] for k in p.files if k.startswith("proba_")}
        ids = p["ids"].tolist()
    return {"accuracy": {m: float(r.mean()) for m, r in right.items()}, "train_seconds": record["train_seconds"],
            "early_right": dict(zip(ids, right["early_fusion"].tolist()))}, trained


def gain(three: dict, other: dict) -> dict:
    """The three-way run's gain over ``other``, clip by clip (as tests/test_voice_teaching.py)."""
    if set(three) != set(other):
        raise SystemExit("the two runs did not hold out the same clips")
    ids = sorted(three)
    x, y = np.array([three[i] for i in ids]), np.array([other[i] for i in ids])
    n, b, c = len(ids), int((x & ~y).sum()), int((~x & y).sum())
    return {"gain": (b - c) / n, "se": float(np.sqrt(b + c - (b - c) ** 2 / n) / n), "b": b, "c": c, "n": n}


def main() -> None:
    from emojax.fileio import atomic_write_json
    from emojax.models import ARCHITECTURES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(ROOT / "artifacts" / "benchmarks" / "fusion_gain"),
                    help="where the sets, their features and the runs go")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = ap.parse_args()
    work = Path(args.work)
    start = time.perf_counter()
    res: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                 "set": {**SPEAKING, "seed": SEED}, "run": RUN, "results": {},
                 "variants": {t: {"title": n, "changed": u, "early_fusion": {**ARCHITECTURES["improved"]["early_fusion"], **u}}
                              for t, (n, u) in VARIANTS.items()}}
    trained = reused = 0
    train_seconds = 0.0
    lines = ["| voice strength | early fusion | all three | rPPG+face | rPPG+voice | face+voice |",
             "|---|---|---|---|---|---|"]
    for v in VOICE_INFOS:
        root = speaking_set(work, v, args.workers)
        for tag, (name, upd) in VARIANTS.items():
            arch = copy.deepcopy(ARCHITECTURES["improved"])
            arch["early_fusion"].update(upd)
            runs = {}
            for mods in (THREE, *TWO):
                runs[mods], now = run(root, work / "runs" / f"{SEED}-{v}-{tag}-{'-'.join(mods)}", arch, mods,
                                      args.workers)
                trained, reused = trained + now, reused + (not now)
                train_seconds += runs[mods]["train_seconds"]
            three = runs[THREE]
            entry = {"accuracy": {"+".join(m): r["accuracy"] for m, r in runs.items()},
                     "gain": {"+".join(m): gain(three["early_right"], runs[m]["early_right"]) for m in TWO}}
            res["results"][f"{v}/{name}"] = entry
            cells = [f"{100 * three['accuracy']['early_fusion']:.1f}"]
            for m in TWO:
                g = entry["gain"]["+".join(m)]
                cells.append(f"{100 * runs[m]['accuracy']['early_fusion']:.1f} ({100 * g['gain']:+.1f} ± "
                             f"{100 * g['se']:.1f})")
            lines.append(f"| {v} | {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    res["seconds_this_invocation"] = time.perf_counter() - start
    res["runs_trained"], res["runs_read_again"] = trained, reused
    res["train_seconds"] = train_seconds           # every run's training, whenever it was trained
    res["table"] = lines
    atomic_write_json(ROOT / "artifacts" / "benchmarks" / "fusion_gain.json", res)
    print("\nearly-fusion accuracy, % of the 80 clips held out (the three-way gain over each, points ± SE):")
    print("\n".join(lines))
    print(f"\n{res['seconds_this_invocation'] / 60:.1f} min this time ({trained} runs trained, {reused} finished "
          f"ones read again); the runs' training {train_seconds / 60:.1f} min in all")


if __name__ == "__main__":
    main()
