"""Trainer for the character model: random stride-1 windows, Adam, clipping, LR decay, AMP on CUDA,
validation in nats and bits per character, periodic/best checkpoints, exact resume, a JSON-lines log.

Under `torchrun` (see charrnn.distributed) the same loop runs data-parallel: every rank draws the same
`batch_size * world_size` window starts from the shared seeded generator and takes every world_size-th one,
DistributedDataParallel averages the gradients, and rank 0 alone validates, logs and writes checkpoints.
A run on N ranks therefore follows the single-process run with N times the batch size (to float rounding in
fp32; under bf16 autocast, rounding depends on the batch's shape, so the two drift apart further).

`train()` reads top to bottom: settings (new, or the saved run's), data, the run's state, then the loop. The
pieces it calls are below it, in the order it calls them; the run's state, log and files are in lm/run.py, the
time budget in lm/budget.py, the settings (TrainConfig) and result (TrainResult) in lm/config.py."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from .. import distributed
from ..files import output_lock
from ..training import autocast, optimizer_step, stop_signals
from .budget import Budget, lr_at_progress, note_end, note_sizing, size_run, start_budget
from .config import TrainConfig, TrainResult
from .corpus import Corpus
from .data import CharWindows, StreamBatches, Vocab, first_chars, split_ids
from .evaluate import LN2, evaluate_parts
from .model import map_state
from .run import (DivergedError, RunLog, RunState, best_path, join_torchrun, log_path, note_start, prepare_files,
                  resumable, run_device, save_latest, settings, slim, start_run)



def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate at `step` of a step-count run: linear warm-up over cfg.warmup steps, then cosine decay
    to min_lr_ratio at cfg.steps (or constant with lr_decay='none')."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_decay == "none":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


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
    and no hidden size in `model_config` (or batch_size None) has them sized for the device (lm.budget, lm.sizing).
    A new run with `config.init_from` fine-tunes that char-lm checkpoint: its sizes, its vocabulary extended by the
    corpus's new characters, a fresh optimizer and schedule (lm.finetune).
    """
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = resumable(out, corpus) if resume else None
    given = settings(corpus, model_config, config, saved, out.name)
    dctx = join_torchrun(given.config.device)
    device = run_device(given.config.device, dctx)
    if given.config.minutes is not None and dctx.enabled:
        raise ValueError("a time budget (minutes) is not supported under torchrun: the ranks' clocks differ; "
                         "give steps instead")
    given, sizing = size_run(corpus, model_config, given, device, started, progress, saved)
    config = given.config
    windows, eval_ids = _prepare_data(corpus, given.vocab, config, dctx, device)
    run = start_run(corpus, given, device, dctx, saved, out.name, windows)
    model = DistributedDataParallel(run.net, device_ids=[device.index] if device.type == "cuda" else None) \
        if dctx.enabled else run.net
    log = RunLog(log_path(out), dctx.is_main, on_log)
    budget = start_budget(run, eval_ids, started, len(windows.ids))
    status, postfix, since = "finished", {}, (run.chars_seen, run.seconds)
    bar = tqdm(total=config.steps if budget is None else None, initial=run.step, desc="train", unit="step",
               disable=not (progress and dctx.is_main), dynamic_ncols=True)
    with output_lock(out) if dctx.is_main else nullcontext(), stop_signals() as caught, bar:
        prepare_files(out, resume, run.step, dctx.is_main)
        note_sizing(run, log, sizing)
        note_start(run, log, progress and dctx.is_main)
        model.train()
        last = _finished(run, config, budget)
        while not last:
            if _stop_requested(caught, stop_event, run.step, config.log_every, dctx, device):
                status = "stopped"  # only ever between steps, so the saved state is exactly step N's
                break
            loss = _train_step(model, run, windows, dctx, None if budget is None else budget.progress(run.chars_seen))
            bar.update(1)
            last = _finished(run, config, budget)
            if budget is not None:
                run.metrics["budget_seconds"] = budget.used()
                if last:
                    note_end(run, log, budget, progress and dctx.is_main)
            if dctx.is_main and (run.step % config.log_every == 0 or last):
                loss_v, rate, since = _log_train(run, loss, out, log, since)
                postfix.update(loss=f"{loss_v:.3f}", chars_s=f"{rate:,.0f}")
                bar.set_postfix(postfix, refresh=False)
            if dctx.is_main and (last or (run.step % config.eval_every == 0 if budget is None
                                          else budget.validation_due(run.chars_seen))):
                t_val = time.perf_counter()
                postfix["val"] = f"{_validate(run, eval_ids, log, out):.3f}"
                if budget is not None:
                    budget.measured_validation(time.perf_counter() - t_val)
                bar.set_postfix(postfix, refresh=False)
            if run.step % config.save_every == 0 or last:
                _finite_weights(run, out)  # never save weights that have diverged over the last good ones
                save_latest(run, dctx, out)
        if status == "stopped":
            save_latest(run, dctx, out)
        if dctx.is_main and not best_path(out).exists():  # stopped before any validation, or none finite
            ckpt.save(slim(run.to_checkpoint()), best_path(out))
        distributed.barrier()
    return run.result(status, out, log.history, dctx)


