"""A dataset prepared for a run: its labelled videos read (and refused, in one line naming the
dataset, when the run's protocol cannot evaluate it honestly), what the feature store lacks
extracted, and the model inputs built, with each video left out or read without a modality
named; a finished run's videos prepared again from the records it lists (:func:`load_prepared`).

Normalisation is what prediction does: every statistic that spans videos (each input
channel's mean and spread) is computed from the training videos of the fold only, and a test
video is turned into inputs exactly as ``predict_video`` turns a new one. The one exception is
asked for explicitly and recorded: ``speaker_relative`` landmarks subtract each speaker's mean
shape over that speaker's unlabelled videos on the same side of the split (in prediction:
``--same-speaker`` over the videos given); :func:`normalisation` says it in ``model.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import load_dataset
from ..data.transforms import InputConfig, presence, restrict, to_arrays
from ..errors import DatasetError, RunFileError
from ..features.modalities import MODALITIES, PAPER_MODALITIES, TITLES, either
from ..features.record import ExtractorConfig
from ..features.store import FeatureStore
from ..models import ModelSpec
from .config import RunConfig, chosen_modalities, seeds_of
from .protocols import SpeakerOverlapError, independence, make_folds
from .runfiles import read_config, read_model_info

#: how to name the speakers of a dataset kind that may not name them
SPEAKER_HOWTO = {
    "folder": "give --speaker-pattern REGEX to read each video's speaker from its name inside its class folder "
              "(e.g. '^([^_]+)_' finds actor03 in actor03_take2.mp4), or list the videos in a CSV manifest with a "
              "speaker column (--dataset csv)",
    "csv": "add a speaker column to the manifest (header path,label,speaker; group, actor and subject are "
           "understood too)",
}


@dataclass
class Prepared:
    """A dataset as model inputs."""

    ids: list[str]
    y: np.ndarray                  # (N,) class indices
    classes: list[str]
    speakers: list[str] | None       # speakers, when the dataset names them
    sessions: list[str] | None     # recording sessions, when it has them
    arrays: dict                   # rppg (N, T, Cr), face (N, T, Cf), voice (N, T, Cv), mask (N, T, M): a mask
                                   # per modality; a modality the run does not read has 0 channels, mask False
    inputs: InputConfig            # with its length resolved
    skipped: list = field(default_factory=list)  # (what, why)
    stems: list[str] = field(default_factory=list)  # each video's record in the feature store (file stem)
    single_modality: list = field(default_factory=list)  # {"id", "absent": [modality], "why"}: kept, one modality absent
    modalities: tuple = PAPER_MODALITIES  # the modalities the run reads


def _all_or_none(values: list) -> list | None:
    return values if all(v is not None for v in values) else None


def extract_labelled(items: list, store, extractor: ExtractorConfig, *, workers: int | None = None,
                     accept_partial: bool = False, on_progress: Callable[[dict], None] | None = None, engine=None):
    """Extract what ``store`` lacks of ``items`` (on ``engine``, an :class:`emojax.data.batch.ExtractionEngine`;
    default: processes here), reporting ``{"stage": "extract", "done", "total"}`` after each video;
    the extraction summary."""
    from ..data.batch import extract_items

    done = [0]

    def tick(_outcome) -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress({"stage": "extract", "done": done[0], "total": len(items)})

    return extract_items(items, store, extractor, workers=workers, on_done=tick, accept_partial=accept_partial,
                         engine=engine)


def _check(cfg: RunConfig, items: list, classes: list[str], which: str) -> list[str]:
    """The classes that have videos among ``items`` (at least two), after refusing a dataset
    the run's protocol cannot evaluate honestly with any of its seeds (:func:`make_folds`
    refuses it), in one line that names the dataset (and the seed, when there are several)."""
    present = [c for c in classes if any(i.label == c for i in items)]
    seed = cfg.train.seed
    try:
        if len(present) < 2:
            raise DatasetError(f"only {len(present)} class ({', '.join(present) or 'none'}) has videos{which}; "
                               "there is nothing to tell apart")
        for seed in seeds_of(cfg):     # every seed's folds, before hours of training on the first
            make_folds([present.index(i.label) for i in items], [i.group for i in items],
                       [i.session for i in items], protocol=cfg.protocol, k=cfg.folds, test_fraction=cfg.test_fraction,
                       val_fraction=cfg.train.val_fraction, seed=seed, classes=present,
                       allow_speaker_overlap=cfg.allow_speaker_overlap)
    except SpeakerOverlapError as e:
        how = SPEAKER_HOWTO.get(cfg.dataset) if not any(i.group for i in items) else None
        raise SpeakerOverlapError(f"{cfg.root}: {e}" + (f". To name them: {how}" if how else "")) from None
    except DatasetError as e:
        where = f"with seed {seed} (of --seeds {cfg.seeds} from {cfg.train.seed}): " if cfg.seeds > 1 else ""
        raise DatasetError(f"{cfg.root}: {where}{e}") from None
    return present


def labelled(cfg: RunConfig):
    """The run's dataset and its labelled videos, refused (one line, naming the dataset) when
    the run's protocol cannot evaluate it honestly: checked before anything is extracted."""
    ds = load_dataset(cfg.dataset, cfg.root, **({"classes": cfg.classes} if cfg.classes else {}),
                      **({"speaker_pattern": cfg.speaker_pattern} if cfg.speaker_pattern is not None else {}))
    items = [i for i in ds.items if i.label in ds.classes]
    if not items:
        raise DatasetError(f"{cfg.root}: no labelled video found for dataset kind {cfg.dataset!r}")
    _check(cfg, items, ds.classes, "")
    return ds, items


