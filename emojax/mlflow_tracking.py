"""A run folder logged to MLflow (``--track``): one MLflow run per emojax run, found again from
the run folder, so that a resumed ``train``, and ``evaluate`` or ``explain`` later, add to the
same MLflow run.

What is logged, all of it read from the run folder (the files are the record; MLflow is a view
of them):

- parameters: the run's ``config.json`` flattened (``train.epochs``, ``extractor.roi``, ...; every
  value as JSON text, a string as itself);
- tags: ``emojax.dataset``, ``emojax.preset``, ``emojax.protocol``, ``emojax.modalities``,
  ``emojax.version``, ``emojax.run_dir``;
- a nested run per seed and fold (and ``final`` with ``--refit``), tagged ``emojax.seed`` and
  ``emojax.fold``: each trained model's per-epoch ``<model>/train_loss``, ``train_acc``,
  ``val_loss``, ``val_acc``, ``val_uar`` and ``lr`` with the epoch as step (from the fold's
  ``curves.jsonl``, logged once the fold is trained), and the fold's test scores
  ``test/<model>/<score>``;
- Table 1 as metrics ``table1/<model>/<score>`` (mean; ``..._std`` the std over folds, or over
  seeds with ``--seeds``) and the majority baseline ``table1/baseline/<score>``, the pooled
  accuracy and UAR with their bootstrap interval (``pooled/<model>/...``), and as tables
  (``table1.json``, ``table1.md``); Table 2 (after ``explain``) as ``table2/<model>/<group>``
  (per cent) and ``table2.json``; another corpus's Table 1 (``evaluate --dataset``) as
  ``cross/<name>/<model>/<score>``;
- artifacts: the run folder's JSON files (``config.json``, ``model.json``, ``metrics.json``,
  ``importance.json``, ``final.json``, ``progress.json``, ``curves.jsonl``, each seed's and each
  other corpus's), under the same paths, and the run's report when a report writer is given.

Where: without a URI, ``MLFLOW_TRACKING_URI`` when it is set, else a SQLite store beside the
artifacts that hold the run (:func:`default_uri`: ``sqlite:///<ART>/mlflow.db`` for a run folder
``<ART>/runs/<name>``, an absolute path whatever the current folder; its files in
``<ART>/mlartifacts``), which ``mlflow ui --backend-store-uri`` shows with nothing else started; the experiment is ``MLFLOW_EXPERIMENT_NAME``, else ``emojax``. The MLflow run of a run
folder is kept in its ``mlflow.json`` (per tracking URI, written atomically). MLflow is an
optional extra (``emojax[mlflow]``), imported only here and only when asked for.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import EmojaxError, RunFileError
from .fileio import atomic_write_json

#: the file in a run folder that names its MLflow run on each tracking URI
RUN_FILE = "mlflow.json"
#: the local store's file name, in the artifacts folder
DEFAULT_DB = "mlflow.db"
#: the experiment runs are logged to unless MLFLOW_EXPERIMENT_NAME names another
DEFAULT_EXPERIMENT = "emojax"
#: what to do when MLflow is not installed
INSTALL_HINT = ("--track needs MLflow, an optional extra: pip install 'emojax[mlflow]' "
                "(in a clone: pip install -r requirements-mlflow.txt)")
#: the per-epoch values of a curve logged as metrics (train.loop.fit's record; "seconds" is not)
CURVE_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_uar", "lr")
#: the scores of a fold and of Table 1 (training.metrics.scores' keys)
SCORES = ("accuracy", "uar", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")
#: MLflow's limit of entries in one log_batch call
_BATCH = 1000


def artifacts_of(run_dir: str | os.PathLike) -> Path:
    """The artifacts folder that holds a run folder, as an absolute path (symbolic links kept as
    named): ``ART`` for ``ART/runs/NAME``, else the run folder's own parent."""
    run = Path(os.path.abspath(Path(run_dir).expanduser()))
    return run.parent.parent if run.parent.name == "runs" else run.parent


