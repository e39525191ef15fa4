"""Training characters/s: the chapter's one-character-per-call loop vs charrnn's trainer, same model and batch.

Usage: python bench/train_speed.py [--steps 30] [--rounds 3] [--device auto] [--precision auto]
Prints both figures per round, then the medians, and as its last line ratio=<ours / reference>.
"""
import argparse
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


def ours_rate(text, device, steps, batch_size, seq_len, precision="auto"):
    corpus = Corpus(text, "1268 chapter slice", {"clean": "none"})
    cfg = TrainConfig(steps=steps + 2, batch_size=batch_size, seq_len=seq_len, lr=0.005, warmup=0,
                      eval_every=10**9, eval_chars=1000, save_every=10**9, device=str(device), precision=precision)
    with tempfile.TemporaryDirectory() as d:
        result = train(corpus, dict(embed=256, hidden=512, layers=1), cfg, out=f"{d}/m.pt", progress=False)
    return result.chars_seen / result.train_seconds, result.metrics["precision"]


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
    a = p.parse_args()
    device = pick_device(a.device)
    text = chapter_text()
    print(f"machine: {machine()}; device {device}; model embed 256, LSTM 512; batch {a.batch_size} x {a.seq_len}")
    refs, ours = [], []
    for r in range(a.rounds):
        refs.append(reference_rate(text, device, a.steps, a.batch_size, a.seq_len))
        rate, precision = ours_rate(text, device, a.steps, a.batch_size, a.seq_len, a.precision)
        ours.append(rate)
        print(f"round {r + 1}: reference {refs[-1]:,.0f} chars/s   ours ({precision}) {ours[-1]:,.0f} chars/s")
    report_rounds(refs, ours, "chars/s")


if __name__ == "__main__":
    main()
