"""Compare time-budget recipes on The Mysterious Island (the chapter's slice, last 10% held out): one bare training
loop (Adam, clipping, warm-up then cosine decay over the run), windows or streams, then the validation loss.

Usage: python bench/recipes.py --hidden 384 --batch 16 --batching streams --lr 0.005 --seconds 160
       (or --steps N: the same schedule over a step count, so runs can be compared on a busy machine)
Prints one line: recipe=... steps=... chars=... chars_s=... val_loss_nats=...
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import chapter_text, machine

from charrnn.lm.data import SEGMENT_CHARS, CharWindows, StreamBatches, Vocab, split_ids
from charrnn.lm.evaluate import evaluate_stream
from charrnn.lm.model import CharRNN, ModelConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=40)
    ap.add_argument("--batching", choices=["windows", "streams"], default="streams")
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--segment", type=int, default=SEGMENT_CHARS, help="streams: characters read before a jump")
    ap.add_argument("--seconds", type=float, default=160)
    ap.add_argument("--steps", type=int, default=0, help="a step count instead of --seconds")
    a = ap.parse_args()
    print(f"# {machine()}")
    torch.manual_seed(1)
    text = chapter_text()
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text, dtype=vocab.dtype), 0.1)
    net = CharRNN(ModelConfig(len(vocab), min(a.embed, a.hidden), a.hidden))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(1)
    windows, streams = CharWindows(train_ids, a.seq), StreamBatches(train_ids, a.seq, a.batch, a.segment)
    state, step, t0 = None, 0, time.perf_counter()
    while True:
        progress = step / a.steps if a.steps else (time.perf_counter() - t0) / a.seconds
        if progress >= 1:
            break
        lr = a.lr * max(progress / 0.03, 0.01) if progress < 0.03 else \
            a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (progress - 0.03) / 0.97)))
        for g in opt.param_groups:
            g["lr"] = lr
        if a.batching == "streams":
            x, y, fresh = streams.next(gen)
            if state is not None:
                state = tuple(s * (~fresh).float()[None, :, None] for s in state)
        else:
            x, y = windows.batch(torch.randint(0, len(windows), (a.batch,), generator=gen))
        logits, state = net(x, state if a.batching == "streams" else None)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
    seconds = time.perf_counter() - t0
    val = evaluate_stream(net, np.asarray(val_ids, dtype=np.int64)).loss_nats
    segment = f"/seg{a.segment}" if a.batching == "streams" else ""
    print(f"recipe=h{a.hidden}/b{a.batch}/s{a.seq}/{a.batching}{segment}/lr{a.lr:g} steps={step} "
          f"chars={step * a.batch * a.seq:,} chars_s={step * a.batch * a.seq / seconds:,.0f} val_loss_nats={val:.4f}")


if __name__ == "__main__":
    main()
