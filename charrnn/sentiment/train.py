"""Training for the sentiment classifier: length-bucketed batches, Adam, clipping, AMP on CUDA, a sigmoid and binary
cross-entropy for two classes or a softmax and cross-entropy for more, early stopping on validation accuracy (best
weights kept), and one slim `sentiment` checkpoint."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from ..device import pick_device
from ..numbers import number, whole
from ..kinds import SENTIMENT
from ..training import (
    autocast,
    checkpoint_dict,
    cpu_state_dict,
    grad_scaler,
    optimizer_step,
    precision_for,
)
from .data import VAL_SIZE, Imdb
from .augment import augment
from .lexicon import lexicon_sentences, reads_as_sentiment
from .distill import load_teacher, read_transfer, teacher_labels
from .datasets import DEFAULT_VAL_FRACTION, MAX_CLASSES, LabelledData, Split, from_imdb, make_split
from .kind import SentimentModel, multiclass_format
from .model import SentimentConfig, SentimentLSTM
from .vectors import load_glove
from .metrics import confusion_matrix, macro_f1
from .predict import predicted, probabilities_ids
from .wordlm import PretrainedLM, init_classifier, load_encoder
from .text import (
    UNK_ID,
    WORDS,
    WordVocab,
    bucket_batches,
    encode,
    pad_batch,
    tokenizer,
)

KIND = SENTIMENT


@dataclass
class SentimentTrainConfig:
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
    val_size: int = VAL_SIZE  # IMDb's held-out rows (the chapter's 5,000), unless val_fraction is set
    val_fraction: float | None = None  # held-out share of the training rows; None: IMDb val_size, others 0.1
    seed: int = 1  # model init, batch order, and the train/validation split (1: the chapter's)
    device: str = "auto"
    amp: bool = True
    glove: str = ""
    freeze: bool = False
    tokenizer: str = WORDS  # "words" (negation-aware) or "chapter" (the book's)
    augment: float = 0.0  # negation/contrast examples made from short training phrases, as a share of the rows;
    #   only for two classes (a negation flips the class), else none are added
    lexicon: float = 0.0  # sentences from the built-in sentiment lexicon (lexicon.py), as a share of the rows;
    #   only for classes named as polarity (negative/positive, neg/pos, bad/good), else none are added
    pretrained: str = ""  # a pre-trained word LM (wordlm.py) or a classifier: its vocabulary, embedding and LSTMs
    pretrained_lr: float = 1.0  # the LM's layers learn at this times lr (ULMFiT's discriminative rates: < 1)
    pretrained_member: int = 0  # when `pretrained` is a classifier ensemble: the member whose encoder starts ours
    teacher: str = ""  # a two-class classifier whose P(second class) is the target of each transfer text
    transfer: str = ""  # unlabelled texts, one per line, added to the training rows with the teacher's labels
    options: dict | None = None  # the command line that started the run, resolved (`charrnn show --config`)

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.max_tokens, self.min_freq, self.bucket_pool) < 1:
            raise ValueError("epochs, batch_size, max_tokens, min_freq and bucket_pool must be at least 1")
        for name in ("augment", "lexicon"):
            if not 0 <= getattr(self, name) <= 10:
                raise ValueError(f"{name} must be between 0 and 10 (a share of the training rows), "
                                 f"got {getattr(self, name)}")
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        number("lr", self.lr, 0.0, (0, None), lo_open=True)  # finite: lr=inf would train NaN weights
        number("pretrained_lr", self.pretrained_lr, 0.0, (0, None), lo_open=True)
        number("weight_decay", self.weight_decay, 0.0, (0, None))
        number("grad_clip", self.grad_clip, 0.0, (0, None), note=" (0: off)")
        whole("seed", self.seed, 1, (-(2**63), 2**64 - 1))
        whole("pretrained_member", self.pretrained_member, 0, (0, 15))
        if self.pretrained_member and not self.pretrained:
            raise ValueError("pretrained_member needs a classifier to start from (pretrained)")
        if bool(self.teacher) != bool(self.transfer):
            raise ValueError("teacher and transfer go together: the teacher labels the transfer texts")
        if self.lr_decay not in ("none", "linear"):
            raise ValueError(f"lr_decay must be 'none' or 'linear', got {self.lr_decay!r}")
        tokenizer(self.tokenizer)  # ValueError for an unknown name
        if self.freeze and not self.glove:
            raise ValueError("freeze needs pretrained vectors (glove)")
        if self.pretrained and self.glove:
            raise ValueError("give pretrained vectors (glove) or a pre-trained LM (pretrained), not both: "
                             "the LM brings its own embedding")


# book: the chapter's IMDb model and settings (its reviews are not truncated: 3,000 tokens is beyond the longest).
# best: a BiLSTM with max pooling that reaches >= 0.88 IMDb test accuracy in a few minutes per epoch on a laptop CPU.
# moroney: Moroney's sarcasm model (AI and ML for Coders in PyTorch, ch. 7): embedding, two stacked LSTMs of 24,
#   dropout 0.2, a low learning rate; he reports validation accuracy plateauing near 0.75 (above with dropout).
# lecture: the lecture's BiLSTM for SST-2 (GloVe 100-d vectors in the lecture: pass --glove FILE).
# sentence / sarcasm / mixed: our recipes for SST-2 sentences, the sarcasm headlines, and the app's default
#   (IMDb reviews + SST-2 phrases); see docs/BENCHMARKS.md for their figures and commands.
PRESETS: dict[str, dict] = {
    "book": dict(model=dict(embed=20, hidden=64, fc=64, pooling="last", bidirectional=False, dropout=0.0),
                 train=dict(epochs=10, batch_size=32, lr=1e-3, max_tokens=3000, grad_clip=0.0, tokenizer="chapter")),
    "best": dict(model=dict(embed=128, hidden=128, fc=64, pooling="max", bidirectional=True, dropout=0.4),
                 train=dict(epochs=6, batch_size=64, lr=2e-3, max_tokens=500, min_freq=2, max_vocab=30000,
                            grad_clip=1.0, patience=2)),
    "moroney": dict(model=dict(embed=16, hidden=24, layers=2, fc=24, pooling="last", bidirectional=False,
                               dropout=0.2),
                    train=dict(epochs=15, batch_size=32, lr=3e-4, max_tokens=40, max_vocab=20000)),
    "lecture": dict(model=dict(embed=100, hidden=128, fc=64, pooling="last", bidirectional=True, dropout=0.5),
                    train=dict(epochs=5, batch_size=64, lr=1e-3, max_tokens=100, grad_clip=1.0)),
    "sentence": dict(model=dict(embed=100, hidden=128, fc=64, pooling="meanmax", bidirectional=True, dropout=0.4),
                     train=dict(epochs=3, batch_size=64, lr=2e-3, max_tokens=100, grad_clip=1.0, augment=1.0,
                                lexicon=0.5)),
    "sarcasm": dict(model=dict(embed=100, hidden=128, fc=64, pooling="max", bidirectional=True, dropout=0.5),
                    train=dict(epochs=5, batch_size=64, lr=2e-3, max_tokens=60, grad_clip=1.0, patience=2)),
    "mixed": dict(model=dict(embed=100, hidden=128, fc=64, pooling="meanmax", bidirectional=True, dropout=0.4),
                  train=dict(epochs=3, batch_size=64, lr=2e-3, max_tokens=400, min_freq=2, max_vocab=50000,
                             grad_clip=1.0, augment=0.5, lexicon=0.5)),
}


def preset(
    name: str, model_overrides: dict | None = None, train_overrides: dict | None = None
) -> tuple[dict, SentimentTrainConfig]:
    """A preset's model settings and SentimentTrainConfig, with non-None overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    model = {**PRESETS[name]["model"], **{k: v for k, v in (model_overrides or {}).items() if v is not None}}
    names = {f.name for f in fields(SentimentTrainConfig)}
    train = {**PRESETS[name]["train"], **{k: v for k, v in (train_overrides or {}).items() if v is not None}}
    unknown = set(train) - names
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return model, SentimentTrainConfig(**train)


