"""Score dynamic-evaluation settings on text outside the shipped model's held-out split.

    python bench/dynamic_tune.py train 10000 rms:3e-4:0.01:50 sgd:0.1:0.01:50
    python bench/dynamic_tune.py holmes 10000 rms:3e-4:0.01:50

SOURCE is `train` (the last CHARS characters of the island's training part, just before the held-out 10%;
the RMS statistics then come from the training text before them) or `holmes` (CHARS characters from the
middle of ../shared/corpora/pg1661.txt, unseen in training; its 9 characters outside the vocabulary become
spaces). Each SETTING is method:lr:decay:segment[:stats_chars[:eps]]. One line per setting: the mean loss in nats,
after a first line with the static single-stream loss of the same text.
"""
import argparse
import time

import torch
from common import BOOK, ROOT

from charrnn import load_char_lm
from charrnn.lm.corpus import apply_preprocessing
from charrnn.lm.data import split_ids
from charrnn.lm.dynamic import DynamicConfig, dynamic_losses, gradient_rms
from charrnn.lm.evaluate import evaluate_stream
from charrnn.lm.textfile import read_text

HOLMES = ROOT.parent / "shared" / "corpora" / "pg1661.txt"


def texts(lm, source: str, chars: int):
    """(text to score, training text for the RMS statistics)."""
    book = apply_preprocessing(read_text(BOOK), lm.preprocessing)
    train, _ = split_ids(lm.vocab.encode(book), lm.val_fraction)
    if source == "train":
        return train[-chars - 1 :], train[: -chars - 1]
    holmes = apply_preprocessing(read_text(HOLMES), {"clean": "strip"})
    return lm.vocab.encode(holmes, replace=" ")[200_000 : 200_000 + chars + 1], train


def parse(spec: str) -> DynamicConfig:
    method, lr, decay, segment, *rest = spec.split(":")
    extra = dict(zip(("stats_chars", "eps"), (int(rest[0]), *map(float, rest[1:])))) if rest else {}
    return DynamicConfig(method=method, lr=float(lr), decay=float(decay), segment=int(segment), **extra)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", choices=["train", "holmes"])
    p.add_argument("chars", type=int)
    p.add_argument("settings", nargs="+")
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "mysterious-island.pt"))
    args = p.parse_args()
    torch.set_num_threads(1)
    lm = load_char_lm(args.checkpoint)
    text, stats_text = texts(lm, args.source, args.chars)
    print(f"{args.source} {args.chars} static {evaluate_stream(lm.model, text, streams=1).loss_nats:.4f}", flush=True)
    cache = {}
    for spec in args.settings:
        config, start = parse(spec), time.perf_counter()
        rms = None
        if config.method == "rms":
            key = (config.segment, config.stats_chars)
            if key not in cache:
                cache[key] = gradient_rms(lm.model, stats_text[-config.stats_chars :], config.segment)
            rms = cache[key]
        total = chars = 0
        for loss, count in dynamic_losses(lm.model, text, config, rms):
            total, chars = total + loss, chars + count
        rate = chars / (time.perf_counter() - start)
        print(f"{args.source} {args.chars} {spec} {total / chars:.4f} ({rate:.0f} chars/s)", flush=True)


if __name__ == "__main__":
    main()
