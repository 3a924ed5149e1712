"""A finished run as one self-contained HTML file to share: its configuration and protocol
(whether speaker-independent), the environment and the dataset, Table 1 with its seeds and
baselines, per-class scores, confusion matrices, training curves, Table 2 and the finer
importances, the results on other corpora and, for a paper-preset run, what the paper leaves
open and the run assumed.

The file opens offline: Plotly's JavaScript is inlined once in its head, every figure is drawn
from it (no CDN, no MathJax, no web font), and nothing on the page asks for anything beyond the
file itself. Every value read from the run is escaped before it reaches the page; the library's
sentences, written in Markdown, have their code spans (`emojax explain`) as ``<code>``. A part
the run does not have (not explained yet, a grouping not explained, no other corpus, no curves)
is said as missing with the command that fills it, the run named by its full path, never drawn
from anything else; a file the run has but that cannot be read (cut short, edited) is an error
naming it (:class:`~emojax.errors.RunFileError`), and nothing is written. The figures are the library's (:mod:`emojax.plots`), the ones the
dashboard's pages draw; the sentences beside them are :mod:`emojax.training.summary`'s.

    emojax report artifacts/runs/demo-improved --out demo.html
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import shlex
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Mapping, Sequence

from . import __version__
from .errors import RunFileError
from .explain.groups import GROUP_TITLES, GROUPINGS, VOICE_GROUPS
from .explain.importance import read_importance
from .fileio import atomic_write_bytes
from .models import MODEL_NAMES, TITLES
from .plots import (class_heatmap_chart, confusion_chart, curves_chart, importance_chart, modality_shares_chart,
                    model_scores_chart, per_class_chart)
from .training.prepare import run_modalities
from .training.progress import read_curves
from .training.protocols import unread_settings
from .training.runfiles import read_config, read_json, read_metrics, read_model_info
from .training.summary import (BASELINE_ROW, context_line, final_line, independence_line, interval_line,
                               paper_note, table1_rows)

#: where ``emojax report RUN`` writes without ``--out``: inside the run folder
REPORT_FILE = "report.html"
#: the report's sections in order: (anchor, heading)
SECTIONS = (("configuration", "Configuration and protocol"), ("environment", "Environment and dataset"),
            ("table1", "Table 1: the models side by side"), ("per-class", "Per class"),
            ("confusion", "Confusion matrices"), ("curves", "Training curves"),
            ("table2", "Table 2 and finer importances"), ("cross-corpus", "On other corpora"),
            ("assumptions", "The paper's assumptions"))
#: the most channels a channel grouping's chart shows (the most important first), as the dashboard does
TOP_CHANNELS = 20
#: what each grouping of ``emojax explain`` gives, said when a run's explanation lacks it
GROUPING_TITLES = {"modality": "the modality shares (Table 2)", "region": "face regions and voice groups",
                   "channel": "channels (each input channel: the finest importances)", "time": "moments of the video"}
#: a Markdown code span in a sentence of the library
_CODE = re.compile(r"`([^`\n]+)`")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 4em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav ol { columns: 3; font-size: 0.95em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
.missing { color: #8a5a00; background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.4em 0.8em; }
.warning { color: #8a1f11; background: #fdecea; border-left: 4px solid #d9534f; padding: 0.4em 0.8em; }
.note { color: #555; font-size: 0.92em; }
figure.chart { margin: 0.8em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def e(value) -> str:
    """Any value read from a run, as text safe inside HTML (quotes too)."""
    return html.escape(str(value), quote=True)


def prose(text) -> str:
    """A sentence of the library (Markdown) as HTML: escaped, each code span (`...`) as ``<code>``."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", e(text))


