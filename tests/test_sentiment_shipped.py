"""The shipped IMDb classifier: small, safe to load, right on short reviews, and accurate on real test reviews."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from charrnn.sentiment import MAX_TOKENS, load_sentiment, predict

from .sentiment_fixtures import shared_imdb

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "imdb-sentiment.pt"


@pytest.fixture(scope="module")
def model():
    assert SHIPPED.is_file(), f"the shipped checkpoint {SHIPPED} is missing"
    return load_sentiment(SHIPPED)


def test_shipped_checkpoint_is_small_and_recorded(model):
    assert SHIPPED.stat().st_size < 25 * 2**20
    assert len(model.vocab) <= 40_002 and model.max_tokens == MAX_TOKENS
    assert model.metrics["test_accuracy"] >= 0.88 and model.metrics["n_test"] == 25_000


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
