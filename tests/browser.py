"""The dashboard served for real and driven in Debian's Chromium through Playwright (used by the
browser test and by ``benchmarks/dashboard.py``). Never ``playwright install``: the browser is
the system's ``/usr/bin/chromium``."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("EMOJAX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def missing() -> str | None:
    """Why a browser test cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is absent (Debian package `chromium`; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(artifacts: Path, *, env: dict | None = None, timeout: float = 90.0):
    """``streamlit run dashboard/app.py`` on 127.0.0.1 over ``artifacts``; yields its URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "EMOJAX_ARTIFACTS": str(artifacts), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the dashboard did not start:\n{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield url
    except BaseException:
        log.seek(0)
        sys.stderr.write(f"--- dashboard server log ---\n{log.read().decode(errors='replace')[-5000:]}\n")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def fake_camera_args(y4m: Path) -> list[str]:
    """Chromium flags that make ``y4m`` its camera (looped), allowed without asking, and let
    WebRTC offer this machine's own address (no mDNS name) so that a stream to 127.0.0.1 needs
    no ICE server."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", "--disable-features=WebRtcHideLocalIpsWithMdns"]


def fake_microphone_args(wav: Path) -> list[str]:
    """Chromium flags that make ``wav`` (16-bit PCM, looped) its microphone; with
    :func:`fake_camera_args`, which makes the fake devices and allows them."""
    return [f"--use-file-for-fake-audio-capture={wav}"]


def write_y4m(path: Path, frames_bgr, fps: int = 25) -> Path:
    """Frames (BGR, all one even size) as an uncompressed YUV4MPEG2 file, Chromium's fake camera format."""
    import cv2

    h, w = frames_bgr[0].shape[:2]
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for f in frames_bgr:
            fh.write(b"FRAME\n" + cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@contextlib.contextmanager
def chromium(args: list[str] | None = None, permissions: list[str] | None = None):
    """A Playwright page in headless Chromium with a fresh profile (``args``: more flags)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="emojax-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS + (args or []),
                                                   headless=True, viewport={"width": 1400, "height": 1000},
                                                   permissions=permissions or [])
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()


def upload_and_wait(page, url: str, video: Path, *, timeout_ms: float = 120_000) -> float:
    """Open the Predict page, upload ``video`` and wait until its prediction is shown; returns
    the seconds from the upload to the prediction on screen."""
    page.goto(url)
    page.get_by_text("Predict the emotion in a face video").wait_for(timeout=timeout_ms)
    page.locator("input[type=file]").wait_for(state="attached", timeout=timeout_ms)
    t0 = time.perf_counter()
    page.locator("input[type=file]").set_input_files(str(video))
    page.get_by_text("Prediction (early fusion)").wait_for(timeout=timeout_ms)
    return time.perf_counter() - t0


def shown_label(page) -> str:
    """The early-fusion label the Predict page shows."""
    metric = page.locator('[data-testid="stMetric"]', has_text="Prediction (early fusion)")
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


#: bytes of the server's message that draws the Predict page's prediction (in the protobuf as text)
PREDICTION_MARK = "Prediction (early fusion)".encode()


def visitors_at_once(context, url: str, videos: list[Path], *, timeout_ms: float = 300_000,
                     before=None) -> list[tuple[float, str, float | None]]:
    """One page (one session) per video, each on the Predict page, all uploads set within a
    moment of each other; returns, in the order of ``videos``, each page's seconds from its
    upload to its prediction on screen, the label shown, and the seconds from its upload to the
    server's message carrying the prediction reaching the browser (None if not seen): every page
    is looked at every 50 ms, so each time is its own. The second figure is what the server
    takes; the first adds the drawing of the page, here on the server's own cores. ``before()``
    is called once the pages are open, just before the uploads."""
    received: dict[int, float] = {}

    def watch(i: int):
        def frame(payload) -> None:
            if i not in received and isinstance(payload, (bytes, bytearray)) and PREDICTION_MARK in payload:
                received[i] = time.perf_counter()
        return lambda ws: ws.on("framereceived", frame)

    pages = [context.new_page() for _ in videos]
    for i, page in enumerate(pages):
        page.on("websocket", watch(i))
        page.goto(url)
    for page in pages:
        page.get_by_text("Predict the emotion in a face video").wait_for(timeout=timeout_ms)
        page.locator("input[type=file]").wait_for(state="attached", timeout=timeout_ms)
    if before is not None:
        before()
    received.clear()
    started = []
    for page, video in zip(pages, videos):
        started.append(time.perf_counter())
        page.locator("input[type=file]").set_input_files(str(video))
    seen: dict[int, float] = {}
    deadline = time.perf_counter() + timeout_ms / 1000
    while len(seen) < len(pages):
        for i, page in enumerate(pages):
            if i not in seen and page.get_by_text("Prediction (early fusion)").count():
                seen[i] = time.perf_counter() - started[i]
        if time.perf_counter() > deadline:
            raise TimeoutError(f"visitors {sorted(set(range(len(pages))) - set(seen))} saw no prediction "
                               f"within {timeout_ms / 1000:g} s")
        pages[0].wait_for_timeout(50)          # lets Playwright deliver the pages' events meanwhile
    out = [(seen[i], shown_label(page), received[i] - started[i] if i in received else None)
           for i, page in enumerate(pages)]
    for page in pages:
        page.close()
    return out
