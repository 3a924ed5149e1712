"""``emojax heart-rate``: the pulse of one face video, its rate, quality, beats and HRV."""

from __future__ import annotations

import json

from .common import add_extractor_options, extractor_config


def run(args) -> int:
    from tqdm import tqdm

    from ..features import extract, timing, vitals
    from ..fileio import shown
    from ..video import rotation_note, stream_note

    # the file is probed once, by extract; the bar shows only past half a second (a refusal comes alone)
    with tqdm(unit="frame", desc="extract", leave=False, disable=args.json, delay=0.5) as bar:
        feats = extract(args.video, extractor_config(args), progress=bar.update, accept_partial=args.accept_partial)
    v = vitals.vitals(feats, args.method)
    report = {"video": args.video, **vitals.report(feats, args.method, v=v), "face_ratio": round(feats.face_ratio, 4),
              "integrity": feats.source["integrity"], "stream": feats.source["stream"],
              "rotation": feats.source["rotation"], "streams": feats.source["streams"]}
    if args.csv:
        vitals.write_table(args.csv, feats, args.method, v=v)
    if args.json:
        print(json.dumps(report))
    else:
        bpm = report["bpm"]
        print(f"{shown(args.video)}: " + (f"{bpm:.1f} bpm (stands out from any other rate by "
                                            + ("far" if report["margin"] is None else f"{report['margin']:.1f} dB")
                                            + f", blind SNR {report['quality']:.1f} dB, {args.method})"
                                   if bpm is not None else report["error"]))
        if report.get("hrv", {}).get("rmssd_ms") is not None:
            h = report["hrv"]
            print(f"  {len(h['beats'])} beats; HRV: RMSSD {h['rmssd_ms']:.0f} ms, SDNN {h['sdnn_ms']:.0f} ms")
        for note in (rotation_note(feats.source["rotation"]), stream_note(feats.source),
                     timing.describe(feats.source.get("timing", {}))):
            if note:
                print(f"  note: {note}")
        if args.csv:
            print(f"  per-frame table: {shown(args.csv)}")
    return 0 if report["bpm"] is not None else 1


def add(sub) -> None:
    from ..features.rppg import DEFAULT_METHOD, RPPG_METHODS, methods_said

    p = sub.add_parser("heart-rate", help="heart rate of a face video")
    p.add_argument("video", help="a face video (or a skin close-up with --roi frame)")
    p.add_argument("--method", choices=list(RPPG_METHODS), default=DEFAULT_METHOD,
                   help="pulse method: " + methods_said())
    p.add_argument("--json", action="store_true", help="print JSON: bpm, margin, blind SNR, series, beats and HRV")
    p.add_argument("--csv", metavar="FILE", help="also write a per-frame table: time, raw R/G/B, pulse, heart rate, "
                   "quality, face found, state, interpolated, bridged, patches filled, beat")
    add_extractor_options(p)
    p.set_defaults(func=run)
