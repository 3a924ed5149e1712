"""Extraction on a Ray cluster: a local cluster (2 CPUs) started here, the CLI's ``--engine ray``
joining it, one of its actors killed mid-video; the records equal the local pool's."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import shared

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'emojax[ray]')")


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster on this machine with 2 CPUs; its address for other processes to join."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def clips() -> list[str]:
    return ([str(p) for p in sorted(shared("grid").glob("*.mpg"))[:5]]
            + [str(p) for p in sorted(shared("cremad").glob("*.flv"))[:4]])


def _kill_a_reader(proc: subprocess.Popen, deadline: float) -> int | None:
    """SIGKILL the first Ray actor caught inside a video (its process title says so)."""
    import psutil

    while proc.poll() is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["cmdline"]):
            if " ".join(p.info["cmdline"] or []).startswith("ray::Reader.read"):
                try:
                    p.kill()
                    return p.pid
                except psutil.NoSuchProcess:
                    pass
        time.sleep(0.01)
    return None


def test_ray_engine_stores_what_the_local_pool_does_and_survives_a_killed_actor(cluster, tmp_path):
    from emojax.data import load_paths
    from emojax.data.batch import extract_items
    from emojax.features.store import FeatureStore

    videos = clips()
    assert len(videos) >= 8
    local = extract_items(load_paths(videos).items, tmp_path / "local", workers=2)
    assert local.count("done") == len(videos), local.text()

    proc = subprocess.Popen([sys.executable, "-m", "emojax.cli", "extract", *videos, "--out", str(tmp_path / "ray"),
                             "--engine", "ray", "--address", cluster, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _kill_a_reader(proc, time.monotonic() + 120)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert killed is not None, "no actor was caught inside a video"
    assert f"done {len(videos)}, already stored 0, failed 0" in out, out
    assert "read again after its worker died" in out, out       # the killed actor's video, handed out again

    a, b = FeatureStore(tmp_path / "local"), FeatureStore(tmp_path / "ray")
    names = sorted(s.name for s in a.records())
    assert sorted(s.name for s in b.records()) == names and len(names) == len(videos)   # each stored once
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(f"{n}.{e}" for n in names for e in ("json", "npz"))
    for name in names:
        fa, fb = a.load(a.root / name), b.load(b.root / name)
        for arr in fa.ARRAYS:
            assert np.array_equal(getattr(fa, arr), getattr(fb, arr), equal_nan=True), (name, arr)
        assert fa.source == fb.source and fa.config == fb.config and fa.fps == fb.fps

    again = subprocess.run([sys.executable, "-m", "emojax.cli", "extract", *videos, "--out", str(tmp_path / "ray"),
                            "--engine", "ray", "--address", cluster, "--quiet"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and f"done 0, already stored {len(videos)}, failed 0" in again.stdout, again.stdout


def test_ray_engine_reports_a_bad_video_and_an_unreachable_cluster_in_one_line(cluster, tmp_path):
    from emojax.data import load_paths
    from emojax.data.batch import ExtractionEngine, extract_items

    bad = tmp_path / "cut.flv"
    data = (shared("cremad") / "1001_DFA_ANG_XX.flv").read_bytes()
    bad.write_bytes(data[:len(data) * 3 // 5])         # cut: frames read, then the file ends
    good = clips()[0]
    s = extract_items(load_paths([good, str(bad)]).items, tmp_path / "store", engine=ExtractionEngine("ray"))
    assert s.count("done") == 1 and len(s.failed) == 1
    assert str(bad) in s.failed[0].error and "not whole" in s.failed[0].error

    r = subprocess.run([sys.executable, "-m", "emojax.cli", "extract", good, "--out", str(tmp_path / "other"),
                        "--engine", "ray", "--address", "127.0.0.1:9", "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "127.0.0.1:9" in r.stderr.strip().splitlines()[-1], r.stderr
    r = subprocess.run([sys.executable, "-m", "emojax.cli", "extract", good, "--out", str(tmp_path / "other"),
                        "--address", "auto"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "--engine ray" in r.stderr.strip().splitlines()[-1], r.stderr
