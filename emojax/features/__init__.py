"""Per-frame features of a face video: face box, 68 landmarks and ROI colour, then rPPG."""

from .record import PAPER_EXTRACTOR, ExtractorConfig, Features
from .pipeline import Extractor, extract
from .tracker import DetectEveryFrame, FaceTracker

__all__ = ["ExtractorConfig", "Features", "Extractor", "FaceTracker", "DetectEveryFrame", "extract", "PAPER_EXTRACTOR"]
