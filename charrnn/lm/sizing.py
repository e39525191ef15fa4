"""Model and batch size for a time budget, measured on the device itself.

With a few minutes, a smaller model that sees more characters beats a larger one that sees fewer: on a 2-core CPU
the best of the sizes tried trained on about 2.5 to 5 characters per parameter (1 x 384 beat 1 x 512 at 3
minutes, and 1 x 256 at 5; docs/BENCHMARKS.md, issue 11). So time a few training steps of each candidate size,
estimate how many characters the budget trains each on, and take the largest that still gets CHARS_PER_PARAM;
the batch is the smallest that keeps the device near its best throughput (more updates for the same characters).
Small texts cap the size, as there is no dropout in these runs: at most MAX_PARAMS_PER_CHAR parameters per
training character. Each trial's rate is its fastest step's, so one slow step on a busy machine does not decide.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .model import CharRNN, ModelConfig
from ..training import autocast

HIDDEN_SIZES = (64, 96, 128, 192, 256, 320, 384, 512, 768, 1024, 1536, 2048)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
PROBE_HIDDEN = 256  # the batch is chosen on a model of this size, before the hidden size
CHARS_PER_PARAM = 2.5  # characters a budget run should train on per parameter (measured; see the docstring)
MAX_PARAMS_PER_CHAR = 2.0
BUSY = 0.7  # the chosen batch's throughput is at least this share of the best measured
PROBE_SHARE = 0.04  # measuring stops once it has taken this share of the budget (trying larger sizes first stops)


@dataclass
class Sizing:
    """What size_for_budget chose, with its estimate and every trial (for the log)."""

    hidden: int
    embed: int
    batch_size: int
    chars_per_second: float
    params: int
    trials: list[dict] = field(default_factory=list)

    def line(self, seconds: float) -> str:
        chars = self.chars_per_second * seconds
        return (f"sized for {seconds:.0f} s of training: hidden {self.hidden}, embed {self.embed}, batch "
                f"{self.batch_size} ({self.params / 1e6:.2f}M parameters, ~{self.chars_per_second:,.0f} chars/s, "
                f"~{chars / 1e6:.1f}M characters, {chars / self.params:.1f} per parameter)")


def embed_for(hidden: int) -> int:
    """The embedding size that goes with a hidden size when none is given: the chapter's 256, less for small models."""
    return min(256, hidden)


def model_config(vocab_size: int, hidden: int, cell: str = "lstm", layers: int = 1) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, embed=embed_for(hidden), hidden=hidden, layers=layers, cell=cell)


def params(cfg: ModelConfig) -> int:
    """The parameter count of a CharRNN with these settings (without building it)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.cell]
    rnn = sum(gates * cfg.hidden * ((cfg.embed if layer == 0 else cfg.hidden) + cfg.hidden + 2)
              for layer in range(cfg.layers))
    return cfg.vocab_size * cfg.embed + rnn + (cfg.hidden + 1) * cfg.vocab_size


def throughput(cfg: ModelConfig, batch: int, seq_len: int, device: torch.device, precision: str = "fp32",
               steps: int = 3) -> float:
    """Characters per second of a full training step (forward, backward, Adam) on random ids: the fastest of
    `steps`, after a warm-up step."""
    gen = torch.Generator().manual_seed(0)
    net = CharRNN(cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randint(0, cfg.vocab_size, (batch, seq_len + 1), generator=gen).to(device)
    fastest = float("inf")
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with autocast(device, precision):
            logits, _ = net(x[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # waits for the device
        if i:  # the first step pays one-off costs
            fastest = min(fastest, time.perf_counter() - t0)
    return batch * seq_len / max(fastest, 1e-9)


def choose_batch(vocab_size: int, seq_len: int, device: torch.device, precision: str, cell: str, layers: int,
                 trials: list[dict], until: float) -> int:
    """The smallest batch whose throughput is within BUSY of the best, trying larger ones until two in a row
    gain less than 10% (or the clock passes `until`)."""
    cfg = model_config(vocab_size, PROBE_HIDDEN, cell, layers)
    throughput(cfg, BATCH_SIZES[0], seq_len, device, precision)  # the process's first steps run slow: not counted
    rates: dict[int, float] = {}
    flat = 0
    for batch in BATCH_SIZES:
        rates[batch] = throughput(cfg, batch, seq_len, device, precision)
        trials.append({"hidden": cfg.hidden, "batch": batch, "chars_per_second": round(rates[batch])})
        flat = flat + 1 if len(rates) > 1 and rates[batch] < 1.1 * max(list(rates.values())[:-1]) else 0
        if flat == 2 or time.perf_counter() > until:
            break
    best = max(rates.values())
    return min(b for b, r in rates.items() if r >= BUSY * best)


def size_for_budget(vocab_size: int, train_chars: int, seconds: float, seq_len: int, device: torch.device,
                    precision: str = "fp32", cell: str = "lstm", layers: int = 1, **given: int | None) -> Sizing:
    """The model and batch for `seconds` of training on `train_chars` characters (see the module docstring).

    `given` may hold `batch` and `hidden`: one given (not None) is kept, and the other sized around it.
    """
    unknown = set(given) - {"batch", "hidden"}
    if unknown:
        raise TypeError(f"size_for_budget() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    batch, hidden = given.get("batch"), given.get("hidden")
    trials: list[dict] = []
    t0 = time.perf_counter()
    if batch is None:
        batch = choose_batch(vocab_size, seq_len, device, precision, cell, layers, trials,
                             t0 + PROBE_SHARE / 2 * seconds)
    chosen = None
    for size in (hidden,) if hidden else HIDDEN_SIZES:
        cfg = model_config(vocab_size, size, cell, layers)
        n = params(cfg)
        if chosen is not None and (n > MAX_PARAMS_PER_CHAR * train_chars
                                   or time.perf_counter() > t0 + PROBE_SHARE * seconds):
            break
        rate = throughput(cfg, batch, seq_len, device, precision)
        trials.append({"hidden": size, "batch": batch, "chars_per_second": round(rate)})
        if chosen is not None and rate * seconds < CHARS_PER_PARAM * n:
            break
        chosen = Sizing(size, cfg.embed, batch, rate, n)
    chosen.trials = trials
    return chosen
