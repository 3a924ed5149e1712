"""Train: launch a run in a background process, watch it, cancel it."""

import streamlit as st

from dashboard import charts, state, train_form
from emojax.errors import EmojaxError
from emojax.training import commands, jobs
from emojax.training.progress import progress_text, read_curves


def launch_form() -> None:
    """Every option of `emojax train`; the settings checked by the command's own parser (and as
    the command checks the dataset) before anything starts; the command line shown."""
    submitted = train_form.form()
    if submitted is None:
        return
    button, name, settings = submitted
    try:
        argv, n = train_form.check(name, settings)
        if button == "check":
            st.info(f"{name}: these settings are accepted; the run would read {n} videos. Nothing was started.")
            st.code(train_form.typed(argv), language="bash")
            return
        pid = jobs.launch([*commands.PROGRAM, "train", *argv], state.runs_dir() / name)
    except (EmojaxError, OSError, ValueError) as e:
        st.error(str(e))                     # the command's own words, as on a terminal
        if found := train_form.where(str(e)):
            st.caption("On this page: " + "; ".join(found) + ".")
        return
    st.session_state["train_watch"] = name
    st.success(f"Training {name} on {n} videos in the background (process {pid}); you can leave this page.")
    st.code(train_form.typed(argv), language="bash")


def training_runs() -> list[str]:
    """Runs started here or elsewhere (a progress file or a training log), the latest first."""
    folders = {p.parent for pattern in ("*/progress.json", f"*/{jobs.LOG}") for p in state.runs_dir().glob(pattern)}
    return [p.name for p in sorted(folders, key=lambda p: -max(f.stat().st_mtime for f in p.iterdir()))]


@st.fragment(run_every=2)
def watch(name: str) -> None:
    """Progress, curves and a cancel button for one run, refreshed every 2 s."""
    run = state.runs_dir() / name
    s = jobs.status(run)
    p = s["progress"]
    st.progress(s["fraction"], text=f"{name}: {s['state']} {progress_text(p)}")
    seen = st.session_state.setdefault("seen_training", set())
    if s["state"] in ("starting", "running"):
        seen.add(name)
        if st.button("Cancel", key=f"cancel_{name}"):
            if jobs.cancel(run):
                st.rerun()
            st.warning(f"{name}: nothing was signalled; no live process is provably this run's.")
    elif s["state"] == "done":
        st.success(f"{name} is finished: it is in the run list of every page.")
        if name in seen:                     # it finished while watched: refresh the sidebar's run list
            seen.discard(name)
            st.rerun(scope="app")
    elif s["state"] in ("failed", "stopped"):
        st.error(f"{name} {s['state']}: {p.get('error', '')}")
        if s.get("log"):
            st.code(s["log"], language="text")
    elif s["state"] == "interrupted":
        st.info(f"{name} was interrupted; start it again with the same settings to resume.")
    records = read_curves(run)
    if records:
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.curves_chart(records, "train_loss", "Training loss"), key=f"loss_{name}")
        c2.plotly_chart(charts.curves_chart(records, "val_acc", "Validation accuracy"), key=f"acc_{name}")


st.title("Train the four models")
st.caption("Training runs in its own process; progress is read from the run folder. "
           f"Runs go to {state.runs_dir()}; features are cached in {state.artifacts() / 'features'}.")
launch_form()
names = training_runs()
if names:
    if st.session_state.get("train_watch") not in names:
        st.session_state["train_watch"] = names[0]
    watch(st.selectbox("Watch a run", names, key="train_watch"))
