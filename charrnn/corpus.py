"""A training text together with how it was made, so evaluation can repeat the same preprocessing."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import gutenberg
from .textfile import read_text


@dataclass
class Corpus:
    text: str
    name: str
    preprocessing: dict = field(default_factory=lambda: {"clean": "strip"})

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_corpus(
    book: int | None = None,
    text_file: str | os.PathLike | None = None,
    clean: str = "strip",
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Corpus:
    """Read a Gutenberg book (by ID, cached) or a local file and apply the preprocessing.

    clean: 'strip' removes the Gutenberg license text (a no-op on other texts), 'slice' keeps the
    text from `start` up to `end` as the textbook does, 'none' keeps everything.
    """
    if (book is None) == (text_file is None):
        raise ValueError("give exactly one of a Gutenberg book ID or a text file")
    if book is not None:
        raw = gutenberg.load_book(book, cache_dir=cache_dir)
        name = f"gutenberg:{book}"
    else:
        raw = read_text(text_file)
        name = Path(text_file).name
    preprocessing = {"clean": clean}
    if clean == "slice":
        preprocessing.update(start=start or gutenberg.CHAPTER_START,
                             end=end if end is not None else gutenberg.CHAPTER_END)
    text = apply_preprocessing(raw, preprocessing)
    if not text:
        raise ValueError(f"{name} holds no text after preprocessing ({clean})")
    return Corpus(text, name, preprocessing)


def apply_preprocessing(raw: str, preprocessing: dict) -> str:
    """Repeat a corpus's recorded preprocessing (as saved in a checkpoint) on a raw text."""
    return gutenberg.prepare(raw, preprocessing.get("clean", "strip"), preprocessing.get("start"),
                             preprocessing.get("end"))
