"""Evaluation protocols: which videos train and which test, one speaker never on both sides
unless asked for and recorded.

- ``holdout``: one stratified split (``test_fraction`` of the videos), speaker-disjoint when
  speakers are known;
- ``kfold``: stratified k-fold, grouped by speaker when speakers are known;
- ``loso``: leave one recording session out (IEMOCAP: 5 folds);
- ``speaker``: leave one speaker (actor) out.

A dataset that names no speakers (or only one) cannot be split speaker-independently: it is
refused (:class:`SpeakerOverlapError`) unless ``allow_speaker_overlap``, and
:func:`independence` says, for the record, whether a split is speaker-independent, why not
when it is not, and which unit a cluster bootstrap resamples.

Each training fold is split again for validation (late-fusion weight, early stopping), by
speaker when it has enough of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DatasetError

PROTOCOLS = ("holdout", "kfold", "loso", "speaker")
#: a run setting only one protocol reads -> that protocol (a run of another records it, unread)
PROTOCOL_SETTINGS = {"folds": "kfold", "test_fraction": "holdout"}
#: fewer clusters than this make a cluster bootstrap interval rough (said beside it)
MIN_CLUSTERS = 8


def unread_settings(protocol: str) -> dict[str, str]:
    """The run settings a ``protocol`` run records but does not read, each with the protocol that does."""
    return {k: p for k, p in PROTOCOL_SETTINGS.items() if p != protocol}


class SpeakerOverlapError(DatasetError):
    """A protocol would put one speaker's videos on both sides of a split, and that was not allowed."""


@dataclass(frozen=True)
class Fold:
    """Indices into the dataset's items."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    name: str = ""          # e.g. the held-out session or speaker


def _known(speakers: Sequence[str | None] | None) -> bool:
    return speakers is not None and all(g is not None for g in speakers) and len(set(speakers)) > 1


def split_off(y, speakers, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``y`` with about ``fraction`` in the second part (at least one whole group):
    by group when there are at least 3 speakers (validation on unseen speakers, the only honest
    guide for early stopping), else stratified when every class has 2 members, else plain."""
    from sklearn.model_selection import ShuffleSplit, StratifiedGroupKFold, StratifiedShuffleSplit  # (see make_folds)

    idx = np.arange(len(y))
    if _known(speakers) and len(set(speakers)) >= 3:
        k = int(np.clip(round(1 / fraction), 2, len(set(speakers))))
        return next(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, speakers))
    counts = np.unique(y, return_counts=True)[1]
    n_test = max(1, int(round(fraction * len(y))))
    if counts.min() >= 2 and n_test >= len(counts):
        return next(StratifiedShuffleSplit(1, test_size=n_test, random_state=seed).split(idx, y))
    return next(ShuffleSplit(1, test_size=n_test, random_state=seed).split(idx))


def _overlap(speakers: Sequence[str | None] | None) -> str | None:
    """Why a split of videos with these speakers cannot keep every speaker on one side (None: it can)."""
    known = [] if speakers is None else [g for g in speakers if g is not None]
    if not known:
        return "the dataset names no speaker, so one person's videos may be on both sides of a split"
    if len(set(known)) == 1:
        return (f"all {len(known)} videos are from one speaker ({known[0]}), so every test would be on a speaker "
                "the models trained on")
    return None


def independence(protocol: str, speakers: Sequence[str | None] | None = None,
                 sessions: Sequence[str | None] | None = None) -> dict:
    """Whether ``protocol`` on videos with these speakers (and sessions) is speaker-independent,
    why (or why not), and the unit a cluster bootstrap of its results resamples: the unit the
    protocol keeps together (``session`` under ``loso``: IEMOCAP's two speakers of a session
    share its dialogs; else ``speaker`` when speakers are named; else ``video``). Assumes the
    folds were made by :func:`make_folds`, which refuses a speaker on both sides."""
    why_not = _overlap(speakers)
    if protocol == "loso" and sessions is not None and all(s is not None for s in sessions):
        unit = "session"
    else:
        unit = "video" if why_not else "speaker"
    if why_not:
        return {"protocol": protocol, "speaker_independent": False, "why": f"{why_not} (trained with "
                "--allow-speaker-overlap)", "bootstrap_unit": unit}
    kept = ("each held-out session's speakers are in no other session" if protocol == "loso" else
            "each held-out speaker's videos are all on the test side" if protocol == "speaker" else
            "the split is grouped by speaker")
    return {"protocol": protocol, "speaker_independent": True,
            "why": f"every video names its speaker and {kept}: no speaker is in both training and test (checked "
                   "for every fold)", "bootstrap_unit": unit}


