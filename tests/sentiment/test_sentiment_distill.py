"""Distillation (`charrnn sentiment train --teacher CKPT --transfer FILE`): a classifier learns words it never saw
labelled from a teacher's probabilities on unlabelled texts."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.sentiment import SentimentTrainConfig, load_sentiment
from charrnn.sentiment.distill import read_transfer
from charrnn.sentiment.predict import predict

from ..sentiment_fixtures import FILLER, NEGATIVE, POSITIVE, train_tiny

NEW = {"superb": 1, "dreadful": 0}  # words only the teacher saw labelled


def _texts(rng: random.Random, words: list[str], n: int) -> list[str]:
    return [" ".join(rng.choices(FILLER, k=4) + [rng.choice(words)] + rng.choices(FILLER, k=3)) for _ in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A teacher that knows "superb" and "dreadful"; students taught on reviews without them, with and without
    transfer texts that hold them."""
    tmp = tmp_path_factory.mktemp("distill")
    rng = random.Random(3)
    rows = [f"{y}\t{t}" for word, y in NEW.items() for t in _texts(rng, [word], 60)]
    rows += [f"{y}\t{t}" for y, words in ((1, POSITIVE), (0, NEGATIVE)) for t in _texts(rng, words, 60)]
    (tmp / "teacher.tsv").write_text("label\tcontent\n" + "\n".join(rows) + "\n", encoding="utf-8")
    train_tiny(tmp / "teacher.tsv", tmp / "teacher.pt")
    labelled = [f"{y}\t{t}" for y, words in ((1, POSITIVE), (0, NEGATIVE)) for t in _texts(rng, words, 60)]
    (tmp / "student.tsv").write_text("label\tcontent\n" + "\n".join(labelled) + "\n", encoding="utf-8")
    (tmp / "transfer.txt").write_text("\n".join(_texts(rng, list(NEW), 200)) + "\n", encoding="utf-8")
    train_tiny(tmp / "student.tsv", tmp / "student.pt", "--teacher", str(tmp / "teacher.pt"),
               "--transfer", str(tmp / "transfer.txt"))
    train_tiny(tmp / "student.tsv", tmp / "plain.pt")
    return tmp


def test_the_student_reads_the_teachers_words(trained):
    fresh = {word: _texts(random.Random(9), [word], 40) for word in NEW}
    teacher, student = load_sentiment(trained / "teacher.pt"), load_sentiment(trained / "student.pt")
    for word, label in NEW.items():
        assert sum((p > 0.5) == bool(label) for p in predict(teacher, fresh[word])) >= 38
        assert sum((p > 0.5) == bool(label) for p in predict(student, fresh[word])) >= 36, word
    plain = load_sentiment(trained / "plain.pt")  # never saw either word: both read as <unk>, the same answer
    assert predict(plain, ["the film was superb"]) == predict(plain, ["the film was dreadful"])
    metrics = ckpt.load(trained / "student.pt")["metrics"]
    assert metrics["teacher"] == "teacher.pt" and metrics["n_transfer"] == 200
    assert metrics["n_train"] == 200 + round(0.9 * 120)  # the transfer texts join the training rows
    assert metrics["n_val"] == ckpt.load(trained / "plain.pt")["metrics"]["n_val"] == 12  # held out: labelled rows


def test_show_config_gives_the_teacher_back(trained, capsys):
    assert main(["show", "--checkpoint", str(trained / "student.pt"), "--config"]) == 0
    out = capsys.readouterr().out
    assert f'teacher = "{trained / "teacher.pt"}"' in out and f'transfer = "{trained / "transfer.txt"}"' in out


def _refused(argv: list[str], out, capsys) -> str:
    """The one error line of a refused `charrnn sentiment train`, which writes nothing."""
    assert main(["sentiment", "train", *argv, "--out", str(out), "--quiet", "--device", "cpu"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert not out.exists() and not any("Traceback" in line for line in lines)
    return lines[-1]


def test_a_wrong_teacher_or_transfer_is_refused_in_one_line(trained, tmp_path, capsys, monkeypatch):
    data, transfer = str(trained / "student.tsv"), str(trained / "transfer.txt")
    out = tmp_path / "x.pt"
    assert _refused(["--data", data, "--transfer", transfer], out, capsys) == \
        "charrnn sentiment: error: teacher and transfer go together: the teacher labels the transfer texts"
    assert _refused(["--data", data, "--teacher", str(tmp_path / "none.pt"), "--transfer", transfer], out,
                    capsys).startswith(f"charrnn sentiment: error: teacher {tmp_path / 'none.pt'}: ")
    assert _refused(["--data", data, "--teacher", str(trained / "teacher.pt"), "--transfer",
                     str(tmp_path / "none.txt")], out, capsys) == \
        f"charrnn sentiment: error: transfer file {tmp_path / 'none.txt'} not found"
    sarcasm = Path(__file__).resolve().parents[2] / "checkpoints" / "sarcasm.pt"
    assert _refused(["--data", data, "--teacher", str(sarcasm), "--transfer", transfer], out, capsys) == \
        "charrnn sentiment: error: the teacher's classes (not sarcastic / sarcastic) are not the data's " \
        "(negative / positive)"
    monkeypatch.setattr("charrnn.sentiment.distill.MAX_TRANSFER", 150)
    assert _refused(["--data", data, "--teacher", str(trained / "teacher.pt"), "--transfer", transfer], out,
                    capsys) == f"charrnn sentiment: error: transfer file {transfer} has more than 150 texts"


def test_teacher_and_transfer_are_checked(trained, tmp_path, capsys):
    with pytest.raises(ValueError, match="go together"):
        SentimentTrainConfig(teacher="t.pt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 superb\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        read_transfer(tmp_path / "latin1.txt")
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no texts"):
        read_transfer(tmp_path / "blank.txt")
    three = "label\tcontent\n" + "\n".join(f"{i % 3}\t{t}" for i, t in enumerate(_texts(random.Random(1), FILLER, 30)))
    (tmp_path / "three.tsv").write_text(three + "\n", encoding="utf-8")
    assert main(["sentiment", "train", "--data", str(tmp_path / "three.tsv"), "--teacher", str(trained / "teacher.pt"),
                 "--transfer", str(trained / "transfer.txt"), "--out", str(tmp_path / "x.pt"), "--quiet",
                 "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "charrnn sentiment: error: a teacher labels two classes; the data has 3"
    assert not (tmp_path / "x.pt").exists()
