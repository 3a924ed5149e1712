"""emojax: interpretable multimodal emotion recognition from face video (rPPG + landmarks).

    >>> from emojax import Extractor, load_dataset, EmotionClassifier, run_config, train_run

Reading videos into features needs only OpenCV and dlib; the models (JAX/Flax) are imported
the first time one of their names is used, so extraction workers start light.
"""

from importlib import import_module

from .data import FeatureStore, VideoItem, load_dataset
from .data.teaching import TeachingConfig, make_teaching_set
from .errors import (CheckpointError, DatasetError, EmojaxError, FeatureStoreError, NoFaceError,
                     VideoError)
from .features import PAPER_EXTRACTOR, Extractor, ExtractorConfig, Features, extract
from .data.batch import extract_items
from .video import FrameReader, probe

__version__ = "0.1.0"

#: names served lazily (they import JAX): name -> module
_LAZY = {
    "EmotionClassifier": "emojax.estimator", "TrainedRun": "emojax.estimator",
    "predict_video": "emojax.inference", "predict_videos": "emojax.inference",
    "cross_evaluate": "emojax.crosscorpus", "InputConfig": "emojax.data.transforms", "to_arrays": "emojax.data.transforms",
    "TrainConfig": "emojax.training.config", "RunConfig": "emojax.training.config",
    "run_config": "emojax.training.config", "train_run": "emojax.training.run", "evaluate_run": "emojax.training.scoring",
    "permutation_importance": "emojax.explain.pfi", "explain_run": "emojax.explain.importance",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emojax' has no attribute {name!r}")


__all__ = [
    "Extractor", "ExtractorConfig", "Features", "extract", "extract_items", "PAPER_EXTRACTOR",
    "FeatureStore", "VideoItem", "load_dataset", "TeachingConfig", "make_teaching_set",
    "FrameReader", "probe", "EmojaxError", "VideoError", "NoFaceError", "DatasetError",
    "FeatureStoreError", "CheckpointError", *_LAZY,
]
