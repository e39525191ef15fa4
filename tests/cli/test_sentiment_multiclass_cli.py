"""`charrnn sentiment` with more than two classes: train, evaluate (confusion matrix, macro-F1, the accuracy line
last), predict (a header of the classes, a column each), explain --class, ensemble --int8, and --format imdb-stars;
all on generated files."""
from __future__ import annotations

import re

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main

from ..sentiment_fixtures import keyword_csv, reviews, write_tar

THREE = ["sports", "arts", "tech"]
TINY = ["--preset", "best", "--embed", "16", "--hidden", "16", "--epochs", "4", "--dropout", "0", "--lr", "0.01",
        "--batch-size", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiclass_cli")
    data = keyword_csv(tmp / "three.csv", THREE, 60)
    test = keyword_csv(tmp / "three_test.csv", THREE, 15, seed=7)
    assert main(["sentiment", "train", "--data", str(data), "--test", str(test), *TINY, "--out", str(tmp / "a.pt")]) \
        == 0
    assert main(["sentiment", "train", "--data", str(data), *TINY, "--pooling", "mean", "--out", str(tmp / "b.pt")]) \
        == 0
    return tmp, data, test


def test_train_names_the_classes_and_prints_macro_f1(trained, capsys):
    tmp, data, test = trained
    out = tmp / "c.pt"
    assert main(["sentiment", "train", "--data", str(data), "--test", str(test), *TINY, "--epochs", "1",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "class 0 = 'arts', class 1 = 'sports', class 2 = 'tech'" in captured.err
    assert re.search(r" test_accuracy=\d\.\d{4} n=45 test_macro_f1=\d\.\d{4}$", captured.out.strip())


def test_evaluate_prints_the_confusion_matrix_macro_f1_and_accuracy_last(trained, capsys):
    tmp, _, test = trained
    assert main(["sentiment", "evaluate", "--checkpoint", str(tmp / "a.pt"), "--test", str(test), "--record"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:6] == ["true", "\\", "predicted", "arts", "sports", "tech"]
    assert [line.split()[0] for line in lines[1:4]] == ["arts", "sports", "tech"]
    matrix = [[int(v) for v in line.split()[1:4]] for line in lines[1:4]]
    assert [sum(row) for row in matrix] == [15, 15, 15]
    right = sum(matrix[i][i] for i in range(3))
    f1 = re.fullmatch(r"macro_f1=(\d\.\d{4})", lines[-2])
    m = re.fullmatch(r"accuracy=(\d\.\d{4}) n=45", lines[-1])  # the last line's contract, as for two classes
    assert f1 and m and float(m[1]) == pytest.approx(right / 45, abs=1e-4) and float(m[1]) > 0.9
    metrics = ckpt.load(tmp / "a.pt")["metrics"]
    assert metrics["test_accuracy"] == float(m[1]) and metrics["test_macro_f1"] == float(f1[1])


def test_predict_prints_a_header_then_a_column_per_class_and_the_label(trained, capsys):
    tmp = trained[0]
    texts = ["the striker scored a goal", "a painting in the gallery", "laptop code", ""]
    assert main(["sentiment", "predict", "--checkpoint", str(tmp / "a.pt"), *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "arts\tsports\ttech\tlabel\ttext"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[4] for r in rows] == texts and [r[3] for r in rows[:3]] == ["sports", "arts", "tech"]
    for r in rows:
        assert all(re.fullmatch(r"\d\.\d{4}", v) for v in r[:3]) and abs(sum(map(float, r[:3])) - 1) < 2e-4
        assert r[3] == ["arts", "sports", "tech"][max(range(3), key=lambda i: float(r[i]))]


def test_explain_towards_the_predicted_class_or_a_picked_one(trained, capsys):
    tmp = trained[0]
    assert main(["sentiment", "explain", "--checkpoint", str(tmp / "a.pt"), "a", "goal", "in", "the", "match"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("P(sports) = ") and "(predicted: sports)" in out[1]
    assert main(["sentiment", "explain", "--checkpoint", str(tmp / "a.pt"), "--class", "tech", "a goal"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("P(tech) = ") and "+ towards tech, - away from it" in out[-1]
    assert main(["sentiment", "explain", "--checkpoint", str(tmp / "a.pt"), "--class", "music", "a goal"]) == 2
    assert capsys.readouterr().err.strip() == ("charrnn sentiment: error: no class 'music': the classifier's classes "
                                               "are arts, sports, tech")


def test_int8_ensemble_of_three_class_members_predicts_and_evaluates(trained, capsys):
    tmp, _, test = trained
    out = tmp / "e.pt"
    assert main(["sentiment", "ensemble", str(tmp / "a.pt"), str(tmp / "b.pt"), "--int8", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["sentiment", "predict", "--checkpoint", str(out), "laptop code"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header == "arts\tsports\ttech\tlabel\ttext" and row.split("\t")[3:] == ["tech", "laptop code"]
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--test", str(test)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(re.fullmatch(r"accuracy=(\d\.\d{4}) n=45", last)[1]) > 0.9


def test_imdb_stars_trains_and_evaluates_four_classes(tmp_path, capsys):
    data = write_tar(tmp_path / "imdb.tar.gz", reviews({"train": 40, "test": 10}, seed=2))
    out = tmp_path / "stars.pt"
    assert main(["sentiment", "train", "--data", str(data), "--format", "imdb-stars", *TINY, "--epochs", "1",
                 "--out", str(out)]) == 0
    assert ckpt.load(out)["classes"] == ["1-2", "3-4", "7-8", "9-10"]
    assert ckpt.load(out)["data"]["format"] == "imdb-stars"
    capsys.readouterr()
    # --format auto: the checkpoint's own format is used for the archive
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[3:7] == ["1-2", "3-4", "7-8", "9-10"]
    assert re.fullmatch(r"accuracy=\d\.\d{4} n=20", lines[-1]) and lines[-2].startswith("macro_f1=")
    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--data", str(data), "--format", "imdb"]) == 2
    assert "give --format imdb-stars" in capsys.readouterr().err
