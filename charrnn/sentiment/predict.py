"""Loading a `sentiment` checkpoint and scoring texts with it."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .. import checkpoint as ckpt
from ..device import pick_device
from .model import SentimentConfig, SentimentLSTM
from .text import WordVocab
from .train import TOKENIZER, encode, predict_ids

MAX_TOKENS = 500  # texts are cut to their first MAX_TOKENS tokens (the checkpoint's own setting when it has one)


@dataclass
class SentimentModel:
    """A loaded classifier: the network (in eval mode), its vocabulary, and the checkpoint's settings."""

    model: SentimentLSTM
    vocab: WordVocab
    config: dict
    metrics: dict
    max_tokens: int = MAX_TOKENS
    device: torch.device = torch.device("cpu")


def load_sentiment(path: str | os.PathLike, device: str = "cpu") -> SentimentModel:
    """Load a `sentiment` checkpoint safely (weights_only=True); CheckpointError if it is not one."""
    state = ckpt.load(path, kind="sentiment")
    tok = state.get("tokenizer") or {}
    if tok.get("name", TOKENIZER) != TOKENIZER:
        raise ckpt.CheckpointError(f"{path} uses tokenizer {tok.get('name')!r}; this charrnn knows {TOKENIZER!r}")
    try:
        vocab = WordVocab(list(state["vocab"]))
        cfg = SentimentConfig(**state["config"]["model"])
        model = ckpt.build_model(lambda: SentimentLSTM(cfg), state["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{path} is not a usable sentiment checkpoint: {str(e)[:200]}") from None
    dev = pick_device(device)
    model.to(dev).eval()
    return SentimentModel(model, vocab, state["config"], dict(state.get("metrics") or {}),
                          int(tok.get("max_tokens") or MAX_TOKENS), dev)


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
