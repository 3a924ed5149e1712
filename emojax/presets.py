"""The named presets, below every layer that has a setting per preset (inputs, architectures,
training): ``paper`` is Kumar & Li (2023) as published, ``improved`` emojax's own. Each layer's
settings name one of :data:`PRESET_NAMES` and are refused by :func:`check_preset` otherwise;
``emojax.training.config.PRESETS`` holds the training settings of each."""

from __future__ import annotations

from .errors import ConfigError

#: the presets, in the order they are offered
PRESET_NAMES = ("paper", "improved")
#: the preset used when none is named
DEFAULT_PRESET = "improved"


def check_preset(name: str, what: str = "preset") -> str:
    """``name`` when it is a preset, else ConfigError ``unknown <what> ...`` listing them."""
    if name not in PRESET_NAMES:
        raise ConfigError(f"unknown {what} {name!r}; choose " + " or ".join(f"'{p}'" for p in PRESET_NAMES))
    return name
