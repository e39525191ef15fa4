"""Sampling from a character model: temperature, top-k, top-p, seed, priming text, streaming.

Temperature T divides the logits before the softmax (T = 0 is greedy). The textbook's `scale_factor`
alpha multiplies the logits instead, so alpha = 1 / T: alpha 2.0 is T 0.5, alpha 0.5 is T 2.0.
"""
from __future__ import annotations

import math
import operator
from typing import Iterator

import torch

from .charlm import CharLM

MAX_LENGTH = 10_000
MAX_TEMPERATURE = 10.0
MAX_NUM_SAMPLES = 1024  # continuations sampled side by side in one batch
MIN_SEED, MAX_SEED = -(2**63), 2**64 - 1  # torch.Generator.manual_seed's range


def check_options(
    length: int, temperature: float, top_k: int | None, top_p: float | None, seed: int | None = None,
    num_samples: int = 1,
) -> None:
    """Reject sampling options that have no meaning, with a message naming the option."""
    if not isinstance(length, int) or length < 0 or length > MAX_LENGTH:
        raise ValueError(f"length must be an integer from 0 to {MAX_LENGTH}, got {length!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if temperature > MAX_TEMPERATURE:
        raise ValueError(f"temperature must be at most {MAX_TEMPERATURE}, got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"top_k must be a non-negative integer (0 = off), got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1] (1 = off), got {top_p!r}")
    if seed is not None and not (_is_int(seed) and MIN_SEED <= seed <= MAX_SEED):
        raise ValueError(f"seed must be None (random) or an integer from {MIN_SEED} to {MAX_SEED}, got {seed!r:.40}")
    if not _is_int(num_samples) or not 1 <= num_samples <= MAX_NUM_SAMPLES:
        raise ValueError(f"num_samples must be an integer from 1 to {MAX_NUM_SAMPLES}, got {num_samples!r:.40}")


def _is_int(value) -> bool:
    """An integer (Python or NumPy), not a float or string that looks like one."""
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def next_char_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Turn (batch, vocab) logits into sampling probabilities after temperature, top-k and top-p."""
    logits = logits.float()
    if temperature == 0:
        probs = torch.zeros_like(logits)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return probs
    scaled = logits / temperature
    overflow = ~torch.isfinite(scaled).all(-1, keepdim=True)
    if overflow.any():  # a temperature so small that the logits overflow: its limit, greedy shared among ties
        greedy = torch.where(logits == logits.amax(-1, keepdim=True), 0.0, float("-inf"))
        scaled = torch.where(overflow, greedy, scaled)
    logits = scaled
    if top_k and top_k < logits.shape[-1]:
        keep = torch.topk(logits, top_k, dim=-1).indices
        logits = torch.full_like(logits, float("-inf")).scatter(-1, keep, logits.gather(-1, keep))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        cum = sorted_p.cumsum(-1)
        drop = cum - sorted_p >= top_p  # keep the smallest prefix whose mass reaches top_p
        drop[..., 0] = False  # the most likely character, even when top_p rounds to 0 in float32
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


@torch.no_grad()
def stream(
    lm: CharLM,
    prompt: str = "",
    length: int = 300,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
) -> Iterator[list[str]]:
    """Yield the next character of each of `num_samples` continuations, `length` times.

    `generate` takes the same parameters; the sampling options are keyword-only in both, so no call can mix
    their order up.
    The prompt is fed through the model in one call. An empty prompt starts from a newline if the
    vocabulary has one, else from a uniformly chosen character. Same seed, same output.
    """
    check_options(length, temperature, top_k, top_p, seed, num_samples)
    ids = torch.as_tensor(lm.vocab.encode(prompt), dtype=torch.long)
    device = lm.device
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(operator.index(seed))
    else:
        gen.seed()
    if len(ids) == 0:
        if "\n" in lm.vocab:
            ids = torch.as_tensor(lm.vocab.encode("\n"))
        else:
            ids = torch.randint(0, len(lm.vocab), (1,), generator=gen)
    x = ids.unsqueeze(0).expand(num_samples, -1).to(device)
    logits, state = lm.model(x)
    logits = logits[:, -1]
    step = lm.stepper
    chars = lm.vocab.chars
    for _ in range(length):
        probs = next_char_probs(logits, temperature, top_k, top_p).cpu()
        nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]
        yield [chars[i] for i in nxt.tolist()]
        logits, state = step(nxt.to(device), state)


def generate(
    lm: CharLM,
    prompt: str = "",
    length: int = 300,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
) -> list[str]:
    """Whole continuations, each starting with the prompt (the same parameters as `stream`)."""
    steps = list(stream(lm, prompt, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                        num_samples=num_samples))
    return [prompt + "".join(chars[i] for chars in steps) for i in range(num_samples)]
