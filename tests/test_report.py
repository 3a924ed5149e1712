"""The report to share (``emojax report``, :mod:`emojax.report`): on real runs of the session, the
HTML holds every section with the numbers of the run's own files, says what the run lacks as
missing, escapes what it reads; and in Chromium, offline, every figure draws from the inlined
Plotly with no request leaving the page and no script error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from . import browser

pytestmark = pytest.mark.timeout(900)


class Tables(HTMLParser):
    """The tables of a page by class (``tables[class]``: the tables of that class in order, each a
    list of rows of cell texts; :meth:`table`: the first), the sections by id with their text, the
    figures (``<figure class="chart">``) and every ``src`` and ``href`` but a page anchor."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.sections: dict[str, str] = {}
        self.figures = 0
        self.refs: list[str] = []
        self._table = self._row = self._cell = self._section = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("#"):
                self.refs.append(a[key])
        if tag == "table":
            self._table = []
            self.tables.setdefault(a.get("class") or "", []).append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "section":
            self._section = a["id"]
            self.sections[self._section] = ""
        elif tag == "figure" and a.get("class") == "chart":
            self.figures += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._section is not None:
            self.sections[self._section] += data

    def table(self, cls: str) -> list[list[str]]:
        return self.tables[cls][0]


def pct(stats: dict) -> str:
    return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"


def check_run_numbers(page: Tables, metrics: dict) -> None:
    """Table 1, per class and the confusion counts of the page are the run's metrics.json."""
    from emojax.models import TITLES

    table1 = {row[0]: row[1:] for row in page.table("table1")}
    head = table1.pop("Model")
    for m, s in metrics["summary"].items():
        cells = dict(zip(head, table1[TITLES[m]]))
        assert cells["Accuracy"] == pct(s["accuracy"]) and cells["UAR"] == pct(s["uar"])
        assert cells["F1"] == pct(s["f1_macro"]) and cells["Precision"] == pct(s["precision_macro"])
    base = dict(zip(head, table1["Majority class (baseline)"]))
    assert base["Accuracy"] == pct(metrics["context"]["majority_baseline"]["accuracy"])
    for m, block in metrics["pooled"].items():
        rows = page.table(f"per-class {m}")
        assert rows[0] == ["class", "precision", "recall", "f1-score", "support"]
        assert [r[0] for r in rows[1:]] == metrics["classes"]
        for row, c in zip(rows[1:], metrics["classes"]):
            rep = block["per_class"][c]
            assert row[1:] == [f"{rep['precision']:.2f}", f"{rep['recall']:.2f}", f"{rep['f1-score']:.2f}",
                               str(int(rep["support"]))]
        counts = page.table(f"confusion {m}")
        assert [[int(v) for v in r[1:]] for r in counts[1:]] == block["confusion"]


def test_the_report_of_an_explained_run_holds_every_section_with_the_runs_numbers(explained_run, tmp_path):
    from emojax.explain.groups import GROUP_TITLES
    from emojax.models import TITLES
    from emojax.report import SECTIONS, write_report

    run, _ = explained_run
    metrics = json.loads((run / "metrics.json").read_text())
    imp = json.loads((run / "importance.json").read_text())
    out = write_report(run, tmp_path / "run.html")
    text = out.read_text(encoding="utf-8")
    page = Tables(text)
    assert list(page.sections) == [a for a, _ in SECTIONS]
    check_run_numbers(page, metrics)
    # Table 2: each model's share of each modality, as importance.json has it
    head, *rows = page.table("table2")
    groups = {t: g for g, t in GROUP_TITLES.items()}
    models = {TITLES[m]: m for m in imp["table2"]}
    assert sorted(models) == sorted(r[0] for r in rows)
    for row in rows:
        shares = imp["table2"][models[row[0]]]
        assert row[1:] == ["—" if shares.get(groups[h]) is None else f"{shares[groups[h]]:.2f} %" for h in head[1:]]
    # the finer importances are drawn: the modality shares, each grouping but modality, each per-class map
    finer = sum(len(e["groupings"]) - ("modality" in e["groupings"]) + len(e.get("per_class", {}))
                for e in imp["models"].values())
    assert "Face regions" in text and "Moments: windows of the video" in text
    # what the run lacks is said, not drawn: channels not explained (the command that explains them names
    # the run by its full path), no other corpus, not a paper run
    assert "channel" not in imp["models"]["early_fusion"]["groupings"]
    assert (f"Not explained: channels (each input channel: the finest importances) (emojax explain {run} "
            "--per-class explains every grouping)") in page.sections["table2"]
    assert "have not been tested on another corpus" in page.sections["cross-corpus"]
    assert f"emojax evaluate {run} --dataset KIND" in page.sections["cross-corpus"]
    # the library's Markdown sentences are rendered: their code spans are code, no backtick is left
    assert f"<code>emojax explain {run} --per-class</code>" in text
    assert not [a for a, t in page.sections.items() if "`" in t], "a backtick shown literally"
    assert "belongs to paper-preset runs" in page.sections["assumptions"]
    assert "Speaker-independent" in page.sections["configuration"]
    # a leave-one-actor-out run records the CLI's 5 folds and the holdout's share unread: said so
    assert json.loads((run / "config.json").read_text())["protocol"] == "speaker"
    assert ("config.json, whole; not read by this speaker run: folds (read by kfold alone), test_fraction "
            "(read by holdout alone)") in page.sections["configuration"]
    assert "JAX" in page.sections["environment"] and "videos used" in page.sections["environment"]
    # every figure: Table 1's, per class and confusion per model, two curves, Table 2 and the finer ones
    models = len(metrics["pooled"])
    assert page.figures == 1 + 2 * models + 2 + 1 + finer
    assert f'<meta name="emojax-figures" content="{page.figures}">' in text
    # self-contained: Plotly inlined once, nothing fetched from elsewhere
    assert text.count("plotly.js v") == 1 and not page.refs


