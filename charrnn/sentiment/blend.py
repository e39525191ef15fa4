"""One classifier for every kind of text: `charrnn sentiment blend` joins classifiers that need not share a
vocabulary into a single `sentiment` checkpoint (`model.SentimentBlend`). Texts of at most `split_at` tokens get
the mean probability of the classifiers given for short texts; longer texts, that of those given for long texts
(a classifier given for both reads both). Each classifier keeps its own vocabulary (the blend's is their union,
mapped into each one's), its own number of tokens read and, for an ensemble, its members. A blend given among
them brings its parts as they are: those for short texts when given for short ones, those for long texts when
given for long ones (so a part can be added to a shipped blend). Every tool that takes
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
from .kind import MAX_TOKENS, check, sentiment_classes, stored_weights
from .model import check_split
from .text import PAD, TOKENIZER, UNK, UNK_ID, WordVocab

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


@dataclass
class _Source:
    """One classifier going into a blend: a file, or one part of a blend given among the files."""
    key: tuple[str, int]  # (file, part index; -1 for a file that is no blend)
    name: str  # its display name (a blend's part: the file it was made from)
    state: dict  # its checkpoint (for a part: the blend's, with the part's vocabulary and tokens read)
    member_cfgs: list[dict]
    weights: dict[str, torch.Tensor]  # keyed from member 0
    short: bool = False
    long: bool = False


def _blend_parts(path: str, state: dict) -> list[_Source]:
    """A blend's parts as sources: each its members, its weights and its own vocabulary (read back from its map)."""
    spec, cfgs = state["config"]["model"]["blend"], state["config"]["model"]["members"]
    weights, union = stored_weights(state), list(state["vocab"])
    records = (state.get("metrics") or {}).get("members") or []
    out = []
    for i, part in enumerate(spec["parts"]):
        size = int(cfgs[part["members"][0]]["vocab_size"])
        vocab = [PAD, UNK] + [""] * (size - 2)
        for word, j in zip(union, weights[f"maps.{i}"].tolist()):
            if j != UNK_ID and 0 <= j < size:
                vocab[j] = word
        if "" in vocab:
            raise ckpt.CheckpointError(f"{ckpt.display_name(path)}: the map of its part {i} leaves words of the "
                                       f"part's vocabulary unnamed")
        sd = {f"members.{n}.{k.split('.', 2)[2]}": v for n, m in enumerate(part["members"])
              for k, v in weights.items() if k.startswith(f"members.{m}.")}
        tok = {**(state.get("tokenizer") or {}), "max_tokens": int(part["reads"])}
        record = records[i] if i < len(records) and isinstance(records[i], dict) else {}
        name = str(record.get("file") or f"{ckpt.display_name(path)} part {i}")
        metrics = {k: record[k] for k in ("val_accuracy", "test_accuracy") if k in record}
        out.append(_Source((path, i), name, {**state, "vocab": vocab, "tokenizer": tok, "metrics": metrics},
                           [cfgs[m] for m in part["members"]], sd,
                           part["texts"] in ("short", "all"), part["texts"] in ("long", "all")))
    return out


def _sources(short: list[str], long: list[str]) -> list[_Source]:
    """The classifiers to blend, each once in the order given, with the texts each answers; a blend brings its
    parts for the texts it was given for."""
    found: dict[tuple[str, int], _Source] = {}
    for path in dict.fromkeys([*short, *long]):
        state = ckpt.load(path, kind=SENTIMENT)
        check(state, ckpt.display_name(path))
        if "blend" not in state["config"]["model"]:
            _, cfgs, sd = _member(path, state)
            found[(path, -1)] = _Source((path, -1), ckpt.display_name(path), state, cfgs, sd, path in short,
                                        path in long)
            continue
        for p in _blend_parts(path, state):  # a blend has parts for both (kind.check): some answer these texts
            p.short, p.long = p.short and path in short, p.long and path in long
            if p.short or p.long:
                found[p.key] = p
    return list(found.values())


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
    sources = _sources([_key(p) for p in short], [_key(p) for p in long])
    names, states = [s.name for s in sources], [s.state for s in sources]
    advice = "only classifiers of one tokenizer and the same class names can be blended"
    _same(states, names, "tokenizer", lambda s: (s.get("tokenizer") or {}).get("name", TOKENIZER), advice)
    _same(states, names, "class names", lambda s: sentiment_classes(s, ""), advice)
    union = _union([list(s["vocab"]) for s in states])
    cfgs, weights, parts, members = [], {}, [], []
    for i, source in enumerate(sources):
        state, name, member_cfgs, sd = source.state, source.name, source.member_cfgs, source.weights
        texts = "all" if source.short and source.long else "short" if source.short else "long"
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
