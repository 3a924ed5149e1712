"""``emojax predict``: each model's class probabilities for videos, with a run's models; an
audio-only file's by the run's voice model alone."""

from __future__ import annotations

import json

from ..errors import EmojaxError
from ..features.modalities import TITLES
from ..fileio import shown
from ..models import TITLES as MODEL_TITLES
from .common import add_partial_option, add_stream_option, seconds


def run(args) -> int:
    from tqdm import tqdm

    from ..inference import predict_videos

    fold = args.fold
    if fold is not None and fold != "final":
        try:
            fold = int(fold)
        except ValueError:
            raise EmojaxError(f"--fold takes a fold number or 'final', not {args.fold!r}") from None
    with tqdm(unit="frame", desc="extract", leave=False, disable=args.json) as bar:
        results = predict_videos(args.videos, args.run, fold=fold, same_speaker=args.same_speaker, start=args.start,
                                 end=args.end, progress=bar.update, accept_partial=args.accept_partial,
                                 stream=args.stream)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    for result in results:
        if result["audio_only"]:
            print(f"{shown(result['video'])}: {result['label']} ({MODEL_TITLES[result['model']].lower()} model alone); "
                  f"{result['frames']} frames of audio; {result['models_used']}; {result['normalisation']}")
        else:
            print(f"{shown(result['video'])}: {result['label']} ({MODEL_TITLES[result['model']].lower()}); "
                  f"{result['frames']} frames, face in {100 * result['face_ratio']:.0f} %; {result['models_used']}; "
                  f"{result['normalisation']}")
        for note in result["notes"]:
            print(f"  note: {note}")
        for warning in result["warnings"]:
            print(f"  warning: {warning}")
        for m, r in result["models"].items():
            probs = ", ".join(f"{c} {p:.2f}" for c, p in r["proba"].items())
            print(f"  {m:>12}: {r['label']:>8}  ({probs})  {reads(r)}")
    return 0


def reads(model: dict) -> str:
    """What a model's answer for a video rests on, in words."""
    if model["prior_only"]:
        return "[nothing to read: its training classes' frequencies]"
    return "[" + " + ".join(TITLES[m] for m in model["modalities"]) + "]"


def add(sub) -> None:
    from ..video import AUDIO_EXTENSIONS

    p = sub.add_parser("predict", help="each model's class probabilities for one or more videos",
                       description="Each model's class probabilities for face videos. An audio-only file ("
                       f"{', '.join(sorted(AUDIO_EXTENSIONS))}, or a video file with no video stream) is predicted by "
                       "the run's voice model alone (a run that reads the voice), and says so.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="face videos or audio files (several: see --same-speaker)")
    p.add_argument("--run", required=True, help="a finished run folder")
    p.add_argument("--fold", default=None, metavar="K",
                   help="predict with fold K's models (1-based; a held-out video then gets the probabilities in "
                        "the run's predictions.npz) or 'final'; default: the final model if the run has one, "
                        "else the mean of the folds' models")
    p.add_argument("--same-speaker", action="store_true",
                   help="the videos are one speaker's: a speaker-relative run takes their landmarks relative to "
                        "their mean shape, as it did for each test speaker")
    p.add_argument("--start", type=seconds, default=None, help="predict from this second on")
    p.add_argument("--end", type=seconds, default=None, help="predict up to this second")
    add_stream_option(p)
    add_partial_option(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)
