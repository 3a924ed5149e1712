"""``EmotionClassifier``: one of the four models behind scikit-learn's estimator interface,
trained here (``fit``) or taken from a finished run (``from_run``: its final model when it was
refitted on all videos, else the folds' models averaged, or one fold's)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .data.transforms import InputConfig, restrict, to_arrays
from .errors import EmojaxError
from .features.modalities import MODALITIES, PAPER_MODALITIES
from .features.modalities import check as check_modalities
from .features.record import ExtractorConfig, Features
from .models import MODEL_NAMES, ModelSpec, model_names
from .training.config import preset as train_preset
from .training.loop import Split
from .training.protocols import split_off
from .training.fold_models import load_models, probabilities, train_models


def _check_arrays(X: dict, spec: ModelSpec | None = None) -> dict:
    """Model input arrays ``{modality: (N, T, C), "mask": (N, T, M)}`` checked (a modality not
    given, or not the model's, has 0 channels and is never observed)."""
    if "mask" not in X or not any(m in X for m in MODALITIES):
        raise ValueError(f"input arrays lack the mask or every modality; give a dict with 'mask' and some of "
                         f"{list(MODALITIES)}, or a list of Features")
    m = np.asarray(X["mask"])
    if m.ndim == 3 and m.shape[2] == len(PAPER_MODALITIES) and not any(k in X for k in MODALITIES
                                                                       if k not in PAPER_MODALITIES):
        # a mask of the pulse and the landmarks alone, as arrays were before voice: the voice absent
        m = np.concatenate([m, np.zeros((*m.shape[:2], len(MODALITIES) - m.shape[2]), m.dtype)], axis=2)
    if m.ndim != 3 or m.shape[2] != len(MODALITIES):
        raise ValueError(f"input mask of shape {m.shape}; expected (N, T, {len(MODALITIES)}): a mask per modality "
                         f"({', '.join(MODALITIES)})")
    out = {k: np.asarray(X[k], np.float32) if k in X else np.zeros((*m.shape[:2], 0), np.float32) for k in MODALITIES}
    bad = [k for k in MODALITIES if out[k].ndim != 3 or out[k].shape[:2] != m.shape[:2]]
    if bad:
        raise ValueError("input shapes " + ", ".join(f"{k} {out[k].shape}" for k in MODALITIES)
                         + f", mask {m.shape} do not agree; expected (N, T, C) each and (N, T, {len(MODALITIES)})")
    out["mask"] = m.astype(bool)
    if spec is not None:
        out = restrict(out, spec.modalities)
        want = {f"{k} channels": (out[k].shape[2], spec.channels_of(k)) for k in MODALITIES}
        if spec.preset == "paper":
            want["frames"] = (m.shape[1], spec.length)
        bad = {k: v for k, v in want.items() if v[0] != v[1]}
        if bad:
            raise ValueError("inputs do not fit the model: " + ", ".join(f"{k} {a} (model: {b})" for k, (a, b) in bad.items()))
    return out


class EmotionClassifier(ClassifierMixin, BaseEstimator):
    """Emotion from face video features, with scikit-learn's ``fit / predict / predict_proba /
    score``.

    ``X`` is a list of :class:`emojax.Features` records (turned into model inputs by the
    preset's :class:`InputConfig`) or a dict of model inputs ``{"rppg", "face", "voice", "mask"}``.

    Args:
        model: a modality's model (``"rppg"``, ``"face"``, ``"voice"``), ``"early_fusion"`` or ``"late_fusion"``.
        modalities: the modalities the model reads (fusion: all of them; default: the pulse and
            the landmarks, the paper's two; a unimodal model's own modality is added).
        preset: ``"paper"`` or ``"improved"`` (inputs, architecture, training).
        epochs, batch_size, learning_rate, seed: override the preset's training settings.
        length: frames of the improved inputs (the paper pads to the longest video).
    """

    def __init__(self, model: str = "early_fusion", preset: str = "improved", *, epochs: int | None = None,
                 batch_size: int | None = None, learning_rate: float | None = None, length: int = 150,
                 seed: int = 0, modalities: Sequence[str] | str = PAPER_MODALITIES):
        self.model = model
        self.modalities = modalities
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.length = length
        self.seed = seed

    # -- inputs ---------------------------------------------------------------------------
    def inputs_for(self, X, speakers: Sequence[str | None] | None = None) -> dict:
        """Model inputs ``{"rppg", "face", "mask"}`` for ``X`` (checked against the fitted model
        when ``X`` is already a dict of arrays), each video transformed as in training. With
        speaker-relative inputs, ``speakers`` must name the speaker of every video (each
        speaker's mean shape is then taken over their videos in ``X``)."""
        if isinstance(X, dict):
            return _check_arrays(X, getattr(self, "spec_", None))
        records = list(X)
        if not records or not all(isinstance(r, Features) for r in records):
            raise ValueError("X must be a non-empty list of Features records or a dict of input arrays")
        if self.inputs_ is None:
            raise ValueError("this classifier was fitted on input arrays; give it input arrays, not Features")
        return restrict(to_arrays(records, self.inputs_, speakers=speakers), self.spec_.modalities)

    def fit(self, X, y, speakers: Sequence[str | None] | None = None) -> "EmotionClassifier":
        """Train on ``X`` with labels ``y``; a validation share (speaker-disjoint when ``speakers``
        name at least 3 speakers) picks the late-fusion weight and, in the improved preset, the
        early-stopping epoch."""
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; choose one of {list(MODEL_NAMES)}")
        mods = check_modalities(self.modalities)
        if self.model in MODALITIES and self.model not in mods:
            mods = check_modalities((*mods, self.model))
        if self.model in ("late_fusion", "early_fusion") and len(mods) < 2:
            raise ValueError(f"{self.model} needs two modalities or more, not {list(mods)}")
        cfg = train_preset(self.preset, epochs=self.epochs, batch_size=self.batch_size,
                           learning_rate=self.learning_rate, seed=self.seed)
        self.classes_, y_idx = np.unique(np.asarray(y), return_inverse=True)
        if not isinstance(X, dict):
            records = list(X)
            self.inputs_ = InputConfig(preset=self.preset, length=self.length if self.preset == "improved" else
                                       max(len(r) for r in records))
            arrays = restrict(to_arrays(records, self.inputs_, speakers=speakers), mods)
        else:
            self.inputs_ = None
            arrays = restrict(_check_arrays(X), mods)
        self.spec_ = ModelSpec.of(self.preset, arrays, len(self.classes_))
        train, val = split_off(y_idx, speakers, cfg.val_fraction, cfg.seed)
        models = train_models((self.model,), Split.of(arrays, train, y_idx), Split.of(arrays, val, y_idx),
                              self.spec_, cfg)
        self.models_ = [models[self.model]]
        return self

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, X, speakers: Sequence[str | None] | None = None) -> np.ndarray:
        """Class probabilities ``(N, K)`` in the order of ``classes_`` (the mean over the folds'
        models for a classifier taken from a run)."""
        check_is_fitted(self, "models_", msg="this EmotionClassifier is not fitted; call fit() or use from_run()")
        split = Split.of(self.inputs_for(X, speakers))
        return np.mean([probabilities(m, split) for m in self.models_], axis=0)

    def predict(self, X, speakers: Sequence[str | None] | None = None) -> np.ndarray:
        proba = self.predict_proba(X, speakers)
        return self.classes_[proba.argmax(axis=1)]

    @classmethod
    def from_run(cls, run: str | os.PathLike, model: str = "early_fusion", fold: int | str | None = None
                 ) -> "EmotionClassifier":
        """The ``model`` of a finished run: ``fold`` None = its final model when it has one,
        else every fold's (probabilities averaged); ``K`` = fold K's (1-based); ``"final"``."""
        return TrainedRun(run).classifier(model, fold)


