"""The ``emojax`` command line: one module per command, each calling the same library
functions the dashboard does; what they share is in ``common``."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import EmojaxError
from . import demo, evaluate, explain, extract, heart_rate, predict, report, teaching, train, voice

COMMANDS = (extract, heart_rate, voice, teaching, train, evaluate, predict, explain, report, demo)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="emojax", description="Interpretable multimodal emotion recognition from face video.")
    sub = ap.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(sub)
    return ap


#: commands that run JAX models (they keep compiled programs in the persistent cache)
JAX_COMMANDS = ("train", "evaluate", "predict", "explain", "demo")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in JAX_COMMANDS:
        from ..jaxcache import enable_compilation_cache

        enable_compilation_cache()
        if os.environ.get("EMOJAX_DISTRIBUTED") == "1":     # one of several hosts (README: several devices)
            import jax

            n, i = os.environ.get("EMOJAX_NUM_PROCESSES"), os.environ.get("EMOJAX_PROCESS_ID")
            jax.distributed.initialize(num_processes=int(n) if n else None, process_id=int(i) if i else None)
    try:
        return args.func(args)
    except EmojaxError as e:
        from ..fileio import one_line

        print(f"emojax: error: {one_line(str(e))}", file=sys.stderr)     # a name with a newline stays one line
        return 2
    except OSError as e:                      # a disk that filled up or went away mid-way: one line
        from ..fileio import disk_problem, shown

        print(f"emojax: error: {shown(e.filename) if e.filename else 'a file'}: {disk_problem(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emojax: interrupted; what was stored is kept, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
