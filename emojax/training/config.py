"""Training settings: a frozen dataclass per run, and the two named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..errors import ConfigError

SCHEDULES = ("constant", "cosine")
SELECT_BY = ("uar", "accuracy")


@dataclass(frozen=True)
class TrainConfig:
    """How each model of a run is trained (saved in the run's ``config.json``)."""

    preset: str = "improved"      # architecture + input preset: "paper" or "improved"
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
        if self.preset not in ("paper", "improved"):
            raise ConfigError(f"unknown preset {self.preset!r}; choose 'paper' or 'improved'")
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
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
