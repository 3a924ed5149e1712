"""``emojax report``: a finished run as one self-contained HTML file to share (opens offline)."""

from __future__ import annotations


def run(args) -> int:
    from ..report import write_report

    out = write_report(args.run, args.out)
    print(f"written: {out}")
    return 0


def add(sub) -> None:
    p = sub.add_parser("report", help="a finished run as one self-contained HTML file to share: configuration, "
                       "Table 1, per class, confusion matrices, curves, Table 2, other corpora; opens offline")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--out", default=None, help="the HTML file to write (default: RUN/report.html)")
    p.set_defaults(func=run)
