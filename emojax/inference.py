"""One video -> features -> each model of a finished run -> class probabilities."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

from .errors import EmojaxError, NoFaceError
from .fileio import shown
from .estimator import TrainedRun
from .data.transforms import InputConfig, presence, restrict, to_arrays
from .features import Extractor, timing
from .features.modalities import MIN_FRAMES, MIN_SECONDS, MODALITIES, PAPER_MODALITIES, TITLES, either
from .features.voice import audio_features, said
from .models import model_modalities
from .video import audio_only, rotation_note, stream_note

#: what the result of an audio-only file says: no face, no pulse, and so no fusion
AUDIO_ONLY_NOTE = "audio only: the voice model alone answered"


def predictable(features, name: str | os.PathLike | None = None, inputs: InputConfig | None = None,
                modalities: Sequence[str] = PAPER_MODALITIES) -> list[str]:
    """Refuse (NoFaceError naming the video) a record no prediction can honestly be made from:
    none of its modalities is there in enough of it (the one minimum of
    :mod:`emojax.features.modalities`, under the run's ``inputs``: its pulse and its landmarks
    each on at least 8 frames spanning 0.5 s); for one that can be predicted, the warnings its
    result must carry (a modality absent; read partly; no colour). Only the run's ``modalities``
    count: a record with no face but a voice is predicted by a run that reads the voice."""
    name = shown(name or features.source.get("path") or "the video")
    if features.source.get("audio_only"):
        return _audio_warnings(features, name, inputs, modalities)
    n = int(features.face_found.sum())
    streams = stream_note(features.source)
    why = {m: w for m, w in presence(features, inputs).items() if m in modalities}
    if n == 0 and why.get("voice", "absent") is not None:
        raise NoFaceError(f"{name}: no face was found in any of its {len(features)} frames; nothing to predict from "
                          "(a face seen from the front, at least 40 pixels wide, is needed)"
                          + (f"; {streams}" if streams else ""))
    if all(why.values()):
        seconds = n / features.fps if features.fps > 0 else 0.0
        face = f"a face on only {n} frame(s) ({seconds:.2f} s); " if {"rppg", "face"} & set(modalities) else ""
        raise NoFaceError(f"{name}: {face}a prediction needs at least {MIN_FRAMES} frames and {MIN_SECONDS:g} s of "
                          f"{either(modalities)} ("
                          + "; ".join(f"{TITLES[m]}: {w}" for m, w in why.items()) + ")")
    warnings = [streams] if streams else []
    for m, w in why.items():
        if w and not (m == "rppg" and features.grayscale):
            warnings.append(f"no {TITLES[m]} to use ({w}): {absent_note(m, [k for k in modalities if not why[k]])}")
    if features.partial:
        integrity = features.source.get("integrity", {})
        warnings.append(f"the video is {integrity.get('status', 'partial')} (read {integrity.get('frames_read', len(features))} "
                        "frames): this is a prediction of what was read")
    if said := timing.describe(features.source.get("timing", {})):
        warnings.append(said)
    if features.grayscale:
        warnings.append("the video has no colour (grayscale): it holds no pulse, so the rPPG model answers with its "
                        "training classes' frequencies and the fused models read the landmarks alone; trust the "
                        "facial model")
    return warnings


def _audio_warnings(features, name: str, inputs: InputConfig | None, modalities: Sequence[str]) -> list[str]:
    """:func:`predictable` for an audio-only record: only its voice can be read, so the run must
    read the voice and the voice must be there (the one minimum); a partial voice is a warning."""
    if "voice" not in modalities:
        raise EmojaxError(f"{name}: audio only (no video stream); only a voice model can predict it, and the run "
                          f"does not read voice (it reads {' and '.join(TITLES[m] for m in modalities)})")
    why = presence(features, inputs)["voice"] if len(features) >= MIN_FRAMES else \
        (said(features.source.get("voice")) if features.voice_status == "absent" else
         f"{len(features)} frame(s) of audio; at least {MIN_FRAMES} frames and {MIN_SECONDS:g} s are needed")
    if why:
        raise NoFaceError(f"{name}: audio only (no video stream), and its voice cannot be used ({why}); nothing to "
                          "predict from")
    return [said(features.source["voice"])] if features.voice_status == "partial" else []


def _refuse_without_voice(name, run: TrainedRun) -> None:
    """An audio-only file given to a run without a voice model: refused, naming the file and the run."""
    if "voice" not in run.model_names:
        raise EmojaxError(f"{shown(name)}: audio only (no video stream), so only a run's voice model can predict it; "
                          f"run {run.path} does not read voice (it reads "
                          f"{' and '.join(TITLES[m] for m in run.modalities)}): choose a run trained with the voice "
                          "(--modalities including voice)")


def absent_note(modality: str, present: Sequence[str] = PAPER_MODALITIES) -> str:
    """What a run's models do for a video without ``modality`` whose ``present`` modalities (those
    of the run it has) are read."""
    other = [TITLES[m] for m in MODALITIES if m != modality and m in present]
    return (f"its model answers with its training classes' frequencies (no information), and the fused models "
            f"read the {' and '.join(other)} alone")


def models_used(mask) -> list[str]:
    """The modalities a video's model inputs have (``mask (T, M)``)."""
    return [m for i, m in enumerate(MODALITIES) if mask[:, i].any()]


