"""Every list a user chooses from is said once, in the library: each option of the CLI that has
choices offers exactly the library's registry (and defaults to the library's default), and each
page's select boxes offer exactly the registry they read."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from . import test_dashboard

ROOT = Path(__file__).resolve().parents[1]
#: the fixture ``app(page)``: a page of the dashboard over the test artifacts
app = test_dashboard.app


def registries() -> dict[str, list[str]]:
    """Option name -> the registry it offers, from the library."""
    from emojax.data import LOADERS
    from emojax.data.batch import ENGINES
    from emojax.data.iemocap import CLASS_SETS
    from emojax.features.face import DETECTORS, FACE_POLICIES
    from emojax.features.record import ROIS
    from emojax.features.tracker import TRACKING
    from emojax.features.rppg import RPPG_METHODS
    from emojax.presets import PRESET_NAMES
    from emojax.training.protocols import PROTOCOLS

    return {"dataset": sorted(LOADERS), "classes": list(CLASS_SETS), "engine": list(ENGINES),
            "detector": list(DETECTORS), "roi": list(ROIS), "tracking": list(TRACKING), "policy": list(FACE_POLICIES),
            "method": list(RPPG_METHODS), "preset": list(PRESET_NAMES), "protocol": list(PROTOCOLS),
            "export": ["csv"]}       # what extract exports: the per-frame table, as CSV (vitals.write_table)


def choice_options():
    """(command, argparse action) of every option of every command that has choices."""
    from emojax.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return [(name, action) for name, sub in commands.items() for action in sub._actions if action.choices is not None]


def test_every_cli_choice_list_is_the_librarys_registry():
    from emojax.training.config import PRESETS

    known, found = registries(), choice_options()
    assert {a.dest for _, a in found} == set(known)          # an option with choices the test does not know fails
    for command, action in found:
        assert list(action.choices) == known[action.dest], f"emojax {command} --{action.dest}"
    assert known["preset"] == list(PRESETS)                    # the training settings exist for every preset name
    assert len(found) >= 20


def test_every_cli_default_is_the_librarys():
    from emojax.cli import build_parser
    from emojax.cli.common import engine_of, extractor_config
    from emojax.data.transforms import InputConfig
    from emojax.features import ExtractorConfig
    from emojax.features.rppg import DEFAULT_METHOD
    from emojax.presets import DEFAULT_PRESET
    from emojax.training import RunConfig, TrainConfig

    parser = build_parser()
    args = parser.parse_args(["heart-rate", "clip.mp4"])
    assert args.method == DEFAULT_METHOD == InputConfig().rppg_method      # the improved preset's pulse too
    assert extractor_config(args) == ExtractorConfig()
    args = parser.parse_args(["train", "--dataset", "csv", "--root", "m.csv", "--out", "run"])
    assert args.preset == DEFAULT_PRESET == TrainConfig().preset
    assert args.protocol == {f.name: f.default for f in dataclasses.fields(RunConfig)}["protocol"]
    engine = engine_of(args)
    assert engine == type(engine)()


def test_the_modalities_option_reads_the_librarys_registry():
    """``emojax train --modalities`` takes a comma-separated list checked against MODALITIES (no
    argparse choices: a list is one value), says every name in its help, and reaches the run's
    config; the page's background command line carries it the same way."""
    import pytest

    from emojax.cli import build_parser
    from emojax.cli.train import run_config_of
    from emojax.features.modalities import MODALITIES
    from emojax.training.commands import train_command

    parser = build_parser()
    base = ["train", "--dataset", "csv", "--root", "m.csv", "--out", "run"]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    action = next(a for a in sub["train"]._actions if a.dest == "modalities")
    assert all(m in action.help for m in MODALITIES) and action.metavar == ",".join(MODALITIES)
    assert parser.parse_args(base).modalities is None and run_config_of(parser.parse_args(base)).modalities is None
    args = parser.parse_args(base + ["--modalities", "voice,face"])
    assert args.modalities == ("face", "voice") == run_config_of(args).modalities   # MODALITIES order
    assert parser.parse_args(base + ["--modalities", ",".join(MODALITIES)]).modalities == MODALITIES
    for bad in ("face,lips", "face,face", ","):
        with pytest.raises(SystemExit):
            parser.parse_args(base + ["--modalities", bad])
    cmd = train_command("out", dataset="csv", root="m.csv", modalities=("face", "voice"))
    assert parser.parse_args(cmd[cmd.index("train"):]).modalities == ("face", "voice")
    assert "--modalities" not in train_command("out", dataset="csv", root="m.csv", modalities=())


