"""The architecture notes (ARCHITECTURE.md) stay true: every module of the library, the dashboard
and the pages is named in them with its one idea, none is named that no longer exists, and the
layers they draw are the ones ``tests/test_layers.py`` holds the source to."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layers import LAYERS, TOP

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "ARCHITECTURE.md"


def modules() -> set[str]:
    """Source files that are rooms (package front doors and ``__main__`` are not)."""
    return {str(p.relative_to(ROOT)) for d in TOP for p in (ROOT / d).rglob("*.py")
            if p.name not in ("__init__.py", "__main__.py")}


def test_every_module_is_named_in_the_architecture_notes_and_every_name_is_a_module():
    text = NOTES.read_text()
    named = set(re.findall(r"`((?:emojax|dashboard|pages)/[\w/]+\.py)`", text))
    rooms = modules()
    cli = {m for m in rooms if m.startswith("emojax/cli/")}
    pages = {m for m in rooms if m.startswith("pages/")}
    assert "`emojax/cli/` one module per command" in text and "`pages/` one short script per page" in text
    missing = rooms - cli - pages - named
    assert not missing, f"ARCHITECTURE.md does not name: {sorted(missing)}"
    gone = {m for m in named if not (ROOT / m).is_file()}
    assert not gone, f"ARCHITECTURE.md names modules that do not exist: {sorted(gone)}"


def test_the_layers_drawn_are_the_layers_checked():
    drawn = {}
    for line in NOTES.read_text().splitlines():
        m = re.match(r"\s*layer (\d)\s+(.*)", line)
        if m:
            first, *rest = [w.strip() for w in re.split(r"\s{3,}", m.group(2))[0].split("·")]
            names = [first] + [r if r.startswith(("emojax", "dashboard", "pages")) else f"emojax.{r}" for r in rest]
            for name in names:
                drawn[name] = int(m.group(1))
    assert drawn == LAYERS