def predict_records(records: Sequence, run: TrainedRun, *, fold: int | str | None = None,
                    same_speaker: bool = False) -> list[dict]:
    """Each model's class probabilities for each feature record, with the models ``fold``
    selects (None: the final model when the run has one, else the mean over its folds; K: fold
    K's; ``"final"``). Every video is normalised as the run's test videos were: on its own, or,
    for a speaker-relative run, relative to the mean shape of ``records`` taken as one speaker's
    videos (``same_speaker``, required by such a run and refused by others). A record without
    enough face is refused; each result lists its ``warnings`` (:func:`predictable`)."""
    records = list(records)
    warnings = [predictable(f, inputs=run.inputs, modalities=run.modalities) for f in records]
    if run.speaker_relative and not same_speaker:
        what = " and ".join(w for m, w in (("face", "the landmarks relative to each speaker's mean shape"),
                                           ("voice", "the voice's pitch relative to each speaker's mean F0"))
                            if m in run.modalities) or "its inputs relative to each speaker"
        raise EmojaxError(f"{run.path}: this run takes {what}; give the files of one speaker together with "
                          "--same-speaker (in Python: same_speaker=True); one file alone is then its own speaker")
    if same_speaker and not run.speaker_relative:
        raise EmojaxError(f"{run.path}: this run normalises every video on its own; --same-speaker would change "
                          "nothing (it is for runs trained with speaker-relative landmarks)")
    classes = [str(c) for c in run.classes]
    alone = [bool(f.source.get("audio_only")) for f in records]
    for f, a in zip(records, alone):
        if a:
            _refuse_without_voice(f.source.get("path", "the file"), run)
    arrays = model_inputs(records, run, ["speaker"] * len(records) if same_speaker else None)
    proba: dict = {}
    for m in run.model_names:        # an audio-only record is given to the voice model alone
        rows = [i for i, a in enumerate(alone) if m == "voice" or not a]
        if rows:
            picked = arrays if len(rows) == len(records) else {k: v[rows] for k, v in arrays.items()}
            proba[m] = dict(zip(rows, run.classifier(m, fold).predict_proba(picked)))
    out = []
    for i, f in enumerate(records):
        have = models_used(arrays["mask"][i])
        models = {m: {"proba": dict(zip(classes, map(float, proba[m][i]))), "label": classes[int(proba[m][i].argmax())],
                      "modalities": [x for x in have if x in model_modalities(m, run.modalities)]}
                  for m in run.model_names if i in proba.get(m, {})}
        for m in models.values():
            m["prior_only"] = not m["modalities"]     # nothing it reads: its training classes' frequencies
        main = "voice" if alone[i] else "early_fusion" if "early_fusion" in models else run.model_names[0]
        out.append({"classes": classes, "models": models, "label": models[main]["label"], "model": main,
                    "audio_only": alone[i], **({"note": AUDIO_ONLY_NOTE} if alone[i] else {}),
                    "modalities": have, "absent": [m for m in run.modalities if m not in have],
                    "frames": len(f), "face_ratio": round(f.face_ratio, 4), "warnings": warnings[i],
                    "models_used": run.which(fold),
                    "normalisation": f"speaker-relative over {len(records)} video(s) of one speaker" if same_speaker
                    else "this video on its own"})
    return out


def predict_features(features, run: TrainedRun, *, fold: int | str | None = None) -> dict:
    """Each model's class probabilities for one feature record (see ``predict_records``)."""
    return predict_records([features], run, fold=fold)[0]


