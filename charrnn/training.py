"""Pieces both trainers share: the precision context and its gradient scaler, the optimizer step, the common
part of a checkpoint, and a guard that turns Ctrl-C/SIGTERM into a request to stop.

Precision is named, not a flag, so a later change can add bf16 autocast on CPU without touching the trainers:
"fp32" (no autocast), "bf16" or "fp16" (autocast to that type); a GradScaler is enabled only for fp16 on CUDA.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch

from . import checkpoint as ckpt

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def precision_for(device: torch.device, amp: bool) -> str:
    """The precision a trainer uses today: fp16 mixed precision on CUDA when `amp`, fp32 everywhere else."""
    return "fp16" if amp and device.type == "cuda" else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for `precision` on `device` (a no-op for fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, enabled only for fp16 on CUDA (bf16 and fp32 need none); disabled it passes values through."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   model: torch.nn.Module, grad_clip: float) -> None:
    """Backward (loss-scaled under fp16), clip the gradient norm when grad_clip > 0, and step."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights on the CPU, detached: safe to keep while training goes on."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def checkpoint_dict(kind: str, model_config: dict, train_config: Any, vocab: list[str],
                    state_dict: dict[str, torch.Tensor], metrics: dict, **extra: Any) -> dict:
    """The entries every checkpoint has (format, kind, settings, vocabulary, weights, metrics) plus the kind's own
    (`extra`: preprocessing or tokenizer, optimizer and trainer state)."""
    return {
        "format_version": ckpt.FORMAT_VERSION,
        "kind": kind,
        "config": {"model": model_config, "train": asdict(train_config)},
        "vocab": list(vocab),
        "state_dict": state_dict,
        **extra,
        "metrics": dict(metrics),
    }


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM are recorded in the yielded list instead of interrupting, so a trainer
    can save and stop between steps; the previous handlers are back when the block ends, however it ends.

    Outside the main thread (a web app's worker) signals cannot be handled, and nothing is installed."""
    caught: list[int] = []
    previous: dict[int, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
