"""Fine-tuning a character model (`TrainConfig.init_from`, issue 26): the starting checkpoint read, its vocabulary
extended by the new text's characters, and where the run started recorded.

The extended vocabulary stays sorted (as Vocab.from_text makes it, so encoding keeps its fast path): the base's
characters keep their weights, moved to their new ids, and each new character gets an embedding row and an output
row that are the means of the base's (a character "like any other"), with an output bias at the base's lowest (as
rare as its rarest character), so the model starts predicting it rarely and learns how often it comes."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from .. import hub
from ..kinds import CHAR_LM
from ..modelfolder import CONFIG, WEIGHTS
from .charlm import char_lm_parts
from .corpus import Corpus
from .data import Vocab
from .model import ModelConfig

SIZES = ("vocab_size", "embed", "hidden", "layers", "cell")  # fixed by the starting checkpoint's weights
# Dropout and weight drop during fine-tuning unless given, whatever the base trained with: dropout 0.25, no weight
# drop. A 3-minute run on a fast CPU makes five passes over a novel and over-fits without dropout (Holmes: 1.2613
# with 0, 1.2174 with 0.25, 1.2229 with 0.15, 1.2259 with 0.35, 1.2325 with the island's 0.45; weight drop 0.15
# on top 1.2289); on a slow one 0.25 did no harm (1.2276 against 1.2285). docs/BENCHMARKS.md "Fine-tuning"
REGULARISERS = {"dropout": 0.25, "weight_drop": 0.0}
HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Start:
    """A fine-tuning run's starting point: the model settings and weights with the extended vocabulary, and what
    to record about it (`info`: the file's name and sha256, the characters added)."""

    model: ModelConfig
    vocab: Vocab
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    info: dict

    @property
    def added(self) -> int:
        return int(self.info["chars_added"])


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a checkpoint file's bytes; of a model folder (or an hf:// name, in the Hub's cache), of its
    config and weights files' names and bytes in turn."""
    path = hub.resolve(str(path)) if hub.is_hub_name(path) else Path(path)
    h = hashlib.sha256()
    for f in [path / CONFIG, path / WEIGHTS] if path.is_dir() else [path]:
        if path.is_dir():
            h.update(f.name.encode() + b"\x00")
        with open(f, "rb") as fh:
            while block := fh.read(HASH_BLOCK):
                h.update(block)
    return h.hexdigest()


def load_start(path: str | os.PathLike, corpus: Corpus, model_config: dict | None = None) -> Start:
    """The checkpoint at `path` as the start of a run on `corpus`: its model, the vocabulary extended by the
    corpus's new characters. Model settings given in `model_config` that would change the weights' shapes must equal
    the checkpoint's (ValueError otherwise); dropout and weight_drop are REGULARISERS' unless given. CheckpointError
    (one line) for a missing file or one that is not a character model."""
    name = ckpt.display_name(path)
    obj = ckpt.load(path, kind=CHAR_LM)
    vocab, net = char_lm_parts(obj, name)
    base = ModelConfig(**obj["config"]["model"])
    given = {k: v for k, v in (model_config or {}).items() if v is not None}
    clash = {k: v for k, v in given.items() if k in SIZES and v != getattr(base, k)}
    if clash:
        shown = ", ".join(f"{k} {v} (it has {getattr(base, k)})" for k, v in clash.items())
        raise ValueError(f"--init-from {name} fixes the model's sizes; leave out {shown}")
    seen = set().union(*(set(t) for t in corpus.texts))
    new_vocab = Vocab(tuple(sorted(set(vocab.chars) | seen)))
    added = [c for c in new_vocab.chars if c not in vocab]
    kept = {k: v for k, v in given.items() if k not in SIZES and k in ModelConfig.__dataclass_fields__}
    cfg = replace(base, vocab_size=len(new_vocab), **{**REGULARISERS, **kept})
    state = extend_vocab(net.state_dict(), vocab, new_vocab)
    info = {"file": name, "sha256": file_sha256(path), "chars_added": len(added), "added": "".join(added),
            "base_vocab": len(vocab)}
    return Start(cfg, new_vocab, state, info)


def extend_vocab(state: dict[str, torch.Tensor], old: Vocab, new: Vocab) -> dict[str, torch.Tensor]:
    """A CharRNN state dict for the vocabulary `new` (a superset of `old`): the old characters' embedding and
    output rows unchanged at their new ids; the new ones' rows the old rows' means, their output bias the old
    lowest (see the module docstring). The other weights are shared with `state`, not copied."""
    index = torch.tensor([new.chars.index(c) for c in old.chars])
    fresh = torch.tensor([i for i, c in enumerate(new.chars) if c not in old], dtype=torch.long)
    out = dict(state)
    for key, fill in (("embedding.weight", "mean"), ("fc.weight", "mean"), ("fc.bias", "min")):
        rows = state[key]
        grown = rows.new_empty((len(new),) + tuple(rows.shape[1:]))
        grown[index] = rows
        if len(fresh):
            grown[fresh] = rows.mean(0) if fill == "mean" else rows.min()
        out[key] = grown
    return out


def check_resume(init_from: str | os.PathLike, saved: dict, name: str) -> None:
    """Resuming a run while naming a starting checkpoint: fine when the run started from that very file (the run
    simply continues); ValueError when it started from another or from scratch."""
    if not hub.is_hub_name(init_from) and not Path(init_from).exists():
        raise ckpt.CheckpointError(f"checkpoint not found: {init_from}")
    started = (saved.get("metrics") or {}).get("init_from") or {}
    if not isinstance(started, dict) or started.get("sha256") != file_sha256(init_from):
        was = f"started from {started.get('file')}" if isinstance(started, dict) and started else \
            "was trained from scratch"
        raise ValueError(f"cannot resume {name} from --init-from {ckpt.display_name(init_from)}: the run {was}; "
                         f"--resume continues a run as it began (leave out --init-from), or give a new --out")
