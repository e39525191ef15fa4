"""A character-model run's settings (`TrainConfig`) and what `train()` returns (`TrainResult`).

They sit below the trainer's other modules (lm/run.py, lm/budget.py, lm/train.py), which all read them; lm/train.py
re-exports both, so `from charrnn.lm.train import TrainConfig` and `from charrnn import TrainConfig` still work."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..numbers import number, whole
from .sample import MAX_SEED, MIN_SEED

DEFAULT_STEPS = 5000  # a new run's length when TrainConfig.steps is not set


@dataclass
class TrainConfig:
    """How a character model trains: length (steps or minutes), batches, schedule, validation, saving, device.
    Saved in each checkpoint, so a resumed run goes on with the same settings."""

    steps: int | None = None  # None: DEFAULT_STEPS for a new run, the saved run's own count on resume
    minutes: float | None = None  # train to this wall-clock budget instead of a step count (schedule over time)
    warmup_fraction: float = 0.03  # with minutes: warm-up over this share of the budget
    batch_size: int | None = 64  # None with minutes: sized for the device (charrnn.lm.sizing)
    seq_len: int = 40
    batching: str = "windows"  # random stride-1 windows, or "streams": contiguous, state carried (StreamBatches)
    lr: float = 0.003
    lr_decay: str = "cosine"  # or "none"
    min_lr_ratio: float = 0.05
    warmup: int = 100
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    eval_every: int = 500
    log_every: int = 50
    eval_chars: int = 0  # 0: the whole validation split at every evaluation
    max_passes: float | None = None  # with minutes: end sooner, once the training text has been read this often
    save_every: int = 500
    seed: int = 1
    device: str = "auto"
    amp: bool = True  # False: 'auto' precision means fp32
    precision: str = "auto"  # auto, fp32, bf16, fp16 (see training.resolve_precision)
    options: dict | None = None  # the command line that started the run, resolved (`charrnn show --config`)
    init_from: str | None = None  # fine-tune: start from this char-lm checkpoint (lm/finetune.py); None: from scratch

    def __post_init__(self) -> None:
        if self.init_from is not None:
            self.init_from = os.fspath(self.init_from)  # a Path would not load back from a checkpoint (weights_only)
        if self.batch_size is None and self.minutes is None:
            raise ValueError("batch_size may be left to sizing (None) only with a time budget (minutes)")
        if (self.steps is not None and self.steps < 1) or (self.batch_size or 1) < 1 or self.seq_len < 1:
            raise ValueError("steps, batch_size and seq_len must be at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.eval_every < 1 or self.save_every < 1 or self.log_every < 1:
            raise ValueError("eval_every, save_every and log_every must be at least 1 (steps)")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.minutes is not None and self.steps is not None:
            raise ValueError("give either steps or minutes, not both")
        if self.max_passes is not None and self.minutes is None:
            raise ValueError("max_passes ends a time budget sooner: give minutes with it (a step count is exact)")
        if self.batching not in ("windows", "streams"):
            raise ValueError(f"batching must be 'windows' or 'streams', got {self.batching!r}")
        if self.lr_decay not in ("cosine", "none"):
            raise ValueError(f"lr_decay must be 'cosine' or 'none', got {self.lr_decay!r}")
        self._check_numbers()

    def _check_numbers(self) -> None:
        """Every number finite and in its range, the field named (charrnn.numbers' rules): `lr=inf` would train
        NaN weights, `seed=10**23` fail deep inside torch."""
        number("lr", self.lr, 0.0, (0, None), lo_open=True)
        number("min_lr_ratio", self.min_lr_ratio, 0.0, (0, 1))
        number("grad_clip", self.grad_clip, 0.0, (0, None), note=" (0: no clipping)")
        number("weight_decay", self.weight_decay, 0.0, (0, None))
        number("val_fraction", self.val_fraction, 0.1, (0, 1), lo_open=True)
        number("warmup_fraction", self.warmup_fraction, 0.0, (0, 1))
        number("minutes", self.minutes, 0.0, (0, None), lo_open=True)  # None (no budget) is blank: accepted
        number("max_passes", self.max_passes, 0.0, (0, None), lo_open=True)  # None: no limit
        whole("warmup", self.warmup, 0, (0, None))
        whole("eval_chars", self.eval_chars, 0, (0, None), note=" (0: all)")
        whole("seed", self.seed, 1, (MIN_SEED, MAX_SEED))


@dataclass
class TrainResult:
    """What train() returns: how the run ended, where its files are, and its latest metrics."""

    status: str  # "finished" or "stopped" (Ctrl-C, SIGTERM or stop_event; the state was saved first)
    steps: int  # steps trained in all, across resumes
    out: Path  # the latest, resumable checkpoint
    best: Path  # the best-validation checkpoint (slim: ready to sample or share)
    val_loss: float | None  # nats per character at the latest validation; None before any
    val_bpc: float | None
    chars_seen: int
    train_seconds: float
    history: list[dict]  # this call's log records (rank 0; empty on the other ranks)
    metrics: dict  # the checkpoint's metrics: the above and corpus, device, val_chars, ...
    rank: int = 0
    world_size: int = 1
