"""The `sentiment` checkpoint kind: a review classifier with its word vocabulary, checked, loaded and described."""
from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass

import torch

from .. import checkpoint as ckpt
from .. import shelf
from ..device import pick_device
from ..kinds import SENTIMENT, Kind, Metrics, fit_model, metric, register
from .datasets import SENTIMENT_CLASSES
from .model import MAX_CLASSES, SentimentBlend, SentimentConfig, SentimentEnsemble, SentimentLSTM, check_maps
from .text import TOKENIZER, TOKENIZERS, WordVocab

MAX_TOKENS = 500  # texts are cut to their first MAX_TOKENS tokens (the checkpoint's own setting when it has one)
CLASSES = SENTIMENT_CLASSES  # class names of checkpoints that record none (the shipped IMDb model)


@dataclass
class SentimentModel:
    """A loaded classifier: the network (in eval mode), its vocabulary, and the checkpoint's settings."""

    model: SentimentLSTM
    vocab: WordVocab
    config: dict
    metrics: dict
    max_tokens: int = MAX_TOKENS
    device: torch.device = torch.device("cpu")
    tokenizer: str = TOKENIZER
    classes: tuple[str, ...] = CLASSES  # names of labels 0, 1, ...; a two-class model's predictions are P(classes[1])


def sentiment_parts(state: dict, name: str, meta: bool = False) -> tuple[WordVocab, SentimentLSTM, int]:
    """The vocabulary, model and token limit of a loaded sentiment checkpoint; CheckpointError when they do not fit.

    With meta=True the model is only checked: it is built on the meta device, allocating nothing.
    """
    tok = state.get("tokenizer") or {}
    if not isinstance(tok, dict):
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: "
                                   f"its tokenizer is {ckpt.short(tok, 40)}")
    if tok.get("name", TOKENIZER) not in TOKENIZERS:
        raise ckpt.CheckpointError(f"{name} uses tokenizer {ckpt.short(tok.get('name'), 40)}; "
                                   f"this charrnn knows {', '.join(map(repr, TOKENIZERS))}")
    try:
        max_tokens = int(tok.get("max_tokens") or MAX_TOKENS)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        vocab = WordVocab(list(state["vocab"]))
        model_cfg = state["config"]["model"]
        cfgs = [SentimentConfig(**c) for c in (model_cfg["members"] if "members" in model_cfg else [model_cfg])]
        blend = model_cfg.get("blend") if "members" in model_cfg else None
        if blend is None and any(c.vocab_size != len(vocab) for c in cfgs):
            raise ValueError(f"vocabulary has {len(vocab)} words but the model expects {cfgs[0].vocab_size}")
        weights = stored_weights(state, dequantize=not meta)
        if blend is not None:  # a blend (blend.py): parts of other vocabularies, each mapped from this one
            model = fit_model(lambda: SentimentBlend(cfgs, blend, len(vocab)), weights, len(cfgs), meta)
            check_maps(model, weights)
        elif "members" not in model_cfg:
            model = fit_model(lambda: SentimentLSTM(cfgs[0]), weights, cfgs[0].layers, meta)
        else:  # an ensemble (ensemble.py): members.<i>.* weights, stored as float16 or int8, used as float32
            model = fit_model(lambda: SentimentEnsemble(cfgs), weights, len(cfgs), meta)
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: {ckpt.short(e)}") from None
    return vocab, model, max_tokens


def stored_weights(state: dict, dequantize: bool = True) -> dict[str, torch.Tensor]:
    """The checkpoint's weights, with int8 matrices (ensemble.py's compact storage) multiplied back by the row
    scales in its "scales" entry; ValueError when a scale does not fit its matrix, is not finite, or an int8
    matrix has none. With dequantize=False the scales are only checked and the int8 matrices returned as they are
    (enough for a shape check, and nothing allocated)."""
    weights, scales = state["state_dict"], state.get("scales", {})
    if not isinstance(weights, dict):
        return weights
    if not isinstance(scales, dict):
        raise ValueError("its scales are not a dict of tensors")
    for k, s in scales.items():
        q = weights.get(k)
        if not (torch.is_tensor(q) and q.dtype == torch.int8 and q.dim() == 2 and torch.is_tensor(s)
                and s.is_floating_point() and tuple(s.shape) == (q.shape[0],) and bool(torch.isfinite(s).all())):
            raise ValueError(f"the scale of {ckpt.short(k, 60)} does not fit its int8 weights")
    unscaled = [k for k, v in weights.items() if torch.is_tensor(v) and v.dtype == torch.int8 and k not in scales]
    if unscaled:
        raise ValueError(f"int8 weights without a scale ({ckpt.short(unscaled[0], 60)})")
    if not dequantize or not scales:
        return weights
    return {**weights, **{k: weights[k].float() * s.float()[:, None] for k, s in scales.items()}}


