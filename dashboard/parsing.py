"""One lock around ``ast.parse`` for the dashboard's threads.

CPython 3.11 (and earlier) builds the Python objects of a parsed tree with one recursion counter
per interpreter. A thread switch inside that build (a garbage collection running a finaliser is
enough) lets a second thread's parse move the counter, and one of the two parses fails with
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905). The
dashboard parses in many threads at once: Streamlit reads each page's source, NumPy reads every
``.npz`` member's header with ``ast.literal_eval``, ``st.echo`` reads the Teaching page's source,
``inspect`` reads built-in signatures; so a visitor's page could fail while another visitor's
run loaded (seen in the suite). One lock makes the parses take turns: each is a small file or a
header of a few dozen characters, so the wait is negligible.
"""

from __future__ import annotations

import ast
import functools
import threading

_LOCK = threading.RLock()


def serialise() -> None:
    """Make every later ``ast.parse`` in this process hold one lock (idempotent)."""
    if getattr(ast.parse, "_emojax_serialised", False):
        return
    parse = ast.parse

    @functools.wraps(parse)
    def serialised(*args, **kwargs):
        with _LOCK:
            return parse(*args, **kwargs)

    serialised._emojax_serialised = True
    ast.parse = serialised
