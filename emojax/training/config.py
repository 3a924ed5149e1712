"""The settings that decide a run, as frozen dataclasses saved with it (``config.json``): how
each model trains (:class:`TrainConfig`, and the training settings of each named preset,
:data:`PRESETS`), the whole run (:class:`RunConfig`: dataset, protocol, training, inputs,
extractor; :func:`run_config` builds one from a preset), and which of its keys decide its result
(:func:`settings`)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

from ..data import LOADERS
from ..data.transforms import InputConfig
from ..errors import ConfigError, EmojaxError
from ..features.modalities import PAPER_MODALITIES
from ..features.modalities import check as check_modalities
from ..features.record import PAPER_EXTRACTOR, ExtractorConfig
from ..presets import DEFAULT_PRESET, check_preset
from .protocols import PROTOCOLS, unread_settings

SCHEDULES = ("constant", "cosine")
SELECT_BY = ("uar", "accuracy")


@dataclass(frozen=True)
class TrainConfig:
    """How each model of a run is trained (saved in the run's ``config.json``)."""

    preset: str = DEFAULT_PRESET  # architecture + input preset: one of PRESET_NAMES
    epochs: int = 100             # epochs (the most, when early stopping is on)
    batch_size: int = 16          # videos per step
    learning_rate: float = 3e-3   # peak learning rate
    weight_decay: float = 1e-4    # decoupled weight decay (AdamW); 0 = plain Adam
    schedule: str = "cosine"      # "constant", or "cosine": linear warm-up then cosine decay to 0
    warmup_epochs: int = 3        # warm-up length of the cosine schedule
    class_weights: bool = True    # weight the loss by inverse class frequency of the training fold
    patience: int = 30            # early stopping: epochs without a better validation score (0 = off)
    select_by: str = "uar"        # validation score for early stopping and the late-fusion weight:
                                  # "uar" (balanced accuracy) or "accuracy"
    val_fraction: float = 0.2     # share of each training fold held out (speaker-disjoint when it can be)
    seed: int = 0                 # drives initialisation, shuffling, dropout and the splits

    def __post_init__(self):
        check_preset(self.preset)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.select_by not in SELECT_BY:
            raise ConfigError(f"unknown selection score {self.select_by!r}; choose one of {SELECT_BY}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


#: the paper's protocol (Kumar & Li 2023): Adam 1e-3, batch 32, 50 epochs, plain cross-entropy.
#: (The validation split only chooses the late-fusion weight.)
PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(preset="paper", epochs=50, batch_size=32, learning_rate=1e-3, weight_decay=0.0,
                         schedule="constant", warmup_epochs=0, class_weights=False, patience=0, select_by="accuracy",
                         val_fraction=0.1),
    "improved": TrainConfig(),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named preset with some fields changed, e.g. ``preset("paper", epochs=5)``."""
    return _training(name, **overrides)


def _training(name: str, **overrides) -> TrainConfig:
    return replace(PRESETS[check_preset(name)], **{k: v for k, v in overrides.items() if v is not None})


RUN_FORMAT = 3
#: what changed at each run format (said when a run of an older one is refused)
FORMAT_CHANGES = {
    2: "test videos are normalised as prediction normalises a new video",
    3: "each modality has its own mask (a missing pulse never hides a face), folds are numbered from 1 "
       "everywhere (predictions.npz counted them from 0), the split's speaker independence is recorded, and the "
       "paper's early fusion reads only the frames its training videos have",
}
#: files whose config keys may grow on an existing run (more seeds, a final model) without retraining
EXTENSIBLE = ("seeds", "refit")
#: where things are, not what the run is: a feature store (a cache) may be anywhere, and a
#: dataset root is compared as the folder it names
LOCATIONS = ("store",)
#: what a run is allowed to do, not what it computes (a dataset that needs it is refused without it)
PERMISSIONS = ("allow_speaker_overlap",)


def settings(config: dict) -> dict:
    """What decides a run's result, from a ``config.json``: everything but what may grow
    (:data:`EXTENSIBLE`), where the cache is (:data:`LOCATIONS`), what it was allowed
    (:data:`PERMISSIONS`) and what its protocol does not read (``protocols.unread_settings``:
    a speaker run's ``folds``), the root as an absolute path."""
    unread = tuple(unread_settings(config.get("protocol")))
    out = {k: v for k, v in config.items() if k not in EXTENSIBLE + LOCATIONS + PERMISSIONS + unread}
    if isinstance(out.get("root"), str):
        out["root"] = str(Path(out["root"]).expanduser().resolve())
    return out


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result (saved as its ``config.json``)."""

    dataset: str                     # dataset kind (see emojax.data.LOADERS)
    root: str                        # its root folder (or manifest file)
    protocol: str = "kfold"          # "holdout", "kfold", "loso" (sessions) or "speaker"
    folds: int = 5                   # k of kfold
    test_fraction: float = 0.2       # share of the videos tested by holdout
    classes: str | None = None       # IEMOCAP class set: "paper" (10) or "four"
    store: str = "artifacts/features"  # feature store (features are extracted once, then reused)
    train: TrainConfig = field(default_factory=TrainConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    accept_partial: bool = False     # train on videos that are not whole (truncated, damaged) too
    seeds: int = 1                   # run the protocol with seeds train.seed, +1, ... (mean +- std over seeds)
    refit: bool = False              # also train every model once more on all videos (the model to deploy)
    allow_speaker_overlap: bool = False  # train although the split cannot keep speakers apart (the dataset
                                     # names none, or one): recorded as not speaker-independent
    speaker_pattern: str | None = None  # folder dataset: a regex finding each video's speaker in its name
                                     # inside its class folder (group "speaker", else group 1)
    modalities: tuple[str, ...] | None = None  # the modalities the run reads (features.modalities.MODALITIES,
                                     # at least one); None: the preset's (paper: rppg, face; improved: those
                                     # and the voice when the dataset has it, VOICE_SHARE)

    def __post_init__(self):
        if self.dataset not in LOADERS:
            raise ConfigError(f"unknown dataset kind {self.dataset!r}; choose one of {sorted(LOADERS)}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; choose one of {PROTOCOLS}")
        if self.train.preset != self.inputs.preset:
            raise ConfigError(f"training preset {self.train.preset!r} with input preset {self.inputs.preset!r}")
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2, got {self.folds}")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be at least 1, got {self.seeds}")
        if self.classes is not None and self.dataset != "iemocap":
            raise ConfigError(f"--classes {self.classes} chooses one of IEMOCAP's class sets; a {self.dataset} "
                              "dataset's classes are its own (leave --classes out)")
        if self.modalities is not None:
            try:
                object.__setattr__(self, "modalities", check_modalities(self.modalities))
            except ValueError as e:
                raise ConfigError(f"--modalities: {e}") from None
        if self.speaker_pattern is not None and self.dataset != "folder":
            raise ConfigError(f"--speaker-pattern reads speakers from the file names of a folder dataset; a "
                              f"{self.dataset} dataset names its speakers its own way (leave it out)")
        if self.speaker_pattern is not None:
            try:
                re.compile(self.speaker_pattern)
            except re.error as e:
                raise ConfigError(f"--speaker-pattern {self.speaker_pattern!r} is not a regular expression ({e})") from None

    @property
    def preset(self) -> str:
        return self.train.preset

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extractor"] = self.extractor.to_dict()
        if d["modalities"] is None:      # the preset's choice: a run's config.json as before voice
            del d["modalities"]
        return {"format": RUN_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if d.get("format") != RUN_FORMAT:
            old = d.get("format")
            since = [FORMAT_CHANGES[v] for v in FORMAT_CHANGES if not isinstance(old, int) or old < v]
            raise EmojaxError(f"a run of format {old} (this emojax reads format {RUN_FORMAT}"
                              + (f", in which {'; '.join(since)}" if since else "") + "); train it again")
        d = {k: v for k, v in d.items() if k != "format"}
        return cls(**{**d, "train": TrainConfig.from_dict(d["train"]), "inputs": InputConfig(**d["inputs"]),
                      "extractor": ExtractorConfig.from_dict(d["extractor"])})


def run_config(dataset: str, root: str | os.PathLike, *, preset: str = DEFAULT_PRESET, epochs: int | None = None,
               seed: int | None = None, length: int | None = None, speaker_relative: bool = False,
               modalities: Sequence[str] | str | None = None, **kwargs) -> RunConfig:
    """A run of the named preset: ``paper`` = the paper's inputs (raw mean RGB of the face box,
    raw landmarks, zero-padded to the longest video), architectures and training; ``improved``
    = PBV pulse with heart-rate and quality channels from the skin patches, aligned landmarks
    (``speaker_relative=True``: relative to each speaker's mean shape) at a fixed length, and
    the improved models and training. ``modalities``: those the run reads (names of
    ``features.modalities.MODALITIES``, or comma-separated; None: the preset's, see
    :func:`chosen_modalities`)."""
    train = _training(preset, epochs=epochs, seed=seed)
    if preset == "paper":
        if speaker_relative:
            raise ConfigError("speaker-relative landmarks are an option of the improved preset")
        inputs, extractor = InputConfig(preset="paper", length=length), PAPER_EXTRACTOR
    else:
        inputs, extractor = InputConfig(length=length or 150, speaker_relative=speaker_relative), ExtractorConfig()
    return RunConfig(dataset=dataset, root=str(root), train=train, inputs=inputs, extractor=extractor,
                     modalities=modalities, **kwargs)


#: the improved preset reads the voice when at least this share of the dataset's usable videos has
#: it (present: speech on enough frames, features.modalities.shortfall). Half: below it, most
#: videos would give the voice branch nothing and its model would learn from a minority (a choice,
#: not a measurement)
VOICE_SHARE = 0.5


def chosen_modalities(cfg: RunConfig, voice_share: float) -> tuple[str, ...]:
    """The modalities a run reads: its own ``modalities``, else the preset's: the paper's two,
    and for ``improved`` the voice too when ``voice_share`` (the share of the dataset's videos
    with the voice present) is at least :data:`VOICE_SHARE`."""
    if cfg.modalities is not None:
        return cfg.modalities
    if cfg.preset == "improved" and voice_share >= VOICE_SHARE:
        return check_modalities((*PAPER_MODALITIES, "voice"))
    return PAPER_MODALITIES


def seeds_of(cfg: RunConfig) -> list[int]:
    """The seeds a run's protocol is run with: ``train.seed``, +1, ... (``seeds`` of them)."""
    return [cfg.train.seed + i for i in range(cfg.seeds)]