# ---------------------------------------------------------------- data, and the loop's pieces


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
    return windows, first_chars(val_parts, config.eval_chars) if config.eval_chars else val_parts


def _stop_requested(caught: list[int], stop_event: threading.Event | None, step: int, log_every: int,
                    dctx: distributed.Context, device: torch.device) -> bool:
    """Whether to stop before the next step. One process: a local flag, read every step. Under torchrun the ranks
    agree through a collective, only at log steps: a schedule every rank follows, so none waits for another."""
    stop = bool(caught) or (stop_event is not None and stop_event.is_set())
    if not dctx.enabled:
        return stop
    return step % log_every == 0 and distributed.any_rank(stop, device)


def _finished(run: RunState, config: TrainConfig, budget: Budget | None) -> bool:
    return run.step >= config.steps if budget is None else budget.progress(run.chars_seen) >= 1


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


def _log_train(run: RunState, loss: torch.Tensor, out: Path, log: RunLog, since: tuple[int, float]
               ) -> tuple[float, float, tuple[int, float]]:
    """Rank 0 at a log step: the loss (checked finite) written to the log. Returns it, the characters/s since the
    last record (`since`: its characters seen and seconds), and the new mark."""
    loss_v = _finite_loss(run, loss, out)
    rate = (run.chars_seen - since[0]) / max(run.seconds - since[1], 1e-9)
    log.write({"step": run.step, "train_loss": loss_v, "lr": run.opt.param_groups[0]["lr"],
               "chars_seen": run.chars_seen, "seconds": round(run.seconds, 1), "chars_per_second": round(rate),
               "precision": run.precision})
    return loss_v, rate, (run.chars_seen, run.seconds)


def _finite_loss(run: RunState, loss: torch.Tensor, out: Path) -> float:
    """The loss as a number; DivergedError when it is NaN or infinite (the weights are then lost: nothing more is
    saved, so `out` keeps the last good state and its .best.pt the best finite validation)."""
    value = _read_loss(run, loss)
    if not math.isfinite(value):
        raise _diverged(f"the training loss became {value} at step {run.step}", out)
    return value


def _finite_weights(run: RunState, out: Path) -> None:
    """DivergedError when a weight has become NaN or infinite (checked before each save: the step that breaks the
    weights still reports the finite loss it started from)."""
    if not all(bool(torch.isfinite(p).all()) for p in run.net.parameters()):
        raise _diverged(f"the weights became NaN or infinite by step {run.step}", out)


def _diverged(what: str, out: Path) -> DivergedError:
    return DivergedError(f"{what}: the run diverged (try a lower --lr); {out.name} keeps the last saved state and "
                         f"{best_path(out).name} the best validation")


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