def predictions(model: SentimentLSTM, seqs: list[list[int]], device: torch.device | str = "cpu",
                batch_size: int = 256) -> list[int]:
    """The class the model picks for each id sequence (two classes: the second when P > 0.5)."""
    return predicted(probabilities_ids(model, seqs, batch_size, device))


def accuracy(model: SentimentLSTM, seqs: list[list[int]], labels: list[int], device: torch.device | str = "cpu",
             batch_size: int = 256) -> float:
    """The share of sequences whose predicted class is their label."""
    return sum(p == y for p, y in zip(predictions(model, seqs, device, batch_size), labels)) / max(1, len(labels))


def _check_labeled(texts: list[str] | None, labels: list[int] | None, what: str, n_classes: int) -> None:
    if not texts:
        raise ValueError(f"no {what} texts")
    if not any(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError(f"every {what} text is empty: nothing to learn from")
    if labels is None or len(labels) != len(texts) or any(y not in range(n_classes) for y in labels):
        raise ValueError(f"{what} texts must each be labeled with a class from 0 to {n_classes - 1}")


def _checked_data(data: LabelledData | Imdb, test: bool) -> LabelledData:
    """The labelled data, its training split (and with `test` its test split) checked to be usable."""
    labelled = from_imdb(data) if isinstance(data, Imdb) else data
    n_classes = len(labelled.classes)
    if not 2 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"a classifier takes 2 to {MAX_CLASSES} classes, got {n_classes}")
    _check_labeled(labelled.train_texts, labelled.train_labels, "training", n_classes)
    if test:
        if not labelled.has_test:
            raise ValueError(f"{labelled.source or 'the data'} has no test split: give a test file")
        _check_labeled(labelled.test_texts, labelled.test_labels, "test", n_classes)
    return labelled


