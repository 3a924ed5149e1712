"""Training and evaluation: settings and presets (``config``), the jit-compiled loop (``loop``),
checkpoints (``checkpoint``), protocols (``protocols``), metrics (``metrics``), the models of
one split (``fold_models``) and whole runs into a run folder (``run``)."""

from .config import PRESETS, TrainConfig, preset
from .protocols import PROTOCOLS, Fold, make_folds
from .run import RunConfig, evaluate_run, read_curves, run_config, train_run
from .runfiles import read_predictions

__all__ = ["TrainConfig", "PRESETS", "preset", "PROTOCOLS", "Fold", "make_folds", "RunConfig", "run_config",
           "train_run", "evaluate_run", "read_curves", "read_predictions"]
