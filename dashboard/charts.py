"""Plotly figures for the dashboard: pure functions from arrays and dicts (as the library writes
them) to figures. No Streamlit here, so each figure can be built and checked on its own. The
figures of a run's results (Table 1, per class, confusion, curves, Table 2 and finer) are the
library's (:mod:`emojax.plots`, which the shareable report draws too), served here beside the
dashboard's own.

Names: every function that returns a figure is called for what it shows followed by ``_chart``
(``spectrum_chart`` draws what :func:`emojax.features.heart.spectrum` computes), so a chart is
never mistaken for the library's computation of the same name; a helper that returns values
rather than a figure (:func:`region_values`) has no suffix."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from emojax.explain.groups import REGIONS
from emojax.features.spans import spans
from emojax.models import TITLES
# a run's results, drawn as the report draws them: the library's figures, served to the pages from here
from emojax.plots import (COLOURS, class_heatmap_chart, confusion_chart, curves_chart, importance_chart,  # noqa: F401
                          layout, modality_shares_chart, model_scores_chart, per_class_chart)

RGB = {"R": "#d62728", "G": "#2ca02c", "B": "#1f77b4"}
#: the 68 points drawn as lines: jaw, brows, nose bridge and base, eyes, lips
OUTLINE = [range(0, 17), range(17, 22), range(22, 27), range(27, 31), range(31, 36),
           [*range(36, 42), 36], [*range(42, 48), 42], [*range(48, 60), 48], [*range(60, 68), 60]]


def _face_off(fig: go.Figure, times: np.ndarray, face_found: np.ndarray) -> go.Figure:
    """Shade the stretches of frames without a face."""
    missing = ~np.asarray(face_found, bool)
    if not missing.any():
        return fig
    stretches = spans(missing)
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for a, b in stretches:
        fig.add_vrect(x0=times[a], x1=times[b - 1] + dt, fillcolor="grey", opacity=0.25, line_width=0)
    fig.add_annotation(x=times[stretches[0][0]], y=1, yref="paper", text="no face", showarrow=False, xanchor="left")
    return fig


# --- Predict ---------------------------------------------------------------------------------

def probabilities_chart(models: Mapping[str, Mapping], classes: Sequence[str]) -> go.Figure:
    """Each model's class probabilities as grouped bars (``models``: {model: {"proba": {class: p}}})."""
    fig = go.Figure([go.Bar(name=TITLES.get(m, m), x=list(classes), y=[r["proba"][c] for c in classes],
                            marker_color=COLOURS.get(m)) for m, r in models.items()])
    return layout(fig, "Class probabilities, per model", barmode="group", yaxis=dict(range=[0, 1], title="p"))


def emotion_history_chart(history: Sequence[Mapping], classes: Sequence[str], model: str = "early_fusion") -> go.Figure:
    """One model's class probabilities over the live windows (``history``: {"t", "proba"})."""
    t = [h["t"] for h in history]
    fig = go.Figure([go.Scatter(x=t, y=[h["proba"][model][c] for h in history], mode="lines+markers", name=c)
                     for c in classes])
    return layout(fig, f"{TITLES.get(model, model)}: class probabilities, window by window",
                   xaxis_title="s (stream time)", yaxis=dict(range=[0, 1], title="p"))


# --- Signals ---------------------------------------------------------------------------------

def frame_chart(image_rgb: np.ndarray, *, box: np.ndarray | None = None, landmarks: np.ndarray | None = None,
          polygons: Sequence[np.ndarray] = (), title: str = "", zoom: float | None = None) -> go.Figure:
    """A video frame with the face box, the skin ROI polygons and the 68 landmarks drawn;
    with ``zoom``, the view is the box grown by that factor (the whole frame stays sent)."""
    h, w = image_rgb.shape[:2]
    xr, yr = [0, w], [h, 0]
    if zoom and box is not None and np.isfinite(box).all():
        cx, cy, half = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, zoom * max(box[2] - box[0], box[3] - box[1]) / 2
        xr, yr = [max(cx - half, 0), min(cx + half, w)], [min(cy + half, h), max(cy - half, 0)]
    fig = go.Figure(go.Image(z=image_rgb))
    if box is not None and np.isfinite(box).all():
        x0, y0, x1, y1 = map(float, box)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color="yellow", width=2))
    for i, poly in enumerate(polygons):
        closed = np.vstack([poly, poly[:1]])
        fig.add_scatter(x=closed[:, 0], y=closed[:, 1], mode="lines", fill="toself", opacity=0.35,
                        line=dict(color="magenta"), name="skin ROI", showlegend=i == 0)
    if landmarks is not None and np.isfinite(landmarks).all():
        fig.add_scatter(x=landmarks[:, 0], y=landmarks[:, 1], mode="markers", name="68 landmarks",
                        marker=dict(size=4, color="cyan"))
    fig.update_xaxes(visible=False, range=xr)
    fig.update_yaxes(visible=False, range=yr, scaleanchor="x")
    return layout(fig, title, height=min(560, 80 + int(460 * abs(yr[0] - yr[1]) / max(xr[1] - xr[0], 1))))


