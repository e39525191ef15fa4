"""Classifiers of more than two classes: label values of any count and their class order, imdb-stars, the metrics
(checked by hand), training a 3- and a 5-class model on generated keyword texts, their probabilities, explanations
and ensembles (float32 and int8); and the two-class path as it was."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import shelf
from charrnn.sentiment import load_sentiment, predict, predict_proba
from charrnn.sentiment.datasets import DatasetError, STAR_CLASSES, load_labelled
from charrnn.sentiment.ensemble import combine_classifiers
from charrnn.sentiment.explain import explain, explanation_table
from charrnn.sentiment.metrics import accuracy_of, class_scores, confusion_matrix, confusion_table, macro_f1
from charrnn.sentiment.model import SentimentConfig, SentimentLSTM
from charrnn.sentiment.text import encode, pad_batch
from charrnn.sentiment.train import accuracy, preset, train_sentiment

from ..sentiment_fixtures import keyword_csv, keyword_rows, reviews, write_tar

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"
THREE = ["sports", "arts", "tech"]  # written in this order; the classes are alphabetical: arts, sports, tech
FIVE = ["1", "2", "3", "4", "10"]  # star-like numbers: numeric order, so 10 is last (as a string it would be 2nd)


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return path


def _train(data, out: Path, seed: int = 1, **model) -> dict:
    model_cfg, config = preset("best", {"embed": 16, "hidden": 16, "dropout": 0.0, **model},
                               {"epochs": 4, "lr": 0.01, "batch_size": 16, "device": "cpu", "seed": seed})
    return train_sentiment(data, model_cfg, config, out=out, test=data.has_test, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-class classifier (names) and a 5-class one (numbers), each with its own test file, trained in seconds;
    and a second 3-class member on the same split and vocabulary (other pooling) for the ensembles."""
    tmp = tmp_path_factory.mktemp("multiclass")
    three = load_labelled(keyword_csv(tmp / "three.csv", THREE, 60),
                          test=keyword_csv(tmp / "three_test.csv", THREE, 15, seed=7))
    five = load_labelled(keyword_csv(tmp / "five.csv", FIVE, 50),
                         test=keyword_csv(tmp / "five_test.csv", FIVE, 12, seed=8))
    results = {"three": _train(three, tmp / "three.pt"), "five": _train(five, tmp / "five.pt"),
               "three_b": _train(three, tmp / "three_b.pt", pooling="mean", bidirectional=False)}
    return tmp, three, five, results


# ---------------------------------------------------------------- labels and their order


def test_names_are_in_alphabetical_order_and_numbers_in_numeric_order(tmp_path):
    three = load_labelled(_csv(tmp_path / "t.csv", keyword_rows(THREE, 2)))
    assert three.classes == ("arts", "sports", "tech")
    assert three.train_labels[:3] == [1, 0, 2]  # sports, arts, tech as written
    five = load_labelled(_csv(tmp_path / "f.csv", keyword_rows(FIVE, 1)))
    assert five.classes == ("1", "2", "3", "4", "10") and five.train_labels == [0, 1, 2, 3, 4]
    mixed = load_labelled(_csv(tmp_path / "m.csv", [("a", "b"), ("b", "B"), ("c", "a"), ("d", "3.0")]))
    assert mixed.classes == ("3", "a", "B", "b")  # case-insensitive, then the exact spelling; 3.0 read as 3
    # Two classes keep their meaning: the positive-sounding name is class 1, whatever the alphabet says.
    assert load_labelled(_csv(tmp_path / "two.csv", [("x", "positive"), ("y", "negative")])).classes == \
        ("negative", "positive")


def test_a_models_classes_are_matched_by_name_and_a_stranger_is_refused(tmp_path):
    test = _csv(tmp_path / "t.csv", [("a", "Tech"), ("b", "arts"), ("c", "arts")])  # two of three classes is fine
    data = load_labelled(test, classes=("arts", "sports", "tech"))
    assert data.train_labels == [2, 0, 0] and data.classes == ("arts", "sports", "tech")
    numbers = load_labelled(_csv(tmp_path / "n.csv", [("a", "10.0"), ("b", "2")]), classes=tuple(FIVE))
    assert numbers.train_labels == [4, 1]
    with pytest.raises(DatasetError, match=r"t2.csv line 3: label 'music' is not one of the model's 3 classes "
                                           r"\('arts', 'sports', 'tech'\)"):
        load_labelled(_csv(tmp_path / "t2.csv", [("a", "arts"), ("b", "music")]), classes=("arts", "sports", "tech"))
    with pytest.raises(DatasetError, match="line 4: a third label value 'tech'.*the model has two classes"):
        load_labelled(_csv(tmp_path / "t3.csv", [("a", "arts"), ("b", "sports"), ("c", "tech")]),
                      classes=("arts", "sports"))


