"""Trainer for the character model: random stride-1 windows, Adam, clipping, LR decay, AMP on CUDA,
validation in nats and bits per character, periodic/best checkpoints, exact resume, a JSON-lines log.

Under `torchrun` (see charrnn.distributed) the same loop runs data-parallel: every rank draws the same
`batch_size * world_size` window starts from the shared seeded generator and takes every world_size-th one,
DistributedDataParallel averages the gradients, and rank 0 alone validates, logs and writes checkpoints.
A run on N ranks therefore follows the single-process run with N times the batch size."""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from . import distributed
from .corpus import Corpus
from .data import CharWindows, Vocab, split_ids
from .device import pick_device
from .evaluate import LN2, evaluate_stream
from .files import stale_temporaries
from .model import CharRNN, ModelConfig


@dataclass
class TrainConfig:
    steps: int = 5000
    batch_size: int = 64
    seq_len: int = 40
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
    amp: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.seq_len < 1:
            raise ValueError("steps, batch_size and seq_len must be at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.eval_every < 1 or self.save_every < 1 or self.log_every < 1:
            raise ValueError("eval_every, save_every and log_every must be at least 1 (steps)")
        if self.lr_decay not in ("cosine", "none"):
            raise ValueError(f"lr_decay must be 'cosine' or 'none', got {self.lr_decay!r}")


def lr_at(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_decay == "none":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   model: torch.nn.Module, grad_clip: float) -> None:
    """Backward (loss-scaled under AMP), clip the gradient norm when grad_clip > 0, and step."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()


def best_path(out: Path) -> Path:
    return out.with_name(out.stem + ".best.pt")


def log_path(out: Path) -> Path:
    return out.with_name(out.stem + ".log.jsonl")


def slim(checkpoint: dict) -> dict:
    """The checkpoint without optimizer and trainer state: what sampling and sharing need."""
    return {k: v for k, v in checkpoint.items() if k not in ("optimizer", "trainer")}


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files left beside `out` by a process killed while writing a checkpoint."""
    for path in (out, best_path(out)):
        for tmp in stale_temporaries(path):
            tmp.unlink(missing_ok=True)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past `step` (written after the checkpoint a resumed run starts from), and a last line
    cut short by a crash."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def _restore(state: dict, model: CharRNN, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
             gen: torch.Generator, use_amp: bool, dctx: distributed.Context, device: torch.device,
             config: TrainConfig) -> tuple[int, int, float, float]:
    """Put a saved run's weights, optimizer, RNG and scaler state back; return (step, chars_seen, seconds, best)."""
    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    t = state["trainer"]
    step, chars_seen, seconds, best = int(t["step"]), int(t["chars_seen"]), float(t["seconds"]), float(t["best_val"])
    gen.set_state(t["gen_state"])
    ranks = t.get("rank_rng_states") or []
    if len(ranks) == dctx.world_size and dctx.enabled:
        torch.set_rng_state(ranks[dctx.rank]["cpu"])
        if ranks[dctx.rank]["cuda"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(ranks[dctx.rank]["cuda"], device)
    elif dctx.rank == 0:
        torch.set_rng_state(t["rng_state"])
        if t.get("cuda_rng_state") and device.type == "cuda":
            torch.cuda.set_rng_state_all(t["cuda_rng_state"])
    else:  # resumed on another number of ranks: fresh dropout streams for the extra ranks
        torch.manual_seed(config.seed + dctx.rank + step)
    if t.get("scaler") and use_amp:
        scaler.load_state_dict(t["scaler"])
    return step, chars_seen, seconds, best


def train(
    corpus: Corpus,
    model_config: dict | None = None,
    config: TrainConfig | None = None,
    out: str | Path = "checkpoints/model.pt",
    resume: bool = False,
    stop_event: threading.Event | None = None,
    on_log: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) a character model on `corpus`; return the final metrics.

    Writes `out` (latest state, for --resume), `<stem>.best.pt` (best validation loss, slim: no
    optimizer state, ready to sample or share) and `<stem>.log.jsonl`. Ctrl-C, SIGTERM or `stop_event`
    save the current state before returning. Under torchrun every rank calls this (it joins torchrun's process
    group if the caller has not); only rank 0 writes files.
    """
    config = config or TrainConfig()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if distributed.launched_by_torchrun() and not distributed.context().enabled:
        distributed.init(config.device)
    dctx = distributed.context()
    main = dctx.is_main
    device = pick_device(config.device)
    if dctx.enabled and device.type == "cuda":
        device = torch.device("cuda", dctx.local_rank)
    state = None
    if resume:
        if not out.is_file():
            raise ckpt.CheckpointError(f"cannot resume: {out} does not exist")
        state = ckpt.load(out, kind="char-lm")
        if "trainer" not in state or "optimizer" not in state:
            raise ckpt.CheckpointError(f"cannot resume from {out.name}: it holds no optimizer/trainer state "
                                       f"(a .best.pt file?); resume from the run's latest checkpoint")
        if not isinstance(state.get("metrics"), dict) or not isinstance(state["trainer"], dict):
            raise ckpt.CheckpointError(f"cannot resume from {out.name}: its metrics or trainer state is damaged")
        if state["metrics"].get("corpus_sha256") != corpus.sha256:
            raise ValueError(f"cannot resume {out}: it was trained on a different text")
        vocab, _ = ckpt.char_lm_parts(state, out.name, meta=True)
        try:
            model_cfg = ModelConfig(**state["config"]["model"])
            saved = {k: v for k, v in state["config"]["train"].items() if k in TrainConfig.__dataclass_fields__}
            config = TrainConfig(**{**saved, "device": config.device, "steps": config.steps,
                                    "log_every": config.log_every})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ckpt.CheckpointError(f"cannot resume from {out.name}: its training settings are damaged: "
                                       f"{ckpt.short(e)}") from None
    else:
        vocab = Vocab.from_text(corpus.text)
        model_cfg = ModelConfig(vocab_size=len(vocab), **(model_config or {}))

    if dctx.enabled and len(set(distributed.gather(corpus.sha256))) > 1:
        raise ValueError("the processes of this run read different texts; give every machine the same file")
    ids = vocab.encode(corpus.text)
    train_ids, val_ids = split_ids(ids, config.val_fraction)
    if len(train_ids) < config.seq_len + 1:
        raise ValueError(
            f"{corpus.name} is too short: {len(ids):,} characters leave {len(train_ids):,} for training after "
            f"holding out val_fraction={config.val_fraction}, fewer than one window of {config.seq_len + 1}; "
            f"use a longer text or a smaller seq_len"
        )
    windows = CharWindows(train_ids, config.seq_len)
    if len(val_ids) < 2:
        raise ValueError(
            f"validation split of {len(val_ids)} characters is too small; use a longer text or a larger val_fraction"
        )
    eval_ids = val_ids[: config.eval_chars] if config.eval_chars else val_ids

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = CharRNN(model_cfg).to(device)
    if dctx.rank:
        torch.manual_seed(config.seed + dctx.rank)  # each rank its own dropout masks; rank 0 as a single process
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step, chars_seen, seconds, best = 0, 0, 0.0, math.inf
    history: list[dict] = []
    if state is not None:
        try:
            step, chars_seen, seconds, best = _restore(state, model, opt, scaler, gen, use_amp, dctx, device, config)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            raise ckpt.CheckpointError(f"cannot resume from {out.name}: its optimizer or trainer state is damaged: "
                                       f"{ckpt.short(e)}") from None
    metrics = dict(state["metrics"]) if state else {}
    net = model
    if dctx.enabled:
        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    rank_rng_states: list = []

    def snapshot(val: float | None) -> dict:
        m = {
            **metrics,
            "steps": step,
            "chars_seen": chars_seen,
            "corpus": corpus.name,
            "corpus_sha256": corpus.sha256,
            "corpus_chars": len(corpus.text),
            "train_seconds": seconds,
            "device": str(device),
            "world_size": dctx.world_size,
        }
        if val is not None:
            m.update(val_loss=val, val_bpc=val / LN2, val_chars=len(eval_ids) - 1)
        metrics.update(m)
        return {
            "format_version": ckpt.FORMAT_VERSION,
            "kind": "char-lm",
            "config": {"model": model_cfg.to_dict(), "train": asdict(config)},
            "preprocessing": {**corpus.preprocessing, "val_fraction": config.val_fraction},
            "vocab": list(vocab.chars),
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "optimizer": opt.state_dict(),
            "trainer": {
                "step": step,
                "chars_seen": chars_seen,
                "seconds": seconds,
                "best_val": best,
                "gen_state": gen.get_state(),
                "rng_state": torch.get_rng_state(),
                "cuda_rng_state": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                "scaler": scaler.state_dict() if use_amp else {},
                "rank_rng_states": rank_rng_states,
            },
            "metrics": dict(metrics),
        }

    def save_latest() -> None:
        """Write `out` on rank 0; under torchrun every rank first sends its RNG state along (a collective)."""
        nonlocal rank_rng_states
        if dctx.enabled:
            mine = {"cpu": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device).cpu() if device.type == "cuda" else None}
            rank_rng_states = distributed.gather(mine)
        if main:
            ckpt.save(snapshot(last_val), out)

    def log(record: dict) -> None:
        if not main:
            return
        history.append(record)
        with open(log_path(out), "a") as f:
            f.write(json.dumps(record) + "\n")
        if on_log:
            on_log(record)

    def validate() -> float:
        nonlocal best
        val = evaluate_stream(net, eval_ids, device=device).loss_nats
        log({"step": step, "val_loss": val, "val_bpc": val / LN2, "chars_seen": chars_seen, "seconds": round(seconds, 1)})
        snap = snapshot(val)
        if val < best:
            best = val
            ckpt.save(slim(snap), best_path(out))
        return val

    signalled: list[int] = []
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old_handlers[sig] = signal.signal(sig, lambda signum, frame: signalled.append(signum))
    if main:
        _remove_stale_temporaries(out)
        if resume:
            _truncate_log(log_path(out), step)
        else:
            log_path(out).unlink(missing_ok=True)
            best_path(out).unlink(missing_ok=True)
    model.train()
    status = "finished"
    last_val = None
    bar = tqdm(total=config.steps, initial=step, disable=not (progress and main), desc="train", unit="step",
               dynamic_ncols=True)
    tokens = config.batch_size * config.seq_len * dctx.world_size
    try:
        while step < config.steps:
            stop = bool(signalled) or (stop_event is not None and stop_event.is_set())
            if dctx.enabled:
                stop = distributed.any_rank(stop, device)
            if stop:
                status = "stopped"  # only ever between steps, so the saved state is exactly step N's
                break
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr_at(step, config)
            starts = torch.randint(0, len(windows), (config.batch_size * dctx.world_size,), generator=gen)
            x, y = windows.batch(starts[dctx.rank :: dctx.world_size])
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                logits, _ = model(x)
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer_step(loss, opt, scaler, model, config.grad_clip)
            loss_v = loss.item()
            dt = time.perf_counter() - t0
            step += 1
            chars_seen += tokens
            seconds += dt
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.3f}", chars_s=f"{tokens / dt:,.0f}", refresh=False)
            if step % config.log_every == 0 or step == config.steps:
                log({"step": step, "train_loss": loss_v, "lr": opt.param_groups[0]["lr"], "chars_seen": chars_seen,
                     "seconds": round(seconds, 1)})
            if main and (step % config.eval_every == 0 or step == config.steps):
                last_val = validate()
                bar.set_postfix(loss=f"{loss_v:.3f}", val=f"{last_val:.3f}", refresh=False)
            if step % config.save_every == 0 or step == config.steps:
                save_latest()
        if status == "stopped":
            save_latest()
        if main and not best_path(out).exists():  # stopped before any validation, or validation never finite
            ckpt.save(slim(snapshot(last_val)), best_path(out))
        distributed.barrier()
    finally:
        bar.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    return {**metrics, "status": status, "out": str(out), "best": str(best_path(out)), "history": history,
            "steps": step, "rank": dctx.rank, "world_size": dctx.world_size}
