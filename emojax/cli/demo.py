"""``emojax demo``: what ``make run`` does - the teaching set, both presets trained and explained."""

from __future__ import annotations

from pathlib import Path

from ..presets import PRESET_NAMES
from .common import TrainBars, positive_int, print_importance, print_metrics
from .explain import explain


def run(args) -> int:
    """Teaching set (built if absent) -> features -> both presets' four models -> metrics."""
    from tqdm import tqdm

    from ..data.teaching import TEACHING_CLASSES, TeachingConfig, make_teaching_set
    from ..training.config import run_config
    from ..training.run import finished, train_run

    root = Path(args.root)
    if not (root / "manifest.csv").is_file():
        cfg = TeachingConfig()
        with tqdm(total=cfg.clips_per_class * len(TEACHING_CLASSES), unit="clip", desc="teaching set") as bar:
            make_teaching_set(root, cfg, workers=args.workers, progress=bar.update)
    for preset in PRESET_NAMES:
        out = Path(args.runs) / f"demo-{preset}"
        cfg = run_config("teaching", root, preset=preset, protocol="speaker", store=args.store)
        metrics = finished(out, cfg)
        if metrics is None:
            bars = TrainBars(label=f"{preset}: ")
            try:
                metrics = train_run(cfg, out, workers=args.workers, on_progress=bars)
            finally:
                bars.close()
        print(f"\n{preset} preset")
        print_metrics(metrics, out)
        if not (out / "importance.json").is_file():
            clip = sorted(root.glob("*.mp4"))[0]
            explain(out, ("modality", "channel", "region", "time"), True, clip, 5, 0)
        print()
        from ..explain.importance import read_importance

        print_importance(read_importance(out))
    return 0


def add(sub) -> None:
    p = sub.add_parser("demo", help="teaching set -> features -> both presets trained -> metrics -> explanations "
                       "(what `make run` does)")
    p.add_argument("--root", default="artifacts/teaching", help="the teaching set (written if absent)")
    p.add_argument("--store", default="artifacts/features", help="feature store")
    p.add_argument("--runs", default="artifacts/runs", help="folder of the demo runs")
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=run)