@pytest.mark.parametrize("count, message", [
    (1, r"every row is labelled '0' \('label'\): 1 class; a classifier needs 2 to 100"),
    (101, r"101 label values in column 'label'; a classifier takes 2 to 100 classes"),
])
def test_one_class_or_more_than_a_hundred_are_refused_naming_the_count(tmp_path, count, message):
    path = _csv(tmp_path / "d.csv", [(f"text {i}", str(i % count)) for i in range(max(2, count))])
    with pytest.raises(DatasetError, match=message):
        load_labelled(path)
    assert len(load_labelled(_csv(tmp_path / "ok.csv", [(f"t{i}", str(i)) for i in range(100)])).classes) == 100


def test_imdb_stars_are_four_classes_from_the_file_names(tmp_path):
    files = reviews({"train": 30, "test": 10}, seed=3)
    data = load_labelled(write_tar(tmp_path / "imdb.tar.gz", files), "imdb-stars")
    assert data.classes == STAR_CLASSES == ("1-2", "3-4", "7-8", "9-10") and data.format == "imdb-stars"
    ratings = sorted((name.split("/")[-1].removesuffix(".txt"), name.split("/")[2])
                     for name in files if "/train/pos/" in name or "/train/neg/" in name)
    expected = [{1: 0, 2: 0, 3: 1, 4: 1, 7: 2, 8: 2, 9: 3, 10: 3}[int(stem.split("_")[1])] for stem, _ in ratings]
    assert sorted(data.train_labels) == sorted(expected) and len(set(data.train_labels)) == 4
    assert len(data.test_labels) == 20
    with pytest.raises(DatasetError, match="the classes of --format imdb are negative/positive, not 1-2/3-4/7-8/9-10"):
        load_labelled(tmp_path / "imdb.tar.gz", "imdb", classes=STAR_CLASSES)
    assert load_labelled(tmp_path / "imdb.tar.gz", classes=STAR_CLASSES).format == "imdb-stars"  # auto, for a model
    bad = write_tar(tmp_path / "bad.tar.gz", {**files, "aclImdb/train/pos/99_5.txt": "a middling film"})
    with pytest.raises(DatasetError, match="IMDb review train/pos/99_5: no star rating 1-4 or 7-10"):
        load_labelled(bad, "imdb-stars")


# ---------------------------------------------------------------- metrics, by hand


def test_confusion_matrix_and_macro_f1_match_a_hand_computation():
    # true:      a a a b b c c c c   (a=0, b=1, c=2)
    # predicted: a a b b c c c a c
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    guesses = [0, 0, 1, 1, 2, 2, 2, 0, 2]
    matrix = confusion_matrix(labels, guesses, 3)
    assert matrix == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert accuracy_of(matrix) == pytest.approx(6 / 9)
    # a: TP 2, 3 labelled, 3 predicted: P 2/3, R 2/3, F1 2/3. b: TP 1, 2 labelled, 2 predicted: F1 1/2.
    # c: TP 3, 4 labelled, 4 predicted: F1 3/4. Macro-F1 = (2/3 + 1/2 + 3/4) / 3 = 23/36.
    scores = class_scores(matrix)
    assert [(s.support, s.predicted) for s in scores] == [(3, 3), (2, 2), (4, 4)]
    assert [s.f1 for s in scores] == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    assert macro_f1(matrix) == pytest.approx(23 / 36)
    # A class neither labelled nor predicted is left out of the mean (as scikit-learn's default); one predicted but
    # never labelled counts with F1 0.
    assert macro_f1(confusion_matrix([0, 1], [0, 1], 3)) == 1.0
    assert macro_f1(confusion_matrix([0, 0], [0, 2], 3)) == pytest.approx((2 / 3 + 0) / 2)
    table = confusion_table(matrix, ("arts", "sports", "tech")).splitlines()
    assert table[0].split() == ["true", "\\", "predicted", "arts", "sports", "tech", "|", "rows", "precision",
                                "recall", "f1"]
    assert table[2].split() == ["sports", "0", "1", "1", "|", "2", "0.5000", "0.5000", "0.5000"]


