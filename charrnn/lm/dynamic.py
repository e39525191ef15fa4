"""Dynamic evaluation (Krause et al., 2018): score each segment, then take a gradient step on it.

The text is read as one stream, state carried from segment to segment. Each segment's loss is
recorded with the weights as they were before it was read, then the model takes one step on that
segment's mean loss, so every character is predicted only from the characters before it. Dropout is
off (eval mode) throughout. Two update rules:

- "rms" (Krause's RMS dynamic evaluation): the gradient is divided by a per-parameter RMS of segment
  gradients measured on training text, and a decay pulls each weight back towards its trained value
  at a rate proportional to that RMS (relative to its mean), capped at 1;
- "sgd": plain gradient step plus a uniform decay towards the trained weights.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .evaluate import EvalResult
from .model import CharRNN

METHODS = ("rms", "sgd")


@dataclass
class DynamicConfig:
    """Hyperparameters; the defaults were chosen on text outside the reported split (docs/BENCHMARKS.md)."""

    method: str = "rms"
    lr: float = 3e-4
    decay: float = 0.01
    segment: int = 50
    stats_chars: int = 20_000  # rms: training characters whose segment gradients give the RMS
    eps: float = 0.01  # rms: added to each RMS, as a fraction of the mean RMS

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown dynamic evaluation method {self.method!r}; use one of {', '.join(METHODS)}")
        if not self.lr >= 0:
            raise ValueError(f"dynamic learning rate must be >= 0, got {self.lr}")
        if not 0 <= self.decay <= 1:
            raise ValueError(f"dynamic decay must be in [0, 1], got {self.decay}")
        if self.segment < 1:
            raise ValueError(f"dynamic segment length must be at least 1, got {self.segment}")
        if self.method == "rms" and self.stats_chars < 2:
            raise ValueError(f"rms dynamic evaluation needs at least 2 statistics characters, got {self.stats_chars}")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")


def _segments(ids: torch.Tensor, segment: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input (1, len), target (len,)) pairs covering every next-character prediction of `ids` once."""
    n = len(ids) - 1
    for a in range(0, n, segment):
        b = min(a + segment, n)
        yield ids[a:b].unsqueeze(0), ids[a + 1 : b + 1]


def _working_copy(model: CharRNN) -> CharRNN:
    """A copy in eval mode (no dropout) whose weights take gradients, whatever the caller's model allows."""
    work = copy.deepcopy(model)
    work.eval()
    return work.requires_grad_(True)


def _segment_logprobs(model: CharRNN, x: torch.Tensor, y: torch.Tensor, state):
    """Log-probabilities of the targets `y` (kept in the graph) and the detached state after `x`."""
    logits, state = model(x, state)
    logprobs = F.log_softmax(logits[0].float(), dim=-1).gather(1, y.unsqueeze(1)).squeeze(1)
    return logprobs, _detached(state)


