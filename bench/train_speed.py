"""Training characters/s: the chapter's one-character-per-call loop vs charrnn's trainer, same model and batch; and
how close our trainer comes to the machine's own float32 matrix-product rate.

Usage: python bench/train_speed.py [--steps 30] [--rounds 3] [--device auto] [--precision auto] [--sweep 32,128]
Prints both figures per round, then the medians, then ratio=<ours / reference>. Each round also times a square
float32 matrix product sized like the model's largest matrix (best of a few) and our trainer's achieved rate: the
model's multiply-adds per character x characters/s, forward + backward counted as three forwards. The last line is
efficiency=<median of the rounds' ours / matrix product>. --sweep also times ours at other batch sizes and names
the fastest per character.
"""
import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

from common import chapter_text, machine, report_rounds

import reference as ref
from charrnn import Corpus, TrainConfig, train
from charrnn.device import pick_device


def reference_rate(text, device, steps, batch_size, seq_len):
    encoded, char2int, _ = ref.encode(text)
    dl = ref.make_loader(ref.build_chunks(encoded, seq_len), batch_size)
    torch.manual_seed(1)
    model = ref.RNN(len(char2int), 256, 512).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.CrossEntropyLoss()
    ref.train_steps(model, dl, opt, loss_fn, 2, seq_len, device)
    sync(device)
    t = time.perf_counter()
    ref.train_steps(model, dl, opt, loss_fn, steps, seq_len, device)
    sync(device)
    return steps * batch_size * seq_len / (time.perf_counter() - t)


WARMUP = 3  # steps before the clock starts: the first builds oneDNN's kernels and fills the caches


def ours_rate(text, device, steps, batch_size, seq_len, precision="auto"):
    """Our trainer's steady-state characters/s after WARMUP untimed steps, and the precision it ran in: the
    median of the log's records after step WARMUP (each the rate over the WARMUP steps before it), so a moment
    when another process takes the CPU moves one record, not the figure."""
    corpus = Corpus(text, "1268 chapter slice", {"clean": "none"})
    cfg = TrainConfig(steps=steps + WARMUP, batch_size=batch_size, seq_len=seq_len, lr=0.005, warmup=0,
                      eval_every=10**9, eval_chars=1000, save_every=10**9, log_every=WARMUP, device=str(device),
                      precision=precision)
    with tempfile.TemporaryDirectory() as d:
        result = train(corpus, dict(embed=256, hidden=512, layers=1), cfg, out=f"{d}/m.pt", progress=False)
    rates = [r["chars_per_second"] for r in result.history if "train_loss" in r and r["step"] > WARMUP]
    return statistics.median(rates), result.metrics["precision"]


def flops_per_char(embed: int, hidden: int, vocab: int) -> int:
    """Floating-point operations of one character's training step: the LSTM's four gates (input and recurrent
    projections) and the output layer, 2 per multiply-add, forward + backward = 3 forwards."""
    macs = 4 * hidden * (embed + hidden) + hidden * vocab
    return 3 * 2 * macs


def matmul_rate(n: int, device, repeats: int = 5) -> float:
    """FLOP/s of an n x n float32 matrix product on `device`, the best of `repeats` (after one warm-up)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def sweep(text, device, a, batches: list[int], base: float) -> None:
    """Ours at other batch sizes (same steps and sequence length) beside `base`, the rounds' median at --batch-size:
    the fastest per character is named."""
    rates = {a.batch_size: base}
    for batch in batches:
        rates[batch], _ = ours_rate(text, device, a.steps, batch, a.seq_len, a.precision)
        print(f"batch {batch}: ours {rates[batch]:,.0f} chars/s")
    fastest = max(rates, key=rates.get)
    print(f"fastest per character among the swept batches: {fastest} ({rates[fastest]:,.0f} chars/s)")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=40)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="ours: the trainer's --precision (auto picks what this device does best)")
    p.add_argument("--sweep", default="", help="comma-separated batch sizes to time ours at as well")
    a = p.parse_args()
    device = pick_device(a.device)
    text = chapter_text()
    print(f"machine: {machine()}; device {device}; model embed 256, LSTM 512; batch {a.batch_size} x {a.seq_len}")
    per_char = flops_per_char(256, 512, len(set(text)))
    refs, ours, efficiency = [], [], []
    for r in range(a.rounds):
        refs.append(reference_rate(text, device, a.steps, a.batch_size, a.seq_len))
        before = matmul_rate(2048, device)  # the LSTM's weights are 2048 x 768: a square product of their height
        rate, precision = ours_rate(text, device, a.steps, a.batch_size, a.seq_len, a.precision)
        ours.append(rate)
        peak = max(before, matmul_rate(2048, device))  # the best of those just before and just after ours
        efficiency.append(rate * per_char / peak)
        print(f"round {r + 1}: reference {refs[-1]:,.0f} chars/s   ours ({precision}) {ours[-1]:,.0f} chars/s = "
              f"{rate * per_char / 1e9:.1f} GFLOP/s   float32 2048^3 product {peak / 1e9:.1f} GFLOP/s   "
              f"efficiency {efficiency[-1]:.3f}")
    if a.sweep:
        sweep(text, device, a, [int(b) for b in a.sweep.split(",")], statistics.median(ours))
    report_rounds(refs, ours, "chars/s")
    print(f"efficiency={statistics.median(efficiency):.3f}")


if __name__ == "__main__":
    main()
