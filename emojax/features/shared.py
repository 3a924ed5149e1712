"""This process's extractors: one per setting, built at the first video that needs it and reused
for every later one, all sharing one landmark model (an extraction worker reads many videos; the
dashboard serves many visitors)."""

from __future__ import annotations

from functools import cache

from .landmarks import LandmarkPredictor
from .pipeline import Extractor
from .record import ExtractorConfig


def shared_predictor() -> LandmarkPredictor:
    """dlib's 68-point model, loaded once per process (it keeps no state between calls). A pool
    worker forked from a server that imported :mod:`.preload` has it loaded already."""
    from . import preload

    return preload.PREDICTOR


@cache
def shared_extractor(config: ExtractorConfig) -> Extractor:
    """This process's extractor for ``config`` (its face detector built once), on the shared
    landmark model. Each call reads one video at a time: callers on several threads take turns."""
    return Extractor(config, predictor=shared_predictor())
