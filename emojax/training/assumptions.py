"""What the ``paper`` preset takes from Kumar & Li (2023) and what it has to assume.

The paper states its pipeline in outline (a Haar face box, its mean colour as the rPPG signal,
dlib's 68 landmarks, zero-padding to the longest video, the four networks, 50 epochs of batch
32 at learning rate 0.001, IEMOCAP's 10 classes) and leaves much open (input scaling, layer
widths, the optimiser, the split, how the late-fusion weight is chosen...). :data:`PAPER_CHOICES`
lists each choice once: what the paper says (``None``: it does not say) and what emojax's
``paper`` preset does there, its values read from the preset's own settings, so the table
cannot drift from the code. ``model.json`` of a paper run carries it (:func:`as_json`), the
README prints it (:func:`markdown`; a test checks they agree), and the CLI prints the open ones
under a paper run's Table 1.

    python -c "from emojax.training.assumptions import markdown; print(markdown())"   # the README's
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.iemocap import DEFAULT_SIDES, PAPER_CLASSES
from ..features.record import PAPER_EXTRACTOR
from ..models import ARCHITECTURES
from ..models.late_fusion import WEIGHT_GRID
from .config import PRESETS
from .summary import PAPER_SPLIT, PAPER_TABLE1, PAPER_TABLE2

#: the paper, as cited everywhere
REFERENCE = ("P. Kumar and X. Li (2023), Interpretable multimodal emotion recognition using facial features and "
             "physiological signals, arXiv:2306.02845")


@dataclass(frozen=True)
class Choice:
    """One decision of the pipeline: what the paper says (None: nothing) and what emojax does."""

    topic: str
    paper: str | None
    emojax: str

    @property
    def stated(self) -> bool:
        return self.paper is not None


def _choices() -> tuple[Choice, ...]:
    t = PRESETS["paper"]
    a = ARCHITECTURES["paper"]
    ex = PAPER_EXTRACTOR
    r, f, e = a["rppg"], a["face"], a["early_fusion"]
    step = float(WEIGHT_GRID[1] - WEIGHT_GRID[0])
    results = ", ".join(f"{name} {PAPER_TABLE1[m]['accuracy']:.2f}" for m, name in
                        (("rppg", "rPPG"), ("face", "facial"), ("late_fusion", "late fusion"),
                         ("early_fusion", "early fusion")))
    return (
        Choice("dataset and classes", f"IEMOCAP, {len(PAPER_CLASSES)} classes",
               f"IEMOCAP `--classes paper`: {' '.join(PAPER_CLASSES)} (utterances without a majority label, "
               "`xxx`, left out); any other dataset with its own classes"),
        Choice("utterance videos", None,
               "cut from each dialog's video by the times in its EmoEvaluation file, at the video's own frame rate"),
        Choice("whose face", None,
               f"IEMOCAP shows both actors: the speaker's half of the frame (F {DEFAULT_SIDES['F']}, "
               f"M {DEFAULT_SIDES['M']}), the {ex.policy} face there"),
        Choice("face box", "Haar cascade",
               f"OpenCV's frontal-face cascade on every full-resolution frame (scale factor 1.1, 3 neighbours, "
               f"faces of at least {ex.min_face} px), no tracking"),
        Choice("rPPG signal", "mean R, G, B of the face box per frame",
               "the raw mean R, G, B of the cascade's own box, unfiltered"),
        Choice("landmarks", "dlib's 68 points", "dlib's 68-point predictor on that box: 136 raw pixel coordinates"),
        Choice("frames without a face", None, "masked: zero after standardisation, left out of every pooling"),
        Choice("input scaling", None,
               "each channel z-scored with the mean and spread of the fold's training videos (frames with a face)"),
        Choice("sequence length", "zero-padding to the longest video",
               "arrays zero-padded to the dataset's longest video (one shape for every fold's models); the "
               "early fusion's weights cover only frames its training videos have (zero beyond, initialised "
               "at that size), so a longer test video is cut where its training videos end, as prediction "
               "cuts a new one"),
        Choice("padding in the models", None,
               "padded frames are masked like face-less ones (the convolutional models average only real frames)"),
        Choice("rPPG model", "1-D CNN, two hidden layers, ReLU",
               f"convolutions of {r['hidden'][0]} and {r['hidden'][1]} filters, width {r['kernel']}, "
               "mean over real frames, linear classifier"),
        Choice("facial model", "ResNet-style CNN on the landmarks, two hidden layers",
               f"residual 1-D convolutions of width {f['kernel']}, {f['hidden']} channels (1×1 projection on the "
               "first), mean over real frames, linear classifier"),
        Choice("early fusion", "concatenate → flatten → 512 → 256 → classes",
               f"per-frame [rPPG, landmarks] → flatten → {e['hidden'][0]} → {e['hidden'][1]} → classes, ReLU"),
        Choice("dropout, initialisation", None,
               f"no dropout ({r['dropout']:g}); Flax's defaults (LeCun-normal kernels, zero biases)"),
        Choice("late fusion", "weighted average of the two models' probabilities",
               f"the rPPG weight from 0 to 1 in steps of {step:g}, chosen by validation {t.select_by}"),
        Choice("validation split", None,
               f"{100 * t.val_fraction:.0f} % of each training fold (whole speakers when it has at least 3); it "
               "only chooses the late-fusion weight"),
        Choice("epochs, batch, learning rate", "50 epochs, batch 32, learning rate 0.001",
               f"{t.epochs} epochs, batch {t.batch_size}, learning rate {t.learning_rate:g}"),
        Choice("optimiser and schedule", None,
               "Adam, constant learning rate, no weight decay" if t.schedule == "constant" and not t.weight_decay
               else f"{t.schedule} schedule, weight decay {t.weight_decay:g}"),
        Choice("loss, class weights", None,
               "cross-entropy, " + ("classes weighted by inverse frequency" if t.class_weights else "unweighted")),
        Choice("which epoch is kept", None,
               "the last" if not t.patience else f"the best on validation (patience {t.patience})"),
        Choice("train/test split", None,
               "the run's `--protocol` (default 5-fold, grouped by speaker when speakers are known; on IEMOCAP "
               "e.g. `loso`, one session out), written beside the paper's figures"),
        Choice("seeds", None, "one (`--seeds N`: mean ± std over N)"),
        Choice("precision, recall, F1", "early fusion only: " + " / ".join(
            f"{PAPER_TABLE1['early_fusion'][k]:g}" for k in ("precision_macro", "recall_macro", "f1_macro"))
            + " (the averaging not stated)", "macro averages (and UAR), per fold, mean ± std"),
        Choice("modality shares (Table 2)", "permutation feature importance",
               "each modality's positive drop in accuracy when its channels are permuted, as a share of the "
               "positive total; per fold on its held-out videos, pooled"),
        Choice("reported accuracy, %", f"{results}; shares rPPG {PAPER_TABLE2['rppg']:.2f} / visual "
               f"{PAPER_TABLE2['face']:.2f}", f"printed beside a run's own on IEMOCAP's 10 classes ({PAPER_SPLIT})"),
    )


#: every choice of the ``paper`` preset: what the paper says, what emojax does
PAPER_CHOICES: tuple[Choice, ...] = _choices()


def as_json() -> dict:
    """The table for ``model.json``."""
    return {"reference": REFERENCE,
            "choices": [{"topic": c.topic, "paper": c.paper if c.stated else "not stated", "emojax": c.emojax}
                        for c in PAPER_CHOICES],
            "not_stated": [c.topic for c in PAPER_CHOICES if not c.stated]}


def markdown() -> str:
    """The table as the README prints it."""
    lines = ["| choice | the paper | emojax `paper` |", "|---|---|---|"]
    for c in PAPER_CHOICES:
        lines.append(f"| {c.topic} | {c.paper if c.stated else '*not stated*'} | {c.emojax} |")
    return "\n".join(lines)


