"""Predict: a video in, each model's class probabilities and this video's modality shares out; an
audio file in, the run's voice model's alone."""

import json
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, resources, runs, state, uploads
from emojax.errors import EmojaxError
from emojax.features import heart, vitals, voice
from emojax.features.modalities import TITLES as MODALITY_TITLES
from emojax.models import TITLES
from emojax.video import AUDIO_EXTENSIONS, audio_only, probe, rotation_note


def choose_video() -> uploads.Video | None:
    current = uploads.current_video()
    clip_chosen = current is not None and current.path.parent == state.teaching_dir()
    how = st.radio("Video", ["Upload a video", "A teaching clip"], index=1 if clip_chosen else 0, horizontal=True,
                   key="predict_source")
    if how == "A teaching clip":
        clips = state.teaching_clips()
        if not clips:
            st.info(f"No teaching clip in {state.teaching_dir()}; `make run` writes them.")
            return None
        index = clips.index(current.path) if clip_chosen and current.path in clips else 0
        clip = st.selectbox("Teaching clip", clips, index=index, format_func=lambda p: p.name, key="predict_clip")
        uploads.set_video(uploads.Video(clip, clip.name))
        return uploads.current_video()
    up = st.file_uploader(f"A face video, or an audio file for a run that reads the voice "
                          f"({', '.join(uploads.UPLOAD_TYPES)}; at most {uploads.max_upload_mb()} MB)",
                          type=uploads.UPLOAD_TYPES, key="predict_upload")
    if up is None:
        kept = uploads.kept_upload()
        if kept is None:
            st.caption("Your file is written to a private temporary file on this machine, under a name of ours; "
                       "it is deleted when you upload another, when your session ends, or when the dashboard stops.")
            return None
        c1, c2 = st.columns([4, 1])
        c1.caption(f"Your upload **{kept.name}**, kept for this visit (upload another file to replace it).")
        if c2.button("Delete it", key="forget_upload"):
            uploads.forget_upload()
            st.rerun()
        uploads.set_video(kept)
        return kept
    try:
        video = uploads.keep_upload(up)
    except EmojaxError as e:
        st.error(f"This file cannot be used: {e}")
        return None
    uploads.set_video(video)
    return video


def predict(video: uploads.Video, run: Path) -> dict:
    """Extract (with a progress bar) and predict with every model of ``run``."""
    from emojax.inference import predict_features

    with st.spinner("Loading the run's models…"):
        trained = resources.trained_run(run)
    if audio_only(video.path):               # no moving picture: the voice alone, by the voice model alone
        from emojax.features.voice import audio_features

        with st.spinner(f"Reading the voice in {video.name}…"):
            features = audio_features(video.path)
            result = predict_features(features, trained)
        return {"key": (str(video.path), str(run)), "features": features,
                "result": {"video": video.name, "run": run.name, **result}}
    total = max(probe(video.path).frame_count_claimed, 1)
    bar = st.progress(0.0, text=f"Reading the face in {video.name}…")
    done = [0]

    def tick(n: int) -> None:                   # a few times a second, on this page's thread
        done[0] += n
        bar.progress(min(done[0] / total, 1.0), text=f"Reading the face: frame {done[0]} of ~{total}")

    def waiting(place: int) -> None:
        ahead = "yours is next" if place == 1 else f"{place - 1} upload{'s' * (place > 2)} ahead of yours"
        bar.progress(0.0, text=f"Waiting for a free worker ({ahead}) to read {video.name}…")

    features = resources.extract(video.path, trained.extractor, tick, waiting)
    bar.empty()
    return {"key": (str(video.path), str(run)), "features": features,
            "result": {"video": video.name, "run": run.name, **predict_features(features, trained)}}


def contributions(pred: dict, run: Path) -> dict | None:
    from emojax.explain.importance import FUSED, explain_video, shares_per_model

    data, why = resources.run_data(run)
    if data is None:
        st.info(f"This video's modality contributions need the run's data: {why}")
        return None
    if resources.predictions_pending():  # other visitors' predictions first: they wait on the same cores
        note = st.empty()
        deadline = time.monotonic() + resources.CONTRIBUTIONS_WAIT_S
        # in short waits, each followed by a call to Streamlit, so a visitor who leaves or reruns
        # the page stops this at once
        while not resources.after_predictions(0.25) and time.monotonic() < deadline:
            n = resources.predictions_pending()
            note.caption(f"{n} other visitor{'s' * (n != 1)}' upload{'s' * (n != 1)} being read: this video's "
                         "contributions come after their predictions…")
        note.empty()
    with st.spinner("How much did each modality count for this video?"):
        out = explain_video(data, pred["features"], FUSED, groupings=("modality",), gradients=False)
    return shares_per_model(out)


def show_audio(pred: dict, run: Path) -> None:
    """An audio-only file's prediction: the voice model's answer, the voice's status, and that the
    face and the pulse are absent (no chart is drawn of them)."""
    r, f = pred["result"], pred["features"]
    best = r["models"]["voice"]
    st.info(f"{r['video']}: {r['note']}. The face and the pulse are absent (the file holds no video), so the "
            "fused models do not answer and no face or pulse chart is drawn.")
    for warning in r["warnings"]:
        st.warning(f"{r['video']}: {warning}".replace(pred["key"][0], r["video"]))
    c1, c2, c3 = st.columns(3)
    c1.metric("Prediction (voice model alone)", r["label"], f"p = {best['proba'][best['label']]:.2f}",
              delta_color="off")
    c2.metric("Frames", r["frames"], help=f"A regular grid of {f.fps:g} frames per second over the audio track, "
              "each averaging its eGeMAPS descriptors.")
    c3.metric("Voice", f.voice_status, help="The audio track's eGeMAPS descriptors (openSMILE) where speech is.")
    st.caption(f"{r['video']}: {voice.said(f.source.get('voice'))}.".replace(pred["key"][0], r["video"]))
    st.caption(f"Model: {TITLES['voice']} ({r['models_used']}) of run {run.name}.")
    st.plotly_chart(charts.probabilities_chart(r["models"], r["classes"]), key="proba_chart")
    table = pd.DataFrame({TITLES[m]: v["proba"] for m, v in r["models"].items()}).T
    st.dataframe(table.style.format("{:.3f}"))
    st.download_button("Download all of this as JSON", json.dumps(r, indent=2),
                       file_name=f"{Path(r['video']).stem}-emojax.json", mime="application/json")


