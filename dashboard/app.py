"""The emojax dashboard: a router over the pages in ../pages (``streamlit run dashboard/app.py``)."""

import streamlit as st

from dashboard import resources, runs

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
# each page its own title and icon in the browser's tab
st.set_page_config(page_title=f"{page.title} · emojax", page_icon=page.icon, layout="wide")
with st.sidebar:
    run = runs.pick_run("Run", key="run")
    resources.warm_up(run)
    runs.say_shown(run)
    runs.show_broken_runs()
page.run()
