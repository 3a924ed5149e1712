"""Live: the visitor's camera and microphone streamed to the server; the face box, landmarks and skin
drawn back on the video; the pulse, heart rate, the voice (loudness, F0, speech share), and the
chosen run's emotion and modality shares as they happen."""

import json
import os
import time

import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard import charts, resources, runs, state, uploads
from dashboard.live import PULSE_S, VOICE_EVERY_S, VOICE_S, LiveSession
from emojax.errors import EmojaxError
from emojax.features import Extractor, ExtractorConfig, heart, vitals

def ice_servers() -> list:
    """ICE servers for the browser and the server: none by default (the camera's stream goes
    straight to this machine, as on 127.0.0.1 or a LAN); ``EMOJAX_ICE_SERVERS`` (JSON, e.g.
    ``[{"urls": ["stun:stun.example.org:3478"]}]``) adds some for a server reached across NATs."""
    try:
        return json.loads(os.environ.get("EMOJAX_ICE_SERVERS", "[]"))
    except json.JSONDecodeError:
        st.warning("EMOJAX_ICE_SERVERS is not JSON; no ICE server is used.")
        return []


def session_for(config: ExtractorConfig) -> LiveSession:
    """This visitor's live session: a new one when there is none, it ended, or the run's
    extractor settings changed."""
    s = st.session_state.get("live_session")
    if s is None or s.closed or s.live.extractor.config != config:
        if s is not None:
            s.close()
        s = LiveSession(Extractor(config, predictor=resources.landmark_predictor()))
        st.session_state["live_session"] = s
    return s


def record_control(session: LiveSession) -> None:
    on = st.toggle("Record", key="live_record", help="Write what the camera and the microphone send to a video of "
                   "yours (at most 2 minutes, the sound with the picture), ready for the Predict and Signals pages. "
                   "Nothing is written unless this is on.")
    if on and not session.recording and not session.closed:
        session.start_recording(uploads.private_file(".mp4"))
    elif not on and session.recording:
        done = session.stop_recording()
        if done is not None:
            path, frames = done
            uploads.keep_made(path, f"live-recording-{time.strftime('%H%M%S')}.mp4")
            st.success(f"Recorded {frames} frames" + (" with their sound" if session.has_audio else " (no sound: no "
                       "microphone)") + ": it is now your video on the Predict and Signals pages.")


@st.fragment(run_every=1.0)
def rolling(session: LiveSession, run) -> None:
    snap = session.snapshot()
    if not snap.processed:
        st.caption("Press START and allow the camera: the pulse, heart rate and emotion appear here.")
        # the chart, empty, is drawn before the first frame: the browser loads its plotting code while
        # the visitor reads the page, not in the first seconds of the stream, when the video takes it all
        st.plotly_chart(charts.pulse_chart(np.zeros(0), np.zeros(0), np.zeros(0, bool), vitals.DEFAULT_METHOD),
                        key="live_pulse")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Face", "found" if snap.face else "lost")
    hr = snap.heart
    if hr is None or hr["bpm"] is None:
        c2.metric("Heart rate", "no reliable pulse yet",
                  help=(hr or {}).get("error") or f"A rate is given once {vitals.MIN_RELIABLE_S:.0f} s of face carry a "
                  f"pulse whose rate stands out from any other by {heart.RELIABLE_MARGIN_DB[vitals.DEFAULT_METHOD]:.2f} dB.")
    else:
        c2.metric("Heart rate", f"{hr['bpm']:.0f} bpm", "stands out from any other rate" if hr["margin"] is None
                  else f"stands out by {hr['margin']:.1f} dB", delta_color="off")
    c3.metric("Processed", f"{snap.processing_fps:.0f} fps", f"{snap.skipped} frames dropped", delta_color="off",
              help="Frames the server processed per second. When it cannot keep up it drops frames rather than "
                   "falling behind" + (f"; each takes {snap.latency_ms:.0f} ms here." if snap.latency_ms else "."))
    if len(snap.pulse) > 1:
        st.plotly_chart(charts.pulse_chart(snap.times, snap.pulse, snap.face_found, vitals.DEFAULT_METHOD),
                        key="live_pulse")
        st.caption(f"The last {PULSE_S:.0f} s of pulse from the skin patches' colour.")
    voice_metrics(session.voice())
    if run is not None:
        emotion(session, run)


