"""`charrnn sentiment train | evaluate | predict` on a tiny generated archive and small generated CSV/JSON files."""
from __future__ import annotations

import io
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.sentiment import load_sentiment
from charrnn.sentiment.kind import DEFAULT_FILE, default_sentiment_checkpoint

from ..sentiment_fixtures import review, reviews, write_tar


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentiment_cli")
    data = write_tar(tmp / "imdb.tar.gz", reviews({"train": 60, "test": 25}))
    out = tmp / "s.pt"
    code = main(["sentiment", "train", "--data", str(data), "--preset", "best", "--embed", "16", "--hidden", "16",
                 "--epochs", "4", "--dropout", "0", "--lr", "0.01", "--batch-size", "16", "--device", "cpu", "--quiet",
                 "--out", str(out)])
    assert code == 0
    return data, out


def test_train_writes_a_sentiment_checkpoint(trained):
    state = ckpt.load(trained[1], kind="sentiment")
    assert state["config"]["model"]["embed"] == 16 and state["config"]["model"]["bidirectional"] is True
    assert state["config"]["train"]["epochs"] == 4 and state["metrics"]["n_train"] == 96
    assert state["metrics"]["val_accuracy"] >= 0.8


def test_evaluate_prints_accuracy_last(trained, capsys):
    data, out = trained
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--data", str(data), "--record"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"accuracy=(\d\.\d{4}) n=50", last)
    assert m and float(m[1]) >= 0.8
    assert ckpt.load(out)["metrics"]["test_accuracy"] == pytest.approx(float(m[1]), abs=1e-4)


def test_predict_arguments_and_stdin(trained, capsys, monkeypatch):
    out = trained[1]
    assert main(["sentiment", "predict", "--checkpoint", str(out), "great wonderful film", "awful boring bad", ""]) == 0
    lines = capsys.readouterr().out.splitlines()
    probs = [float(line.split("\t")[0]) for line in lines]
    assert [line.split("\t", 1)[1] for line in lines] == ["great wonderful film", "awful boring bad", ""]
    assert all(re.fullmatch(r"\d\.\d{4}\t.*", line) for line in lines)
    assert probs[0] > 0.5 > probs[1]
    monkeypatch.setattr("sys.stdin", io.StringIO("great wonderful film\nawful boring bad\n"))
    assert main(["sentiment", "predict", "--checkpoint", str(out), "-"]) == 0
    assert capsys.readouterr().out.splitlines() == lines[:2]