def train_sentiment(
    data: LabelledData | Imdb,
    model_config: dict | None = None,
    config: SentimentTrainConfig | None = None,
    out: str | os.PathLike = "checkpoints/sentiment.pt",
    test: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict], bool | None] | None = None,
    stop_event: threading.Event | None = None,
) -> dict:
    """Train on the training texts less a seeded held-out validation split (IMDb: the chapter's 5,000 reviews,
    others: `config.val_fraction`, default a tenth), keep the weights with the best validation accuracy, write them
    to `out` with the class names and the split's record, and return the metrics; `test=True` also measures the
    accuracy on the test split (ValueError if `data` has none).

    `on_epoch(record)` is called after each epoch (its record in `history`); returning False stops training there.
    Setting `stop_event` stops within the current epoch, whose unfinished weights are dropped. A stopped run keeps
    the best epoch's weights already in `out`; the result's "stopped" says whether it was stopped, and "out" is
    None when it stopped before any epoch ended (nothing is written then)."""
    config = config or SentimentTrainConfig()
    labelled = _checked_data(data, test)
    device = pick_device(config.device)
    teacher = load_teacher(config.teacher, tuple(map(str, labelled.classes)), str(device)) if config.teacher else None
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    lm = None
    if config.pretrained:
        lm = load_encoder(config.pretrained, config.pretrained_member)
        config = replace(config, tokenizer=lm.tokenizer)
        model_config = {**(model_config or {}), "embed": lm.config.embed, "hidden": lm.config.hidden}
    split = _split(labelled, config)
    data = _prepare_data(labelled, split, config, lm.vocab if lm else None, teacher, progress)
    del teacher
    metrics: dict = {**({"corpus": os.path.basename(labelled.source)} if labelled.source else {}), **data.taught}
    model = _build_model(model_config, config, data, device, metrics, lm)
    opt = torch.optim.Adam(_param_groups(model, config), lr=config.lr, weight_decay=config.weight_decay)
    precision = precision_for(device, config.amp)
    fit = _Fit(model, opt, grad_scaler(device, precision), device, precision)
    metrics.update(n_train=len(data.train_ids), n_val=len(data.val_ids), vocab_size=len(data.vocab),
                   device=str(device))
    best_acc, best_epoch, best_state = -1.0, 0, None
    history: list[dict] = []
    seconds, stopped = 0.0, False
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        train_loss = _train_epoch(fit, data, config, epoch, gen, progress, stop_event)
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        if train_loss is None:
            stopped = True
            break
        val_acc = accuracy(model, data.val_ids, data.y_val, device)
        record = {"epoch": epoch, "train_loss": round(train_loss, 4), "val_accuracy": round(val_acc, 4),
                  "seconds": round(seconds, 1), "lr": opt.param_groups[-1]["lr"],  # the head's rate, at the end
                  "examples_per_second": round(len(data.train_ids) / max(epoch_seconds, 1e-9), 1)}
        history.append(record)
        if progress:
            tqdm.write(f"epoch {epoch}: train_loss={record['train_loss']:.4f} val_accuracy={val_acc:.4f} "
                       f"({seconds:.0f} s)")
        if val_acc > best_acc:
            best_acc, best_epoch, best_state = val_acc, epoch, cpu_state_dict(model)
            metrics.update(val_accuracy=round(val_acc, 4), best_epoch=epoch, train_seconds=round(seconds, 1),
                           epochs=epoch, history=list(history))
            ckpt.save(_checkpoint(model, config, data, best_state, metrics), out)
        if on_epoch is not None and on_epoch(dict(record)) is False:
            stopped = True
            break
        if config.patience and epoch - best_epoch >= config.patience:
            break
    if best_state is None:
        return {**metrics, "history": history, "out": None, "stopped": stopped}
    metrics.update(epochs=len(history), train_seconds=round(seconds, 1), history=history)
    if test:
        model.load_state_dict(best_state)
        metrics.update(_test_metrics(model, data, labelled, config, device))
    ckpt.save(_checkpoint(model, config, data, best_state, metrics), out)
    return {**metrics, "out": str(out), "stopped": stopped}


