"""Evaluation protocols: which videos train and which test, never one speaker on both sides.

- ``holdout``: one stratified split (``test_fraction`` of the videos), speaker-disjoint when
  speakers are known;
- ``kfold``: stratified k-fold, grouped by speaker when speakers are known;
- ``loso``: leave one recording session out (IEMOCAP: 5 folds);
- ``speaker``: leave one speaker (actor) out.

Each training fold is split again for validation (late-fusion weight, early stopping), by
speaker when it has enough of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.model_selection import (LeaveOneGroupOut, ShuffleSplit, StratifiedGroupKFold, StratifiedKFold,
                                     StratifiedShuffleSplit)

from ..errors import DatasetError

PROTOCOLS = ("holdout", "kfold", "loso", "speaker")


@dataclass(frozen=True)
class Fold:
    """Indices into the dataset's items."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    name: str = ""          # e.g. the held-out session or speaker


def _known(groups: Sequence[str | None] | None) -> bool:
    return groups is not None and all(g is not None for g in groups) and len(set(groups)) > 1


def split_off(y, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``y`` with about ``fraction`` in the second part (at least one whole group):
    by group when there are at least 3 groups (validation on unseen speakers, the only honest
    guide for early stopping), else stratified when every class has 2 members, else plain."""
    idx = np.arange(len(y))
    if _known(groups) and len(set(groups)) >= 3:
        k = int(np.clip(round(1 / fraction), 2, len(set(groups))))
        return next(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, groups))
    counts = np.unique(y, return_counts=True)[1]
    n_test = max(1, int(round(fraction * len(y))))
    if counts.min() >= 2 and n_test >= len(counts):
        return next(StratifiedShuffleSplit(1, test_size=n_test, random_state=seed).split(idx, y))
    return next(ShuffleSplit(1, test_size=n_test, random_state=seed).split(idx))


def make_folds(y: Sequence[int], groups: Sequence[str | None] | None = None,
               sessions: Sequence[str | None] | None = None, *, protocol: str = "kfold", k: int = 5,
               test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0) -> list[Fold]:
    """Train / validation / test indices for each fold of ``protocol`` (see the module doc).

    Raises ``DatasetError`` when the protocol cannot run on these labels and groups (e.g.
    ``loso`` without sessions, ``speaker`` with one speaker).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    y = np.asarray(y)
    idx = np.arange(len(y))
    g = None if groups is None else np.asarray([str(x) for x in groups])
    named: list[tuple[np.ndarray, np.ndarray, str]]
    if protocol == "holdout":
        tr, te = split_off(y, groups, test_fraction, seed)
        named = [(tr, te, "holdout")]
    elif protocol == "kfold":
        if _known(groups):
            if len(set(groups)) < k:
                raise DatasetError(f"kfold with k={k} needs at least {k} speakers; the dataset has "
                                   f"{len(set(groups))} (use --folds {len(set(groups))} or --protocol speaker)")
            splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, g)
        else:
            splitter = StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y)
        named = [(tr, te, f"fold {i + 1}") for i, (tr, te) in enumerate(splitter)]
    else:
        by = sessions if protocol == "loso" else groups
        what = "recording session" if protocol == "loso" else "speaker"
        if by is None or any(b is None for b in by):
            raise DatasetError(f"protocol {protocol!r} needs the {what} of every video, and this dataset "
                               "does not say it; use --protocol kfold or speaker")
        by = np.asarray([str(b) for b in by])
        if len(set(by)) < 2:
            raise DatasetError(f"protocol {protocol!r} needs at least two {what}s; the dataset has {len(set(by))}")
        named = [(tr, te, str(by[te[0]])) for tr, te in LeaveOneGroupOut().split(idx, y, by)]
    folds = []
    for tr, te, name in named:
        a, b = split_off(y[tr], None if g is None else list(g[tr]), val_fraction, seed)
        fold = Fold(train=np.sort(tr[a]), val=np.sort(tr[b]), test=np.sort(te), name=name)
        if g is not None and _known(groups):
            for x, y_ in (("training", fold.train), ("validation", fold.val)):
                both = set(g[y_]) & set(g[fold.test])
                if both:
                    raise DatasetError(f"{name}: speaker(s) {sorted(both)} in both {x} and test")
        folds.append(fold)
    return folds