def test_errors_are_reported_cleanly(tmp_path, trained, capsys):
    assert main(["sentiment", "evaluate", "--checkpoint", str(trained[1]), "--data", str(tmp_path / "no.tar.gz")]) == 2
    assert "data file not found" in capsys.readouterr().err
    assert main(["sentiment", "predict", "--checkpoint", str(tmp_path / "none.pt"), "hi"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["sentiment", "predict", "--checkpoint", str(trained[1])]) == 2
    assert "give texts" in capsys.readouterr().err


# ---------------------------------------------------------------- labelled files other than IMDb

TINY_ARGS = ["--embed", "8", "--hidden", "8", "--fc", "8", "--epochs", "2", "--dropout", "0", "--lr", "0.02",
             "--batch-size", "16", "--device", "cpu", "--quiet", "--max-tokens", "30"]


def _csv(path, n: int, seed: int = 0, labels=("neg", "pos")):
    rng = random.Random(seed)
    rows = [(review(rng, i % 2).replace('"', "'"), labels[i % 2]) for i in range(n)]
    path.write_text("sentiment,text\n" + "".join(f'{y},"{t}"\n' for t, y in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def csv_trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentiment_csv")
    data, out = _csv(tmp / "reviews.csv", 300), tmp / "c.pt"
    assert main(["sentiment", "train", "--data", str(data), "--val-fraction", "0.2", "--seed", "5", "--out", str(out),
                 *TINY_ARGS]) == 0
    return data, out


def test_csv_training_records_classes_and_split(csv_trained):
    data, out = csv_trained
    state = ckpt.load(out, kind="sentiment")
    assert state["classes"] == ["neg", "pos"]
    assert state["data"]["format"] == "csv" and state["data"]["source"] == "reviews.csv"
    assert (state["data"]["text_column"], state["data"]["label_column"]) == ("text", "sentiment")
    split = state["data"]["split"]
    assert split["val_fraction"] == 0.2 and split["seed"] == 5 and split["n_rows"] == 300 and split["val_size"] == 60
    assert state["metrics"]["n_train"] == 240 and state["metrics"]["n_val"] == 60
    assert state["metrics"]["corpus"] == "reviews.csv" and "test_accuracy" not in state["metrics"]
    sm = load_sentiment(out)
    assert sm.classes == ("neg", "pos")


def test_evaluate_without_test_measures_the_same_held_out_rows(csv_trained, capsys):
    data, out = csv_trained
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--data", str(data), "--record"]) == 0
    captured = capsys.readouterr()
    m = re.fullmatch(r"accuracy=(\d\.\d{4}) n=60", captured.out.strip().splitlines()[-1])
    assert m and float(m[1]) == ckpt.load(out)["metrics"]["val_accuracy"]  # same rows, same weights
    assert "held-out" in captured.err and "nothing recorded" in captured.err
    assert "test_accuracy" not in ckpt.load(out)["metrics"]


def test_evaluate_on_another_file_measures_all_its_rows(csv_trained, tmp_path, capsys):
    # a file other than the training one (SST-2's dev.tsv beside train.tsv) is unseen: every row is a test row,
    # and its own column names are found even though the training file named them differently
    other = tmp_path / "other.csv"
    rows = _csv(tmp_path / "o.csv", 120, seed=1).read_text().splitlines()
    header = rows[0].split(",")
    assert "text" in header
    other.write_text("\n".join([",".join("content" if h == "text" else h for h in header), *rows[1:]]) + "\n")
    assert main(["sentiment", "evaluate", "--checkpoint", str(csv_trained[1]), "--data", str(other)]) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1].endswith(" n=120") and "not the file the checkpoint was trained on" in err


def test_test_file_in_train_and_evaluate(csv_trained, tmp_path, capsys):
    data, out = csv_trained
    test = _csv(tmp_path / "test.csv", 40, seed=2)
    new = tmp_path / "t.pt"
    assert main(["sentiment", "train", "--data", str(data), "--test", str(test), "--out", str(new), *TINY_ARGS]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.search(r"test_accuracy=\d\.\d{4} n=40$", last)
    assert ckpt.load(new)["metrics"]["n_test"] == 40 and ckpt.load(new)["data"]["split"]["val_fraction"] == 0.1
    for args in (["--data", str(data), "--test", str(test)], ["--test", str(test)]):
        assert main(["sentiment", "evaluate", "--checkpoint", str(new), *args]) == 0
        acc = float(re.fullmatch(r"accuracy=(\d\.\d{4}) n=40", capsys.readouterr().out.strip())[1])
        assert acc == ckpt.load(new)["metrics"]["test_accuracy"]
    assert main(["sentiment", "train", "--data", str(data), "--test", "--out", str(new), *TINY_ARGS]) == 2
    assert "has no test split" in capsys.readouterr().err
    wrong = _csv(tmp_path / "wrong.csv", 10, labels=("bad", "good"))
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--test", str(wrong)]) == 2
    assert "is not one of the model's classes 'neg', 'pos'" in capsys.readouterr().err


def test_sarcasm_classes_reach_the_model_and_predict(tmp_path, capsys):
    rng = random.Random(0)
    lines = [json.dumps({"headline": review(rng, i % 2), "is_sarcastic": i % 2, "article_link": ""})
             for i in range(120)]
    data = tmp_path / "Sarcasm_Headlines_Dataset.json"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "sarcasm.pt"
    assert main(["sentiment", "train", "--data", str(data), "--out", str(out), *TINY_ARGS]) == 0
    assert "class 1 = 'sarcastic'" in capsys.readouterr().err
    assert ckpt.load(out)["classes"] == ["not sarcastic", "sarcastic"]
    assert load_sentiment(out).classes == ("not sarcastic", "sarcastic")
    folder = tmp_path / "shelf"
    folder.mkdir()
    shutil.copy(out, folder / "sarcasm.pt")
    assert default_sentiment_checkpoint(folder) == folder / "sarcasm.pt"  # the newest, with no default file
    assert main(["sentiment", "predict", "--checkpoints", str(folder), "a great film"]) == 0
    captured = capsys.readouterr()
    assert re.fullmatch(r"\d\.\d{4}\ta great film", captured.out.strip()) and "P(sarcastic)" in captured.err


def test_predict_without_checkpoint_uses_the_apps_default(trained, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with pytest.raises(ckpt.CheckpointError, match="no sentiment checkpoint"):
        default_sentiment_checkpoint(folder)
    shutil.copy(trained[1], folder / DEFAULT_FILE)
    shutil.copy(trained[1], folder / "newer.pt")
    assert default_sentiment_checkpoint(folder) == folder / DEFAULT_FILE
    monkeypatch.chdir(tmp_path)
    assert main(["sentiment", "predict", "great wonderful film"]) == 0
    captured = capsys.readouterr()
    assert DEFAULT_FILE in captured.err and "P(positive)" in captured.err
    assert float(captured.out.split("\t")[0]) > 0.5
    (folder / DEFAULT_FILE).unlink()
    (folder / "newer.pt").unlink()
    assert main(["sentiment", "predict", "hi"]) == 2
    assert "no sentiment checkpoint" in capsys.readouterr().err


def test_checkpoints_without_classes_are_negative_positive(trained, tmp_path):
    state = ckpt.load(trained[1], kind="sentiment")
    assert state["classes"] == ["negative", "positive"] and state["data"]["format"] == "imdb"
    assert state["data"]["split"]["val_size"] == 24 and state["data"]["split"]["val_fraction"] is None
    old = {k: v for k, v in state.items() if k not in ("classes", "data")}
    ckpt.save(old, tmp_path / "old.pt")
    assert load_sentiment(tmp_path / "old.pt").classes == ("negative", "positive")
    ckpt.save({**old, "classes": ["same", "same"]}, tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="not 2 to 100 distinct names"):
        load_sentiment(tmp_path / "bad.pt")
    ckpt.save({**old, "classes": ["a", "b", "c"]}, tmp_path / "three.pt")  # names that do not fit the model
    with pytest.raises(ckpt.CheckpointError, match="it names 3 classes but its model has 2"):
        load_sentiment(tmp_path / "three.pt")
    shipped = Path(__file__).resolve().parents[2] / "checkpoints"
    assert default_sentiment_checkpoint(shipped).name == DEFAULT_FILE == "sentiment-blend.pt"
