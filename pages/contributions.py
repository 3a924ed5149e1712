"""Modality contributions: what the fused models rely on, from the run's importance.json —
Table 2, per class, face regions drawn on a face, moments, and one video's own explanation."""

import numpy as np
import streamlit as st

from dashboard import charts, resources, runs, state
from emojax.errors import RunFileError
from emojax.explain.groups import GROUP_TITLES, VOICE_GROUPS
from emojax.models import TITLES
from emojax.training import jobs


def parts_title(names) -> str:
    """The region grouping's title: face regions, and the voice groups beside them in a run with voice."""
    return "Face regions and voice groups" if any(n in VOICE_GROUPS for n in names) else "Face regions"


def pooled(imp: dict, model: str) -> None:
    entry = imp["models"][model]
    st.caption(f"{TITLES[model]}: accuracy {100 * entry['baseline']['accuracy']:.1f} % on the held-out videos; "
               f"each bar is the drop in accuracy when a group is permuted across videos "
               f"({imp['settings']['n_repeats']} repeats, ± std), pooled over folds.")
    groups = entry["groupings"]
    if "region" in groups:
        g = groups["region"]
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.face_values_chart(resources.reference_face(),
                                                 charts.region_values(dict(zip(g["names"], g["mean"]))),
                                                 title="Face regions (drop in accuracy)", label="drop"),
                        key="region_face")
        c2.plotly_chart(charts.importance_chart(g["names"], g["mean"], g["std"], title=parts_title(g["names"])),
                        key="region_bars")
    for name in [g for g in groups if g.startswith("time")] + (["channel"] if "channel" in groups else []):
        g = groups[name]
        if name == "channel":
            title, order = "Channels (the 20 that matter most)", np.argsort(g["mean"])[::-1][:20]
        else:
            title, order = "Moments: windows of the video (model frames)", np.arange(len(g["names"]))
        st.plotly_chart(charts.importance_chart([g["names"][i] for i in order], [g["mean"][i] for i in order],
                                                [g["std"][i] for i in order], title=title), key=f"{name}_bars")
    if "per_class" in entry:
        grouping = st.selectbox("Per class, grouped by", list(entry["per_class"]), key="contrib_class_group")
        g = entry["per_class"][grouping]
        st.plotly_chart(charts.class_heatmap_chart(g["names"], imp["classes"], g["mean"],
                                                   title="Drop in each class's recall"), key="class_heatmap")


def your_video(run, model: str) -> dict | None:
    """The Predict page's video explained like the run's own, for ``model`` (computed once per
    visitor, video and model)."""
    from emojax.explain.importance import explain_video

    pred = st.session_state.get("prediction")
    if not pred or "features" not in pred or pred["key"][1] != str(run):
        return None
    key = (*pred["key"], model)
    cached = st.session_state.get("explained")
    if cached is None or cached[0] != key:
        data, why = resources.run_data(run)
        if data is None:
            st.info(f"Explaining a video needs the run's data: {why}")
            return None
        with st.spinner("Explaining your video: modalities, regions, moments, integrated gradients…"):
            out = explain_video(data, pred["features"], [model])
        out["path"] = pred["result"]["video"]
        cached = st.session_state["explained"] = (key, out)
    return cached[1]


def one_video(imp: dict, model: str, run) -> None:
    from emojax.explain.importance import modality_shares_of

    choices = {"The run's explained video": lambda: imp.get("video")}
    pred = st.session_state.get("prediction") or {}
    if "features" in pred and pred["result"].get("audio_only"):
        st.caption(f"Your file from the Predict page, {pred['result']['video']}, is audio only (the voice model alone "
                   "answered): it is not explained here.")
    elif "features" in pred:
        choices["Your video from the Predict page"] = lambda: your_video(run, model)
    which = st.radio("Video", list(choices), horizontal=True, key="contrib_video")
    video = choices[which]()
    if not video or model not in video["models"]:
        st.caption("No video explained here (`emojax explain RUN --video clip.mp4`, or predict one on the "
                   "Predict page).")
        return
    v = video["models"][model]
    st.markdown(f"**{video['path']}**: {TITLES[model]} says **{v['label']}** "
                f"(p = {v['proba'][v['label']]:.2f}); against {video['background']} of the run's videos.")
    reg = v["groupings"].get("region")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.modality_shares_chart({model: modality_shares_of(v)},
                                                 title="This video: each modality's share (%)"), key="video_modality")
    if reg:
        c2.plotly_chart(charts.importance_chart(reg["names"], reg["mean"], reg["std"], unit="drop in probability",
                                                title="This video: " + parts_title(reg["names"]).lower()),
                        key="video_regions")
    ig = v.get("integrated_gradients")
    if ig and ig.get("landmarks") is not None:
        lm = np.asarray(ig["landmarks"], float)
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.face_values_chart(resources.reference_face(), lm.sum(axis=0),
                                                 title=f"Integrated gradients on the face (toward {ig['target']})",
                                                 label="IG"), key="ig_face")
        c2.plotly_chart(charts.attribution_over_time_chart(lm, "Integrated gradients per region over time"), key="ig_time")
        st.caption(f"Completeness: the attributions add up to f(x) − f(baseline) = "
                   f"{ig['f_x'] - ig['f_baseline']:.3f} within {100 * ig['completeness_error']:.2f} %; "
                   + ", ".join(f"{GROUP_TITLES.get(k, k)} {a:.3f}" for k, a in ig["modality"].items()) + ".")


@st.fragment(run_every=3)
def explain_now(run) -> None:
    """Offer to explain a run that has not been, in the background; follow it until done."""
    s = jobs.explaining(run)
    if s["state"] == "running":
        st.info(f"Explaining {run.name} in the background… {s['log']}")
        return
    if s["state"] == "done" and (run / "importance.json").is_file():
        st.rerun(scope="app")
    if s["state"] == "failed":
        st.error(f"Explaining {run.name} failed:")
        st.code(s["log"], language="text")
    st.info(f"{run.name} has not been explained yet (`emojax explain {run} --per-class` does it; "
            "the demo runs are explained by `make run`).")
    if st.button("Explain it now, in the background (modality, channel, region, time; per class)",
                 key="explain_now"):
        jobs.launch_explain(run)
        st.rerun(scope="fragment")


st.title("Modality contributions")
run = runs.current_run()
if run is not None:
    try:
        imp = resources.run_json(run, "importance.json")
    except RunFileError as e:
        st.error(state.shown(e))
        imp = None
    if imp is None:
        explain_now(run)
    else:
        st.plotly_chart(charts.modality_shares_chart(imp["table2"], imp.get("paper_table2")), key="table2")
        negative = {m: n for m, n in imp.get("table2_negative", {}).items() if n}
        st.caption("Shares: " + imp.get("table2_rule", "of the positive importances.")
                   + ("" if not negative else " Negative here: " + "; ".join(
                       f"{TITLES.get(m, m)}: " + ", ".join(f"{k} {100 * v:+.2f} points" for k, v in n.items())
                       for m, n in negative.items()) + "."))
        models = list(imp["models"])
        model = st.radio("Model", models, format_func=TITLES.get, horizontal=True, key="contrib_model")
        tab1, tab2 = st.tabs(["All tested videos", "One video"])
        with tab1:
            pooled(imp, model)
        with tab2:
            one_video(imp, model, run)
