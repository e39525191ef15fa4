"""Trainer for the character model: random stride-1 windows, Adam, clipping, LR decay, AMP on CUDA,
validation in nats and bits per character, periodic/best checkpoints, exact resume, a JSON-lines log.

Under `torchrun` (see charrnn.distributed) the same loop runs data-parallel: every rank draws the same
`batch_size * world_size` window starts from the shared seeded generator and takes every world_size-th one,
DistributedDataParallel averages the gradients, and rank 0 alone validates, logs and writes checkpoints.
A run on N ranks therefore follows the single-process run with N times the batch size (to float rounding in
fp32; under bf16 autocast, rounding depends on the batch's shape, so the two drift apart further).

`train()` reads top to bottom: settings (new, or the saved run's), data, the run's state, then the loop. The
pieces it calls are below it, in the order it calls them."""
from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from .. import distributed
from .charlm import char_lm_parts
from .corpus import Corpus
from .data import CharWindows, StreamBatches, Vocab, split_ids
from ..device import pick_device
from .evaluate import LN2, EvalResult, evaluate_parts
from ..files import stale_temporaries
from ..kinds import CHAR_LM
from .model import CharRNN, ModelConfig, map_state
from .sizing import Sizing, size_for_budget
from ..training import (
    autocast,
    checkpoint_dict,
    cpu_state_dict,
    grad_scaler,
    optimizer_step,
    resolve_precision,
    stop_signals,
)

KIND = CHAR_LM
DEFAULT_STEPS = 5000  # a new run's length when TrainConfig.steps is not set
BUDGET_LR = 0.005  # a time-budget run's learning rate unless given (the CLI's and the app's)
BUDGET_SEQ_LEN = 40  # ... and its chunk length (streams carry the state on: long context anyway)


@dataclass
class TrainConfig:
    steps: int | None = None  # None: DEFAULT_STEPS for a new run, the saved run's own count on resume
    minutes: float | None = None  # train to this wall-clock budget instead of a step count (schedule over time)
    warmup_fraction: float = 0.03  # with minutes: warm-up over this share of the budget
    batch_size: int | None = 64  # None with minutes: sized for the device (charrnn.sizing)
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
    save_every: int = 500
    seed: int = 1
    device: str = "auto"
    amp: bool = True  # False: 'auto' precision means fp32
    precision: str = "auto"  # auto, fp32, bf16, fp16 (see training.resolve_precision)

    def __post_init__(self) -> None:
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
        if self.batching not in ("windows", "streams"):
            raise ValueError(f"batching must be 'windows' or 'streams', got {self.batching!r}")
        if self.lr_decay not in ("cosine", "none"):
            raise ValueError(f"lr_decay must be 'cosine' or 'none', got {self.lr_decay!r}")


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


