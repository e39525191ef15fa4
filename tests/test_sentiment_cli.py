"""`charrnn sentiment train | evaluate | predict` on a tiny generated archive."""
from __future__ import annotations

import io
import re

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main

from .sentiment_fixtures import reviews, write_tar


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
