"""The Train page offers what ``emojax train`` takes, and the command's own parser checks what
the page builds: every option of the parser is a widget of the page or set by the page for a
stated reason (and the page offers nothing the parser lacks); the page's command line, for
settings chosen in its widgets, is read back by the CLI's parser as chosen; a setting the command
refuses is refused on the page in the command's words, and nothing is launched."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "train.py")


@pytest.fixture
def page(tmp_path, monkeypatch):
    """The Train page alone (no run yet), over an empty artifacts folder."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EMOJAX_ARTIFACTS", str(tmp_path / "artifacts"))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder dataset of two classes, four speakers each, named in the files (``s1_take.mp4``);
    the page's checks read names only, so the files are empty."""
    for label in ("calm", "angry"):
        for s in range(1, 5):
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            (tmp_path / "data" / label / f"s{s}_take.mp4").touch()
    return tmp_path / "data"


def cli_train():
    """The ``train`` parser of the command line itself."""
    from emojax.cli import build_parser

    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]


def described(action: argparse.Action) -> tuple:
    return (action.dest, tuple(action.option_strings), action.default, action.required, action.nargs, action.const,
            None if action.choices is None else list(action.choices), action.type, action.help)


def test_every_option_of_emojax_train_is_on_the_page_or_set_by_it_for_a_reason(page):
    from dashboard.train_form import SET_BY_PAGE, WIDGETS, offered
    from emojax.training.options import train_options

    parser = train_options()
    # one source: the command line's train parser has exactly the library's options
    cli = {a.dest: described(a) for a in cli_train()._actions if not isinstance(a, argparse._HelpAction)}
    assert cli == {d: described(a) for d, a in parser.items()}
    # both ways: every option is offered or set by the page (never both), and the page offers nothing the parser lacks
    assert set(offered()) | set(SET_BY_PAGE) == set(parser), set(parser) ^ (set(offered()) | set(SET_BY_PAGE))
    assert not set(offered()) & set(SET_BY_PAGE) and all(SET_BY_PAGE.values())
    assert set(offered()) <= set(WIDGETS) and ("track" in offered()) == ("track" in parser)
    # the widgets shown are exactly those of the options offered, each with the command's help for its option
    shown = {k for k in widgets(page) if k.startswith("train_") and k not in ("train_form", "train_watch")}
    assert shown == {k for keys in offered().values() for k in keys}
    assert parser["refit"].help in page.checkbox(key="train_refit").help
    assert parser["seeds"].help in page.number_input(key="train_seeds").help


#: widget -> a setting other than its default (the folder dataset's)
CHOSEN = {"train_dataset": "folder", "train_preset": "improved", "train_protocol": "kfold", "train_epochs": 3,
          "train_modalities": ["voice", "face"], "train_name": "checked", "train_speaker_pattern": "^([^_]+)_",
          "train_stream": 1, "train_accept_partial": True, "train_folds": 4, "train_allow_overlap": True,
          "train_speaker_norm": True, "train_length": 90, "train_seed": 7, "train_seeds": 2, "train_refit": True,
          "train_checkpoint_every": 0.0, "train_engine": "ray", "train_address": "ray://head:10001",
          "train_workers": 2, "train_track": True, "train_track_uri": "file:///tmp/emojax-mlruns"}


def widgets(at) -> dict:
    """The page's widgets by key."""
    return {w.key: w for w in at.main if getattr(w, "key", None)}


def choose(at, values: dict) -> None:
    shown = widgets(at)
    for key, value in values.items():
        widget = shown[key]
        if type(widget).__name__ == "TextInput":
            widget.input(value)
        elif type(widget).__name__ == "Checkbox":
            widget.check() if value else widget.uncheck()
        else:
            widget.set_value(value)


def test_the_pages_command_line_is_read_by_the_cli_as_chosen_and_checking_starts_nothing(page, folder, tmp_path):
    from dashboard.train_form import offered
    from emojax.training.options import parse_train, train_options

    keys = {k for ks in offered().values() for k in ks}
    choose(page, {"train_root": str(folder), **{k: v for k, v in CHOSEN.items() if k in keys}})
    page.button[1].click().run()              # "Check the settings, start nothing"
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert "the run would read 8 videos. Nothing was started" in page.info[0].value
    typed = shlex.split(page.code[0].value)
    assert typed[:2] == ["emojax", "train"]
    args = cli_train().parse_args(typed[2:])              # the command line's own parser
    assert vars(args) | {"func": None} == vars(parse_train(typed[2:])) | {"func": None}
    runs = tmp_path / "artifacts" / "runs"
    expected = {"dataset": "folder", "root": str(folder), "out": str(runs / "checked"), "preset": "improved",
                "protocol": "kfold", "epochs": 3, "modalities": ("face", "voice"), "classes": None,
                "speaker_pattern": "^([^_]+)_", "stream": 1, "accept_partial": True, "folds": 4,
                "allow_speaker_overlap": True, "speaker_norm": True, "length": 90, "seed": 7, "seeds": 2,
                "refit": True, "checkpoint_every": 0.0, "engine": "ray", "address": "ray://head:10001", "workers": 2,
                "store": str(tmp_path / "artifacts" / "features"), "quiet": True, "track": "file:///tmp/emojax-mlruns"}
    got = {d: getattr(args, d) for d in train_options()}
    assert got == {d: expected[d] for d in train_options()}
    # every option the page offers reached the command line, set apart from the command's default (but the
    # protocol, kfold: the page's first is another; the preset: speaker-relative landmarks need the default one,
    # paper below; the class set, IEMOCAP's alone, refused for a folder in the next test)
    assert [d for d in offered() if got[d] == train_options()[d].default] == ["preset", "protocol", "classes"]
    assert widgets(page)["train_protocol"].options[0] != "kfold"
    assert not runs.exists()                               # checked, not launched

    # a Ray address goes only with the Ray engine; the defaults leave out what the command defaults
    choose(page, {"train_engine": "local", "train_epochs": None, "train_preset": "paper", "train_speaker_norm": False,
                  **({"train_track": False} if "track" in offered() else {})})
    page.button[1].click().run()
    assert not page.error, [e.value for e in page.error]
    args = parse_train(shlex.split(page.code[0].value)[2:])
    assert (args.engine, args.address, args.epochs, args.preset, getattr(args, "track", None)) == \
        ("local", None, None, "paper", None)