def lr_at(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_decay == "none":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


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


BUDGET_VALIDATIONS = (0.5, 0.8)  # with minutes: validate at these shares of the budget, and at the end
SAVE_RESERVE = 2.0  # seconds kept for writing the final checkpoints


@dataclass
class Budget:
    """A wall-clock budget for the training loop: from `start` up to the deadline, less the time reserved for the
    final validation (`final`, re-measured at each intermediate validation) and saving; progress runs from 0 to 1
    over it (carried across a resume by `used`)."""

    start: float
    deadline: float  # perf_counter time by which the whole call should have returned
    final: float  # seconds the final validation is expected to take
    reserve: float  # seconds kept for writing the checkpoints
    validations: list[float] = field(default_factory=lambda: list(BUDGET_VALIDATIONS))

    @property
    def seconds(self) -> float:
        return max(1e-3, self.deadline - self.final - self.reserve - self.start)

    def progress(self) -> float:
        return (time.perf_counter() - self.start) / self.seconds

    def used(self) -> float:
        return time.perf_counter() - self.start

    def validation_due(self) -> bool:
        """Whether the run just crossed one of its intermediate validation points."""
        due = [v for v in self.validations if self.progress() >= v]
        self.validations = [v for v in self.validations if v not in due]
        return bool(due)

    def measured_validation(self, seconds: float) -> None:
        """An intermediate validation took `seconds`: reserve that (and a margin) for the final one; the time it
        took counts against the loop, so the schedule shortens rather than overrunning the budget."""
        self.final = max(self.final, 1.2 * seconds)


def _budget(config: TrainConfig, run: RunState, eval_ids: list[np.ndarray], started: float,
            dctx: distributed.Context) -> Budget | None:
    """With minutes: the loop's budget, the time since `started` (data preparation) and the final validation
    (estimated by timing a short one now) and saving kept out of it."""
    if config.minutes is None:
        return None
    probe = _first_chars(eval_ids, 2048)
    evaluate_parts(run.net, probe, device=run.device)  # the first call pays one-off costs: time the second
    t0 = time.perf_counter()
    evaluate_parts(run.net, probe, device=run.device)
    per_char = (time.perf_counter() - t0) / max(1, sum(len(p) for p in probe))
    total = config.minutes * 60
    used = float(run.metrics.get("budget_seconds", 0.0)) if run.step else 0.0
    now = time.perf_counter()
    budget = Budget(now - used, started + total - used, per_char * sum(len(p) for p in eval_ids) * 1.3,
                    min(SAVE_RESERVE, 0.1 * total))
    if budget.deadline - budget.final - budget.reserve <= now:
        raise ValueError(f"a budget of {config.minutes:g} minutes leaves no time to train after loading and "
                         f"validation (about {budget.final:.0f} s); give more minutes")
    return budget


def best_path(out: Path) -> Path:
    return out.with_name(out.stem + ".best.pt")


def log_path(out: Path) -> Path:
    return out.with_name(out.stem + ".log.jsonl")


def slim(checkpoint: dict) -> dict:
    """The checkpoint without optimizer and trainer state: what sampling and sharing need."""
    return {k: v for k, v in checkpoint.items() if k not in ("optimizer", "trainer")}


def train(
    corpus: Corpus,
    model_config: dict | None = None,
    config: TrainConfig | None = None,
    out: str | Path = "checkpoints/model.pt",
    resume: bool = False,
    stop_event: threading.Event | None = None,
    on_log: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) a character model on `corpus`.

    Writes `out` (latest state, for resume), `<stem>.best.pt` (best validation loss, slim: no optimizer state,
    ready to sample or share) and `<stem>.log.jsonl`. With resume=True the run continues from `out` with its saved
    settings; a `config` given then changes only its device and log_every, and its steps when set. Ctrl-C, SIGTERM
    or `stop_event` save the current state before returning. Under torchrun every rank calls this (it joins
    torchrun's process group if the caller has not); only rank 0 writes files. A new run with `config.minutes`
    and no hidden size in `model_config` (or batch_size None) has them sized for the device (charrnn.sizing).
    """
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = _resumable(out, corpus) if resume else None
    config, model_cfg, vocab = _settings(corpus, model_config, config, saved, out.name)
    dctx = _join_torchrun(config.device)
    device = _device(config.device, dctx)
    if config.minutes is not None and dctx.enabled:
        raise ValueError("a time budget (minutes) is not supported under torchrun: the ranks' clocks differ; "
                         "give steps instead")
    model_cfg, config, sizing = _size(corpus, model_config, model_cfg, config, device, started, progress, saved)
    windows, eval_ids = _prepare_data(corpus, vocab, config, dctx, device)
    run = _start_run(corpus, config, model_cfg, vocab, device, dctx, saved, out.name, windows)
    model = DistributedDataParallel(run.net, device_ids=[device.index] if device.type == "cuda" else None) \
        if dctx.enabled else run.net
    log = RunLog(log_path(out), dctx.is_main, on_log)
    budget = _budget(config, run, eval_ids, started, dctx)
    status, postfix, since = "finished", {}, (run.chars_seen, run.seconds)
    bar = tqdm(total=config.steps if budget is None else None, initial=run.step, desc="train", unit="step",
               disable=not (progress and dctx.is_main), dynamic_ncols=True)
    with stop_signals() as caught, bar:
        _prepare_files(out, resume, run.step, dctx.is_main)
        _note_sizing(run, log, sizing)
        model.train()
        last = _finished(run, config, budget)
        while not last:
            if _stop_requested(caught, stop_event, run.step, config.log_every, dctx, device):
                status = "stopped"  # only ever between steps, so the saved state is exactly step N's
                break
            loss = _train_step(model, run, windows, dctx, None if budget is None else budget.progress())
            bar.update(1)
            last = _finished(run, config, budget)
            if budget is not None:
                run.metrics["budget_seconds"] = budget.used()
            if dctx.is_main and (run.step % config.log_every == 0 or last):
                loss_v = _read_loss(run, loss)
                log.write({"step": run.step, "train_loss": loss_v, "lr": run.opt.param_groups[0]["lr"],
                           "chars_seen": run.chars_seen, "seconds": round(run.seconds, 1),
                           "precision": run.precision})
                rate = (run.chars_seen - since[0]) / max(run.seconds - since[1], 1e-9)
                since = (run.chars_seen, run.seconds)
                postfix.update(loss=f"{loss_v:.3f}", chars_s=f"{rate:,.0f}")
                bar.set_postfix(postfix, refresh=False)
            if dctx.is_main and (last or (run.step % config.eval_every == 0 if budget is None
                                          else budget.validation_due())):
                t_val = time.perf_counter()
                postfix["val"] = f"{_validate(run, eval_ids, log, out):.3f}"
                if budget is not None:
                    budget.measured_validation(time.perf_counter() - t_val)
                bar.set_postfix(postfix, refresh=False)
            if run.step % config.save_every == 0 or last:
                _save_latest(run, dctx, out)
        if status == "stopped":
            _save_latest(run, dctx, out)
        if dctx.is_main and not best_path(out).exists():  # stopped before any validation, or none finite
            ckpt.save(slim(run.to_checkpoint()), best_path(out))
        distributed.barrier()
    return run.result(status, out, log.history, dctx)


# ---------------------------------------------------------------- settings, resume checks, data


def _resumable(out: Path, corpus: Corpus) -> dict:
    """The checkpoint at `out`, checked to hold a resumable run trained on this very text."""
    if not out.is_file():
        raise ckpt.CheckpointError(f"cannot resume: {out} does not exist")
    state = ckpt.load(out, kind=KIND)
    if "trainer" not in state or "optimizer" not in state:
        raise ckpt.CheckpointError(f"cannot resume from {out.name}: it holds no optimizer/trainer state "
                                   f"(a .best.pt file?); resume from the run's latest checkpoint")
    if not isinstance(state.get("metrics"), dict) or not isinstance(state["trainer"], dict):
        raise ckpt.CheckpointError(f"cannot resume from {out.name}: its metrics or trainer state is damaged")
    if state["metrics"].get("corpus_sha256") != corpus.sha256:
        raise ValueError(f"cannot resume {out}: it was trained on a different text")
    return state


def _settings(corpus: Corpus, model_config: dict | None, config: TrainConfig | None, saved: dict | None,
              name: str) -> tuple[TrainConfig, ModelConfig, Vocab]:
    """The run's training settings, model settings and vocabulary: from the arguments for a new run; on resume
    the saved ones, where a given config changes only the device, log_every, and steps when it sets them."""
    if saved is None:
        config = config or TrainConfig()
        if config.minutes is None:
            config = replace(config, steps=config.steps or DEFAULT_STEPS)
        vocab = Vocab.from_text("".join(set().union(*(set(t) for t in corpus.texts))))  # raises for empty text
        return config, ModelConfig(vocab_size=len(vocab), **_given(model_config)), vocab
    vocab, _ = char_lm_parts(saved, name, meta=True)
    asked = {} if config is None else {"device": config.device, "log_every": config.log_every}
    if config is not None and config.steps is not None:
        asked.update(steps=config.steps, minutes=None)
    try:
        model_cfg = ModelConfig(**saved["config"]["model"])
        kept = {k: v for k, v in saved["config"]["train"].items() if k in TrainConfig.__dataclass_fields__}
        config = TrainConfig(**{**kept, **asked})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ckpt.CheckpointError(f"cannot resume from {name}: its training settings are damaged: "
                                   f"{ckpt.short(e)}") from None
    if config.steps is None and config.minutes is None:
        raise ckpt.CheckpointError(f"cannot resume from {name}: it records no training steps; give the steps")
    return config, model_cfg, vocab


def _given(model_config: dict | None) -> dict:
    """The model settings the caller gave: None means the default (or, in a time-budget run, sized)."""
    return {k: v for k, v in (model_config or {}).items() if v is not None}


def _size(corpus: Corpus, model_config: dict | None, model_cfg: ModelConfig, config: TrainConfig,
          device: torch.device, started: float, progress: bool,
          saved: dict | None) -> tuple[ModelConfig, TrainConfig, Sizing | None]:
    """A new time-budget run's hidden size and/or batch, where the caller left them unset (None), measured on
    the device (charrnn.sizing); the settings unchanged (and no Sizing) otherwise."""
    given = _given(model_config)
    if saved is not None or config.minutes is None or ("hidden" in given and config.batch_size is not None):
        return model_cfg, config, None
    precision = resolve_precision(device, config.precision, config.amp)
    seconds = 0.9 * (config.minutes * 60 - (time.perf_counter() - started)) - SAVE_RESERVE
    sizing = size_for_budget(model_cfg.vocab_size, int(corpus.chars * (1 - config.val_fraction)), seconds,
                             config.seq_len, device, precision, model_cfg.cell, model_cfg.layers,
                             batch=config.batch_size, hidden=given.get("hidden"))
    model_cfg = replace(model_cfg, hidden=sizing.hidden, embed=given.get("embed", sizing.embed))
    config = replace(config, batch_size=sizing.batch_size)
    if progress:
        tqdm.write(sizing.line(seconds))
    return model_cfg, config, sizing


def _note_sizing(run: RunState, log: RunLog, sizing: Sizing | None) -> None:
    """Record what sizing chose (and every trial) in the checkpoint's metrics, and the choice in the log."""
    if sizing is None:
        return
    run.metrics["sizing"] = {"hidden": run.model_cfg.hidden, "embed": run.model_cfg.embed,
                             "batch_size": run.config.batch_size, "chars_per_second": round(sizing.chars_per_second),
                             "params": sizing.params, "trials": sizing.trials}
    log.write({"step": run.step, "sizing": {k: v for k, v in run.metrics["sizing"].items() if k != "trials"}})


def _join_torchrun(device: str) -> distributed.Context:
    """This process's place in a torchrun job, joining torchrun's process group if the caller has not."""
    if distributed.launched_by_torchrun() and not distributed.context().enabled:
        distributed.init(device)
    return distributed.context()


def _device(name: str, dctx: distributed.Context) -> torch.device:
    device = pick_device(name)
    if dctx.enabled and device.type == "cuda":
        device = torch.device("cuda", dctx.local_rank)
    return device


def _prepare_data(corpus: Corpus, vocab: Vocab, config: TrainConfig, dctx: distributed.Context,
                  device: torch.device) -> tuple[CharWindows | StreamBatches, list[np.ndarray]]:
    """The training batches (windows or streams, none spanning two files) and each file's validation ids (the last
    val_fraction of each), in the vocabulary's smallest integer type; ValueError when the text is too short.
    Both keep the training text on `device` and are gathered there."""
    if dctx.enabled and len(set(distributed.gather(corpus.sha256))) > 1:
        raise ValueError("the processes of this run read different texts; give every machine the same file")
    train_parts, val_parts = [], []
    for text in corpus.texts:
        train_ids, val_ids = split_ids(vocab.encode(text, dtype=vocab.dtype), config.val_fraction)
        train_parts.append(train_ids)
        val_parts.append(val_ids.copy())  # not a view: the file's whole array need not outlive the windows
    if max(len(t) for t in train_parts) < config.seq_len + 1:
        longest = max(len(t) for t in corpus.texts)
        raise ValueError(
            f"{corpus.name} is too short: {longest:,} characters leave {max(len(t) for t in train_parts):,} for "
            f"training after holding out val_fraction={config.val_fraction}, fewer than one window of "
            f"{config.seq_len + 1}; use a longer text or a smaller seq_len"
        )
    if config.batching == "streams":
        if dctx.enabled:
            raise ValueError("batching 'streams' is not supported under torchrun; use batching 'windows'")
        windows = StreamBatches(train_parts, config.seq_len, config.batch_size).to(device)
    else:
        windows = CharWindows(train_parts if len(train_parts) > 1 else train_parts[0], config.seq_len).to(device)
    if sum(len(v) for v in val_parts) < 2 or max(len(v) for v in val_parts) < 2:
        raise ValueError(
            f"validation split of {sum(len(v) for v in val_parts)} characters is too small; use a longer text or a "
            f"larger val_fraction"
        )
    return windows, _first_chars(val_parts, config.eval_chars) if config.eval_chars else val_parts


def _first_chars(parts: list[np.ndarray], n: int) -> list[np.ndarray]:
    """The first `n` characters of the parts, in order (eval_chars)."""
    kept = []
    for p in parts:
        if n <= 0:
            break
        kept.append(p[:n])
        n -= len(kept[-1])
    return kept


# ---------------------------------------------------------------- the run's state


@dataclass
class RunState:
    """A run in progress: its settings, model, optimizer, loss scaler, batch generator and counters. It becomes a
    checkpoint (`to_checkpoint`) and comes back from one (`load_checkpoint`)."""

    config: TrainConfig
    model_cfg: ModelConfig
    vocab: Vocab
    preprocessing: dict
    net: CharRNN  # the model itself, never its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    gen: torch.Generator  # draws the window starts: the same stream on every rank
    device: torch.device
    precision: str
    step: int = 0
    chars_seen: int = 0
    seconds: float = 0.0
    best_val: float = math.inf
    metrics: dict = field(default_factory=dict)
    rank_rng_states: list = field(default_factory=list)  # every rank's dropout RNG, gathered before each save
    streams: StreamBatches | None = None  # with batching 'streams': the streams' positions...
    hidden: tuple | torch.Tensor | None = None  # ...and the recurrent state they carry (detached)

    @classmethod
    def create(cls, config: TrainConfig, model_cfg: ModelConfig, vocab: Vocab, preprocessing: dict,
               device: torch.device, dctx: distributed.Context) -> RunState:
        """A new run seeded from config.seed: the same weights and batches on every rank, its own dropout masks."""
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        net = CharRNN(model_cfg).to(device)
        if dctx.rank:
            torch.manual_seed(config.seed + dctx.rank)  # rank 0 draws as a single process does
        opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        precision = resolve_precision(device, config.precision, config.amp)
        return cls(config, model_cfg, vocab, {**preprocessing, "val_fraction": config.val_fraction}, net, opt,
                   grad_scaler(device, precision), gen, device, precision)

    def load_checkpoint(self, state: dict, dctx: distributed.Context) -> None:
        """Put a saved run's weights, optimizer, counters, metrics, RNG streams and scaler state back."""
        self.net.load_state_dict(state["state_dict"])
        self.opt.load_state_dict(state["optimizer"])
        t = state["trainer"]
        self.step, self.chars_seen = int(t["step"]), int(t["chars_seen"])
        self.seconds, self.best_val = float(t["seconds"]), float(t["best_val"])
        self.gen.set_state(t["gen_state"])
        _restore_rng(t, dctx, self.device, self.config.seed + dctx.rank + self.step)
        if t.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(t["scaler"])
        self.metrics = dict(state["metrics"])
        if self.streams is not None and t.get("streams"):
            self.streams.load_state_dict(t["streams"])
            held = [h.to(self.device) for h in t["streams"]["hidden"]]
            self.hidden = (tuple(held) if self.model_cfg.cell == "lstm" else held[0]) if held else None

    def to_checkpoint(self) -> dict:
        """The run now, as a resumable checkpoint (`slim()` of it: the shareable one)."""
        self.metrics.update(steps=self.step, chars_seen=self.chars_seen, train_seconds=self.seconds)
        trainer = {
            "step": self.step,
            "chars_seen": self.chars_seen,
            "seconds": self.seconds,
            "best_val": self.best_val,
            "gen_state": self.gen.get_state(),
            "rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "rank_rng_states": self.rank_rng_states,
        }
        if self.streams is not None:
            held = [] if self.hidden is None else [self.hidden] if torch.is_tensor(self.hidden) else self.hidden
            trainer["streams"] = {**self.streams.state_dict(),  # fp32: resumable on another device or precision
                                  "hidden": [h.detach().float().cpu() for h in held]}
        return checkpoint_dict(KIND, self.model_cfg.to_dict(), self.config, list(self.vocab.chars),
                               cpu_state_dict(self.net), self.metrics, preprocessing=self.preprocessing,
                               optimizer=self.opt.state_dict(), trainer=trainer)

    def note_validation(self, result: EvalResult) -> None:
        self.metrics.update(val_loss=result.loss_nats, val_bpc=result.loss_nats / LN2, val_chars=result.chars)

    def result(self, status: str, out: Path, history: list[dict], dctx: distributed.Context) -> TrainResult:
        m = self.metrics
        return TrainResult(status, self.step, out, best_path(out), m.get("val_loss"), m.get("val_bpc"),
                           self.chars_seen, self.seconds, history, dict(m), dctx.rank, dctx.world_size)


def _restore_rng(trainer: dict, dctx: distributed.Context, device: torch.device, fallback_seed: int) -> None:
    """Put back this process's global RNG (dropout masks): under torchrun each rank's own saved stream when the run
    had as many ranks; rank 0's (the single process's) otherwise, with fresh seeds for any extra ranks."""
    ranks = trainer.get("rank_rng_states") or []
    if len(ranks) == dctx.world_size and dctx.enabled:
        torch.set_rng_state(ranks[dctx.rank]["cpu"])
        if ranks[dctx.rank]["cuda"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(ranks[dctx.rank]["cuda"], device)
    elif dctx.rank == 0:
        torch.set_rng_state(trainer["rng_state"])
        if trainer.get("cuda_rng_state") and device.type == "cuda":
            torch.cuda.set_rng_state_all(trainer["cuda_rng_state"])
    else:
        torch.manual_seed(fallback_seed)


def _start_run(corpus: Corpus, config: TrainConfig, model_cfg: ModelConfig, vocab: Vocab, device: torch.device,
               dctx: distributed.Context, saved: dict | None, name: str,
               batches: CharWindows | StreamBatches) -> RunState:
    """A new run, or the saved one put back; CheckpointError when the saved state does not fit."""
    run = RunState.create(config, model_cfg, vocab, corpus.preprocessing, device, dctx)
    run.streams = batches if isinstance(batches, StreamBatches) else None
    if saved is not None:
        try:
            run.load_checkpoint(saved, dctx)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            raise ckpt.CheckpointError(f"cannot resume from {name}: its optimizer or trainer state is damaged: "
                                       f"{ckpt.short(e)}") from None
    run.metrics.update(corpus=corpus.name, corpus_sha256=corpus.sha256, corpus_chars=corpus.chars,
                       device=str(device), world_size=dctx.world_size, precision=run.precision)
    return run


# ---------------------------------------------------------------- the loop's pieces


@dataclass
class RunLog:
    """The run's JSON-lines log, written by rank 0 only, with this call's records and the caller's hook."""

    path: Path
    enabled: bool
    on_log: Callable[[dict], None] | None = None
    history: list[dict] = field(default_factory=list)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.history.append(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_log:
            self.on_log(record)


def _prepare_files(out: Path, resume: bool, step: int, main: bool) -> None:
    """On rank 0: delete temporary files a killed run left; on resume drop log records past the checkpoint, on a
    new run the old log and best checkpoint (so an older run's best is never published as this one's)."""
    if not main:
        return
    for path in (out, best_path(out)):
        for tmp in stale_temporaries(path):
            tmp.unlink(missing_ok=True)
    if resume:
        _truncate_log(log_path(out), step)
    else:
        log_path(out).unlink(missing_ok=True)
        best_path(out).unlink(missing_ok=True)


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log records up to `step` (later ones were written after the checkpoint a resumed run starts from);
    drop any record without a usable step, such as a last line cut short by a crash."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        s = record.get("step") if isinstance(record, dict) else None
        if isinstance(s, (int, float)) and not isinstance(s, bool) and s <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def _stop_requested(caught: list[int], stop_event: threading.Event | None, step: int, log_every: int,
                    dctx: distributed.Context, device: torch.device) -> bool:
    """Whether to stop before the next step. One process: a local flag, read every step. Under torchrun the ranks
    agree through a collective, only at log steps: a schedule every rank follows, so none waits for another."""
    stop = bool(caught) or (stop_event is not None and stop_event.is_set())
    if not dctx.enabled:
        return stop
    return step % log_every == 0 and distributed.any_rank(stop, device)


def _finished(run: RunState, config: TrainConfig, budget: Budget | None) -> bool:
    return run.step >= config.steps if budget is None else budget.progress() >= 1


def _train_step(model: torch.nn.Module, run: RunState, windows: CharWindows | StreamBatches,
                dctx: distributed.Context, progress: float | None = None) -> torch.Tensor:
    """One optimizer step on freshly drawn windows (or the streams' next chunks, their state carried), at the
    step's learning rate (or, with a time budget, the rate at `progress` through it); returns the loss, left on
    the device (reading it syncs)."""
    t0 = time.perf_counter()
    cfg = run.config
    for g in run.opt.param_groups:
        g["lr"] = lr_at(run.step, cfg) if progress is None else lr_at_progress(progress, cfg)
    state = None
    if run.streams is not None:
        x, y, fresh = run.streams.next(run.gen)
        keep = ~fresh.to(run.device)[None, :, None]  # rows starting a new segment start from a zero state
        state = None if run.hidden is None else map_state(run.hidden, lambda h: torch.where(keep, h, 0))
    else:
        starts = torch.randint(0, len(windows), (cfg.batch_size * dctx.world_size,), generator=run.gen)
        x, y = windows.batch(starts[dctx.rank :: dctx.world_size])
    x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
    with autocast(run.device, run.precision):
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    if run.streams is not None:
        run.hidden = map_state(state, torch.Tensor.detach)
    optimizer_step(loss, run.opt, run.scaler, model, cfg.grad_clip)  # looked up here: tests/test_crash.py hooks it
    run.step += 1
    run.chars_seen += cfg.batch_size * cfg.seq_len * dctx.world_size
    run.seconds += time.perf_counter() - t0
    return loss.detach()


def _read_loss(run: RunState, loss: torch.Tensor) -> float:
    """The loss as a number. The host waits here for the steps queued on the device, once per log interval rather
    than every step; the wait counts as training time."""
    t0 = time.perf_counter()
    value = loss.item()
    run.seconds += time.perf_counter() - t0
    return value


def _validate(run: RunState, eval_ids: list[np.ndarray], log: RunLog, out: Path) -> float:
    """Rank 0: the validation loss, logged, and the best checkpoint written when it improves."""
    result = evaluate_parts(run.net, eval_ids, device=run.device)
    val = result.loss_nats
    log.write({"step": run.step, "val_loss": val, "val_bpc": val / LN2, "chars_seen": run.chars_seen,
               "seconds": round(run.seconds, 1)})
    run.note_validation(result)
    if val < run.best_val:
        run.best_val = val
        ckpt.save(slim(run.to_checkpoint()), best_path(out))
    return val


def _save_latest(run: RunState, dctx: distributed.Context, out: Path) -> None:
    """Write `out` on rank 0; under torchrun every rank first sends its RNG state along (a collective)."""
    if dctx.enabled:
        mine = {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(run.device).cpu() if run.device.type == "cuda" else None}
        run.rank_rng_states = distributed.gather(mine)
    if dctx.is_main:
        ckpt.save(run.to_checkpoint(), out)
