"""tiny-Shakespeare: a character model against nanoGPT's character transformer on nanoGPT's own split and protocol.

Usage: python bench/shakespeare.py [--checkpoint checkpoints/tiny-shakespeare.pt] [--block 256]

nanoGPT (`data/shakespeare_char/prepare.py`) holds out the last 10% of `input.txt` (`data[int(n * 0.9):]`) and
reports the mean loss over random 256-character blocks of it, each read from scratch (its `estimate_loss`):
val 1.4697 nats for the README's "baby GPT" (6 layers, 6 heads, 384 wide, 10.7M parameters, dropout 0.2, 5,000
iterations of 64 x 256 on an A100). Printed here, for the same held-out characters:
- `blocks`: every non-overlapping block of --block + 1 characters, each from an empty state (nanoGPT's protocol;
  the mean over all blocks is the expectation its random blocks estimate), and
- `stream`: the text read as 8 continuous streams, state carried (what `charrnn evaluate` prints).
The last line is `loss_nats=<blocks figure> reference=1.4697`.
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F
from common import ROOT

from charrnn import load_char_lm
from charrnn.lm.evaluate import evaluate_stream
from charrnn.lm.textfile import read_text

TEXT = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
NANOGPT_VAL = 1.4697


@torch.no_grad()
def block_loss(model, ids: np.ndarray, block: int, batch: int = 64) -> float:
    """Mean next-character loss over the non-overlapping (block + 1)-character windows of `ids`, each from zero."""
    n = (len(ids) - 1) // block
    text = torch.as_tensor(ids[: n * block + 1].astype(np.int64))
    inputs, targets = text[:-1].view(n, block), text[1:].view(n, block)  # block i's targets start where it ends
    total = 0.0
    for x, y in zip(inputs.split(batch), targets.split(batch)):
        logits, _ = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum").item()
    return total / (n * block)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "tiny-shakespeare.pt"))
    p.add_argument("--text", default=str(TEXT))
    p.add_argument("--block", type=int, default=256)
    a = p.parse_args()
    lm = load_char_lm(a.checkpoint)
    data = read_text(a.text)
    val = lm.vocab.encode(data[int(len(data) * 0.9) :])  # nanoGPT's split, on the raw file
    print(f"{a.checkpoint}: {len(val):,} held-out characters (nanoGPT's split of {len(data):,})")
    print(f"stream {evaluate_stream(lm.model, val).loss_nats:.4f}")
    blocks = block_loss(lm.model, val, a.block)
    print(f"blocks of {a.block} {blocks:.4f}")
    print(f"loss_nats={blocks:.4f} reference={NANOGPT_VAL}")


if __name__ == "__main__":
    main()
