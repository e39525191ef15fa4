"""A training text (one file or several) together with how it was made, so evaluation can repeat the same
preprocessing and the same held-out split (the last `val_fraction` of each file)."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from . import gutenberg
from .textfile import TextFileError, read_text

HASH_CHUNK = 1 << 22  # characters hashed at a time: no full UTF-8 copy of a large text


@dataclass(frozen=True)
class Corpus:
    """One text (`text`), or several (`parts`, with `text` left empty): each file decoded and cleaned on its own,
    never joined, so no training window spans two files and a large corpus is held once. Frozen: the texts never
    change, so their hash is computed once."""

    text: str
    name: str
    preprocessing: dict = field(default_factory=lambda: {"clean": "strip"})
    parts: tuple[str, ...] = ()
    part_names: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        return self.parts or (self.text,)

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.texts)

    @cached_property
    def sha256(self) -> str:
        """The text's hash (one file: of its UTF-8 bytes, as before; several: with a separator between them),
        computed on first use only (a large corpus takes seconds; a run reads it several times)."""
        h = hashlib.sha256()
        for i, text in enumerate(self.texts):
            if i:
                h.update(b"\x00--next file--\x00")
            for a in range(0, len(text), HASH_CHUNK):
                h.update(text[a : a + HASH_CHUNK].encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand_text_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files named, with a folder standing for its `*.txt` files (sorted); TextFileError for an empty folder."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.txt"))
            if not found:
                raise TextFileError(f"no *.txt files in the folder {p}")
            files.extend(found)
        else:
            files.append(p)
    return files


def load_corpus(
    book: int | Sequence[int] | None = None,
    text_file: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    clean: str = "strip",
    start: str | None = None,
    end: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Corpus:
    """Read Gutenberg books (by ID, cached) or local files (a folder: its *.txt) and apply the preprocessing
    to each on its own.

    clean: 'strip' removes the Gutenberg license text (a no-op on other texts), 'slice' keeps the
    text from `start` up to `end` as the textbook does, 'none' keeps everything.
    """
    books, files = _as_list(book), _as_list(text_file)
    if bool(books) == bool(files):
        raise ValueError("give Gutenberg book IDs or text files (one kind, at least one)")
    preprocessing = {"clean": clean}
    if clean == "slice":
        preprocessing.update(start=start or gutenberg.CHAPTER_START,
                             end=end if end is not None else gutenberg.CHAPTER_END)
    sources = [(f"gutenberg:{b}", lambda b=b: gutenberg.load_book(b, cache_dir=cache_dir)) for b in books] + \
              [(p.name, lambda p=p: read_text(p)) for p in expand_text_files(files)]
    names, texts = [], []
    for name, read in sources:
        text = apply_preprocessing(read(), preprocessing)
        if not text:
            raise ValueError(f"{name} holds no text after preprocessing ({clean})")
        names.append(name)
        texts.append(text)
    if len(texts) == 1:
        return Corpus(texts[0], names[0], preprocessing)
    preprocessing["files"] = list(names)
    return Corpus("", " + ".join(names), preprocessing, tuple(texts), tuple(names))


def apply_preprocessing(raw: str, preprocessing: dict) -> str:
    """Repeat a corpus's recorded preprocessing (as saved in a checkpoint) on a raw text."""
    return gutenberg.prepare(raw, preprocessing.get("clean", "strip"), preprocessing.get("start"),
                             preprocessing.get("end"))
