"""Metrics explorer: a run's four models as in the paper's Table 1, per class, the confusion
matrix (click a cell to list its videos), two runs side by side, and the run's report to
download (one HTML file that opens offline)."""

from pathlib import Path

import streamlit as st

from dashboard import charts, resources, runs, state, tables
from emojax.errors import EmojaxError, RunFileError
from emojax.models import MODEL_NAMES, TITLES
from emojax.crosscorpus import cross_results
from emojax.report import report_html
from emojax.training.summary import context_line, final_line, independence_line, interval_line, paper_note
from emojax.training.runfiles import read_predictions


def table(run: Path) -> dict | None:
    try:
        metrics = resources.run_json(run, "metrics.json")
        config = resources.run_json(run, "config.json") or {}
    except RunFileError as e:
        st.error(state.shown(e))
        return None
    if metrics is None:
        st.warning(f"{run.name} has no metrics.json yet.")
        return None
    seeds = metrics.get("seeds", {}).get("values", [])
    spread = (f"mean ± std over {len(seeds)} seeds (seeds {', '.join(map(str, seeds))}; each the mean over folds), "
              "and the std over every fold of every seed" if len(seeds) > 1 else "mean ± std over folds")
    st.markdown(f"**{run.name}**: {config.get('dataset', '?')} ({metrics['n_videos']} videos tested), preset "
                f"{config.get('train', {}).get('preset', '?')}, protocol {config.get('protocol', '?')}, "
                f"{len(metrics['folds'])} fold(s). Per cent, {spread}.")
    split = metrics.get("split")
    if split:                       # said before the numbers: they mean less when it is not
        (st.caption if split.get("speaker_independent") else st.warning)(independence_line(split))
    paper = config.get("dataset") == "iemocap" and config.get("classes") in (None, "paper")
    st.dataframe(tables.table1_frame(metrics, paper=paper))
    if paper:
        st.caption(paper_note(metrics.get("protocol")))
    assumptions(run)
    if "context" in metrics:
        st.caption(context_line(metrics["context"]).capitalize() + ". Read accuracy against these.")
    ci = metrics.get("ci", {}).get("early_fusion")
    if ci:
        st.caption(f"{TITLES['early_fusion']}: {interval_line(metrics, 'early_fusion')}."
                   + (f" Warning: {ci['warning']}." if ci.get("warning") else ""))
    if "final" in metrics:
        line = final_line(metrics["final"])
        st.caption(f"{line[:1].upper()}{line[1:]}.")
    return metrics


def assumptions(run: Path) -> None:
    """For a paper-preset run: what the paper states, what it leaves open and what the run assumed."""
    try:
        info = resources.run_json(run, "model.json") or {}
    except RunFileError as e:
        st.error(state.shown(e))
        return
    if info.get("paper"):
        with st.expander(f"The paper preset: {len(info['paper']['not_stated'])} choices the paper leaves open, "
                         "assumed here"):
            st.dataframe(tables.paper_choices_frame(info))


def cross(run: Path) -> None:
    """The run's models on other corpora (``emojax evaluate RUN --dataset ... --root ...``)."""
    results = cross_results(run)
    if not results:
        return
    st.subheader("On other corpora")
    for name, m in results.items():
        if isinstance(m, str):
            st.warning(m)
            continue
        with st.expander(f"{name}: {m['dataset']} ({m['n_videos']} videos, {len(m['shared_classes'])} shared classes)"):
            st.caption(f"{m['models_used']}; {m['scoring']}. Class map: "
                       + ", ".join(f"{a} → {b}" for a, b in m["class_map"].items())
                       + (". Left out: " + ", ".join(f"{c} ({n})" for c, n in m["left_out"]["classes"].items())
                          if m["left_out"]["classes"] else "") + ".")
            st.dataframe(tables.table1_frame(m))
            st.caption(context_line(m["context"]).capitalize() + ".")


def cell_videos(run: Path, metrics: dict, model: str) -> None:
    classes = metrics["classes"]
    normalise = st.toggle("Normalise rows (recall per class)", key="cm_normalise")
    fig = charts.confusion_chart(metrics["pooled"][model]["confusion"], classes, normalise=normalise,
                                 title=f"Confusion matrix, {TITLES[model]} (rows: true)")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="confusion_chart")
    points = event.selection.points if event and event.selection else []
    if points:
        st.session_state["cm_true"], st.session_state["cm_pred"] = (classes[int(v)] for v in points[0]["customdata"])
    c1, c2 = st.columns(2)
    true = c1.selectbox("True class", classes, key="cm_true")
    pred = c2.selectbox("Predicted as", classes, key="cm_pred")
    videos = tables.videos_in_cell_frame(read_predictions(run), model, classes.index(true), classes.index(pred))
    st.caption(f"{len(videos)} video(s) of class {true} predicted as {pred} by {TITLES[model]}")
    st.dataframe(videos, hide_index=True)


def _version(run: Path) -> tuple:
    """When the run's files were last written (a report is built again when one changes)."""
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in (*run.glob("*.json*"), *run.glob("cross/*/*.json"))))


@st.cache_data(show_spinner="Writing the run's report…", max_entries=2)
def report(path: str, version: tuple) -> tuple[str | None, str | None]:
    """``(html, None)``: the run's report (about half a second to write, 5 MB with Plotly
    inlined), or ``(None, why)`` when a file of the run is damaged; either once per version of
    the run's files (so that the page says why at once, not after a click)."""
    try:
        return report_html(path), None
    except EmojaxError as e:
        return None, str(e)


st.title("Metrics explorer")
run = runs.current_run()
if run is not None:
    metrics = table(run)
    if metrics is not None:
        html, why = report(str(run), _version(run))
        if why:                              # a damaged file of the run, named
            st.error(f"No report: {why}")
        else:
            st.download_button("Download the run's report (one HTML file, opens offline)", data=html,
                               file_name=f"{run.name}-report.html", mime="text/html", key="report_download",
                               icon=":material/download:", help=f"What `emojax report {run.name}` writes: "
                               "configuration, Table 1, per class, confusion matrices, curves, Table 2, other corpora")
    cross(run)
    if metrics is not None:
        model = st.radio("Model", MODEL_NAMES, index=MODEL_NAMES.index("early_fusion"), format_func=TITLES.get,
                         horizontal=True, key="metrics_model")
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.per_class_chart(metrics["pooled"][model]["per_class"], metrics["classes"],
                                               f"Per class, {TITLES[model]} (pooled over folds)"), key="per_class_chart")
        c2.dataframe(tables.per_class_frame(metrics, model).style.format("{:.2f}", subset=["precision", "recall", "f1-score"]))
        cell_videos(run, metrics, model)
        st.subheader("Two runs side by side")
        others = [p for p in runs.finished_runs() if p != run]
        if not others:
            st.caption("Only one finished run: train another on the Train page to compare.")
        else:
            other = runs.pick_run("Compare with", key="compare_run", runs=others)
            left, right = st.columns(2)
            with left:
                st.plotly_chart(charts.model_scores_chart(metrics["summary"], "uar", title=f"{run.name}: UAR"),
                                key="uar_left")
            with right:
                m2 = table(other)
                if m2 is not None:
                    st.plotly_chart(charts.model_scores_chart(m2["summary"], "uar", title=f"{other.name}: UAR"),
                                    key="uar_right")
