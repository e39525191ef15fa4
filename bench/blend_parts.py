"""How a blend's short-text parts combine, scored on held-out short texts (issue 28): each part alone, the blend
as shipped (the plain mean of the parts' probabilities), and two other ways of combining the same parts, decided
in advance (docs/BENCHMARKS.md "Weighting the blend's parts"):

- logit mean: the mean of the parts' log-odds, nothing fitted;
- weighted: a weighted mean of the parts' probabilities, the weights on a grid of step 0.05 over the simplex,
  chosen by log-likelihood and scored by cross-fitting (fitted on one set, scored on the other), so no text
  scores weights it chose.

    python bench/blend_parts.py --vader DIR [--checkpoint checkpoints/sentiment-blend.pt]

DIR is the VADER study's `hutto_ICWSM_2014` folder (see bench/sentiment_table.py). Prints one line per set and way
of combining: `set=... combine=... correct=... n=... accuracy=...`, then the pooled counts.
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from common import ROOT
from sentiment_table import VADER, vader_rows

from charrnn.sentiment import load_sentiment, predict
from charrnn.sentiment.model import SentimentBlend

EPS = 1e-6
GRID = 20  # weights in steps of 1/20


def part_probabilities(path: str, texts: list[str]) -> np.ndarray:
    """(texts, short parts) P(positive) of each short-text part of the blend at `path` alone (texts longer than
    the split still go to the long parts, as in the blend), then a last column: the blend as it answers."""
    sm = load_sentiment(path)
    net = sm.model
    if not isinstance(net, SentimentBlend):
        raise SystemExit(f"{path} is not a blend (charrnn sentiment blend)")
    answering, cols = net._answering, []
    try:
        for i in answering("short"):
            net._answering = lambda which, i=i: [i] if which == "short" else answering(which)
            cols.append(predict(sm, texts, batch_size=256))
    finally:
        net._answering = answering
    cols.append(predict(sm, texts, batch_size=256))
    return np.array(cols).T


def correct(p: np.ndarray, y: np.ndarray) -> int:
    return int(((p > 0.5) == y).sum())


def log_likelihood(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float((y * np.log(p) + (1 - y) * np.log(1 - p)).sum())


def weighted(parts: np.ndarray, w: tuple[int, ...]) -> np.ndarray:
    return parts @ (np.array(w) / GRID)


def fit(parts: np.ndarray, y: np.ndarray) -> tuple[int, ...]:
    """The grid weights (in 1/GRID) with the highest log-likelihood of the labels."""
    grid = [w for w in itertools.product(range(GRID + 1), repeat=parts.shape[1]) if sum(w) == GRID]
    return max(grid, key=lambda w: log_likelihood(weighted(parts, w), y))


def logit_mean(parts: np.ndarray) -> np.ndarray:
    p = np.clip(parts, EPS, 1 - EPS)
    return 1 / (1 + np.exp(-np.log(p / (1 - p)).mean(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vader", type=Path, required=True, metavar="DIR", help="the hutto_ICWSM_2014 folder")
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "sentiment-blend.pt"))
    args = ap.parse_args()
    sets = {}
    for name, file in VADER.items():
        texts, labels = vader_rows(args.vader / file)
        sets[name] = (part_probabilities(args.checkpoint, texts), np.array(labels))
    names = list(sets)
    weights = {name: fit(sets[name][0][:, :-1], sets[name][1]) for name in names}
    pooled: dict[str, int] = {}
    for name, (probs, y) in sets.items():
        other = next(n for n in names if n != name)
        ways = {f"part{i}" for i in range(probs.shape[1] - 1)}
        scored = {**{f"part{i}": probs[:, i] for i in range(probs.shape[1] - 1)}, "shipped": probs[:, -1],
                  "logit-mean": logit_mean(probs[:, :-1]),
                  f"weighted{weights[other]}-from-{other}": weighted(probs[:, :-1], weights[other])}
        for way, p in scored.items():
            got = correct(p, y)
            print(f"set={name} combine={way} correct={got} n={len(y)} accuracy={got / len(y):.4f}")
            if way not in ways:
                key = "weighted (cross-fitted)" if way.startswith("weighted") else way
                pooled[key] = pooled.get(key, 0) + got
    total = sum(len(y) for _, y in sets.values())
    for way, got in pooled.items():
        print(f"pooled combine={way} correct={got} n={total} accuracy={got / total:.4f}")
    all_parts = np.vstack([p[:, :-1] for p, _ in sets.values()])
    print(f"weights fitted on both sets (in 1/{GRID}): {fit(all_parts, np.concatenate([y for _, y in sets.values()]))}")


if __name__ == "__main__":
    main()
