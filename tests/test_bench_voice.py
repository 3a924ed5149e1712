"""The voice's benchmark (benchmarks/voice_cost.py) compares like with like: its copy of a real
clip without audio has the same video packets and no audio stream, its copy with audio holds the
very samples of the original, and its looped file holds the frames of every copy."""

from __future__ import annotations

import av
import numpy as np

from benchmarks import voice_cost
from emojax.features import voice as V
from emojax.video import frame_times, read_audio

from .conftest import shared


def _video_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def test_copies_with_and_without_audio_keep_the_video_and_the_voice(tmp_path):
    for clip in (shared("grid") / "bbaf2n.mpg", shared("cremad") / "1001_DFA_SAD_XX.flv"):
        with_audio = voice_cost.remux(clip, tmp_path / f"a{clip.suffix}")
        stripped = voice_cost.remux(clip, tmp_path / f"s{clip.suffix}", audio=False)
        with av.open(str(stripped)) as c:
            assert not c.streams.audio
        assert _video_packets(stripped) == _video_packets(with_audio) == _video_packets(clip)
        assert frame_times(stripped) == frame_times(with_audio)     # the pair the benchmark compares
        ours, theirs = read_audio(with_audio), read_audio(clip)
        assert ours.status == theirs.status == "complete" and ours.codec == theirs.codec
        assert abs(ours.start - theirs.start) < 1e-3
        np.testing.assert_array_equal(ours.samples, theirs.samples)
        assert V.file_voice(with_audio).source["voice"]["status"] == "present"
        assert V.file_voice(stripped).source["voice"]["status"] == "absent"


def test_the_looped_file_holds_every_copy(tmp_path):
    clip = shared("grid") / "bbaf2n.mpg"
    t, fps = frame_times(clip)
    long = voice_cost.remux(clip, tmp_path / "long.mpg", seconds=4 * len(t) / fps)
    lt, lfps = frame_times(long)
    assert lfps == fps and len(lt) == 4 * len(t)
    np.testing.assert_allclose(np.diff(lt), 1 / fps, atol=1e-6)    # no gap, no overlap between copies
