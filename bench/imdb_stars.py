"""Baselines for the four IMDb star classes (1-2, 3-4, 7-8, 9-10; `charrnn sentiment train --format imdb-stars`),
for the table in docs/sentiment.md:

    python bench/imdb_stars.py [--data ARCHIVE] [--checkpoint TWO_CLASS.pt] [--device cpu]

- majority: every test review gets the most frequent class of the 25,000 training reviews;
- two-class: a negative/positive classifier's P(positive) cut into the four classes at three thresholds, chosen
  (the best accuracy over a grid of quantiles) on the held-out 5,000 of the training reviews (the chapter's split,
  seed 1: the rows `train --format imdb-stars` validates on), never on the test reviews.

Each is measured on the 25,000 test reviews: accuracy and macro-F1 (charrnn/sentiment/metrics.py).
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
from common import ROOT

from charrnn.sentiment import load_imdb, load_sentiment, predict
from charrnn.sentiment.datasets import STAR_CLASSES, from_imdb_stars, make_split
from charrnn.sentiment.metrics import accuracy_of, confusion_matrix, confusion_table, macro_f1

ARCHIVE = ROOT.parent / "shared" / "datasets" / "aclImdb_v1.tar.gz"
GRID = 201  # candidate thresholds: this many quantiles of the held-out probabilities


def thresholds(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The three cut points t1 <= t2 <= t3 (class = how many of them p reaches) with the best accuracy on (p, y)."""
    cuts = np.unique(np.quantile(p, np.linspace(0, 1, GRID)))
    below = np.stack([(p[None, :] < cuts[:, None])[:, y == c].sum(1) for c in range(4)])  # (class, cut)
    totals = np.bincount(y, minlength=4)
    best, where = -1, (0, 0, 0)
    for i in range(len(cuts)):
        for j in range(i, len(cuts)):
            right = below[0, i] + below[1, j] - below[1, i] + below[2, j:] - below[2, j] + totals[3] - below[3, j:]
            k = int(right.argmax())
            if right[k] > best:
                best, where = int(right[k]), (i, j, j + k)
    return tuple(float(cuts[i]) for i in where)


def binned(p: np.ndarray, cuts: tuple[float, float, float]) -> list[int]:
    return [int(v) for v in (p[:, None] >= np.array(cuts)[None, :]).sum(1)]


def report(name: str, labels: list[int], guesses: list[int]) -> None:
    matrix = confusion_matrix(labels, guesses, len(STAR_CLASSES))
    print(f"\n{name}\n{confusion_table(matrix, STAR_CLASSES)}")
    print(f"{name}: accuracy={accuracy_of(matrix):.4f} macro_f1={macro_f1(matrix):.4f} n={len(labels)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ARCHIVE), help="aclImdb_v1.tar.gz or the aclImdb folder")
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "imdb-sentiment.pt"),
                    help="a negative/positive classifier")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    data = from_imdb_stars(load_imdb(args.data))
    counts = Counter(data.train_labels)
    print("training reviews per class: " + ", ".join(f"{c} {counts[i]:,}" for i, c in enumerate(STAR_CLASSES)))
    majority = counts.most_common(1)[0][0]
    report(f"majority ({STAR_CLASSES[majority]})", data.test_labels, [majority] * len(data.test_labels))
    sm = load_sentiment(args.checkpoint, device=args.device)
    if tuple(sm.classes) != ("negative", "positive"):
        raise SystemExit(f"{args.checkpoint} is not a negative/positive classifier: {sm.classes}")
    val = make_split(data, val_size=5000, seed=1).val
    t0 = time.perf_counter()
    p_val = np.array(predict(sm, [data.train_texts[i] for i in val]))
    cuts = thresholds(p_val, np.array([data.train_labels[i] for i in val]))
    p_test = np.array(predict(sm, data.test_texts))
    print(f"\nscored {len(val) + len(p_test):,} reviews in {time.perf_counter() - t0:.0f} s; thresholds on the "
          f"held-out training reviews: {', '.join(f'{c:.4f}' for c in cuts)}")
    report(f"two-class ({args.checkpoint.rsplit('/', 1)[-1]}, cut at 3 thresholds)", data.test_labels,
           binned(p_test, cuts))


if __name__ == "__main__":
    main()