def _test_metrics(model: SentimentLSTM, data: _Reviews, labelled: LabelledData, config: SentimentTrainConfig,
                  device: torch.device) -> dict:
    """The test split's accuracy and size, and for more than two classes its macro-F1."""
    test_ids = encode(data.vocab, labelled.test_texts, config.max_tokens, config.tokenizer)
    guesses = predictions(model, test_ids, device)
    right = sum(p == y for p, y in zip(guesses, labelled.test_labels))
    found = {"test_accuracy": round(right / max(1, len(test_ids)), 4), "n_test": len(test_ids)}
    if len(data.classes) > 2:
        matrix = confusion_matrix(labelled.test_labels, guesses, len(data.classes))
        found["test_macro_f1"] = round(macro_f1(matrix), 4)
    return found


@dataclass
class _Reviews:
    """The training and validation texts as token ids with their labels, the vocabulary built from them, and
    what the checkpoint records about the data: its class names, where it came from and the split."""

    vocab: WordVocab
    train_ids: list[list[int]]
    y_train: torch.Tensor  # labels for the loss: floats for two classes (binary cross-entropy), else class indices
    val_ids: list[list[int]]
    y_val: list[int]
    classes: tuple[str, ...]
    record: dict  # {"format", "source", "text_column", "label_column", "split": {...}}
    taught: dict = field(default_factory=dict)  # with a teacher: its file name and the rows it labelled (the last)


def _split(data: LabelledData, config: SentimentTrainConfig) -> Split:
    """IMDb keeps the chapter's fixed-size split (config.val_size) unless a fraction is asked for; others hold out
    config.val_fraction (default DEFAULT_VAL_FRACTION)."""
    if config.val_fraction is None and data.format in ("imdb", "imdb-stars"):
        return make_split(data, val_size=config.val_size, seed=config.seed)
    return make_split(data, val_fraction=config.val_fraction or DEFAULT_VAL_FRACTION, seed=config.seed)


def _prepare_data(data: LabelledData, split: Split, config: SentimentTrainConfig, vocab: WordVocab | None = None,
                  teacher: SentimentModel | None = None, progress: bool = False) -> _Reviews:
    """Build the vocabulary from the training rows only (unless a pre-trained LM's is given), and encode them and
    the held-out rows. Transfer texts join the training rows with the teacher's probabilities as their labels."""
    tokens_of = tokenizer(config.tokenizer)
    texts, labels = [data.train_texts[i] for i in split.train], [data.train_labels[i] for i in split.train]
    two = len(data.classes) == 2
    if config.augment and two:  # negations flip the class: two classes only
        more_texts, more_labels = augment(texts, labels, round(config.augment * len(texts)), seed=config.seed)
        texts, labels = texts + more_texts, labels + more_labels
    if config.lexicon and reads_as_sentiment(data.classes):  # its labels are polarity: none for sarcasm, spam
        more_texts, more_labels = lexicon_sentences(round(config.lexicon * len(split.train)), seed=config.seed)
        texts, labels = texts + more_texts, labels + more_labels
    taught = {}
    if teacher is not None:
        more_texts = read_transfer(config.transfer)
        texts, labels = texts + more_texts, labels + teacher_labels(teacher, more_texts, progress)
        taught = {"teacher": os.path.basename(config.teacher), "n_transfer": len(more_texts)}
    train_tokens = [tokens_of(t) for t in texts]
    del texts
    vocab = vocab if vocab is not None else WordVocab.build(train_tokens, config.min_freq, config.max_vocab or None)
    train_ids = [vocab.encode(t[: config.max_tokens]) or [UNK_ID] for t in train_tokens]
    del train_tokens
    record = {"format": data.format, "source": os.path.basename(data.source), "text_column": data.text_column,
              "label_column": data.label_column, "split": split.record}
    y_train = torch.tensor([float(y) for y in labels]) if two else torch.tensor(labels, dtype=torch.long)
    return _Reviews(vocab, train_ids, y_train,
                    encode(vocab, [data.train_texts[i] for i in split.val], config.max_tokens, config.tokenizer),
                    [data.train_labels[i] for i in split.val], tuple(str(c) for c in data.classes), record,
                    taught)


