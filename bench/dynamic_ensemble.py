"""Held-out loss of several character LMs averaged in probability, static and under dynamic evaluation.

    python bench/dynamic_ensemble.py checkpoints/mysterious-island.pt runs/island/island.best.pt
    python bench/dynamic_ensemble.py --static checkpoints/mysterious-island.pt runs/island/island.best.pt

A measurement, not a product feature: how far averaging models carries the island's held-out 10% (issue 12's
dynamic target). Each model is evaluated as `charrnn evaluate --dynamic` does (its own RMS statistics and steps,
the defaults of `DynamicConfig`); the models advance segment by segment in lockstep and every character's
probability is the mean of theirs, each computed before any model has stepped on that segment. The models must
share vocabulary and preprocessing. One line per model, then the ensemble's `loss_nats=... bpc=... chars=...`.
"""
import argparse
import math
import time

import torch
from common import BOOK

from charrnn import load_char_lm
from charrnn.lm.corpus import apply_preprocessing
from charrnn.lm.data import split_ids
from charrnn.lm.dynamic import DynamicConfig, dynamic_logprobs, gradient_rms
from charrnn.lm.evaluate import EvalResult
from charrnn.lm.textfile import read_text


def split(lm, text: str):
    """(training ids, held-out ids) of `text` as this model's training split it."""
    return split_ids(torch.as_tensor(lm.vocab.encode(apply_preprocessing(text, lm.preprocessing))), lm.val_fraction)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--text", default=str(BOOK))
    p.add_argument("--static", action="store_true", help="no steps: plain probability averaging")
    args = p.parse_args()
    torch.set_num_threads(1)
    lms = [load_char_lm(c, device="cpu") for c in args.checkpoints]
    text = read_text(args.text)
    splits = [split(lm, text) for lm in lms]
    if any(not torch.equal(val, splits[0][1]) for _, val in splits):
        raise SystemExit("the checkpoints encode or split the text differently; they cannot be averaged")
    config = DynamicConfig(method="sgd", lr=0.0, decay=0.0) if args.static else DynamicConfig()
    streams = []
    for lm, (train, val) in zip(lms, splits):
        rms = None if args.static else gradient_rms(lm.model, train[-config.stats_chars :], config.segment)
        streams.append(dynamic_logprobs(lm.model, val, config, rms))
    start, own, total, chars = time.perf_counter(), [0.0] * len(lms), 0.0, 0
    for segment in zip(*streams):
        stacked = torch.stack(segment)
        own = [o - lp.sum().item() for o, lp in zip(own, segment)]
        total -= (torch.logsumexp(stacked, 0) - math.log(len(segment))).sum().item()
        chars += stacked.shape[1]
    kind = "static" if args.static else "dynamic"
    for path, loss in zip(args.checkpoints, own):
        print(f"{kind} {path}: {EvalResult(loss / chars, chars).line()}")
    print(f"{kind} ensemble of {len(lms)} ({time.perf_counter() - start:.0f} s)")
    print(EvalResult(total / chars, chars).line())


if __name__ == "__main__":
    main()
