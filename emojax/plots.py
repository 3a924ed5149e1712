"""Plotly figures of a run's results, said once for every view that draws them: the dashboard's
pages (``dashboard/charts.py`` serves them beside its own) and the shareable report
(:mod:`emojax.report`). Pure functions from what a run wrote (``metrics.json``,
``curves.jsonl``, ``importance.json``) to figures; no Streamlit.

Names: every function that returns a figure is called for what it shows followed by ``_chart``,
so a chart is never mistaken for the library's computation of the same name; :func:`layout` is
the one look every figure shares."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .explain.groups import MODALITY_GROUP
from .models import TITLES

#: colours kept across pages and the report: one per modality and per model
COLOURS = {"rppg": "#d62728", "visual": "#1f77b4", "face": "#1f77b4", "voice": "#e377c2", "early_fusion": "#2ca02c",
           "late_fusion": "#9467bd"}


def layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    """The look every figure shares: its title, narrow margins, the legend under the plot."""
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2), **kw)
    return fig


# --- Table 1 and per class -------------------------------------------------------------------

def model_scores_chart(summary: Mapping[str, Mapping], metric: str = "accuracy", *, title: str) -> go.Figure:
    """One bar per model of ``metric`` (mean +- std over folds, from a run's metrics summary)."""
    names = list(summary)
    fig = go.Figure(go.Bar(x=[TITLES.get(m, m) for m in names], y=[summary[m][metric]["mean"] for m in names],
                           error_y=dict(type="data", array=[summary[m][metric]["std"] for m in names]),
                           marker_color=[COLOURS.get(m) for m in names]))
    return layout(fig, title, yaxis=dict(range=[0, 1], title=metric))


def per_class_chart(report: Mapping[str, Mapping], classes: Sequence[str], title: str) -> go.Figure:
    """Precision, recall and F1 per class (scikit-learn's classification report)."""
    fig = go.Figure([go.Bar(name=k, x=list(classes), y=[report[c][k] for c in classes])
                     for k in ("precision", "recall", "f1-score")])
    return layout(fig, title, barmode="group", yaxis=dict(range=[0, 1]))


def confusion_chart(matrix: Sequence[Sequence[float]], classes: Sequence[str], *, normalise: bool = False,
              title: str = "Confusion matrix") -> go.Figure:
    """Confusion matrix as square markers (rows: true, columns: predicted), so that a click on
    a cell selects it; ``normalise`` divides each row by its total."""
    m = np.asarray(matrix, float)
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalise else m
    k = len(classes)
    tt, pp = np.meshgrid(range(k), range(k), indexing="ij")
    text = [f"{v:.2f}" if normalise else f"{int(v)}" for v in shown.ravel()]
    fig = go.Figure(go.Scatter(
        x=[classes[j] for j in pp.ravel()], y=[classes[i] for i in tt.ravel()], mode="markers+text", text=text,
        marker=dict(symbol="square", size=max(24, 320 // k), color=shown.ravel(), colorscale="Blues",
                    showscale=True, line=dict(width=0)),
        customdata=np.stack([tt.ravel(), pp.ravel()], axis=1),
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="true", type="category", categoryarray=list(classes))
    fig.update_xaxes(title="predicted", type="category", categoryarray=list(classes))
    return layout(fig, title, height=160 + 50 * k)


# --- Training --------------------------------------------------------------------------------

def curves_chart(records: Sequence[Mapping], metric: str, title: str) -> go.Figure:
    """One line per (fold, model) of ``metric`` over epochs, from ``curves.jsonl`` records."""
    fig = go.Figure()
    lines: dict = {}
    for r in records:
        if metric in r:
            lines.setdefault((r["fold"], r["model"]), []).append((r["epoch"], r[metric]))
    for (fold, model), pts in lines.items():
        x, y = zip(*pts)
        fig.add_scatter(x=x, y=y, mode="lines", name=f"{TITLES.get(model, model)}, fold {fold}",
                        line=dict(color=COLOURS.get(model), width=1.5), legendgroup=model)
    return layout(fig, title, xaxis_title="epoch")


# --- Explanations (Table 2 and finer) -----------------------------------------------------------

def modality_shares_chart(table: Mapping[str, Mapping[str, float | None]], paper: Mapping[str, float] | None = None,
                    title: str = "Modality contributions (share of the permutation importance, %)") -> go.Figure:
    """Stacked shares of each modality (rPPG / visual / voice: those the models have) per model
    (Table 2), the paper's early fusion beside them."""
    rows = {TITLES.get(m, m): t for m, t in table.items()}
    cols = [g for g in MODALITY_GROUP.values() if any(g in t for t in rows.values())]
    if paper:
        rows["Paper (IEMOCAP, early fusion)"] = {"rppg": paper["rppg"], "visual": paper.get("face", paper.get("visual"))}
    names = list(rows)
    fig = go.Figure()
    labels = {"rppg": "rPPG", "visual": "visual (landmarks)", "voice": "voice"}
    for k, label in ((k, labels.get(k, k)) for k in cols):
        vals = [rows[n].get(k) for n in names]
        fig.add_bar(name=label, y=names, x=[v if v is not None else 0 for v in vals], orientation="h",
                    marker_color=COLOURS[k], text=["-" if v is None else f"{v:.1f} %" for v in vals])
    return layout(fig, title, barmode="stack", xaxis=dict(range=[0, 100], title="%"), height=120 + 45 * len(names))


def importance_chart(names: Sequence[str], mean: Sequence[float], std: Sequence[float] | None = None, *,
                     title: str, unit: str = "drop in accuracy") -> go.Figure:
    """Each group's importance (``mean``, ``std`` as error bars) as horizontal bars, the first on top."""
    fig = go.Figure(go.Bar(x=list(mean), y=list(names), orientation="h",
                           error_x=None if std is None else dict(type="data", array=list(std))))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, title, xaxis_title=unit, height=120 + 22 * len(names))


def class_heatmap_chart(names: Sequence[str], classes: Sequence[str], mean: Sequence[Sequence[float | None]],
                  title: str) -> go.Figure:
    """Drop in each class's recall (columns) when each group (rows) is permuted."""
    z = np.array([[np.nan if v is None else v for v in row] for row in mean], float)
    fig = go.Figure(go.Heatmap(z=z, x=list(classes), y=list(names), colorscale="RdBu_r", zmid=0,
                               colorbar=dict(title="recall drop")))
    return layout(fig, title, height=140 + 30 * len(names))
