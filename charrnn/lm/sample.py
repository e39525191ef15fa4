"""Sampling from a character model: temperature, top-k, top-p, seed, priming text, streaming.

Temperature T divides the logits before the softmax (T = 0 is greedy). The textbook's `scale_factor`
alpha multiplies the logits instead, so alpha = 1 / T: alpha 2.0 is T 0.5, alpha 0.5 is T 2.0.
"""
from __future__ import annotations

import inspect
import math
import operator
from bisect import bisect_left
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Iterator

import torch

from .charlm import CharLM
from .stops import stop_strings, until_stopped

MAX_LENGTH = 10_000
MAX_PROMPT = 5000  # characters of priming text, in the CLI and the app
MAX_TEMPERATURE = 10.0
MAX_NUM_SAMPLES = 1024  # continuations sampled side by side in one batch
TINY_TEMPERATURE = 1e-6  # below it, logits / T may overflow float32 (above it, only logits beyond 3e32 could)
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
    scaled = logits / temperature if temperature != 1.0 else logits  # x / 1.0 == x: one operation fewer per step
    if temperature < TINY_TEMPERATURE:  # finite logits can overflow: the limit, greedy shared among ties
        overflow = ~torch.isfinite(scaled).all(-1, keepdim=True)
        if overflow.any():
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
def prime(
    lm: CharLM, prompt: str, length: int, temperature: float, top_k: int | None, top_p: float | None,
    seed: int | None, num_samples: int,
) -> tuple[torch.Tensor, object, torch.Generator]:
    """Check the options and run the prompt through the model in one call.

    Returns the next character's logits (num_samples, vocab), the recurrent state and the seeded generator: where
    `stream` and the batched engine (`charrnn.serve.engine`) both start, so the same options give the same text.
    An empty prompt starts from a newline if the vocabulary has one, else from a uniformly chosen character.
    """
    check_options(length, temperature, top_k, top_p, seed, num_samples)
    ids = torch.as_tensor(lm.vocab.encode(prompt), dtype=torch.long)
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
    logits, state = lm.model(ids.unsqueeze(0).expand(num_samples, -1).to(lm.device))
    return logits[:, -1], state, gen


UNIFORM_BLOCK = 64  # steps of uniform numbers a request draws from its generator at once


class Dice:
    """A request's uniform numbers in [0, 1): one per row (sample) per step, drawn from its seeded generator.

    `draw` turns them into characters by inverse CDF, so single-stream sampling (`stream`) and the batched engine
    (`charrnn.serve.engine`), which draws for many requests in one set of tensor operations, give the same text.
    """

    def __init__(self, gen: torch.Generator, rows: int):
        self.gen, self.rows = gen, rows
        self._block: list[list[float]] = []

    def next(self) -> list[float]:
        """This step's numbers, one per row."""
        if not self._block:
            self._block = torch.rand(UNIFORM_BLOCK, self.rows, generator=self.gen).tolist()[::-1]
        return self._block.pop()


def draw(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
         uniforms: list[float]) -> list[int]:
    """One character id per row of `logits` after temperature, top-k and top-p, by inverse CDF.

    Row r takes the first id whose cumulative probability reaches (1 - uniforms[r]) times the row's total, so an id
    of probability 0 is never drawn. The sums run in Python on the row's probabilities alone: a row's id does not
    depend on the other rows, and a step costs one tensor transfer instead of a sampling call per request.
    """
    ids = []
    for probs, u in zip(next_char_probs(logits, temperature, top_k, top_p).tolist(), uniforms, strict=True):
        cdf = list(accumulate(probs))
        if not 0.0 < cdf[-1] < math.inf:
            raise ValueError("the model's next-character probabilities are not finite (NaN or infinite weights?)")
        ids.append(bisect_left(cdf, (1.0 - u) * cdf[-1]))
    return ids


def _steps(lm: CharLM, prompt: str, length: int, temperature: float, top_k: int | None, top_p: float | None,
           seed: int | None, num_samples: int) -> Iterator[list[str]]:
    """The steps of `stream`. Not wrapped in no_grad: as a generator it would enter and leave the context at every
    character (some 10 us a step); `prime` and every stepper run without gradients, and drawing needs none."""
    logits, state, gen = prime(lm, prompt, length, temperature, top_k, top_p, seed, num_samples)
    dice = Dice(gen, num_samples)
    chars = lm.vocab.chars
    device = lm.device
    rows = torch.arange(len(chars), device=device).split(1)  # one row's next input, without a tensor per step
    for i in range(length):
        nxt = draw(logits, temperature, top_k, top_p, dice.next())
        yield [chars[c] for c in nxt]
        if i + 1 < length:
            x = rows[nxt[0]] if num_samples == 1 else torch.tensor(nxt, device=device)
            logits, state = lm.stepper(x, state)


@dataclass(frozen=True)
class Sampling:
    """The sampling options `stream` and `generate` take as keywords (checked when sampling starts)."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    num_samples: int = 1
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, caller: str, options: dict) -> Sampling:
        """The options given to `caller` as keywords; TypeError naming any it does not take, as Python would."""
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
        return cls(**options)


def stream(lm: CharLM, prompt: str = "", length: int = 300, **options) -> Iterator[list[str]]:
    """Yield the next character of each of `num_samples` continuations, at most `length` times.

    Options, keyword-only (`Sampling`): temperature=1.0, top_k=None, top_p=None, seed=None, num_samples=1,
    stop=(); `generate` takes the same. Same seed, same output. With `stop` strings (see `charrnn.lm.stops`) each
    sample ends after the first stop string in its generated text (kept); a sample that has ended yields '' until
    all have.
    """
    o = Sampling.of("stream", options)
    steps = _steps(lm, prompt, length, o.temperature, o.top_k, o.top_p, o.seed, o.num_samples)  # checked lazily
    return until_stopped(steps, stop_strings(o.stop), o.num_samples)


def generate(lm: CharLM, prompt: str = "", length: int = 300, **options) -> list[str]:
    """Whole continuations, each starting with the prompt (the same parameters as `stream`)."""
    n = Sampling.of("generate", options).num_samples
    steps = list(stream(lm, prompt, length, **options))
    return [prompt + "".join(chars[i] for chars in steps) for i in range(n)]


def _keyword_signature(fn) -> inspect.Signature:
    """`fn`'s signature as callers see it: its `**options` shown as Sampling's keyword-only parameters, so that
    help(), IDEs and inspect list the options `Sampling.of` accepts."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
               for f in fields(Sampling)]
    return sig.replace(parameters=params)


stream.__signature__ = _keyword_signature(stream)
generate.__signature__ = _keyword_signature(generate)
