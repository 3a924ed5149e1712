"""One video -> features -> each model of a finished run -> class probabilities."""

from __future__ import annotations

import os
from typing import Callable

from .estimator import TrainedRun
from .features import Extractor
from .models import MODEL_NAMES
from .video import check_video_file


def predict_features(features, run: TrainedRun) -> dict:
    """Each model's class probabilities (the mean over the run's folds) for one feature record;
    the video's speaker is unknown, so landmarks are taken relative to the training population."""
    classes = [str(c) for c in run.classes]
    arrays = run.classifier(MODEL_NAMES[0]).inputs_for([features])
    models = {}
    for m in MODEL_NAMES:
        p = run.classifier(m).predict_proba(arrays)[0]
        models[m] = {"proba": dict(zip(classes, map(float, p))), "label": classes[int(p.argmax())]}
    return {"classes": classes, "models": models, "label": models["early_fusion"]["label"],
            "frames": len(features), "face_ratio": round(features.face_ratio, 4)}


def predict_video(path: str | os.PathLike, run: str | os.PathLike | TrainedRun, *, start: float | None = None,
                  end: float | None = None, extractor: Extractor | None = None,
                  progress: Callable[[int], None] | None = None, accept_partial: bool = False) -> dict:
    """Extract ``path`` (or its ``[start, end)`` seconds) with the run's extractor settings and
    predict it with every model of ``run``. ``extractor``: one built already (the dashboard
    keeps one per process); it must have the run's settings. A video that is not whole is
    refused unless ``accept_partial`` (then ``result["integrity"]`` says what is missing)."""
    check_video_file(path)                       # a bad file is refused before any model is loaded
    run = run if isinstance(run, TrainedRun) else TrainedRun(run)
    if extractor is None:
        extractor = Extractor(run.extractor)
    elif extractor.config != run.extractor:
        raise ValueError(f"the extractor's settings differ from the run's ({run.path}): "
                         f"{extractor.config} vs {run.extractor}")
    features = extractor(path, start=start, end=end, progress=progress, accept_partial=accept_partial)
    return {"video": os.fspath(path), "run": str(run.path), **predict_features(features, run),
            "integrity": features.source["integrity"]}