# ---------------------------------------------------------------- training, probabilities, explanations


def test_three_and_five_classes_train_to_high_accuracy_and_record_their_classes(trained):
    tmp, three, five, results = trained
    for name, data in (("three", three), ("five", five)):
        r = results[name]
        assert r["test_accuracy"] > 0.9 and r["test_macro_f1"] > 0.9, r
        state = ckpt.load(tmp / f"{name}.pt", kind="sentiment")
        assert state["classes"] == list(data.classes) and state["format_version"] == ckpt.MULTICLASS_FORMAT_VERSION
        assert state["config"]["model"]["n_classes"] == len(data.classes)
        assert state["state_dict"]["fc2.weight"].shape[0] == len(data.classes)
        sm = load_sentiment(tmp / f"{name}.pt", device="cpu")
        seqs = encode(sm.vocab, data.test_texts, sm.max_tokens, sm.tokenizer)
        assert accuracy(sm.model, seqs, data.test_labels) == pytest.approx(r["test_accuracy"], abs=1e-4)
    assert shelf.describe(tmp / "five.pt").classes == ("1", "2", "3", "4", "10")


def test_probabilities_of_every_class_and_predict_asks_for_them(trained):
    tmp = trained[0]
    sm = load_sentiment(tmp / "three.pt", device="cpu")
    rows = predict_proba(sm, ["the striker scored a goal", "a painting in the gallery", "laptop code", ""])
    assert all(len(r) == 3 and sum(r) == pytest.approx(1, abs=1e-5) for r in rows)
    assert [max(range(3), key=r.__getitem__) for r in rows[:3]] == [1, 0, 2]  # sports, arts, tech
    with pytest.raises(ValueError, match="this classifier has 3 classes: predict_proba"):
        predict(sm, ["a goal"])


def test_explain_pulls_towards_the_predicted_class_or_the_one_asked_for(trained):
    sm = load_sentiment(trained[0] / "three.pt", device="cpu")
    text = "the coach watched a match"
    probs = predict_proba(sm, [text])[0]
    exp = explain(sm, text)
    assert exp.target == 1 and sm.classes[exp.target] == "sports"  # predicted
    assert exp.probability == pytest.approx(probs[1], abs=1e-6) and exp.running[-1] == exp.probability
    assert exp.probabilities == pytest.approx(probs, abs=1e-6)
    assert exp.tokens == ["the", "coach", "watched", "a", "match"]
    assert max(exp.contributions) in (exp.contributions[1], exp.contributions[4])  # coach or match
    arts = explain(sm, text, target="ARTS")  # a class picked by name, case aside
    assert arts.target == 0 and arts.probability == pytest.approx(probs[0], abs=1e-6)
    assert arts.contributions[1] < 0 and arts.contributions[4] < 0  # the sports words pull away from arts
    table = explanation_table(arts).splitlines()
    assert table[0].startswith("P(arts) = ") and table[1].startswith("classes: arts ") and "(predicted: sports)" in \
        table[1]
    assert table[-1].startswith("(contribution: change in P(arts) when the token is removed, + towards arts, "
                                "- away from it;")
    with pytest.raises(ValueError, match="no class 'music': the classifier's classes are arts, sports, tech"):
        explain(sm, text, target="music")


# ---------------------------------------------------------------- ensembles and int8


