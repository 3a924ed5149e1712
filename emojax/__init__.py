"""emojax: interpretable multimodal emotion recognition from face video (rPPG + landmarks).

The public API of this stage: read a video or a dataset into per-video feature records.

    >>> from emojax import Extractor, ExtractorConfig, load_dataset, FeatureStore
"""

from .data import FeatureStore, VideoItem, load_dataset
from .data.teaching import TeachingConfig, make_teaching_set
from .errors import (CheckpointError, DatasetError, EmojaxError, FeatureStoreError, NoFaceError,
                     VideoError)
from .features import PAPER_EXTRACTOR, Extractor, ExtractorConfig, Features, extract
from .features.batch import extract_items
from .video import FrameReader, probe

__version__ = "0.1.0"

__all__ = [
    "Extractor", "ExtractorConfig", "Features", "extract", "extract_items", "PAPER_EXTRACTOR",
    "FeatureStore", "VideoItem", "load_dataset", "TeachingConfig", "make_teaching_set",
    "FrameReader", "probe", "EmojaxError", "VideoError", "NoFaceError", "DatasetError",
    "FeatureStoreError", "CheckpointError",
]
