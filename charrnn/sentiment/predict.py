"""Scoring texts with a loaded `sentiment` model (loading it: `charrnn.sentiment.kind`)."""
from __future__ import annotations

import torch

from .kind import SentimentModel
from .model import SentimentBlend, SentimentLSTM, probabilities
from .text import UNK_ID, encode, pad_batch


def _texts(model: SentimentModel, texts: list[str], batch_size: int) -> list[list[int]]:
    """The texts as the model's token ids; TypeError for a single string, ValueError for a batch size below 1."""
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts; wrap a single text as [text]")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    texts = ["" if t is None else str(t) for t in texts]
    return encode(model.vocab, texts, model.max_tokens, model.tokenizer) if texts else []


def predict(model: SentimentModel, texts: list[str], batch_size: int = 64) -> list[float]:
    """P(second class) (e.g. P(positive)) for each text of a two-class model, in order, scored in batches of similar
    length; ValueError for a model of more classes (use `predict_proba`). Texts are cut to `model.max_tokens`
    tokens; empty text or text without a known word still gets a probability."""
    if len(model.classes) != 2:
        raise ValueError(f"this classifier has {len(model.classes)} classes: predict_proba() gives each one's "
                         f"probability")
    return predict_ids(model.model, _texts(model, texts, batch_size), batch_size, model.device)


def predict_proba(model: SentimentModel, texts: list[str], batch_size: int = 64) -> list[list[float]]:
    """Each text's probability of each class (in `model.classes` order), for a model of any number of classes."""
    return probabilities_ids(model.model, _texts(model, texts, batch_size), batch_size, model.device)


@torch.inference_mode()
def probabilities_ids(model: SentimentLSTM, seqs: list[list[int]], batch_size: int = 256,
                      device: torch.device | str = "cpu") -> list[list[float]]:
    """Each id sequence's class probabilities (two classes: [1 - p, p]), batched by similar length, in input
    order."""
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    probs: list[list[float]] = [[] for _ in seqs]
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, lengths = pad_batch([seqs[i] for i in idx])
        for i, row in zip(idx, probabilities(model(ids.to(device), lengths)).tolist()):
            probs[i] = row
    return probs


def predict_ids(model: SentimentLSTM, seqs: list[list[int]], batch_size: int = 256,
                device: torch.device | str = "cpu") -> list[float]:
    """P(second class) per id sequence of a two-class model, batched by similar length, in input order."""
    return [row[1] for row in probabilities_ids(model, seqs, batch_size, device)]


def known_ids(model: SentimentModel, ids: list[int]) -> list[bool]:
    """For each token id of one text, whether the classifier knows the word: any id but `<unk>`; for a blend,
    whether a part that answers this text knows it (a word only the other route's parts know counts for nothing)."""
    if isinstance(model.model, SentimentBlend):
        return model.model.known(ids)
    return [i != UNK_ID for i in ids]


def predicted(probs: list[list[float]]) -> list[int]:
    """The class each row of probabilities picks: two classes, the second when p > 0.5 (as ever); more, the most
    probable (the first of equals)."""
    if probs and len(probs[0]) == 2:
        return [int(row[1] > 0.5) for row in probs]
    return [max(range(len(row)), key=row.__getitem__) for row in probs]