def voice_metrics(v: dict | None) -> None:
    """The last seconds of the microphone: speech share, loudness, F0 (what a file's voice shows)."""
    if v is None:
        return
    if v["status"] == "absent":
        st.caption(f"Voice: {v['said'][len('voice '):]}. Allow the microphone (and keep it on above) for the voice.")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Speech", f"{100 * v['speech_share']:.0f} %", f"of the last {VOICE_S:.0f} s", delta_color="off",
              help="Frames whose mean loudness reaches the speech floor (the voice's mask, as for files).")
    c2.metric("Loudness", "-" if v["loudness"] is None else f"{v['loudness']:.2f}", "over speech", delta_color="off",
              help="openSMILE's psychoacoustic loudness (eGeMAPS), averaged over the speech frames.")
    c3.metric("F0", "no voiced speech" if v["f0_mean_hz"] is None else f"{v['f0_mean_hz']:.0f} Hz",
              None if v["f0_range_hz"] is None else f"{v['f0_range_hz'][0]:.0f}-{v['f0_range_hz'][1]:.0f} Hz",
              delta_color="off", help="The voice's fundamental frequency over voiced speech (5th-95th percentile).")
    st.caption(f"{v['said'].capitalize()}. eGeMAPS descriptors of the last {VOICE_S:.0f} s of your microphone, "
               f"read again every {VOICE_EVERY_S:.0f} s by the code that reads a file's voice.")


def emotion(session: LiveSession, run) -> None:
    """The run's emotion, read every few seconds on the session's own thread; a library error is
    shown here (never a traceback each second)."""
    if session.loaded != str(run):
        st.caption(f"Emotion: loading {run.name} (its models compile once).")
        return
    if session.emotion_error is not None:
        e = session.emotion_error
        st.error(f"No emotion from {run.name}: " + (state.shown(e) if isinstance(e, EmojaxError)
                                                    else f"{type(e).__name__}: {state.shown(e)}"))
        return
    if not session.history:
        st.caption("Emotion: waiting for enough face in the window.")
        return
    e = session.history[-1]
    st.metric("Emotion (early fusion)", e["label"], f"window of {e['frames']} frames", delta_color="off")
    if e.get("modalities") is not None:
        st.caption("This window read: " + ", ".join(e["modalities"]) + f" ({e['voice']}).")
    st.plotly_chart(charts.probabilities_chart({m: {"proba": p} for m, p in e["proba"].items()}, e["classes"]),
                    key="live_proba")
    if e["shares"]:
        st.plotly_chart(charts.modality_shares_chart(e["shares"], title="This window: each modality's share (%)"),
                        key="live_shares")
    if len(session.history) > 1:
        st.plotly_chart(charts.emotion_history_chart(session.history, e["classes"]), key="live_history")
    if e["speaker_relative"]:
        st.caption("This run takes the landmarks relative to the speaker's mean shape. Here that is the window's "
                   "own (the stream as one speaker's only video, as `emojax predict --same-speaker` with one "
                   "video); its cross-validation took each test speaker's mean over all their videos, so a held "
                   "expression counts for less here than in its metrics.")


st.title("Live: your camera, as it happens")
st.caption("Your camera's frames go to this server (never to anyone else) and come back with the face box, the 68 "
           "landmarks and the skin patches drawn on them; your microphone's sound, when on, gives the voice (you "
           "hear nothing back). Nothing is stored unless you press Record.")
run = runs.current_run()
config = resources.run_extractor(run) if run is not None else ExtractorConfig()
if run is None:
    st.caption("Without a run, the landmarks and the pulse still work; choose a run for the emotion.")
session = session_for(config)
if run is not None:
    session.follow(str(run), lambda: resources.trained_run(run), lambda: resources.run_data(run)[0])
else:
    session.follow(None)
microphone = st.toggle("Microphone", value=True, key="live_microphone",
                       help="Ask for the microphone beside the camera, for the voice. A browser asked for both "
                            "gives neither when the microphone is refused or missing: turn this off, then START, to "
                            "stream the camera alone.")
ctx = webrtc_streamer(key="live", mode=WebRtcMode.SENDRECV, rtc_configuration={"iceServers": ice_servers()},
                      media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": microphone},
                      queued_video_frames_callback=session.process_queued, on_video_ended=session.ended,
                      queued_audio_frames_callback=session.process_audio_queued if microphone else None,
                      async_processing=True)
if ctx.state.playing:
    record_control(session)
elif session.recording:
    record_control(session)
rolling(session, run)