def show(pred: dict, run: Path) -> None:
    r = pred["result"]
    if r.get("audio_only"):
        return show_audio(pred, run)
    best = r["models"]["early_fusion"]
    if "heart_rate" not in pred:
        f = pred["features"]
        pred["heart_rate"] = vitals.report(f, with_hrv=False)
    hr = pred["heart_rate"]
    for warning in r["warnings"]:
        st.warning(f"{r['video']}: {warning}")
    if turned := rotation_note(pred["features"].source.get("rotation", 0)):
        st.caption(f"{r['video']}: {turned}.")
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Prediction (early fusion)", r["label"], f"p = {best['proba'][best['label']]:.2f}", delta_color="off",
              delta_arrow="off")
    c2.metric("Frames", r["frames"])
    # short values (a tile cuts a long one short); what they mean in the delta and the help
    c3.metric("Face found in", f"{100 * r['face_ratio']:.0f} %", "of the frames", delta_color="off",
              delta_arrow="off")
    c4.metric("Heart rate", "—" if hr["bpm"] is None else f"{hr['bpm']:.0f} bpm",
              "no reliable pulse" if hr["bpm"] is None else None if hr["margin"] is None
              else f"stands out by {hr['margin']:.1f} dB", delta_color="off", delta_arrow="off",
              help="From the colour of the skin (PBV over six skin patches; the delta is how much the rate out-powers "
                   "any other rate the spectrum shows, or that there is no reliable pulse). Under "
                   f"{heart.RELIABLE_MARGIN_DB[vitals.DEFAULT_METHOD]:.2f} dB, or with under {vitals.MIN_RELIABLE_S:.0f} s "
                   "of face, no rate is given: " + (hr.get("error") or "this one is reliable."))
    f = pred["features"]
    c5.metric("Voice", f.voice_status, help="The audio track's eGeMAPS descriptors (openSMILE) where speech is.")
    if f.voice_status != "present":      # the whole reason, in words that wrap (a metric cuts a long value short)
        said = voice.said(f.source.get("voice") if f.voice is not None else None)
        st.caption(f"{r['video']}: {said.replace(pred['key'][0], r['video'])}.")
    if (resources.run_json(run, "config.json") or {}).get("dataset") == "teaching":
        st.caption(f"Run {run.name} learned from the synthetic teaching set ({', '.join(r['classes'])}): on a "
                   "real face this shows how the pipeline works, not what the person feels. Train on a real "
                   "dataset (Train page) for that.")
    st.caption(f"Models: {r['models_used']} of run {run.name}; inputs: {r['normalisation']}.")
    st.plotly_chart(charts.probabilities_chart(r["models"], r["classes"]), key="proba_chart")
    table = pd.DataFrame({TITLES[m]: v["proba"] for m, v in r["models"].items()}).T
    st.dataframe(table.style.format("{:.3f}"))
    st.caption("Each model read: " + "; ".join(
        f"{TITLES[m]}: " + ("nothing (it answers with its training classes' frequencies)" if v["prior_only"]
                            else " and ".join(MODALITY_TITLES[x] for x in v["modalities"]))
        for m, v in r["models"].items()) + ".")
    if "contrib" not in pred:
        pred["contrib"] = contributions(pred, run)
    if pred["contrib"]:
        st.plotly_chart(charts.modality_shares_chart(pred["contrib"], title="This video: each modality's share (%)"),
                        key="video_shares")
        st.caption("The drop in the predicted class's probability when a modality is replaced by that of the "
                   "run's other videos, as shares of their total.")
    shown = {**r, "modality_share_pct": pred["contrib"], "heart_rate": hr}
    st.download_button("Download all of this as JSON", json.dumps(shown, indent=2),
                       file_name=f"{Path(r['video']).stem}-emojax.json", mime="application/json")
    st.page_link("../pages/signals.py", label="See its pulse and landmarks on the Signals page",
                 icon=":material/monitor_heart:")


st.title("Predict the emotion in a face video")
run = runs.current_run()
video = choose_video()
if run is not None and video is not None:
    if video.path.suffix.lower() in (".mp4", ".webm", ".mov", ".m4v") and st.toggle("Show the video", key="show_video"):
        st.video(str(video.path))          # only when asked: it sends the whole file to the browser
    elif video.path.suffix.lower() in AUDIO_EXTENSIONS and st.toggle("Play the audio", key="play_audio"):
        st.audio(str(video.path))
    pred = st.session_state.get("prediction")
    if pred is None or pred["key"] != (str(video.path), str(run)):
        try:
            with resources.predicting():
                pred = predict(video, run)
        except EmojaxError as e:       # named by the visitor's file name, not our temp file's
            pred = {"key": (str(video.path), str(run)), "error": video.message(e)}
        st.session_state["prediction"] = pred
    if "error" in pred:
        st.error(f"No prediction: {pred['error']}")
    else:
        show(pred, run)
