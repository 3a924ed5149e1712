"""Where a run is: its progress events written as it goes (``progress.json``, rewritten
atomically, and ``curves.jsonl``, a line per fold, model and epoch), read back, and said in words
(:func:`progress_text`, the one wording the command line and the pages use)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from .. import procs
from ..fileio import atomic_write_json
from ..models import TRAINED


class Reporter:
    """Writes ``progress.json`` and ``curves.jsonl`` and forwards every event to a callback."""

    def __init__(self, out: Path, callback: Callable[[dict], None] | None, total_epochs: int):
        self.out, self.callback, self.total = out, callback, total_epochs
        self.state: dict = {"status": "running", **procs.identity(), "started": time.time()}

    def __call__(self, event: dict) -> None:
        self.state.update(event, updated=time.time())
        atomic_write_json(self.out / "progress.json", self.state)
        if self.callback is not None:
            self.callback(event)

    def epoch(self, folder: Path, where: dict, model: str, rec: dict) -> None:
        line = {"fold": where["fold"], "model": model, **rec}
        with open(folder / "curves.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
        self({"stage": "train", **where, "model": model, "epoch": rec["epoch"], "epochs": self.total, "record": rec})


def read_curves(run: str | os.PathLike) -> list[dict]:
    """The training curves of a run so far: one record per (fold, model, epoch), the latest
    when an epoch was repeated after an interruption; a line cut short by a kill is ignored."""
    path = Path(run) / "curves.jsonl"
    if not path.is_file():
        return []
    recs: dict = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        recs[(r["fold"], r["model"], r["epoch"])] = r
    return [recs[k] for k in sorted(recs, key=lambda k: (k[0], TRAINED.index(k[1]), k[2]))]


def training_step(event: dict) -> str:
    """Which model of which fold (and seed, when there are several) a training event is about,
    e.g. ``fold 2/5 (seed 1), rppg`` or ``final model, face``."""
    e = event
    where = "final model" if e.get("fold") == "final" else f"fold {e.get('fold')}/{e.get('folds')}"
    seeds = e.get("seeds") or 1
    return where + (f" (seed {e.get('seed')})" if isinstance(seeds, int) and seeds > 1 else "") + f", {e.get('model')}"


def progress_text(event: dict) -> str:
    """A run's last progress event in words (empty for a stage that says nothing): reading
    faces, a training step and its epoch, scoring. Any dict is accepted: an edited
    ``progress.json`` gives odd words, never an error."""
    stage = event.get("stage")
    if stage == "extract":
        return f"reading faces: {event.get('done', 0)} of {event.get('total', '?')} videos"
    if stage == "train":
        return f"{training_step(event)}, epoch {event.get('epoch')}"
    if stage == "evaluate":
        return "scoring the folds"
    return ""
