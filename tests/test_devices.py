"""Training on every device: the same run on one CPU device and on two (XLA's host-platform
device count, set before JAX starts, in a subprocess) gives the same loss curve and the same
predictions, and its step is compiled once per architecture either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, logging
import jax, numpy as np
jax.config.update("jax_log_compiles", True)
compiled = []
class Count(logging.Handler):
    def emit(self, record):
        if "Compiling jit(train_step)" in record.getMessage():
            compiled.append(record.getMessage())
logging.getLogger("jax").addHandler(Count())
logging.getLogger("jax").setLevel(logging.WARNING)
from emojax.models import ModelSpec, build_model
from emojax.training.config import preset
from emojax.training.loop import Split, fit, predict_logits
from dataclasses import replace
rng = np.random.default_rng(0)
n, t = 52, 48
arrays = {"rppg": rng.normal(size=(n, t, 3)).astype(np.float32), "face": rng.normal(size=(n, t, 8)).astype(np.float32),
          "mask": np.ones((n, t), bool)}
arrays["mask"][::5, 40:] = False
y = rng.integers(0, 3, n)
arrays["rppg"][:, :, 0] += y[:, None] * 0.5
spec = ModelSpec(preset="improved", rppg_channels=3, face_channels=8, length=t, n_classes=3)
cfg = replace(preset("improved", epochs=4, seed=1), batch_size=16, patience=0)
out = {}
for name in ("rppg", "early_fusion"):
    model = build_model(name, spec, seed=3)
    model, progress = fit(model, Split.of(arrays, np.arange(40), y), Split.of(arrays, np.arange(40, n), y), cfg, n_classes=3)
    out[name] = {"loss": [r["train_loss"] for r in progress.history], "val_loss": [r["val_loss"] for r in progress.history],
                 "logits": predict_logits(model, Split.of(arrays)).tolist()}
out["devices"] = len(jax.devices())
out["compiled"] = len(compiled)
print(json.dumps(out))
"""


def _run(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    env.pop("EMOJAX_JAX_CACHE", None)           # compile here, so the compile count is this run's
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_devices_train_as_one_does():
    one, two = _run(1), _run(2)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert one["compiled"] == two["compiled"] == 2          # one step program per architecture, on 1 or 2 devices
    for model in ("rppg", "early_fusion"):
        for key in ("loss", "val_loss", "logits"):
            a, b = np.array(one[model][key]), np.array(two[model][key])
            assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, (model, key, np.abs(a - b).max())
        assert one[model]["loss"][-1] < one[model]["loss"][0]                # it learned something
