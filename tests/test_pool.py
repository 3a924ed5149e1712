"""The extraction pool (emojax.features.pool) on real CREMA-D faces: what it reads is what the
in-process extractor reads, each caller gets its own video, its progress and its errors, a
caller beyond the workers waits in line knowing its place, and a worker killed mid-video fails
that video clearly while the pool goes on serving."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
import types

import numpy as np
import pytest

from emojax.errors import VideoError
from emojax.features import Features
from emojax.features.pool import ExtractionPool, WorkerDiedError

from .conftest import shared

CLIPS = ("1001_DFA_ANG_XX.flv", "1001_DFA_HAP_XX.flv", "1001_DFA_SAD_XX.flv")


@pytest.fixture(scope="module")
def clips():
    root = shared("cremad")
    return [root / name for name in CLIPS]


@pytest.fixture(scope="module")
def pool():
    with ExtractionPool(workers=2) as p:
        yield p


@pytest.fixture(scope="module")
def expected(clips):
    """What the in-process extractor reads from each clip (as the CLI reads it)."""
    from emojax.features import Extractor

    ex = Extractor()
    return {c: ex(c) for c in clips}


def same(a: Features, b: Features) -> None:
    """Every array (NaN where the other has NaN), the masks, the frame rate, source and config."""
    for f in dataclasses.fields(Features):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        else:
            assert x == y, f.name


def test_two_videos_at_once_are_read_as_the_extractor_reads_them_each_with_its_own_progress(pool, clips, expected):
    pids = pool.warm()
    assert len(pids) == 2                                   # both workers started and built their extractor
    tasks = [pool.submit(c) for c in clips]
    got, ticks = {}, {}

    def visitor(task, clip):
        ticks[clip] = {"n": 0, "threads": set()}

        def progress(n):
            ticks[clip]["n"] += n
            ticks[clip]["threads"].add(threading.get_ident())
        got[clip] = (task.wait(progress, every=0.05), threading.get_ident())

    threads = [threading.Thread(target=visitor, args=(t, c)) for t, c in zip(tasks, clips)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for clip in clips:
        feats, thread = got[clip]
        same(feats, expected[clip])                         # its own video, read exactly as in this process
        assert feats.voice is not None and feats.speech.any()   # the voice too
        assert ticks[clip]["n"] == feats.source["frames_read"] == len(feats)   # progress ends at the frame count
        assert ticks[clip]["threads"] == {thread}           # on the caller's thread
    assert len({t.pid for t in tasks}) == 2                 # both workers read


def test_a_caller_beyond_the_workers_waits_in_line_and_is_told_its_place(pool, clips, expected):
    tasks = [pool.submit(c) for c in clips]                 # two workers, three videos
    gone = pool.submit(clips[0])                            # a fourth, whose caller gives up
    deadline = time.monotonic() + 10
    while gone.place != 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert gone.place == 2 and not tasks[0].done()          # second in line
    gone.withdraw()
    places = []
    last = tasks[2].wait(waiting=places.append, every=0.01)
    same(last, expected[clips[2]])
    assert places and set(places) == {1}                    # first in line until a worker was free
    assert all(t.place == 0 for t in tasks)
    for t, c in zip(tasks, clips):
        same(t.result(30), expected[c])
    assert gone.future.cancelled() and gone.pid is None     # left the line, never read


def test_a_damaged_video_fails_naming_it_while_the_other_is_read(pool, clips, expected, tmp_path):
    half = tmp_path / "half.flv"
    half.write_bytes(clips[0].read_bytes()[: clips[0].stat().st_size // 2])
    from emojax.features import Extractor

    with pytest.raises(VideoError) as here:
        Extractor()(half)
    bad, good = pool.submit(half), pool.submit(clips[1])
    with pytest.raises(VideoError) as there:
        bad.wait()
    assert str(there.value) == str(here.value) and str(half) in str(there.value)
    same(good.wait(), expected[clips[1]])


def test_a_worker_killed_mid_video_fails_it_clearly_and_the_pool_goes_on(pool, clips, expected):
    restarts = pool.restarts
    task = pool.submit(clips[0])
    deadline = time.monotonic() + 30
    while (task.pid is None or task.frames == 0) and time.monotonic() < deadline and not task.done():
        time.sleep(0.01)
    assert task.pid is not None and not task.done(), "the video was read before it could be killed"
    os.kill(task.pid, signal.SIGKILL)
    with pytest.raises(WorkerDiedError, match="died before it finished") as e:
        task.wait()
    assert str(clips[0]) in str(e.value)
    assert pool.restarts == restarts + 1
    same(pool.submit(clips[2]).wait(), expected[clips[2]])   # a new pool serves the next video


def test_workers_never_run_the_callers_main_script(tmp_path, clips, expected):
    """While a Streamlit page runs, ``__main__`` is the page's script; a worker that ran it (as
    spawn and fork servers run ``__main__``) would start pools of its own, without end."""
    marker = tmp_path / "ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'a').write('ran in ' + __name__ + '\\n')\n")
    main, fake = sys.modules["__main__"], types.ModuleType("__main__")
    fake.__file__ = str(page)
    sys.modules["__main__"] = fake
    try:
        with ExtractionPool(workers=1) as own:             # its worker starts while the page is __main__
            assert sys.modules["__main__"] is fake          # put back
            same(own.extract(clips[1]), expected[clips[1]])
    finally:
        sys.modules["__main__"] = main
    assert not marker.exists(), marker.read_text()
