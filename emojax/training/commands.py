"""Command lines of ``emojax`` for a background process, built one way for every command: a
keyword becomes its ``--option`` (``per_class`` -> ``--per-class``), True a bare flag, None and
False nothing, anything else its text."""

from __future__ import annotations

import os
import sys
from typing import Sequence

#: how this Python runs the command line
PROGRAM = (sys.executable, "-m", "emojax.cli")


def emojax_arguments(*arguments: str | os.PathLike, **options) -> list[str]:
    """``<arguments> --<option> <value> ...`` (see the module doc), the part after the command's name."""
    cmd = list(map(os.fspath, arguments))
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value is not None and value is not False:
            cmd += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return cmd


def emojax_command(command: str, *arguments: str | os.PathLike, **options) -> list[str]:
    """``python -m emojax.cli <command> <arguments> --<option> <value> ...`` (see the module doc)."""
    return [*PROGRAM, command, *emojax_arguments(*arguments, **options)]


def train_arguments(out: str | os.PathLike, *, dataset: str, root: str | os.PathLike,
                    modalities: Sequence[str] | None = None, **options) -> list[str]:
    """The arguments of ``emojax train`` (after ``train``) for these settings, quiet: each keyword
    one of the command's options by its name in :func:`emojax.training.options.train_options`
    (``speaker_norm`` for ``--speaker-norm``, ``engine="ray"`` for ``--engine ray``), an option
    left out taking the command's default; ``modalities`` a sequence, as ``--modalities a,b``
    (None or empty: the preset's)."""
    return emojax_arguments(quiet=True, dataset=dataset, root=root, out=out,
                            modalities=",".join(modalities) if modalities else None, **options)


def train_command(out: str | os.PathLike, **settings) -> list[str]:
    """The ``emojax train`` command line for these settings (:func:`train_arguments`)."""
    return [*PROGRAM, "train", *train_arguments(out, **settings)]


def explain_command(run: str | os.PathLike, *, groupings: str = "modality,region,channel,time",
                    per_class: bool = True, video: str | os.PathLike | None = None) -> list[str]:
    """The ``emojax explain`` command line for a finished run."""
    return emojax_command("explain", run, groups=groupings, per_class=per_class, video=video)
