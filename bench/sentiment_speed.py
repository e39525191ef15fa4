"""Sentiment classifier speed on this machine: batch scoring of the IMDb test reviews (reviews/s) and
single-review latency (median of repeated predict() calls on one short review).

    python bench/sentiment_speed.py [--checkpoint checkpoints/imdb-sentiment.pt]
                                    [--data ../shared/datasets/aclImdb_v1.tar.gz]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from charrnn.sentiment import load_imdb, load_sentiment, predict

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "imdb-sentiment.pt"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "aclImdb_v1.tar.gz"))
    ap.add_argument("--n", type=int, default=25_000, help="test reviews to score in the batch run")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sm = load_sentiment(args.checkpoint)
    texts = [r.text for r in load_imdb(args.data).test][: args.n]
    t0 = time.perf_counter()
    probs = predict(sm, texts, batch_size=args.batch_size)
    batch_s = time.perf_counter() - t0
    review = "This movie was wonderful, I loved it."
    predict(sm, [review])
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        predict(sm, [review])
        times.append(time.perf_counter() - t)
    print(f"device=cpu threads={torch.get_num_threads()} checkpoint={Path(args.checkpoint).name}")
    print(f"batch: {len(texts):,} reviews in {batch_s:.1f} s = {len(texts) / batch_s:,.0f} reviews/s "
          f"(batch size {args.batch_size}, tokenizing included); mean P(positive) {sum(probs) / len(probs):.3f}")
    print(f"single review: median {statistics.median(times) * 1000:.1f} ms over {args.repeats} calls "
          f"(min {min(times) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
