"""The emojax dashboard: a router over the pages in ../pages (``streamlit run dashboard/app.py``)."""

import streamlit as st

from dashboard import resources, runs, state

st.set_page_config(page_title="emojax", page_icon=":material/favorite:", layout="wide")

PAGES = [
    st.Page("../pages/predict.py", title="Predict", icon=":material/video_file:", default=True),
    st.Page("../pages/signals.py", title="Signals", icon=":material/monitor_heart:"),
    st.Page("../pages/live.py", title="Live", icon=":material/videocam:"),
    st.Page("../pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("../pages/metrics.py", title="Metrics explorer", icon=":material/table_chart:"),
    st.Page("../pages/contributions.py", title="Modality contributions", icon=":material/insights:"),
    st.Page("../pages/teaching.py", title="Teaching demos", icon=":material/school:"),
]

page = st.navigation(PAGES)
with st.sidebar:
    resources.warm_up(runs.pick_run("Run", key="run"))
    runs.show_broken_runs()
    st.caption(f"Runs in `{state.runs_dir()}`")
page.run()