def by_presence(ids: list[str], records: list, inputs: InputConfig, nothing: str,
                modalities=MODALITIES) -> tuple[list[int], list, list]:
    """The one minimum for what a video gives (:mod:`emojax.features.modalities`) applied to
    feature records under ``inputs``, for the run's ``modalities``: the positions of those with
    a modality to read, the others as ``(id, "<nothing>: why")``, and the kept ones with a
    modality absent as ``{"id", "absent", "why"}``."""
    why = [{m: w for m, w in presence(f, inputs).items() if m in modalities} for f in records]
    keep = [i for i, w in enumerate(why) if not all(w.values())]
    left = [(ids[i], f"{nothing}: " + "; ".join(f"{TITLES[m]} {w}" for m, w in why[i].items()))
            for i in range(len(ids)) if i not in keep]
    single = [{"id": ids[i], "absent": [m for m, w in why[i].items() if w],
               "why": "; ".join(f"{TITLES[m]} {w}" for m, w in why[i].items() if w)}
              for i in keep if any(why[i].values())]
    return keep, left, single


def prepare(cfg: RunConfig, *, workers: int | None = None, on_progress: Callable[[dict], None] | None = None,
            dataset=None, engine=None) -> Prepared:
    """Load the dataset (or take ``dataset``, from :func:`labelled`), extract what the feature
    store lacks, and build the model inputs."""
    ds, items = dataset or labelled(cfg)
    summary = extract_labelled(items, cfg.store, cfg.extractor, workers=workers, accept_partial=cfg.accept_partial,
                               on_progress=on_progress, engine=engine)
    ok = [o for o in summary.outcomes if o.stem]
    skipped = list(ds.skipped) + [(o.item.id, o.error) for o in summary.failed]
    if len(ok) < 2:
        raise DatasetError(f"{cfg.root}: only {len(ok)} video(s) could be read; first failures: "
                           + "; ".join(f"{w}: {why}" for w, why in skipped[:3]))
    records = [FeatureStore(cfg.store).load(o.stem) for o in ok]
    # one minimum for what a video gives (features.modalities): a video without any modality is
    # left out by name; one without a pulse (or landmarks) stays, that modality marked absent
    voice_share = float(np.mean([presence(f, cfg.inputs)["voice"] is None for f in records]))
    modalities = chosen_modalities(cfg, voice_share)
    usable, empty, single = by_presence([o.item.id for o in ok], records, cfg.inputs, "nothing to learn from",
                                        modalities)
    skipped += empty
    ok, records = [ok[i] for i in usable], [records[i] for i in usable]
    if len(ok) < 2:
        raise DatasetError(f"{cfg.root}: only {len(ok)} video(s) give {either(modalities)} to learn from; first "
                           "left out: " + "; ".join(f"{w}: {why}" for w, why in skipped[:3]))
    classes = _check(cfg, [o.item for o in ok], ds.classes, f" that could be read and give {either(modalities)}")
    skipped += [(f"class {c}", f"no video of it could be read or gives {either(modalities)}"
                 if any(i.label == c for i in items) else "no video of it")
                for c in ds.classes if c not in classes]
    speakers = _all_or_none([o.item.group for o in ok])
    inputs = cfg.inputs
    if inputs.preset == "paper" and inputs.length is None:
        # the paper's rule: pad to the longest video - here of the dataset, one shape for every
        # fold's models (averaged and explained on the same inputs); no model reads more of a
        # video than its training videos have (EarlyFusion.fit_inputs), as prediction cuts a new one
        inputs = replace(inputs, length=max(len(f) for f in records))
    if inputs.preset == "improved" and inputs.speaker_relative and speakers is None:
        raise DatasetError(f"{cfg.root}: speaker-relative landmarks need the speaker of every video, and "
                           f"this {cfg.dataset} dataset does not name them; train without it")
    if inputs.preset == "improved" and inputs.speaker_relative and \
            not independence(cfg.protocol, speakers, None)["speaker_independent"]:
        raise DatasetError(f"{cfg.root}: speaker-relative landmarks take each speaker's mean shape over their videos "
                           "on one side of the split, and this split puts a speaker on both sides "
                           f"({independence(cfg.protocol, speakers, None)['why']}); train without it")
    # every protocol keeps a named speaker's videos on one side of the split, so a speaker's
    # mean shape (speaker_relative) is computed from that side's videos only
    return Prepared(
        ids=[o.item.id for o in ok], y=np.array([classes.index(o.item.label) for o in ok]),
        classes=classes, speakers=speakers, sessions=_all_or_none([o.item.session for o in ok]),
        arrays=restrict(to_arrays(records, inputs, speakers=speakers), modalities), inputs=inputs, skipped=skipped,
        stems=[Path(o.stem).name for o in ok], single_modality=single, modalities=modalities)