def test_modality_titles_are_said_once_in_the_library(monkeypatch, capsys):
    """No command or page spells the pulse's title ("rPPG") as a string of its own: the
    importance table's columns and the integrated gradients' line read the library's titles
    (change the library's, and the CLI's output follows)."""
    import ast

    from emojax.cli.common import print_importance
    from emojax.explain import groups
    from emojax.features.modalities import TABLE_TITLES

    assert groups.GROUP_TITLES == {groups.MODALITY_GROUP[m]: t for m, t in TABLE_TITLES.items()}
    for path in [*(ROOT / "emojax" / "cli").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        spelt = [n.value for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Constant) and n.value == TABLE_TITLES["rppg"]]
        assert not spelt, f"{path.name} spells a modality's title: {spelt}"
    monkeypatch.setitem(groups.GROUP_TITLES, "rppg", "Pulse (rPPG)")
    print_importance({"paper_table2": {}, "table2": {"early_fusion": {"rppg": 40.0, "visual": 60.0}}, "models": {}})
    header = capsys.readouterr().out.splitlines()[1]
    assert "Pulse (rPPG)" in header and "visual" in header


def test_the_method_help_says_every_method_and_the_default_from_the_library():
    """The help texts of the method choice (CLI and Signals page) are built from the library's notes,
    one per method, the default marked: a method added, removed or made the default shows there."""
    import argparse

    from emojax.cli import build_parser
    from emojax.features.rppg import DEFAULT_METHOD, METHOD_NOTES, RPPG_METHODS, methods_said

    assert list(METHOD_NOTES) == list(RPPG_METHODS)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    text = next(a for a in sub["heart-rate"]._actions if a.dest == "method").help
    assert text == "pulse method: " + methods_said()
    for m, note in METHOD_NOTES.items():
        assert (note[:-1] + "; the default)" if m == DEFAULT_METHOD else note) in text
    assert methods_said(("pos", "green")) == "POS (Wang et al. 2017), or the green channel"


def labels_of(box, registry) -> None:
    """A select box offers each name of ``registry`` once and nothing else (read through its own labels)."""
    assert sorted(box.options) == sorted(box.format_func(n) for n in registry)
    assert len(set(box.options)) == len(box.options)


def test_the_train_page_offers_the_librarys_lists(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from emojax.features.modalities import MODALITIES
    from emojax.presets import DEFAULT_PRESET

    monkeypatch.setenv("EMOJAX_ARTIFACTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    known = registries()
    for key, name in (("train_dataset", "dataset"), ("train_protocol", "protocol"), ("train_preset", "preset"),
                      ("train_engine", "engine")):
        labels_of(at.selectbox(key=key), known[name])
    box = at.multiselect(key="train_modalities")
    assert sorted(box.options) == sorted(box.format_func(m) for m in MODALITIES) and box.value == []
    assert at.selectbox(key="train_preset").value == DEFAULT_PRESET
    assert "improved: PBV pulse" in at.selectbox(key="train_preset").help


def test_signals_and_teaching_offer_the_librarys_lists(app, dashboard_artifacts):
    from emojax.estimator import TrainedRun
    from emojax.explain.importance import VIDEO_GROUPINGS
    from emojax.features.rppg import DEFAULT_METHOD, PULSE_METHODS, RPPG_METHODS, methods_said
    from emojax.models import model_names

    at = app("signals")
    box = at.selectbox(key="signals_method")
    assert box.options == [m for m in RPPG_METHODS if m != "mean"] and box.value == DEFAULT_METHOD
    assert box.help == methods_said(PULSE_METHODS)
    at = app("teaching")
    demo = TrainedRun(dashboard_artifacts / "runs" / "demo-improved").model_names   # the demo run's models
    assert demo == model_names(("rppg", "face", "voice"))                        # its clips speak
    labels_of(at.selectbox(key="pfi_model"), demo)
    assert [g.partition(":")[0] for g in at.selectbox(key="pfi_grouping").options] == list(VIDEO_GROUPINGS)
