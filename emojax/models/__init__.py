"""The models of a run (Flax NNX), one file each, and how a preset builds them.

Each modality alone - ``rppg``: :class:`RppgCNN`; ``face``: :class:`FaceResNet`; ``voice``:
:class:`VoiceCNN`; and, in a run of two modalities or more, ``early_fusion``:
:class:`EarlyFusion` (paper) or :class:`TemporalFusion` (improved) over all of them, and
``late_fusion``: :class:`LateFusion` over the unimodal models. :func:`model_names` says which a
run of given modalities has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flax import nnx

from ..errors import ConfigError
from ..features.modalities import MODALITIES, PAPER_MODALITIES, TABLE_TITLES
from ..features.modalities import check as check_modalities
from ..presets import PRESET_NAMES
from .common import InputNorm, Stat, masked_mean
from .early_fusion import EarlyFusion, TemporalFusion
from .face_resnet import FaceResNet
from .late_fusion import LateFusion, choose_weights
from .rppg_cnn import RppgCNN
from .voice_cnn import VoiceCNN

FUSED = ("late_fusion", "early_fusion")
#: every model a run can have, in the order of the paper's Table 1 (each modality alone, then fusion)
MODEL_NAMES = (*MODALITIES, *FUSED)
#: every model trained by gradient descent (late fusion combines the unimodal ones)
TRAINED = (*MODALITIES, "early_fusion")
#: the random stream of each trained model (its seeds and shuffling), fixed so that adding a
#: modality to the library moves no number of a run without it
STREAMS = {"rppg": 0, "face": 1, "early_fusion": 2, "voice": 3}
#: display names as in the paper
TITLES = {"rppg": TABLE_TITLES["rppg"], "face": "Facial", "voice": "Voice", "late_fusion": "Late fusion",
          "early_fusion": "Early fusion"}


def model_names(modalities=PAPER_MODALITIES) -> tuple[str, ...]:
    """The models of a run of ``modalities``: each alone, then late and early fusion when there are two or more."""
    mods = check_modalities(modalities)
    return (*mods, *(FUSED if len(mods) > 1 else ()))


def trained_names(modalities=PAPER_MODALITIES) -> tuple[str, ...]:
    """The models a run of ``modalities`` trains by gradient descent, in training order."""
    return tuple(m for m in model_names(modalities) if m != "late_fusion")


def model_modalities(name: str, modalities=PAPER_MODALITIES) -> tuple[str, ...]:
    """The modalities model ``name`` of a run of ``modalities`` reads."""
    mods = check_modalities(modalities)
    if name not in model_names(mods):
        raise ValueError(f"unknown model {name!r} of a run of {list(mods)}; choose one of {list(model_names(mods))}")
    return (name,) if name in MODALITIES else mods


#: per preset: the architecture settings of each trained model
ARCHITECTURES = {
    "paper": {
        "rppg": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},
        "face": {"hidden": 64, "kernel": 5, "pool": "mean", "dropout": 0.0},
        "voice": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},   # the pulse branch's
        "early_fusion": {"kind": "flatten", "hidden": (512, 256), "dropout": 0.0},
    },
    # chosen held out: on a teaching set made with another seed than the one the README reports
    # (benchmarks/architecture.py, artifacts/benchmarks/architecture.json)
    "improved": {
        "rppg": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},
        "face": {"hidden": 64, "kernel": 5, "pool": "mean", "dropout": 0.2},
        # not tuned: the pulse branch's settings (a 1-D CNN over 25 channels, as over 3)
        "voice": {"hidden": (32, 64), "kernel": 7, "pool": "mean", "dropout": 0.0},
        "early_fusion": {"kind": "temporal", "hidden": 64, "kernel": 5, "dropout": 0.2, "modality_dropout": 0.0,
                         "embed": "each"},
    },
}


@dataclass(frozen=True)
class ModelSpec:
    """What a model needs to know about its inputs (saved with every run). A modality the run
    does not use has 0 channels (a run folder written before voice has no ``voice_channels``:
    it reads as 0, a two-modality run)."""

    preset: str          # architecture preset: one of emojax.presets.PRESET_NAMES
    rppg_channels: int   # Cr (0: the run does not use the pulse)
    face_channels: int   # Cf (0: the run does not use the landmarks)
    length: int          # T (the paper's early fusion flattens it)
    n_classes: int       # K
    voice_channels: int = 0  # Cv (0: the run does not use the voice)

    def __post_init__(self):
        widths = tuple(self.channels_of(m) for m in MODALITIES)
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (*widths, self.length, self.n_classes))
        if (self.preset not in PRESET_NAMES or not ok or min(widths) < 0 or max(widths) < 1 or self.length < 1
                or self.n_classes < 2):
            raise ConfigError(f"not a model specification: preset {self.preset!r}, channels "
                              f"{dict(zip(MODALITIES, widths))}, length {self.length}, classes {self.n_classes}")

    def channels_of(self, modality: str) -> int:
        return getattr(self, f"{modality}_channels")

    @property
    def channels(self) -> dict[str, int]:
        """``{modality: channels}`` of the modalities the run uses, in MODALITIES order."""
        return {m: self.channels_of(m) for m in MODALITIES if self.channels_of(m) > 0}

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.channels)

    @classmethod
    def of(cls, preset: str, arrays: dict, n_classes: int) -> "ModelSpec":
        """The specification of model inputs ``arrays`` (``to_arrays``' keys; a modality not in the run: 0 channels)."""
        return cls(preset=preset, length=int(arrays["mask"].shape[1]), n_classes=int(n_classes),
                   **{f"{m}_channels": int(arrays[m].shape[2]) if m in arrays else 0 for m in MODALITIES})

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(name: str, spec: ModelSpec, *, seed: int = 0) -> nnx.Module:
    """A freshly initialised model ``name`` (one of ``TRAINED``, of a modality ``spec`` has) for ``spec``."""
    if spec.preset not in ARCHITECTURES:
        raise ValueError(f"unknown model preset {spec.preset!r}; choose one of {sorted(ARCHITECTURES)}")
    if name not in TRAINED:
        raise ValueError(f"unknown trainable model {name!r}; choose one of {list(TRAINED)} "
                         "(late_fusion is built from the trained unimodal models)")
    if name in MODALITIES and spec.channels_of(name) < 1:
        raise ValueError(f"no {name} model for inputs without {name} channels ({spec.channels})")
    arch = dict(ARCHITECTURES[spec.preset][name])
    rngs = nnx.Rngs(params=seed, dropout=seed + 1)
    if name == "rppg":
        return RppgCNN(spec.rppg_channels, spec.n_classes, **arch, rngs=rngs)
    if name == "face":
        return FaceResNet(spec.face_channels, spec.n_classes, **arch, rngs=rngs)
    if name == "voice":
        return VoiceCNN(spec.voice_channels, spec.n_classes, **arch, rngs=rngs)
    if arch.pop("kind") == "flatten":
        return EarlyFusion(spec.channels, spec.length, spec.n_classes, **arch, rngs=rngs)
    return TemporalFusion(spec.channels, spec.n_classes, **arch, rngs=rngs)


__all__ = ["RppgCNN", "FaceResNet", "VoiceCNN", "EarlyFusion", "TemporalFusion", "LateFusion", "choose_weights",
           "InputNorm", "Stat", "masked_mean", "ModelSpec", "build_model", "MODEL_NAMES", "TRAINED", "STREAMS",
           "TITLES", "ARCHITECTURES", "FUSED", "model_names", "trained_names", "model_modalities"]