def test_ensembles_average_each_class_and_int8_keeps_the_answers(trained):
    tmp, three, _, _ = trained
    texts = three.test_texts[:12] + ["", "a goal in the gallery"]
    a, b = (predict_proba(load_sentiment(tmp / f"{n}.pt", device="cpu"), texts) for n in ("three", "three_b"))
    mean = [[(x + y) / 2 for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]
    full = combine_classifiers([tmp / "three.pt", tmp / "three_b.pt"], tmp / "e32.pt", precision="float32")
    small = combine_classifiers([tmp / "three.pt", tmp / "three_b.pt"], tmp / "e8.pt", precision="int8")
    e32, e8 = (load_sentiment(r["out"], device="cpu") for r in (full, small))
    assert e32.classes == e8.classes == ("arts", "sports", "tech")
    for got, want in zip(predict_proba(e32, texts), mean):
        assert got == pytest.approx(want, abs=1e-5)
    for got, want in zip(predict_proba(e8, texts), mean):
        assert got == pytest.approx(want, abs=0.03)
        assert max(range(3), key=got.__getitem__) == max(range(3), key=want.__getitem__)
    state = ckpt.load(small["out"])
    assert state["format_version"] == ckpt.MULTICLASS_FORMAT_VERSION and state["state_dict"]["members.0.fc2.weight"] \
        .dtype == torch.int8 and state["state_dict"]["members.0.fc2.weight"].shape[0] == 3
    assert explain(e8, "the striker scored").classes == ("arts", "sports", "tech")
    renamed = ckpt.load(tmp / "three_b.pt")
    ckpt.save({**renamed, "classes": ["arts", "sports", "music"]}, tmp / "music.pt")
    with pytest.raises(ckpt.CheckpointError, match="music.pt has another class names than three.pt"):
        combine_classifiers([tmp / "three.pt", tmp / "music.pt"], tmp / "bad.pt")


def test_an_older_charrnn_is_told_to_upgrade(trained, monkeypatch):
    monkeypatch.setattr(ckpt, "READS_UP_TO", ckpt.INT8_FORMAT_VERSION)  # what charrnn read before multi-class
    with pytest.raises(ckpt.CheckpointError, match="format_version 3; this charrnn reads up to 2: upgrade charrnn"):
        ckpt.load(trained[0] / "three.pt")


# ---------------------------------------------------------------- the two-class path, unchanged


def test_a_new_two_class_model_has_one_logit_and_records_no_class_count():
    cfg = SentimentConfig(vocab_size=10, embed=4, hidden=4, fc=4)
    assert cfg.n_classes == 2 and "n_classes" not in cfg.to_dict()  # its checkpoint is what an older one wrote
    out = SentimentLSTM(cfg)(torch.tensor([[2, 3, 4]]), torch.tensor([3]))
    assert out.shape == (1,)
    with pytest.raises(ValueError, match="n_classes must be a whole number from 2 to 100"):
        SentimentConfig(vocab_size=10, n_classes=101)


# Computed with the code of main at commit 4c1601f (before multi-class existed), by
# predict(load_sentiment("checkpoints/sst2-sentences.pt", device="cpu"), OLD_TEXTS).
OLD_TEXTS = ["A wonderful film.", "Dull and far too long.", "not bad at all", "The plot was not good at all.", ""]
OLD_PROBABILITIES = [0.9999725818634033, 0.06276512145996094, 0.9981743097305298, 0.002049550414085388,
                     0.42446035146713257]


def test_a_shipped_two_class_checkpoint_gives_the_same_probabilities_as_before():
    path = SHIPPED / "sst2-sentences.pt"
    if not path.is_file():
        pytest.skip(f"{path} is not present (a shipped two-class ensemble, int8, written before multi-class)")
    sm = load_sentiment(path, device="cpu")
    assert sm.classes == ("negative", "positive")
    assert all(m.fc2.out_features == 1 for m in sm.model.members)  # one logit: sigmoid, as ever
    got = predict(sm, OLD_TEXTS)
    assert got == pytest.approx(OLD_PROBABILITIES, abs=1e-6)
    with torch.inference_mode():  # the same: the sigmoid of the one logit, straight from the model, text by text
        for text, p in zip(OLD_TEXTS, got):
            ids, lengths = pad_batch(encode(sm.vocab, [text], sm.max_tokens, sm.tokenizer))
            direct = torch.sigmoid(sm.model(ids, lengths).float()).item()
            assert predict(sm, [text]) == [direct] and p == pytest.approx(direct, abs=1e-6)  # batched: rounding
    assert [r[1] for r in predict_proba(sm, OLD_TEXTS)] == got
    exp = explain(sm, "The plot was not good at all.")
    assert exp.target == 1 and exp.probability == pytest.approx(OLD_PROBABILITIES[3], abs=1e-6)
    assert explanation_table(exp).splitlines()[-1].startswith(
        "(contribution: change in P(positive) when the token is removed, + towards positive, - towards negative;")
    assert json.dumps(ckpt.load(path)["config"]["model"]["members"][0]).count("n_classes") == 0