def check_design(y: Sequence[int], speakers: Sequence[str | None] | None = None,
                 sessions: Sequence[str | None] | None = None, *, protocol: str = "kfold", k: int = 5,
                 classes: Sequence[str] | None = None, allow_speaker_overlap: bool = False) -> None:
    """Refuse, in one line that says what to do, a dataset on which ``protocol`` cannot give an
    honest result: speakers known for some videos only; a class with too few videos to be both
    trained on and tested; a protocol that needs what the dataset does not say; and, unless
    ``allow_speaker_overlap``, a split that cannot keep speakers apart (no speakers named, or
    one speaker: :class:`SpeakerOverlapError`)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    y = np.asarray(y)
    names = list(classes) if classes is not None else [str(c) for c in range(int(y.max()) + 1)]
    if speakers is not None:
        known = [g for g in speakers if g is not None]
        if 0 < len(known) < len(speakers):
            raise DatasetError(f"the speaker is known for {len(known)} of {len(speakers)} videos; name every video's "
                               "speaker, or none (speakers must be kept apart, so a video with no speaker cannot be placed)")
        if known and len(set(known)) == 1 and not allow_speaker_overlap:
            raise SpeakerOverlapError(f"{_overlap(known)}; add videos of other speakers, or give "
                                      "--allow-speaker-overlap to test unseen videos of this one person, knowingly")
    counts = np.bincount(y, minlength=len(names))
    small = int(np.argmin(counts))
    if counts[small] < 2:
        raise DatasetError(f"class {names[small]!r} has {counts[small]} video(s): a class needs at least 2, one to train "
                           "on and one to test; add videos of it or leave it out")
    if protocol == "kfold" and not _known(speakers) and counts[small] < k:
        raise DatasetError(f"kfold with k={k} keeps every class in every fold, but class {names[small]!r} has "
                           f"{counts[small]} videos; use --folds {counts[small]} or add videos of it")
    if protocol in ("loso", "speaker"):
        by = sessions if protocol == "loso" else speakers
        what = "recording session" if protocol == "loso" else "speaker"
        instead = "kfold" + ("" if protocol == "speaker" or not _known(speakers) else " or speaker")
        if by is None or any(b is None for b in by):
            raise DatasetError(f"protocol {protocol!r} needs the {what} of every video, and this dataset does not "
                               f"say it; use --protocol {instead}"
                               + ("" if _known(speakers) else " (with --allow-speaker-overlap: it names no speakers)"))
        if len(set(by)) < 2:
            raise DatasetError(f"protocol {protocol!r} needs at least two {what}s; the dataset has {len(set(by))}")
    why = _overlap(speakers)
    if why and not allow_speaker_overlap:
        raise SpeakerOverlapError(f"protocol {protocol!r} is not speaker-independent here: {why}; name every video's "
                                  "speaker, or give --allow-speaker-overlap to train knowing that the scores are not "
                                  "speaker-independent (it is recorded with them)")


def make_folds(y: Sequence[int], speakers: Sequence[str | None] | None = None,
               sessions: Sequence[str | None] | None = None, *, protocol: str = "kfold", k: int = 5,
               test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0,
               classes: Sequence[str] | None = None, allow_speaker_overlap: bool = False) -> list[Fold]:
    """Train / validation / test indices for each fold of ``protocol`` (see the module doc).

    Raises ``DatasetError`` when the protocol cannot run on these labels and speakers
    (:func:`check_design`; :class:`SpeakerOverlapError` when it cannot keep speakers apart and
    that is not allowed), or when a fold would train without some class (e.g. a class whose
    videos are all one speaker's, with that speaker held out).
    """
    # here, not at the top: the CLI reads PROTOCOLS when it starts, and scikit-learn takes seconds to import
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    check_design(y, speakers, sessions, protocol=protocol, k=k, classes=classes,
                 allow_speaker_overlap=allow_speaker_overlap)
    if speakers is not None and all(x is None for x in speakers):
        speakers = None                          # no video names its speaker
    y = np.asarray(y)
    names = list(classes) if classes is not None else [str(c) for c in range(int(y.max()) + 1)]
    idx = np.arange(len(y))
    g = None if speakers is None else np.asarray([str(x) for x in speakers])
    named: list[tuple[np.ndarray, np.ndarray, str]]
    if protocol == "holdout":
        tr, te = split_off(y, speakers, test_fraction, seed)
        named = [(tr, te, "holdout")]
    elif protocol == "kfold":
        if _known(speakers):
            if len(set(speakers)) < k:
                raise DatasetError(f"kfold with k={k} needs at least {k} speakers; the dataset has "
                                   f"{len(set(speakers))} (use --folds {len(set(speakers))} or --protocol speaker)")
            splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, g)
        else:
            splitter = StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y)
        named = [(tr, te, f"fold {i + 1}") for i, (tr, te) in enumerate(splitter)]
    else:
        by = np.asarray([str(b) for b in (sessions if protocol == "loso" else speakers)])
        named = [(tr, te, str(by[te[0]])) for tr, te in LeaveOneGroupOut().split(idx, y, by)]
    folds = []
    for tr, te, name in named:
        a, b = split_off(y[tr], None if g is None else list(g[tr]), val_fraction, seed)
        fold = Fold(train=np.sort(tr[a]), val=np.sort(tr[b]), test=np.sort(te), name=name)
        if g is not None and _known(speakers):
            for x, y_ in (("training", fold.train), ("validation", fold.val)):
                both = set(g[y_]) & set(g[fold.test])
                if both:
                    raise DatasetError(f"{name}: speaker(s) {sorted(both)} in both {x} and test")
        absent = sorted(set(range(len(names))) - set(y[fold.train].tolist()))
        if absent:
            held = "" if g is None else f" (held out with {', '.join(sorted(set(g[fold.test].tolist())))})"
            raise DatasetError(f"{name}: class {names[absent[0]]!r} has no training video{held}, so the models "
                               "could never predict it there; add videos of it from other speakers or leave it out")
        folds.append(fold)
    return folds
