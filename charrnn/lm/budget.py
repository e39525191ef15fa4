"""Training to a wall-clock budget (`TrainConfig.minutes`, issue 11): the recipe's defaults, the learning-rate
schedule over time, the budget the loop runs to (final validation and saving kept out of it), and the model and
batch sized for the device when the caller leaves them unset (lm.sizing)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..training import resolve_precision
from .config import TrainConfig
from .corpus import Corpus
from .data import first_chars
from .evaluate import evaluate_parts
from .run import RunLog, RunState, Settings, model_given
from .sizing import Sizing, size_for_budget

BUDGET_VALIDATIONS = (0.5, 0.8)  # validate at these shares of the budget, and at the end
SAVE_RESERVE = 2.0  # seconds kept for writing the final checkpoints
PROBE_CHARS = 2048  # validation characters timed to estimate how long the final validation takes


@dataclass(frozen=True)
class BudgetRecipe:
    """What a time-budget run trains with where the caller leaves a setting unset: the CLI's --minutes and the
    app's budget form both take their defaults from here (BUDGET_RECIPE). A batch left unset (None), and a hidden
    size left out of the model settings, are sized for the device (lm.sizing); the embedding then follows the
    hidden size (sizing.embed_for)."""

    lr: float = 0.005  # above the step-count runs' 0.003: a short run
    seq_len: int = 40  # short chunks: the streams carry the state on, so the context is long anyway
    batching: str = "streams"  # contiguous streams carrying their state (truncated BPTT)
    batch_size: int | None = None  # None: sized for the device
    eval_chars: int = 0  # validate on this many characters (0: all)
    max_passes: float | None = None  # end sooner, once the training text has been read this many times

    def train_config(self, minutes: float | None, **given: Any) -> TrainConfig:
        """A TrainConfig for `minutes` of training (None: a step count, `given` or the default): `given` settings
        (any TrainConfig field) where they are not None, the recipe's for the rest, TrainConfig's defaults beyond
        that."""
        recipe = {f.name: getattr(self, f.name) for f in fields(self)}
        if minutes is None:
            recipe["max_passes"] = None  # a step count is the run's length, whatever the passes
        return TrainConfig(**{**recipe, **{k: v for k, v in given.items() if v is not None}, "minutes": minutes})


BUDGET_RECIPE = BudgetRecipe()
# --init-from's defaults, minutes or steps (measured on a 2-core CPU with one book, confirmed on two others:
# docs/BENCHMARKS.md "Fine-tuning a character model"): streams of 40 characters, lr 0.002 (0.001 and 0.004 did no
# better), dropout 0.25 (lm.finetune), a fixed batch of 64 (the sizes are the checkpoint's; 64 beat 16, which is what
# sizing chose, by 0.02 nats: more characters per second from the island's 2 x 512 model), validation on the first
# 10,000 held-out characters (the whole split took ~20 s a time; `charrnn evaluate` scores all of it), and at most 8
# passes over the text: a fine-tune over-fits beyond that, so more minutes made it worse (on a fast CPU 3 minutes
# read three novels 5.5-8.5 times, each at or near its best; 5 minutes 10-15 times, each worse, by 0.004-0.019)
FINETUNE_RECIPE = BudgetRecipe(lr=0.002, batch_size=64, eval_chars=10_000, max_passes=8.0)


def lr_at_progress(progress: float, cfg: TrainConfig) -> float:
    """The learning rate a fraction `progress` through a time budget: linear warm-up over warmup_fraction, then
    cosine decay to min_lr_ratio at the end (or constant with lr_decay='none')."""
    progress = min(max(progress, 0.0), 1.0)
    if cfg.warmup_fraction and progress < cfg.warmup_fraction:
        return cfg.lr * max(progress / cfg.warmup_fraction, 0.01)
    if cfg.lr_decay == "none":
        return cfg.lr
    rest = (progress - cfg.warmup_fraction) / max(1e-9, 1 - cfg.warmup_fraction)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * rest)))


@dataclass
class Budget:
    """A wall-clock budget for the training loop: from `start` up to the deadline, less the time reserved for the
    final validation (`final`, re-measured at each intermediate validation) and saving; progress runs from 0 to 1
    over it (carried across a resume by `used`), or over `chars` characters read, whichever comes first (the
    config's max_passes; the characters are counted across a resume too)."""

    start: float
    deadline: float  # perf_counter time by which the whole call should have returned
    final: float  # seconds the final validation is expected to take
    reserve: float  # seconds kept for writing the checkpoints
    validations: list[float] = field(default_factory=lambda: list(BUDGET_VALIDATIONS))
    chars: float | None = None  # the run ends once it has read this many training characters (None: no limit)

    @property
    def seconds(self) -> float:
        return max(1e-3, self.deadline - self.final - self.reserve - self.start)

    def progress(self, chars_seen: int) -> float:
        """How far through the budget the run is: the share of the time used, or of `chars` read if larger."""
        by_time = (time.perf_counter() - self.start) / self.seconds
        return by_time if self.chars is None else max(by_time, chars_seen / self.chars)

    def ended_by_passes(self, chars_seen: int) -> bool:
        """Whether the run ended (or would end now) on its characters rather than its time."""
        return self.chars is not None and chars_seen >= self.chars

    def used(self) -> float:
        return time.perf_counter() - self.start

    def validation_due(self, chars_seen: int) -> bool:
        """Whether the run just crossed one of its intermediate validation points."""
        progress = self.progress(chars_seen)
        due = [v for v in self.validations if progress >= v]
        self.validations = [v for v in self.validations if v not in due]
        return bool(due)

    def measured_validation(self, seconds: float) -> None:
        """An intermediate validation took `seconds`: reserve that (and a margin) for the final one; the time it
        took counts against the loop, so the schedule shortens rather than overrunning the budget."""
        self.final = max(self.final, 1.2 * seconds)


def start_budget(run: RunState, eval_ids: list[np.ndarray], started: float, train_chars: int) -> Budget | None:
    """With minutes: the loop's budget, the time since `started` (data preparation) and the final validation
    (estimated by timing a short one now) and saving kept out of it, ending sooner after max_passes over the
    `train_chars` training characters when the config sets it; None for a step-count run."""
    config = run.config
    if config.minutes is None:
        return None
    probe = first_chars(eval_ids, PROBE_CHARS)
    evaluate_parts(run.net, probe, device=run.device)  # the first call pays one-off costs: time the second
    t0 = time.perf_counter()
    evaluate_parts(run.net, probe, device=run.device)
    per_char = (time.perf_counter() - t0) / max(1, sum(len(p) for p in probe))
    total = config.minutes * 60
    used = float(run.metrics.get("budget_seconds", 0.0)) if run.step else 0.0
    now = time.perf_counter()
    budget = Budget(now - used, started + total - used, per_char * sum(len(p) for p in eval_ids) * 1.3,
                    min(SAVE_RESERVE, 0.1 * total),
                    chars=None if config.max_passes is None else config.max_passes * train_chars)
    if budget.deadline - budget.final - budget.reserve <= now:
        raise ValueError(f"a budget of {config.minutes:g} minutes leaves no time to train after loading and "
                         f"validation (about {budget.final:.0f} s); give more minutes")
    return budget


def size_run(corpus: Corpus, model_config: dict | None, given: Settings, device: torch.device, started: float,
             progress: bool, saved: dict | None) -> tuple[Settings, Sizing | None]:
    """A new time-budget run's hidden size and/or batch, where the caller left them unset (None), measured on
    the device (lm.sizing); the settings unchanged (and no Sizing) otherwise. A fine-tuning run keeps its
    starting checkpoint's sizes (at most its batch is sized)."""
    asked, config, model_cfg = model_given(model_config), given.config, given.model
    if given.start is not None:  # fine-tuning: the sizes are the starting checkpoint's; only the batch may be sized
        asked = {**asked, "hidden": model_cfg.hidden, "embed": model_cfg.embed}
    if saved is not None or config.minutes is None or ("hidden" in asked and config.batch_size is not None):
        return given, None
    precision = resolve_precision(device, config.precision, config.amp)
    seconds = 0.9 * (config.minutes * 60 - (time.perf_counter() - started)) - SAVE_RESERVE
    sizing = size_for_budget(model_cfg.vocab_size, int(corpus.chars * (1 - config.val_fraction)), seconds,
                             config.seq_len, device, precision, model_cfg.cell, model_cfg.layers,
                             batch=config.batch_size, hidden=asked.get("hidden"))
    model_cfg = replace(model_cfg, hidden=sizing.hidden, embed=asked.get("embed", sizing.embed))
    config = replace(config, batch_size=sizing.batch_size)
    if progress:
        tqdm.write(sizing.line(seconds))
    return replace(given, config=config, model=model_cfg), sizing


def note_sizing(run: RunState, log: RunLog, sizing: Sizing | None) -> None:
    """Record what sizing chose (and every trial) in the checkpoint's metrics, and the choice in the log."""
    if sizing is None:
        return
    run.metrics["sizing"] = {"hidden": run.model_cfg.hidden, "embed": run.model_cfg.embed,
                             "batch_size": run.config.batch_size, "chars_per_second": round(sizing.chars_per_second),
                             "params": sizing.params, "trials": sizing.trials}
    log.write({"step": run.step, "sizing": {k: v for k, v in run.metrics["sizing"].items() if k != "trials"}})


def note_end(run: RunState, log: RunLog, budget: Budget, progress: bool) -> None:
    """A time-budget run that ended on its passes over the text (max_passes), not its minutes: record it in the
    metrics (`ended_by`, `passes`) and the log, and say so on stderr."""
    if not budget.ended_by_passes(run.chars_seen):
        return
    passes = run.config.max_passes
    run.metrics.update(ended_by="max_passes", passes=passes)
    log.write({"step": run.step, "ended_by": "max_passes", "passes": passes, "seconds": round(budget.used(), 1)})
    if progress:
        tqdm.write(f"ended after {passes:g} passes over the training text, {budget.used():.0f} s into the "
                   f"{run.config.minutes:g}-minute budget: more over-fits (max_passes)")
