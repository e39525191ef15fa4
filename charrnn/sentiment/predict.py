"""Scoring texts with a loaded `sentiment` model (loading it: `charrnn.sentiment.kind`)."""
from __future__ import annotations

from .kind import SentimentModel
from .train import encode, predict_ids


def predict(model: SentimentModel, texts: list[str], batch_size: int = 64) -> list[float]:
    """P(positive) for each text, in order, scored in batches of similar length. Texts are cut to
    `model.max_tokens` tokens; empty text or text without a known word still gets a probability."""
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts; wrap a single text as [text]")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        return []
    seqs = encode(model.vocab, texts, model.max_tokens)
    return predict_ids(model.model, seqs, batch_size, model.device)
