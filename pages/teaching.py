"""Teaching demos: the pulse in the colour of the skin, the emotion in the voice, why fuse, and what
permutation importance means — each step computed live, with its code shown (``st.echo``)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, resources, runs, state
from emojax.errors import RunFileError
from emojax.features import ExtractorConfig, heart, rppg
from emojax.models import TITLES
from emojax.video import wav_bytes

#: where ``benchmarks/voice_info.py`` writes how much the teaching set's voice alone tells per voice-info
VOICE_INFO_RESULTS = Path(__file__).resolve().parents[1] / "artifacts" / "benchmarks" / "voice_info.json"


def pulse_demo() -> None:
    clips = state.teaching_clips()
    if not clips:
        st.info(f"No teaching clip in {state.teaching_dir()}; `make run` writes them.")
        return
    clip = st.selectbox("A teaching clip", clips, format_func=lambda p: p.name, key="teach_clip")
    truth = json.loads(clip.with_suffix(".json").read_text())
    with st.spinner("Reading the face…"):
        f = resources.extract(clip, ExtractorConfig(roi="skin"))
    st.markdown("**1. The colour of the skin.** Each frame, the mean colour of the forehead and cheeks "
                "(found from the 68 landmarks). Blood absorbs green light, so each heartbeat darkens the "
                "green a little.")
    with st.echo():
        green = f.rgb[:, 1]                          # mean green of the skin, one value per frame
    st.plotly_chart(charts.signal_chart(f.times, green, "Mean green of the skin", colour="#2ca02c"), key="teach_green")
    st.markdown("**2. Band-pass.** Keep only what changes as fast as a heart can beat: 0.7–4 Hz, 42–240 bpm.")
    with st.echo():
        relative = green / np.nanmean(green) - 1.0   # changes relative to the mean colour
        filtered = rppg.bandpass(rppg.fill_gaps(relative), f.fps, low=0.7, high=4.0)
    st.plotly_chart(charts.signal_chart(f.times, filtered, "Green, band-passed", colour="#d62728"), key="teach_bandpass")
    st.markdown("**3. The spectrum.** The strongest frequency in the band is the heart rate.")
    with st.echo():
        freqs, power = heart.spectrum(filtered, f.fps)
        bpm, snr_db = heart.heart_rate(filtered, f.fps)
    st.plotly_chart(charts.spectrum_chart(freqs, power, bpm), key="teach_spectrum")
    c1, c2, c3 = st.columns(3)
    c1.metric("Heart rate from the video", f"{bpm:.0f} bpm" if np.isfinite(bpm) else "—")
    c2.metric("Planted heart rate (truth)", f"{truth['hr_bpm']:.0f} bpm")
    c3.metric("Blind SNR", f"{snr_db:.1f} dB" if np.isfinite(snr_db) else "—",
              help="Power at the rate found and its harmonic over the rest of the band, centred on the spectrum's own "
                   "peak. Whether a rate is reliable rests on how much it stands out from every other rate.")
    st.caption("emojax does not rely on the green channel alone: PBV combines R, G and B of six skin patches so "
               "that the blood's colour signature passes and what differs between colours or patches (light, "
               "motion, compression) cancels; the heart rate is then the spectral peak whose harmonics agree, "
               "so a slow pulse is not read at twice its rate.")


@st.cache_data(max_entries=32, show_spinner="Synthesising the voices and reading them…")
def voices_of(labels: tuple, voice_info: float, actor: int):
    from emojax.data.teaching import class_voices

    return class_voices(labels, voice_info, actor=actor)


def voice_demo() -> None:
    from emojax.data.teaching import TEACHING_CLASSES, VOICE_INFO, TeachingConfig

    st.markdown("Each class of the teaching set moves its actor's voice its own way: happy higher, angry louder, "
                "sad lower and slower, calm softer and breathier. **voice-info** says how far: at 0 every class "
                "speaks alike, at 1 each moves the whole of its planted shift. Listen to two classes spoken by the "
                "same actor, then see what openSMILE reads from them (what the voice model reads).")
    classes = list(TEACHING_CLASSES)
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
    first = c1.selectbox("A class", classes, index=0, key="hear_first")
    second = c2.selectbox("Another class", classes, index=len(classes) - 1, key="hear_second")
    info = c3.slider("voice-info", 0.0, 1.0, VOICE_INFO, 0.05, key="hear_info",
                     help="How far each class moves its actor's voice (`emojax make-teaching-set --voice-info`).")
    actor = c4.selectbox("Actor", list(range(TeachingConfig().groups)), key="hear_actor")
    if first == second:
        st.info("Choose two different classes.")
        return
    voices = voices_of((first, second), info, actor)
    for col, v in zip(st.columns(2), voices):
        col.markdown(f"**{v.label}**")
        col.audio(wav_bytes(v.track), format="audio/wav")
    st.plotly_chart(charts.voices_compared_chart(
        {v.label: (v.times, v.f0_hz) for v in voices}, "F0 as openSMILE reads it (dotted: as planted)",
        yaxis_title="Hz", planted={v.label: (v.voice.f0_times, v.voice.f0) for v in voices}), key="hear_f0")
    st.plotly_chart(charts.voices_compared_chart(
        {v.label: (v.times, v.loudness) for v in voices}, "Loudness as openSMILE reads it",
        yaxis_title="loudness"), key="hear_loudness")
    rows = {}
    for v in voices:
        planted, read = v.voice.truth(), v.summary()
        rows[v.label] = {"F0 planted (Hz)": planted["f0_hz"], "F0 read (Hz)": read["f0_mean_hz"],
                         "level planted (dB)": planted["level_db"], "loudness read": read["loudness"],
                         "HNR planted (dB)": planted["hnr_db"], "HNR read (dB)": read["hnr_db"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    st.dataframe(table, column_config={c: st.column_config.NumberColumn(format="%.2f") for c in table})
    st.caption("Planted: what the synthesiser was told (mean F0 over the vowels; level in dB of the vowels' RMS; "
               "harmonics-to-noise ratio). Read: openSMILE's eGeMAPS descriptors averaged per video frame over "
               "the frames holding speech, as a feature record holds them (its loudness is perceived loudness, "
               "not dB; its HNR, from the autocorrelation, counts jitter and shimmer as noise too, so it reads "
               "lower than the planted mix and moves with it). Both classes draw the same "
               "clip-to-clip variation, so they differ by their classes alone; in the teaching set each clip "
               "also varies around its class.")
    voice_info_results(info, len(classes))


def voice_info_results(info: float, n_classes: int) -> None:
    st.markdown("**How much the voice alone tells, as voice-info rises.**")
    if not VOICE_INFO_RESULTS.is_file():
        st.info("No results yet: `python benchmarks/voice_info.py` writes them to "
                "`artifacts/benchmarks/voice_info.json` (17 minutes on two cores).")
        return
    try:
        results = json.loads(VOICE_INFO_RESULTS.read_text())
        uar, chosen, features = results["uar"], results["chosen"], ", ".join(results["features"])
        size = f"{results['clips_per_class']} clips a class of {results['seconds']:g} s, {results['actors']} actors"
    except (ValueError, KeyError, TypeError) as e:
        st.warning(f"`artifacts/benchmarks/voice_info.json` cannot be read ({type(e).__name__}: {e}); "
                   "`python benchmarks/voice_info.py` writes it again.")
        return
    st.plotly_chart(charts.voice_info_chart(uar, chance=1 / n_classes, at=info,
                                            title="Voice-only UAR of a teaching set, per voice-info"), key="hear_uar")
    st.caption(f"From `artifacts/benchmarks/voice_info.json`, written by `benchmarks/voice_info.py`: the voices of "
               f"a teaching set ({size}, audio only), each clip summarised by {features} "
               f"(openSMILE), normalised per actor and classified by a logistic regression, leave one actor out. "
               f"UAR: the mean of the classes' recalls. A simple proxy for how much the voice says, not a trained "
               f"run's permutation importance. The default voice-info, {chosen:g}, was chosen from it "
               f"(README, \"The teaching set\").")


def fusion_demo(run) -> None:
    try:
        metrics = resources.run_json(run, "metrics.json")
    except RunFileError as e:
        st.error(state.shown(e))
        return
    st.markdown("The teaching set plants its classes in two places: the **pulse** says how aroused an actor is "
                "(fast for angry and happy, slow for calm and sad), the **face** says whether the feeling is "
                "pleasant (happy and calm smile). Neither alone separates all four; together they can.")
    st.plotly_chart(charts.model_scores_chart(metrics["summary"], "accuracy", title=f"{run.name}: accuracy per model"),
                    key="fuse_scores")
    classes = metrics["classes"]
    recall = {TITLES[m]: {c: metrics["pooled"][m]["per_class"][c]["recall"] for c in classes}
              for m in metrics["pooled"]}
    st.plotly_chart(charts.class_heatmap_chart(list(recall), classes, [list(r.values()) for r in recall.values()],
                                               title="Recall of each class, per model"), key="fuse_recall")
    st.caption("A unimodal model confuses the pairs its modality cannot tell apart; fusion does not have to.")


def pfi_demo(run) -> None:
    from emojax.explain.importance import FUSED, VIDEO_GROUPINGS
    from emojax.explain.pfi import permuted_predictions

    data, why = resources.run_data(run)
    if data is None:
        st.info(f"This demo needs the run's data: {why}")
        return
    st.markdown("Shuffle one block of the inputs **between videos** (each video gets another video's pulse, "
                "say), keep everything else, and score again. If accuracy falls, the model relied on that "
                "block; if not, it did not. The average drop over shuffles is the permutation importance.")
    c1, c2, c3 = st.columns(3)
    names = data.trained.model_names                  # the run's models (models.model_names of its modalities)
    model = c1.selectbox("Model", [*(m for m in FUSED if m in names), *(m for m in names if m not in FUSED)],
                         format_func=TITLES.get,
                         key="pfi_model")
    # the coarse groupings (those one video is explained by), time in 5 windows
    grouping = c2.selectbox("Blocks", [f"{g}:5" if g == "time" else g for g in VIDEO_GROUPINGS], key="pfi_grouping")
    seed = c3.number_input("Shuffle number (seed)", 0, 10_000, 0, key="pfi_seed")
    clf, X, y = data.fold(0, model)
    with st.echo():
        r = permuted_predictions(clf, X, y, groups=grouping, n_repeats=1, random_state=seed)
        accuracy = r.scores[:, 0]                    # one shuffle of each block
        drop = r.baseline - accuracy                 # its permutation importance (one repeat)
    st.plotly_chart(charts.score_drop_chart(r.names, accuracy, r.baseline,
                                            f"{TITLES[model]}, fold 1 ({len(y)} held-out videos): each block shuffled"),
                    key="pfi_chart")
    st.caption("Change the shuffle number to draw another permutation: the drops move a little, the ranking "
               "of blocks much less. `emojax explain` averages many shuffles over every fold.")


st.title("Teaching demos")
tab1, tab_voice, tab2, tab3 = st.tabs(["Your pulse in the colour of your skin", "Hear the emotion", "Why fuse",
                                       "What permutation importance means"])
with tab1:
    pulse_demo()
with tab_voice:
    voice_demo()
run = runs.current_run()
if run is not None:
    with tab2:
        fusion_demo(run)
    with tab3:
        pfi_demo(run)
