"""Training for the sentiment classifier: length-bucketed batches, Adam, clipping, AMP on CUDA,
early stopping on validation accuracy (best weights kept), and one slim `sentiment` checkpoint."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from ..device import pick_device
from ..train import optimizer_step
from .data import Imdb, Review, split_train_val
from .model import SentimentConfig, SentimentLSTM, load_glove
from .text import PAD_ID, UNK_ID, WordVocab, tokenize

TOKENIZER = "chapter"


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    lr_decay: str = "none"  # or "linear": down to 5% of lr by the last batch of the last epoch
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # 0: off
    max_tokens: int = 500  # reviews are cut to their first max_tokens tokens, in training and prediction
    min_freq: int = 1
    max_vocab: int = 0  # 0: no limit (entries including <pad> and <unk>)
    patience: int = 0  # stop after this many epochs without a better validation accuracy (0: never)
    bucket_pool: int = 100  # batches per pool: reviews are sorted by length inside random pools of this many batches
    val_size: int = 5000
    seed: int = 1  # model init, batch order, and the train/validation split (1: the chapter's)
    device: str = "auto"
    amp: bool = True
    glove: str = ""
    freeze: bool = False

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.max_tokens, self.min_freq, self.bucket_pool) < 1:
            raise ValueError("epochs, batch_size, max_tokens, min_freq and bucket_pool must be at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.lr_decay not in ("none", "linear"):
            raise ValueError(f"lr_decay must be 'none' or 'linear', got {self.lr_decay!r}")
        if self.freeze and not self.glove:
            raise ValueError("freeze needs pretrained vectors (glove)")


# book: the chapter's model and settings (its reviews are not truncated: 3,000 tokens is beyond the longest review).
# best: a BiLSTM with max pooling that reaches >= 0.88 test accuracy in a few minutes per epoch on a laptop CPU.
PRESETS: dict[str, dict] = {
    "book": dict(model=dict(embed=20, hidden=64, fc=64, pooling="last", bidirectional=False, dropout=0.0),
                 train=dict(epochs=10, batch_size=32, lr=1e-3, max_tokens=3000, grad_clip=0.0)),
    "best": dict(model=dict(embed=128, hidden=128, fc=64, pooling="max", bidirectional=True, dropout=0.4),
                 train=dict(epochs=6, batch_size=64, lr=2e-3, max_tokens=500, min_freq=2, max_vocab=30000,
                            grad_clip=1.0, patience=2)),
}


def preset(
    name: str, model_overrides: dict | None = None, train_overrides: dict | None = None
) -> tuple[dict, TrainConfig]:
    """A preset's model settings and TrainConfig, with non-None overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    model = {**PRESETS[name]["model"], **{k: v for k, v in (model_overrides or {}).items() if v is not None}}
    names = {f.name for f in fields(TrainConfig)}
    train = {**PRESETS[name]["train"], **{k: v for k, v in (train_overrides or {}).items() if v is not None}}
    unknown = set(train) - names
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return model, TrainConfig(**train)


def encode(vocab: WordVocab, texts: list[str], max_tokens: int) -> list[list[int]]:
    """Token ids per text, cut to `max_tokens`; a text without tokens becomes one `<unk>` so it still gets a score."""
    return [vocab.encode(tokenize(t)[:max_tokens]) or [UNK_ID] for t in texts]


def pad_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths


