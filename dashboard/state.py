"""Where the dashboard reads from: the artifacts folder, the folders in it, and messages with its
paths shown relative to it (no server paths on a page).

The runs found there and the run picker are in :mod:`dashboard.runs`; each visitor's video and
uploads in :mod:`dashboard.uploads`.
"""

from __future__ import annotations

import os
from pathlib import Path


def artifacts() -> Path:
    """The artifacts folder shown: ``EMOJAX_ARTIFACTS``, default ``artifacts`` in the folder the
    dashboard was started from (as the CLI's defaults), wherever emojax is installed."""
    return Path(os.environ.get("EMOJAX_ARTIFACTS", "artifacts")).expanduser().resolve()


def runs_dir() -> Path:
    return artifacts() / "runs"


def teaching_dir() -> Path:
    return artifacts() / "teaching"


def teaching_clips() -> list[Path]:
    return sorted(teaching_dir().glob("*.mp4")) if teaching_dir().is_dir() else []


def shown(message: object) -> str:
    """A message as a visitor sees it: paths under the artifacts folder relative to it (no
    server paths on the page)."""
    text = str(message)
    for base in (runs_dir(), artifacts()):
        text = text.replace(f"{base}{os.sep}", "")
    return text
