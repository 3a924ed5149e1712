"""Dataset loaders: each returns a :class:`Dataset` of :class:`VideoItem` s."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from .acted import load_cremad, load_ravdess
from .generic import load_folder, load_manifest, load_paths
from .iemocap import load_iemocap
from .items import Dataset, VideoItem
from ..features.store import FeatureStore


def load_teaching(root: str | os.PathLike) -> Dataset:
    """The teaching set written by :func:`emojax.data.teaching.make_teaching_set`."""
    ds = load_manifest(Path(root) / "manifest.csv")
    ds.name = "teaching"
    return ds


#: dataset kinds by name: ``load_dataset(kind, root)``
LOADERS: dict[str, Callable[..., Dataset]] = {
    "iemocap": load_iemocap, "cremad": load_cremad, "ravdess": load_ravdess,
    "folder": load_folder, "csv": load_manifest, "teaching": load_teaching,
}


def load_dataset(kind: str, root: str | os.PathLike, **kwargs) -> Dataset:
    """Load a dataset by kind (see ``LOADERS``); unknown kinds raise ``ValueError``."""
    if kind not in LOADERS:
        raise ConfigError(f"unknown dataset kind {kind!r}; choose one of {sorted(LOADERS)}")
    return LOADERS[kind](root, **kwargs)


__all__ = ["Dataset", "VideoItem", "FeatureStore", "LOADERS", "load_dataset", "load_paths", "load_iemocap",
           "load_cremad", "load_ravdess", "load_folder", "load_manifest", "load_teaching"]