def rgb_chart(times: np.ndarray, rgb: np.ndarray, face_found: np.ndarray) -> go.Figure:
    """The raw mean R, G, B of the colour ROI, frame by frame (each centred on its mean)."""
    fig = go.Figure()
    for i, c in enumerate("RGB"):
        v = rgb[:, i]
        fig.add_scatter(x=times, y=v - np.nanmean(v), mode="lines", name=c, line=dict(color=RGB[c], width=1))
    _face_off(fig, times, face_found)
    return layout(fig, "rPPG: mean R, G, B of the skin (centred)", xaxis_title="s", yaxis_title="intensity")


def pulse_chart(times: np.ndarray, pulse: np.ndarray, face_found: np.ndarray, method: str,
                bridged: np.ndarray | None = None, unseen: Mapping[str, np.ndarray] | None = None) -> go.Figure:
    """The pulse, with the stretches without a face shaded, the short gaps it was
    interpolated over (bridged) marked apart from those it was not (no pulse there), and each
    kind of row in ``unseen`` (name -> (T,) mask: rows whose values were interpolated rather
    than seen) drawn as its own markers on the line, named in the legend."""
    fig = go.Figure(go.Scatter(x=times, y=pulse, mode="lines", name=f"pulse ({method})",
                               line=dict(color=COLOURS["rppg"])))
    _face_off(fig, times, face_found)
    if bridged is not None and np.any(bridged):
        stretches = spans(bridged)
        dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        for a, b in stretches:
            fig.add_vrect(x0=times[a], x1=times[b - 1] + dt, fillcolor="orange", opacity=0.3, line_width=0)
        fig.add_annotation(x=times[stretches[0][0]], y=0.9, yref="paper", text="bridged", showarrow=False, xanchor="left")
    for (name, rows), symbol in zip((unseen or {}).items(), ("circle-open", "x-thin-open", "diamond-open")):
        rows = np.asarray(rows, bool) & np.isfinite(pulse)
        if rows.any():
            fig.add_trace(go.Scatter(x=times[rows], y=pulse[rows], mode="markers", name=f"{name} ({rows.sum()})",
                                     marker=dict(symbol=symbol, size=6, color="orange")))
    return layout(fig, f"rPPG pulse signal ({method.upper()}, band-passed)", xaxis_title="s")


def spectrum_chart(freqs_hz: np.ndarray, power: np.ndarray, bpm: float | None, *, max_bpm: float = 240) -> go.Figure:
    """Power spectrum against beats per minute, the heart-rate peak marked."""
    bpm_axis = np.asarray(freqs_hz) * 60.0
    keep = bpm_axis <= max_bpm
    fig = go.Figure(go.Scatter(x=bpm_axis[keep], y=np.asarray(power)[keep], mode="lines", name="power"))
    if bpm is not None and np.isfinite(bpm):
        fig.add_vline(x=bpm, line=dict(color=COLOURS["rppg"], dash="dash"),
                      annotation_text=f"heart rate {bpm:.0f} bpm")
    return layout(fig, "Spectrum of the pulse", xaxis_title="beats per minute", yaxis_title="power")


def heart_rate_chart(series: np.ndarray, margin: np.ndarray, reliable: np.ndarray) -> go.Figure:
    """Heart rate over time (rows of time, bpm, blind SNR dB), coloured by each window's margin
    over rival rates (dB); windows not ``reliable`` are drawn apart, as no reliable pulse."""
    series = np.asarray(series, float).reshape(-1, 3)
    good = np.asarray(reliable, bool)
    fig = go.Figure(go.Scatter(x=series[:, 0], y=np.where(good, series[:, 1], np.nan), mode="lines+markers",
                               name="heart rate", marker=dict(color=np.clip(np.nan_to_num(margin, nan=-5.0), -5, 10),
                                                              colorscale="RdYlGn", cmin=-5, cmax=10,
                                                              colorbar=dict(title="margin dB"), size=8)))
    if (~good).any():
        fig.add_scatter(x=series[~good, 0], y=series[~good, 1], mode="markers", name="no reliable pulse",
                        marker=dict(color="grey", symbol="x-thin", size=8, line=dict(width=1.5, color="grey")))
    return layout(fig, "Heart rate over time (colour: how much it stands out)", xaxis_title="s", yaxis_title="bpm")


