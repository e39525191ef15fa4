"""One classifier for every kind of text: `charrnn sentiment blend` joins classifiers that need not share a
vocabulary into a single `sentiment` checkpoint (`model.SentimentBlend`). Texts of at most `split_at` tokens get
the mean probability of the classifiers given for short texts; longer texts, that of those given for long texts
(a classifier given for both reads both). Each classifier keeps its own vocabulary (the blend's is their union,
mapped into each one's), its own number of tokens read and, for an ensemble, its members. Every tool that takes
a classifier (predict, evaluate, explain, the app, export) takes a blend as it is, and explain's occlusion runs
exactly what the blend computes."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from .. import hub
from ..kinds import SENTIMENT
from ..training import checkpoint_dict
from .ensemble import MAX_MEMBERS, PRECISIONS, _member, _same, add_members, at_precision, save_checked
from .kind import MAX_TOKENS, sentiment_classes
from .model import check_split
from .text import PAD, TOKENIZER, UNK, WordVocab

SPLIT_AT = 64  # tokens: SST-2's longest training text has 48, a tweet fits; 95% of IMDb's reviews are longer


@dataclass
class BlendConfig:
    short: list[str] = field(default_factory=list)  # the file names of the classifiers for short texts
    long: list[str] = field(default_factory=list)  # ... and for long ones
    split_at: int = SPLIT_AT  # a text of at most this many tokens is short
    precision: str = "int8"  # weights stored as float32, float16, or int8 rows with a float32 scale each


def _union(vocabs: list[list[str]]) -> list[str]:
    """The words of every vocabulary, the first's in its order, then each next one's new words in theirs."""
    words, seen = [PAD, UNK], {PAD, UNK}
    for vocab in vocabs:
        for w in vocab[2:]:
            if w not in seen:
                seen.add(w)
                words.append(w)
    return words


def _map(union: list[str], vocab: list[str]) -> torch.Tensor:
    """For each word of `union`, its id in `vocab` (`<unk>` when it has none)."""
    return torch.tensor(WordVocab(vocab).encode(union), dtype=torch.int32)


def _key(path: str | os.PathLike) -> str:
    """A file's name as given for a path, the same for two spellings of one file (a.pt, ./a.pt)."""
    local = Path(path)
    return os.path.normpath(path) if hub.is_hub_name(path) or not local.exists() else str(local.resolve())


def blend_classifiers(short: list[str | os.PathLike], long: list[str | os.PathLike], out: str | os.PathLike,
                      split_at: int = SPLIT_AT, precision: str = "int8") -> dict:
    """Write one `sentiment` checkpoint that answers texts of at most `split_at` tokens with the mean of the
    `short` classifiers and longer ones with the mean of the `long` ones (a file in both lists reads both), its
    weights stored at `precision`; return what was written. CheckpointError when the classifiers' tokenizers or
    class names differ; ValueError for bad settings."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not short or not long:
        raise ValueError("give at least one classifier for short texts and one for long texts")
    check_split(split_at)
    short, long = [_key(p) for p in short], [_key(p) for p in long]
    paths = list(dict.fromkeys([*short, *long]))  # each file once, in order
    names = [ckpt.display_name(p) for p in paths]
    loaded = [_member(p) for p in paths]
    states = [s for s, _, _ in loaded]
    advice = "only classifiers of one tokenizer and the same class names can be blended"
    _same(states, names, "tokenizer", lambda s: (s.get("tokenizer") or {}).get("name", TOKENIZER), advice)
    _same(states, names, "class names", lambda s: sentiment_classes(s, ""), advice)
    union = _union([list(s["vocab"]) for s in states])
    cfgs, weights, parts, members = [], {}, [], []
    for i, ((state, member_cfgs, sd), path, name) in enumerate(zip(loaded, paths, names)):
        texts = "all" if path in short and path in long else "short" if path in short else "long"
        reads = int((state.get("tokenizer") or {}).get("max_tokens") or MAX_TOKENS)
        parts.append({"members": list(range(len(cfgs), len(cfgs) + len(member_cfgs))), "reads": reads,
                      "texts": texts})
        add_members(cfgs, weights, member_cfgs, sd)
        weights[f"maps.{i}"] = _map(union, list(state["vocab"]))
        metrics = state.get("metrics") or {}
        members.append({"file": name, "texts": texts, **{k: metrics[k] for k in ("val_accuracy", "test_accuracy")
                                                         if k in metrics}})
    if len(cfgs) > MAX_MEMBERS:
        raise ValueError(f"at most {MAX_MEMBERS} members in all, got {len(cfgs)}")
    weights, scales = at_precision(weights, precision)
    classes = list(sentiment_classes(states[0], names[0]))
    # the blend reads as far as its longest part, and past the split: a text cut at the split would never be long
    tok = {**(states[0].get("tokenizer") or {}), "max_tokens": max(split_at + 1, *(p["reads"] for p in parts))}
    config = BlendConfig([n for n, p in zip(names, parts) if p["texts"] != "long"],
                         [n for n, p in zip(names, parts) if p["texts"] != "short"], split_at, precision)
    state = checkpoint_dict(SENTIMENT, {"members": cfgs, "blend": {"split_at": split_at, "parts": parts}}, config,
                            union, weights, {"members": members, "n_members": len(cfgs)},
                            **({"scales": scales} if scales else {}), tokenizer=tok, classes=classes,
                            data={"source": " + ".join(names)})
    path = save_checked(state, out)
    return {"out": str(path), "members": len(cfgs), "parts": len(parts), "words": len(union),
            "bytes": path.stat().st_size}
