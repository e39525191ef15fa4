"""Word language-model pre-training for the classifier (ULMFiT, Howard & Ruder 2018; Dai & Le 2015).

A forward LSTM learns to predict each next word and a backward LSTM each previous word of unlabelled text (IMDb's
train + unlabelled reviews: 18 million words), over one shared embedding and one adaptive softmax (Grave et al.,
2017: frequent words cost a full row, rare ones a smaller cluster). Their sizes are the classifier's first
layer, so `charrnn sentiment train --pretrained FILE` starts from these weights and the LM's vocabulary instead
of random ones: the classifier then only has to learn which of what the LM already reads decides the label.
The checkpoint (kind `word-lm`) holds only tensors and plain values, like every other.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from ..device import pick_device
from ..kinds import SENTIMENT, check_shapes
from ..training import checkpoint_dict, cpu_state_dict, stop_signals
from .kind import build_sentiment
from .model import SentimentBlend
from .text import PAD_ID, WORDS, WordVocab, tokenizer
from .vectors import load_glove

KIND = "word-lm"


@dataclass
class WordLMConfig:
    vocab_size: int
    embed: int = 100
    hidden: int = 128
    dropout: float = 0.1
    cutoffs: tuple[int, ...] = (2000, 10000)  # adaptive softmax: the head's words, then each tail cluster's end

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.embed, self.hidden) < 1 or self.vocab_size < 3:
            raise ValueError("vocab_size (at least 3), embed and hidden must be positive")
        # a small vocabulary gets fewer clusters (at least one: the adaptive softmax needs a tail)
        self.cutoffs = tuple(c for c in self.cutoffs if c < self.vocab_size - 1) or ((self.vocab_size - 1) // 2,)


@dataclass
class PretrainConfig:
    minutes: float | None = None  # a time budget; None: `epochs` passes over the text
    epochs: float = 1.0
    batch_size: int = 64
    bptt: int = 64  # words per step of each stream (state carried across steps)
    lr: float = 2e-3  # Adam, cosine decay to a tenth over the run
    grad_clip: float = 1.0
    min_freq: int = 2
    max_vocab: int = 30000
    val_fraction: float = 0.005  # the text's tail held out for the reported perplexity
    tokenizer: str = WORDS
    glove: str = ""  # word vectors to start the embedding from
    init: str = ""  # a word LM to continue: its vocabulary, tokenizer, sizes and weights (a second pass, say)
    seed: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if not self.epochs > 0 or min(self.batch_size, self.bptt, self.min_freq) < 1 or not self.lr > 0:
            raise ValueError("epochs and lr must be positive; batch_size, bptt and min_freq at least 1")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        tokenizer(self.tokenizer)
        if self.init and self.glove:
            raise ValueError("give word vectors (glove) or an LM to continue (init), not both")


class WordLM(nn.Module):
    """Shared embedding; a forward and a backward LSTM (each the classifier's first-layer size); adaptive softmax."""

    def __init__(self, cfg: WordLMConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed, padding_idx=PAD_ID)
        self.forward_lstm = nn.LSTM(cfg.embed, cfg.hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(cfg.embed, cfg.hidden, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.AdaptiveLogSoftmaxWithLoss(cfg.hidden, cfg.vocab_size, list(cfg.cutoffs), div_value=4.0)

    def forward(self, fwd: tuple[torch.Tensor, torch.Tensor], bwd: tuple[torch.Tensor, torch.Tensor], states=None):
        """Mean loss (nats per word) of both directions on (input, target) pairs of (batch, time) ids, and the
        detached states to carry into the next step."""
        states = states or (None, None)
        outs, new = [], []
        for lstm, (x, _), state in zip((self.forward_lstm, self.backward_lstm), (fwd, bwd), states):
            out, state = lstm(self.drop(self.embedding(x)), state)
            outs.append(self.drop(out).reshape(-1, self.cfg.hidden))
            new.append(tuple(s.detach() for s in state))
        targets = torch.cat([fwd[1].reshape(-1), bwd[1].reshape(-1)])
        return self.head(torch.cat(outs), targets).loss, tuple(new)


def _streams(ids: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward inputs/targets and backward (reversed text) inputs/targets as (batch, length) streams."""
    n = (len(ids) - 1) // batch_size
    if n < 2:
        raise ValueError(f"too little text to pre-train on: {len(ids)} words for {batch_size} streams")
    ids = ids[: n * batch_size + 1]
    rev = ids.flip(0)
    return (ids[:-1].view(batch_size, n), ids[1:].view(batch_size, n),
            rev[:-1].view(batch_size, n), rev[1:].view(batch_size, n))


@torch.no_grad()
def _loss(model: WordLM, ids: torch.Tensor, bptt: int, device: torch.device) -> float:
    """Mean loss of both directions over held-out ids, read as one stream each (nats per word)."""
    model.eval()
    fx, fy, bx, by = (t.to(device) for t in _streams(ids, 1))
    total, count, states = 0.0, 0, None
    for i in range(0, fx.shape[1], bptt):
        sl = slice(i, i + bptt)
        loss, states = model((fx[:, sl], fy[:, sl]), (bx[:, sl], by[:, sl]), states)
        total += loss.item() * fx[:, sl].numel()
        count += fx[:, sl].numel()
    model.train()
    return total / count


def pretrain_word_lm(texts: Iterable[str], out: str | os.PathLike, config: PretrainConfig | None = None,
                     embed: int = 100, hidden: int = 128, progress: bool = True) -> dict:
    """Build the vocabulary from `texts`, pre-train a WordLM on them (joined into one stream), write it to `out`
    as a `word-lm` checkpoint and return its metrics (held-out loss and perplexity of the text's tail).
    With `config.init`, that LM's vocabulary, tokenizer, sizes and weights are the start instead."""
    config = config or PretrainConfig()
    torch.manual_seed(config.seed)
    start = load_word_lm(config.init) if config.init else None
    if start is not None:
        config = replace(config, tokenizer=start.tokenizer)
    split = tokenizer(config.tokenizer)
    tokens = [split(t) for t in tqdm(texts, desc="tokenizing", unit="text", disable=not progress, leave=False)]
    vocab = start.vocab if start else WordVocab.build(tokens, config.min_freq, config.max_vocab or None)
    ids = torch.tensor([i for t in tokens for i in vocab.encode(t)], dtype=torch.long)
    del tokens
    n_val = max(2, round(len(ids) * config.val_fraction))
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    device = pick_device(config.device)
    model = WordLM(start.config if start else WordLMConfig(len(vocab), embed, hidden))
    metrics: dict = {"words": len(ids), "vocab_size": len(vocab), "device": str(device)}
    if start is not None:
        model.load_state_dict(start.state_dict)
    elif config.glove:
        glove = load_glove(config.glove, vocab, embed, seed=config.seed)
        model.embedding.weight.data.copy_(glove.vectors)
        metrics.update(glove_coverage=round(glove.coverage, 4))
    model.to(device)
    metrics.update(_fit(model, train_ids, config, device, progress))
    if start is not None:  # the words of every pass so far
        metrics["words_seen"] += start.metrics.get("words_seen") or 0
    val = _loss(model, val_ids, config.bptt, device)
    metrics.update(val_loss=round(val, 4), val_perplexity=round(math.exp(val), 1), n_val=len(val_ids))
    ckpt.save(checkpoint_dict(KIND, asdict(model.cfg), config, vocab.words, cpu_state_dict(model), metrics,
                              tokenizer={"name": config.tokenizer}), out)
    return {**metrics, "out": str(out)}


def _fit(model: WordLM, ids: torch.Tensor, config: PretrainConfig, device: torch.device, progress: bool) -> dict:
    """The training loop: every stream advances `bptt` words per step; cosine learning rate by steps or time.
    Ctrl-C or SIGTERM ends it between steps; what was learned so far is kept ("stopped" in the result)."""
    fx, fy, bx, by = (t.to(device) for t in _streams(ids, config.batch_size))
    per_epoch = -(-fx.shape[1] // config.bptt)  # steps per pass, the last one possibly shorter
    steps = max(1, round(per_epoch * config.epochs)) if config.minutes is None else None
    budget = None if config.minutes is None else config.minutes * 60
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    start, step, words, states, avg = time.perf_counter(), 0, 0, None, None
    with stop_signals() as caught, tqdm(total=steps or round(budget), unit="step" if steps else "s",
                                        desc="pre-training", disable=not progress, dynamic_ncols=True) as bar:
        while not caught:
            done = step / steps if steps else (time.perf_counter() - start) / budget
            if done >= 1:
                break
            for g in opt.param_groups:
                g["lr"] = config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))
            i = (step % per_epoch) * config.bptt
            if i == 0:
                states = None  # a new pass: the streams start over
            sl = slice(i, i + config.bptt)
            loss, states = model((fx[:, sl], fy[:, sl]), (bx[:, sl], by[:, sl]), states)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            step += 1
            words += fx[:, sl].numel()
            if step % 20 == 0 or step == steps:  # read the loss (a host sync) only now and then
                avg = loss.item() if avg is None else 0.9 * avg + 0.1 * loss.item()
                bar.set_postfix(loss=f"{avg:.3f}", refresh=False)
            bar.update(1 if steps else round(time.perf_counter() - start) - bar.n)
    return {"steps": step, "words_seen": words, "train_seconds": round(time.perf_counter() - start, 1),
            "train_loss": round(avg, 4) if avg is not None else None, "epochs": round(words / max(1, len(ids)), 3),
            "stopped": bool(caught)}


@dataclass
class PretrainedLM:
    vocab: WordVocab
    config: WordLMConfig
    tokenizer: str
    state_dict: dict[str, torch.Tensor]
    metrics: dict


def load_word_lm(path: str | os.PathLike) -> PretrainedLM:
    """A pre-trained word LM's vocabulary, sizes, tokenizer and weights (CheckpointError if it is not one)."""
    obj = ckpt.load(path, KIND)
    try:
        cfg = WordLMConfig(**{**obj["config"]["model"], "cutoffs": tuple(obj["config"]["model"]["cutoffs"])})
        vocab = WordVocab(list(obj["vocab"]))
        check_shapes(lambda: WordLM(cfg), obj["state_dict"])  # on the meta device: nothing allocated
    except (KeyError, TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{ckpt.display_name(path)} is not a usable word LM: {ckpt.short(e)}") from None
    return PretrainedLM(vocab, cfg, obj.get("tokenizer", {}).get("name", WORDS), obj["state_dict"],
                        dict(obj.get("metrics", {})))


def load_encoder(path: str | os.PathLike, member: int = 0) -> PretrainedLM:
    """A start for `charrnn sentiment train --pretrained`: a word LM (`load_word_lm`), or a sentiment classifier
    whose vocabulary, tokenizer, embedding and first-layer LSTMs (of ensemble member `member`) are taken as if they
    were an LM's: a classifier fine-tuned on one dataset is then the starting point for another (transfer from
    IMDb reviews to sentences, say). CheckpointError when it is neither, or has no such member."""
    obj = ckpt.load(path)
    name = ckpt.display_name(path)
    if obj["kind"] != SENTIMENT:
        if obj["kind"] != KIND:
            raise ckpt.CheckpointError(f"{name} is a {obj['kind']!r} checkpoint: --pretrained takes a word LM "
                                       f"({KIND!r}) or a classifier ({SENTIMENT!r})")
        if member:
            raise ckpt.CheckpointError(f"{name} is a word LM, not an ensemble: --pretrained-member is for classifiers")
        return load_word_lm(path)
    sm = build_sentiment(obj, name)  # checked: a malformed file is a CheckpointError here
    if isinstance(sm.model, SentimentBlend):
        raise ckpt.CheckpointError(f"{name} is a blend: start from one of the classifiers it was made of")
    members = list(sm.model.members) if hasattr(sm.model, "members") else [sm.model]
    if not 0 <= member < len(members):
        raise ckpt.CheckpointError(f"{name} has {len(members)} member(s): --pretrained-member must be 0 to "
                                   f"{len(members) - 1}, got {member}")
    clf = members[member]
    weights = {"embedding.weight": clf.embedding.weight.detach().clone()}
    for mine, theirs in (("forward_lstm", clf.forward_lstms), ("backward_lstm", clf.backward_lstms)):
        if theirs is not None:
            weights.update({f"{mine}.{k}": v.detach().clone() for k, v in theirs[0].state_dict().items()})
    cfg = WordLMConfig(vocab_size=len(sm.vocab), embed=clf.cfg.embed, hidden=clf.cfg.hidden)
    return PretrainedLM(sm.vocab, cfg, sm.tokenizer, weights, {"from_classifier": name, "member": member})


def init_classifier(model: nn.Module, lm: PretrainedLM) -> tuple[str, ...]:
    """Copy the LM's embedding and LSTMs into the classifier's embedding and first-layer LSTMs (the backward one
    only when both have it) and return the prefixes of the classifier's parameters so started. The classifier must
    use the LM's vocabulary, embedding and hidden sizes."""
    cfg = model.cfg
    if (cfg.vocab_size, cfg.embed, cfg.hidden) != (lm.config.vocab_size, lm.config.embed, lm.config.hidden):
        raise ValueError(f"the pre-trained LM has vocabulary {lm.config.vocab_size}, embed {lm.config.embed} and "
                         f"hidden {lm.config.hidden}; the classifier has {cfg.vocab_size}, {cfg.embed}, {cfg.hidden}")
    state = lm.state_dict
    with torch.no_grad():
        model.embedding.weight.copy_(state["embedding.weight"])
        targets = [("forward_lstm", model.forward_lstms[0])]
        if model.backward_lstms is not None and any(k.startswith("backward_lstm.") for k in state):
            targets.append(("backward_lstm", model.backward_lstms[0]))
        for name, lstm in targets:
            lstm.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(name + ".")})
    return ("embedding.", *(f"{name}s.0." for name, _ in targets))
