"""Training and evaluation: a run's settings and presets (``config``), the jit-compiled loop
(``loop``), checkpoints (``checkpoint``), protocols (``protocols``), metrics (``metrics``), the
models of one split (``fold_models``), a dataset prepared for a run (``prepare``), its progress
(``progress``), whole runs into a run folder (``run``) and their scoring (``scoring``).

The names below are served when first used, so that reading one registry of this package
(``protocols.PROTOCOLS``, which the CLI offers) imports neither JAX nor the data pipeline."""

from importlib import import_module

#: names served lazily: name -> the module that defines it
_LAZY = {
    "TrainConfig": "emojax.training.config", "PRESETS": "emojax.training.config", "preset": "emojax.training.config",
    "RunConfig": "emojax.training.config", "run_config": "emojax.training.config",
    "read_curves": "emojax.training.progress", "PROTOCOLS": "emojax.training.protocols",
    "Fold": "emojax.training.protocols", "make_folds": "emojax.training.protocols", "train_run": "emojax.training.run",
    "read_predictions": "emojax.training.runfiles", "evaluate_run": "emojax.training.scoring",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emojax.training' has no attribute {name!r}")


__all__ = ["TrainConfig", "PRESETS", "preset", "PROTOCOLS", "Fold", "make_folds", "RunConfig", "run_config",
           "train_run", "evaluate_run", "read_curves", "read_predictions"]
