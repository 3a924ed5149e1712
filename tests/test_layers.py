"""The house runs one way (../shared/DESIGN.md, "The house"; ARCHITECTURE.md): a module imports
only from its own layer or below, never a private (``_``) name of another module (nor a private
module of another package), never across one of the design's "never" lines, and no two modules
import each other, however far round. Read from the source, so that it stays true.

What counts as an import: ``import a.b``, ``from a import b`` (the module ``a.b`` when it is one,
else the module that defines ``b``, followed through a package's re-exports, the root's lazy ones
included), imports inside functions, ``importlib.import_module`` and ``__import__`` with a name
written in the file (a file that calls one with a computed name imports every module of ours it
names in a string); and ``mod._name`` on a module of ours bound in the file reaches a private name.
"""

from __future__ import annotations

import ast
from functools import cache
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
    "emojax.estimator": 6, "emojax.inference": 6, "emojax.crosscorpus": 6,
    "emojax.explain": 7, "emojax.mlflow_tracking": 7, "emojax.plots": 7, "emojax.report": 7,
    "emojax.cli": 8, "dashboard": 8, "pages": 8,
}

#: (importer, imported) prefixes that must never meet, whatever their layers: the models read arrays
#: and never a dataset; the dashboard and the CLI are two faces of the same library calls; the library
#: never imports Streamlit
NEVER = (("emojax.models", "emojax.data"), ("dashboard", "emojax.cli"), ("pages", "emojax.cli"),
         ("emojax", "streamlit"), ("emojax", "streamlit_webrtc"),
         ("emojax", "tests"), ("dashboard", "tests"), ("pages", "tests"))


