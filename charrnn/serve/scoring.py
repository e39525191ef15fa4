"""Scoring one text with a loaded classifier for a user: the text checked once, tokenised once."""
from __future__ import annotations

from ..sentiment.explain import NO_KNOWN_WORDS
from ..sentiment.kind import SentimentModel
from ..sentiment.predict import known_ids, predict_ids, probabilities_ids
from ..sentiment.text import encode


def review_text(text: str | None) -> str:
    """The text to classify; ValueError when it is empty."""
    text = "" if text is None else str(text)
    if not text.strip():
        raise ValueError("the text is empty: type or paste a review")
    return text


def _ids(model: SentimentModel, text: str) -> list[int]:
    """The token ids the model reads in `text` (cut to its token limit; `<unk>` alone for a text without tokens)."""
    return encode(model.vocab, [text], model.max_tokens, model.tokenizer)[0]


def _probability(model: SentimentModel, ids: list[int]) -> float:
    return float(predict_ids(model.model, [ids], 1, model.device)[0])


def positive_probability(model: SentimentModel, text: str | None) -> float:
    """P(positive) of one text with a loaded sentiment model; ValueError for an empty text."""
    return _probability(model, _ids(model, review_text(text)))


def known_words(model: SentimentModel, text: str) -> int:
    """How many of the tokens a loaded sentiment model reads in `text` are in its vocabulary."""
    return sum(known_ids(model, _ids(model, text)))


def class_probabilities(model: SentimentModel, text: str) -> dict[str, float]:
    """{class name: probability} of one text (checked by `review_text` first) for every one of the model's classes;
    ValueError for a text without a word the model knows (its answer would say nothing about the text)."""
    ids = _ids(model, text)
    if not any(known_ids(model, ids)):
        raise ValueError(f"{NO_KNOWN_WORDS}: none of the words is in its vocabulary")
    if len(model.classes) > 2:
        return dict(zip(model.classes, probabilities_ids(model.model, [ids], 1, model.device)[0]))
    p = _probability(model, ids)
    negative, positive = model.classes
    return {positive: p, negative: 1.0 - p}