class TrainedRun:
    """The trained models of a finished run, each split's loaded once, when first asked for."""

    def __init__(self, run: str | os.PathLike, models: Sequence[str] | None = None):
        from .training.runfiles import read_config, read_model_info

        self.path = Path(run)
        config = read_config(self.path)          # refuses a run of another format, saying why
        self.config = json.loads(json.dumps(config.to_dict()))
        info = read_model_info(self.path)
        self.classes = np.array(info["classes"])
        self.spec = ModelSpec(**info["spec"])
        self.inputs = InputConfig(**info["inputs"])
        # which video stream its own videos were read from is theirs, not a setting of the models: a
        # new video is read from its container's default stream unless asked (predict --stream)
        self.extractor = replace(ExtractorConfig.from_dict(info["extractor"]), stream=None)
        self.fold_names = info["folds"]
        self.modalities = self.spec.modalities
        self.model_names = tuple(models) if models is not None else model_names(self.modalities)
        self.has_final = (self.path / "final.json").is_file()
        self._loaded: dict = {}
        self._loading = threading.Lock()     # threads sharing a run (the dashboard's) load each fold once

    def __getstate__(self) -> dict:         # a lock is not sent to another process
        return {k: v for k, v in self.__dict__.items() if k != "_loading"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._loading = threading.Lock()

    @property
    def speaker_relative(self) -> bool:
        return bool(self.inputs.preset == "improved" and self.inputs.speaker_relative)

    def split(self, fold: int | str) -> dict:
        """The models of fold ``fold`` (0-based) or of ``"final"``."""
        name = "final" if fold == "final" else f"fold-{int(fold) + 1}"
        if name not in self._loaded:
            with self._loading:
                if name not in self._loaded:
                    self._loaded[name] = load_models(self.path / "checkpoint" / name, self.spec, self.model_names)
        return self._loaded[name]

    @property
    def folds(self) -> list[dict]:
        """Every fold's models (loaded on first use)."""
        return [self.split(i) for i in range(len(self.fold_names))]

    def which(self, fold: int | str | None = None) -> str:
        """A plain description of the models ``fold`` selects (see ``classifier``)."""
        fold = self._resolve(fold)
        if fold == "final":
            return "final model (trained on every video)"
        if fold is None:
            n = len(self.fold_names)
            return f"mean of the {n} folds' models" if n > 1 else f"the one fold's models ({self.fold_names[0]})"
        return f"fold {fold + 1} ({self.fold_names[fold]})"

    def _resolve(self, fold):
        if fold is None:
            return "final" if self.has_final else None
        if fold == "final":
            if not self.has_final:
                raise EmojaxError(f"{self.path}: has no final model; train it with --refit")
            return "final"
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 1 <= fold <= len(self.fold_names):
            raise EmojaxError(f"{self.path}: no fold {fold!r}; the run has folds 1-{len(self.fold_names)}")
        return int(fold) - 1

    def classifier(self, model: str = "early_fusion", fold: int | str | None = None) -> EmotionClassifier:
        """The run's ``model`` as a classifier: ``fold`` None = the final model when the run has
        one, else the folds' models averaged; ``K`` = fold K's (1-based); ``"final"``."""
        if model not in self.model_names:
            raise ValueError(f"unknown model {model!r}; this run has {list(self.model_names)}")
        fold = self._resolve(fold)
        splits = [self.split(fold)] if fold is not None else self.folds
        clf = EmotionClassifier(model=model, preset=self.spec.preset, length=self.inputs.length or 150,
                                seed=self.config.get("train", {}).get("seed", 0), modalities=self.modalities)
        clf.classes_, clf.spec_, clf.inputs_ = self.classes, self.spec, self.inputs
        clf.models_ = [s[model] for s in splits]
        return clf

    def compile(self) -> None:
        """Run each model once on one video of the run's input length, so that a prediction
        afterwards (of one video, as an upload or a live window) does not wait for its compile."""
        s = self.spec
        zeros = {m: np.zeros((1, s.length, getattr(s, f"{m}_channels")), np.float32) for m in MODALITIES}
        zeros["mask"] = np.ones((1, s.length, len(MODALITIES)), bool) & np.isin(MODALITIES, s.modalities)
        for m in self.model_names:
            self.classifier(m).predict_proba(zeros)

    def describe(self) -> dict:
        return {"run": str(self.path), "classes": self.classes.tolist(), "spec": self.spec.to_dict(),
                "inputs": asdict(self.inputs), "folds": self.fold_names, "final": self.has_final}
