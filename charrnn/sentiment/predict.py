"""Loading a `sentiment` checkpoint and scoring texts with it."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .. import checkpoint as ckpt
from ..device import pick_device
from .model import SentimentConfig, SentimentLSTM
from .text import TOKENIZER, WordVocab, encode, pad_batch

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


def sentiment_parts(state: dict, name: str, meta: bool = False) -> tuple[WordVocab, SentimentLSTM, int]:
    """The vocabulary, model and token limit of a loaded sentiment checkpoint; CheckpointError when they do not fit.

    With meta=True the model is only checked: it is built on the meta device, allocating nothing.
    """
    tok = state.get("tokenizer") or {}
    if not isinstance(tok, dict):
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: "
                                   f"its tokenizer is {ckpt.short(tok, 40)}")
    if tok.get("name", TOKENIZER) != TOKENIZER:
        raise ckpt.CheckpointError(f"{name} uses tokenizer {ckpt.short(tok.get('name'), 40)}; "
                                   f"this charrnn knows {TOKENIZER!r}")
    try:
        max_tokens = int(tok.get("max_tokens") or MAX_TOKENS)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        vocab = WordVocab(list(state["vocab"]))
        cfg = SentimentConfig(**state["config"]["model"])
        if cfg.vocab_size != len(vocab):
            raise ValueError(f"vocabulary has {len(vocab)} words but the model expects {cfg.vocab_size}")
        model = ckpt.fit_model(lambda: SentimentLSTM(cfg), state["state_dict"], cfg.layers, meta)
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: {ckpt.short(e)}") from None
    return vocab, model, max_tokens


def load_sentiment(path: str | os.PathLike, device: str = "cpu") -> SentimentModel:
    """Load a `sentiment` checkpoint safely (weights_only=True); CheckpointError if it is not one."""
    state = ckpt.load(path, kind="sentiment")
    vocab, model, max_tokens = sentiment_parts(state, os.path.basename(path))
    dev = pick_device(device)
    model.to(dev).eval()
    metrics = state.get("metrics")
    return SentimentModel(model, vocab, state["config"], dict(metrics) if isinstance(metrics, dict) else {},
                          max_tokens, dev)


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
