"""Runs trained (and explained) in a background process: launch ``emojax train`` (``emojax
explain``) detached from the caller, its command line from :mod:`emojax.training.commands`; read
where it is from the run folder; cancel it. The dashboard uses this so that nothing blocks a
page while a run trains; the training process itself writes ``progress.json`` atomically.

A cancelled run is interrupted like a Ctrl-C (SIGINT): what is stored is kept, its
``progress.json`` says ``interrupted``, and launching it again resumes it.

A process is known by its pid *and* its creation time (:mod:`emojax.procs`), recorded at launch
in ``<log>.launch.json`` and by the run itself in ``progress.json``; it is signalled only while
both match and its command line is still this run's, so a stale pid (after a crash or a
reboot) or an edited file never interrupts a stranger, and a restarted server still knows the
runs it launched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .. import procs
from ..fileio import atomic_write_json
from ..errors import EmojaxError
from ..models import TRAINED
from .commands import explain_command
from .runfiles import read_progress, read_record

#: the processes this Python process launched, by (run folder, log name); polled, so they are reaped
_CHILDREN: dict[tuple[Path, str], subprocess.Popen] = {}
LOG = "train.log"
EXPLAIN_LOG = "explain.log"


#: run before the command, in its own process (then replaced by it, same pid): Ctrl-C set back to
#: its default, since a server started in the background (``make run &``, a script's ``&``) has it
#: ignored and every child would inherit that, so Cancel would do nothing
_CTRL_C_ON = (sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
              "os.execvp(sys.argv[1], sys.argv[1:])")


def _spawn(cmd: Sequence[str], out: Path, log_name: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / log_name, "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen([*_CTRL_C_ON, *cmd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _CHILDREN[out, log_name] = proc
    try:
        atomic_write_json(_launch_file(out, log_name), {**procs.identity(proc.pid), "argv": list(cmd),
                                                               "launched": time.time()})
    except procs.psutil.NoSuchProcess:
        pass                                  # already ended: the Popen above knows how
    return proc.pid


def _launch_file(out: Path, log_name: str) -> Path:
    return out / f"{Path(log_name).stem}.launch.json"


def _launched(out: Path, log_name: str) -> tuple[subprocess.Popen | None, "procs.psutil.Process | None"]:
    """The process launched for ``out`` (this server's own child, or one a previous server
    launched, recognised by its launch record) and, while it lives, its handle."""
    child = _CHILDREN.get((out, log_name))
    if child is not None:
        return child, procs.find(procs.identity(child.pid)) if child.poll() is None else None
    record = read_record(_launch_file(out, log_name))
    return None, procs.find(record, argv=record.get("argv") or ["?"]) if record else None


def launch(cmd: Sequence[str], out: str | os.PathLike) -> int:
    """Start ``cmd`` (from :func:`emojax.training.commands.train_command`) in a new session, its output appended to
    ``out/train.log``; returns its pid. Refuses when a run is already training in ``out``."""
    out = Path(out).resolve()
    if status(out)["state"] in ("starting", "running"):
        raise EmojaxError(f"{out}: a run is already training there; cancel it first or choose another folder")
    return _spawn(cmd, out, LOG)


def launch_explain(run: str | os.PathLike, **kwargs) -> int:
    """Explain a finished run in a background process (:func:`~emojax.training.commands.explain_command`
    with ``kwargs``), its output in
    ``run/explain.log``; refused while one is already running for it."""
    out = Path(run).resolve()
    if explaining(out)["state"] == "running":
        raise EmojaxError(f"{out}: already being explained")
    return _spawn(explain_command(out, **kwargs), out, EXPLAIN_LOG)


def explaining(run: str | os.PathLike) -> dict:
    """The explanation this process launched for ``run``: ``state`` (``none``, ``running``,
    ``done``, ``failed``) and the last line of its log (its progress bar)."""
    out = Path(run).resolve()
    child, live = _launched(out, EXPLAIN_LOG)
    if child is None and live is None:
        return {"state": "none", "log": ""}
    code = child.poll() if child is not None else None
    state = "running" if live is not None else "done" if code == 0 else "failed"
    return {"state": state, "log": _log_tail(out, 1 if state == "running" else 12, EXPLAIN_LOG)}


#: what the command line of a process recorded in progress.json must contain to be signalled
TRAIN_WORDS = ("emojax", "train")


def _log_tail(out: Path, lines: int = 12, name: str = LOG) -> str:
    path = out / name
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def status(run: str | os.PathLike) -> dict:
    """Where a run is: ``state`` (``none``, ``starting``, ``running``, ``done``, ``failed``,
    ``interrupted`` or ``stopped`` — a process that died without a word), ``fraction`` done
    (0..1), the last progress event, and the log's tail when it failed."""
    out = Path(run).resolve()
    child, launched = _launched(out, LOG)
    code = child.poll() if child is not None else None
    progress = read_progress(out)
    state = progress.get("status", "none")
    if state not in STATES:
        state = "none"
    mine = launched is not None and progress.get("pid") == launched.pid
    if launched is not None and not mine:
        state = "starting"                 # launched; the process has not written its progress yet
    elif child is not None and code not in (None, 0) and state in ("none", "running"):
        # ended before or without recording why; by Ctrl-C before the CLI caught it, the signal itself
        state = "interrupted" if code in (130, -signal.SIGINT) else "failed"
    elif child is None and _lost(out, progress):
        state = "stopped"                  # launched by an earlier server; ended before writing progress
    elif state == "running" and _runner(progress) is None:
        state = "stopped"                  # its process is gone, or the pid is now another's
    info = {"state": state, "fraction": 1.0 if state == "done" else fraction(progress), "progress": progress}
    if state in ("failed", "stopped"):
        info["log"] = _log_tail(out)
    return info