def run_store(run: str | os.PathLike, info: dict | None = None) -> Path:
    """The feature store a run's records are in: beside the run where they were (the run
    folder and the store moved together), else where they were when it trained."""
    run = Path(run)
    info = info if info is not None else read_model_info(run)
    where = info.get("store") or {}
    if isinstance(where, dict):
        for candidate in ((run / where["from_run"]) if where.get("from_run") else None, where.get("path")):
            if candidate and Path(candidate).is_dir():
                return Path(candidate).resolve()
    return Path(read_config(run).store)


def load_prepared(run: str | os.PathLike) -> Prepared:
    """A finished run's videos as the model inputs it tested, from the records it lists in its
    feature store: no dataset is read, no file hashed, nothing extracted. (A run from before
    records were listed is prepared again from its dataset.)"""
    run = Path(run)
    info = read_model_info(run)
    listed = info.get("records")
    if not isinstance(listed, list):
        return prepare(read_config(run))
    store = FeatureStore(run_store(run, info))
    try:
        records = [store.load(store.root / r["stem"]) for r in listed]
        ids, labels = [r["id"] for r in listed], [r["label"] for r in listed]
    except (KeyError, TypeError) as e:
        raise RunFileError(f"{run / 'model.json'}: its list of records is not what a run writes ({e})") from None
    classes = list(info["classes"])
    inputs = InputConfig(**info["inputs"])
    speakers = info.get("groups")
    modalities = run_modalities(info)
    return Prepared(ids=ids, y=np.array([classes.index(c) for c in labels]), classes=classes, speakers=speakers,
                    sessions=info.get("sessions"), arrays=restrict(to_arrays(records, inputs, speakers=speakers),
                                                                   modalities),
                    inputs=inputs, stems=[r["stem"] for r in listed], modalities=modalities)


def run_modalities(info: dict) -> tuple[str, ...]:
    """The modalities of a run from its ``model.json`` (its spec's channels; a run written
    before voice: the pulse and the landmarks)."""
    try:
        return ModelSpec(**info["spec"]).modalities
    except (KeyError, TypeError) as e:
        raise RunFileError(f"model.json: its model specification is not what a run writes ({e})") from None


def normalisation(inputs: InputConfig) -> dict:
    """What each statistic of the inputs is computed from (written to ``model.json``)."""
    landmarks = ("relative to the mean aligned shape of the speaker's videos on the same side of the split "
                 "(in prediction: of the videos given with --same-speaker)" if inputs.speaker_relative else
                 "each video's own: aligned to its own mean shape" if inputs.preset == "improved" else "raw pixels")
    return {"speaker_relative": bool(inputs.speaker_relative and inputs.preset == "improved"),
            "landmarks": landmarks,
            "rppg": "each video's own (pulse z-scored over its frames)" if inputs.preset == "improved" else "raw colour",
            "standardisation": "each channel's mean and spread over the frames where its modality is valid in the "
                               "fold's training videos (stored with the model)",
            "length": "resampled to a fixed length" if inputs.preset == "improved" else
                      ("zero-padded (or cut) to the longest video of the dataset: one shape for every fold's "
                       "models; the early fusion (weights per frame) reads only the frames its training videos "
                       "have (zero weights beyond; 'early_fusion_frames' of each fold in metrics.json), so a "
                       "longer test video is cut where its fold's training videos end, as prediction cuts a new "
                       "one; the convolutional models average every real frame")}
