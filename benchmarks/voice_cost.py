"""What the voice adds to extraction, for benchmarks/extract.py: on the real clips of
../shared/data that carry an audio track (GRID's MP2 in MPEG-PS, CREMA-D's MP3 in FLV), in one
run, by wall time and by CPU time, each the best of a few interleaved repeats:

- the voice read alone (``read_voice`` on the clip's record: decode the track, down-mix and
  resample to 16 kHz, openSMILE's eGeMAPS descriptors, aligned to the frames) per second of
  media, and as a share of the whole extraction of the same clip (face, colour for the pulse,
  voice: what ``Extractor()(clip)`` stores);
- where the voice's time goes: decoding alone, the rest of reading the track (resampling,
  placing it on the timeline), openSMILE (and the part of it every call pays whatever the
  length: the same call on a 0.1 s signal), aligning;
- the whole extraction of the clip copied packet for packet (no re-encoding) into its own container format
  with its audio track and without it (the same video packets both times);
- peak memory (VmHWM) of a fresh process extracting one clip with and without its track, and of
  one reading the voice alone of that clip and of the clip looped to ten minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
#: interleaved repeats of every timing (the best is kept: the shared cores only ever add time)
REPEATS = 3
#: the long file for the voice's memory: the first GRID clip looped to this many seconds
LONG_S = 600.0


def clips() -> list[Path]:
    """The real clips with an audio track."""
    out = []
    for p in sorted((SHARED / "grid").glob("*.mpg")) + sorted((SHARED / "cremad").glob("*.flv")):
        with av.open(str(p)) as c:
            if c.streams.audio:
                out.append(p)
    return out


def remux(src: Path, dst: Path, *, audio: bool = True, seconds: float | None = None) -> Path:
    """``src``'s first video stream (and its first audio stream, if ``audio``) copied packet for
    packet into a file of the same container format (name ``dst`` with ``src``'s suffix); with ``seconds``, copied again and again one after the other
    (timestamps shifted by the clip's span, rounded up to whole frames, each time) until that
    long: the audio then has a gap shorter than a frame between copies (its track holds a little
    less than the video's length)."""
    with av.open(str(src)) as i:
        streams = [i.streams.video[0]] + ([i.streams.audio[0]] if audio else [])
        rate = i.streams.video[0].average_rate or 25
        ends = [(float(p.dts * p.time_base), float((max(p.dts, p.pts or p.dts) + (p.duration or 0)) * p.time_base))
                for p in i.demux(*streams) if p.dts is not None]
    # each copy starts a whole number of frames after the last, past every packet of the one before
    span = np.ceil((max(b for _, b in ends) - min(a for a, _ in ends)) * rate) / rate
    times = 1 if seconds is None else int(np.ceil(seconds / span))
    last: dict[int, int] = {}
    with av.open(str(dst), "w") as o:
        out = None
        for k in range(times):
            with av.open(str(src)) as i:
                ins = [i.streams.video[0]] + ([i.streams.audio[0]] if audio else [])
                if out is None:
                    out = {s.index: o.add_stream_from_template(s, opaque=True) for s in ins}
                for pkt in i.demux(*ins):
                    if pkt.dts is None:
                        continue
                    shift = round(k * span / pkt.time_base)
                    if pkt.pts is not None:
                        pkt.pts += shift
                    # GRID's first two video packets share a dts: a muxer takes that at a file's start only
                    pkt.dts = max(pkt.dts + shift, last.get(pkt.stream.index, -1) + 1) if k else pkt.dts
                    last[pkt.stream.index] = pkt.dts
                    pkt.stream = out[pkt.stream.index]
                    o.mux(pkt)
    return dst


def both_clocks() -> np.ndarray:
    return np.array([time.perf_counter(), time.process_time()])


class Best:
    """The least wall and CPU seconds of each labelled callable over the calls made so far."""

    def __init__(self):
        self.s: dict[str, np.ndarray] = {}

    def __call__(self, label: str, fn):
        t = both_clocks()
        out = fn()
        self.s[label] = np.minimum(self.s.get(label, np.inf), both_clocks() - t)
        return out


def decode_only(path: Path) -> int:
    """The audio track decoded by PyAV as the voice reads it (one thread), not resampled: samples."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        a.codec_context.thread_count = 1
        return sum(f.samples for f in c.decode(a))


def one_clip(clip: Path, tmp: Path, ex) -> dict:
    from emojax.features.voice import align, descriptors, read_voice, smile
    from emojax.video import read_audio

    with_audio = remux(clip, tmp / f"{clip.stem}.audio{clip.suffix}")
    stripped = remux(clip, tmp / f"{clip.stem}.stripped{clip.suffix}", audio=False)
    best = Best()
    status = {}
    for _ in range(REPEATS):
        feats = best("whole", lambda: ex(clip))
        status["whole"] = feats.source["voice"]["status"]
        status["remuxed with audio"] = best("remuxed with audio", lambda: ex(with_audio)).source["voice"]["status"]
        status["remuxed without audio"] = best("remuxed without audio", lambda: ex(stripped)).source["voice"]["status"]
        a, b = float(feats.times[0]), float(feats.times[-1]) + 1.0 / feats.fps
        best("voice", lambda: read_voice(feats, clip))
        best("decode", lambda: decode_only(clip))
        track = best("read track", lambda: read_audio(clip, start=a, end=b))
        times, values = best("openSMILE", lambda: descriptors(track))
        best("openSMILE, 0.1 s", lambda: smile().process_signal(track.samples[:track.rate // 10], track.rate))
        best("align", lambda: align(times, values, feats.times, feats.fps))
    return {"media_s": len(feats) / feats.fps, "frames": len(feats), "codec": track.codec,
            "source_rate": track.source_rate, "channels": track.channels,
            "voice_status": status, "speech_s": feats.source["voice"]["speech_s"],
            "seconds": {k: v.tolist() for k, v in best.s.items()}}


def peak(code: str, *args) -> dict:
    """VmHWM (MB) and CPU seconds of a fresh process running ``code``, and what it printed."""
    tail = ("; import re, resource as _r; _u = _r.getrusage(_r.RUSAGE_SELF); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], _u.ru_utime + _u.ru_stime)")
    out = subprocess.run([sys.executable, "-c", code + tail, *map(str, args)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    *printed, kb, cpu = out.stdout.split()
    return {"rss_mb": int(kb) / 1024, "cpu_s": float(cpu), **({"printed": printed} if printed else {})}


#: openSMILE's cost of a call whatever the signal's length, estimated by a call on 0.1 s of it
FIXED = "openSMILE's fixed cost per call (the 0.1 s call)"
EXTRACT = "import sys; from emojax.features import extract; f = extract(sys.argv[1], accept_partial=True)"
VOICE = "import sys; from emojax.features.voice import file_voice; r = file_voice(sys.argv[1])"


def memory(clip: Path, tmp: Path) -> dict:
    stripped = tmp / f"{clip.stem}.stripped{clip.suffix}"
    if not stripped.exists():
        remux(clip, stripped, audio=False)
    long = remux(clip, tmp / f"long{clip.suffix}", seconds=LONG_S)
    from emojax.video import frame_times

    t, fps = frame_times(long)
    t0, fps0 = frame_times(clip)
    return {"clip": clip.name, "clip_s": round(len(t0) / fps0, 3), "long_s": round(len(t) / fps, 2),
            "extract_with_audio": peak(EXTRACT, clip), "extract_without_audio": peak(EXTRACT, stripped),
            "voice_alone_clip": peak(VOICE, clip), "voice_alone_long": peak(VOICE, long)}


def measure(tmp: Path) -> dict:
    from emojax.features import Extractor

    found = clips()
    if not found:
        return {"skipped": f"no GRID or CREMA-D clip with an audio track in {SHARED}"}
    ex = Extractor()
    ex(found[0])                   # openSMILE built, dlib loaded: no first-call cost in any clip's figure
    per = {c.name: one_clip(c, tmp, ex) for c in found}
    media = sum(p["media_s"] for p in per.values())
    total = {k: np.sum([p["seconds"][k] for p in per.values()], axis=0) for k in next(iter(per.values()))["seconds"]}
    res: dict = {"clips": len(per), "media_s": round(media, 3), "repeats": REPEATS, "clip": per,
                 "total_s": {k: v.tolist() for k, v in total.items()}}
    for suffix, k in (("", 0), ("_cpu", 1)):
        res["voice_ms_per_media_s" + suffix] = 1e3 * total["voice"][k] / media
        res["whole_ms_per_media_s" + suffix] = 1e3 * total["whole"][k] / media
        res["voice_share_of_whole" + suffix] = total["voice"][k] / total["whole"][k]
        res["audio_present_vs_stripped" + suffix] = total["remuxed with audio"][k] / total["remuxed without audio"][k]
        res["stages_ms_per_media_s" + suffix] = {
            "decode": 1e3 * total["decode"][k] / media,
            "resample and place (read track minus decode)": 1e3 * (total["read track"][k] - total["decode"][k]) / media,
            "openSMILE": 1e3 * total["openSMILE"][k] / media,
            FIXED: 1e3 * total["openSMILE, 0.1 s"][k] / media,
            "align": 1e3 * total["align"][k] / media}
    # once per process (the CLI pays it once, each worker of a pool once): openSMILE's import and build
    res["smile_build_cpu_s"] = float(peak("import time; from emojax.features import voice; t = time.process_time(); "
                                          "voice.smile(); print(time.process_time() - t)")["printed"][0])
    res["memory"] = memory(found[0], tmp)
    res["statuses_as_expected"] = all(p["voice_status"]["remuxed without audio"] == "absent"
                                      and p["voice_status"]["whole"] != "absent"
                                      and p["voice_status"]["remuxed with audio"] == p["voice_status"]["whole"]
                                      for p in per.values())
    return res


def rows(r: dict) -> list[tuple[str, str, str]]:
    """README table rows of the voice's cost."""
    if "skipped" in r:
        return [("the voice", r["skipped"], "")]
    st, m = r["stages_ms_per_media_s_cpu"], r["memory"]
    return [
        (f"the voice alone ({r['clips']} real clips with audio, {r['media_s']:.0f} s: decode, resample, "
         "openSMILE, align)", f"{r['voice_ms_per_media_s']:.0f} ms per second of media "
         f"(CPU {r['voice_ms_per_media_s_cpu']:.0f})",
         f"**{100 * r['voice_share_of_whole']:.0f} %** of the whole extraction "
         f"(CPU {100 * r['voice_share_of_whole_cpu']:.0f} %)"),
        ("where the voice's time goes, CPU ms per second of media",
         f"decode {st['decode']:.1f}, resample {st['resample and place (read track minus decode)']:.1f}, "
         f"openSMILE {st['openSMILE']:.1f} (of which {st[FIXED]:.1f} its fixed cost per call), "
         f"align {st['align']:.2f}", ""),
        ("whole extraction, the same clips remuxed with their audio track vs without",
         "{:.0f} ms per second of media with audio (CPU {:.0f})".format(
             *(1e3 * np.array(r["total_s"]["remuxed with audio"]) / r["media_s"])),
         f"**{r['audio_present_vs_stripped']:.2f}×** of without (CPU {r['audio_present_vs_stripped_cpu']:.2f}×)"),
        (f"peak memory, a process extracting `{m['clip']}` with its audio vs without",
         f"{m['extract_with_audio']['rss_mb']:.0f} MB vs {m['extract_without_audio']['rss_mb']:.0f} MB",
         f"{m['extract_with_audio']['rss_mb'] / m['extract_without_audio']['rss_mb']:.2f}×"),
        (f"peak memory, the voice alone (`emojax voice`'s `file_voice`) of that clip vs of it looped to "
         f"{m['long_s'] / 60:.0f} min", f"{m['voice_alone_clip']['rss_mb']:.0f} MB vs "
         f"{m['voice_alone_long']['rss_mb']:.0f} MB", f"{m['voice_alone_long']['rss_mb'] / m['voice_alone_clip']['rss_mb']:.2f}×"),
        (f"the voice alone of the {m['long_s'] / 60:.0f} min file, beyond the short clip's process",
         f"{1e3 * long_cpu(m):.0f} CPU ms per second of media", ""),
        ("openSMILE's import and build, once per process", f"{r['smile_build_cpu_s']:.2f} s CPU", ""),
    ]


def long_cpu(m: dict) -> float:
    """CPU seconds per second of media of the voice alone on the long file, beyond what the
    process reading the short clip spent (imports, openSMILE's build, the clip itself)."""
    return (m["voice_alone_long"]["cpu_s"] - m["voice_alone_clip"]["cpu_s"]) / (m["long_s"] - m["clip_s"])
