"""The shipped classifiers: small, safe to load, with their class names, and as accurate as their metrics say."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from charrnn import checkpoint as ckpt
from charrnn.sentiment import MAX_TOKENS, load_sentiment, predict
from charrnn.sentiment.datasets import load_labelled, repeat_split

from ..sentiment_fixtures import shared_imdb

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "imdb-sentiment.pt"


@pytest.fixture(scope="module")
def model():
    assert SHIPPED.is_file(), f"the shipped checkpoint {SHIPPED} is missing"
    return load_sentiment(SHIPPED)


def test_shipped_checkpoint_is_small_and_recorded(model):
    assert SHIPPED.stat().st_size < 25 * 2**20
    assert len(model.vocab) <= 40_002 and model.max_tokens >= MAX_TOKENS  # an ensemble reading whole reviews
    assert model.metrics["test_accuracy"] >= 0.90 and model.metrics["n_test"] == 25_000


def test_short_reviews(model):
    good, bad, mixed = predict(model, ["This movie was wonderful, I loved it.",
                                       "Terrible film, a complete waste of time.",
                                       "Great acting but a boring, predictable plot."])
    assert good > 0.5 > bad
    assert 0.0 < mixed < 1.0


def test_accuracy_on_a_sample_of_real_test_reviews(model):
    test = shared_imdb().test
    sample = random.Random(0).sample(test, 1000)
    probs = predict(model, [r.text for r in sample], batch_size=256)
    acc = sum((p > 0.5) == bool(r.label) for p, r in zip(probs, sample)) / len(sample)
    assert acc >= 0.85


CHECKPOINTS = SHIPPED.parent
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared dataset not present at {path}")
    return path


def test_sarcasm_classifier_names_its_classes_and_repeats_its_held_out_split():
    path = CHECKPOINTS / "sarcasm.pt"
    sm = load_sentiment(path)
    assert path.stat().st_size < 25 * 2**20 and sm.classes == ("not sarcastic", "sarcastic")
    assert sm.metrics["val_accuracy"] >= 0.86
    data = _shared(SHARED_DATA / "sarcasm" / "Sarcasm_Headlines_Dataset.json")
    labelled = load_labelled(data, classes=sm.classes)
    val = repeat_split(labelled, ckpt.load(path)["data"]["split"]).val
    probs = predict(sm, [labelled.train_texts[i] for i in val])
    acc = sum((p > 0.5) == bool(labelled.train_labels[i]) for p, i in zip(probs, val)) / len(val)
    assert len(val) == 2671 and acc == pytest.approx(sm.metrics["val_accuracy"], abs=1e-4)


def test_sentence_classifier_on_sst2_dev():
    path = CHECKPOINTS / "sst2-sentences.pt"
    sm = load_sentiment(path)
    assert path.stat().st_size < 25 * 2**20 and sm.classes == ("negative", "positive") and sm.tokenizer == "words"
    dev = load_labelled(_shared(SHARED_DATA / "sst2" / "dev.tsv"))
    probs = predict(sm, dev.train_texts)
    acc = sum((p > 0.5) == bool(y) for p, y in zip(probs, dev.train_labels)) / len(probs)
    assert len(probs) == 872 and acc == pytest.approx(sm.metrics["test_accuracy"], abs=1e-4) and acc >= 0.87
    not_good, not_bad = predict(sm, ["The movie was not good.", "The movie was not bad at all."])
    assert not_good < 0.5 < not_bad


def test_the_default_classifier_is_a_blend_best_on_sentences_and_reviews():
    """sentiment-blend.pt (docs/sentiment.md#the-default-a-blend): SST-2 dev above every other shipped classifier,
    and a short text is answered by the sentence parts, a long one by the IMDb ensemble alone."""
    from charrnn.sentiment.kind import DEFAULT_FILE

    path = CHECKPOINTS / DEFAULT_FILE
    sm = load_sentiment(path)
    spec = ckpt.load(path)["config"]["model"]["blend"]
    assert path.stat().st_size < 60 * 2**20 and sm.classes == ("negative", "positive") and spec["split_at"] == 64
    assert [p["texts"] for p in spec["parts"]] == ["short", "short", "short", "long"]
    assert sm.metrics["test_accuracy"] >= 0.905 and sm.metrics["n_test"] == 25_000  # IMDb, recorded by evaluate
    dev = load_labelled(_shared(SHARED_DATA / "sst2" / "dev.tsv"))
    probs = predict(sm, dev.train_texts)
    acc = sum((p > 0.5) == bool(y) for p, y in zip(probs, dev.train_labels)) / len(probs)
    assert acc >= 0.879 > load_sentiment(CHECKPOINTS / "sst2-sentences.pt").metrics["test_accuracy"]
    long_review = " ".join(["The film was a long and careful portrait of a family, and it was wonderful."] * 6)
    imdb = load_sentiment(SHIPPED)
    assert predict(sm, [long_review]) == pytest.approx(predict(imdb, [long_review]), abs=0.02)
