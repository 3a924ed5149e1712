"""The modalities a video gives the models, and the one minimum each must meet to be used.

Each modality has its own validity, frame by frame: the pulse where a pulse was measured, the
landmarks where a face was found, the voice where the frame holds voiced speech. A modality is *present* in a video when it is valid on at
least :data:`MIN_FRAMES` frames spanning at least :data:`MIN_SECONDS`; otherwise it is *absent*
and no model reads it (a unimodal model of an absent modality answers with its training
classes' frequencies; a fusion model uses the modalities that are there). A video with no
modality present is refused by prediction and left out of training, by name. This rule is
the same for ``predictable()``, the training set and every model.
"""

from __future__ import annotations

import numpy as np

#: the modalities, in the order of the last axis of the model inputs' ``mask (N, T, M)``
MODALITIES = ("rppg", "face", "voice")
#: how each is called where a person reads it
TITLES = {"rppg": "pulse", "face": "landmarks", "voice": "voice"}
#: how each is titled in a table of results, as the paper's Table 2 calls the two it has
TABLE_TITLES = {"rppg": "rPPG", "face": "visual", "voice": "voice"}
#: the modalities of a run when it does not say (the paper's two)
PAPER_MODALITIES = ("rppg", "face")
#: a modality is used when it is valid on at least this many frames, adding up to this many seconds
MIN_FRAMES, MIN_SECONDS = 8, 0.5


def index(name: str) -> int:
    """The position of modality ``name`` on the mask's last axis."""
    try:
        return MODALITIES.index(name)
    except ValueError:
        raise ValueError(f"unknown modality {name!r}; choose one of {list(MODALITIES)}") from None


def check(names) -> tuple[str, ...]:
    """``names`` (a sequence, or a comma-separated string) as a tuple in :data:`MODALITIES` order,
    checked: known, not repeated, at least one. Raises ``ValueError`` naming the valid ones."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    bad = [n for n in names if n not in MODALITIES]
    if bad or not names or len(set(names)) != len(names):
        why = (f"unknown {bad}" if bad else "none given" if not names else "one repeated")
        raise ValueError(f"modalities {names}: {why}; choose at least one of {list(MODALITIES)} "
                         "(comma-separated, each once)")
    return tuple(m for m in MODALITIES if m in names)


def shortfall(valid: np.ndarray, fps: float) -> str | None:
    """Why a per-frame validity ``(T,)`` at ``fps`` is too little to use (None when it is enough)."""
    n = int(np.count_nonzero(valid))
    seconds = n / fps if fps > 0 else 0.0
    if n >= MIN_FRAMES and seconds >= MIN_SECONDS:
        return None
    return (f"valid on only {n} frame(s) ({seconds:.2f} s); at least {MIN_FRAMES} frames and "
            f"{MIN_SECONDS:g} s are needed" if n else "valid on no frame")


def either(names) -> str:
    """``"pulse or landmarks"``: what a run of modalities ``names`` reads, in a person's words (:data:`TITLES`)."""
    return " or ".join(TITLES[m] for m in check(names))