def test_what_the_command_refuses_the_page_refuses_in_its_words_and_launches_nothing(page, folder, tmp_path, capsys):
    from emojax.cli import build_parser

    runs = tmp_path / "artifacts" / "runs"
    choose(page, {"train_dataset": "folder", "train_root": "", "train_name": "refused"})
    page.button[0].click().run()               # "Start training", with no dataset root
    with pytest.raises(SystemExit):            # the command line says the same, on a terminal
        build_parser().parse_args(["train", "--dataset", "folder", "--out", "o"])
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said == "emojax train: error: the following arguments are required: --root"
    assert [e.value for e in page.error] == ["emojax train: the following arguments are required: --root"]

    for settings, words in (
            ({"train_root": str(folder), "train_classes": "four"}, "--classes four chooses one of IEMOCAP's class sets"),
            ({"train_classes": None, "train_preset": "paper", "train_speaker_norm": True},
             "speaker-relative landmarks are an option of the improved preset"),
            ({"train_preset": "improved", "train_speaker_norm": False, "train_protocol": "kfold"},
             "class 'angry' has 4 videos; use --folds 4"),
            ({"train_folds": 4}, "names no speaker"),
            ({"train_protocol": "holdout", "train_name": "no way"}, "Run name 'no way'"),
            # what --track would refuse once launched (a run folder taken as the URI) is refused before
            ({"train_name": "refused", "train_track": True, "train_track_uri": "runs/here"}, "not a tracking URI")):
        choose(page, settings)
        page.button[0].click().run()
        assert not page.success and len(page.error) == 1 and words in page.error[0].value, page.error
    assert not runs.exists()


def test_the_run_name_and_the_root_follow_the_dataset_and_preset_until_the_visitor_types_their_own(page, tmp_path):
    teaching = str(tmp_path / "artifacts" / "teaching")
    name, root = (lambda: page.text_input(key="train_name").value), (lambda: page.text_input(key="train_root").value)
    assert (name(), root()) == ("teaching-improved", teaching)
    page.selectbox(key="train_dataset").set_value("folder").run()
    assert (name(), root()) == ("folder-improved", "")          # a folder has no place of its own here
    assert page.text_input(key="train_root").placeholder        # an example shown instead
    page.selectbox(key="train_preset").set_value("paper").run()
    assert name() == "folder-paper"
    page.text_input(key="train_name").input("mine").run()       # typed: never overwritten again
    page.selectbox(key="train_dataset").set_value("teaching").run()
    assert (name(), root()) == ("mine", teaching)               # the root, never typed, still follows
    page.text_input(key="train_root").input("/data/clips").run()
    page.selectbox(key="train_dataset").set_value("cremad").run()
    page.selectbox(key="train_preset").set_value("improved").run()
    assert (name(), root()) == ("mine", "/data/clips")
    # a name typed and another dataset chosen in the same rerun: what was typed is kept
    page.text_input(key="train_name").input("both")
    page.selectbox(key="train_dataset").set_value("folder").run()
    assert (name(), root()) == ("both", "/data/clips")
    assert not page.exception and not page.error


def test_a_refusal_says_where_on_the_page_the_options_it_names_are(page, folder):
    """The CLI's k-fold default (5) on a dataset of 4 speakers is refused in the command's words;
    beneath them, where on the page each option they name is set; following it is accepted."""
    from dashboard.train_form import LABELS, SECTIONS, offered

    for s in range(1, 5):                    # a second take by each speaker: 8 videos a class, 4 speakers
        for label in ("calm", "angry"):
            (folder / label / f"s{s}_again.mp4").touch()
    choose(page, {"train_dataset": "folder", "train_root": str(folder), "train_speaker_pattern": "^([^_]+)_"})
    assert page.selectbox(key="train_protocol").value == "kfold"
    assert page.number_input(key="train_folds").value == 5
    page.button[1].click().run()
    assert [e.value for e in page.error] == [f"{folder}: kfold with k=5 needs at least 5 speakers; the dataset has "
                                             "4 (use --folds 4 or --protocol speaker)"]
    hint = [c.value for c in page.caption if c.value.startswith("On this page")]
    assert hint == ["On this page: `--folds`: **Folds (k of k-fold)**, under *Protocol: folds and speakers*; "
                    "`--protocol`: **Protocol**."]
    assert page.number_input(key="train_folds").label == LABELS["folds"]          # the label the hint names
    assert page.selectbox(key="train_protocol").label == LABELS["protocol"]
    # every option the page offers has its label, and each folded section's options are offered
    assert set(offered()) <= set(LABELS) and {d for _, ds in SECTIONS.values() for d in ds} <= set(LABELS)
    page.number_input(key="train_folds").set_value(4)
    page.button[1].click().run()
    assert not page.error and "the run would read 16 videos" in page.info[0].value
    assert not [c for c in page.caption if c.value.startswith("On this page")]

    page.text_input(key="train_root").input("").run()
    page.button[1].click().run()
    assert [c.value for c in page.caption if c.value.startswith("On this page")] == [
        f"On this page: `--root`: **{LABELS['root']}**."]
