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
    model: CharRNN, ids: np.ndarray | torch.Tensor, streams: int = 8, chunk: int = 256, device=None,
    scored: np.ndarray | torch.Tensor | None = None,
) -> EvalResult:
    """Mean next-character loss over `ids`, every character after the first predicted exactly once.

    The text is cut into `streams` contiguous segments run side by side as one batch; each carries its
    recurrent state from chunk to chunk, so only a segment's first characters lack context. `scored` (a bool per
    position) leaves the characters where it is False out of the loss and the count (they are still read as
    context): characters the model does not know, read as a stand-in (`Vocab.encode_known`).
    """
    ids = torch.as_tensor(ids).long()
    n = len(ids) - 1
    if n < 1:
        raise ValueError("need at least 2 characters to evaluate")
    targets = ids if scored is None else torch.where(torch.as_tensor(scored, dtype=torch.bool), ids, -100)
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
        y[s, : b - a] = targets[a + 1 : b + 1]
    counted = int((y != -100).sum())
    if counted < 1:
        raise ValueError("no character of the text is in the model's vocabulary: nothing to score")
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
    return EvalResult(total / counted, counted)


def evaluate_parts(model: CharRNN, parts: list, streams: int = 8, chunk: int = 256, device=None,
                   scored: list | None = None) -> EvalResult:
    """Mean next-character loss over several texts (the held-out split of each file), each run on its own so no
    prediction crosses from one file into the next; one text gives exactly `evaluate_stream`'s result.
    `scored`: a mask (or None) per part, as in `evaluate_stream`."""
    masks = scored if scored is not None else [None] * len(parts)
    pairs = [(p, m) for p, m in zip(parts, masks) if len(p) >= 2 and (m is None or m[1:].any())]
    if not pairs:
        raise ValueError("need at least 2 characters to evaluate")
    if len(pairs) == 1:
        return evaluate_stream(model, pairs[0][0], streams, chunk, device, pairs[0][1])
    results = [evaluate_stream(model, p, streams, chunk, device, m) for p, m in pairs]
    chars = sum(r.chars for r in results)
    return EvalResult(sum(r.loss_nats * r.chars for r in results) / chars, chars)
