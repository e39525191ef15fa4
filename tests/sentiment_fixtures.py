"""Tiny IMDb-layout data sets for the sentiment tests: a few generated reviews per split, never real ones."""
from __future__ import annotations

import functools
import io
import random
import tarfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_IMDB = SHARED / "datasets" / "aclImdb_v1.tar.gz"


@functools.lru_cache(maxsize=1)
def shared_imdb():
    """The shared archive, read once per test session (some seconds); skips the test when it is absent."""
    import pytest

    from charrnn.sentiment import load_imdb

    if not SHARED_IMDB.is_file():
        pytest.skip(f"shared IMDb archive not present at {SHARED_IMDB}")
    return load_imdb(SHARED_IMDB)

POSITIVE = ["good", "great", "wonderful", "loved", "excellent"]
NEGATIVE = ["bad", "awful", "boring", "terrible", "waste"]
FILLER = ["the", "movie", "plot", "actor", "film", "a", "was", "story", "scene", "it"]


def review(rng: random.Random, label: int) -> str:
    """Filler words with one to three sentiment words, some HTML, and for some an emoticon."""
    words = rng.choices(FILLER, k=rng.randint(3, 12))
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
    text = " ".join(words) + ".<br /><br />" + rng.choice(FILLER).capitalize()
    return text + (rng.choice([" :)", " :-("]) if rng.random() < 0.3 else "")


def reviews(per_label: dict[str, int], seed: int = 0) -> dict[str, str]:
    """{"aclImdb/<split>/<pos|neg|unsup>/<id>_<rating>.txt": text} for `per_label` {"train": n, ...}."""
    rng = random.Random(seed)
    files = {}
    for split, n in per_label.items():
        for label in ("pos", "neg"):
            for i in range(n):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                files[f"aclImdb/{split}/{label}/{i}_{rating}.txt"] = review(rng, label == "pos")
    for i in range(3):
        files[f"aclImdb/train/unsup/{i}_0.txt"] = review(rng, i % 2)
    files["aclImdb/README"] = "generated test data\n"
    files["aclImdb/train/urls_pos.txt"] = "http://example.invalid/\n"
    return files


def train_tiny(data: Path, out: Path, *extra: str, seed: str = "1") -> None:
    """A tiny classifier (BiLSTM 16, three epochs) trained on `data` through the command line, with `extra` options."""
    from charrnn.cli import main

    assert main(["sentiment", "train", "--data", str(data), "--preset", "best", "--embed", "16", "--hidden", "16",
                 "--epochs", "3", "--lr", "0.01", "--batch-size", "16", "--device", "cpu", "--quiet", "--seed", seed,
                 "--out", str(out), *extra]) == 0


def write_tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root / "aclImdb"


# ---------------------------------------------------------------- several classes

TOPICS = {  # class name -> its keywords; the names are listed out of alphabetical order on purpose
    "sports": ["goal", "match", "striker", "league", "coach"],
    "arts": ["painting", "gallery", "sculpture", "canvas", "museum"],
    "tech": ["laptop", "software", "chip", "server", "code"],
    "food": ["recipe", "soup", "bakery", "spicy", "dessert"],
    "travel": ["flight", "hotel", "beach", "passport", "island"],
}


def keyword_rows(classes: list[str], per_class: int, seed: int = 0) -> list[tuple[str, str]]:
    """(text, label) rows, interleaved: each text is filler with two keywords of its class, so a tiny model learns
    the class from the words alone. `classes` are TOPICS names, or labels given to TOPICS in order."""
    rng = random.Random(seed)
    keywords = list(TOPICS.values())
    rows = []
    for i in range(per_class):
        for c, label in enumerate(classes):
            words = rng.choices(FILLER, k=rng.randint(2, 6))
            for word in rng.sample(TOPICS.get(label, keywords[c]), 2):
                words.insert(rng.randrange(len(words) + 1), word)
            rows.append((" ".join(words), label))
    return rows


def keyword_csv(path: Path, classes: list[str], per_class: int, seed: int = 0) -> Path:
    """keyword_rows as a CSV file with columns text,label."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        out.writerows(keyword_rows(classes, per_class, seed))
    return path
