"""Signals: what the models read from the video — the face, its landmarks, the pulse in the
colour of the skin, and the voice in its audio track."""

import numpy as np
import streamlit as st

from dashboard import charts, resources, runs, state, uploads
from emojax.errors import EmojaxError
from emojax.features import heart, rppg, timing, vitals, voice
from emojax.features.landmarks import skin_polygons
from emojax.video import FrameReader, audio_only, read_audio, rotation_note, stream_note, wav_bytes


def frame_view(video: uploads.Video, f, roi: str) -> float | None:
    """The frame chosen on the slider, drawn; its time (None: it could not be read back)."""
    c1, c2 = st.columns([4, 1])
    i = c1.slider("Frame", 0, len(f) - 1, 0, key="signals_frame")
    zoom = c2.toggle("Zoom to the face", value=True, key="signals_zoom")
    t = float(f.times[i])
    image = next(iter(FrameReader(video.path, start=t, stream=f.source.get("stream"))), None)
    if image is None:
        st.warning(f"Frame {i} could not be read back from {video.name}.")
        return None
    found = bool(f.face_found[i])
    polys = skin_polygons(f.landmarks[i]) if found and roi == "skin" else []
    title = f"frame {i} at {t:.2f} s" + ("" if found else " — no face found")
    st.plotly_chart(charts.frame_chart(image.rgb, box=f.box[i] if found else None,
                                       landmarks=f.landmarks[i] if found else None, polygons=polys, title=title,
                                       zoom=1.8 if zoom else None),
                    key="frame_chart")
    return t


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


@st.cache_data(max_entries=8, show_spinner=False)
def audio_track(path: str, stamp: float, start: float, end: float, stream: int | None):
    """The file's audio over the record's frames (mono, 16 kHz), read once per file version."""
    return read_audio(path, start=start, end=end, video_stream=stream)


def voice_view(video: uploads.Video, f, stream: int | None, t: float | None) -> None:
    st.subheader("The voice")
    s = voice.summary(f.voice, f.speech, f.fps, f.source) if f.voice is not None else {}
    words = f"{video.name}: {voice.said(s)}.".replace(str(video.path), video.name)
    if f.voice_status in ("absent", "unread"):
        st.info(words)
        return
    if f.voice_status == "partial":
        st.warning(words)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Speech", f"{100 * s['speech_share']:.0f} % of frames", None if s["speech_s"] is None else f"{s['speech_s']:.2f} s",
              delta_color="off")
    c2.metric("F0 (mean)", "no voiced frame" if s["f0_mean_hz"] is None else f"{s['f0_mean_hz']:.0f} Hz",
              None if s["f0_range_hz"] is None else "{:.0f}–{:.0f} Hz (5th–95th percentile)".format(*s["f0_range_hz"]),
              delta_color="off")
    c3.metric("Loudness (mean)", "—" if s["loudness"] is None else f"{s['loudness']:.2f}")
    c4.metric("Speaking rate", "—" if s["speaking_rate"] is None else f"{s['speaking_rate']:.2f} onsets/s",
              help="Starts of runs of frames holding voiced speech, per second of the frames' span.")
    num = lambda v, fmt: "—" if v is None else format(v, fmt)      # noqa: E731
    st.caption(f"Over speech frames: jitter {num(s['jitter'], '.3f')}, shimmer {num(s['shimmer_db'], '.2f')} dB, "
               f"HNR {num(s['hnr_db'], '.1f')} dB. Audio: {s['codec']}, {num(s['seconds_read'], '.2f')} s of the "
               "frames' span covered; eGeMAPS v02 descriptors (openSMILE) averaged over each frame's interval.")
    dt = 1.0 / f.fps
    track = audio_track(str(video.path), video.path.stat().st_mtime, float(f.times[0]), float(f.times[-1]) + dt, stream)
    loudness, f0 = voice.prosody(f.voice)
    wave = (track.samples, track.start, track.rate) if len(track.samples) else None
    st.plotly_chart(charts.voice_chart(f.times, loudness, f0, f.speech, wave=wave, frame_time=t), key="voice_chart")
    if wave is not None:
        at = int(max(0.0, (t or 0.0) - track.start))
        st.audio(wav_bytes(track), format="audio/wav", start_time=at)
        st.caption(f"The track over the frames' span, from {track.start:.2f} s (16 kHz mono); the player starts at "
                   f"the frame shown, to the whole second ({at} s in).")


def heard_only(video: uploads.Video) -> bool:
    """Whether the file is audio only (a file that cannot be opened is not: reading it says why)."""
    try:
        return audio_only(video.path)
    except EmojaxError:
        return False


st.title("Signals: the face and the pulse")
run = runs.current_run()
clips = state.teaching_clips()
video = uploads.current_video()
if video is None and clips:
    st.caption("No video chosen on the Predict page: showing a teaching clip.")
    video = uploads.Video(clips[0], clips[0].name)
if video is None:
    st.info("Choose or upload a video on the Predict page first.")
elif run is not None and heard_only(video):
    st.info(f"{video.name}: audio only: the file holds no video, so the face, its landmarks and the pulse are "
            "absent; its voice is below.")
    try:
        feats = voice.audio_features(video.path)
    except EmojaxError as e:
        st.error(video.message(e))
    else:
        voice_view(video, feats, None, None)
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
        shown = frame_view(video, feats, config.roi)
        pulse_view(feats)
        voice_view(video, feats, config.stream, shown)
