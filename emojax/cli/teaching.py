"""``emojax make-teaching-set``: the synthetic teaching dataset."""

from __future__ import annotations

from .common import positive, positive_int, share


def _teaching_config(args):
    from ..data.teaching import TeachingConfig

    return TeachingConfig(clips_per_class=args.clips_per_class, seconds=args.seconds, size=args.size,
                          noise=args.noise, face_info=args.face_info, pulse_info=args.pulse_info,
                          voice_info=args.voice_info, seed=args.seed)


def run(args) -> int:
    from tqdm import tqdm

    from ..data.teaching import TEACHING_CLASSES, make_teaching_set

    cfg = _teaching_config(args)
    with tqdm(total=cfg.clips_per_class * len(TEACHING_CLASSES), unit="clip", desc="teaching set",
              disable=args.quiet) as bar:
        manifest = make_teaching_set(args.out, cfg, faces=args.faces, workers=args.workers, progress=bar.update)
    print(f"wrote {manifest}")
    return 0


def add(sub) -> None:
    from ..data.teaching import VOICE_INFO

    p = sub.add_parser("make-teaching-set", help="write the teaching dataset (synthetic faces with planted signals)")
    p.add_argument("--out", required=True, help="folder for the clips, their ground truth and manifest.csv")
    p.add_argument("--clips-per-class", type=positive_int, default=16, help="clips of each class (default 16)")
    p.add_argument("--seconds", type=positive, default=8.0, help="length of each clip (default 8)")
    p.add_argument("--size", type=positive_int, default=256, help="frame side in pixels (default 256)")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise, grey levels (default 2)")
    p.add_argument("--face-info", type=share, default=1.0, help="0..1: how much the face says (valence)")
    p.add_argument("--pulse-info", type=share, default=1.0, help="0..1: how much the pulse says (arousal)")
    p.add_argument("--voice-info", type=share, default=VOICE_INFO,
                   help=f"0..1: how much the voice says (all four classes; default {VOICE_INFO})")
    p.add_argument("--faces", nargs="*", help="face images or videos to animate (default: astronaut)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the clips (default 0)")
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