def test_the_report_of_a_paper_run_holds_the_assumptions_and_its_other_corpus(paper_run, tmp_path, monkeypatch):
    """A copy of the paper run, tested as another corpus on its own clips (all their features are
    in the store: nothing is extracted), with a hand-edited config.json naming a root that is
    markup: the report has the paper's table as model.json has it (its code spans as code), the
    cross-corpus Table 1 as its metrics.json, says the run is not explained with the command that
    explains it, the run named by its full path though the report was asked for by a relative one,
    and escapes the root."""
    from emojax.crosscorpus import cross_evaluate
    from emojax.models import TITLES
    from emojax.report import report_html

    src, metrics = paper_run
    run = shutil.copytree(src, tmp_path / "paper")
    config = json.loads((run / "config.json").read_text())
    cross = cross_evaluate(run, config["dataset"], config["root"], store=config["store"], name="own-clips",
                           bootstrap=50)
    info = json.loads((run / "model.json").read_text())
    hostile = '<script>alert("root")</script>'
    (run / "config.json").write_text(json.dumps({**config, "root": config["root"] + hostile}))
    monkeypatch.chdir(run.parent)
    text = report_html("paper")
    page = Tables(text)
    check_run_numbers(page, metrics)
    rows = page.table("assumptions")
    assert rows[1:] == [[c[k].replace("`", "") for k in ("topic", "paper", "emojax")] for c in info["paper"]["choices"]]
    assert any("`--protocol`" in c["emojax"] for c in info["paper"]["choices"]) and "<code>--protocol</code>" in text
    assert f"{len(info['paper']['not_stated'])} of its {len(info['paper']['choices'])} choices" in text
    assert "has not been explained yet" in page.sections["table2"] and "table2" not in page.tables
    assert f"(emojax explain {run} --per-class does it" in page.sections["table2"]
    assert not [a for a, t in page.sections.items() if "`" in t], "a backtick shown literally"
    assert "own-clips" in page.sections["cross-corpus"]
    other = {row[0]: row[1:] for row in page.tables["table1"][1]}          # the second Table 1: the other corpus
    for m, s in cross["summary"].items():
        assert other[TITLES[m]][0] == pct(s["accuracy"])
    assert hostile not in text and "&lt;script&gt;alert(&quot;root&quot;)&lt;/script&gt;" in text


def test_emojax_report_writes_the_file_and_names_a_bad_run(explained_run, tmp_path):
    run, _ = explained_run
    out = tmp_path / "shared" / "run.html"
    proc = subprocess.run([sys.executable, "-m", "emojax.cli", "report", str(run), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"written: {out}" and out.read_text().startswith("<!DOCTYPE html>")
    for bad, said in ((tmp_path / "nowhere", "no such run folder"), (tmp_path, "config.json: missing")):
        proc = subprocess.run([sys.executable, "-m", "emojax.cli", "report", str(bad)], capture_output=True, text=True)
        assert proc.returncode == 2 and str(bad) in proc.stderr and said in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "report.html").exists()


def test_the_report_opens_offline_in_chromium_with_every_chart_drawn(chromium_ready, explained_run, tmp_path):
    """The file opened from disk (file://): every request the page makes is recorded and every one
    but the file's own is refused; none is made, every figure has drawn its SVG, no script failed.
    A request the page is made to send at the end is caught and refused: the net is real."""
    from emojax.report import write_report

    run, _ = explained_run
    out = write_report(run, tmp_path / "report.html")
    figures = Tables(out.read_text(encoding="utf-8")).figures
    url = out.as_uri()
    requests, errors, console = [], [], []

    def route(r):
        requests.append(r.request.url)
        r.continue_() if r.request.url == url else r.abort()

    with browser.chromium() as page:
        page.route("**/*", route)
        page.on("request", lambda q: requests.append(q.url))
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {figures}",
                               timeout=60_000)
        plots = page.locator("figure.chart .js-plotly-plot")
        assert plots.count() == figures
        assert all(plots.nth(i).locator(".main-svg").count() >= 1 for i in range(figures))
        assert page.locator("figure.chart .js-plotly-plot .main-svg").first.bounding_box()["height"] > 100
        assert not errors and not console, (errors, console)
        assert set(requests) <= {url}, requests
        said = page.evaluate("fetch('https://example.invalid/x').then(() => 'sent', () => 'refused')")
    assert said == "refused" and any("example.invalid" in r for r in requests)


