"""Unlabelled sentences for distillation (`charrnn sentiment train --teacher CKPT --transfer FILE`): the IMDb
archive's train and unsup reviews (never its test reviews) cut into sentences, one per line.

    python bench/imdb_sentences.py --out runs/imdb-sentences.txt [--n 100000] [--data ARCHIVE] [--seed 1]
    python bench/imdb_sentences.py --labelled --out runs/imdb-labelled.tsv     # with the review's label

A sentence is kept when it has 5 to 40 tokens (the negation-aware tokenizer's), once (exact duplicates dropped:
the first review to hold it gives its label); N of them are drawn at random (seeded) and written in that order.
`--labelled` reads only the labelled train reviews and writes `label<TAB>sentence` lines under SST-2's header
(0 negative, 1 positive: the review's label, a weak one for a sentence), so the file joins SST-2's training rows.
"""
from __future__ import annotations

import argparse
import random
import re

from common import ROOT

from charrnn.files import atomic_write
from charrnn.sentiment.data import load_imdb
from charrnn.sentiment.text import strip_html, tokenize_words

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_TOKENS, MAX_TOKENS = 5, 40


def sentences(review: str) -> list[str]:
    """A review's sentences: HTML line breaks are sentence breaks, then a split after . ! or ? and a space."""
    out = []
    for part in SENTENCE_END.split(strip_html(review, "\n").replace("\n", " . ")):
        part = part.strip(" .")
        if part and MIN_TOKENS <= len(tokenize_words(part)) <= MAX_TOKENS:
            out.append(" ".join(part.split()) + ("" if part[-1] in ".!?\"')" else "."))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "aclImdb_v1.tar.gz"))
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--labelled", action="store_true",
                   help="only the labelled train reviews; label<TAB>sentence lines under a 'label<TAB>sentence' header")
    args = p.parse_args()
    if args.n < 1:
        p.error(f"--n must be at least 1, got {args.n}")
    imdb = load_imdb(args.data, unsup=not args.labelled)
    reviews = imdb.train if args.labelled else imdb.train + imdb.unsup
    found: dict[str, int] = {}
    for review in reviews:
        for s in sentences(review.text):
            found.setdefault(s.replace("\t", " "), review.label)
    picked = random.Random(args.seed).sample(list(found), min(args.n, len(found)))
    lines = (["label\tsentence"] + [f"{found[s]}\t{s}" for s in picked]) if args.labelled else picked
    with atomic_write(args.out) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    print(f"reviews={len(reviews)} sentences={len(found)} written={len(picked)} out={args.out}")


if __name__ == "__main__":
    main()