#: the voice's colour on the Signals page (its loudness and the speech shading; F0 apart)
VOICE_COLOURS = {"loudness": "#ff7f0e", "F0 (Hz)": "#8c564b", "speech": "#ff7f0e"}


def waveform_envelope(samples: np.ndarray, start: float, rate: int, bins: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """A waveform decimated for drawing: each of ``bins`` stretches of samples drawn as a vertical
    stroke from its lowest to its highest sample (so no peak is lost), as ``(x, y)`` with each
    stretch's start time twice. Fewer samples than ``bins``: every sample, as it is."""
    x = np.asarray(samples, float)
    if len(x) <= bins:
        return start + np.arange(len(x)) / rate, x
    edges = np.linspace(0, len(x), bins + 1).astype(int)
    lo, hi = np.minimum.reduceat(x, edges[:-1]), np.maximum.reduceat(x, edges[:-1])
    return np.repeat(start + edges[:-1] / rate, 2), np.column_stack([lo, hi]).ravel()


def voice_chart(times: np.ndarray, loudness: np.ndarray, f0_hz: np.ndarray, speech: np.ndarray, *,
                wave: tuple[np.ndarray, float, int] | None = None, frame_time: float | None = None) -> go.Figure:
    """The voice on the frames' timeline, one panel under the other on a shared time axis: the
    waveform (``wave``: samples, the first one's time, rate; decimated for drawing), loudness and
    F0 per frame, the frames holding speech shaded (one rectangle named "speech" per run of them),
    the frame shown marked. Loudness and F0 are NaN where not measured and are drawn with gaps
    there, never through them."""
    from plotly.subplots import make_subplots

    times = np.asarray(times, float)
    rows = [r for r in ("waveform", "loudness", "F0 (Hz)") if r != "waveform" or wave is not None]
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.06)
    if wave is not None:
        x, y = waveform_envelope(*wave)
        fig.add_scatter(x=x, y=y, mode="lines", name="waveform", line=dict(color="grey", width=1), row=1, col=1)
        fig.update_yaxes(title_text="waveform", row=1, col=1)
    for name, v in (("loudness", loudness), ("F0 (Hz)", f0_hz)):
        fig.add_scatter(x=times, y=np.asarray(v, float), mode="lines+markers", name=name, connectgaps=False,
                        marker=dict(size=3), line=dict(color=VOICE_COLOURS[name]), row=rows.index(name) + 1, col=1)
        fig.update_yaxes(title_text=name, row=rows.index(name) + 1, col=1)
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for a, b in spans(speech):
        fig.add_shape(type="rect", name="speech", xref="x", yref="paper", x0=times[a], x1=times[b - 1] + dt,
                      y0=0, y1=1, fillcolor=VOICE_COLOURS["speech"], opacity=0.15, line_width=0, layer="below")
    if frame_time is not None:
        fig.add_shape(type="line", name="frame", xref="x", yref="paper", x0=frame_time, x1=frame_time, y0=0, y1=1,
                      line=dict(color="black", dash="dot", width=1))
    if len(times):                    # the frames' span, as the pulse's: a track starting early is cut at the first frame
        fig.update_xaxes(range=[times[0], times[-1] + dt])
    fig.update_xaxes(title_text="s", row=len(rows), col=1)
    return layout(fig, "Voice: waveform, loudness and F0 (shaded: speech)", height=160 + 150 * len(rows))


# --- Contributions ---------------------------------------------------------------------------

def face_values_chart(shape: np.ndarray, values: np.ndarray, *, title: str, label: str = "importance") -> go.Figure:
    """Values per landmark (68) drawn on a face shape: the outline, and each point coloured and
    sized by its value."""
    shape, values = np.asarray(shape, float), np.asarray(values, float)
    fig = go.Figure()
    for idx in OUTLINE:
        pts = shape[list(idx)]
        fig.add_scatter(x=pts[:, 0], y=pts[:, 1], mode="lines", line=dict(color="lightgrey"), showlegend=False,
                        hoverinfo="skip")
    scale = np.abs(values).max() or 1.0
    fig.add_scatter(x=shape[:, 0], y=shape[:, 1], mode="markers", showlegend=False,
                    text=[f"point {i}: {v:.3g}" for i, v in enumerate(values)], hoverinfo="text",
                    marker=dict(color=values, colorscale="RdBu_r", cmid=0, size=6 + 18 * np.abs(values) / scale,
                                colorbar=dict(title=label), line=dict(width=0.5, color="black")))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return layout(fig, title, height=460)