def sentiment_classes(state: dict, name: str) -> tuple[str, ...]:
    """The checkpoint's class names (label 0, label 1, ...), as many as its model has outputs for;
    ("negative", "positive") when it records none (older checkpoints: two classes)."""
    classes = state.get("classes")
    want = _n_classes(state)
    if classes is None and want == 2:
        return CLASSES
    names = (isinstance(classes, (list, tuple)) and 2 <= len(classes) <= MAX_CLASSES
             and len(set(map(str, classes))) == len(classes))
    if not names or not all(isinstance(c, str) and c.strip() and len(c) <= 200 for c in classes):
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: its classes are "
                                   f"{ckpt.short(classes, 60)}, not 2 to {MAX_CLASSES} distinct names")
    if len(classes) != want:
        raise ckpt.CheckpointError(f"{name} is not a usable sentiment checkpoint: it names {len(classes)} classes "
                                   f"but its model has {want}")
    return tuple(classes)


def multiclass_format(state: dict, n_classes: int) -> dict:
    """`state` (a new checkpoint) with the format version an older charrnn refuses when it has more than two
    classes, so that it says "upgrade charrnn" instead of failing on the model's settings."""
    if n_classes > 2:
        state["format_version"] = max(state["format_version"], ckpt.MULTICLASS_FORMAT_VERSION)
    return state


def _n_classes(state: dict) -> int:
    """The number of classes the checkpoint's model config says (its first member's; 2 when it says none)."""
    try:
        model_cfg = state["config"]["model"]
        first = model_cfg["members"][0] if "members" in model_cfg else model_cfg
        n = first.get("n_classes", 2)
    except (KeyError, TypeError, IndexError, AttributeError):
        return 2  # the model's own check reports what is wrong with its config
    return n if isinstance(n, int) and not isinstance(n, bool) else 2


def load_sentiment(path: str | os.PathLike, device: str = "auto") -> SentimentModel:
    """Load a `sentiment` checkpoint safely (weights_only=True) onto `device` ('auto', the default: CUDA, then
    MPS, then the CPU); CheckpointError if it is not one."""
    return build_sentiment(ckpt.load(path, kind=SENTIMENT), ckpt.display_name(path), device)


def build_sentiment(state: dict, name: str, device: str = "cpu") -> SentimentModel:
    """The classifier of a `sentiment` checkpoint already loaded (`checkpoint.load`), on `device`."""
    vocab, model, max_tokens = sentiment_parts(state, name)
    classes = sentiment_classes(state, name)
    dev = pick_device(device)
    model.to(dev).eval()
    metrics = state.get("metrics")
    return SentimentModel(model, vocab, state["config"], dict(metrics) if isinstance(metrics, dict) else {},
                          max_tokens, dev, (state.get("tokenizer") or {}).get("name", TOKENIZER), classes)


def check(state: dict, name: str) -> None:
    """CheckpointError unless the checkpoint's weights fit its model (checked on the meta device)."""
    sentiment_parts(state, name, meta=True)
    sentiment_classes(state, name)


def score(metrics: Metrics) -> str:
    """Test accuracy when it was recorded, else validation accuracy."""
    for which in ("test", "val"):
        acc = metric(metrics, f"{which}_accuracy")
        if acc is not None:
            return f"{which} accuracy {acc:.1%}"
    return ""


def default_sentiment_checkpoint(folder: str | os.PathLike = "checkpoints") -> Path:
    """The classifier the app offers first in `folder` (`shelf.default_checkpoint`): the kind's default file
    (sentiment-blend.pt) when it is there and usable, else the newest usable sentiment checkpoint; CheckpointError
    when there is none."""
    try:
        return shelf.default_checkpoint(folder, SENTIMENT)
    except ckpt.CheckpointError:  # none: the command line's advice, with the folder as it was given
        raise ckpt.CheckpointError(f"no sentiment checkpoint in {folder}/: give --checkpoint, or train one with "
                                   f"`charrnn sentiment train`") from None


DEFAULT_FILE = "sentiment-blend.pt"  # a blend: sentence classifiers for short texts, the IMDb one for reviews
KIND = register(Kind(SENTIMENT, DEFAULT_FILE, check=check, load=load_sentiment, score=score, build=build_sentiment))