def bucket_batches(lengths: list[int], batch_size: int, pool_batches: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of indices whose lengths are similar: a random permutation is cut into pools of
    `pool_batches` batches, each pool sorted by length and cut into batches, and the batch order shuffled,
    so batches stay random but hold little padding."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


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


def accuracy(model: SentimentLSTM, seqs: list[list[int]], labels: list[int], device: torch.device | str = "cpu",
             batch_size: int = 256) -> float:
    probs = predict_ids(model, seqs, batch_size, device)
    return sum((p > 0.5) == bool(y) for p, y in zip(probs, labels)) / max(1, len(labels))


def _check_labeled(reviews: list[Review], what: str) -> None:
    if not reviews:
        raise ValueError(f"no {what} reviews")
    if any(r.label not in (0, 1) for r in reviews):
        raise ValueError(f"{what} reviews must be labeled 0 or 1")


def train_sentiment(
    imdb: Imdb,
    model_config: dict | None = None,
    config: TrainConfig | None = None,
    out: str | os.PathLike = "checkpoints/sentiment.pt",
    test: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train on imdb.train (less the seeded validation split), keep the weights with the best validation
    accuracy, write them to `out` and return the metrics; `test=True` also measures the test accuracy."""
    config = config or TrainConfig()
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    _check_labeled(imdb.train, "training")
    train_set, val_set = split_train_val(imdb.train, config.val_size, config.seed)
    train_tokens = [tokenize(r.text) for r in train_set]
    vocab = WordVocab.build(train_tokens, config.min_freq, config.max_vocab or None)
    train_ids = [vocab.encode(t[: config.max_tokens]) or [UNK_ID] for t in train_tokens]
    del train_tokens
    val_ids = encode(vocab, [r.text for r in val_set], config.max_tokens)
    y_train = torch.tensor([float(r.label) for r in train_set])
    y_val = [r.label for r in val_set]

    model_cfg = SentimentConfig(vocab_size=len(vocab), **(model_config or {}))
    model = SentimentLSTM(model_cfg)
    metrics: dict = {}
    if config.glove:
        glove = load_glove(config.glove, vocab, model_cfg.embed, seed=config.seed)
        model.embedding.weight.data.copy_(glove.vectors)
        model.embedding.weight.requires_grad_(not config.freeze)
        metrics.update(glove_found=glove.found, glove_coverage=round(glove.coverage, 4))
    model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                           weight_decay=config.weight_decay)
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    lengths = [len(s) for s in train_ids]

    best_acc, best_epoch, best_state = -1.0, 0, None
    history: list[dict] = []
    seconds = 0.0
    metrics.update(n_train=len(train_set), n_val=len(val_set), vocab_size=len(vocab), device=str(device))

    def snapshot() -> dict:
        return {
            "format_version": ckpt.FORMAT_VERSION,
            "kind": "sentiment",
            "config": {"model": model_cfg.to_dict(), "train": asdict(config)},
            "tokenizer": {"name": TOKENIZER, "max_tokens": config.max_tokens},
            "vocab": list(vocab.words),
            "state_dict": best_state,
            "metrics": dict(metrics),
        }

    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = bucket_batches(lengths, config.batch_size, config.bucket_pool, gen)
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        bar = tqdm(batches, disable=not progress, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                   dynamic_ncols=True, leave=False)
        for step, b in enumerate(bar):
            if config.lr_decay == "linear":
                done = ((epoch - 1) * len(batches) + step) / (config.epochs * len(batches))
                for g in opt.param_groups:
                    g["lr"] = config.lr * (1 - 0.95 * done)
            ids, lens = pad_batch([train_ids[i] for i in b])
            y = y_train[b].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(ids.to(device), lens)
            loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            optimizer_step(loss, opt, scaler, model, config.grad_clip)
            total += loss.item() * len(b)
            seen += len(b)
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        bar.close()
        seconds += time.perf_counter() - t0
        val_acc = accuracy(model, val_ids, y_val, device)
        record = {"epoch": epoch, "train_loss": round(total / seen, 4), "val_accuracy": round(val_acc, 4),
                  "seconds": round(seconds, 1)}
        history.append(record)
        if progress:
            tqdm.write(f"epoch {epoch}: train_loss={record['train_loss']:.4f} val_accuracy={val_acc:.4f} "
                       f"({seconds:.0f} s)")
        if on_epoch:
            on_epoch(record)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            metrics.update(val_accuracy=round(val_acc, 4), best_epoch=epoch, train_seconds=round(seconds, 1),
                           epochs=epoch, history=list(history))
            ckpt.save(snapshot(), out)
        elif config.patience and epoch - best_epoch >= config.patience:
            break
    metrics.update(epochs=len(history), train_seconds=round(seconds, 1), history=history)
    if test:
        model.load_state_dict(best_state)
        _check_labeled(imdb.test, "test")
        test_ids = encode(vocab, [r.text for r in imdb.test], config.max_tokens)
        metrics.update(test_accuracy=round(accuracy(model, test_ids, [r.label for r in imdb.test], device), 4),
                       n_test=len(imdb.test))
    ckpt.save(snapshot(), out)
    return {**metrics, "out": str(out)}
