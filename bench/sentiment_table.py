"""Every sentiment checkpoint against every dataset it applies to: the classifier x dataset table of
docs/BENCHMARKS.md, from which the app's default classifier is picked.

    python bench/sentiment_table.py [CHECKPOINT ...] [--skip-imdb] [--average] [--vader DIR] [--only NAMES]

Columns: IMDb test (25,000 reviews), SST-2 dev (872 sentences), the sarcasm headlines' held-out split (the rows the
checkpoint held out, for a checkpoint trained on that file), and the word-order probes of the test suite
(tests/data/word_order_probe*.tsv: probe, probe2, ... probe6). A dataset applies when its class names are the
checkpoint's: a sarcasm model is not scored on movie reviews. --vader DIR adds two held-out kinds of short text
the project has no other copy of: tweets (4,200) and Amazon review snippets (3,708), rated -4..4 by at least 20 people
each in Hutto & Gilbert's VADER study (DIR is its `hutto_ICWSM_2014` folder: `pip download vaderSentiment==3.3.2
--no-deps --no-binary :all:`, then untar `additional_resources/hutto_ICWSM_2014.tar.gz` from the sdist). Only the
clearly polar ones count: mean rating >= 1 is positive, <= -1 negative, the rest left out. (Its movie snippets are
left out: they are Pang & Lee's Rotten Tomatoes sentences, the source of SST-2's training phrases.)
Accuracy is the share of texts whose P(second class) > 0.5. --average adds a last row: the mean of the listed
checkpoints' probabilities, where all apply (what averaging shipped classifiers of different vocabularies would
give, measured before building it).
"""
from __future__ import annotations

import argparse
import html
import time
from pathlib import Path

from common import ROOT

from charrnn import checkpoint as ckpt
from charrnn.sentiment import load_labelled, load_sentiment, predict
from charrnn.sentiment.datasets import repeat_split, same_rows

SHARED = ROOT.parent / "shared" / "datasets"
PROBES = {path.stem.removeprefix("word_order_"): path
          for path in sorted((ROOT / "tests" / "data").glob("word_order_probe*.tsv"))}
SARCASM = SHARED / "sarcasm" / "Sarcasm_Headlines_Dataset.json"
VADER = {"tweets": "tweets_GroundTruth.txt", "amazon": "amazonReviewSnippets_GroundTruth.txt"}
POLAR = 1.0  # |mean rating| at least this (on -4..4) for a VADER text to count, its sign the label


def vader_rows(path: Path) -> tuple[list[str], list[int]]:
    """The clearly polar texts of one VADER ground-truth file (id, mean rating, text per line) and their labels."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)
        try:
            rating = float(parts[1]) if len(parts) == 3 else 0.0
        except ValueError:
            rating = 0.0  # not a rating: the line is left out, as a mild one is
        if abs(rating) >= POLAR:
            texts.append(html.unescape(parts[2]))
            labels.append(int(rating > 0))
    return texts, labels


def rows(name: str, classes: tuple[str, str], record: dict, vader: Path | None = None):
    """(texts, labels) of dataset `name` for a model with `classes`, or None where it does not apply."""
    if name in VADER:
        return vader_rows(vader / VADER[name]) if classes == ("negative", "positive") else None
    if name == "imdb":
        data = load_labelled(SHARED / "aclImdb_v1.tar.gz", classes=classes) if classes == ("negative", "positive") \
            else None
        return (data.test_texts, data.test_labels) if data else None
    if name == "sst2":
        return _whole(load_labelled(SHARED / "sst2" / "dev.tsv", classes=classes)) \
            if classes == ("negative", "positive") else None
    if name in PROBES:
        return _whole(load_labelled(PROBES[name], classes=classes)) if classes == ("negative", "positive") else None
    data = load_labelled(SARCASM, classes=classes) if classes == ("not sarcastic", "sarcastic") else None
    split = record.get("split") if isinstance(record.get("split"), dict) else {}
    if data is None or not same_rows(data, split):
        return None
    val = repeat_split(data, split).val
    return [data.train_texts[i] for i in val], [data.train_labels[i] for i in val]


def _whole(data):
    return data.train_texts, data.train_labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="*", help="default: every sentiment checkpoint in checkpoints/")
    p.add_argument("--skip-imdb", action="store_true", help="leave out the 25,000 IMDb test reviews (minutes)")
    p.add_argument("--average", action="store_true", help="a last row: the mean of the checkpoints' probabilities")
    p.add_argument("--vader", type=Path, metavar="DIR", help="add VADER's tweets and Amazon snippets (see above)")
    p.add_argument("--only", metavar="NAMES", help="only these columns, comma-separated (e.g. tweets,amazon)")
    args = p.parse_args()
    paths = args.checkpoints or sorted(str(f) for f in (ROOT / "checkpoints").glob("*.pt")
                                       if ckpt.load(f).get("kind") == "sentiment")
    names = [n for n in ("imdb", "sst2", "sarcasm", *PROBES) if not (n == "imdb" and args.skip_imdb)]
    names += list(VADER) if args.vader else []
    only = [n.strip() for n in args.only.split(",")] if args.only else names
    if unknown := [n for n in only if n not in names]:
        p.error(f"--only: no column {', '.join(unknown)}; the columns are {', '.join(names)}")
    names = [n for n in names if n in only]
    if args.vader and (missing := [f for f in VADER.values() if not (args.vader / f).is_file()]):
        p.error(f"--vader {args.vader}: no {', '.join(missing)} there (the hutto_ICWSM_2014 folder)")
    print("| checkpoint | classes | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    scored: dict[str, list] = {}  # dataset -> each checkpoint's (probabilities, labels), None where it does not apply
    for path in paths:
        sm = load_sentiment(path)
        record = ckpt.load(path).get("data") or {}
        cells = []
        for name in names:
            got = rows(name, tuple(sm.classes), record if isinstance(record, dict) else {}, args.vader)
            if got is None:
                cells.append("n/a")
                scored.setdefault(name, []).append(None)
                continue
            t0 = time.perf_counter()
            texts, labels = got
            probs = predict(sm, texts, batch_size=256)
            scored.setdefault(name, []).append((probs, labels))
            cells.append(f"{accuracy(probs, labels):.4f} (n={len(labels):,}, {time.perf_counter() - t0:.0f} s)")
        print(f"| {path} | {' / '.join(sm.classes)} | " + " | ".join(cells) + " |", flush=True)
    if args.average:
        print(f"| mean of the {len(paths)} | | " + " | ".join(_mean_cell(scored[n]) for n in names) + " |")


def accuracy(probs: list[float], labels: list[int]) -> float:
    return sum((q > 0.5) == bool(y) for q, y in zip(probs, labels)) / max(1, len(labels))


def _mean_cell(results: list) -> str:
    """The accuracy of the checkpoints' mean probability, or n/a where one of them does not apply."""
    if any(r is None for r in results):
        return "n/a"
    labels = results[0][1]
    mean = [sum(r[0][i] for r in results) / len(results) for i in range(len(labels))]
    return f"{accuracy(mean, labels):.4f} (n={len(labels):,})"


if __name__ == "__main__":
    main()