def run_extractor(run: TrainedRun, extractor: Extractor | None = None, *, stream: int | None = None) -> Extractor:
    """The extractor a new video is read with for ``run``: the run's settings, reading the video
    stream ``stream`` (None: the container's default). ``extractor``: one built already (the
    dashboard keeps one per process), used when it has the run's settings (its landmark model
    shared when only the stream differs); ValueError when it has others."""
    config = dataclasses.replace(run.extractor, stream=stream)
    if extractor is None:
        return Extractor(config)
    if dataclasses.replace(extractor.config, stream=stream) != config:
        raise ValueError(f"the extractor's settings differ from the run's ({run.path}): "
                         f"{extractor.config} vs {run.extractor}")
    return extractor if extractor.config == config else Extractor(config, predictor=extractor.predictor)


def model_inputs(records: Sequence, run: TrainedRun, speakers: Sequence[str | None] | None = None) -> dict:
    """The model inputs ``{"rppg", "face", "mask"}`` of feature records for ``run``, each video
    turned into inputs as the run's test videos were: on its own or, for a speaker-relative run,
    relative to the mean shape of each speaker's videos among ``records`` (``speakers`` names
    the speaker of each)."""
    return restrict(to_arrays(list(records), run.inputs, speakers=speakers), run.modalities)


def predict_videos(paths: Sequence[str | os.PathLike], run: str | os.PathLike | TrainedRun, *,
                   fold: int | str | None = None, same_speaker: bool = False, start: float | None = None,
                   end: float | None = None, extractor: Extractor | None = None,
                   progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                   stream: int | None = None) -> list[dict]:
    """Extract each video (or its ``[start, end)`` seconds) with the run's extractor settings and
    predict it with every model of ``run`` (``fold`` and ``same_speaker`` as in
    ``predict_records``). ``extractor``: one built already (the dashboard keeps one per
    process); it must have the run's settings. ``stream``: which video stream of each file
    (None: the container's default; which stream the run's own videos came from is theirs, not
    a setting of the models). A video that is not whole is refused unless ``accept_partial``
    (then ``result["integrity"]`` says what is missing). Each result says which stream was read
    and how its frames were turned (``stream``, ``rotation``).

    An audio-only file (:func:`emojax.video.audio_only`: an audio type, or a container with no
    video stream) is read for its voice alone (:func:`emojax.features.voice.audio_features`) and
    predicted by the run's voice model alone: its result has that model only, ``model`` "voice",
    ``audio_only`` True and the note :data:`AUDIO_ONLY_NOTE`; a run without a voice model refuses
    it, naming the file. ``progress`` then counts its frames at once, when its voice is read."""
    paths = list(paths)
    alone = [audio_only(p) for p in paths]       # a bad file is refused before any model is loaded
    run = run if isinstance(run, TrainedRun) else TrainedRun(run)
    for p, a in zip(paths, alone):
        if a:
            _refuse_without_voice(p, run)        # before anything is read
    run.which(fold)                              # an unknown fold is refused before extracting
    extractor = run_extractor(run, extractor, stream=stream) if not all(alone) else None
    records = []
    for p, a in zip(paths, alone):
        if a:
            f = audio_features(p, start=start, end=end)
            if progress is not None:
                progress(len(f))
        else:
            f = extractor(p, start=start, end=end, progress=progress, accept_partial=accept_partial)
        predictable(f, p, run.inputs, run.modalities)   # refused before the next video is read
        records.append(f)
    results = predict_records(records, run, fold=fold, same_speaker=same_speaker)
    return [{"video": os.fspath(p), "run": str(run.path), **r, "integrity": f.source.get("integrity"),
             "stream": None if a else f.source.get("stream", 0), "rotation": f.source.get("rotation", 0),
             "notes": [n for n in (rotation_note(f.source.get("rotation", 0)), r.get("note")) if n]}
            for p, a, f, r in zip(paths, alone, records, results)]


def predict_video(path: str | os.PathLike, run: str | os.PathLike | TrainedRun, *, fold: int | str | None = None,
                  start: float | None = None, end: float | None = None, extractor: Extractor | None = None,
                  progress: Callable[[int], None] | None = None, accept_partial: bool = False,
                  stream: int | None = None) -> dict:
    """One video's prediction, or an audio-only file's by the voice model alone (see ``predict_videos``)."""
    return predict_videos([path], run, fold=fold, start=start, end=end, extractor=extractor, progress=progress,
                          accept_partial=accept_partial, stream=stream)[0]

