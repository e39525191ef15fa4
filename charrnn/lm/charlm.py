"""The `char-lm` checkpoint kind: a character model with its vocabulary, checked, loaded and described."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .. import checkpoint as ckpt
from .data import Vocab
from ..device import pick_device
from .evaluate import LN2
from ..kinds import CHAR_LM, Kind, Metrics, fit_model, metric, register
from .model import CharRNN, ModelConfig, make_stepper


@dataclass
class CharLM:
    """A loaded character model with its vocabulary and checkpoint metadata."""

    model: CharRNN
    vocab: Vocab
    meta: dict

    def __post_init__(self) -> None:
        self.stepper = make_stepper(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def preprocessing(self) -> dict:
        """How the training text was cleaned and split (older checkpoints recorded none: the defaults then)."""
        return self.meta.get("preprocessing") or {"clean": "strip", "val_fraction": 0.1}

    @property
    def val_fraction(self) -> float:
        """The held-out fraction at the end of each training file."""
        return self.preprocessing.get("val_fraction", 0.1)


def char_lm_parts(obj: dict, name: str, meta: bool = False) -> tuple[Vocab, CharRNN]:
    """The vocabulary and model of a loaded char-lm checkpoint; CheckpointError when they do not fit together.

    With meta=True the model is only checked: it is built on the meta device, allocating nothing.
    """
    try:
        vocab = Vocab(tuple(obj["vocab"]))
        if not all(isinstance(c, str) and len(c) == 1 for c in vocab.chars) or len(set(vocab.chars)) != len(vocab):
            raise ValueError("the vocabulary must be a list of distinct single characters")
        cfg = ModelConfig(**obj["config"]["model"])
        if cfg.vocab_size != len(vocab):
            raise ValueError(f"vocabulary has {len(vocab)} characters but the model expects {cfg.vocab_size}")
        model = fit_model(lambda: CharRNN(cfg), obj["state_dict"], cfg.layers, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        raise ckpt.CheckpointError(f"{name} does not match a {CHAR_LM} model: {ckpt.short(e, 300)}") from None
    return vocab, model


def load_char_lm(path: str | os.PathLike, device: str = "auto") -> CharLM:
    """Load a `char-lm` checkpoint onto `device` ('auto', the default: CUDA, then MPS, then the CPU)."""
    return build_char_lm(ckpt.load(path, kind=CHAR_LM), ckpt.display_name(path), device)


def build_char_lm(obj: dict, name: str, device: str = "cpu") -> CharLM:
    """The character model of a checkpoint already loaded (`checkpoint.load`), on `device`."""
    vocab, model = char_lm_parts(obj, name)
    model.to(pick_device(device)).eval()
    meta = {k: obj.get(k) for k in ("config", "preprocessing", "metrics")}
    return CharLM(model, vocab, meta)


def check(obj: dict, name: str) -> None:
    """CheckpointError unless the checkpoint's weights fit its model (checked on the meta device)."""
    char_lm_parts(obj, name, meta=True)


def score(metrics: Metrics) -> str:
    """Validation loss in nats and bits per character."""
    loss = metric(metrics, "val_loss")
    return "" if loss is None else f"val loss {loss:.3f} nats ({loss / LN2:.3f} bpc)"


KIND = register(Kind(CHAR_LM, "mysterious-island.pt", check=check, load=load_char_lm, score=score,
                     build=build_char_lm))
