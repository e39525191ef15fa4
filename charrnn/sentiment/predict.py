"""Scoring texts with a loaded `sentiment` model (loading it: `charrnn.sentiment.kind`)."""
from __future__ import annotations

import torch

from .kind import SentimentModel
from .model import SentimentLSTM
from .text import encode, pad_batch


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
    seqs = encode(model.vocab, texts, model.max_tokens, model.tokenizer)
    return predict_ids(model.model, seqs, batch_size, model.device)


@torch.inference_mode()
def predict_ids(model: SentimentLSTM, seqs: list[list[int]], batch_size: int = 256,
                device: torch.device | str = "cpu") -> list[float]:
    """P(positive) per id sequence, batched by similar length, in input order."""
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    probs = [0.0] * len(seqs)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, lengths = pad_batch([seqs[i] for i in idx])
        p = torch.sigmoid(model(ids.to(device), lengths).float()).tolist()
        for i, v in zip(idx, p):
            probs[i] = v
    return probs
