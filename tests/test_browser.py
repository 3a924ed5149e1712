"""The dashboard in a real browser: Debian's Chromium driven by Playwright. Starts the app,
uploads a CREMA-D clip, waits for the prediction and the rPPG chart, visits every page and
saves a screenshot of each under artifacts/screenshots/.

Skipped when Chromium or playwright is absent, unless EMOJAX_REQUIRE_BROWSER=1 (as in CI),
where their absence fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import browser
from .conftest import shared

pytestmark = pytest.mark.timeout(900)
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
#: page link in the sidebar -> the heading it must show
PAGES = {"Signals": "Signals: the face and the pulse", "Train": "Train the four models",
         "Metrics explorer": "Metrics explorer", "Modality contributions": "Modality contributions",
         "Teaching demos": "Teaching demos"}


@pytest.fixture(scope="module")
def dashboard_url(chromium_ready, dashboard_artifacts, request):
    """One dashboard server for every browser test (each test opens its own browser, so its
    own Streamlit session): the server starts, and loads its models, once. When a test here
    failed, the server's log is shown at the end (``browser.serve`` prints it on an error)."""
    failed = request.session.testsfailed
    with browser.serve(dashboard_artifacts) as url:
        yield url
        if request.session.testsfailed > failed:
            raise RuntimeError("a browser test failed: the dashboard server's log is on stderr")


def _no_exception(page, where: str) -> None:
    shown = page.locator("[data-testid='stException']")
    assert shown.count() == 0, f"{where}: {shown.first.inner_text()}"


