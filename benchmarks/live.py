"""The Live page's stream, measured without a browser: a WebRTC sender (aiortc, in this process,
standing in for the visitor's browser) streams 640x480 real faces at 30 fps over 127.0.0.1 to a
receiver that processes them exactly as the page does (streamlit-webrtc's asynchronous
processing track around LiveSession.process) and sends them back drawn on. Reports the frames
processed per second, the frames dropped, and the latency from a frame's capture to its drawn
copy arriving back at the sender; against the same loopback with no processing (the floor).
Writes artifacts/benchmarks/live.json and prints a Markdown table for the README.

    .venv/bin/python benchmarks/live.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
W, H, BITS = 640, 480, 12
STRIP = slice(H - 28, H - 4)        # rows carrying the frame's number, 12 black/white blocks


def source_frames() -> list[np.ndarray]:
    """Real talking faces (four GRID speakers, 12 s), at 640x480."""
    from emojax.video import FrameReader

    g = SHARED / "grid"
    return [cv2.resize(f.bgr, (W, H)) for n in ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a") for f in FrameReader(g / f"{n}.mpg")]


def stamp(img: np.ndarray, n: int) -> np.ndarray:
    img = img.copy()
    for b in range(BITS):
        img[STRIP, b * 50 + 10:b * 50 + 50] = 255 if (n >> b) & 1 else 0
    return img


def read_stamp(img: np.ndarray) -> int:
    return sum(1 << b for b in range(BITS) if img[STRIP, b * 50 + 18:b * 50 + 42].mean() > 128)


def landmarks_drawn(img: np.ndarray) -> bool:
    """Magenta (the landmarks' colour) on the frame: it came back processed, with a face."""
    b, g, r = img[..., 0].astype(int), img[..., 1].astype(int), img[..., 2].astype(int)
    return int(((r > 180) & (g < 110) & (b > 180)).sum()) >= 20


async def stream(seconds: float, process: bool, visitors: int = 1) -> dict:
    """``visitors`` streams at once, each with its own sender, connection and session."""
    frames = source_frames()
    each = await asyncio.gather(*(visitor(frames, seconds, process) for _ in range(visitors)))
    if visitors == 1:
        return each[0]
    return {"visitors": each, "processed_fps_min": min(v["processed_fps"] for v in each),
            "dropped": sum(v["dropped"] for v in each), "frames_sent": sum(v["frames_sent"] for v in each),
            "latency_ms_median": float(np.median([v["latency_ms_median"] for v in each])),
            "latency_ms_p95": max(v["latency_ms_p95"] for v in each),
            "landmarks_share": min(v["landmarks_share"] for v in each)}


async def visitor(frames: list, seconds: float, process: bool) -> dict:
    from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack
    from streamlit_webrtc.models import CallbackAttachableProcessor
    from streamlit_webrtc.process import AsyncVideoProcessTrack

    from dashboard.live import LiveSession
    from emojax.features import Extractor

    sent: dict[int, float] = {}

    class Camera(VideoStreamTrack):
        n = 0

        async def recv(self):
            pts, base = await self.next_timestamp()      # paced at 30 fps
            img = stamp(frames[self.n % len(frames)], self.n % (1 << BITS))
            sent[self.n % (1 << BITS)] = time.perf_counter()
            self.n += 1
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts, f.time_base = pts, base
            return f

    session = LiveSession(Extractor()) if process else None
    config = RTCConfiguration(iceServers=[])
    browser, server = RTCPeerConnection(config), RTCPeerConnection(config)
    back: dict[int, tuple[float, bool]] = {}
    done = asyncio.Event()

    @server.on("track")
    def on_track(track):
        if process:
            proc = CallbackAttachableProcessor(None, session.process_queued, session.ended)
            server.addTrack(AsyncVideoProcessTrack(track, proc, stop_timeout=1.0))
        else:
            server.addTrack(track)            # the floor: sent straight back

    async def consume(track):
        while not done.is_set():
            try:
                f = await asyncio.wait_for(track.recv(), 5)
            except Exception:
                return
            img = f.to_ndarray(format="bgr24")
            n = read_stamp(img)
            if n in sent and n not in back:
                back[n] = (time.perf_counter() - sent[n], landmarks_drawn(img))

    @browser.on("track")
    def on_back(track):
        asyncio.ensure_future(consume(track))

    browser.addTrack(Camera())
    await browser.setLocalDescription(await browser.createOffer())
    await server.setRemoteDescription(browser.localDescription)
    await server.setLocalDescription(await server.createAnswer())
    await browser.setRemoteDescription(server.localDescription)
    while not back:
        await asyncio.sleep(0.05)
    warm = len(sent)
    back.clear()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    took = time.perf_counter() - t0
    done.set()
    offered = len(sent) - warm
    await browser.close()
    await server.close()
    lat = np.array([v[0] for v in back.values()]) * 1000
    out = {"seconds": took, "frames_sent": offered, "frames_back": len(back), "back_fps": len(back) / took,
           "latency_ms_median": float(np.median(lat)), "latency_ms_p95": float(np.percentile(lat, 95))}
    if process:
        drawn = sum(v[1] for v in back.values())
        out.update(processed=session.live.processed, dropped=session.live.skipped,
                   processed_fps=len(back) / took, landmarks_share=drawn / max(len(back), 1),
                   server_ms_per_frame=session.snapshot().latency_ms)
    return out


def main() -> None:
    from emojax.fileio import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    res = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(), "opencv": cv2.__version__},
           "stream": f"{W}x{H} at 30 fps, real faces (GRID), VP8 both ways over 127.0.0.1; the sender on the same cores"}
    res["floor"] = asyncio.run(stream(args.seconds, process=False))
    res["live"] = asyncio.run(stream(args.seconds, process=True))
    res["two_visitors"] = asyncio.run(stream(args.seconds, process=True, visitors=2))
    res["latency_ratio"] = res["live"]["latency_ms_median"] / res["floor"]["latency_ms_median"]
    res["targets"] = {"processed_fps": 25.0, "landmarks_share": 1.0}
    out = ROOT / "artifacts" / "benchmarks" / "live.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, res)
    print(json.dumps(res, indent=2))
    print(table(res))