def _table(head: Sequence[str], rows: Sequence[Sequence], *, numeric_from: int = 1, cls: str = "",
           markdown: bool = False) -> str:
    """An HTML table; every cell escaped (with ``markdown``, the cells before ``numeric_from`` are
    the library's sentences: :func:`prose`); cells from column ``numeric_from`` on right-aligned."""
    text = prose if markdown else e
    out = [f'<table class="{e(cls)}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{e(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{e(c)}</td>' if i >= numeric_from else f"<td>{text(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _p(text: str, cls: str = "") -> str:
    """A paragraph of the library's prose (:func:`prose`: escaped, its code spans as code)."""
    return f'<p class="{cls}">{prose(text)}</p>' if cls else f"<p>{prose(text)}</p>"


def _where(run: Path) -> str:
    """The run folder as a command line names it from anywhere: its full path, quoted for a shell."""
    return shlex.quote(os.path.abspath(run))


def _sentence(text: str) -> str:
    """A line of :mod:`~emojax.training.summary` as a sentence (its first letter raised, the rest as said)."""
    return text[:1].upper() + text[1:] + "."


def _missing(text: str) -> str:
    """A part of the report the run does not have, said as missing."""
    return _p(text, "missing")


class _Page:
    """The report's parts in order and its figures (each drawn by the Plotly inlined once)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures = 0

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def figure(self, fig) -> None:
        self.figures += 1
        div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                          div_id=f"figure-{self.figures}", config={"displaylogo": False, "responsive": True})
        self.parts.append(f'<figure class="chart">{div}</figure>')

    def section(self, anchor: str) -> None:
        heading = dict(SECTIONS)[anchor]
        self.parts.append(f'<section id="{anchor}"><h2>{e(heading)}</h2>')

    def end(self) -> None:
        self.parts.append("</section>")


def _models(block: Mapping) -> list[str]:
    """The models of a block keyed by model, in the library's order."""
    return [m for m in MODEL_NAMES if m in block]


def _table1(metrics: Mapping, *, paper: bool = False) -> str:
    """Table 1 of a run (or a cross-corpus result) as :func:`~emojax.training.summary.table1_rows`
    lays it out: over seeds when there are several, the majority-class baseline last."""
    seeds = "seeds" in metrics
    rows = table1_rows(metrics["seeds"]["summary"] if seeds else metrics["summary"], paper=paper,
                       baseline=metrics.get("context", {}).get("majority_baseline"), spread_over_folds=seeds)
    heads: list[str] = []
    for cells in rows.values():
        heads += [h for h in cells if h not in heads]
    return _table(["Model", *heads], [[title, *(cells.get(h, "") for h in heads)] for title, cells in rows.items()],
                  cls="table1")


def _configuration(page: _Page, config: Mapping, cfg, metrics: Mapping, info: Mapping) -> None:
    page.section("configuration")
    split = metrics.get("split") or info.get("split")
    if split:             # said first: the numbers mean less when it is not
        page.add(_p(independence_line(split), "note" if split.get("speaker_independent") else "warning"))
    else:
        page.add(_missing("The run does not record whether its split is speaker-independent."))
    t = cfg.train
    rows = [("dataset", f"{cfg.dataset} ({cfg.root})" + (f", class set {cfg.classes}" if cfg.classes else "")),
            ("preset", t.preset), ("protocol", metrics.get("protocol") or cfg.protocol),
            ("modalities", ", ".join(run_modalities(info)) + ("" if cfg.modalities else " (the preset's choice)")),
            ("seed(s)", ", ".join(map(str, metrics.get("seeds", {}).get("values", [t.seed])))),
            ("training", f"at most {t.epochs} epochs, batch {t.batch_size}, learning rate {t.learning_rate:g} "
                         f"({t.schedule}), weight decay {t.weight_decay:g}, "
                         + (f"early stopping after {t.patience} epochs without a better validation {t.select_by}"
                            if t.patience else "no early stopping")),
            ("final model", "refit on every video" if cfg.refit else "none (the fold models predict)")]
    page.add(_table(["setting", "value"], rows, numeric_from=2))
    unread = [f"{k} (read by {p} alone)" for k, p in unread_settings(cfg.protocol).items() if k in config]
    said = f"; not read by this {cfg.protocol} run: {', '.join(unread)}" if unread else ""
    page.add(f"<details><summary>config.json, whole{e(said)}</summary><pre>" + e(json.dumps(config, indent=2))
             + "</pre></details>")
    page.end()


def _versions() -> list[tuple[str, str]]:
    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return [("emojax", __version__), ("JAX", of("jax")), ("Flax", of("flax")), ("Plotly", of("plotly")),
            ("Python", platform.python_version()), ("platform", platform.platform())]


def _environment(page: _Page, metrics: Mapping, written: str) -> None:
    page.section("environment")
    page.add(_p(f"This report was written on {written} with the versions below. The run does not record the "
                "versions it was trained with: these are the report's own.", "note"))
    page.add(_table(["software", "version"], _versions(), numeric_from=2))
    videos = metrics.get("videos", {})
    classes = metrics["classes"]
    counts = metrics.get("context", {}).get("class_counts", {})
    rows = [("classes", f"{len(classes)}: " + ", ".join(classes)),
            ("videos used", videos.get("used", "not recorded")),
            ("videos tested", metrics.get("n_videos", "not recorded")),
            ("tested per class", ", ".join(f"{c} {n}" for c, n in counts.items()) or "not recorded")]
    if "left_out" in videos:
        rows.append(("left out", len(videos["left_out"])))
    if "single_modality" in videos:
        rows.append(("read with a modality absent", len(videos["single_modality"])))
    page.add(_table(["dataset", ""], rows, numeric_from=2))
    if videos.get("left_out"):
        page.add("<details><summary>The videos left out, and why</summary><ul>"
                 + "".join(f"<li>{e(v.get('what'))}: {prose(v.get('why'))}</li>" for v in videos["left_out"])
                 + "</ul></details>")
    page.end()


def _table1_section(page: _Page, metrics: Mapping) -> None:
    page.section("table1")
    seeds = metrics.get("seeds", {}).get("values", [])
    page.add(_p(f"{metrics.get('n_videos', 'How many')} videos tested over {len(metrics['folds'])} fold(s); per cent, "
                + (f"mean ± std over {len(seeds)} seeds (seeds {', '.join(map(str, seeds))}; each the mean over "
                   "folds), and the std over every fold of every seed" if len(seeds) > 1 else "mean ± std over folds")
                + f". The last row, {BASELINE_ROW.lower()}, predicts each fold's training majority class."))
    paper = "paper_reference" in metrics
    page.add(_table1(metrics, paper=paper))
    if paper:
        page.add(_p(paper_note(metrics.get("protocol")), "note"))
    if "context" in metrics:
        page.add(_p(_sentence(context_line(metrics["context"])), "note"))
    if len(seeds) > 1:
        per_seed = metrics["seeds"]["per_seed"]
        models = _models(per_seed[0])
        page.add("<h3>Each seed</h3>", _table(
            ["seed"] + [f"{TITLES[m]} {s}" for m in models for s in ("accuracy", "UAR")],
            [[seed] + [f"{100 * scores[m][k]:.2f}" for m in models for k in ("accuracy", "uar")]
             for seed, scores in zip(seeds, per_seed)], cls="seeds"))
    if metrics.get("ci"):
        page.add(f"<h3>Bootstrap intervals{f' (first seed, {seeds[0]})' if len(seeds) > 1 else ''}</h3><ul>"
                 + "".join(f"<li>{e(TITLES.get(m, m))}: {prose(interval_line(metrics, m))}</li>"
                           for m in _models(metrics['ci']))
                 + "</ul>")
        warning = metrics.get("bootstrap", {}).get("warning")
        if warning:
            page.add(_p(f"Warning: {warning}.", "warning"))
    if "final" in metrics:
        page.add(_p(_sentence(final_line(metrics["final"]))))
    summary = metrics["seeds"]["summary"] if len(seeds) > 1 else metrics["summary"]
    page.figure(model_scores_chart({m: summary[m] for m in _models(summary)}, "uar", title="UAR per model (mean ± std)"))
    page.end()


def _per_class(page: _Page, metrics: Mapping) -> None:
    page.section("per-class")
    classes = metrics["classes"]
    page.add(_p("Pooled over the folds (of the first seed): each tested video counted once.", "note"))
    for m in _models(metrics["pooled"]):
        rep = metrics["pooled"][m].get("per_class")
        page.add(f"<h3>{e(TITLES[m])}</h3>")
        if not rep:
            page.add(_missing(f"metrics.json has no per-class report of {TITLES[m]}."))
            continue
        page.add(_table(["class", "precision", "recall", "f1-score", "support"],
                        [[c, *(f"{rep[c][k]:.2f}" for k in ("precision", "recall", "f1-score")), int(rep[c]["support"])]
                         for c in classes], cls=f"per-class {m}"))
        page.figure(per_class_chart(rep, classes, f"Per class, {TITLES[m]} (pooled over folds)"))
    page.end()


def _confusion(page: _Page, metrics: Mapping) -> None:
    page.section("confusion")
    classes = metrics["classes"]
    for m in _models(metrics["pooled"]):
        matrix = metrics["pooled"][m].get("confusion")
        page.add(f"<h3>{e(TITLES[m])}</h3>")
        if matrix is None:
            page.add(_missing(f"metrics.json has no confusion matrix of {TITLES[m]}."))
            continue
        page.figure(confusion_chart(matrix, classes, title=f"Confusion matrix, {TITLES[m]} (rows: true)"))
        page.add("<details><summary>The counts</summary>"
                 + _table(["true \\ predicted", *classes], [[c, *row] for c, row in zip(classes, matrix)],
                          cls=f"confusion {m}") + "</details>")
    page.end()


def _curves(page: _Page, run: Path, metrics: Mapping) -> None:
    page.section("curves")
    records = read_curves(run)
    if not records:
        page.add(_missing("The run kept no training curves (no curves.jsonl in its folder)."))
    else:
        seeds = metrics.get("seeds", {}).get("values", [])
        if len(seeds) > 1:
            page.add(_p(f"The first seed's ({seeds[0]}); each further seed's are in seeds/<seed>/curves.jsonl.", "note"))
        for key, title in (("train_loss", "Training loss"), ("val_acc", "Validation accuracy")):
            if any(key in r for r in records):
                page.figure(curves_chart(records, key, title))
            else:
                page.add(_missing(f"{title}: not in the run's curves.jsonl."))
    page.end()


def _table2(page: _Page, run: Path) -> None:
    page.section("table2")
    explain = f"`emojax explain {_where(run)} --per-class`"
    if not (run / "importance.json").is_file():
        page.add(_missing(f"The run has not been explained yet ({explain} does it, every grouping and each class)."))
        page.end()
        return
    imp = read_importance(run)          # a file that cannot be read is an error naming it, not a note
    explained = {g.partition(":")[0] for entry in imp["models"].values() for g in entry["groupings"]}
    absent = [g for g in GROUPINGS if g not in explained]
    if absent:
        page.add(_missing("Not explained: " + "; ".join(GROUPING_TITLES[g] for g in absent)
                          + f" ({explain} explains every grouping)."))
    if not imp["table2"]:
        _table2_fine(page, imp, explain)
        page.end()
        return
    page.figure(modality_shares_chart(imp["table2"], imp.get("paper_table2")))
    groups = list(dict.fromkeys(g for t in imp["table2"].values() for g in t))
    page.add(_table(["model", *(GROUP_TITLES.get(g, g) for g in groups)],
                    [[TITLES.get(m, m), *("—" if t.get(g) is None else f"{t[g]:.2f} %" for g in groups)]
                     for m, t in imp["table2"].items()], cls="table2"))
    page.add(_p("Shares: " + imp.get("table2_rule", "of the positive importances."), "note"))
    negative = {m: n for m, n in imp.get("table2_negative", {}).items() if n}
    if negative:
        page.add(_p("Negative here: " + "; ".join(f"{TITLES.get(m, m)}: " + ", ".join(
            f"{k} {100 * v:+.2f} points" for k, v in n.items()) for m, n in negative.items()) + ".", "note"))
    _table2_fine(page, imp, explain)
    page.end()


def _table2_fine(page: _Page, imp: Mapping, explain: str) -> None:
    """Each explained model's finer importances: every grouping but the modality, each class's recall."""
    settings = imp.get("settings", {})
    for m, entry in imp["models"].items():
        page.add(f"<h3>{e(TITLES.get(m, m))}</h3>", _p(
            f"Accuracy {100 * entry['baseline']['accuracy']:.1f} % on the held-out videos; each bar is the drop in "
            f"accuracy when a group is permuted across videos ({settings.get('n_repeats', '?')} repeats, ± std), "
            "pooled over folds.", "note"))
        for name, g in entry["groupings"].items():
            if name == "modality":
                continue                           # Table 2, above
            order = list(range(len(g["names"])))
            title = {"region": "Face regions" + (" and voice groups" if any(n in VOICE_GROUPS for n in g["names"])
                                                 else ""),
                     "channel": f"Channels (the {TOP_CHANNELS} that matter most)"}.get(
                name, "Moments: windows of the video (model frames)" if name.startswith("time") else name)
            if name == "channel":
                order = sorted(order, key=lambda i: -g["mean"][i])[:TOP_CHANNELS]
            std = g.get("std")
            page.figure(importance_chart([g["names"][i] for i in order], [g["mean"][i] for i in order],
                                         None if std is None else [std[i] for i in order],
                                         title=f"{TITLES.get(m, m)}: {title}"))
        for name, g in entry.get("per_class", {}).items():
            page.figure(class_heatmap_chart(g["names"], imp["classes"], g["mean"],
                                            title=f"{TITLES.get(m, m)}: drop in each class's recall, by {name}"))
        if "per_class" not in entry:
            page.add(_missing(f"{TITLES.get(m, m)}: no per-class importances ({explain} gives them)."))


def _cross(page: _Page, run: Path) -> None:
    page.section("cross-corpus")
    names = [p.parent.name for p in sorted((run / "cross").glob("*/metrics.json"))]
    if not names:
        page.add(_missing(f"The run's models have not been tested on another corpus (`emojax evaluate {_where(run)} "
                          "--dataset KIND --root PATH`)."))
    for name in names:
        m = read_metrics(run, f"cross/{name}/metrics.json")    # one that cannot be read is an error naming it
        page.add(f"<h3>{e(name)}</h3>")
        left = m.get("left_out", {}).get("classes", {})
        page.add(_p(f"{m.get('dataset', 'a corpus')}: {m.get('n_videos', '?')} videos, {len(m['classes'])} shared "
                    f"classes; {m.get('models_used', 'models used: not recorded')}; "
                    f"{m.get('scoring', 'scoring: not recorded')}. Class map: "
                    + ", ".join(f"{a} → {b}" for a, b in m.get("class_map", {}).items())
                    + (". Left out: " + ", ".join(f"{c} ({n})" for c, n in left.items()) if left else "") + "."))
        page.add(_table1(m))
        if "context" in m:
            page.add(_p(_sentence(context_line(m["context"])), "note"))
    page.end()


def _assumptions(page: _Page, cfg, info: Mapping) -> None:
    page.section("assumptions")
    paper = info.get("paper")
    if cfg.train.preset != "paper":
        page.add(_missing(f"This run is of the {cfg.train.preset} preset: the table of what the paper states and "
                          "what a run assumes belongs to paper-preset runs."))
    elif not paper or not paper.get("choices"):
        page.add(_missing("This paper-preset run's model.json holds no table of the paper's choices (written by an "
                          "older emojax)."))
    else:
        page.add(_p(f"{paper.get('reference', 'Kumar & Li (2023)')}: {len(paper['not_stated'])} of its "
                    f"{len(paper['choices'])} choices are not stated in the paper and assumed here.", "note"))
        page.add(_table(["choice", "the paper", "this run (emojax paper)"],
                        [[c["topic"], c["paper"], c["emojax"]] for c in paper["choices"]], numeric_from=3,
                        cls="assumptions", markdown=True))
    page.end()


def report_html(run: str | os.PathLike) -> str:
    """The report of the finished run in folder ``run`` as one HTML page (Plotly inlined once);
    :class:`~emojax.errors.RunFileError` naming the folder or file when it is not a finished run."""
    from plotly.offline import get_plotlyjs

    run = Path(run)
    if not run.is_dir():
        raise RunFileError(f"{run}: no such run folder (give the folder `emojax train --out` wrote)")
    config, cfg = read_json(run / "config.json"), read_config(run)
    info, metrics = read_model_info(run), read_metrics(run)
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = _Page()
    _configuration(page, config, cfg, metrics, info)
    _environment(page, metrics, written)
    _table1_section(page, metrics)
    _per_class(page, metrics)
    _confusion(page, metrics)
    _curves(page, run, metrics)
    _table2(page, run)
    _cross(page, run)
    _assumptions(page, cfg, info)
    nav = "".join(f'<li><a href="#{a}">{e(h)}</a></li>' for a, h in SECTIONS)
    title = f"emojax report: {run.name}"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="emojax {e(__version__)}">',
        f'<meta name="emojax-figures" content="{page.figures}">',
        f"<title>{e(title)}</title><style>{_STYLE}</style>",
        '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>',
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<header><h1>{e(title)}</h1>" + _p(f"{cfg.dataset}, {cfg.train.preset} preset, written {written}.", "note")
        + f"<nav><ol>{nav}</ol></nav></header>",
        *page.parts, "</body></html>", ""])


def write_report(run: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the report of ``run`` to ``out`` (default ``RUN/report.html``) atomically; returns
    where it is."""
    out = Path(run) / REPORT_FILE if out is None else Path(out)
    if out.is_dir():
        raise RunFileError(f"{out}: is a folder; give the report's file name (e.g. {out / REPORT_FILE})")
    text = report_html(run)
    atomic_write_bytes(out, text.encode("utf-8"))
    return out
