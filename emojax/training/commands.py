"""Command lines of ``emojax`` for a background process, built one way for every command: a
keyword becomes its ``--option`` (``per_class`` -> ``--per-class``), True a bare flag, None and
False nothing, anything else its text."""

from __future__ import annotations

import os
import sys
from typing import Sequence

from ..presets import DEFAULT_PRESET

#: how this Python runs the command line
PROGRAM = (sys.executable, "-m", "emojax.cli")


def emojax_command(command: str, *arguments: str | os.PathLike, **options) -> list[str]:
    """``python -m emojax.cli <command> <arguments> --<option> <value> ...`` (see the module doc)."""
    cmd = [*PROGRAM, command, *map(os.fspath, arguments)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value is not None and value is not False:
            cmd += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return cmd


def train_command(out: str | os.PathLike, *, dataset: str, root: str | os.PathLike, preset: str = DEFAULT_PRESET,
                  protocol: str = "kfold", epochs: int | None = None, folds: int | None = None,
                  classes: str | None = None, store: str | os.PathLike | None = None,
                  workers: int | None = None, engine: str | None = None, address: str | None = None,
                  speaker_pattern: str | None = None, allow_speaker_overlap: bool = False,
                  modalities: Sequence[str] | None = None, track: str | None = None) -> list[str]:
    """The ``emojax train`` command line for these settings, quiet (``engine``, ``address``:
    where videos are extracted, as ``--engine`` / ``--address``; ``speaker_pattern``,
    ``allow_speaker_overlap``: as ``--speaker-pattern`` / ``--allow-speaker-overlap``;
    ``modalities``: as ``--modalities a,b``, None or empty: the preset's; ``track``: as ``--track
    URI``, "" the default store, None not tracked)."""
    return emojax_command("train", quiet=True, dataset=dataset, root=root, preset=preset, protocol=protocol, out=out,
                          epochs=epochs, folds=folds, classes=classes, store=store, workers=workers, engine=engine,
                          address=address, speaker_pattern=speaker_pattern, allow_speaker_overlap=allow_speaker_overlap,
                          modalities=",".join(modalities) if modalities else None, track=track)


def explain_command(run: str | os.PathLike, *, groupings: str = "modality,region,channel,time",
                    per_class: bool = True, video: str | os.PathLike | None = None) -> list[str]:
    """The ``emojax explain`` command line for a finished run."""
    return emojax_command("explain", run, groups=groupings, per_class=per_class, video=video)