#: the states progress.json may record
STATES = ("running", "done", "failed", "interrupted")


def _lost(out: Path, progress: dict) -> bool:
    """A launch recorded in ``out`` whose process never wrote progress newer than the launch."""
    record = read_record(_launch_file(out, LOG))
    if not record or progress.get("pid") == record.get("pid"):
        return False
    try:
        return float(progress.get("updated") or 0) < float(record.get("launched") or 0)
    except (TypeError, ValueError):
        return False


def _runner(progress: dict) -> "procs.psutil.Process | None":
    """The live ``emojax train`` process progress.json names (by pid and creation time)."""
    return procs.find(progress, words=TRAIN_WORDS)


def fraction(progress: dict) -> float:
    """The share of a run done, from its last progress event (extraction counts for a tenth);
    0 for an event that does not hold what a run writes (an edited file)."""
    try:
        return _fraction(progress)
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError):
        return 0.0


def _fraction(progress: dict) -> float:
    stage = progress.get("stage")
    if stage == "extract" and progress.get("total"):
        return 0.1 * progress.get("done", 0) / progress["total"]
    if stage == "train" and progress.get("folds") and progress.get("model") in TRAINED:
        per_fold = len(TRAINED)
        within = TRAINED.index(progress["model"]) + progress.get("epoch", 0) / max(progress.get("epochs") or 1, 1)
        if progress["fold"] == "final":          # the refit on every video, after cross-validation
            return 0.1 + 0.9 * (0.95 + 0.05 * within / per_fold)
        seeds, si = progress.get("seeds") or 1, progress.get("seed_index") or 0
        steps = (si * progress["folds"] + progress["fold"] - 1) * per_fold + within
        return 0.1 + 0.9 * min(steps / (seeds * progress["folds"] * per_fold), 1.0)
    if stage in ("evaluate", "done"):
        return 1.0
    return 0.0


def cancel(run: str | os.PathLike, *, wait: float = 10.0) -> bool:
    """Interrupt the run training in ``run`` (SIGINT to its process group, as Ctrl-C would);
    returns whether a process was signalled. Waits up to ``wait`` seconds for it to stop."""
    out = Path(run).resolve()
    s = status(out)
    if s["state"] not in ("starting", "running"):
        return False
    child, target = _launched(out, LOG)
    if target is None:
        target = _runner(s["progress"])
    if target is None:                     # nothing that is provably this run's: signal no one
        return False
    dropped = _dropped(out)
    if not _interrupt(target):
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if (child.poll() is not None) if child is not None else procs.ended(target):
            break
        if _dropped(out) > dropped:        # Python dropped it: pressed again, as one would Ctrl-C
            dropped = _dropped(out)
            _interrupt(target)
        time.sleep(0.1)
    return True


def _interrupt(target: "procs.psutil.Process") -> bool:
    try:
        os.killpg(target.pid, signal.SIGINT) if os.getpgid(target.pid) == target.pid else target.send_signal(signal.SIGINT)
    except (ProcessLookupError, procs.psutil.NoSuchProcess):
        return False
    return True


def _dropped(out: Path) -> int:
    """How many interrupts the run's log says Python dropped: a Ctrl-C that lands in a callback
    Python cannot raise from (JAX's garbage-collector callback, often run while the run starts)
    is printed as "Exception ignored in: ..." ending in KeyboardInterrupt, and the run goes on."""
    path = out / LOG
    if not path.is_file():
        return 0
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - 65536, 0))
        text = fh.read().decode(errors="replace")
    return sum("\nKeyboardInterrupt" in block for block in text.split("Exception ignored in")[1:])