def layer(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class Tree:
    """The modules of one source tree and what each imports."""

    def __init__(self, root: Path):
        self.root = root
        self.busy: set[str] = set()
        self.files = {self.name(p): p for d in TOP if (root / d).is_dir() for p in sorted((root / d).rglob("*.py"))}

    def name(self, path: Path) -> str:
        parts = list(path.relative_to(self.root).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def package(self, module: str) -> str:
        """The package a module is in (a package is its own)."""
        return module if self.files[module].name == "__init__.py" else module.rpartition(".")[0]

    def is_module(self, name: str) -> bool:
        return name in self.files

    @cache
    def tree(self, module: str) -> ast.Module:
        return ast.parse(self.files[module].read_text(), str(self.files[module]))

    def absolute(self, module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = self.package(module).split(".")
        base = base[:len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    @cache
    def exports(self, package: str) -> dict[str, str]:
        """Names a package's ``__init__`` re-exports -> the module that defines them (lazy ones from a
        module-level dict of name -> module name, served by ``import_module``)."""
        out: dict[str, str] = {}
        if package in self.busy or not self.is_module(package) or self.files[package].name != "__init__.py":
            return out                   # (a package whose re-exports lead back to itself stops there)
        self.busy.add(package)
        for node in self.tree(package).body:
            if isinstance(node, ast.ImportFrom):
                source = self.absolute(package, node)
                for a in node.names:
                    if source.split(".")[0] in TOP:
                        out[a.asname or a.name] = self.resolve(source, a.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
                for k, v in zip(node.value.keys, node.value.values):
                    if (isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and isinstance(v.value, str)
                            and self.is_module(v.value)):
                        out[k.value] = self.resolve(v.value, k.value)
        self.busy.discard(package)
        return out

    def resolve(self, source: str, name: str) -> str:
        """The module ``from source import name`` really reaches."""
        if self.is_module(f"{source}.{name}"):
            return f"{source}.{name}"
        target = self.exports(source).get(name) if source != "" else None
        return target or source

    def private_uses(self, module: str):
        """(line, module, name) of each ``mod._name`` where ``mod`` is a module of ours bound in this
        file (``from . import mod``, ``import a.mod as mod``): a private name reached through its module."""
        tree, bound = self.tree(module), {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and self.absolute(module, node).split(".")[0] in TOP:
                for a in node.names:
                    target = f"{self.absolute(module, node)}.{a.name}"
                    if self.is_module(target):
                        bound[a.asname or a.name] = target
            elif isinstance(node, ast.Import):
                bound.update({a.asname: a.name for a in node.names if a.asname and self.is_module(a.name)})
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and private(node.attr)):
                yield node.lineno, bound[node.value.id], node.attr

    def imports(self, module: str):
        """(line, module reached, names taken from it) of every import in a module, ours and others'."""
        tree = self.tree(module)
        dynamic = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    yield node.lineno, a.name, []
            elif isinstance(node, ast.ImportFrom):
                source = self.absolute(module, node)
                if source.split(".")[0] not in TOP:
                    yield node.lineno, source, [a.name for a in node.names]
                    continue
                for a in node.names:
                    target = self.resolve(source, a.name)
                    yield node.lineno, target, [] if target == f"{source}.{a.name}" else [a.name]
            elif isinstance(node, ast.Call) and _calls_import(node):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value, []
                else:
                    dynamic = True
        if dynamic:                          # a computed name: any module of ours the file names may be meant
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and self.is_module(node.value):
                    yield node.lineno, node.value, []


def _calls_import(node: ast.Call) -> bool:
    """``import_module(...)``, ``importlib.import_module(...)`` or ``__import__(...)``."""
    f = node.func
    return (isinstance(f, ast.Name) and f.id in ("import_module", "__import__")) or (
        isinstance(f, ast.Attribute) and f.attr == "import_module")


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def violations(root: Path) -> dict[str, list[str]]:
    """Every fault under ``root``, by kind: ``upward`` (an import up a layer, or a module in no layer),
    ``private`` (a private name or module reached from another module), ``never`` (a line of NEVER crossed) and
    ``circles`` (modules importing each other, however far round)."""
    t = Tree(root)
    found: dict[str, list[str]] = {"upward": [], "private": [], "never": [], "circles": []}
    graph: dict[str, set[str]] = {}
    for me, path in t.files.items():
        mine, where, here = layer(me), str(path.relative_to(root)), t.package(me)
        front_door = me == "emojax"             # the package's front door re-exports every layer, lazily
        if mine is None and not front_door:
            found["upward"].append(f"{where}: {me} is in no layer")
        for line, target, names in t.imports(me):
            for a, b in NEVER:
                if under(me, a) and under(target, b):
                    found["never"].append(f"{where}:{line}: {me} imports {target} ({a} never imports {b})")
            if target.split(".")[0] not in TOP:
                continue
            if t.is_module(target) and target != me:
                graph.setdefault(me, set()).add(target)
            theirs = layer(target)
            if not front_door and mine is not None and theirs is not None and theirs > mine:
                found["upward"].append(f"{where}:{line}: {me} (layer {mine}) imports {target} (layer {theirs})")
            bad = [n for n in names if private(n)] if target != me else []
            if not t.is_module(target) or t.package(target) != here:    # a package's private modules are its own
                bad = [p for p in target.split(".")[1:] if private(p)] + bad
            if bad:
                found["private"].append(f"{where}:{line}: {me} imports {', '.join(bad)} from {target}")
        for line, target, name in t.private_uses(me):
            found["private"].append(f"{where}:{line}: {me} uses {name} of {target}")
    found["circles"] = [" <-> ".join(c) for c in _circles(graph)]
    return {kind: sorted(set(vs)) for kind, vs in found.items()}


def test_the_house_runs_one_way_keeps_private_names_at_home_and_has_no_circle():
    files = [p for d in TOP for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 50
    found = violations(ROOT)
    assert found == {"upward": [], "private": [], "never": [], "circles": []}, "\n".join(
        f"{kind}: {v}" for kind, vs in found.items() for v in vs)


def test_the_check_sees_every_kind_of_fault(tmp_path):
    """A small tree (the layout the real check walks) with one of each fault; each is reported, and
    the allowed cases beside them are not."""
    files = {
        "emojax/__init__.py": ("from importlib import import_module\nfrom .video import probe\n"
                               "_LAZY = {'train_run': 'emojax.training.run'}\n"
                               "def __getattr__(n):\n    return getattr(import_module(_LAZY[n]), n)\n"),
        "emojax/errors.py": "",
        "emojax/video.py": "from .training.run import prepare\n",                   # up from layer 1 to 5
        "emojax/features/__init__.py": "from .face import detect\n",
        "emojax/features/face.py": "from emojax import train_run\ndef detect():\n    pass\n",  # up, through a lazy re-export
        "emojax/features/cache.py": ("import importlib\nfrom . import detect\n"          # allowed: resolves to face
                                     "def f():\n    return importlib.import_module('emojax.training.jobs')\n"),  # up
        "emojax/features/old.py": "def f():\n    return __import__('emojax.explain.run')\n",   # up, the old way
        "emojax/data/__init__.py": "",
        "emojax/data/a.py": "def f():\n    from . import b\n",                       # a circle, inside a function
        "emojax/data/b.py": "from .a import f\n",
        "emojax/data/c.py": ("from .d import _secret\nfrom . import d\nd._secret()\n"   # private, same package, twice
                             "def _mine():\n    pass\n_mine()\n"),                   # allowed: its own
        "emojax/data/d.py": "def _secret():\n    pass\n",
        "emojax/models/__init__.py": "",
        "emojax/models/net.py": "from ..data import a\nfrom ..features import detect\n",  # models never read data
        "emojax/training/__init__.py": "",
        "emojax/training/run.py": "def _read_json(p):\n    pass\ndef prepare():\n    pass\n",
        "emojax/training/jobs.py": "from .run import _read_json\n",                  # private, same package
        "emojax/explain/__init__.py": "",
        "emojax/explain/run.py": "from ..training.run import _read_json\nfrom ..training import run\n",
        "emojax/explain/show.py": "import streamlit as st\nimport streamlit_webrtc\nfrom tests import conftest\n",
        "emojax/cli/__init__.py": "",
        "emojax/cli/common.py": "def choices():\n    pass\n",
        "dashboard/app.py": "from emojax import _hidden\nimport emojax.video\nfrom emojax.cli.common import choices\n",
        "pages/train.py": ("import streamlit as st\nfrom emojax import train_run\n"     # allowed: layer 8 over 5
                           "from emojax.cli import common\n"),                        # pages never use the CLI
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    assert found["upward"] == [
        "emojax/features/cache.py:4: emojax.features.cache (layer 2) imports emojax.training.jobs (layer 5)",
        "emojax/features/face.py:1: emojax.features.face (layer 2) imports emojax.training.run (layer 5)",
        "emojax/features/old.py:2: emojax.features.old (layer 2) imports emojax.explain.run (layer 7)",
        "emojax/video.py:1: emojax.video (layer 1) imports emojax.training.run (layer 5)"]
    assert found["private"] == [
        "dashboard/app.py:1: dashboard.app imports _hidden from emojax",
        "emojax/data/c.py:1: emojax.data.c imports _secret from emojax.data.d",
        "emojax/data/c.py:3: emojax.data.c uses _secret of emojax.data.d",
        "emojax/explain/run.py:1: emojax.explain.run imports _read_json from emojax.training.run",
        "emojax/training/jobs.py:1: emojax.training.jobs imports _read_json from emojax.training.run"]
    assert found["never"] == [
        "dashboard/app.py:3: dashboard.app imports emojax.cli.common (dashboard never imports emojax.cli)",
        "emojax/explain/show.py:1: emojax.explain.show imports streamlit (emojax never imports streamlit)",
        "emojax/explain/show.py:2: emojax.explain.show imports streamlit_webrtc (emojax never imports streamlit_webrtc)",
        "emojax/explain/show.py:3: emojax.explain.show imports tests (emojax never imports tests)",
        "emojax/models/net.py:1: emojax.models.net imports emojax.data.a (emojax.models never imports emojax.data)",
        "pages/train.py:3: pages.train imports emojax.cli.common (pages never imports emojax.cli)"]
    assert found["circles"] == ["emojax.data.a <-> emojax.data.b"]


def test_a_longer_circle_and_one_through_a_package_are_seen(tmp_path):
    """Three modules round a ring, and a module that imports its own package's front door while that
    door imports it: both are circles, each reported once."""
    files = {
        "emojax/__init__.py": "",
        "emojax/data/__init__.py": "from .loader import load\n",
        "emojax/data/loader.py": "from . import VideoItem\ndef load():\n    pass\n",  # unresolved: the package
        "emojax/explain/__init__.py": "",
        "emojax/explain/x.py": "import emojax.explain.y\n",
        "emojax/explain/y.py": "from emojax.explain import z\n",
        "emojax/explain/z.py": "from .x import *\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    assert found["circles"] == ["emojax.data <-> emojax.data.loader",
                                "emojax.explain.x <-> emojax.explain.y <-> emojax.explain.z"]
    assert found["upward"] == found["private"] == found["never"] == []