def gradient_rms(model: CharRNN, ids: np.ndarray | torch.Tensor, segment: int) -> list[torch.Tensor]:
    """Per-parameter root mean square of the segment-mean-loss gradients over `ids` (weights unchanged)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if len(ids) < 2:
        raise ValueError("need at least 2 characters of training text for the gradient statistics")
    work = _working_copy(model)
    params = list(work.parameters())
    ids = ids.to(params[0].device)
    squares = [torch.zeros_like(p) for p in params]
    state, count = None, 0
    for x, y in _segments(ids, segment):
        logprobs, state = _segment_logprobs(work, x, y, state)
        grads = torch.autograd.grad(-logprobs.mean(), params)
        torch._foreach_addcmul_(squares, grads, grads)
        count += 1
    return [torch.sqrt(s / count) for s in squares]


def _update_factors(params: list[torch.Tensor], config: DynamicConfig, rms: list[torch.Tensor] | None):
    """Per-parameter (step, decay) multipliers: theta -= step * grad; theta += decay * (theta0 - theta)."""
    if config.method == "sgd":
        return [torch.tensor(config.lr, device=p.device) for p in params], [config.decay] * len(params)
    if rms is None or [r.shape for r in rms] != [p.shape for p in params]:
        raise ValueError("rms dynamic evaluation needs one gradient RMS tensor per parameter")
    mean = torch.cat([r.reshape(-1) for r in rms]).mean().clamp_min(1e-12)
    steps = [config.lr / (r + config.eps * mean) for r in rms]
    decays = [(config.decay * r / mean).clamp_(max=1.0) for r in rms]
    return steps, decays


def dynamic_logprobs(
    model: CharRNN, ids: np.ndarray | torch.Tensor, config: DynamicConfig, rms: list[torch.Tensor] | None = None
) -> Iterator[torch.Tensor]:
    """Yield each segment's per-character target log-probabilities, scored before the step on that segment.

    Works on a copy of `model`; the caller's weights are never changed. Generators for several models
    can be advanced in lockstep (each steps only when asked for its next segment), e.g. to average
    their probabilities.
    """
    work = _working_copy(model)
    params = list(work.parameters())
    ids = torch.as_tensor(ids, dtype=torch.long).to(params[0].device)
    originals = [p.detach().clone() for p in params]
    steps, decays = _update_factors(params, config, rms)
    n, state, adapt = len(ids) - 1, None, config.lr > 0  # with no step the weights never move: no gradients
    for i, (x, y) in enumerate(_segments(ids, config.segment)):
        with torch.set_grad_enabled(adapt):
            logprobs, state = _segment_logprobs(work, x, y, state)
        yield logprobs.detach()
        if not adapt or (i + 1) * config.segment >= n:
            continue  # nothing to step on (the last segment: nothing left to predict)
        grads = torch.autograd.grad(-logprobs.mean(), params)
        with torch.no_grad():
            for p, g, p0, s, d in zip(params, grads, originals, steps, decays):
                p.addcmul_(g, s, value=-1.0).lerp_(p0, d)


def dynamic_losses(
    model: CharRNN, ids: np.ndarray | torch.Tensor, config: DynamicConfig, rms: list[torch.Tensor] | None = None
) -> Iterator[tuple[float, int]]:
    """Yield (summed loss in nats, characters) per segment, each scored before the step on it."""
    for logprobs in dynamic_logprobs(model, ids, config, rms):
        yield -logprobs.sum().item(), len(logprobs)


@contextmanager
def _one_cpu_thread(model: CharRNN):
    """Batch-1 steps gain little from a second thread, and lose badly when the cores are shared (measured 15x)."""
    threads = torch.get_num_threads()
    on_cpu = next(model.parameters()).device.type == "cpu"
    if on_cpu:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if on_cpu:
            torch.set_num_threads(threads)


def evaluate_dynamic(
    model: CharRNN,
    ids: np.ndarray | torch.Tensor,
    config: DynamicConfig | None = None,
    stats_ids: np.ndarray | torch.Tensor | None = None,
) -> EvalResult:
    """Mean next-character loss over `ids` under dynamic evaluation (same counting as evaluate_stream).

    For the rms method, `stats_ids` is training text (its last `config.stats_chars` characters are used)
    from which the gradient RMS is measured; it must not overlap `ids`.
    """
    config = config or DynamicConfig()
    if len(ids) < 2:
        raise ValueError("need at least 2 characters to evaluate")
    if config.method == "rms" and (stats_ids is None or len(stats_ids) < 2):
        raise ValueError("rms dynamic evaluation needs training text for its gradient statistics")
    total, chars = 0.0, 0
    with _one_cpu_thread(model):
        rms = gradient_rms(model, stats_ids[-config.stats_chars :], config.segment) if config.method == "rms" else None
        for loss, count in dynamic_losses(model, ids, config, rms):
            total += loss
            chars += count
    return EvalResult(total / chars, chars)


def _detached(state):
    """The recurrent state cut from the graph of the segment that produced it (an LSTM's is an (h, c) pair)."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