def region_values(region_values: Mapping[str, float]) -> np.ndarray:
    """Per-landmark values from per-region ones (each point takes its region's value)."""
    out = np.zeros(68)
    for name, pts in REGIONS.items():
        out[list(pts)] = region_values.get(name, 0.0) or 0.0
    return out


def attribution_over_time_chart(values: np.ndarray, title: str) -> go.Figure:
    """Integrated gradients per region (rows) and frame (columns) from a (T, 68) attribution."""
    values = np.asarray(values, float)
    z = np.array([values[:, list(pts)].sum(axis=1) for pts in REGIONS.values()])
    fig = go.Figure(go.Heatmap(z=z, y=list(REGIONS), colorscale="RdBu_r", zmid=0, colorbar=dict(title="IG")))
    return layout(fig, title, xaxis_title="frame (model input)", height=300)


# --- Teaching --------------------------------------------------------------------------------

def signal_chart(times: np.ndarray, values: np.ndarray, title: str, *, name: str = "", colour: str | None = None) -> go.Figure:
    """One signal over time."""
    fig = go.Figure(go.Scatter(x=times, y=values, mode="lines", name=name or "signal", line=dict(color=colour)))
    return layout(fig, title, xaxis_title="s")


def score_drop_chart(names: Sequence[str], scores: Sequence[float], baseline: float, title: str) -> go.Figure:
    """Accuracy with each block permuted, against the unpermuted baseline."""
    fig = go.Figure(go.Bar(x=list(names), y=list(scores), name="permuted", marker_color="#ff7f0e"))
    fig.add_hline(y=baseline, line=dict(dash="dash"), annotation_text=f"not permuted: {baseline:.2f}")
    return layout(fig, title, yaxis=dict(range=[0, 1], title="accuracy"))


#: one colour per voice compared (the first, the second ...)
COMPARED = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def voices_compared_chart(measured: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, *, yaxis_title: str,
                          planted: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> go.Figure:
    """Several voices' one measure over time, overlaid: ``measured`` {name: (times, values)}, one
    line each (NaN where not measured: a gap, never drawn through); ``planted`` {name: (times,
    values)}, what was planted, dotted in the same colour and named ``"<name>, planted"``."""
    fig = go.Figure()
    for i, (name, (t, v)) in enumerate(measured.items()):
        colour = COMPARED[i % len(COMPARED)]
        fig.add_scatter(x=np.asarray(t, float), y=np.asarray(v, float), mode="lines", name=name, connectgaps=False,
                        line=dict(color=colour, width=2), legendgroup=name)
        if planted and name in planted:
            pt, pv = planted[name]
            fig.add_scatter(x=np.asarray(pt, float), y=np.asarray(pv, float), mode="lines", name=f"{name}, planted",
                            connectgaps=False, line=dict(color=colour, width=1, dash="dot"), legendgroup=name)
    return layout(fig, title, xaxis_title="s", yaxis_title=yaxis_title)


def voice_info_chart(uar: Mapping[str, Mapping[str, float]], *, chance: float, at: float | None = None,
                     title: str) -> go.Figure:
    """Voice-only UAR against ``voice_info``: one line per teaching set (``uar`` {seed: {voice_info:
    UAR}}, as ``benchmarks/voice_info.py`` writes it), chance dashed, ``at`` marked."""
    fig = go.Figure()
    for seed, curve in uar.items():
        x = sorted(curve, key=float)
        fig.add_scatter(x=[float(v) for v in x], y=[curve[v] for v in x], mode="lines+markers",
                        name=f"teaching set of seed {seed}")
    fig.add_hline(y=chance, line=dict(dash="dash", color="grey"), annotation_text=f"chance: {chance:.0%}")
    if at is not None:
        fig.add_vline(x=at, line=dict(dash="dot", color="black"), annotation_text=f"voice-info {at:g}")
    return layout(fig, title, xaxis=dict(title="voice-info", range=[-0.02, 1.02]),
                   yaxis=dict(title="voice-only UAR", range=[0, 1], tickformat=".0%"))