def test_a_damaged_file_of_the_run_is_an_error_naming_it_and_nothing_is_written(explained_run, tmp_path):
    """Each JSON file the report reads (importance.json, metrics.json, config.json, model.json, an
    other corpus's metrics.json), cut to half its length as a full disk leaves it: `emojax report`
    exits 2 naming the file and the problem, and the report it would replace is left as it was."""
    from emojax.errors import RunFileError
    from emojax.report import write_report

    src, _ = explained_run
    run = shutil.copytree(src, tmp_path / "run")
    (run / "cross" / "own").mkdir(parents=True)
    shutil.copy(run / "metrics.json", run / "cross" / "own" / "metrics.json")
    shared = tmp_path / "shared"
    shared.mkdir()
    out = shared / "run.html"
    out.write_text("the report shared last week")
    for name in ("importance.json", "metrics.json", "config.json", "model.json", "cross/own/metrics.json"):
        path = run / name
        whole = path.read_bytes()
        path.write_bytes(whole[:len(whole) // 2])
        if name == "importance.json":           # the command: exit 2, one line naming the file
            proc = subprocess.run([sys.executable, "-m", "emojax.cli", "report", str(run), "--out", str(out)],
                                  capture_output=True, text=True)
            assert proc.returncode == 2 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr)
            assert f"{path}: not valid JSON" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        else:
            with pytest.raises(RunFileError, match="not valid JSON") as caught:
                write_report(run, out)
            assert str(path) in str(caught.value)
        assert out.read_text() == "the report shared last week" and [p.name for p in shared.iterdir()] == ["run.html"]
        path.write_bytes(whole)
    # whole again, every file: the report is written, with the other corpus
    text = write_report(run, out).read_text(encoding="utf-8")
    assert "own" in Tables(text).sections["cross-corpus"]


@pytest.fixture(scope="module")
def seeds_run(teaching_set, tmp_path_factory):
    """``(run folder, metrics)``: two seeds and a final model, one epoch, holdout, the pulse and the
    landmarks, on ``teaching_set(1.0)`` (whose features are stored: nothing is extracted)."""
    from emojax.training.config import run_config
    from emojax.training.run import train_run

    root = teaching_set(1.0)
    out = tmp_path_factory.mktemp("runs") / "seeds"
    cfg = run_config("teaching", root, preset="improved", protocol="holdout", store=str(root / "store"), epochs=1,
                     modalities="rppg,face", seeds=2, refit=True)
    return out, train_run(cfg, out, checkpoint_every=0)


def test_the_report_of_a_run_of_several_seeds_gives_table1_over_seeds_and_each_seed(seeds_run):
    """Table 1 is the mean ± std over seeds with the std over every fold of every seed, as
    metrics.json's ``seeds`` has them; each seed's row is its own scores; the final model is said."""
    from emojax.models import TITLES
    from emojax.report import report_html

    run, _ = seeds_run
    metrics = json.loads((run / "metrics.json").read_text())
    seeds = metrics["seeds"]
    assert seeds["values"] == [0, 1] and "final" in metrics
    text = report_html(run)
    page = Tables(text)
    head, *rows = page.table("table1")
    table1 = {row[0]: dict(zip(head[1:], row[1:])) for row in rows}
    assert set(table1) == {TITLES[m] for m in seeds["summary"]} | {"Majority class (baseline)"}
    for m, st in seeds["summary"].items():
        cells = table1[TITLES[m]]
        assert (cells["Accuracy"], cells["UAR"], cells["F1"]) == (pct(st["accuracy"]), pct(st["uar"]),
                                                                  pct(st["f1_macro"]))
        assert cells["Accuracy ± folds"] == f"{100 * st['accuracy']['std_folds']:.2f}"
        assert cells["UAR ± folds"] == f"{100 * st['uar']['std_folds']:.2f}"
    assert "mean ± std over 2 seeds (seeds 0, 1" in page.sections["table1"]
    head, *rows = page.table("seeds")
    models = [m for m in seeds["per_seed"][0]]
    assert len(rows) == 2
    for row, seed, scores in zip(rows, seeds["values"], seeds["per_seed"]):
        got = dict(zip(head, row))
        assert got["seed"] == str(seed)
        for m in models:
            assert got[f"{TITLES[m]} accuracy"] == f"{100 * scores[m]['accuracy']:.2f}"
            assert got[f"{TITLES[m]} UAR"] == f"{100 * scores[m]['uar']:.2f}"
    # the final model's sentence, its code span rendered
    assert f"Final model: trained on all {metrics['final']['videos']} videos" in page.sections["table1"]
    assert "<code>emojax predict</code>" in text and "`" not in page.sections["table1"]