#: the metric tiles whose value the browser cuts short (wider than its box: shown ending in "…")
_CUT_VALUES = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
  .filter(e => [e, ...e.querySelectorAll('*')].some(x => x.scrollWidth > x.clientWidth + 1))
  .map(e => e.innerText)"""


def _looks_local(page, title: str) -> None:
    """A local tool's look: the page's own title in the tab, no Deploy button, no value cut short."""
    page.wait_for_function("t => document.title === t", arg=f"{title} · emojax", timeout=30_000)
    assert page.get_by_role("button", name="Deploy").count() == 0, title
    assert page.evaluate(_CUT_VALUES) == [], title


def test_upload_predict_and_visit_every_page(dashboard_url, dashboard_artifacts):
    from emojax.inference import predict_video

    clip = shared("cremad") / "1001_DFA_ANG_XX.flv"
    expected = predict_video(clip, dashboard_artifacts / "runs" / "demo-improved")["label"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = dashboard_url
    with browser.chromium() as page:
        page.set_viewport_size({"width": 1400, "height": 1800})
        browser.upload_and_wait(page, url, clip)
        assert browser.shown_label(page) == expected          # what the library predicts for this file
        page.get_by_text("Class probabilities, per model", exact=True).wait_for(timeout=60_000)
        page.get_by_text("This video: each modality's share (%)", exact=True).wait_for(timeout=120_000)
        _no_exception(page, "Predict")
        assert page.locator(".js-plotly-plot").count() >= 2
        _looks_local(page, "Predict")
        shown = page.get_by_text("Shown: run demo-improved").first.inner_text()   # the sidebar: which run, where
        assert str(dashboard_artifacts / "runs" / "demo-improved") in shown
        page.screenshot(path=str(SHOTS / "predict.png"))

        for link, heading in PAGES.items():
            page.get_by_role("link", name=link).first.click()
            page.get_by_role("heading", name=heading).wait_for(timeout=120_000)
            if link == "Signals":     # the uploaded clip's pulse, read from its skin
                page.get_by_text("68 landmarks").first.wait_for(timeout=120_000)
                page.get_by_text("rPPG: mean R, G, B of the skin (centred)", exact=True).wait_for(timeout=60_000)
                page.get_by_text("Spectrum of the pulse", exact=True).wait_for(timeout=60_000)
                assert page.get_by_text("1001_DFA_ANG_XX.flv").count() >= 1
            elif link == "Metrics explorer":
                page.get_by_text("Confusion matrix, Early fusion (rows: true)", exact=True).wait_for(timeout=60_000)
                with page.expect_download(timeout=120_000) as got:       # the run's report, written as the page opened
                    page.get_by_role("button", name="Download the run's report").click()
                report = Path(got.value.path()).read_text(encoding="utf-8")
                assert got.value.suggested_filename == "demo-improved-report.html"
                assert report.startswith("<!DOCTYPE html>") and "<title>emojax report: demo-improved</title>" in report
            elif link == "Modality contributions":
                page.get_by_text("Face regions (drop in accuracy)", exact=True).wait_for(timeout=60_000)
            elif link == "Teaching demos":
                page.get_by_text("Mean green of the skin", exact=True).wait_for(timeout=120_000)
            page.wait_for_timeout(500)           # let the last figures draw
            _no_exception(page, link)
            _looks_local(page, link)
            name = link.lower().replace(" ", "-")
            page.screenshot(path=str(SHOTS / f"{name}.png"))
    for name in ["predict", *(link.lower().replace(" ", "-") for link in PAGES)]:
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, name


def _section(page, title: str):
    """The Train form's folded section ``title``, opened."""
    section = page.locator("[data-testid='stExpander']", has_text=title)
    if section.locator("details").get_attribute("open") is None:
        section.locator("summary").click()
    return section


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box (or multiselect) labelled ``label``."""
    from playwright.sync_api import TimeoutError as Timeout

    box, choice = page.get_by_role("combobox", name=label, exact=True), page.get_by_role("option", name=option,
                                                                                         exact=True)
    box.click()
    try:
        choice.wait_for(timeout=3_000)
    except Timeout:                            # the click left its list closed: open it from the keyboard
        box.press("ArrowDown")
    choice.click()
    page.keyboard.press("Escape")              # a multiselect's list stays open after a pick


def _tick(page, label: str) -> None:
    """Tick the checkbox labelled ``label`` by clicking its label, and click again until the page
    shows it ticked: once on CI such a click was not taken, and the run launched without
    ``--refit`` (the command line's check below caught it)."""
    from playwright.sync_api import expect

    box = page.get_by_role("checkbox", name=label, exact=True)
    for _ in range(3):
        if not box.is_checked():
            page.get_by_text(label, exact=True).click()
        try:
            expect(box).to_be_checked(timeout=10_000)
            return
        except AssertionError:
            continue
    expect(box).to_be_checked(timeout=1)


#: the app root's script state (Streamlit sets ``data-test-script-state`` on it)
_STATE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"


def _watch_reruns(page) -> None:
    """From now on, note when the page starts running its script (before a change that reruns
    it: the server may take longer than any fixed wait to say it runs)."""
    page.evaluate("""() => {
      window.__ran = false;
      window.__since = performance.now();
      const app = document.querySelector('[data-testid="stApp"]');
      new MutationObserver(() => { if (app.getAttribute('data-test-script-state') !== 'notRunning')
                                     window.__ran = true; })
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    }""")


def _settled(page) -> None:
    """Wait until the rerun noted since :func:`_watch_reruns` has run and finished (or, should
    the page never be seen running, 10 s have passed with it not running)."""
    page.wait_for_function(f"() => (window.__ran || performance.now() - window.__since > 10000) && {_STATE} "
                           "=== 'notRunning'", timeout=60_000)


def _field(page, label: str, value: str) -> None:
    """Type ``value`` into the field labelled ``label`` and leave it (committing it)."""
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def test_train_page_refuses_in_the_commands_words_then_launches_the_new_options_and_cancels(dashboard_url,
                                                                                          dashboard_artifacts,
                                                                                          tmp_path):
    """The Train page in a browser: the name follows the dataset chosen; the new options (seeds,
    a final model, folds, modalities, processes, MLflow) set in their sections; a tracking URI
    that is none, then the CLI's 5 folds on the teaching set's 4 speakers, refused on the page in
    the command's words with where to change them; then one run launched, whose command line
    (shown, and as launched) carries them, cancelled at once and removed."""
    import json
    import shutil
    import time

    from playwright.sync_api import expect

    from dashboard.train_form import DATASETS, LABELS
    from emojax.features.modalities import TITLES
    from emojax.training import jobs

    name = "browser-train"
    run = dashboard_artifacts / "runs" / name
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    t0 = time.perf_counter()
    with browser.chromium() as page:
        try:
            page.set_viewport_size({"width": 1400, "height": 2400})
            page.goto(f"{dashboard_url}/train", timeout=120_000)
            page.get_by_role("heading", name="Train the four models").wait_for(timeout=120_000)
            out, root = (page.get_by_label(LABELS[d], exact=True) for d in ("out", "root"))
            expect(out).to_have_value("teaching-improved", timeout=30_000)
            _choose(page, LABELS["dataset"], DATASETS["folder"])        # the name and root follow the dataset
            expect(out).to_have_value("folder-improved", timeout=30_000)
            expect(root).to_have_value("")
            _choose(page, LABELS["dataset"], DATASETS["teaching"])
            expect(out).to_have_value("teaching-improved", timeout=30_000)
            expect(root).to_have_value(str(dashboard_artifacts.resolve() / "teaching"))
            _watch_reruns(page)
            _field(page, LABELS["out"], name)
            _settled(page)                               # the name is outside the form: it reruns the page
            _choose(page, LABELS["modalities"], TITLES["rppg"])
            _choose(page, LABELS["modalities"], TITLES["face"])
            _section(page, "Training: frames, seeds")
            _field(page, LABELS["seeds"], "2")
            _tick(page, LABELS["refit"])
            _section(page, "Where the videos are read")
            _choose(page, LABELS["engine"], "this machine")
            _field(page, LABELS["workers"], "1")
            tracking = _section(page, "Tracking: MLflow")
            _tick(page, LABELS["track"])
            tracking.get_by_role("textbox").fill("runs/here")
            start = page.get_by_role("button", name="Start training")
            start.click()                            # a folder taken for the URI: refused before anything runs
            page.get_by_text("--track runs/here: not a tracking URI").wait_for(timeout=60_000)
            page.get_by_text(f"On this page: --track: {LABELS['track']}, under Tracking: MLflow").wait_for()
            tracking.get_by_role("textbox").fill(db)
            start.click()                            # the CLI's 5 folds on 4 speakers: refused in its words
            page.get_by_text("kfold with k=5 needs at least 5 speakers; the dataset has 4 (use --folds 4 or "
                             "--protocol speaker)").wait_for(timeout=60_000)
            page.get_by_text(f"--folds: {LABELS['folds']}, under Protocol").wait_for()
            _no_exception(page, "Train, refused")
            assert not run.exists()
            _section(page, "Protocol: folds and speakers")
            _field(page, LABELS["folds"], "4")
            start.click()
            page.get_by_text(f"Training {name} on 48 videos in the background").wait_for(timeout=60_000)
            shown = page.locator("[data-testid='stCode']").first.inner_text()
            launched = json.loads((run / "train.launch.json").read_text())["argv"]      # as jobs.launch ran it
            for flag in ("--seeds=2", "--refit", "--folds=4", "--modalities=rppg,face", "--engine=local",
                         "--workers=1", f"--track={db}", f"--out={run.resolve()}"):
                assert flag in shown and flag in launched, (flag, shown, launched)
            page.get_by_role("button", name="Cancel").click()     # at once: it may still be starting
            page.get_by_text(f"{name} was interrupted").wait_for(timeout=30_000)
            # (read from here, not the server that launched it: a run stopped before it wrote its progress reads
            # as stopped)
            assert jobs.status(run)["state"] in ("interrupted", "stopped"), jobs.status(run)
            _no_exception(page, "Train, cancelled")
        finally:
            if run.exists():
                jobs.cancel(run)
                shutil.rmtree(run)       # the shared artifacts hold no half run for the tests after
    print(f"the Train page's launch and cancel in the browser: {time.perf_counter() - t0:.1f} s")


#: pixels of the colour the landmarks are drawn in (emojax.features.drawing.draw: magenta)
_COUNT_MAGENTA = """(video) => {
  const c = document.createElement('canvas');
  c.width = video.videoWidth; c.height = video.videoHeight;
  if (!c.width) return -1;
  const g = c.getContext('2d');
  g.drawImage(video, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 110 && d[i + 2] > 180) n++;
  return n;
}"""

#: a pulse chart shown with a line drawn in it (the rolling part re-runs every second: a hidden
#: copy of a chart may linger beside the shown one)
_PULSE_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].some(p =>
  p.getClientRects().length > 0 && p.textContent.includes('rPPG pulse signal (PBV, band-passed)') &&
  [...p.querySelectorAll('path.js-line')].some(l => (l.getAttribute('d') || '').length > 20))"""


def test_live_page_streams_a_camera_and_shows_landmarks_pulse_and_emotion(dashboard_url, dashboard_artifacts,
                                                                            tmp_path):
    """Chromium's fake camera plays real faces (GRID speakers, 640x480 at 25 fps) and its fake
    microphone their voices (the same clips' sound); the Live page, once START is pressed,
    returns the video with the landmarks drawn on it, and shows the pulse and the run's class
    probabilities, all within 20 s; then the voice (speech share, loudness, F0) and, the run
    reading the voice, each window's three-way modality shares."""
    import re
    import time

    import cv2
    import numpy as np

    from emojax.video import FrameReader, read_audio, wav_bytes
    from emojax.video.audio import AudioTrack

    grid = shared("grid")
    names = ("bbaf2n", "brbk7n")
    frames = [cv2.resize(f.bgr, (640, 480)) for n in names for f in FrameReader(grid / f"{n}.mpg")]
    magenta = sum(int(((f[..., 2] > 180) & (f[..., 1] < 110) & (f[..., 0] > 180)).sum()) for f in frames)
    assert magenta == 0            # the clip itself has no landmark-coloured pixel
    camera = browser.write_y4m(tmp_path / "camera.y4m", frames)
    sound = np.concatenate([read_audio(grid / f"{n}.mpg").samples for n in names])
    microphone = tmp_path / "microphone.wav"
    microphone.write_bytes(wav_bytes(AudioTrack(str(microphone), sound)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = dashboard_url
    with browser.chromium(browser.fake_camera_args(camera) + browser.fake_microphone_args(microphone),
                          permissions=["camera", "microphone"]) as page:
        page.set_viewport_size({"width": 1400, "height": 1800})
        page.goto(f"{url}/live")
        page.get_by_role("heading", name="Live: your camera, as it happens").wait_for(timeout=120_000)
        start = page.frame_locator("iframe").first.get_by_role("button", name="START")
        start.wait_for(timeout=60_000)
        assert not page.evaluate(_PULSE_DRAWN)          # no pulse before the camera
        t0 = time.perf_counter()
        start.click()
        video = page.frame_locator("iframe").first.locator("video").first
        drawn = -1
        while time.perf_counter() - t0 < 20 and drawn < 20:
            drawn = video.evaluate(_COUNT_MAGENTA) if video.count() else -1
            page.wait_for_timeout(250)
        landmarks_s = time.perf_counter() - t0
        assert drawn >= 20, f"no landmarks drawn on the returned video within 20 s ({drawn} landmark pixels)"
        left = max(20 - (time.perf_counter() - t0), 0.5) * 1000
        # the pulse chart is there, empty, before START: it must be shown with a line drawn in it
        page.wait_for_function(_PULSE_DRAWN, timeout=left)
        pulse_s = time.perf_counter() - t0
        left = max(20 - (time.perf_counter() - t0), 0.5) * 1000
        page.get_by_text("Class probabilities, per model", exact=True).filter(visible=True).first.wait_for(timeout=left)
        everything_s = time.perf_counter() - t0
        label = page.locator('[data-testid="stMetric"]', has_text="Emotion (early fusion)")
        assert label.locator('[data-testid="stMetricValue"]').inner_text().strip() in json_classes(dashboard_artifacts)
        assert page.locator('[data-testid="stMetric"]', has_text="Face").first.inner_text().count("found") == 1
        # the microphone: its voice, and the run (which reads the voice) predicting from all three
        speech = page.locator('[data-testid="stMetric"]', has_text="Speech").filter(visible=True).first
        speech.wait_for(timeout=60_000)
        assert re.fullmatch(r"\d+ %", speech.locator('[data-testid="stMetricValue"]').inner_text().strip())
        f0 = page.locator('[data-testid="stMetric"]', has_text="F0").filter(visible=True).first
        assert f0.locator('[data-testid="stMetricValue"]').inner_text().strip().endswith("Hz"), f0.inner_text()
        page.get_by_text(re.compile(r"This window read: [a-z, ]*voice \(voice (present|partial)")).filter(
            visible=True).first.wait_for(timeout=60_000)
        shares = page.locator(".js-plotly-plot", has_text="This window: each modality's share").filter(visible=True)
        shares.first.wait_for(timeout=60_000)
        assert "voice" in shares.first.locator("text.legendtext").all_text_contents()
        page.wait_for_timeout(2500)           # a second emotion window, the history chart
        _no_exception(page, "Live")
        page.screenshot(path=str(SHOTS / "live.png"))
        print(f"landmarks drawn after {landmarks_s:.1f} s, the pulse after {pulse_s:.1f} s, "
              f"the emotion after {everything_s:.1f} s")

        # recorded, the stream becomes the visitor's video, as an upload would
        page.locator("label", has_text="Record").first.click()
        page.wait_for_timeout(3000)
        page.locator("label", has_text="Record").first.click()
        page.get_by_text("it is now your video on the Predict and Signals pages").wait_for(timeout=60_000)
        page.get_by_role("link", name="Predict").first.click()
        page.get_by_text("Prediction (early fusion)").wait_for(timeout=120_000)
        assert page.get_by_text("live-recording-").count() >= 1
        _no_exception(page, "Predict after recording")
    assert (SHOTS / "live.png").stat().st_size > 10_000
    assert np.isfinite(everything_s)


def json_classes(artifacts: Path) -> list[str]:
    import json

    return [str(c) for c in json.loads((artifacts / "runs" / "demo-improved" / "model.json").read_text())["classes"]]
