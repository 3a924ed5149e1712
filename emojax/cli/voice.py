"""``emojax voice``: the voice of one video or audio file, in a few numbers and frame by frame."""

from __future__ import annotations

import json

#: the exit code of a file that has no audio track (0: voice read, present or partial; 2: an error,
#: e.g. a file that is no video or audio, named in one line)
EXIT_NO_AUDIO = 3


def run(args) -> int:
    from ..features import voice
    from ..fileio import shown

    rec = voice.file_voice(args.video, stream=args.stream)
    report = {"video": args.video, **rec.summary()}
    if args.csv:
        voice.write_table(args.csv, rec.times, rec.voice, rec.speech)
    if args.json:
        print(json.dumps(report))
    elif report["status"] == "absent":
        print(f"{shown(args.video)}: no audio track" + (f" ({report['reason']})" if report["reason"] not in
                                                          (None, "no audio track") else ""))
    else:
        print(_text(args.video, report))
        if args.csv:
            print(f"  per-frame table: {shown(args.csv)}")
    return EXIT_NO_AUDIO if report["status"] == "absent" else 0


def _text(video: str, r: dict) -> str:
    from ..fileio import shown

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    f0 = (f"F0 {num(r['f0_mean_hz'], '.0f')} Hz ({r['f0_range_hz'][0]:.0f}-{r['f0_range_hz'][1]:.0f})"
          if r["f0_range_hz"] else "no voiced frame (F0 unmeasured)")
    frames = "video frames" if r["frames_from"] == "video" else f"frames of a {r['fps']:g}-per-second grid"
    lines = [f"{shown(video)}: voice {r['status']}: speech on {num(r['speech_share'] and 100 * r['speech_share'], '.0f')}"
             f" % of {r['frames']} {frames} ({num(r['seconds_read'], '.2f')} s read, {r['codec']})",
             f"  {f0}, loudness {num(r['loudness'], '.2f')}, jitter {num(r['jitter'], '.3f')}, "
             f"shimmer {num(r['shimmer_db'], '.2f')} dB, HNR {num(r['hnr_db'], '.1f')} dB, "
             f"{num(r['speaking_rate'], '.2f')} voiced onsets/s"]
    if r["reason"]:
        lines.append(f"  note: {r['reason']}")
    return "\n".join(lines)


def add(sub) -> None:
    from ..video import AUDIO_EXTENSIONS

    p = sub.add_parser("voice", help="voice features of a video or audio file",
                       description="The voice of a video (its audio track, at its frames) or an audio-only file "
                       f"({', '.join(sorted(AUDIO_EXTENSIONS))}: frames on a regular grid): eGeMAPS v02 descriptors "
                       "(openSMILE) averaged per frame, where speech is.",
                       epilog=f"exit codes: 0 voice read (present or partial), {EXIT_NO_AUDIO} the file has no audio "
                       "track, 2 an error (not a video or audio file, unreadable)")
    p.add_argument("video", help="a video or audio file")
    p.add_argument("--json", action="store_true", help="print JSON: status, speech share, F0 mean and range (Hz), "
                   "loudness, jitter, shimmer, HNR, speaking rate, seconds read")
    p.add_argument("--csv", metavar="FILE", help="also write the per-frame table: time, speech, the 25 descriptors")
    p.add_argument("--stream", type=int, default=None, metavar="N",
                   help="the video stream whose frames are the frames (default: the container's)")
    p.set_defaults(func=run)
