"""Signals: what the models read from the video — the face, its landmarks, and the pulse in the
colour of the skin."""

import numpy as np
import streamlit as st

from dashboard import charts, resources, runs, state, uploads
from emojax.errors import EmojaxError
from emojax.features import heart, rppg, timing, vitals
from emojax.features.landmarks import skin_polygons
from emojax.video import FrameReader, rotation_note, stream_note


def frame_view(video: uploads.Video, f, roi: str) -> None:
    c1, c2 = st.columns([4, 1])
    i = c1.slider("Frame", 0, len(f) - 1, 0, key="signals_frame")
    zoom = c2.toggle("Zoom to the face", value=True, key="signals_zoom")
    t = float(f.times[i])
    image = next(iter(FrameReader(video.path, start=t, stream=f.source.get("stream"))), None)
    if image is None:
        st.warning(f"Frame {i} could not be read back from {video.name}.")
        return
    found = bool(f.face_found[i])
    polys = skin_polygons(f.landmarks[i]) if found and roi == "skin" else []
    title = f"frame {i} at {t:.2f} s" + ("" if found else " — no face found")
    st.plotly_chart(charts.frame_chart(image.rgb, box=f.box[i] if found else None,
                                       landmarks=f.landmarks[i] if found else None, polygons=polys, title=title,
                                       zoom=1.8 if zoom else None),
                    key="frame_chart")


def pulse_view(f) -> None:
    method = st.selectbox("Pulse method", rppg.PULSE_METHODS, index=rppg.PULSE_METHODS.index(rppg.DEFAULT_METHOD),
                          key="signals_method",
                          help=rppg.methods_said(rppg.PULSE_METHODS))
    st.plotly_chart(charts.rgb_chart(f.times, f.rgb, f.face_found), key="rgb_chart")
    if not f.face_found.any():
        st.warning("No face in any frame: no colour was measured, so there is no pulse.")
        return
    v = vitals.vitals(f, method)
    unseen = {"interpolated row (not a frame)": f.interpolated, "skin patch filled": v.patches_filled > 0}
    st.plotly_chart(charts.pulse_chart(f.times, v.pulse, f.face_found, method, v.bridged, unseen), key="pulse_chart")
    said = [f"{n} {what}" for n, what in ((int(f.interpolated.sum()), "rows interpolated between frames "
                                           "(a variable frame rate put on a uniform grid)"),
                                          (int(v.bridged.sum()), "frames without a face bridged (gaps of 0.5 s at most)"),
                                          (int((v.patches_filled > 0).sum()), "frames where a skin patch out of "
                                           "sight was filled in (0.5 s at most)")) if n]
    if said:
        st.caption("Not seen but drawn through: " + "; ".join(said) + ". The per-frame table marks each row.")
    freqs, power = heart.spectrum(v.pulse, f.fps) if np.isfinite(v.pulse).any() else (np.zeros(1), np.zeros(1))
    c1, c2, c3 = st.columns(3)
    c1.metric("Heart rate", f"{v.bpm:.0f} bpm" if v.reliable else "no reliable pulse")
    c2.metric("Stands out from other rates by", "—" if np.isnan(v.margin) else f"{v.margin:.1f} dB",
              help=f"How much more power the rate's harmonics carry than any rival rate's: what 'reliable' rests on "
                   f"(at least {heart.RELIABLE_MARGIN_DB.get(method, float('nan')):.2f} dB for {method.upper()}).")
    c3.metric("Blind SNR", "—" if not np.isfinite(v.quality) else f"{v.quality:.1f} dB",
              help="Power at the rate found and its harmonic over the rest of the band, centred on the estimator's own "
                   "peak (de Haan & Jeanne's is centred on a reference rate): reported, not what 'reliable' rests on.")
    if not v.reliable:
        st.caption(v.why_not() + (f" (the spectrum's best guess, {v.bpm:.0f} bpm, is not shown as a rate)"
                                   if np.isfinite(v.bpm) else ""))
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(charts.spectrum_chart(freqs, power, v.bpm if v.reliable else None), key="spectrum_chart")
    with c2:
        st.plotly_chart(charts.heart_rate_chart(v.series, v.window_margin, v.window_reliable), key="hr_chart")
    table = vitals.table(f, method, v=v)
    st.download_button("Download the per-frame table (CSV)", vitals.csv_text(table), file_name=f"emojax-{method}.csv",
                       mime="text/csv", key="signals_csv")


st.title("Signals: the face and the pulse")
run = runs.current_run()
clips = state.teaching_clips()
video = uploads.current_video()
if video is None and clips:
    st.caption("No video chosen on the Predict page: showing a teaching clip.")
    video = uploads.Video(clips[0], clips[0].name)
if video is None:
    st.info("Choose or upload a video on the Predict page first.")
elif run is not None:
    config = resources.run_extractor(run)
    st.caption(f"{video.name}, read with the settings of run {run.name} (colour from the {config.roi} ROI).")
    try:
        with st.spinner(f"Reading the face in {video.name}…"):    # read once (Predict's, if it read it)
            feats = resources.extract(video.path, config)
    except EmojaxError as e:
        st.error(video.message(e))
    else:
        said = [f"{what}: {note}." for what, note in (("Timing", timing.describe(feats.source.get("timing", {}))),
                                                         ("Orientation", rotation_note(feats.source.get("rotation", 0))),
                                                         ("Streams", stream_note(feats.source))) if note]
        st.caption(f"{len(feats)} frames at {feats.fps:.2f} fps; a face in {100 * feats.face_ratio:.0f} % of them. "
                   + " ".join(said))
        frame_view(video, feats, config.roi)
        pulse_view(feats)
