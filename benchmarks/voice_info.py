"""How much the teaching set's voice says at each ``voice_info``: the voices of the default teaching
set (audio only, as ``make_teaching_set`` writes them; no video), read by openSMILE (eGeMAPS v02
low-level descriptors), summarised per clip by six values a person can name (mean F0, F0 range,
loudness, HNR, jitter, voiced onsets per second), normalised per actor, and classified by a
logistic regression, leave one actor out. Prints the unweighted average recall (UAR) per
voice_info for a teaching set made with another seed (where the default is chosen: the grid
value nearest 73 %, the middle of the 70-77 % speech-only models reach on IEMOCAP and CREMA-D)
and for the README's own set (seed 0, where nothing is chosen). Writes
artifacts/benchmarks/voice_info.json.

    .venv/bin/python benchmarks/voice_info.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
CHOOSE_SEED, REPORT_SEED, TARGET_UAR = 1, 0, 0.73
FEATURES = ("F0 mean", "F0 range", "loudness", "HNR", "jitter", "onsets/s")


def clip_features(smile, audio: np.ndarray, fs: int) -> list[float]:
    df = smile.process_signal(audio, fs)
    f0 = df["F0semitoneFrom27.5Hz_sma3nz"].to_numpy()
    voiced = f0 > 0
    onsets = np.count_nonzero(np.diff(np.r_[0, voiced.astype(int)]) == 1)
    return [f0[voiced].mean(), np.subtract(*np.percentile(f0[voiced], [90, 10])), df["Loudness_sma3"].mean(),
            df["HNRdBACF_sma3nz"].to_numpy()[voiced].mean(), df["jitterLocal_sma3nz"].to_numpy()[voiced].mean(),
            onsets / (len(audio) / fs)]


def voice_uar(smile, cfg) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    from emojax.data.teaching import TEACHING_CLASSES, teaching_voice

    jobs = [(label, k) for label in TEACHING_CLASSES for k in range(cfg.clips_per_class)]
    x, y, actor = [], [], []
    for i, (label, _) in enumerate(jobs):
        v = teaching_voice(cfg, i, label, cfg.groups)
        x.append(clip_features(smile, v.audio, v.fs))
        y.append(label)
        actor.append(i % cfg.groups)
    x, y, actor = np.array(x), np.array(y), np.array(actor)
    for a in set(actor):                                 # speaker normalisation
        m = actor == a
        x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-9)
    pred = np.empty_like(y)
    for a in set(actor):
        m = actor == a
        pred[m] = LogisticRegression(max_iter=2000).fit(x[~m], y[~m]).predict(x[m])
    return float(balanced_accuracy_score(y, pred))


def main() -> None:
    import opensmile

    from emojax.data.teaching import TeachingConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 clips per class of 4 s (a smoke run)")
    args = ap.parse_args()
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    base = TeachingConfig(**({"clips_per_class": 4, "seconds": 4.0} if args.quick else {}))
    out = {"features": FEATURES, "clips_per_class": base.clips_per_class, "seconds": base.seconds,
           "actors": base.groups, "uar": {}}
    for seed in (CHOOSE_SEED, REPORT_SEED):
        for vi in GRID:
            t = time.perf_counter()
            uar = voice_uar(smile, replace(base, seed=seed, voice_info=vi))
            out["uar"].setdefault(str(seed), {})[str(vi)] = uar
            print(f"seed {seed}  voice_info {vi:.2f}  voice-only UAR {uar:.1%}  ({time.perf_counter() - t:.0f} s)", flush=True)
    chosen = min(GRID, key=lambda vi: abs(out["uar"][str(CHOOSE_SEED)][str(vi)] - TARGET_UAR))
    out["chosen"] = chosen
    print(f"chosen on seed {CHOOSE_SEED}: voice_info {chosen} "
          f"(reported on seed {REPORT_SEED}: UAR {out['uar'][str(REPORT_SEED)][str(chosen)]:.1%})")
    if not args.quick:
        from emojax.fileio import atomic_write_json

        atomic_write_json(ROOT / "artifacts" / "benchmarks" / "voice_info.json", out)


if __name__ == "__main__":
    main()
