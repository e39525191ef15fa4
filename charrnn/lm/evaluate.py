"""Loss of a character model over a text run as continuous streams (state carried chunk to chunk)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .model import CharRNN

LN2 = math.log(2.0)


@dataclass
class EvalResult:
    loss_nats: float
    chars: int

    @property
    def bpc(self) -> float:
        return self.loss_nats / LN2

    def line(self) -> str:
        return f"loss_nats={self.loss_nats:.4f} bpc={self.bpc:.4f} chars={self.chars}"


@torch.no_grad()
def evaluate_stream(
    model: CharRNN, ids: np.ndarray | torch.Tensor, streams: int = 8, chunk: int = 256, device=None
) -> EvalResult:
    """Mean next-character loss over `ids`, every character after the first predicted exactly once.

    The text is cut into `streams` contiguous segments run side by side as one batch; each carries its
    recurrent state from chunk to chunk, so only a segment's first characters lack context.
    """
    ids = torch.as_tensor(ids).long()
    n = len(ids) - 1
    if n < 1:
        raise ValueError("need at least 2 characters to evaluate")
    device = device or next(model.parameters()).device
    streams = max(1, min(streams, n))
    seg = math.ceil(n / streams)
    x = torch.zeros(streams, seg, dtype=torch.long)
    y = torch.full((streams, seg), -100, dtype=torch.long)
    for s in range(streams):
        a, b = s * seg, min((s + 1) * seg, n)
        if a >= b:
            continue
        x[s, : b - a] = ids[a:b]
        y[s, : b - a] = ids[a + 1 : b + 1]
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    try:
        for t in range(0, seg, chunk):
            xb, yb = x[:, t : t + chunk].to(device), y[:, t : t + chunk].to(device)
            logits, state = model(xb, state)
            total += F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), yb.reshape(-1), ignore_index=-100, reduction="sum"
            ).item()
    finally:
        model.train(was_training)
    return EvalResult(total / n, n)


def evaluate_parts(model: CharRNN, parts: list, streams: int = 8, chunk: int = 256, device=None) -> EvalResult:
    """Mean next-character loss over several texts (the held-out split of each file), each run on its own so no
    prediction crosses from one file into the next; one text gives exactly `evaluate_stream`'s result."""
    parts = [p for p in parts if len(p) >= 2]
    if not parts:
        raise ValueError("need at least 2 characters to evaluate")
    if len(parts) == 1:
        return evaluate_stream(model, parts[0], streams, chunk, device)
    results = [evaluate_stream(model, p, streams, chunk, device) for p in parts]
    chars = sum(r.chars for r in results)
    return EvalResult(sum(r.loss_nats * r.chars for r in results) / chars, chars)