def default_uri(artifacts: str | os.PathLike | None = None, *, run_dir: str | os.PathLike | None = None) -> str:
    """The local store, ``sqlite:///<artifacts>/mlflow.db`` as an absolute path: beside the
    artifacts that hold ``run_dir`` (:func:`artifacts_of`) when a run folder is given, whatever the
    current folder; else in ``artifacts``, else ``EMOJAX_ARTIFACTS`` (default ``./artifacts``)."""
    if run_dir is not None:
        folder = artifacts_of(run_dir)
    else:
        folder = Path(artifacts if artifacts is not None else os.environ.get("EMOJAX_ARTIFACTS", "artifacts"))
    return "sqlite:///" + str(folder.expanduser().resolve() / DEFAULT_DB)


def tracking_uri(uri: str | None, run_dir: str | os.PathLike | None = None) -> str:
    """The tracking URI ``--track [URI]`` means for the run folder ``run_dir``: ``uri``, or without
    one ``MLFLOW_TRACKING_URI``, else :func:`default_uri` (beside the artifacts holding the run).
    A URI must name its scheme (``sqlite:///runs.db``, ``http://host:5000``, ``databricks``): a bare
    path is refused, since it is most likely a run folder taken as ``--track``'s value."""
    if not uri:
        return os.environ.get("MLFLOW_TRACKING_URI") or default_uri(run_dir=run_dir)
    if uri != "databricks" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
        hint = "; a run folder taken for it? put --track after the folder" if Path(uri).expanduser().is_dir() else ""
        raise EmojaxError(f"--track {uri}: not a tracking URI (such as sqlite:///path/mlflow.db or "
                          f"http://host:5000){hint}")
    return uri


def check_tracking(uri: str | None, run_dir: str | os.PathLike | None = None) -> str:
    """What ``--track URI`` would refuse before anything is trained, refused now without starting
    anything (the Train page checks its settings with it): a URI that is not one, MLflow not
    installed. The URI meant (:func:`tracking_uri`)."""
    import importlib.util

    uri = tracking_uri(uri, run_dir)
    if importlib.util.find_spec("mlflow") is None:
        raise EmojaxError(INSTALL_HINT)
    return uri


