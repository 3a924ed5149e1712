"""IEMOCAP (Busso et al. 2008): utterances cut out of the dialog videos.

The release has no utterance videos: each utterance is ``[start - end]`` seconds of
``SessionN/dialog/avi/DivX/<dialog>.avi`` (both actors side by side), with its consensus label
in ``SessionN/dialog/EmoEvaluation/<dialog>.txt``. Its voice is read from its own wav,
``SessionN/sentences/wav/<dialog>/<utterance>.wav`` (its time 0 is the utterance's start), where
that file is there, else from the dialog video's track cut to the utterance. The speaker is the letter in the
utterance id's last field (``..._F000``: the female actor), not the dialog's letter.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ConfigError, DatasetError
from .items import Dataset, VideoItem, existing_video

#: the paper's 10 classes (``xxx``, no majority, is dropped)
PAPER_CLASSES = ["neu", "hap", "sad", "ang", "exc", "fru", "fea", "sur", "dis", "oth"]
#: the common 4-class protocol: excited merged into happy, the rest dropped
FOUR_CLASSES = ["neu", "hap", "sad", "ang"]
#: the class sets a run can read IEMOCAP with, by name (the first is the default)
CLASS_SETS = {"paper": PAPER_CLASSES, "four": FOUR_CLASSES}
_FOUR_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}
ALL_CODES = set(PAPER_CLASSES) | {"xxx"}

#: which half of the frame each speaker sits in, unless told otherwise
DEFAULT_SIDES = {"F": "left", "M": "right"}

_SUMMARY = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(\S+)\t(\w+)\t\[([^\]]*)\]\s*$")
_UTT = re.compile(r"^(?P<dialog>Ses(?P<ses>\d\d)[FM]_.+)_(?P<spk>[FM])(?P<num>\d{3})$")


def parse_emo_evaluation(path: str | os.PathLike) -> list[dict]:
    """Utterance summary lines of one ``EmoEvaluation/<dialog>.txt``.

    Returns dicts with ``id, start, end, code, vad, speaker``. A summary line (a line starting
    with ``[``) that does not parse raises :class:`DatasetError` naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("["):
            continue
        m = _SUMMARY.match(line)
        if not m:
            raise DatasetError(f"{path}:{n}: malformed utterance line {line[:80]!r}")
        start, end, uid, code, vad = m.groups()
        u = _UTT.match(uid)
        if not u:
            raise DatasetError(f"{path}:{n}: utterance id {uid!r} is not <dialog>_<F|M><NNN>")
        if code not in ALL_CODES:
            raise DatasetError(f"{path}:{n}: unknown emotion code {code!r}")
        start_f, end_f = float(start), float(end)
        if end_f <= start_f:
            raise DatasetError(f"{path}:{n}: end {end_f} is not after start {start_f}")
        try:
            vad_f = [float(v) for v in vad.split(",")]
        except ValueError as e:
            raise DatasetError(f"{path}:{n}: malformed [V, A, D] {vad!r}") from e
        out.append({"id": uid, "start": start_f, "end": end_f, "code": code, "vad": vad_f,
                    "speaker": u["spk"], "dialog": u["dialog"]})
    return out


def load_iemocap(root: str | os.PathLike, *, classes: str = "paper",
                 sides: dict | None = None, require_video: bool = True) -> Dataset:
    """Items of an ``IEMOCAP_full_release`` tree (the folder holding ``Session1..5``).

    Args:
        classes: ``"paper"`` (10 classes) or ``"four"`` (neu, hap+exc, sad, ang).
        sides: which half of the frame each speaker is in: ``{"F": "left", "M": "right"}``
            (the default), optionally per session: ``{"Session3": {"F": "right", "M": "left"}}``;
            a side of None keeps the whole frame.
        require_video: skip (and report) utterances whose dialog video is missing.
    """
    root = Path(root)
    if classes not in CLASS_SETS:
        raise ConfigError(f"unknown IEMOCAP class set {classes!r}; choose " + " or ".join(map(repr, CLASS_SETS)))
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        raise DatasetError(f"{root}: no Session1..5 folders; point --root at IEMOCAP_full_release")
    names = CLASS_SETS[classes]
    sides = sides or {}
    items, skipped = [], []
    for ses in sessions:
        evals = sorted((ses / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not evals:
            skipped.append((str(ses), "no dialog/EmoEvaluation/*.txt"))
        side_map = {**DEFAULT_SIDES, **{k: v for k, v in sides.items() if k in ("F", "M")},
                    **sides.get(ses.name, {})}
        for ev in evals:
            video = ses / "dialog" / "avi" / "DivX" / f"{ev.stem}.avi"
            utts = parse_emo_evaluation(ev)
            if require_video and utts and not existing_video(video, skipped):
                continue
            for u in utts:
                label = u["code"] if classes == "paper" else _FOUR_MAP.get(u["code"])
                if label not in names:
                    continue
                ses_id = f"Ses{u['id'][3:5]}"
                wav = ses / "sentences" / "wav" / u["dialog"] / f"{u['id']}.wav"
                items.append(VideoItem(id=u["id"], path=str(video), label=label,
                                       group=f"{ses_id}_{u['speaker']}", session=ses.name,
                                       start=u["start"], end=u["end"], region=side_map.get(u["speaker"]),
                                       audio=str(wav) if wav.is_file() else None))
    return Dataset(f"iemocap-{classes}", items, list(names), skipped)
