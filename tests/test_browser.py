"""The dashboard in a real browser: Debian's Chromium driven by Playwright. Starts the app,
uploads a CREMA-D clip, waits for the prediction and the rPPG chart, visits every page and
saves a screenshot of each under artifacts/screenshots/.

Skipped when Chromium or playwright is absent, unless EMOJAX_REQUIRE_BROWSER=1 (as in CI),
where their absence fails the test."""

from __future__ import annotations

import os
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
def chromium_ready():
    why = browser.missing()
    if why:
        if os.environ.get("EMOJAX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here (EMOJAX_REQUIRE_BROWSER=1) but {why}")
        pytest.skip(why)


def _no_exception(page, where: str) -> None:
    shown = page.locator("[data-testid='stException']")
    assert shown.count() == 0, f"{where}: {shown.first.inner_text()}"


def test_upload_predict_and_visit_every_page(chromium_ready, dashboard_artifacts):
    from emojax.inference import predict_video

    clip = shared("cremad") / "1001_DFA_ANG_XX.flv"
    expected = predict_video(clip, dashboard_artifacts / "runs" / "demo-improved")["label"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser.serve(dashboard_artifacts) as url, browser.chromium() as page:
        page.set_viewport_size({"width": 1400, "height": 1800})
        browser.upload_and_wait(page, url, clip)
        assert browser.shown_label(page) == expected          # what the library predicts for this file
        page.get_by_text("Class probabilities, per model", exact=True).wait_for(timeout=60_000)
        page.get_by_text("This video: each modality's share (%)", exact=True).wait_for(timeout=120_000)
        _no_exception(page, "Predict")
        assert page.locator(".js-plotly-plot").count() >= 2
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
            elif link == "Modality contributions":
                page.get_by_text("Face regions (drop in accuracy)", exact=True).wait_for(timeout=60_000)
            elif link == "Teaching demos":
                page.get_by_text("Mean green of the skin", exact=True).wait_for(timeout=120_000)
            page.wait_for_timeout(500)           # let the last figures draw
            _no_exception(page, link)
            name = link.lower().replace(" ", "-")
            page.screenshot(path=str(SHOTS / f"{name}.png"))
    for name in ["predict", *(link.lower().replace(" ", "-") for link in PAGES)]:
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, name
