"""Heart rate on real faces with a known pulse planted into the skin, for every pulse method, and
the reliability rule chosen out of sample (leave one footage set out).

Footage sets (genuinely different footage, never mixed): three disjoint groups of GRID speakers
and the CREMA-D actor; each set's clips are chained (a cut at each join) and, where a set runs
out, looped forward then backward ("ping-pong": the motion reverses rather than cutting) to
12, 20 and 40 s. Into the skin (found by dlib on every frame) goes a PPG-shaped pulse with
heart-rate variability (emojax.data.planted): a camera/light colour signature that is not PBV's
(four, spread around it), a strength that varies over the face (±40 %), an arrival delayed
towards the chin (0-60 ms), sensor noise before 8-bit quantisation, then H.264 (CRF 23) as a
camera's file; 50-130 bpm, amplitudes 1 % down to 0.3 % of the skin's brightness, and cases with
no pulse at all. Each case is extracted by emojax's own Extractor and its pulse read by every
method (GREEN, CHROM, POS, PBV) with emojax's rate estimator.

Reliability: each candidate rule (a threshold on one number) is calibrated on three footage sets
(the loosest threshold at which the reliable rates there are at least 98 % right, at every
stricter one too, and none at a multiple of the truth) and scored on the fourth, each set held
out in turn; the default method and the rule are chosen on those held-out scores. Also the two
real skin videos with a measured heart rate. Prints Markdown tables; results go to
artifacts/benchmarks/rppg.json (another codec or --quick: rppg-<codec|quick>.json; the pulses
of every case to rppg_pulses.npz beside it, which --reuse reads instead of planting again).

    .venv/bin/python benchmarks/rppg.py [--quick] [--codec h264|h264-crf23|none] [--reuse]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "artifacts" / "benchmarks"
METHODS = ("green", "chrom", "pos", "pbv")
DURATIONS = (12, 20, 40)
RATES = (50, 58, 66, 75, 88, 100, 115, 130)
AMPLITUDES = (0.01, 0.006, 0.004, 0.003)
NULL_CASES = 2          # per set and duration: no pulse planted at all
#: disjoint groups of GRID speakers (pwij3p and id2_vcd_swwp2s look like one man: kept together)
GRID_SETS = {"GRID A": ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a"), "GRID B": ("lrwp9a", "lwbsza", "sbia1a", "swiz3n"),
             "GRID C": ("pwij3p", "id2_vcd_swwp2s", "sbwe5n")}
#: how the planted frames are re-encoded, as a camera's file is (--codec)
CODECS = {"h264": {"bits_per_pixel": 0.15}, "h264-crf23": {"crf": 23}, "none": None}


def footage_sets() -> dict[str, list[Path]]:
    out = {k: [DATA / "grid" / f"{n}.mpg" for n in v] for k, v in GRID_SETS.items()}
    out["CREMA-D"] = sorted((DATA / "cremad").glob("*.flv"))
    return out


@dataclass
class Base:
    """One footage set's chained frames with dlib's points and skin masks (made once per run)."""

    frames: list
    fps: float
    points: np.ndarray
    masks: list


def load_base(paths: list[Path], predictor) -> Base:
    from emojax.data.planted import chained, face_points, skin_masks

    frames, fps = chained(paths)
    points = face_points(frames, predictor)
    return Base(frames, fps, points, skin_masks(frames, points))


def case_grid(quick: bool) -> list[tuple[int, float, float]]:
    """(duration s, rate bpm, amplitude) of the cases of one footage set."""
    durations, rates, amps, nulls = ((12, 40), RATES[1::3], (0.006, 0.004), 1) if quick else \
        (DURATIONS, RATES, AMPLITUDES, NULL_CASES)
    out = []
    for d in durations:
        out += [(d, r, a) for r, a in itertools.product(rates, amps)]
        out += [(d, float(RATES[(3 * k) % len(RATES)]), 0.0) for k in range(nulls)]
    return out


def run_cases(quick: bool, codec: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Plant, (re-encode,) extract and read every case; returns one row per case and its pulses."""
    from emojax.data.planted import SIGNATURES, ping_pong, plant_pulse, reencode
    from emojax.features import Extractor, vitals
    from emojax.video import Frame

    ex = Extractor()
    names = list(SIGNATURES)
    rows, pulses = [], {}
    for s, (name, paths) in enumerate(footage_sets().items()):
        t0 = time.perf_counter()
        base = load_base(paths, ex.predictor)
        t_base = time.perf_counter() - t0
        for k, (dur, bpm, amp) in enumerate(case_grid(quick)):
            idx = ping_pong(len(base.frames), int(round(dur * base.fps)))
            seed = 10_000 * s + k
            sig_name = names[(k + RATES.index(bpm) if bpm in RATES else k) % len(names)]
            frames, truth = plant_pulse([base.frames[i] for i in idx], base.fps, bpm * (1 + 0.02 * np.sin(seed)), amp,
                                        points=base.points[idx], masks=[base.masks[i] for i in idx], seed=seed,
                                        signature=SIGNATURES[sig_name])
            if CODECS[codec] is not None:
                frames = reencode(frames, base.fps, **CODECS[codec])
            feats = ex.frames([Frame(i, i / base.fps, f) for i, f in enumerate(frames)], base.fps)
            case = len(rows)
            for m in METHODS:
                pulses[f"{case}_{m}"] = vitals.pulse_of(feats, m).astype(np.float32)
            rows.append({"case": case, "set": name, "seconds": dur, "fps": float(base.fps), "truth": truth.bpm,
                         "amplitude": amp, "signature": sig_name, "delay_ms": round(1000 * truth.delay_s, 1),
                         "face_ratio": float(feats.face_found.mean()), "cuts": len(feats.source.get("cuts", ()))})
        print(f"  {name}: {len(base.frames)} frames chained ({t_base:.0f} s for points and masks), "
              f"{len(case_grid(quick))} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows, pulses


# --- reading and judging the cases ----------------------------------------------------------

#: targets on the held-out sets (issue 21): reliable rates within 5 bpm, share of cases called
#: reliable at amplitude >= 0.6 % and at 0.4 %; no octave error called reliable
TARGETS = {"right_when_reliable": 0.97, "reliable_at_0.6_and_up": 0.90, "reliable_at_0.4": 0.60}
MIN_PRECISION = 0.98     # calibration: reliable rates at least this often right on the other sets
AGREE_WINDOW_S = 4.0     # the "windows agree" rule's windows


#: the "margin + noise floor" rule's floor: the blind SNR that band-passed white noise alone
#: reaches in about 9 of 10 clips of 12-20 s (set from noise, not from footage)
NOISE_FLOOR_DB = -5.0


def read(sig: np.ndarray, fs: float, truth: float) -> dict:
    """A case's rate and every candidate reliability number, as emojax computes them."""
    from emojax.features import heart

    bpm, snr = heart.heart_rate(sig, fs)
    f, p = heart.spectrum(sig, fs)
    own = heart.heart_rate_series(sig, fs, window_s=AGREE_WINDOW_S, step_s=AGREE_WINDOW_S, tracked=False)[:, 1]
    n = int(np.isfinite(own).sum())
    return {"bpm": bpm, "blind_snr": snr, "margin": heart.margin_db(sig, fs, bpm),
            "agree": float((np.abs(own - bpm) <= 5).sum() / n) if n >= 2 and np.isfinite(bpm) else 0.0,
            "ref_snr": heart.snr_db(f, p, truth / 60) if truth else float("nan")}


def judged(rows: list[dict], pulses) -> None:
    """Adds each method's reading to every row (``row[method]``), with whether it is right."""
    for r in rows:
        for m in METHODS:
            x = read(np.asarray(pulses[f"{r['case']}_{m}"], np.float64), r["fps"], r["truth"])
            x["right"] = bool(abs(x["bpm"] - r["truth"]) <= 5)
            x["octave"] = bool(any(abs(x["bpm"] - k * r["truth"]) <= 5 for k in (2, 0.5, 3, 1 / 3)))
            r[m] = x


#: candidate rules: reliable when this number reaches a threshold chosen on the other sets
RULES = {"margin + noise floor": "the rate out-powers every rival rate by a margin (dB), and its blind SNR is over "
                                 "what noise alone reaches (NOISE_FLOOR_DB, set from noise, not footage)",
         "margin": "the rate's harmonic comb out-powers every rival rate's by a margin (dB)",
         "blind SNR": "the blind SNR at the rate reaches a threshold (dB; the rule before)",
         "windows agree": f"enough of its {AGREE_WINDOW_S:.0f}-s stretches find the rate again on their own (share)"}
#: a rule must not call more than this share of pure-noise pulses reliable, at any length
MAX_NOISE_ALARMS = 0.10
#: shorter lengths than the planted cases, at which pure noise is read to set the shortest pulse
#: a rate is given for (vitals.MIN_RELIABLE_S)
SHORT_LENGTHS = (5, 8, 10)
#: the rule emojax ships (heart.reliable: the margin, at heart.RELIABLE_MARGIN_DB for each method)
SHIPPED_RULE = "margin"


def rule_score(x: dict, rule: str) -> float:
    """The number a rule thresholds, from a :func:`read`."""
    if rule == "margin + noise floor":
        return x["margin"] if _num(x["blind_snr"]) >= NOISE_FLOOR_DB else -np.inf
    return {"margin": x["margin"], "blind SNR": x["blind_snr"], "windows agree": x["agree"]}[rule]


def _num(x) -> float:
    return float(np.nan_to_num(x, nan=-np.inf))


def calibrate(cases: list[dict], method: str, rule: str) -> float:
    """The loosest threshold at which the cases' reliable rates are at least
    :data:`MIN_PRECISION` right (and at every stricter threshold), none at a multiple of the truth."""
    x = sorted(((_num(rule_score(c[method], rule)), c[method]["right"], c[method]["octave"]) for c in cases),
               key=lambda t: -t[0])
    best, right, n = float("inf"), 0, 0
    for i, (s, ok, octave) in enumerate(x):
        right, n = right + ok, n + 1
        if octave or right / n < MIN_PRECISION or not np.isfinite(s):
            break
        if i + 1 == len(x) or x[i + 1][0] < s:
            best = s
    return best


def held_out(rows: list[dict], method: str, rule: str) -> dict[str, float]:
    """Each footage set's threshold, calibrated on the others; marks ``row[method]["reliable"]``."""
    out = {}
    for held in dict.fromkeys(r["set"] for r in rows):
        th = out[held] = calibrate([r for r in rows if r["set"] != held and r["amplitude"] > 0], method, rule)
        for r in rows:
            if r["set"] == held:
                r[method]["reliable"] = _num(rule_score(r[method], rule)) >= th
    return out


def score(rows: list[dict], method: str) -> dict:
    """Held-out figures of the rows (their ``reliable`` marks must be set)."""
    pulse = [r for r in rows if r["amplitude"] > 0]
    rel = [r for r in pulse if r[method]["reliable"]]
    share = lambda c: round(float(np.mean(c)), 4) if len(c) else None  # noqa: E731
    return {"cases": len(pulse), "within_5_bpm": share([r[method]["right"] for r in pulse]),
            "reliable": share([r[method]["reliable"] for r in pulse]),
            "right_when_reliable": share([r[method]["right"] for r in rel]),
            "octave_errors": sum(r[method]["octave"] for r in pulse),
            "octave_errors_reliable": sum(r[method]["octave"] for r in rel),
            "reliable_by_amplitude": {str(a): share([r[method]["reliable"] for r in pulse if r["amplitude"] == a])
                                      for a in AMPLITUDES},
            "reliable_at_0.6_and_up": share([r[method]["reliable"] for r in pulse if r["amplitude"] >= 0.006]),
            "reliable_at_0.4": share([r[method]["reliable"] for r in pulse if r["amplitude"] == 0.004]),
            "no_pulse_cases": sum(r["amplitude"] == 0 for r in rows),
            "no_pulse_reliable": sum(r[method]["reliable"] for r in rows if r["amplitude"] == 0),
            "ref_snr_median_db": share([np.nanmedian([r[method]["ref_snr"] for r in pulse])])}


def meets(s: dict) -> dict[str, bool]:
    ok = {k: s[k] is not None and s[k] >= v for k, v in TARGETS.items()}
    return {**ok, "no_octave_error_reliable": s["octave_errors_reliable"] == 0}


def noise_readings(seeds: int = 100, durations=DURATIONS) -> dict[int, list[dict]]:
    """:func:`read` of pure noise (band-passed white noise, what a method makes of a face with no
    pulse and no motion) at each length, at 25 and 30 fps."""
    from emojax.features import rppg

    out = {}
    for dur in durations:
        out[dur] = []
        for fs, seed in itertools.product((25.0, 30.0), range(seeds)):
            x = rppg.bandpass(np.random.default_rng(seed).normal(size=int(dur * fs)), fs)
            out[dur].append(read(x, fs, 0.0))
    return out


def candidates(rows: list[dict], noise: dict) -> dict:
    """Every rule for every method on ``rows``: held out set by set (each set's threshold
    calibrated on the others), its all-sets threshold, and how often that calls pure noise
    reliable. Leaves each pair's held-out marks on the rows it scored (the last pair's win)."""
    res = {}
    for rule, method in itertools.product(RULES, METHODS):
        th = held_out(rows, method, rule)
        s = score(rows, method)
        final = calibrate([r for r in rows if r["amplitude"] > 0], method, rule)
        alarms = {str(d): round(float(np.mean([_num(rule_score(x, rule)) >= final for x in xs])), 3)
                  for d, xs in noise.items()}
        res[f"{rule}/{method}"] = {"rule": rule, "method": method, "thresholds": th, "all_sets_threshold": final, **s,
                                   "noise_called_reliable": alarms, "meets": meets(s)}
    return res


#: how a pair (rule, method) is chosen from its held-out figures. Both first ask that pure noise is
#: called reliable at most MAX_NOISE_ALARMS of the time. "targets" (written first): then the most
#: targets met, then the most cases called reliable. It flips on single cases (nested, it chose
#: three different pairs in four folds), so the shipped choice is "precision": then reliable rates
#: at least 97 % right (an octave error counts as wrong), then the most cases called reliable.
CRITERIA = {"targets": lambda c: (max(c["noise_called_reliable"].values()) <= MAX_NOISE_ALARMS,
                                  sum(c["meets"].values()), c["reliable"] or 0),
            "precision": lambda c: (max(c["noise_called_reliable"].values()) <= MAX_NOISE_ALARMS,
                                    (c["right_when_reliable"] or 0) >= TARGETS["right_when_reliable"], c["reliable"] or 0)}
SHIPPED_CRITERION = "precision"


def nested(rows: list[dict], noise: dict, criterion: str) -> dict:
    """The whole procedure held out: for each footage set, the pair is chosen by ``criterion`` on
    the other three sets alone (their own leave-one-out figures) and its threshold calibrated on
    them; the held-out set is then read with that pair. Returns the pair of each fold and the
    pooled held-out figures (as ``score``'s)."""
    folds, marks = {}, {}
    for held in dict.fromkeys(r["set"] for r in rows):
        inner = [r for r in rows if r["set"] != held]
        res = candidates(inner, noise)
        best = res[max(res, key=lambda k: CRITERIA[criterion](res[k]))]
        th = calibrate([r for r in inner if r["amplitude"] > 0], best["method"], best["rule"])
        folds[held] = {"rule": best["rule"], "method": best["method"], "threshold": th}
        for r in rows:
            if r["set"] == held:
                marks[r["case"]] = {**r[best["method"]], "reliable": _num(rule_score(r[best["method"]], best["rule"])) >= th}
    for r in rows:
        r["nested"] = marks[r["case"]]
    out = {"criterion": criterion, "folds": folds, **score(rows, "nested")}
    for r in rows:
        del r["nested"]
    return {**out, "meets": meets(out)}


def leave_one_set_out(rows: list[dict]) -> dict:
    """Every rule for every method, held out set by set; the pair the shipped criterion
    (:data:`SHIPPED_CRITERION`) chooses on all four sets; the whole choice held out too
    (:func:`nested`, under each criterion); the table of the chosen rule, every method (each
    with its own thresholds), every set held out, every length."""
    noise = noise_readings()
    nests = {c: nested(rows, noise, c) for c in CRITERIA}
    res = candidates(rows, noise)
    best = max(res, key=lambda k: CRITERIA[SHIPPED_CRITERION](res[k]))
    rule = res[best]["rule"]
    table = []
    for method in METHODS:
        th = held_out(rows, method, rule)
        for held, dur in itertools.product(th, DURATIONS):
            part = [r for r in rows if r["set"] == held and r["seconds"] == dur]
            if part:
                table.append({"method": method, "held_out": held, "seconds": dur, "threshold": th[held], **score(part, method)})
    held_out(rows, res[best]["method"], rule)           # leave the chosen rule's marks on the cases
    # the rule is calibrated on clips of 12 s and more; how often does it call shorter noise reliable?
    # (emojax gives no rate under the shortest length where this is at most MAX_NOISE_ALARMS)
    short = noise_readings(durations=SHORT_LENGTHS)
    th = res[best]["all_sets_threshold"]
    short_alarms = {str(d): round(float(np.mean([_num(rule_score(x, rule)) >= th for x in xs])), 3)
                    for d, xs in short.items()}
    return {"candidates": res, "nested": nests, "short_noise_called_reliable": short_alarms,
            "chosen": {"criterion": SHIPPED_CRITERION, "rule": rule, "method": res[best]["method"],
                       "all_sets_threshold": res[best]["all_sets_threshold"],
                       "thresholds_by_method": {m: res[f"{rule}/{m}"]["all_sets_threshold"] for m in METHODS}},
            "table": table}


def by_signature(rows: list[dict]) -> dict:
    from emojax.data.planted import SIGNATURES
    from emojax.features.rppg import PBV

    pbv = np.asarray(PBV) / np.linalg.norm(PBV)
    out = {}
    for name, sig in SIGNATURES.items():
        u = np.asarray(sig) / np.linalg.norm(sig)
        part = [r for r in rows if r["signature"] == name and r["amplitude"] > 0]
        out[name] = {"rgb": list(sig), "cosine_to_pbv": round(float(u @ pbv), 3),
                     "degrees_from_grey": round(float(np.degrees(np.arccos(u.sum() / np.sqrt(3)))), 1),
                     "within_5_bpm": {m: round(float(np.mean([r[m]["right"] for r in part])), 3) for m in METHODS}}
    return out


def skin_videos() -> dict:
    """The two real skin videos: each method's rate, blind SNR, margin and the shipped verdict."""
    from emojax.features import heart, rppg
    from emojax.features.vitals import MIN_RELIABLE_S
    from emojax.video import FrameReader

    out = {}
    for name, video in (("Sierra_Leone", "video16_forehead"), ("India", "video14_leftcheek")):
        with open(DATA / "rppg_skin" / f"{name}_GT.csv", encoding="utf-8-sig") as fh:
            truth = {r[0].strip(): float(r[1]) for r in csv.reader(fh) if r and r[0].strip().startswith("video")}
        reader = FrameReader(DATA / "rppg_skin" / f"{name}__{video}.avi")
        rgb = np.array([cv2.mean(f.bgr)[2::-1] for f in reader])
        gt, res = truth[video.split("_")[0]], {}
        for m in METHODS:
            sig = rppg.pulse(rgb, reader.fps, m)
            x = read(sig, reader.fps, gt)
            windows = heart.heart_rate_series(sig, reader.fps, window_s=10.0, step_s=1.0)[:, 1]
            res[m] = {"bpm": round(x["bpm"], 2), "error_bpm": round(x["bpm"] - gt, 2), "blind_snr_db": round(x["blind_snr"], 2),
                      "margin_db": round(x["margin"], 2), "ref_snr_db": round(x["ref_snr"], 2),
                      "windows_within_5_bpm": round(float(np.mean(np.abs(windows - gt) <= 5)), 3),
                      "reliable": heart.reliable(x["margin"], m) and len(rgb) / reader.fps >= MIN_RELIABLE_S}
        out[f"{name} {video}"] = {"truth_bpm": gt, "seconds": round(len(rgb) / reader.fps, 1), **res}
    return out


# --- printing --------------------------------------------------------------------------------

def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def print_tables(result: dict) -> None:
    los, chosen = result["leave_one_set_out"], result["leave_one_set_out"]["chosen"]
    print(f"\n{result['planted_cases']} planted cases, {result['no_pulse_cases']} without a pulse; held out set by set. "
          "Targets: right when reliable >= 97 %, reliable >= 90 % at >= 0.6 %, >= 60 % at 0.4 %, no octave error reliable\n")
    print("| rule | method | within 5 bpm | called reliable | right when reliable | reliable at >= 0.6 % | at 0.4 % | "
          "octave errors (reliable) | no pulse, reliable | pure noise reliable (12/20/40 s) | thresholds (per held-out set) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for c in los["candidates"].values():
        ths = ", ".join(f"{t:.2f}" for t in c["thresholds"].values())
        mark = " **(chosen)**" if (c["rule"], c["method"]) == (chosen["rule"], chosen["method"]) else ""
        print(f"| {c['rule']}{mark} | {c['method'].upper()} | {_pct(c['within_5_bpm'])} | {_pct(c['reliable'])} | "
              f"{_pct(c['right_when_reliable'])} | {_pct(c['reliable_at_0.6_and_up'])} | {_pct(c['reliable_at_0.4'])} | "
              f"{c['octave_errors']} ({c['octave_errors_reliable']}) | {c['no_pulse_reliable']}/{c['no_pulse_cases']} | "
              + " / ".join(_pct(v) for v in c["noise_called_reliable"].values()) + f" | {ths} |")
    print(f"\nChosen (criterion {chosen['criterion']!r}, on all four sets): rule {chosen['rule']!r}, method "
          f"{chosen['method'].upper()}; threshold {chosen['all_sets_threshold']:.2f} (each method's: "
          + ", ".join(f"{m.upper()} {t:.2f}" for m, t in chosen["thresholds_by_method"].items()) + ").\n")
    print("Pure noise called reliable by the chosen rule at shorter lengths: "
          + ", ".join(f"{d} s {_pct(v)}" for d, v in los["short_noise_called_reliable"].items()) + ".\n")
    print("The whole choice held out (each fold chooses its pair and threshold on the other three sets):\n")
    print("| criterion | pair chosen per held-out set | called reliable | right when reliable | reliable at >= 0.6 % | "
          "at 0.4 % | octave errors (reliable) | no pulse, reliable |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n in los["nested"].items():
        pairs = "; ".join(f"{held}: {f['rule']} / {f['method'].upper()} {f['threshold']:.2f}" for held, f in n["folds"].items())
        print(f"| {name} | {pairs} | {_pct(n['reliable'])} | {_pct(n['right_when_reliable'])} | "
              f"{_pct(n['reliable_at_0.6_and_up'])} | {_pct(n['reliable_at_0.4'])} | {n['octave_errors']} "
              f"({n['octave_errors_reliable']}) | {n['no_pulse_reliable']}/{n['no_pulse_cases']} |")
    print()
    print("| method | held out | s | within 5 bpm | reliable | right when reliable | 1 % | 0.6 % | 0.4 % | 0.3 % | "
          "octave (reliable) | no pulse, reliable | threshold |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in los["table"]:
        by = t["reliable_by_amplitude"]
        print(f"| {t['method'].upper()} | {t['held_out']} | {t['seconds']} | {_pct(t['within_5_bpm'])} | {_pct(t['reliable'])} | "
              f"{_pct(t['right_when_reliable'])} | " + " | ".join(_pct(by[str(a)]) for a in AMPLITUDES)
              + f" | {t['octave_errors']} ({t['octave_errors_reliable']}) | {t['no_pulse_reliable']}/{t['no_pulse_cases']} | "
              f"{t['threshold']:.2f} |")
    print("\nThe same, compact (within 5 bpm / called reliable / right when reliable):\n")
    print("| method | held out | " + " | ".join(f"{d} s" for d in DURATIONS) + " |")
    print("|---|---|" + "---|" * len(DURATIONS))
    cell = {(t["method"], t["held_out"], t["seconds"]): t for t in los["table"]}
    for method, held in dict.fromkeys((t["method"], t["held_out"]) for t in los["table"]):
        parts = [cell.get((method, held, d)) for d in DURATIONS]
        print(f"| {method.upper()} | {held} | " + " | ".join(
            "-" if t is None else f"{_pct(t['within_5_bpm'])} / {_pct(t['reliable'])} / {_pct(t['right_when_reliable'])}"
            for t in parts) + " |")
    print("\n| signature | R : G : B | cosine to PBV | from grey | " + " | ".join(m.upper() for m in METHODS) + " |")
    print("|---|---|---|---|" + "---|" * len(METHODS))
    for name, s in result["signatures"].items():
        print(f"| {name} | {' : '.join(f'{v:.2f}' for v in s['rgb'])} | {s['cosine_to_pbv']:.3f} | {s['degrees_from_grey']:.0f}° | "
              + " | ".join(_pct(s["within_5_bpm"][m]) for m in METHODS) + " |")
    print("\n| skin video | truth | " + " | ".join(m.upper() for m in METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    for name, r in result["skin_videos"].items():
        print(f"| {name} ({r['seconds']:.0f} s) | {r['truth_bpm']:.1f} | " + " | ".join(
            f"{r[m]['bpm']:.1f} ({r[m]['error_bpm']:+.1f}; margin {r[m]['margin_db']:.1f} dB, blind SNR {r[m]['blind_snr_db']:.1f}, "
            f"SNR at the true rate {r[m]['ref_snr_db']:.1f} dB, 10-s windows right {100 * r[m]['windows_within_5_bpm']:.0f} %"
            f"{', reliable' if r[m]['reliable'] else ''})" for m in METHODS) + " |")


def main() -> None:
    from emojax.features import heart, vitals
    from emojax.fileio import atomic_write_json, atomic_write_npz

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 and 40 s only, three rates, two amplitudes (minutes)")
    ap.add_argument("--codec", choices=list(CODECS), default="h264",
                    help="re-encoding of the planted frames: H.264 at 0.15 bit/pixel (default), at CRF 23, or none")
    ap.add_argument("--reuse", action="store_true", help="read the pulses of the last run (same options) instead of planting")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs the real clips beside the repository")
    stem = "rppg" + ("-quick" if args.quick else "") + ("" if args.codec == "h264" else f"-{args.codec}")
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        last = json.loads((OUT / f"{stem}.json").read_text())
        rows, planting_s = last["cases"], last.get("planting_and_extraction_s")
        pulses = np.load(OUT / f"{stem}_pulses.npz")
        rows = [{k: v for k, v in r.items() if k not in METHODS} for r in rows]
    else:
        rows, pulses = run_cases(args.quick, args.codec)
        atomic_write_npz(OUT / f"{stem}_pulses.npz", **pulses)
        planting_s = round(time.perf_counter() - t0, 1)
    judged(rows, pulses)
    los = leave_one_set_out(rows)
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "quick": args.quick,
              "codec": args.codec, "codec_settings": CODECS[args.codec], "footage_sets": {k: [p.name for p in v]
                                                                                       for k, v in footage_sets().items()},
              "durations_s": list(DURATIONS), "rates_bpm": list(RATES), "amplitudes": list(AMPLITUDES),
              "min_precision_in_calibration": MIN_PRECISION, "targets": TARGETS,
              "planted_cases": sum(r["amplitude"] > 0 for r in rows), "no_pulse_cases": sum(r["amplitude"] == 0 for r in rows),
              "library": {"default_method": vitals.DEFAULT_METHOD, "rule": SHIPPED_RULE,
                          "reliable_margin_db": heart.RELIABLE_MARGIN_DB}, "reused_pulses": args.reuse,
              "leave_one_set_out": los, "signatures": by_signature(rows), "skin_videos": skin_videos(),
              "planting_and_extraction_s": planting_s, "cases": rows}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(OUT / f"{stem}.json", result)
    print_tables(result)
    chosen = los["chosen"]
    shipped = heart.RELIABLE_MARGIN_DB
    if (chosen["method"], chosen["rule"]) != (vitals.DEFAULT_METHOD, SHIPPED_RULE) or any(
            abs(chosen["thresholds_by_method"][m] - shipped[m]) > 0.05 for m in METHODS):
        print(f"\nNOTE: the library ships {vitals.DEFAULT_METHOD!r}, rule {SHIPPED_RULE!r} at {shipped} dB; this run chose "
              f"{chosen['method']!r}, rule {chosen['rule']!r}, thresholds {chosen['thresholds_by_method']}")
    print(f"\nwritten: {OUT / f'{stem}.json'} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
