"""The house runs one way (../shared/DESIGN.md, "The house"): a module imports only from its own
layer or below, and never a private (``_``) name or module of another package. Read from the
source, so that it stays true."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("emojax", "dashboard", "pages")

#: layers, lowest first; a module is in the layer of the longest prefix it starts with
LAYERS = {
    "emojax.errors": 0, "emojax.fileio": 0, "emojax.procs": 0, "emojax.jaxcache": 0, "emojax.presets": 0,
    "emojax.video": 1,
    "emojax.features": 2,
    "emojax.data": 3,
    "emojax.models": 4,
    "emojax.training": 5,
    "emojax.estimator": 6, "emojax.inference": 6, "emojax.cross": 6,
    "emojax.explain": 7,
    "emojax.cli": 8, "dashboard": 8, "pages": 8,
}


def layer(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module(root: Path, path: Path) -> tuple[str, str]:
    """(module, its package) of a source file."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        name = ".".join(parts)
        return name, name
    name = ".".join(parts)
    return name, name.rpartition(".")[0]


def _package(root: Path, module: str) -> str:
    """The package a module is in (a package is its own)."""
    return module if (root / Path(*module.split("."))).is_dir() else module.rpartition(".")[0]


def imports(root: Path, path: Path):
    """(line, module imported from, names) of every import of ours in a file, relative ones
    resolved; ``from pkg import mod`` yields the module ``pkg.mod`` itself."""
    _, package = _module(root, path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            subs = [n for n in names if (root / Path(*target.split(".")) / n).exists()
                    or (root / Path(*target.split(".")) / f"{n}.py").exists()]
            targets = [(f"{target}.{n}", []) for n in subs] + ([(target, [n for n in names if n not in subs])]
                                                             if len(subs) < len(names) else [])
        else:
            continue
        for target, names in targets:
            if target.split(".")[0] in TOP:
                yield node.lineno, target, names


def violations(root: Path) -> tuple[list[str], list[str]]:
    """(imports that run up a layer, private names that cross a package) under ``root``."""
    upward, crossing = [], []
    for path in sorted(p for d in TOP if (root / d).is_dir() for p in (root / d).rglob("*.py")):
        me, here = _module(root, path)
        mine = layer(me)
        where = f"{path.relative_to(root)}"
        if mine is None and me != "emojax":      # the package's front door re-exports every layer, lazily
            upward.append(f"{where}: {me} is in no layer")
        for line, target, names in imports(root, path):
            theirs = layer(target)
            if me != "emojax" and theirs is not None and mine is not None and theirs > mine:
                upward.append(f"{where}:{line}: {me} (layer {mine}) imports {target} (layer {theirs})")
            if _package(root, target) != here:
                bad = [p for p in target.split(".")[1:] if private(p)] + [n for n in names if private(n)]
                if bad:
                    crossing.append(f"{where}:{line}: {me} imports {', '.join(bad)} from {target}")
    return upward, crossing


def test_the_house_runs_one_way_and_keeps_private_names_at_home():
    files = [p for d in TOP for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 50
    upward, crossing = violations(ROOT)
    assert not upward, "\n".join(upward)
    assert not crossing, "\n".join(crossing)


def test_the_check_sees_an_upward_import_and_a_private_name(tmp_path):
    """A small tree with both faults (the layout the real check walks): each is reported."""
    files = {
        "emojax/__init__.py": "",
        "emojax/video.py": "from .training.run import prepare\n",                  # up from layer 1 to 5
        "emojax/training/__init__.py": "",
        "emojax/training/run.py": "def _read_json(p):\n    pass\n",
        "emojax/training/jobs.py": "from .run import _read_json\n",               # same package: allowed
        "emojax/explain/__init__.py": "",
        "emojax/explain/run.py": "from ..training.run import _read_json\nfrom ..training import run\n",
        "dashboard/app.py": "from emojax import _hidden\nimport emojax.video\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    upward, crossing = violations(tmp_path)
    assert upward == ["emojax/video.py:1: emojax.video (layer 1) imports emojax.training.run (layer 5)"]
    assert crossing == ["dashboard/app.py:1: dashboard.app imports _hidden from emojax",
                        "emojax/explain/run.py:1: emojax.explain.run imports _read_json from emojax.training.run"]


def test_an_installed_copy_carries_the_dashboard_its_pages_and_its_dependencies(tmp_path, dashboard_artifacts):
    """The wheel (not an editable install) holds the library, the dashboard and its pages, and
    declares the dashboard's dependencies as the extra ``emojax[dashboard]``; installed
    elsewhere and started from another folder, its dashboard renders over the artifacts it is
    pointed at (EMOJAX_ARTIFACTS) and otherwise looks in ./artifacts, not inside site-packages."""
    import os
    import subprocess
    import sys
    import zipfile

    import shutil

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
    assert {"emojax/cli/__init__.py", "dashboard/app.py", "dashboard/__main__.py", "pages/predict.py"} <= names
    assert "Provides-Extra: dashboard" in meta and 'Requires-Dist: streamlit>=1.40; extra == "dashboard"' in meta
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