def load_mlflow():
    """The ``mlflow`` module, or EmojaxError saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise EmojaxError(INSTALL_HINT) from None
    import logging

    # a new local store's table creation is MLflow's own business: emojax says where it logs
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """A ``config.json`` as MLflow parameters: nested keys joined with dots, every value as JSON
    text except a string, which is itself (``{"train": {"epochs": 2}}`` -> ``{"train.epochs": "2"}``)."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, str) else json.dumps(v)
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _read(path: Path) -> dict | None:
    """A JSON object, or None when the file is absent or unreadable (it is then not logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class MlflowRun:
    """The MLflow run of one run folder: :meth:`open` finds or starts it, :meth:`progress`
    follows a ``train`` as it goes, :meth:`sync` logs what the folder holds, :meth:`close` ends it."""

    def __init__(self, run_dir: Path, uri: str, client, experiment_id: str):
        self.run_dir, self.uri, self.client, self.experiment_id = run_dir, uri, client, experiment_id
        self._run_id: str | None = None
        self._children: dict[tuple[str, str], str] | None = None
        self._last_fold: tuple | None = None
        self._params_logged = False
        self._warned = False

    # --- finding the run ------------------------------------------------------------------------

    @classmethod
    def open(cls, run_dir: str | os.PathLike, uri: str | None = None, *, experiment: str | None = None) -> "MlflowRun":
        """The MLflow run of ``run_dir`` on ``uri`` (:func:`tracking_uri`), its store reached and
        its experiment found or made now (a wrong URI is said before anything is trained); the run
        itself is found or started when something is first logged (:attr:`run_id`)."""
        uri = tracking_uri(uri, run_dir)
        mlflow = load_mlflow()
        from mlflow.exceptions import MlflowException

        name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        # a server that does not answer is said in seconds, not after MLflow's ~4 minutes of retries
        for var, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                           ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")):
            os.environ.setdefault(var, value)
        try:
            if uri.startswith("sqlite:///"):
                Path(uri[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
            client = mlflow.MlflowClient(tracking_uri=uri)
            experiment_id = cls._experiment(client, uri, name)
        except MlflowException as e:
            text = e.message
            if "Connection refused" in text or "Max retries exceeded" in text or "timed out" in text.lower():
                text = (f"no tracking server answered ({'connection refused' if 'Connection refused' in text else 'no answer'}); "
                        f"check the URI, start the server, or leave out --track (MLflow said: {text})")
            raise EmojaxError(f"MLflow at {uri}: {text}") from None
        except Exception as e:          # a URI MLflow's store cannot read (sqlite:/x.db, ...)
            raise EmojaxError(f"MLflow at {uri}: {type(e).__name__}: {e}") from None
        return cls(Path(run_dir).expanduser().resolve(), uri, client, experiment_id)

    @property
    def run_id(self) -> str:
        """The MLflow run: the one the folder's ``mlflow.json`` names on this URI when it still
        exists (marked running again) and was made for this folder (a copied or moved folder gets
        a run of its own), else a new one, then recorded in ``mlflow.json``."""
        if self._run_id is not None:
            return self._run_id
        from mlflow.exceptions import MlflowException

        record = _read(self.run_dir / RUN_FILE) or {}
        known = record.get(self.uri) if isinstance(record.get(self.uri), dict) else {}
        # a copy of a run folder carries its mlflow.json: it is another run, never logged into the original's
        run_id = known.get("run_id") if (known.get("experiment_id") == self.experiment_id
                                         and known.get("run_dir") == str(self.run_dir)) else None
        if run_id is not None:
            try:
                found = self.client.get_run(run_id)
            except MlflowException:
                found = None
            if found is None or found.info.lifecycle_stage != "active":
                run_id = None
            else:
                self.client.update_run(run_id, status="RUNNING")
        if run_id is None:
            run_id = self.client.create_run(self.experiment_id, run_name=self.run_dir.name,
                                            tags={"emojax.run_dir": str(self.run_dir),
                                                  "emojax.version": __version__}).info.run_id
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / RUN_FILE,
                              {**record, self.uri: {"experiment_id": self.experiment_id, "run_id": run_id,
                                                    "run_dir": str(self.run_dir)}})
        self._run_id = run_id
        return run_id

    @staticmethod
    def _experiment(client, uri: str, name: str) -> str:
        """The id of the experiment ``name``, made if absent (a local SQLite store keeps its files
        in ``mlartifacts`` beside the database; a server decides for itself)."""
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage != "active":
                raise EmojaxError(f"MLflow at {uri}: the experiment {name!r} is deleted; restore it "
                                  "(mlflow experiments restore) or set MLFLOW_EXPERIMENT_NAME to another")
            return found.experiment_id
        where = None
        if uri.startswith("sqlite:///"):
            where = str(Path(uri[len("sqlite:///"):]).expanduser().resolve().parent / "mlartifacts")
        return client.create_experiment(name, artifact_location=where)

    # --- following a train ----------------------------------------------------------------------

    def progress(self, event: dict) -> None:
        """A ``train_run`` progress event: once the run folder has its ``config.json``, its
        parameters and tags are logged; when training moves to another fold, the fold just
        trained is logged (its nested run and curves). A failure to log is said once on stderr and
        training goes on without logging (a store that is down would slow every epoch):
        :meth:`sync` at the end logs whatever was missed."""
        if self._warned:
            return
        try:
            if not self._params_logged and (self.run_dir / "config.json").is_file():
                self.log_config(final=False)
                self._params_logged = True
            if event.get("stage") == "train":
                here = (event.get("seed"), event.get("seed_index", 0), event.get("fold"))
                if self._last_fold is not None and here != self._last_fold:
                    self._log_fold(*self._last_fold)
                self._last_fold = here
        except Exception as e:               # noqa: BLE001 - the run's training matters more than its view
            self._warned = True
            print(f"emojax: warning: MLflow at {self.uri}: {getattr(e, 'message', None) or e}; training goes on, "
                  "and what was not logged is logged when it ends", file=sys.stderr)

    # --- logging what the folder holds ------------------------------------------------------------

    def sync(self, *, metrics: dict | None = None, report: Callable[[Path, Path], Any] | None = None) -> None:
        """Log everything the run folder holds (what is already logged with the same value is
        not logged again): parameters and tags, every fold's nested run, Table 1 (``metrics``, else
        the folder's ``metrics.json``), Table 2 (``importance.json``), other corpora
        (``cross/*/metrics.json``), the JSON files as artifacts, and with ``report`` (a function
        ``(run_dir, out)`` writing the run's report at ``out``) the report. A store that cannot be
        reached is an EmojaxError saying that the run folder is whole and how to log it again."""
        from mlflow.exceptions import MlflowException

        try:
            self._sync(metrics, report)
        except (MlflowException, OSError) as e:
            raise EmojaxError(f"MLflow at {self.uri}: {getattr(e, 'message', None) or e}; {self.run_dir} is whole and "
                              f"not changed: log it again with `emojax evaluate {self.run_dir} --track {self.uri}`") from None

    def _sync(self, metrics: dict | None, report: Callable[[Path, Path], Any] | None) -> None:
        self.log_config(final=True)
        for seed, si, fold in self._folds():
            self._log_fold(seed, si, fold)
        metrics = metrics if metrics is not None else _read(self.run_dir / "metrics.json")
        if metrics:
            self._log_fold_scores(metrics)
            self._log_table1(metrics)
        importance = _read(self.run_dir / "importance.json")
        if importance and isinstance(importance.get("table2"), dict):
            self._log_table2(importance["table2"])
        for path in sorted(self.run_dir.glob("cross/*/metrics.json")):
            cross = _read(path)
            if cross and isinstance(cross.get("summary"), dict):
                self._log_values(self.run_id, {f"cross/{path.parent.name}/{m}/{s}": v["mean"]
                                               for m, st in cross["summary"].items() for s, v in st.items()
                                               if isinstance(v, dict) and _number(v.get("mean"))})
        self._log_files()
        if report is not None:
            self._log_report(report)

    def close(self, status: str = "FINISHED") -> None:
        """End the MLflow run (when one was started): FINISHED, or FAILED or KILLED when the
        command failed (then a store that cannot be reached is passed over: the command's own
        error is the one to say)."""
        if self._run_id is None:
            return
        try:
            self.client.set_terminated(self._run_id, status=status)
        except Exception as e:               # noqa: BLE001
            if status == "FINISHED":
                raise EmojaxError(f"MLflow at {self.uri}: cannot mark the run finished ({e})") from None

    def log_config(self, *, final: bool) -> None:
        """The run's ``config.json`` as parameters and its tags. Before the run has decided
        everything (``final`` False) only values that are set are logged (the preset's modalities
        are decided from the dataset). A value that changed since it was logged (a run grown by
        more seeds or a final model, a feature store moved) keeps its first value as the
        parameter; the change is said in the tag ``emojax.params_changed``."""
        try:
            from .training.runfiles import read_json

            config = read_json(self.run_dir / "config.json")
        except RunFileError:
            return
        params = {k: v for k, v in flatten(config).items() if final or v != "null"}
        logged = self.client.get_run(self.run_id).data.params
        changed = {k: f"{logged[k]} -> {v}" for k, v in params.items() if k in logged and logged[k] != v}
        new = {k: v for k, v in params.items() if k not in logged}
        modalities = config.get("modalities") or (_read(self.run_dir / "model.json") or {}).get("modalities")
        tags = {"emojax.dataset": config.get("dataset"), "emojax.preset": (config.get("train") or {}).get("preset"),
                "emojax.protocol": config.get("protocol"), "emojax.version": __version__,
                "emojax.run_dir": str(self.run_dir),
                **({"emojax.modalities": ",".join(modalities)} if isinstance(modalities, list) else {}),
                **({"emojax.params_changed": "; ".join(f"{k}: {c}" for k, c in sorted(changed.items()))}
                   if changed else {})}
        self._batch(self.run_id, params=new, tags={k: str(v) for k, v in tags.items() if v is not None})

    # --- folds ------------------------------------------------------------------------------------

    def _seeds(self) -> list[int]:
        from .training.config import seeds_of
        from .training.runfiles import read_config

        try:
            return list(seeds_of(read_config(self.run_dir)))
        except RunFileError:
            return []

    def _folds(self) -> list[tuple[int, int, Any]]:
        """(seed, seed index, fold) of every fold the folder has curves of (folds numbered from 1),
        and the final model's."""
        from .training.progress import read_curves
        from .training.runfiles import seed_folder

        out = []
        for si, seed in enumerate(self._seeds()):
            folds = {r["fold"] for r in read_curves(seed_folder(self.run_dir, si, seed))}
            out += [(seed, si, f) for f in sorted(f for f in folds if isinstance(f, int))]
        if (self.run_dir / "checkpoint" / "final" / "curves.jsonl").is_file():
            seeds = self._seeds()
            out.append((seeds[0] if seeds else 0, 0, "final"))
        return out

    def _child(self, seed, fold) -> str:
        """The nested run of (seed, fold), made when absent."""
        if self._children is None:
            found = self.client.search_runs([self.experiment_id],
                                            filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'")
            self._children = {(r.data.tags.get("emojax.seed"), r.data.tags.get("emojax.fold")): r.info.run_id
                              for r in found}
        key = (str(seed), str(fold))
        if key not in self._children:
            name = f"{self.run_dir.name} seed {seed} " + ("final" if fold == "final" else f"fold {fold}")
            self._children[key] = self.client.create_run(
                self.experiment_id, run_name=name,
                tags={"mlflow.parentRunId": self.run_id, "emojax.seed": str(seed), "emojax.fold": str(fold)}).info.run_id
        return self._children[key]

    def _log_fold(self, seed, si: int, fold) -> None:
        """A trained fold's nested run: its curves (once: a nested run that has them is left as it
        is), then marked finished."""
        from .training.progress import read_curves
        from .training.runfiles import seed_folder

        child = self._child(seed, fold)
        run = self.client.get_run(child)
        if run.info.status != "FINISHED" and not any("/" in k and k.split("/", 1)[1] in CURVE_KEYS
                                                     for k in run.data.metrics):
            folder = self.run_dir / "checkpoint" / "final" if fold == "final" else seed_folder(self.run_dir, si, seed)
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            points = [Metric(f"{r['model']}/{k}", float(r[k]), now, int(r["epoch"]))
                      for r in read_curves(folder) if r["fold"] == fold for k in CURVE_KEYS if _number(r.get(k))]
            for i in range(0, len(points), _BATCH):
                self.client.log_batch(child, metrics=points[i:i + _BATCH])
        if run.info.status != "FINISHED":
            self.client.set_terminated(child, status="FINISHED")

    def _log_fold_scores(self, metrics: dict) -> None:
        """Each fold's test scores (and late-fusion weights) in its nested run."""
        seeds = self._seeds()
        per_seed = (metrics.get("seeds") or {}).get("folds") or [metrics.get("folds") or []]
        for si, folds in enumerate(per_seed):
            if si >= len(seeds) or not isinstance(folds, list):
                continue
            for f in folds:
                if not isinstance(f, dict) or "fold" not in f:
                    continue
                values = {f"test/{m}/{s}": v for m, sc in (f.get("models") or {}).items() for s, v in sc.items()
                          if s in SCORES and _number(v)}
                values.update({f"late_fusion_weight/{m}": w for m, w in (f.get("late_fusion_weights") or {}).items()
                               if _number(w)})
                self._log_values(self._child(seeds[si], f["fold"]), values)

    # --- tables -----------------------------------------------------------------------------------

    def _log_table1(self, metrics: dict) -> None:
        from .training.summary import table1_rows

        over_seeds = "seeds" in metrics and isinstance(metrics["seeds"].get("summary"), dict)
        summary = metrics["seeds"]["summary"] if over_seeds else metrics.get("summary") or {}
        baseline = (metrics.get("context") or {}).get("majority_baseline")
        values = {}
        for m, st in {**summary, **({"baseline": baseline} if isinstance(baseline, dict) else {})}.items():
            for s, v in st.items():
                if isinstance(v, dict):
                    values.update({f"table1/{m}/{s}" + ("" if x == "mean" else f"_{x}"): v[x]
                                   for x in ("mean", "std", "std_folds") if _number(v.get(x))})
        for m, ci in (metrics.get("ci") or {}).items():
            pooled = (metrics.get("pooled") or {}).get(m) or {}
            for s in ("accuracy", "uar"):
                if _number(pooled.get(s)):
                    values[f"pooled/{m}/{s}"] = pooled[s]
                if isinstance(ci.get(s), list) and len(ci[s]) == 2 and all(map(_number, ci[s])):
                    values[f"pooled/{m}/{s}_ci_low"], values[f"pooled/{m}/{s}_ci_high"] = ci[s]
        self._log_values(self.run_id, values)
        try:
            rows = table1_rows(summary, baseline=baseline, spread_over_folds=over_seeds)
        except (KeyError, TypeError):
            rows = {}
        if rows:
            heads = list(dict.fromkeys(h for r in rows.values() for h in r))
            self._table({"Model": list(rows), **{h: [r.get(h, "") for r in rows.values()] for h in heads}},
                        "table1.json")
        if isinstance(metrics.get("table1"), str):
            self.client.log_text(self.run_id, metrics["table1"] + "\n", "table1.md")

    def _log_table2(self, table2: dict) -> None:
        """Table 2: each fused model's modality shares (per cent; a share nothing measured is not logged)."""
        values = {f"table2/{m}/{g}": v for m, t in table2.items() if isinstance(t, dict) for g, v in t.items()
                  if _number(v)}
        self._log_values(self.run_id, values)
        groups = list(dict.fromkeys(g for t in table2.values() if isinstance(t, dict) for g in t))
        if groups:
            self._table({"Model": list(table2), **{g: [t.get(g) for t in table2.values()] for g in groups}},
                        "table2.json")

    def _table(self, columns: dict[str, list], name: str) -> None:
        """A table artifact (MLflow's format: pandas' "split" JSON), replaced when it is logged
        again (MLflow's ``log_table`` would append the rows to the old ones)."""
        if name not in {a.path for a in self.client.list_artifacts(self.run_id)}:
            self.client.log_table(self.run_id, columns, name)
            return
        import pandas as pd

        with tempfile.TemporaryDirectory(prefix="emojax-table-") as tmp:
            path = Path(tmp) / name
            pd.DataFrame(columns).to_json(path, orient="split", index=False)
            self.client.log_artifact(self.run_id, str(path))

    # --- files ------------------------------------------------------------------------------------

    def _log_files(self) -> None:
        """The run folder's JSON files (and curves) as artifacts, under their paths in the folder."""
        for path in sorted(self.run_dir.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".jsonl") and not path.name.startswith("."):
                rel = path.relative_to(self.run_dir).parent
                self.client.log_artifact(self.run_id, str(path), None if str(rel) == "." else rel.as_posix())

    def _log_report(self, report: Callable[[Path, Path], Any]) -> None:
        """The run's report, written by ``report(run_dir, out)`` into a temporary place and logged
        under ``report/`` (a file, or a folder of files)."""
        with tempfile.TemporaryDirectory(prefix="emojax-report-") as tmp:
            out = Path(tmp) / "report.html"
            try:
                made = report(self.run_dir, out)
            except EmojaxError as e:         # the run is logged all the same; its report is said missing
                print(f"emojax: warning: no report logged: {e}", file=sys.stderr)
                return
            made = Path(made) if isinstance(made, (str, os.PathLike)) and Path(made).exists() else out
            if made.is_dir():
                self.client.log_artifacts(self.run_id, str(made), "report")
            elif made.is_file():
                self.client.log_artifact(self.run_id, str(made), "report")

    # --- MLflow calls -----------------------------------------------------------------------------

    def _log_values(self, run_id: str, values: dict[str, float]) -> None:
        """Metrics at step 0, each only when its latest logged value differs."""
        from mlflow.entities import Metric

        have = self.client.get_run(run_id).data.metrics
        now = int(time.time() * 1000)
        points = [Metric(k, float(v), now, 0) for k, v in values.items() if have.get(k) != float(v)]
        for i in range(0, len(points), _BATCH):
            self.client.log_batch(run_id, metrics=points[i:i + _BATCH])

    def _batch(self, run_id: str, *, params: dict[str, str], tags: dict[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        ps, ts = [Param(k, v) for k, v in params.items()], [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, len(ps), 100):
            self.client.log_batch(run_id, params=ps[i:i + 100])
        for i in range(0, len(ts), 100):
            self.client.log_batch(run_id, tags=ts[i:i + 100])

