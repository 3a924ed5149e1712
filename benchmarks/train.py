"""Training speed of the paper's early-fusion network (flatten -> 512 -> 256 -> classes, Adam
1e-3, batch 32): emojax's jit-compiled step against scikit-learn's ``MLPClassifier`` with the
same layers on the same data, in one run, at T=150 and T=900 frames x 139 features. Writes
artifacts/benchmarks/train.json and prints a Markdown table for the README.

    .venv/bin/python benchmarks/train.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IEMOCAP_VIDEOS, PAPER_EPOCHS, CLASSES = 10_039, 50, 10
RPPG, FACE = 3, 136


def data(n: int, t: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    rppg = rng.normal(0, 1, (n, t, RPPG)).astype(np.float32)
    face = rng.normal(0, 1, (n, t, FACE)).astype(np.float32)
    face[:, :, 0] += y[:, None] * 0.1
    return {"rppg": rppg, "face": face, "mask": np.ones((n, t, 2), bool)}, y


def emojax_epochs(arrays: dict, y: np.ndarray, epochs: int) -> list[float]:
    """Seconds of each epoch of emojax's own training loop (the first includes compilation)."""
    from emojax.models import ModelSpec, build_model
    from emojax.training.config import preset
    from emojax.training.loop import Split, fit

    t = arrays["mask"].shape[1]
    model = build_model("early_fusion", ModelSpec("paper", RPPG, FACE, t, CLASSES))
    model.fit_inputs(arrays["rppg"], arrays["face"], arrays["mask"])
    _, progress = fit(model, Split.of(arrays, y=y), None, preset("paper", epochs=epochs), n_classes=CLASSES)
    return [h["seconds"] for h in progress.history]


def sklearn_epochs(arrays: dict, y: np.ndarray, epochs: int) -> list[float]:
    """Seconds of each epoch of ``MLPClassifier(hidden_layer_sizes=(512, 256))`` (Adam 1e-3,
    batch 32, no L2, the same standardised, flattened inputs)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x = np.concatenate([arrays["rppg"], arrays["face"]], axis=2)
    x = ((x - x.mean(axis=(0, 1))) / x.std(axis=(0, 1))).reshape(len(x), -1)
    clf = MLPClassifier(hidden_layer_sizes=(512, 256), solver="adam", learning_rate_init=1e-3, batch_size=32,
                        alpha=0.0, max_iter=1, shuffle=True, random_state=0, warm_start=True)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            t0 = time.perf_counter()
            clf.fit(x, y)
            out.append(time.perf_counter() - t0)
    return out


def _ms(fn, *args, repeat: int = 20) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / repeat * 1000


def step_profile(t: int, batch: int = 32) -> dict:
    """Where a step's time goes: the first layer's forward and weight-gradient matmuls and
    Adam's update of its weights, each alone (ms), against numpy's BLAS for the matmuls."""
    import jax
    import jax.numpy as jnp
    import optax

    k = t * (RPPG + FACE)
    rng = np.random.default_rng(0)
    x, w, d = (rng.normal(0, 1, s).astype(np.float32) for s in ((batch, k), (k, 512), (batch, 512)))
    tx = optax.adam(1e-3)
    adam = jax.jit(lambda p, s, g: (lambda u, s2: (optax.apply_updates(p, u), s2))(*tx.update(g, s, p)),
                   donate_argnums=(0, 1))
    params, grads = jnp.asarray(w), jnp.asarray(w) * 1e-3
    state = tx.init(params)

    def adam_step(g):
        nonlocal params, state
        params, state = adam(params, state, g)
        return params

    xj, wj, dj = map(jnp.asarray, (x, w, d))
    return {"fc1_forward_ms": _ms(jax.jit(lambda a, b: a @ b), xj, wj),
            "fc1_weight_grad_ms": _ms(jax.jit(lambda a, b: a.T @ b), xj, dj),
            "fc1_adam_ms": _ms(adam_step, grads),
            "numpy_forward_ms": _ms(lambda a, b: a @ b, x, w), "numpy_weight_grad_ms": _ms(lambda a, b: a.T @ b, x, d)}


def measure(t: int, n: int, epochs: int, sk_epochs: int) -> dict:
    arrays, y = data(n, t)
    ours = emojax_epochs(arrays, y, epochs)
    theirs = sklearn_epochs(arrays, y, sk_epochs)
    steady = float(np.median(ours[1:]))
    sk = float(np.median(theirs))
    per_video = steady / n
    return {"frames": t, "features": RPPG + FACE, "videos": n, "batch": 32,
            "emojax_epoch_s": steady, "emojax_first_epoch_s": ours[0], "compile_s": ours[0] - steady,
            "sklearn_epoch_s": sk, "speedup": sk / steady,
            "projected_paper_s": per_video * IEMOCAP_VIDEOS * PAPER_EPOCHS + (ours[0] - steady),
            "projected_paper_sklearn_s": sk / n * IEMOCAP_VIDEOS * PAPER_EPOCHS,
            "step_ms": steady / np.ceil(n / 32) * 1000, "profile": step_profile(t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer videos and epochs (a smoke run)")
    args = ap.parse_args()
    import jax

    sizes = [(150, 256 if args.quick else 1024), (900, 64 if args.quick else 256)]
    rows = [measure(t, n, 3 if args.quick else 4, 1 if args.quick else 2) for t, n in sizes]
    result = {"what": "paper early fusion, one epoch: emojax jit step vs scikit-learn MLPClassifier",
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
                          "device": str(jax.devices()[0])},
              "targets": {"speedup": 5.0, "projected_paper_s_at_150": 360.0}, "rows": rows}
    if not args.quick:
        out = ROOT / "artifacts" / "benchmarks" / "train.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print("| T x features | emojax s/epoch | scikit-learn s/epoch | speed-up | compile | paper's 50 epochs x 10,039 videos |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['frames']} x {r['features']} ({r['videos']} videos) | {r['emojax_epoch_s']:.2f} | "
              f"{r['sklearn_epoch_s']:.2f} | **{r['speedup']:.1f}x** | {r['compile_s']:.1f} s | "
              f"{r['projected_paper_s'] / 60:.1f} min (scikit-learn {r['projected_paper_sklearn_s'] / 60:.0f} min) |")
    print("\nper step of 32 videos (ms): whole step; first layer alone: forward, weight gradient, Adam "
          "(numpy BLAS forward / weight gradient)")
    for r in rows:
        p = r["profile"]
        print(f"  T={r['frames']}: {r['step_ms']:.0f}; {p['fc1_forward_ms']:.1f}, {p['fc1_weight_grad_ms']:.1f}, "
              f"{p['fc1_adam_ms']:.1f} ({p['numpy_forward_ms']:.1f} / {p['numpy_weight_grad_ms']:.1f})")


if __name__ == "__main__":
    main()
