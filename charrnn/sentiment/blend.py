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

import torch

from .. import checkpoint as ckpt
from ..kinds import SENTIMENT
from ..training import checkpoint_dict
from .ensemble import MAX_MEMBERS, PRECISIONS, _member, _same, add_members, at_precision
from .kind import check, multiclass_format, sentiment_classes
from .text import PAD, UNK, UNK_ID

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
    index = {w: i for i, w in enumerate(vocab)}
    return torch.tensor([index.get(w, UNK_ID) for w in union], dtype=torch.int32)


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
    if isinstance(split_at, bool) or not isinstance(split_at, int) or split_at < 1:
        raise ValueError(f"split_at must be a whole number of tokens, at least 1, got {split_at!r}")
    paths = list(dict.fromkeys([*map(str, short), *map(str, long)]))  # each file once, in order
    names = [ckpt.display_name(p) for p in paths]
    loaded = [_member(p) for p in paths]
    states = [s for s, _, _ in loaded]
    _same(states, names, "tokenizer", lambda s: (s.get("tokenizer") or {}).get("name"))
    _same(states, names, "class names", lambda s: sentiment_classes(s, ""))
    union = _union([list(s["vocab"]) for s in states])
    cfgs, weights, parts, members = [], {}, [], []
    for i, ((state, member_cfgs, sd), path, name) in enumerate(zip(loaded, paths, names)):
        texts = "all" if path in map(str, short) and path in map(str, long) else (
            "short" if path in map(str, short) else "long")
        reads = int((state.get("tokenizer") or {}).get("max_tokens") or 500)
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
    tok = {**(states[0].get("tokenizer") or {}), "max_tokens": max(p["reads"] for p in parts)}
    config = BlendConfig([n for n, p in zip(names, parts) if p["texts"] != "long"],
                         [n for n, p in zip(names, parts) if p["texts"] != "short"], split_at, precision)
    state = checkpoint_dict(SENTIMENT, {"members": cfgs, "blend": {"split_at": split_at, "parts": parts}}, config,
                            union, weights, {"members": members, "n_members": len(cfgs)},
                            **({"scales": scales} if scales else {}), tokenizer=tok, classes=classes,
                            data={"source": " + ".join(names)})
    multiclass_format(state, len(classes))
    check(state, os.path.basename(out))  # what is written loads
    path = ckpt.save(state, out)
    return {"out": str(path), "members": len(cfgs), "parts": len(parts), "words": len(union),
            "bytes": path.stat().st_size}
