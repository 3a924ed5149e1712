"""The four models (Flax NNX), one file each, and how a preset builds them.

``rppg`` - :class:`RppgCNN`; ``face`` - :class:`FaceResNet`; ``early_fusion`` -
:class:`EarlyFusion` (paper) or :class:`TemporalFusion` (improved); ``late_fusion`` -
:class:`LateFusion` over the two unimodal models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flax import nnx

from ..errors import ConfigError
from ..presets import PRESET_NAMES
from .common import InputNorm, Stat, masked_mean
from .early_fusion import EarlyFusion, TemporalFusion
from .face_resnet import FaceResNet
from .late_fusion import LateFusion, choose_weight
from .rppg_cnn import RppgCNN

#: the models of a run, in the order of the paper's Table 1
MODEL_NAMES = ("rppg", "face", "late_fusion", "early_fusion")
#: the models trained by gradient descent (late fusion combines two of them)
TRAINED = ("rppg", "face", "early_fusion")
#: the modalities each model reads
MODEL_MODALITIES = {"rppg": ("rppg",), "face": ("face",), "late_fusion": ("rppg", "face"),
                    "early_fusion": ("rppg", "face")}
#: display names as in the paper
TITLES = {"rppg": "rPPG", "face": "Facial", "late_fusion": "Late fusion", "early_fusion": "Early fusion"}

#: per preset: the architecture settings of each trained model
ARCHITECTURES = {
    "paper": {
        "rppg": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},
        "face": {"hidden": 64, "kernel": 5, "pool": "mean", "dropout": 0.0},
        "early_fusion": {"kind": "flatten", "hidden": (512, 256), "dropout": 0.0},
    },
    # chosen held out: on a teaching set made with another seed than the one the README reports
    # (benchmarks/architecture.py, artifacts/benchmarks/architecture.json)
    "improved": {
        "rppg": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},
        "face": {"hidden": 64, "kernel": 5, "pool": "mean", "dropout": 0.2},
        "early_fusion": {"kind": "temporal", "hidden": 64, "kernel": 5, "dropout": 0.2, "modality_dropout": 0.0,
                         "embed": "each"},
    },
}


@dataclass(frozen=True)
class ModelSpec:
    """What a model needs to know about its inputs (saved with every run)."""

    preset: str          # architecture preset: one of emojax.presets.PRESET_NAMES
    rppg_channels: int   # Cr
    face_channels: int   # Cf
    length: int          # T (the paper's early fusion flattens it)
    n_classes: int       # K

    def __post_init__(self):
        counts = (self.rppg_channels, self.face_channels, self.length, self.n_classes)
        if self.preset not in PRESET_NAMES or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in counts) or self.n_classes < 2:
            raise ConfigError(f"not a model specification: preset {self.preset!r}, channels {self.rppg_channels} / "
                              f"{self.face_channels}, length {self.length}, classes {self.n_classes}")

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(name: str, spec: ModelSpec, *, seed: int = 0) -> nnx.Module:
    """A freshly initialised model ``name`` (one of ``TRAINED``) for ``spec``."""
    if spec.preset not in ARCHITECTURES:
        raise ValueError(f"unknown model preset {spec.preset!r}; choose one of {sorted(ARCHITECTURES)}")
    if name not in TRAINED:
        raise ValueError(f"unknown trainable model {name!r}; choose one of {list(TRAINED)} "
                         "(late_fusion is built from a trained rppg and face model)")
    arch = dict(ARCHITECTURES[spec.preset][name])
    rngs = nnx.Rngs(params=seed, dropout=seed + 1)
    if name == "rppg":
        return RppgCNN(spec.rppg_channels, spec.n_classes, **arch, rngs=rngs)
    if name == "face":
        return FaceResNet(spec.face_channels, spec.n_classes, **arch, rngs=rngs)
    if arch.pop("kind") == "flatten":
        return EarlyFusion(spec.rppg_channels, spec.face_channels, spec.length, spec.n_classes, **arch, rngs=rngs)
    return TemporalFusion(spec.rppg_channels, spec.face_channels, spec.n_classes, **arch, rngs=rngs)


__all__ = ["RppgCNN", "FaceResNet", "EarlyFusion", "TemporalFusion", "LateFusion", "choose_weight",
           "InputNorm", "Stat", "masked_mean", "ModelSpec", "build_model", "MODEL_NAMES", "TRAINED",
           "TITLES", "ARCHITECTURES", "MODEL_MODALITIES"]
