"""Explanations of a tiny classifier that has learned negation: occlusion contributions, running probability,
the shapes handed to a UI, and `charrnn sentiment explain`."""
from __future__ import annotations

import random
import re

import pytest

from charrnn.cli import main
from charrnn.sentiment import (
    Imdb, Review, SentimentTrainConfig, explain, highlights, load_sentiment, predict, running_series, train_sentiment,
)
from charrnn.sentiment.explain import NO_KNOWN_WORDS

FILLER = ["the", "movie", "plot", "actor", "film", "was", "story", "it", "this", "really"]


def _sentence(rng: random.Random, label: int) -> str:
    """Filler with one of good / bad / not good / not bad: "not" flips the sentiment word."""
    negated = rng.random() < 0.5
    word = ("bad" if negated else "good") if label else ("good" if negated else "bad")
    words = rng.choices(FILLER, k=rng.randint(2, 6))
    words.insert(rng.randrange(len(words) + 1), f"not {word}" if negated else word)
    return " ".join(words)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = random.Random(0)
    train = [Review(_sentence(rng, i % 2), i % 2, f"train/{i}") for i in range(400)]
    test = [Review(_sentence(rng, i % 2), i % 2, f"test/{i}") for i in range(10)]
    out = tmp_path_factory.mktemp("explain") / "s.pt"
    result = train_sentiment(Imdb(train, test), dict(embed=16, hidden=24, fc=16, bidirectional=True, pooling="max"),
                             SentimentTrainConfig(epochs=6, batch_size=16, lr=1e-2, val_size=80, device="cpu",
                                                  max_tokens=50), out=out, progress=False)
    assert result["val_accuracy"] >= 0.95
    return out, load_sentiment(out)


def test_not_pushes_not_good_towards_negative(trained):
    sm = trained[1]
    exp = explain(sm, "the film was not good")
    assert exp.tokens == ["the", "film", "was", "not", "good"] and exp.known_words == 5 and not exp.notice
    assert exp.probability < 0.5
    c = dict(zip(exp.tokens, exp.contributions))
    assert c["not"] < -0.3  # without "not" the text is positive: "not" is what makes it negative
    assert c["not"] == min(exp.contributions)  # and it is the strongest push towards negative
    assert exp.running[-1] < exp.running[2] - 0.3  # reading "not good" brings the probability down
    # "not bad": the same word now pushes towards positive
    flipped = dict(zip(*(lambda e: (e.tokens, e.contributions))(explain(sm, "the film was not bad"))))
    assert flipped["not"] > 0.3


def test_sentiment_words_have_the_right_sign(trained):
    sm = trained[1]
    good, bad = explain(sm, "it was good story"), explain(sm, "it was bad story")
    assert good.probability > 0.5 > bad.probability
    assert good.contributions[2] > 0.2 and bad.contributions[2] < -0.2
    assert abs(good.contributions[2]) == max(abs(c) for c in good.contributions)


def test_running_probability_ends_at_the_full_text_probability(trained):
    sm = trained[1]
    text = "this movie was really not bad, the plot was good"
    exp = explain(sm, text)
    assert len(exp.running) == len(exp.tokens) == len(exp.contributions) == len(exp.known) == 10
    assert exp.running[-1] == exp.probability
    assert exp.probability == pytest.approx(predict(sm, [text])[0], abs=1e-5)
    assert exp.running[0] == pytest.approx(predict(sm, ["this"])[0], abs=1e-5)
    occluded = predict(sm, ["this movie was really bad, the plot was good"])[0]  # without "not"
    assert exp.contributions[4] == pytest.approx(exp.probability - occluded, abs=1e-5)


def test_long_text_is_cut_and_fast(trained):
    sm = trained[1]  # its max_tokens is 50
    exp = explain(sm, " ".join(["the film was good"] * 30))
    assert len(exp.tokens) == 50 and exp.cut == 70 and "first 50 tokens" in exp.notice
    short = explain(sm, " ".join(["the film was good"] * 30), limit=8)
    assert len(short.tokens) == 8 and short.cut == 112 and "explained the first 8" in short.notice


@pytest.mark.parametrize("text", ["", "   ", "zzz qqq xyzzy", None])
def test_no_known_words_gives_a_notice(trained, text):
    exp = explain(trained[1], text)
    assert exp.known_words == 0 and NO_KNOWN_WORDS in exp.notice
    assert 0 < exp.probability < 1
    assert len(exp.running) == len(exp.tokens)


def test_highlights_and_running_series(trained):
    exp = explain(trained[1], "the film was not good")
    marks = highlights(exp)
    assert [t for t, _ in marks] == exp.tokens
    assert all(-1 <= s <= 1 for _, s in marks) and min(s for _, s in marks) == -1.0
    assert dict(marks)["not"] == -1.0
    raw = highlights(exp, normalize=False)
    assert [s for _, s in raw] == pytest.approx(exp.contributions)
    series = running_series(exp)
    assert series[0] == {"position": 1, "token": "the", "probability": exp.running[0]}
    assert [r["probability"] for r in series] == exp.running and series[-1]["position"] == 5
    assert highlights(explain(trained[1], "")) == [] and running_series(explain(trained[1], "")) == []


def test_highlights_show_the_words_as_written(trained):
    exp = explain(trained[1], "The film WASN'T good")  # the model reads lowercase tokens, "not" for n't
    assert exp.tokens == ["the", "film", "was", "not", "good"]
    assert [t for t, _ in highlights(exp)] == ["The", "film", "WAS", "N'T", "good"]
    assert [r["token"] for r in running_series(exp)] == ["The", "film", "WAS", "N'T", "good"]
    assert [s for _, s in highlights(exp)] == [s for _, s in highlights(explain(trained[1], "the film wasn't good"))]


def test_cli_prints_the_table(trained, capsys):
    assert main(["sentiment", "explain", "--checkpoint", str(trained[0]), "the", "film", "was", "not", "good"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"P\(positive\) = 0\.\d{4}  \(5 tokens, 5 known\)", lines[0])
    assert lines[1].split() == ["token", "contribution", "running"]
    rows = [line.split() for line in lines[2:7]]
    assert [r[0] for r in rows] == ["the", "film", "was", "not", "good"]
    assert all(re.fullmatch(r"[+-]\d\.\d{4}", r[1]) and re.fullmatch(r"\d\.\d{4}", r[2]) for r in rows)
    assert float(rows[3][1]) < 0


def test_cli_notice_and_errors(trained, tmp_path, capsys):
    assert main(["sentiment", "explain", "--checkpoint", str(trained[0]), "zzz"]) == 2  # no pretend answer
    captured = capsys.readouterr()
    assert NO_KNOWN_WORDS in captured.err and "P(" not in captured.out
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["sentiment", "explain", "--checkpoint", str(bad), "good"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("charrnn sentiment: error: ")
    assert main(["sentiment", "explain", "--checkpoint", str(tmp_path / "none.pt"), "good"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["sentiment", "explain", "--checkpoint", str(trained[0])]) == 2
    assert "give a text" in capsys.readouterr().err
