"""What a user installs: the wheel carries the library, the dashboard, its pages and the dashboard's
dependencies, and an installed copy works from another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_installed_copy_carries_the_dashboard_its_pages_and_its_dependencies(tmp_path, dashboard_artifacts):
    """The wheel (not an editable install) holds the library, the dashboard and its pages, and
    declares the dashboard's dependencies as the extra ``emojax[dashboard]``; installed
    elsewhere and started from another folder, its dashboard renders over the artifacts it is
    pointed at (EMOJAX_ARTIFACTS) and otherwise looks in ./artifacts, not inside site-packages."""
    source = tmp_path / "source"                 # built from a copy: nothing is written into the repository
    for name in ("emojax", "dashboard", "pages"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("emojax-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"emojax/cli/__init__.py", "dashboard/app.py", "dashboard/__main__.py", "pages/predict.py",
            "dashboard/.streamlit/config.toml"} <= names    # its settings beside its script: a local tool's toolbar
    assert "Provides-Extra: dashboard" in meta and 'Requires-Dist: streamlit>=1.67; extra == "dashboard"' in meta
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (f"import sys; sys.path.insert(0, {str(site)!r}); import dashboard.state as s, os; "
            f"assert s.__file__.startswith({str(site)!r}), s.__file__; print(s.artifacts()); "
            "os.environ['EMOJAX_ARTIFACTS'] = sys.argv[1]; "
            "from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(site / 'dashboard' / 'app.py')!r}, default_timeout=300); at.run(); "
            "at.switch_page('../pages/metrics.py'); at.run(); "
            "assert not at.exception, [e.message for e in at.exception]; print(at.title[0].value); "
            "import threading; [t.join() for t in threading.enumerate() if t.name == 'emojax-warm-up']")
    env = {k: v for k, v in os.environ.items() if k != "EMOJAX_ARTIFACTS"}
    out = subprocess.run([sys.executable, "-c", code, str(dashboard_artifacts)], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split("\n")
    assert lines[0] == str(elsewhere / "artifacts") and lines[1] == "Metrics explorer", out.stdout