def table(r: dict) -> str:
    f, v = r["floor"], r["live"]
    rows = [("the loopback alone (frames sent straight back)", f"{f['back_fps']:.1f} fps back",
             f"latency {f['latency_ms_median']:.0f} ms median, {f['latency_ms_p95']:.0f} ms p95", "1×"),
            ("the Live page's processing", f"**{v['processed_fps']:.1f} fps** processed (target ≥ 25), "
             f"{100 * v['landmarks_share']:.0f} % with landmarks, {v['dropped']} of {v['frames_sent']} dropped",
             f"latency {v['latency_ms_median']:.0f} ms median, {v['latency_ms_p95']:.0f} ms p95; "
             f"{v['server_ms_per_frame']:.1f} ms of processing a frame", f"{r['latency_ratio']:.2f}× latency")]
    if "two_visitors" in r:
        t = r["two_visitors"]
        rows.append(("two visitors streaming at once (each its own sender, on the same cores)",
                     f"{t['processed_fps_min']:.1f} fps processed for the slower, {100 * t['landmarks_share']:.0f} % with "
                     f"landmarks, {t['dropped']} of {t['frames_sent']} dropped",
                     f"latency {t['latency_ms_median']:.0f} ms median, {t['latency_ms_p95']:.0f} ms p95",
                     f"{t['latency_ms_median'] / f['latency_ms_median']:.2f}× latency"))
    return "\n".join(["| what | frames | capture → drawn back | ratio |", "|---|---|---|---|"]
                     + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows])


if __name__ == "__main__":
    main()
