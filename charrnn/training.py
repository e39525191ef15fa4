"""Pieces both trainers share: the precision context and its gradient scaler, the optimizer step, the common
part of a checkpoint, and a guard that turns Ctrl-C/SIGTERM into a request to stop.

Precision is named, not a flag: "fp32" (no autocast), "bf16" or "fp16" (autocast to that type); a GradScaler is
enabled only for fp16 on CUDA. `resolve_precision` turns a request ('auto' or a name) into what the device can do.
"""
from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch

from . import checkpoint as ckpt

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(ValueError):
    """A precision the device cannot train in was asked for."""


def precision_for(device: torch.device, amp: bool) -> str:
    """The precision a trainer uses today: fp16 mixed precision on CUDA when `amp`, fp32 everywhere else."""
    return "fp16" if amp and device.type == "cuda" else "fp32"


def resolve_precision(device: torch.device, requested: str = "auto", amp: bool = True) -> str:
    """The precision to train in. 'auto': fp16 autocast on CUDA, bf16 autocast on a CPU with native bf16 (AVX-512
    bf16 or AMX), fp32 otherwise or when `amp` is off, and fp32 too when a short trial step fails. An explicit
    'bf16'/'fp16' the device cannot run raises PrecisionError (one clear line) rather than failing mid-run."""
    if requested not in ("auto", *PRECISIONS):
        raise PrecisionError(f"precision must be auto, {', '.join(PRECISIONS)}; got {requested!r}")
    if requested == "fp32":
        return "fp32"
    if requested == "auto":
        if not amp:
            return "fp32"
        wanted = "fp16" if device.type == "cuda" else "bf16" if device.type == "cpu" and cpu_has_bf16() else None
        return wanted if wanted and precision_works(device.type, wanted) else "fp32"
    if not precision_works(device.type, requested):
        raise PrecisionError(f"precision {requested} is not supported on this {device.type} "
                             f"({_device_note(device)}); use --precision auto or fp32")
    return requested


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively: AVX-512 bf16 or AMX (from torch's capability or /proc/cpuinfo)."""
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "AMX" in capability:
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read(1 << 16)
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.lru_cache(maxsize=None)
def precision_works(device_type: str, precision: str) -> bool:
    """Whether a tiny LSTM runs forward and backward under autocast to `precision` on this device type (some
    builds raise, e.g. oneDNN's LSTM under CPU bf16 autocast without AVX-512)."""
    try:
        device = torch.device(device_type)
        lstm = torch.nn.LSTM(8, 8, batch_first=True).to(device)
        x = torch.randn(2, 3, 8, device=device)
        with autocast(device, precision):
            out, _ = lstm(x)
        out.float().sum().backward()
        return True
    except (RuntimeError, TypeError, ValueError, AssertionError):
        return False


def _device_note(device: torch.device) -> str:
    if device.type == "cpu":
        return f"CPU capability {torch.backends.cpu.get_cpu_capability()}, no native bf16"
    return str(device)


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
    (`extra`: preprocessing or tokenizer, optimizer and trainer state). With int8 weights and their row "scales"
    the format version is the one a charrnn without them refuses, so it cannot read int8 values as weights."""
    return {
        "format_version": ckpt.INT8_FORMAT_VERSION if extra.get("scales") else ckpt.FORMAT_VERSION,
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
