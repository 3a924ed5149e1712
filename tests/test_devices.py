"""Every device: the same training run on one CPU device and on two (XLA's host-platform device
count, set before JAX starts, in a subprocess) gives the same loss curve and the same
predictions, and its step is compiled once per architecture either way; permutation importance
split over two devices gives the same scores and predictions as on one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

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
          "mask": np.ones((n, t, 2), bool)}
arrays["mask"][::5, 40:] = False
arrays["mask"][1::5, :6, 0] = False
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


PFI = """
import json
import jax, numpy as np
from emojax.estimator import EmotionClassifier
from emojax.explain.pfi import permuted_predictions
from emojax.models import ModelSpec, build_model
from emojax.data.transforms import InputConfig
rng = np.random.default_rng(0)
out = {"devices": len(jax.devices())}
for preset, t in (("improved", 32), ("paper", 24)):
    n = 12
    arrays = {"rppg": rng.normal(size=(n, t, 3)).astype(np.float32), "face": rng.normal(size=(n, t, 8)).astype(np.float32),
              "mask": np.ones((n, t, 2), bool)}
    arrays["mask"][1::4, :5, 0] = False
    arrays["mask"][::3, t - 6:] = False                  # videos that lack frames: the comb and flatten paths
    y = rng.integers(0, 3, n)
    spec = ModelSpec(preset=preset, rppg_channels=3, face_channels=8, length=t, n_classes=3)
    for name in ("rppg", "early_fusion"):
        clf = EmotionClassifier(model=name, preset=preset, length=t)
        clf.classes_, clf.spec_, clf.inputs_ = np.arange(3), spec, None
        clf.models_ = [build_model(name, spec, seed=5)]
        r = permuted_predictions(clf, arrays, y, groups="time:4", n_repeats=3, random_state=0)
        out[f"{preset}/{name}"] = {"scores": np.asarray(r.scores).tolist(), "preds": np.asarray(r.preds).tolist(),
                                   "baseline": float(r.baseline)}
print(json.dumps(out))
"""


#: both scripts in one process per device count (one start of Python and JAX instead of two),
#: each in its own namespace; its last line: {"train": ..., "pfi": ...}
BOTH = f"""
import contextlib, io, json
out = {{}}
for name, src in (("train", {SCRIPT!r}), ("pfi", {PFI!r})):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(src, {{"__name__": "__main__"}})
    out[name] = json.loads(printed.getvalue().strip().splitlines()[-1])
print(json.dumps(out))
"""


def _start(devices: int, folder) -> subprocess.Popen:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    env.pop("EMOJAX_JAX_CACHE", None)           # compile here, so the compile count is this run's
    with open(folder / f"{devices}.out", "w") as out, open(folder / f"{devices}.err", "w") as err:
        return subprocess.Popen([sys.executable, "-c", BOTH], stdout=out, stderr=err, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """``{devices: {"train": ..., "pfi": ...}}`` for one and two devices, the two processes side
    by side (their output in files: a pipe left unread while the other is awaited could fill)."""
    folder = tmp_path_factory.mktemp("devices")
    procs = {devices: _start(devices, folder) for devices in (1, 2)}
    out = {}
    for devices, proc in procs.items():
        proc.wait(timeout=600)
        assert proc.returncode == 0, (folder / f"{devices}.err").read_text()[-3000:]
        out[devices] = json.loads((folder / f"{devices}.out").read_text().strip().splitlines()[-1])
    return out


def test_two_devices_train_as_one_does(runs):
    one, two = runs[1]["train"], runs[2]["train"]
    assert (one["devices"], two["devices"]) == (1, 2)
    assert one["compiled"] == two["compiled"] == 2          # one step program per architecture, on 1 or 2 devices
    for model in ("rppg", "early_fusion"):
        for key in ("loss", "val_loss", "logits"):
            a, b = np.array(one[model][key]), np.array(two[model][key])
            assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, (model, key, np.abs(a - b).max())
        assert one[model]["loss"][-1] < one[model]["loss"][0]                # it learned something


def test_permutation_importance_split_over_two_devices_is_the_same(runs):
    """Both presets' rPPG and early-fusion models (a convolution, a temporal fusion, the paper's
    flatten layer) on videos some of which lack frames: every permuted prediction and score
    equal on one and on two devices."""
    one, two = runs[1]["pfi"], runs[2]["pfi"]
    assert (one["devices"], two["devices"]) == (1, 2)
    for key in ("improved/rppg", "improved/early_fusion", "paper/rppg", "paper/early_fusion"):
        assert np.array_equal(one[key]["preds"], two[key]["preds"]), key
        assert np.allclose(one[key]["scores"], two[key]["scores"], atol=1e-12), key
        assert one[key]["baseline"] == two[key]["baseline"]
