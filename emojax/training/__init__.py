"""Training and evaluation: a run's settings and presets (``config``), the jit-compiled loop
(``loop``), checkpoints (``checkpoint``), protocols (``protocols``), metrics (``metrics``), the
models of one split (``fold_models``), a dataset prepared for a run (``prepare``), its progress
(``progress``), whole runs into a run folder (``run``) and their scoring (``scoring``)."""

from .config import PRESETS, RunConfig, TrainConfig, preset, run_config
from .progress import read_curves
from .protocols import PROTOCOLS, Fold, make_folds
from .run import train_run
from .runfiles import read_predictions
from .scoring import evaluate_run

__all__ = ["TrainConfig", "PRESETS", "preset", "PROTOCOLS", "Fold", "make_folds", "RunConfig", "run_config",
           "train_run", "evaluate_run", "read_curves", "read_predictions"]