def _build_model(model_config: dict | None, config: SentimentTrainConfig, data: _Reviews, device: torch.device,
                 metrics: dict, lm: PretrainedLM | None = None) -> SentimentLSTM:
    """The classifier of the data's vocabulary and classes on `device`, its embedding taken from GloVe (and frozen)
    when the config asks, or its embedding and first layer from a pre-trained LM."""
    vocab = data.vocab
    model_cfg = SentimentConfig(vocab_size=len(vocab), **{**(model_config or {}), "n_classes": len(data.classes)})
    model = SentimentLSTM(model_cfg)
    if lm is not None:
        model.pretrained_prefixes = init_classifier(model, lm)  # what _param_groups slows with pretrained_lr
        metrics.update(pretrained=os.path.basename(config.pretrained), pretrained_words=lm.metrics.get("words_seen"))
    if config.glove:
        glove = load_glove(config.glove, vocab, model_cfg.embed, seed=config.seed)
        model.embedding.weight.data.copy_(glove.vectors)
        model.embedding.weight.requires_grad_(not config.freeze)
        metrics.update(glove_found=glove.found, glove_coverage=round(glove.coverage, 4))
    return model.to(device)


def _param_groups(model: SentimentLSTM, config: SentimentTrainConfig) -> list[dict]:
    """Adam's parameter groups: with a pre-trained LM, its layers (embedding, first-layer LSTMs) at
    `pretrained_lr` times the rest's rate; each group's "scale" is what the learning-rate schedule multiplies."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not config.pretrained or config.pretrained_lr == 1.0:
        return [{"params": [p for _, p in trainable], "scale": 1.0}]
    from_lm = getattr(model, "pretrained_prefixes", ("embedding.", "forward_lstms.0.", "backward_lstms.0."))
    lm = [p for n, p in trainable if n.startswith(from_lm)]
    rest = [p for n, p in trainable if not n.startswith(from_lm)]
    return [{"params": lm, "lr": config.lr * config.pretrained_lr, "scale": config.pretrained_lr},
            {"params": rest, "scale": 1.0}]


@dataclass
class _Fit:
    """What an epoch updates: the model and its optimizer, on a device at a precision (with its loss scaler)."""

    model: SentimentLSTM
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: str


def _train_epoch(fit: _Fit, data: _Reviews, config: SentimentTrainConfig, epoch: int, gen: torch.Generator,
                 progress: bool, stop_event: threading.Event | None = None) -> float | None:
    """One pass over the training reviews in length-bucketed batches; returns the mean training loss, or None when
    `stop_event` was set before the pass ended."""
    fit.model.train()
    batches = bucket_batches([len(s) for s in data.train_ids], config.batch_size, config.bucket_pool, gen)
    total, seen = 0.0, 0
    bar = tqdm(batches, disable=not progress, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
               dynamic_ncols=True, leave=False)
    for step, b in enumerate(bar):
        if stop_event is not None and stop_event.is_set():
            bar.close()
            return None
        if config.lr_decay == "linear":
            done = ((epoch - 1) * len(batches) + step) / (config.epochs * len(batches))
            for g in fit.opt.param_groups:
                g["lr"] = config.lr * g["scale"] * (1 - 0.95 * done)
        ids, lens = pad_batch([data.train_ids[i] for i in b])
        y = data.y_train[b].to(fit.device)
        with autocast(fit.device, fit.precision):
            logits = fit.model(ids.to(fit.device), lens)
        loss = (F.binary_cross_entropy_with_logits(logits.float(), y) if logits.dim() == 1
                else F.cross_entropy(logits.float(), y))
        optimizer_step(loss, fit.opt, fit.scaler, fit.model, config.grad_clip)
        total += loss.item() * len(b)
        seen += len(b)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    bar.close()
    return total / seen


def _checkpoint(model: SentimentLSTM, config: SentimentTrainConfig, data: _Reviews,
                state_dict: dict[str, torch.Tensor], metrics: dict) -> dict:
    """The slim `sentiment` checkpoint: settings, tokenizer, vocabulary, class names (index 0, 1, ...), the data's
    record with its held-out split, the best weights and the metrics. With more than two classes its format is
    the one an older charrnn refuses ("upgrade charrnn")."""
    state = checkpoint_dict(KIND, model.cfg.to_dict(), config, list(data.vocab.words), state_dict, metrics,
                            tokenizer={"name": config.tokenizer, "max_tokens": config.max_tokens},
                            classes=list(data.classes), data=data.record)
    return multiclass_format(state, len(data.classes))
