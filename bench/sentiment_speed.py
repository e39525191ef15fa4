"""Sentiment classifier speed on this machine: batch scoring of the IMDb test reviews (reviews/s), single-review
latency (median of repeated predict() calls on one short review) and one sentence scored as the app's Sentiment tab
does it (`WebApp.sentiment`, the classifier loaded once).

    python bench/sentiment_speed.py [--checkpoint checkpoints/sentiment-blend.pt (the app's default)]
                                    [--data ../shared/datasets/aclImdb_v1.tar.gz] [--n 0: no batch run]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from charrnn.sentiment import load_imdb, load_sentiment, predict
from charrnn.sentiment.kind import DEFAULT_FILE
from charrnn.web.webapp import WebApp

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / DEFAULT_FILE))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "aclImdb_v1.tar.gz"))
    ap.add_argument("--n", type=int, default=25_000, help="test reviews to score in the batch run")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sm = load_sentiment(args.checkpoint)
    print(f"device=cpu threads={torch.get_num_threads()} checkpoint={Path(args.checkpoint).name}")
    if args.n:
        texts = [r.text for r in load_imdb(args.data).test][: args.n]
        t0 = time.perf_counter()
        probs = predict(sm, texts, batch_size=args.batch_size)
        batch_s = time.perf_counter() - t0
        print(f"batch: {len(texts):,} reviews in {batch_s:.1f} s = {len(texts) / batch_s:,.0f} reviews/s "
              f"(batch size {args.batch_size}, tokenizing included); mean P(positive) {sum(probs) / len(probs):.3f}")
    review = "This movie was wonderful, I loved it."
    times = _median_ms(lambda: predict(sm, [review]), args.repeats)
    print(f"single review: median {times[0]:.1f} ms over {args.repeats} calls (min {times[1]:.1f} ms)")
    path = Path(args.checkpoint).resolve()
    app = WebApp(path.parent, device="cpu")
    times = _median_ms(lambda: app.sentiment(review, path.name), args.repeats)
    print(f"app sentence: median {times[0]:.1f} ms over {args.repeats} calls (min {times[1]:.1f} ms), "
          f"WebApp.sentiment with {path.name}")


def _median_ms(call, repeats: int) -> tuple[float, float]:
    """(median, min) milliseconds of `call()` over `repeats` calls, after one untimed call (loading, warm-up)."""
    call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, min(times) * 1000


if __name__ == "__main__":
    main()
