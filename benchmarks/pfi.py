"""Permutation importance of the paper's early-fusion network (T=150 frames x 139 features,
2,000 held-out videos, 10 repeats): ``emojax.explain.permutation_importance`` against
``sklearn.inspection.permutation_importance`` permuting the same column blocks, in one run,
over the 139 per-channel groups and the 2 modality groups. Checks that both give the same
numbers, writes artifacts/benchmarks/pfi.json and prints a Markdown table for the README.

    .venv/bin/python benchmarks/pfi.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T, RPPG, FACE, CLASSES = 150, 3, 136, 10
TARGETS = {"channel": 50.0, "modality": 10.0}


def data(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """Videos whose class shows in the green channel and in a few landmark coordinates."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    rppg = rng.normal(0, 1, (n, T, RPPG)).astype(np.float32)
    face = rng.normal(0, 1, (n, T, FACE)).astype(np.float32)
    rppg[:, :, 1] += 0.15 * y[:, None]
    face[:, :, 96:106] += 0.1 * (y % 3)[:, None, None]
    return {"rppg": rppg, "face": face, "mask": np.ones((n, T, 2), bool)}, y.astype(str)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def sklearn_call_profile(view, tokens) -> dict:
    """One scikit-learn scoring call on its side: assembling the permuted rows, and the model."""
    (flat, t_assemble) = timed(lambda: view.assemble(tokens))
    _, t_model = timed(lambda: view.view.predict_proba(flat))
    return {"assemble_s": t_assemble, "model_s": t_model}


def measure(clf, X, y, grouping: str, repeats: int) -> dict:
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    from emojax.explain import block_view, permutation_importance

    def ours():
        return permutation_importance(clf, X, y, n_repeats=repeats, random_state=0, groups=grouping)

    first, first_s = timed(ours)
    res, ours_s = timed(ours)
    view, tokens = block_view(clf, X, grouping)
    ref, sk_s = timed(lambda: sk_permutation_importance(view, tokens, y, n_repeats=repeats, random_state=0))
    g = len(res.names)
    ref_imp = ref.importances[:g]
    return {"grouping": grouping, "groups": g, "repeats": repeats, "videos": len(y),
            "emojax_s": ours_s, "emojax_first_s": first_s, "sklearn_s": sk_s, "speedup": sk_s / ours_s,
            "speedup_with_compile": sk_s / first_s,
            "identical": bool(np.array_equal(res.importances, ref_imp)),
            "repeatable": bool(np.array_equal(res.importances, first.importances)),
            "max_abs_difference": float(np.abs(res.importances - ref_imp).max()),
            "sklearn_calls": g * repeats + 1, "sklearn_call": sklearn_call_profile(view, tokens),
            "top": [res.names[i] for i in np.argsort(res.importances_mean)[::-1][:5]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 videos, 3 repeats (a smoke run)")
    args = ap.parse_args()
    import jax

    from emojax import EmotionClassifier

    n, repeats = (200, 3) if args.quick else (2000, 10)
    X_train, y_train = data(1024, seed=0)
    clf = EmotionClassifier("early_fusion", "paper", epochs=3, seed=0).fit(X_train, y_train)
    X, y = data(n, seed=1)
    rows = [measure(clf, X, y, g, repeats) for g in ("modality", "channel")]
    result = {"what": "permutation importance, paper early fusion (T=150 x 139), emojax vs scikit-learn "
                      "permuting the same column blocks",
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
                          "device": str(jax.devices()[0])},
              "accuracy": float(clf.score(X, y)), "targets": TARGETS, "rows": rows}
    if not args.quick:
        out = ROOT / "artifacts" / "benchmarks" / "pfi.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"held-out accuracy {result['accuracy']:.3f}; {n} videos, {repeats} repeats")
    print("| groups | emojax | scikit-learn | speed-up (target) | with compilation | same numbers |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grouping']} ({r['groups']}) | {r['emojax_s']:.1f} s | {r['sklearn_s']:.0f} s | "
              f"**{r['speedup']:.0f}x** (>= {TARGETS[r['grouping']]:.0f}x) | {r['speedup_with_compile']:.0f}x | "
              f"{'identical' if r['identical'] else 'max difference %.3g' % r['max_abs_difference']} |")
    for r in rows:
        c = r["sklearn_call"]
        print(f"  {r['grouping']}: scikit-learn makes {r['sklearn_calls']} calls of ~{c['assemble_s'] + c['model_s']:.2f} s "
              f"({c['assemble_s']:.2f} s assembling the rows, {c['model_s']:.2f} s the model); top: {', '.join(r['top'])}")


if __name__ == "__main__":
    main()
