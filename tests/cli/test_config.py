"""--config FILE.toml for train and sentiment train, the shipped recipes, and `charrnn show` (--config round-trips)."""
from __future__ import annotations

from pathlib import Path

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.cli.config import file_options, recorded_options, subcommand, to_toml
from charrnn.cli.config import tomllib  # the stdlib parser, or tomli on Python 3.10
from charrnn.cli.main import build_parser

from ..apphelpers import labelled_csv
from ..helpers import REPEAT

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {"mysterious-island": ["train"], "tiny-shakespeare": ["train"],
           "reviews-sentences": ["sentiment", "train"], "sarcasm": ["sentiment", "train"]}


def parse(argv: list[str]):
    """argv parsed as main() does, the --config file applied."""
    from charrnn.cli.config import apply_config

    parser = build_parser()
    args = parser.parse_args(argv)
    path = [args.command] + ([args.sentiment_command] if args.command == "sentiment" else [])
    return apply_config(parser, subcommand(parser, path), argv, args) if args.config else args


def test_keys_with_dashes_or_underscores_and_the_command_line_wins(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('text = ["a.txt"]\nbatch-size = 32\nhidden = 128\nlayers = 3\nminutes = 5\nchapter = true\n')
    args = parse(["train", "--config", str(config), "--hidden", "256", "--layers", "1"])
    assert (args.text, args.batch_size, args.hidden, args.layers, args.minutes, args.chapter) == (
        ["a.txt"], 32, 256, 1, 5.0, True)
    args = parse(["train", "--config", str(config), "--steps", "7", "--text", "b.txt"])
    assert (args.steps, args.minutes, args.text) == (7, None, ["b.txt"])  # --steps drops the file's minutes
    args = parse(["train", "--config", str(config), "--book", "1268"])
    assert (args.book, args.text) == ([1268], None)


@pytest.mark.parametrize("text, message", [
    ("hiden = 3\nbogus-key = 1\n", "unknown option(s) for charrnn train: hiden, bogus-key"),
    ("hidden = 'big'\n", "hidden: invalid literal for int()"),
    ("hidden = 1.5\n", "hidden: expected int, got 1.5"),
    ("cell = 'transformer'\n", "cell: 'transformer' is not one of lstm, gru, rnn"),
    ("chapter = 'yes'\n", "chapter: expected true or false"),
    ("text = [1, 2]\n", "text: expected a string, got 1"),
    ("hidden = \n", "not valid TOML"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["train", "--config", str(config), "--text", "x.txt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"charrnn train: error: --config {config}") and message in err and err.count("\n") == 1


def test_without_a_source_anywhere_the_error_says_where_to_give_it(capsys):
    assert main(["train", "--steps", "1"]) == 2
    assert "give --book or --text (on the command line, or as book or text in --config)" in capsys.readouterr().err


def test_the_shipped_recipes_hold_only_their_commands_options():
    assert sorted(p.stem for p in (ROOT / "recipes").glob("*.toml")) == sorted(RECIPES)
    for name, command in RECIPES.items():
        values = file_options(subcommand(build_parser(), command), ROOT / "recipes" / f"{name}.toml")
        assert values, name


def test_toml_is_written_as_tomllib_reads_it():
    values = {"text": ["a \"b\".txt", "c\\d\n\x7f"], "lr": 1e-05, "steps": 3, "chapter": True, "x": None}
    assert tomllib.loads(to_toml(values, ["a comment"])) == {k: v for k, v in values.items() if v is not None}


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """tiny-shakespeare's recipe for 5 steps on a generated text (the recipe's own text is not needed)."""
    base = tmp_path_factory.mktemp("recipe")
    (base / "gen.txt").write_text(REPEAT * 3)
    argv = ["train", "--config", str(ROOT / "recipes" / "tiny-shakespeare.toml"), "--steps", "5",
            "--text", str(base / "gen.txt"), "--out", str(base / "run.pt"), "--eval-chars", "200", "--quiet"]
    assert main(argv) == 0
    return base, argv


def test_a_recipe_runs_its_settings_for_the_given_steps(recipe_run):
    base, _ = recipe_run
    state = ckpt.load(base / "run.pt")
    model, train = state["config"]["model"], state["config"]["train"]
    assert (model["hidden"], model["embed"], model["layers"], model["dropout"], model["weight_drop"]) == (
        512, 256, 2, 0.25, 0.15)
    assert (train["steps"], train["minutes"], train["batch_size"], train["seq_len"], train["batching"]) == (
        5, None, 64, 64, "streams")
    assert state["metrics"]["steps"] == 5 and state["metrics"]["corpus"] == "gen.txt"


def test_show_config_round_trips(recipe_run, tmp_path, capsys):
    base, argv = recipe_run
    assert main(["show", "--checkpoint", str(base / "run.pt"), "--config"]) == 0
    shown_text = capsys.readouterr().out
    shown = tomllib.loads(shown_text)
    recipe = tomllib.loads((ROOT / "recipes" / "tiny-shakespeare.toml").read_text())
    expected = {**{k: v for k, v in recipe.items() if k != "minutes"}, "steps": 5, "text": [str(base / "gen.txt")],
                "out": str(base / "run.pt"), "eval_chars": 200, "quiet": True}
    assert {k: shown.get(k) for k in expected} == expected and "minutes" not in shown
    again = tmp_path / "again.toml"
    again.write_text(shown_text)
    assert recorded_options(parse(["train", "--config", str(again)])) == recorded_options(parse(argv))


def test_show_describes_a_checkpoint_and_how_it_started(recipe_run, capsys):
    base, _ = recipe_run
    assert main(["show", "--checkpoint", str(base / "run.best.pt")]) == 0
    out = capsys.readouterr().out
    assert "kind      char-lm" in out and "hidden=512" in out and "corpus=gen.txt" in out
    assert "started   charrnn train --batch-size 64 --batching streams" in out and "--steps 5" in out


def test_sentiment_train_takes_a_config_and_round_trips(tmp_path, capsys):
    data = labelled_csv(tmp_path / "labelled.csv", n=40)
    config = tmp_path / "cls.toml"
    config.write_text(f'data = ["{data}"]\npreset = "book"\nepochs = 1\nembed = 8\nhidden = 8\nfc = 8\n'
                      'text-column = "text"\ndevice = "cpu"\nquiet = true\n')
    out = tmp_path / "cls.pt"
    assert main(["sentiment", "train", "--config", str(config), "--hidden", "6", "--out", str(out)]) == 0
    state = ckpt.load(out)
    assert (state["config"]["model"]["hidden"], state["config"]["model"]["embed"]) == (6, 8)
    capsys.readouterr()
    assert main(["show", "--checkpoint", str(out), "--config"]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    assert {k: shown[k] for k in ("data", "preset", "epochs", "hidden", "text_column")} == {
        "data": [str(data)], "preset": "book", "epochs": 1, "hidden": 6, "text_column": "text"}


def test_show_config_of_an_ensemble_says_why_not(capsys):
    assert main(["show", "--checkpoint", str(ROOT / "checkpoints" / "imdb-sentiment.pt"), "--config"]) == 2
    assert "it is an ensemble" in capsys.readouterr().err
